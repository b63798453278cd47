"""Render the bundled example data that `make demo` curates (examples/data/).

The words live in examples/content/: the posts of six blogs, Sam Whitfield's X/Twitter timeline
and a #lrnchat transcript. This script adds what real exports carry (dates, ids, t.co links, RSS
and Atom markup, X API v2 pages as saved by twarc2) and writes `expected.json`, the outcomes a test
can assert. The output is a pure function of the content and SEED: run it twice, get equal bytes.

    python tools/make_example.py [--content examples/content] [--out examples/data]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import yaml

SEED = 2026
ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "examples" / "content"
DEFAULT_OUT = ROOT / "examples" / "data"
START = datetime(2026, 8, 3, tzinfo=UTC)  # blog posts and unlinked tweets fall between these
END = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
LATEST = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # when twarc2 saved the timeline
TWEET_FILES = (  # (file, source name in pln.yaml, first day, posts per page)
    ("timeline-2026-08-10.jsonl", "x-timeline-aug-oct", datetime(2026, 8, 1, tzinfo=UTC), 100),
    ("timeline-2026-11.jsonl", "x-timeline-nov", datetime(2026, 11, 1, tzinfo=UTC), 50),
)
CORRUPT_LINE = 2  # of the November file: a page cut short when twarc2 was interrupted
TWITTER_EPOCH_MS = 1288834974657
TAG_RE = re.compile(r"(?<![\w&])#(\w+)")
MENTION_RE = re.compile(r"(?<!\w)@(\w+)")
TCO_RE = re.compile(r"https://t\.co/\w+")
LINK_RE = re.compile(r"\{(post|link):([^}]+)\}")  # {post:<blog>:<n>} or {link:<url>} in a tweet
CHAT_CLOCK = re.compile(r"^(\d\d:\d\d:\d\d) @(\w+): (.*)$")


class ContentError(Exception):
    """A content file is not what the generator expects; the message names the file."""


# --- content ---


@dataclass
class Post:
    title: str
    role: str  # "rp", "rp+ml" (on-topic), "near:rp" (a near-miss for rp) or "other"
    lede: str
    categories: list[str] = field(default_factory=list)
    extra_html: str = ""  # appended verbatim (the unsafe-HTML entry)
    guid: bool = True  # False: an RSS item without <guid>


@dataclass
class Blog:
    name: str  # the source name in pln.yaml
    file: str
    format: str  # "rss" or "atom"
    title: str
    site: str
    description: str
    authors: list[str]
    tz_hours: int
    posts: list[Post]
    relative_links: bool = False  # content links relative to the site, no base given
    xml_base: bool = False  # Atom: relative entry links resolved by xml:base
    cdata: bool = True  # RSS: content:encoded in CDATA rather than escaped


@dataclass
class Tweet:
    key: str
    author: str
    role: str
    text: str = ""
    reply: str = ""  # key of the tweet this replies to
    quote: str = ""  # key of the quoted tweet
    rt: str = ""  # key of the retweeted tweet (its text is built from the original)
    hidden: bool = False  # only in includes.tweets (retweeted/quoted, not in the timeline)
    lang: str = "en"
    id: str = field(default="", init=False)  # the rest is filled in while building
    created: datetime = field(default=START, init=False)
    final_text: str = field(default="", init=False)
    urls: list[dict] = field(default_factory=list, init=False)


@dataclass
class Content:
    topics: dict[str, str]  # role key -> topic id in pln.yaml
    blogs: list[Blog]
    paragraphs: dict[str, list[str]]  # role key or "general" -> paragraphs
    broken_feed: str
    owner: str
    users: dict[str, str]  # username -> display name
    tweets: list[Tweet]
    chatter: dict  # phrase tables for the filler tweets
    chat: Chat


@dataclass
class Chat:
    file: str
    source: str  # the source name in pln.yaml
    transcript: str  # as saved to examples/data/chats/
    messages: list[tuple[str, str]]  # (author, text)
    roles: dict[str, str]  # "Q1" -> the role of the question and its answers


def read_yaml(path: Path, text: str | None = None) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8") if text is None else text)
    except (OSError, yaml.YAMLError) as e:
        raise ContentError(f"{path}: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ContentError(f"{path}: expected a mapping of names to values")
    return data


def make(cls, values: dict, where: str):
    """A `cls` from a content mapping, with a one-line error for unknown or missing fields."""
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    missing = dataclasses.MISSING
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.init and f.default is missing and f.default_factory is missing
    }
    if unknown := sorted(set(values) - known):
        raise ContentError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(known)})")
    if missing := sorted(required - set(values)):
        raise ContentError(f"{where}: missing field {missing[0]!r}")
    return cls(**values)


def role_keys(role: str) -> tuple[list[str], str]:
    """The topic keys an item is written for, and the one it is a near-miss for.

    "rp+ml" -> (["rp", "ml"], ""); "near:rp" -> ([], "rp"); "other" (or "") -> ([], "").
    """
    if role.startswith("near:"):
        return [], role[5:]
    return ([] if role in ("", "other", "policy") else role.split("+")), ""


def check_role(role: str, topics: dict[str, str], where: str) -> None:
    on, near = role_keys(role)
    if unknown := [k for k in [*on, near] if k and k not in topics]:
        raise ContentError(f"{where}: role {role!r}: no topic {unknown[0]!r} in example.yaml")


def load_blog(path: Path, topics: dict[str, str]) -> Blog:
    values = {"name": path.stem, **read_yaml(path)}
    posts = values.get("posts") or []
    values["posts"] = [make(Post, p, f"{path}: post {n}") for n, p in enumerate(posts)]
    for n, post in enumerate(values["posts"]):
        check_role(post.role, topics, f"{path}: post {n}")
    return make(Blog, values, str(path))


def load_tweets(path: Path, topics: dict[str, str]) -> list[Tweet]:
    tweets = [make(Tweet, {"key": k, **v}, f"{path}: {k}") for k, v in read_yaml(path).items()]
    for t in tweets:
        check_role(t.role, topics, f"{path}: {t.key}")
    return tweets


def load_paragraphs(path: Path) -> dict[str, list[str]]:
    """`## key` sections of paragraphs separated by blank lines (text before the first: notes)."""
    sections: dict[str, list[str]] = {}
    for chunk in re.split(r"^## ", path.read_text(encoding="utf-8"), flags=re.M)[1:]:
        key, body = chunk.split("\n", 1)
        sections[key.strip()] = [" ".join(p.split("\n")) for p in body.strip().split("\n\n")]
    return sections


def load_chat(path: Path, topics: dict[str, str]) -> Chat:
    """Front matter (source, date, utc_offset, threads), then `HH:MM:SS @author: text` lines."""
    _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
    meta = read_yaml(path, front)
    lines, messages = [], []
    for n, line in enumerate(body.splitlines(), front.count("\n") + 3):
        if m := CHAT_CLOCK.match(line):
            messages.append((m[2], m[3]))
            line = f"{meta['date']}T{m[1]}{meta['utc_offset']} @{m[2]}: {m[3]}"
        elif line.strip() and not line.startswith("# "):
            if not messages:
                raise ContentError(f"{path}:{n}: expected 'HH:MM:SS @author: text'")
            messages[-1] = (messages[-1][0], f"{messages[-1][1]}\n{line}")
        lines.append(line)
    chat = Chat(path.name, meta["source"], "\n".join(lines) + "\n", messages, meta["threads"])
    for n in chat_threads(chat):
        check_role(chat.roles.get(f"Q{n}", "?"), topics, f"{path}: threads: Q{n}")
    return chat


def load_content(root: Path = CONTENT) -> Content:
    index = read_yaml(root / "example.yaml")
    topics, order = index["topics"], index["blogs"]
    on_disk = sorted(p.stem for p in (root / "blogs").glob("*.yaml"))
    if sorted(order) != on_disk:
        raise ContentError(f"{root / 'example.yaml'}: `blogs` must list each of {on_disk} once")
    people = read_yaml(root / "x/people.yaml")
    (chat,) = sorted((root / "chats").glob("*.txt"))  # one transcript
    return Content(
        topics=topics,
        blogs=[load_blog(root / "blogs" / f"{name}.yaml", topics) for name in order],
        paragraphs=load_paragraphs(root / "blogs/paragraphs.md"),
        broken_feed=(root / "blogs/broken.xml").read_text(encoding="utf-8"),
        owner=people["owner"],
        users=people["users"],
        tweets=load_tweets(root / "x/tweets.yaml", topics),
        chatter=read_yaml(root / "x/chatter.yaml"),
        chat=load_chat(chat, topics),
    )


# --- blogs ---


class Dealer:
    """Deals out a section's paragraphs in a seeded order, so posts rarely share one."""

    def __init__(self, rng: random.Random, items: list[str]):
        self.rng, self.items, self.queue = rng, items, []

    def take(self, avoid: str = "") -> str:
        if not self.queue:
            self.queue = list(self.items)
            self.rng.shuffle(self.queue)
        for i, item in enumerate(self.queue):
            if item != avoid:
                return self.queue.pop(i)
        return self.queue.pop(0)


