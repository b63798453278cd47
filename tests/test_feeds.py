"""Topic feeds: valid RSS/Atom/JSON/OPML and index page, the right items in the right order,
safe content, signed feedback links, digests."""

from __future__ import annotations

import html
import json
import re
import stat
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import pytest
from feedsite import FEEDBACK_TOPIC, build_site, feed_config
from helpers import chat_thread

from pln.config import parse_config
from pln.errors import PlnError
from pln.record import Decision, Item
from pln.sinks.feeds import FeedbackKey, render_feeds
from pln.sinks.store import Store

T0 = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
BASE = "https://pln.example/feeds"


SPACED = {
    "id": "spaced",
    "title": "Spaced practice",
    "phrases": ["spaced practice"],
    "max_items": 3,
    "description": "Spacing & retrieval",
}


def make_config(tmp_path):
    return feed_config(tmp_path, [SPACED, FEEDBACK_TOPIC], BASE + "/")


def post(n: int, **kw) -> Item:
    fields = {
        "kind": "article",
        "author": "Jane Doe",
        "title": f"Spaced practice, part {n}",
        "html": f"<p>Part {n} <img src=javascript:x onerror=alert(1)><script>alert({n})</script></p>",
        "url": f"https://blog.example/{n}",
        "hashtags": ("lrnchat", "ld"),
        "published_at": T0 + timedelta(hours=n),
    }
    fields.update(kw)
    return Item.create(source="blog", platform="rss", native_id=f"p{n}", **fields)


QUESTION = "Q1. What does spaced practice look like in your courses?"
THREAD = chat_thread(
    "2026-11-19#Q1",
    QUESTION,
    ("lrnchat", "jane_ld", "sam"),
    text=f"{QUESTION}\nA1. Quizzes at 2, 7 and 21 days",
    hashtags=("lrnchat",),
    published_at=T0 - timedelta(days=1),
)


def keep(it: Item, topic: str = "spaced", score: float = 0.82) -> Decision:
    return Decision(it.id, topic, score, True, "matched 'spaced practice' (lemma)")


@pytest.fixture
def rendered(tmp_path):
    config = make_config(tmp_path)
    posts = [post(n) for n in range(5)]
    decisions = [keep(p) for p in posts[:4]] + [Decision(posts[4].id, "spaced", 0.1, False, "weak")]
    decisions += [keep(THREAD, "feedback", 0.6)]
    with Store(config.outputs.duckdb) as store:
        store.write([*posts, THREAD], decisions, [])
        paths = render_feeds(store, config)
    return config, posts, paths


