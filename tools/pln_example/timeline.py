"""Sam's X/Twitter timeline: the hand-written posts plus filler, dated, linked and paged."""

from __future__ import annotations

import contextlib
import json
import random
import re
from datetime import UTC, datetime, timedelta

from pln_example import END, SEED, START
from pln_example.blogs import BuiltPost
from pln_example.content import Content, Tweet
from pln_example.x_api import Pages

LATEST = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # when twarc2 saved the timeline
TWEET_FILES = (  # (file, source name in pln.yaml, first day, posts per page)
    ("timeline-2026-08-10.jsonl", "x-timeline-aug-oct", datetime(2026, 8, 1, tzinfo=UTC), 100),
    ("timeline-2026-11.jsonl", "x-timeline-nov", datetime(2026, 11, 1, tzinfo=UTC), 50),
)
CORRUPT_LINE = 2  # of the November file: a page cut short when twarc2 was interrupted
TWITTER_EPOCH_MS = 1288834974657
LINK_RE = re.compile(r"\{(post|link):([^}]+)\}")  # {post:<blog>:<n>} or {link:<url>} in a tweet
FILLER_KINDS = ("coffee", "conference", "sports", "jobs", "spam", "links")  # in chatter.yaml


def build_tweets(rng: random.Random, content: Content, posts: dict) -> list[Tweet]:
    """The hand-written posts, 228 filler posts and the spam post, dated, with ids and t.co links."""
    spam = content.chatter["spam_with_topic_tag"]
    tweets = [
        *content.tweets,
        *filler_tweets(rng, 228, content.chatter),
        Tweet("spam_topic", spam["author"], "policy", spam["text"]),
    ]
    by_key = {t.key: t for t in tweets}
    for t in tweets:
        parent = by_key.get(t.reply or t.quote or t.rt)
        t.created = posted_at(rng, t, parent, posts)
        t.id = snowflake(rng, t.created)
        if t.rt:
            t.role = parent.role
        render_text(rng, t, parent, posts)
    return tweets


def filler_tweets(rng: random.Random, count: int, chatter: dict) -> list[Tweet]:
    """`count` distinct off-topic posts drawn from the tables of chatter.yaml."""
    seen: set[str] = set()
    out: list[Tweet] = []
    weights = [chatter[kind]["weight"] for kind in FILLER_KINDS]
    while len(out) < count:
        kind = rng.choices(FILLER_KINDS, weights)[0]
        author, text, lang = filler(rng, chatter[kind], kind, rng.choice(chatter["authors"]))
        if text not in seen:
            seen.add(text)
            out.append(Tweet(f"f{len(out) + 1}", author, "other", text, lang=lang))
    return out


def filler(rng: random.Random, table: dict, kind: str, author: str) -> tuple[str, str, str]:
    """(author, text, lang) of one filler post of `kind` (the draws keep their seeded order)."""
    n = rng.randint
    if kind == "coffee":
        text = rng.choice(table["texts"])
        if rng.random() < 0.6:
            text = (text + rng.choice(table["endings"])).format(n(2, 12))
        return author, text, "en"
    if kind == "conference":
        template, session = rng.choice(table["texts"]), f"{n(1, 6)}{rng.choice('ABCD')}"
        rooms, level, every = (n(2, 24), n(25, 30)), n(0, 3), rng.choice([10, 15, 20, 30])
        text = template.format(s=session, r=rooms[0], r2=rooms[1], l=level, m=every)
        return table["author"], text, "en"
    if kind == "sports":
        author = rng.choice(table["authors"])
        team, opp = rng.sample(table["teams"], 2)
        template = rng.choice(table["texts"])
        a, b, mood = n(0, 4), n(0, 4), rng.choice(table["moods"])
        text = template.format(
            team=team, opp=opp, a=a, b=b, mood=mood, mins=n(19, 29), secs=n(0, 59)
        )
        return author, text, "en"
    if kind == "jobs":
        role, place = rng.choice(table["roles"]), rng.choice(table["places"])
        text = table["text"].format(role=role, place=place, day=n(1, 28), n=n(10000, 99999))
        return table["author"], text, "en"
    if kind == "spam":
        author = rng.choice(table["authors"])
        text = rng.choice(table["texts"]) + f" {rng.choice(table['emoji'])}" * n(1, 3)
        return author, text, "en"
    return author, f"{{link:{rng.choice(table['urls'])}?ref={n(100, 999)}}}", "zxx"