@dataclass
class BuiltPost:
    index: int
    post: Post
    when: datetime
    url: str
    href: str  # the link as written in the feed (relative under xml:base)
    author: str
    html: str


def build_posts(rng: random.Random, content: Content) -> dict[str, list[BuiltPost]]:
    dealers = {key: Dealer(rng, items) for key, items in content.paragraphs.items()}
    span = int((END - START).total_seconds())
    out = {}
    for blog in content.blogs:
        tz = timezone(timedelta(hours=blog.tz_hours))
        times = sorted(START + timedelta(seconds=rng.randrange(span)) for _ in blog.posts)
        rng.shuffle(times)
        out[blog.name] = []
        for i, (post, when) in enumerate(zip(blog.posts, times, strict=True)):
            when = when.astimezone(tz).replace(microsecond=0)
            slug = re.sub(r"[^a-z0-9]+", "-", post.title.lower().replace("'", "")).strip("-")
            path = f"{when:%Y/%m}/{slug}/"
            url = f"{blog.site}/{path}"
            paragraphs = [escape(post.lede), *body(rng, dealers, role_keys(post.role)[0])]
            html = "".join(f"<p>{p}</p>" for p in paragraphs)
            html += closing(rng, blog, when) + post.extra_html
            author = blog.authors[i % len(blog.authors)]
            href = path if blog.xml_base else url
            out[blog.name].append(BuiltPost(i, post, when, url, href, author, html))
    return out


