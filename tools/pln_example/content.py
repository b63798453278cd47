"""The example's content files (examples/content/), read into dataclasses.

A mistake in a content file raises ContentError with one line naming the file and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from pln_example import START

CHAT_CLOCK = re.compile(r"^(\d\d:\d\d:\d\d) @(\w+): (.*)$")


class ContentError(Exception):
    """A content file is not what the generator expects; the message names the file."""


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
    role: str = ""  # a retweet takes its original's
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


class Fields(dict):
    """A content file's mapping: a missing key is a ContentError naming the file."""

    def __init__(self, path: Path, values: dict):
        super().__init__(values)
        self.path = path

    def __missing__(self, key: str):
        raise ContentError(f"{self.path}: missing {key!r}")


def read_yaml(path: Path, text: str | None = None, first_line: int = 1) -> Fields:
    """A YAML mapping from path (or from text found at first_line of path)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8") if text is None else text)
    except OSError as e:
        raise ContentError(f"{path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + first_line}" if mark else str(path)
        raise ContentError(f"{where}: {getattr(e, 'problem', None) or e}") from None
    if not isinstance(data, dict):
        raise ContentError(f"{path}: expected a mapping of names to values")
    return Fields(path, data)


def make(cls, values: dict, where: str):
    """A `cls` from a content mapping; an unknown or missing field is a one-line ContentError."""
    try:
        return cls(**values)
    except TypeError as e:  # "Post.__init__() got an unexpected keyword argument 'titel'"
        problem = str(e).split("() ", 1)[-1]
        problem = problem.replace("got an unexpected keyword argument", "unknown field")
        problem = re.sub(r"missing \d+ required positional arguments?:", "missing", problem)
        raise ContentError(f"{where}: {problem}") from None


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


def load_content(root: Path) -> Content:
    """Everything under root (examples/content/); example.yaml says which blogs, in what order."""
    index = read_yaml(root / "example.yaml")
    topics, order = index["topics"], index["blogs"]
    on_disk = sorted(p.stem for p in (root / "blogs").glob("*.yaml"))
    if sorted(order) != on_disk:
        raise ContentError(f"{root / 'example.yaml'}: `blogs` must list each of {on_disk} once")
    people = read_yaml(root / "x/people.yaml")
    blogs = [load_blog(root / "blogs" / f"{name}.yaml", topics) for name in order]
    tweets = load_tweets(root / "x/tweets.yaml", topics, blogs)
    if strangers := [t.author for t in tweets if t.author not in people["users"]]:
        raise ContentError(f"{root / 'x/tweets.yaml'}: {strangers[0]!r} is not in people.yaml")
    chats = sorted((root / "chats").glob("*.txt"))
    if len(chats) != 1:
        raise ContentError(f"{root / 'chats'}: expected one transcript (*.txt), found {len(chats)}")
    return Content(
        topics=topics,
        blogs=blogs,
        paragraphs=load_paragraphs(root / "blogs/paragraphs.md"),
        broken_feed=(root / "blogs/broken.xml").read_text(encoding="utf-8"),
        owner=people["owner"],
        users=people["users"],
        tweets=tweets,
        chatter=read_yaml(root / "x/chatter.yaml"),
        chat=load_chat(chats[0], topics),
    )


def load_blog(path: Path, topics: dict[str, str]) -> Blog:
    values = read_yaml(path)
    posts = [make(Post, p, f"{path}: post {n}") for n, p in enumerate(values["posts"] or [])]
    if not posts:
        raise ContentError(f"{path}: no posts")
    for n, post in enumerate(posts):
        check_role(post.role, topics, f"{path}: post {n}")
    return make(Blog, {**values, "name": path.stem, "posts": posts}, str(path))


def load_tweets(path: Path, topics: dict[str, str], blogs: list[Blog]) -> list[Tweet]:
    """The posts in order; each refers only to earlier posts and to blog posts that exist."""
    tweets = [
        make(Tweet, {"key": k, **(v if isinstance(v, dict) else {})}, f"{path}: {k}")
        for k, v in read_yaml(path).items()
    ]
    earlier: set[str] = set()
    posts = {blog.name: len(blog.posts) for blog in blogs}
    for t in tweets:
        if not (t.role or t.rt):
            raise ContentError(f"{path}: {t.key}: missing 'role'")
        check_role(t.role, topics, f"{path}: {t.key}")
        if (ref := t.reply or t.quote or t.rt) and ref not in earlier:
            raise ContentError(f"{path}: {t.key}: refers to {ref!r}, which must come before it")
        earlier.add(t.key)
        for ref in re.findall(r"\{post:([^}]+)\}", t.text):
            blog, _, n = ref.partition(":")
            if not n.isdigit() or int(n) >= posts.get(blog, 0):
                raise ContentError(f"{path}: {t.key}: no post {n} in blogs/{blog}.yaml")
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
    parts = path.read_text(encoding="utf-8").split("---\n", 2)
    if len(parts) != 3 or parts[0]:
        raise ContentError(f"{path}: expected front matter between two '---' lines at the top")
    _, front, body = parts
    meta = read_yaml(path, front, first_line=2)
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


def chat_threads(chat: Chat) -> dict[int, list[str]]:
    """Question number -> the texts of the question and its answers ("Q1 ...", "A1 ...")."""
    threads: dict[int, list[str]] = {}
    for _, text in chat.messages:
        if m := re.match(r"[QA](\d)", text):
            threads.setdefault(int(m[1]), []).append(text)
    return dict(sorted(threads.items()))