def posted_at(rng: random.Random, t: Tweet, parent: Tweet | None, posts: dict) -> datetime:
    """After its parent, soon after the blog post it links, or any time in the window."""
    linked = re.search(r"\{post:([^}]+)\}", t.text)
    if parent is not None:
        delay = timedelta(minutes=rng.randint(4, 300 if t.reply else 2880))
        created = min(parent.created + delay, LATEST - timedelta(minutes=rng.randint(1, 60)))
        if created <= parent.created:
            created = parent.created + timedelta(seconds=rng.randint(30, 600))
    elif linked:
        post = linked_post(posts, linked[1])
        created = post.when.astimezone(UTC) + timedelta(minutes=rng.randint(20, 1800))
    else:
        created = START + timedelta(seconds=rng.randrange(int((END - START).total_seconds())))
    return created.replace(microsecond=0)


def linked_post(posts: dict[str, list[BuiltPost]], ref: str) -> BuiltPost:
    """The post of `<blog>:<n>` (content.load_tweets checked that it exists)."""
    blog, _, index = ref.partition(":")
    return posts[blog][int(index)]


def render_text(rng: random.Random, t: Tweet, parent: Tweet | None, posts: dict) -> None:
    """The final text with t.co links; the URL entities are kept for the JSON."""
    if t.rt:
        body = f"RT @{parent.author}: {parent.final_text}"
        if len(body) > 140:  # the v2 API truncates retweet text; the original is in includes
            body = body[:139].rsplit(" ", 1)[0] + "…"
        t.final_text, t.urls = body, [u for u in parent.urls if u["url"] in body]
        return

    def shorten(target: str, display: str) -> str:
        t.urls.append({"url": (short := tco(rng)), "expanded_url": target, "display_url": display})
        return short

    def link(match: re.Match) -> str:
        target = linked_post(posts, match[2]).url if match[1] == "post" else match[2]
        display = target.split("//", 1)[1]
        return shorten(target, display if len(display) <= 26 else display[:25] + "…")

    t.final_text = LINK_RE.sub(link, t.text)
    if t.quote:
        target = f"https://twitter.com/{parent.author}/status/{parent.id}"
        t.final_text += " " + shorten(target, target[8:34] + "…")


def snowflake(rng: random.Random, when: datetime) -> str:
    return str(((int(when.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22) | rng.getrandbits(22))


def tco(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "https://t.co/" + "".join(rng.choice(alphabet) for _ in range(10))


def timeline_files(rng: random.Random, tweets: list[Tweet], content: Content) -> dict[str, list]:
    """File name -> its lines: pages of up to `per page` posts, newest first."""
    pages = Pages(tweets, content.users, content.owner)
    visible = sorted((t for t in tweets if not t.hidden), key=lambda t: t.created, reverse=True)
    ends = [start for _, _, start, _ in TWEET_FILES[1:]] + [LATEST + timedelta(days=1)]
    files = {}
    for n, ((name, _, start, per_page), end) in enumerate(zip(TWEET_FILES, ends, strict=True)):
        chosen = [t for t in visible if start <= t.created < end or (n == 0 and t.created < start)]
        chunks = [chosen[i : i + per_page] for i in range(0, len(chosen), per_page)]
        files[name] = []
        for i, chunk in enumerate(chunks, 1):
            token = "" if i == len(chunks) else f"7140dibdnow9c7btw4{rng.getrandbits(40):x}"
            files[name].append(pages.page(chunk, token))
    files[TWEET_FILES[1][0]].insert(CORRUPT_LINE - 1, corrupt_page(rng, pages, content.chatter))
    return files


def corrupt_page(rng: random.Random, pages: Pages, chatter: dict) -> str:
    """A page whose write was interrupted: valid JSON up to a point, then nothing."""
    lost = filler_tweets(random.Random(SEED + 1), 12, chatter)
    for i, t in enumerate(lost):
        t.created = datetime(2026, 11, 12, 9, 0, tzinfo=UTC) + timedelta(minutes=7 * i)
        t.id = snowflake(rng, t.created)
        render_text(rng, t, None, {})
    text = pages.page(sorted(lost, key=lambda t: t.created, reverse=True))
    return text[: len(text) * 3 // 5]


def json_pages(lines: list[str]) -> list[dict]:
    """The lines that are whole pages (one is cut short on purpose)."""
    pages = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            pages.append(json.loads(line))
    return pages