def body(rng: random.Random, dealers: dict[str, Dealer], keys: list[str]) -> list[str]:
    """Two paragraphs of a single topic, one of each of two, or one or two general ones."""
    if len(keys) == 1:
        first = dealers[keys[0]].take()
        return [first, dealers[keys[0]].take(avoid=first)]
    if keys:
        return [dealers[k].take() for k in keys]
    first = dealers["general"].take()
    return [first, dealers["general"].take(avoid=first)] if rng.random() < 0.5 else [first]


def closing(rng: random.Random, blog: Blog, when: datetime) -> str:
    base = "" if blog.relative_links else blog.site
    choice = rng.randrange(3)
    if choice == 0:
        return f'<p>More from this month in <a href="{base}/{when:%Y/%m}/">the archive</a>.</p>'
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
        f"  <lastBuildDate>{format_datetime(max(p.when for p in posts))}</lastBuildDate>",
        "  <generator>Hugo</generator>",
        f'  <atom:link href="{blog.site}/index.xml" rel="self" type="application/rss+xml"/>',
    ]
    for p in newest_first(posts):
        lines += [
            "  <item>",
            f"    <title>{escape(p.post.title)}</title>",
            f"    <link>{p.url}</link>",
        ]
        if p.post.guid and blog.cdata:
            lines.append(f'    <guid isPermaLink="true">{p.url}</guid>')
        elif p.post.guid:
            lines.append(f'    <guid isPermaLink="false">northwind-people-{1400 + p.index}</guid>')
        lines.append(f"    <pubDate>{format_datetime(p.when)}</pubDate>")
        lines.append(f"    <dc:creator>{escape(p.author)}</dc:creator>")
        lines += [f"    <category>{escape(c)}</category>" for c in p.post.categories]
        lines.append(f"    <description>{escape(p.post.lede)}</description>")
        html = f"<![CDATA[{p.html}]]>" if blog.cdata else escape(p.html)
        lines += [f"    <content:encoded>{html}</content:encoded>", "  </item>"]
    return "\n".join([*lines, "</channel>", "</rss>", ""])