def parse(path):
    feed = feedparser.parse(path.read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


def test_writes_rss_atom_json_per_topic_and_the_indexes(rendered):
    config, _, paths = rendered
    feeds = config.outputs.feeds_dir
    assert sorted(p.name for p in paths) == [
        "feedback.atom.xml",
        "feedback.json",
        "feedback.rss.xml",
        "index.html",
        "index.opml",
        "pln.css",
        "pln.js",
        "spaced.atom.xml",
        "spaced.json",
        "spaced.rss.xml",
    ]
    assert sorted(p.name for p in feeds.iterdir()) == sorted(p.name for p in paths)  # no temp files


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_feed_holds_latest_kept_items_newest_first(rendered, kind):
    config, posts, _ = rendered
    feed = parse(config.outputs.feeds_dir / f"spaced.{kind}.xml")
    assert feed.version == ("rss20" if kind == "rss" else "atom10")
    assert feed.feed.title == "Jane's PLN: Spaced practice"
    # max_items = 3 of the 4 kept; the dropped post 4 is absent.
    assert [e.title for e in feed.entries] == [f"Spaced practice, part {n}" for n in (3, 2, 1)]
    assert [e.link for e in feed.entries] == [posts[n].url for n in (3, 2, 1)]
    assert [e.published_parsed[:5] for e in feed.entries] == [
        (2026, 11, 19, 20 + n, 0) for n in (3, 2, 1)
    ]
    assert feed.entries[0].author == "Jane Doe"
    assert [t.term for t in feed.entries[0].tags] == ["lrnchat", "ld"]
    self_link = [lnk.href for lnk in feed.feed.links if lnk.rel == "self"]
    assert self_link == [f"{BASE}/spaced.{kind}.xml"]


def test_ids_are_stable_and_follow_the_item_id(rendered, tmp_path):
    config, posts, _ = rendered
    rss = parse(config.outputs.feeds_dir / "spaced.rss.xml")
    atom = parse(config.outputs.feeds_dir / "spaced.atom.xml")
    # The topic is part of the id: an item kept by two topics is an entry in each feed.
    assert [e.id for e in rss.entries] == [f"spaced:{posts[n].id}" for n in (3, 2, 1)]
    assert [e.id for e in atom.entries] == [
        f"urn:pln:topic:spaced:item:{posts[n].id}" for n in (3, 2, 1)
    ]
    assert all(e.guidislink is False for e in rss.entries)
    root = ET.parse(config.outputs.feeds_dir / "spaced.rss.xml").getroot()
    assert {g.get("isPermaLink") for g in root.iter("guid")} == {"false"}


def test_dates_are_rfc822_in_rss_and_rfc3339_in_atom(rendered):
    config, _, _ = rendered
    rss = ET.parse(config.outputs.feeds_dir / "spaced.rss.xml").getroot()
    assert rss.find("channel/item/pubDate").text == "Thu, 19 Nov 2026 23:00:00 GMT"
    assert rss.find("channel/lastBuildDate").text.endswith(" GMT")
    atom = (config.outputs.feeds_dir / "spaced.atom.xml").read_text()
    assert "<published>2026-11-19T23:00:00Z</published>" in atom


def test_content_is_sanitized_and_says_why(rendered):
    config, _, _ = rendered
    for kind in ("rss", "atom"):
        path = config.outputs.feeds_dir / f"spaced.{kind}.xml"
        entry = parse(path).entries[0]
        html = entry.description if kind == "rss" else entry.content[0].value
        assert html.startswith("<p>Part 3 </p>")  # the bad <img> and the <script> are gone
        assert "<p>Why: matched 'spaced practice' (lemma) (score 0.82)</p>" in html
        raw = path.read_text()
        assert "&lt;script" not in raw and "<script" not in raw and "onerror" not in raw


def test_chat_threads_list_participants(rendered):
    config, _, _ = rendered
    [entry] = parse(config.outputs.feeds_dir / "feedback.rss.xml").entries
    assert entry.title == THREAD.title
    assert "link" not in entry  # a transcript line has no URL of its own
    assert "<p>Participants: @lrnchat, @jane_ld, @sam</p>" in entry.description
    assert "Quizzes at 2, 7 and 21 days" in entry.description
    assert "(score 0.60)" in entry.description


def test_opml_lists_every_topic_feed(rendered):
    config, _, _ = rendered
    root = ET.parse(config.outputs.feeds_dir / "index.opml").getroot()
    outlines = [(o.get("text"), o.get("xmlUrl"), o.get("type")) for o in root.iter("outline")]
    assert outlines == [
        ("Spaced practice", f"{BASE}/spaced.rss.xml", "rss"),
        ("Feedback", f"{BASE}/feedback.rss.xml", "rss"),
    ]


def test_files_are_rewritten_only_when_content_changes(rendered):
    config, posts, paths = rendered
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    contents = {p: p.read_bytes() for p in paths}
    for p in paths:  # make an unnecessary rewrite visible even on coarse clocks
        p.touch()
        os_mtime = p.stat().st_mtime_ns
        stamps[p] = os_mtime
    with Store(config.outputs.duckdb) as store:
        store.write(posts[:2], [keep(posts[0]), keep(posts[1])], [])  # same again: no change
        render_feeds(store, config)
        assert {p: p.stat().st_mtime_ns for p in paths} == stamps
        assert {p: p.read_bytes() for p in paths} == contents

        newest = post(9)
        store.write([newest], [keep(newest)], [])
        render_feeds(store, config)
    spaced = config.outputs.feeds_dir / "spaced.rss.xml"
    assert parse(spaced).entries[0].id == f"spaced:{newest.id}"
    unchanged = [p for p in paths if p.read_bytes() == contents[p]]
    assert sorted(p.name for p in unchanged) == [
        "feedback.atom.xml",
        "feedback.json",
        "feedback.rss.xml",
        "index.opml",
        "pln.css",
        "pln.js",
    ]


def test_empty_topic_renders_a_valid_empty_feed(tmp_path):
    config = make_config(tmp_path)
    with Store(config.outputs.duckdb) as store:
        render_feeds(store, config)
    for kind in ("rss", "atom"):
        feed = parse(config.outputs.feeds_dir / f"feedback.{kind}.xml")
        assert feed.entries == []
        assert feed.feed.title == "Jane's PLN: Feedback"


def test_hostile_text_cannot_break_the_xml(tmp_path):
    config = make_config(tmp_path)
    nasty = post(
        1,
        title="</title><script>x</script> & \x00\x1b control",
        author="<b>Eve</b> & co",
        html="",
        text="5 < 6 & ]]> done\x07",
        hashtags=("a&b", "<tag>"),
    )
    with Store(config.outputs.duckdb) as store:
        store.write([nasty], [Decision(nasty.id, "spaced", 0.9, True, "why <not> & more")], [])
        render_feeds(store, config)
    for kind in ("rss", "atom"):
        entry = parse(config.outputs.feeds_dir / f"spaced.{kind}.xml").entries[0]
        # a plain-text title: controls removed, "<" that could open a tag written "‹"
        assert entry.title == "‹/title›‹script›x‹/script› & control"
        assert entry.author == "<b>Eve</b> & co"
        assert [t.term for t in entry.tags] == ["a&b", "<tag>"]
        html = entry.description if kind == "rss" else entry.content[0].value
        assert "<p>5 &lt; 6 &amp; ]]&gt; done</p>" in html
        assert "Why: why &lt;not&gt; &amp; more" in html


def test_json_feed_matches_the_rss_feed(rendered):
    config, posts, _ = rendered
    feed = json.loads((config.outputs.feeds_dir / "spaced.json").read_text())
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["home_page_url"] == BASE + "/" and feed["feed_url"] == f"{BASE}/spaced.json"
    rss = parse(config.outputs.feeds_dir / "spaced.rss.xml")
    assert [i["id"] for i in feed["items"]] == [e.id for e in rss.entries]
    first = feed["items"][0]
    assert first["url"] == posts[3].url and first["authors"] == [{"name": "Jane Doe"}]
    assert first["date_published"] == "2026-11-19T23:00:00Z"
    assert first["tags"] == ["lrnchat", "ld"]
    assert "<script" not in first["content_html"]


def test_every_item_carries_signed_feedback_links(rendered):
    config, posts, _ = rendered
    key = FeedbackKey.beside(config.outputs.duckdb)
    key_file = Path(f"{config.outputs.duckdb}.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    entry = parse(config.outputs.feeds_dir / "spaced.rss.xml").entries[0]
    sig_of = {}
    for label, text in (("up", "More like this"), ("down", "Less like this")):
        # feedparser writes href before rel
        [href] = re.findall(rf'<a href="([^"]+)" rel="nofollow">{text}</a>', entry.description)
        query = parse_qs(urlsplit(html.unescape(href)).query)
        assert (query["item"], query["topic"], query["label"]) == (
            [posts[3].id],
            ["spaced"],
            [label],
        )
        sig_of[label] = query["sig"][0]
    exp = query["exp"][0]  # 90 days after the item appeared: the links expire
    assert int(exp) > datetime.now(UTC).timestamp() + 80 * 86400
    sig = sig_of["up"]
    assert key.verify(posts[3].id, "spaced", "up", exp, sig)
    assert not key.verify(posts[3].id, "spaced", "down", exp, sig)
    assert not key.verify(posts[2].id, "spaced", "up", exp, sig)
    assert not key.verify(posts[3].id, "spaced", "up", str(int(exp) + 1), sig)
    # The key is made once: rendering again keeps the links, another database has its own.
    assert (
        FeedbackKey.beside(config.outputs.duckdb).sign(posts[3].id, "spaced", "up", int(exp)) == sig
    )
    other = FeedbackKey.beside(config.outputs.duckdb.with_name("other.duckdb"))
    assert other.sign(posts[3].id, "spaced", "up", int(exp)) != sig


def test_a_damaged_feedback_key_is_a_one_line_error(tmp_path):
    db = tmp_path / "pln.duckdb"
    Path(f"{db}.key").write_text("not hex\n")
    with pytest.raises(PlnError, match=r"pln.duckdb.key is damaged; delete it") as err:
        FeedbackKey.beside(db)
    assert "\n" not in str(err.value)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.subscribe, self.text = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("class") == "subscribe":
            self.subscribe.append(attrs["href"])

    def handle_data(self, data):
        self.text.append(data)


def test_index_page_lists_topics_subscribe_links_and_reasons(rendered):
    config, _, _ = rendered
    page = _Links()
    page.feed((config.outputs.feeds_dir / "index.html").read_text())
    assert page.subscribe == [
        "index.opml",
        "spaced.rss.xml",
        "spaced.atom.xml",
        "spaced.json",
        "feedback.rss.xml",
        "feedback.atom.xml",
        "feedback.json",
    ]
    text = " ".join(" ".join(page.text).split())
    assert "Spaced practice, part 3" in text and "Spaced practice, part 4" not in text  # dropped
    # The reason in plain words, no jargon.
    assert "Why: mentions 'spaced practice' (in some form, e.g. a plural) (score 0.82 of 1)" in text
    assert "Feedback: More like this · Less like this" in text


def test_index_page_escapes_hostile_text(tmp_path):
    config = make_config(tmp_path)
    nasty = post(1, title='<img src=x onerror=alert(1)> "quoted"', author="<b>Eve</b>")
    with Store(config.outputs.duckdb) as store:
        store.write([nasty], [Decision(nasty.id, "spaced", 0.9, True, "<script>x</script>")], [])
        render_feeds(store, config)
    page = (config.outputs.feeds_dir / "index.html").read_text()
    assert "<img" not in page and "<script>x" not in page and "<b>Eve" not in page
    assert "‹img src=x onerror=alert(1)›" in page  # a title is plain text: words, no tag
    assert "&lt;b&gt;Eve&lt;/b&gt;" in page  # other text is escaped


def test_weekly_digest_holds_the_top_items_of_each_finished_week(tmp_path):
    config = build_site(tmp_path, 8080)
    feed = parse(config.outputs.feeds_dir / "spaced.rss.xml")
    titles = [e.title for e in feed.entries]
    assert titles == [
        "Spaced practice & friends <3",  # this week: no digest yet
        "Weekly digest: Spaced practice, week of 12 Jan 2026",
        "Spaced practice, part 5",
        "Spaced practice, part 4",
        "Weekly digest: Spaced practice, week of 5 Jan 2026",
        "Spaced practice, part 3",
        "Spaced practice, part 2",
        "Spaced practice, part 1",
    ]
    digest = feed.entries[4]
    assert digest.id == "digest:spaced:2026-W02"
    assert digest.published_parsed[:4] == (2026, 1, 12, 0)  # when the week ended
    listed = re.findall(r"<li><a href=\"([^\"]+)\">([^<]+)</a>", digest.description)
    assert [title for _, title in listed] == [f"Spaced practice, part {n}" for n in (1, 2, 3)]
    assert "Why: matched 'spaced practice' (lemma) (score 0.90)" in digest.description
    assert "<p>The top 3 items of the week of 5 January 2026:</p>" in digest.description
    assert feed.entries[1].link == "http://127.0.0.1:8080/feeds/#spaced"


def test_daily_digest_days_follow_the_schedule_time_zone(tmp_path):
    data = {
        "sources": [{"name": "blog", "type": "rss", "url": "https://blog.example/feed"}],
        "topics": [{"id": "spaced", "title": "Spaced", "phrases": ["x"], "digest": "daily"}],
        "outputs": {"duckdb": "pln.duckdb", "feeds_dir": "feeds", "base_url": BASE},
        "schedule": {"timezone": "America/New_York"},
    }
    config = parse_config(data, tmp_path / "pln.yaml")
    late = post(1, published_at=datetime(2026, 1, 14, 3, tzinfo=UTC))  # 13 Jan, 22:00 in NY
    next_day = post(2, published_at=datetime(2026, 1, 14, 15, tzinfo=UTC))
    with Store(config.outputs.duckdb) as store:
        store.write([late, next_day], [keep(late), keep(next_day)], [])
        render_feeds(store, config, now=datetime(2026, 1, 15, 12, tzinfo=UTC))
    feed = parse(config.outputs.feeds_dir / "spaced.atom.xml")
    digests = [e for e in feed.entries if e.id.startswith("urn:pln:digest:")]
    assert [d.title for d in digests] == [
        "Daily digest: Spaced, Wed 14 Jan 2026",
        "Daily digest: Spaced, Tue 13 Jan 2026",
    ]
    assert digests[1].published == "2026-01-14T05:00:00Z"  # midnight in New York
    assert "part 1" in digests[1].content[0].value and "part 2" not in digests[1].content[0].value


def test_no_digest_unless_the_topic_asks(rendered):
    config, _, _ = rendered
    ids = [e.id for e in parse(config.outputs.feeds_dir / "spaced.rss.xml").entries]
    assert not any(i.startswith("digest:") for i in ids)