def atom_feed(blog: Blog, posts: list[BuiltPost]) -> str:
    host = blog.site.split("//", 1)[1].split("/", 1)[0]
    base = f' xml:base="{blog.site}/"' if blog.xml_base else ""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom"{base}>',
        f"  <title>{escape(blog.title)}</title>",
        f"  <subtitle>{escape(blog.description)}</subtitle>",
        f'  <link rel="alternate" type="text/html" href="{blog.site}/"/>',
        f'  <link rel="self" type="application/atom+xml" href="{blog.site}/feed.atom"/>',
        f"  <id>tag:{host},2026:feed</id>",
        f"  <updated>{max(p.when for p in posts).isoformat()}</updated>",
        f"  <author><name>{escape(blog.authors[0])}</name></author>",
    ]
    for p in newest_first(posts):
        updated = p.when + timedelta(hours=p.index % 3)
        lines += [
            "  <entry>",
            f"    <title>{escape(p.post.title)}</title>",
            f'    <link rel="alternate" type="text/html" href={quoteattr(p.href)}/>',
            f"    <id>tag:{host},2026:post-{100 + p.index}</id>",
            f"    <published>{p.when.isoformat()}</published>",
            f"    <updated>{updated.isoformat()}</updated>",
            f"    <author><name>{escape(p.author)}</name></author>",
            *[f"    <category term={quoteattr(c)}/>" for c in p.post.categories],
            f'    <summary type="text">{escape(p.post.lede)}</summary>',
            f'    <content type="html">{escape(p.html)}</content>',
            "  </entry>",
        ]
    return "\n".join([*lines, "</feed>", ""])


def newest_first(posts: list[BuiltPost]) -> list[BuiltPost]:
    return sorted(posts, key=lambda p: p.when, reverse=True)


# --- X/Twitter timeline ---

FILLER_KINDS = ("coffee", "conference", "sports", "jobs", "spam", "links")


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


def posted_at(rng: random.Random, t: Tweet, parent: Tweet | None, posts: dict) -> datetime:
    """After its parent, soon after the blog post it links, or any time in the window."""
    linked = re.search(r"\{post:([^}]+)\}", t.text)
    if parent is not None:
        delay = timedelta(minutes=rng.randint(4, 300 if t.reply else 2880))
        created = min(parent.created + delay, LATEST - timedelta(minutes=rng.randint(1, 60)))
        if created <= parent.created:
            created = parent.created + timedelta(seconds=rng.randint(30, 600))
    elif linked:
        post = linked_post(posts, linked[1], t.key)
        created = post.when.astimezone(UTC) + timedelta(minutes=rng.randint(20, 1800))
    else:
        created = START + timedelta(seconds=rng.randrange(int((END - START).total_seconds())))
    return created.replace(microsecond=0)


def linked_post(posts: dict[str, list[BuiltPost]], ref: str, key: str) -> BuiltPost:
    blog, _, index = ref.partition(":")
    if blog not in posts or not index.isdigit() or int(index) >= len(posts[blog]):
        raise ContentError(f"tweets.yaml: {key}: no blog post {ref!r} (blogs/<name>.yaml, post n)")
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
        target = linked_post(posts, match[2], t.key).url if match[1] == "post" else match[2]
        display = target.split("//", 1)[1]
        return shorten(target, display if len(display) <= 26 else display[:25] + "…")

    t.final_text = LINK_RE.sub(link, t.text)
    if t.quote:
        target = f"https://twitter.com/{parent.author}/status/{parent.id}"
        t.final_text += " " + shorten(target, target[8:34] + "…")


def user_id(username: str) -> str:
    """A stable 18-19 digit account id derived from the name (not from the generator's order)."""
    digest = int(hashlib.blake2b(username.encode(), digest_size=8).hexdigest(), 16)
    return str(10**17 + digest % (9 * 10**18 - 10**17))


def snowflake(rng: random.Random, when: datetime) -> str:
    return str(((int(when.timestamp() * 1000) - TWITTER_EPOCH_MS) << 22) | rng.getrandbits(22))


def tco(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "https://t.co/" + "".join(rng.choice(alphabet) for _ in range(10))


class Pages:
    """Writes X API v2 timeline pages (as twarc2 saves them) for one set of tweets."""

    def __init__(self, tweets: list[Tweet], users: dict[str, str], owner: str):
        self.by_key, self.users, self.owner = {t.key: t for t in tweets}, users, owner

    def parent(self, t: Tweet) -> Tweet | None:
        return self.by_key.get(t.reply or t.quote or t.rt)

    def page(self, tweets: list[Tweet], next_token: str = "") -> str:
        referenced = {p.id: p for t in tweets if (p := self.parent(t))}
        names: dict[str, None] = {}  # an ordered set
        for t in [*tweets, *referenced.values()]:
            names[t.author] = None
            names.update(
                dict.fromkeys(m for m in MENTION_RE.findall(t.final_text) if m in self.users)
            )
        page = {
            "data": [self.tweet(t) for t in tweets],
            "includes": {"users": [self.user(name) for name in names]},
            "meta": {
                "result_count": len(tweets),
                "newest_id": tweets[0].id,
                "oldest_id": tweets[-1].id,
            },
            "__twarc": {
                "url": f"https://api.twitter.com/2/users/{user_id(self.owner)}/timelines/"
                "reverse_chronological?max_results=100&expansions=author_id%2Creferenced_tweets.id"
                "%2Centities.mentions.username%2Cin_reply_to_user_id",
                "version": "2.14.0",
                "retrieved_at": "2026-11-26T13:05:00+00:00",
            },
        }
        if referenced:
            page["includes"]["tweets"] = [self.tweet(r) for r in referenced.values()]
        if next_token:
            page["meta"]["next_token"] = next_token
        return json.dumps(page)

    def user(self, username: str) -> dict:
        return {
            "id": user_id(username),
            "name": self.users[username],
            "username": username,
            "created_at": "2012-03-14T09:26:53.000Z",
            "protected": False,
            "verified": False,
        }

    def tweet(self, t: Tweet) -> dict:
        metrics = random.Random(int(t.id))  # the same numbers wherever the tweet is included
        record = {
            "id": t.id,
            "text": t.final_text,
            "author_id": user_id(t.author),
            "created_at": t.created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "lang": t.lang,
            "conversation_id": t.id,
            "edit_history_tweet_ids": [t.id],
            "possibly_sensitive": False,
            "reply_settings": "everyone",
            "public_metrics": {
                "retweet_count": metrics.randint(0, 40) if not t.rt else 0,
                "reply_count": metrics.randint(0, 6),
                "like_count": metrics.randint(0, 120) if not t.rt else 0,
                "quote_count": metrics.randint(0, 3),
            },
        }
        if entities := self.entities(t):
            record["entities"] = entities
        parent = self.parent(t)
        if t.reply:
            root = parent
            while root.reply:
                root = self.by_key[root.reply]
            record["conversation_id"] = root.id
            record["in_reply_to_user_id"] = user_id(parent.author)
        if parent:
            kind = "replied_to" if t.reply else "quoted" if t.quote else "retweeted"
            record["referenced_tweets"] = [{"type": kind, "id": parent.id}]
        return record

    def entities(self, t: Tweet) -> dict[str, list]:
        text, urls = t.final_text, {u["url"]: u for u in t.urls}

        def spans(regex: re.Pattern, fields, keep=lambda m: True) -> list[dict]:
            found = [m for m in regex.finditer(text) if keep(m)]
            return [{"start": m.start(), "end": m.end(), **fields(m)} for m in found]

        found = {
            "urls": spans(TCO_RE, lambda m: urls[m[0]], lambda m: m[0] in urls),
            "hashtags": spans(TAG_RE, lambda m: {"tag": m[1]}),
            "mentions": spans(
                MENTION_RE,
                lambda m: {"username": m[1], "id": user_id(m[1])},
                lambda m: m[1] in self.users,
            ),
        }
        return {kind: items for kind, items in found.items() if items}


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
        for chunk in chunks:
            last = chunk is chunks[-1]
            token = "" if last else f"7140dibdnow9c7btw4{rng.getrandbits(40):x}"
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


# --- expected outcomes ---


class Outcomes:
    """Each item with the topics it is written for, and per topic what to keep and not keep."""

    def __init__(self, topics: dict[str, str]):
        self.topics, self.items = topics, []
        self.by_topic = {tid: {"keep": [], "near_misses": []} for tid in topics.values()}

    def add(self, ref: dict, role: str) -> None:
        on, near = role_keys(role)
        entry = {k: v for k, v in ref.items() if k not in ("text", "author")}
        entry["topics"] = [self.topics[k] for k in on]
        if near:
            entry["near_miss_for"] = self.topics[near]
            self.by_topic[self.topics[near]]["near_misses"].append(ref)
        self.items.append(entry)
        for k in on:
            self.by_topic[self.topics[k]]["keep"].append(ref)


def expected(content: Content, posts: dict, tweets: list[Tweet], files: dict) -> dict:
    outcomes, blocked = Outcomes(content.topics), []
    for blog in content.blogs:
        for p in posts[blog.name]:
            outcomes.add({"source": blog.name, "url": p.url, "title": p.post.title}, p.post.role)
    x_files, placed = [], {}
    for name, source, _, _ in TWEET_FILES:
        pages = json_pages(files[name])
        placed |= {record["id"]: source for page in pages for record in page["data"]}
        posts_in = sum(len(page["data"]) for page in pages)
        x_files.append(
            {"file": f"x/{name}", "source": source, "lines": len(files[name]), "pages": len(pages)}
            | {"posts": posts_in}
        )
    for t in sorted((t for t in tweets if not t.hidden), key=lambda t: t.created):
        ref = {"source": placed[t.id], "tweet_id": t.id, "author": t.author, "text": t.final_text}
        if t.role == "policy":
            why = "spam with #microlearning; author blocked"
            blocked.append({**ref, "topic": content.topics["ml"], "why": why})
        else:
            outcomes.add(ref, t.role)
    chat = content.chat
    threads = chat_threads(chat)
    for n, (question, *_) in threads.items():
        ref = {"source": chat.source, "question": n, "title": f"Q{n}", "text": question}
        outcomes.add(ref, chat.roles[f"Q{n}"])
    feeds = [
        {
            "file": f"feeds/{b.file}",
            "source": b.name,
            "format": "rss20" if b.format == "rss" else "atom10",
            "entries": len(b.posts),
        }
        for b in content.blogs
    ]
    people = sorted({author for author, _ in chat.messages})
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
            "file": f"chats/{chat.file}",
            "source": chat.source,
            "messages": len(chat.messages),
            "questions": len(threads),
            "participants": len(people),
            "people": people,
        },
        "topics": outcomes.by_topic,
        "blocked": blocked,
        "items": outcomes.items,
    }


def chat_threads(chat: Chat) -> dict[int, list[str]]:
    """Question number -> the texts of the question and its answers ("Q1 ...", "A1 ...")."""
    threads: dict[int, list[str]] = {}
    for _, text in chat.messages:
        if m := re.match(r"[QA](\d)", text):
            threads.setdefault(int(m[1]), []).append(text)
    return dict(sorted(threads.items()))


# --- writing ---


def generate(root: Path = CONTENT) -> dict[str, str]:
    """Relative path -> file content for everything under examples/data/."""
    content, rng = load_content(root), random.Random(SEED)
    posts = build_posts(rng, content)
    out = {f"feeds/{b.file}": feed(b, posts[b.name]) for b in content.blogs}
    out["feeds/broken.xml"] = content.broken_feed
    tweets = build_tweets(rng, content, posts)
    files = timeline_files(rng, tweets, content)
    out |= {f"x/{name}": "\n".join(lines) + "\n" for name, lines in files.items()}
    out[f"chats/{content.chat.file}"] = content.chat.transcript
    facts = expected(content, posts, tweets, files)
    out["expected.json"] = json.dumps(facts, indent=1, ensure_ascii=False) + "\n"
    return out


def feed(blog: Blog, posts: list[BuiltPost]) -> str:
    return rss_feed(blog, posts) if blog.format == "rss" else atom_feed(blog, posts)


def write(out_dir: Path, root: Path = CONTENT) -> list[Path]:
    written = []
    for rel, text in sorted(generate(root).items()):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=CONTENT, help="folder to read from")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write into")
    args = parser.parse_args(argv)
    try:
        written = write(args.out, args.content)
    except ContentError as e:
        sys.exit(f"make_example: {e}")
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
