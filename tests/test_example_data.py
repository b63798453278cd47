"""The bundled example (examples/) is well-formed in the ways `make demo` relies on.

Also checks the design promise of examples/data/expected.json: every item matches exactly the
topics it was written for under lemma phrase/hashtag matching, and every near-miss matches none.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
import yaml

from pln.config import parse_config
from pln.sources.registry import load_checked_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = EXAMPLES / "data"
CONTENT = EXAMPLES / "content"
CONFIG = EXAMPLES / "pln.yaml"
CHAT_LINE = re.compile(r"^(\S+) @(\w+): (.*)$")


@cache
def expected() -> dict:
    return json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


@cache
def config():
    return parse_config(yaml.safe_load(CONFIG.read_text(encoding="utf-8")), CONFIG)


def generator():
    spec = importlib.util.spec_from_file_location("make_example", ROOT / "tools/make_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- config ---


def test_config_parses_and_points_at_the_data():
    cfg = config()
    assert cfg.outputs.duckdb == EXAMPLES / "out" / "pln.duckdb"
    assert cfg.outputs.feeds_dir == EXAMPLES / "out" / "feeds"
    for src in cfg.sources:
        assert (EXAMPLES / src.options["path"]).is_file(), src.name
    assert {t.id for t in cfg.topics} == set(expected()["topics"])
    for topic in cfg.topics:
        assert topic.phrases and topic.hashtags and 0 < topic.threshold <= 1


def test_config_loads_with_source_checks():
    pytest.importorskip("pln.sources.rss")
    pytest.importorskip("pln.sources.twitter")
    pytest.importorskip("pln.sources.hashtag_chat")
    assert len(load_checked_config(CONFIG).sources) == len(config().sources)


def test_every_data_file_has_a_source():
    configured = {src.options["path"] for src in config().sources}
    on_disk = {
        str(p.relative_to(EXAMPLES)) for p in DATA.rglob("*") if p.is_file() and p.suffix != ".json"
    }
    assert on_disk == configured


# --- feeds ---


@pytest.mark.parametrize("feed", expected()["feeds"], ids=lambda f: f["source"])
def test_feed_parses(feed):
    parsed = feedparser.parse(DATA / feed["file"])
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == feed["format"]
    assert len(parsed.entries) == feed["entries"]
    for entry in parsed.entries:
        assert entry.title and entry.link.startswith("https://")
        assert entry.published_parsed and entry.get("author")
        assert "<p>" in entry.content[0].value


def test_broken_feed_is_not_a_feed():
    parsed = feedparser.parse(DATA / expected()["broken_feed"]["file"])
    assert parsed.bozo and not parsed.entries and not parsed.version


def test_feed_edge_cases_are_present():
    raw = (DATA / "feeds/first-ninety.xml").read_text(encoding="utf-8")
    assert "&lt;script&gt;" in raw and "onerror=" in raw  # unsafe HTML for the renderer
    fc = (DATA / "feeds/forgetting-curve.xml").read_text(encoding="utf-8")
    assert fc.count("<item>") == fc.count("<guid") + 1  # exactly one item without a guid
    assert (
        'xml:base="https://smallbites.example.com/"'
        in (DATA / "feeds/small-bites.atom").read_text()
    )
    assert 'href="/' in (DATA / "feeds/facilitators-notebook.xml").read_text()  # relative links


# --- X/Twitter pages ---


def pages(rel: str) -> list[tuple[int, dict | None]]:
    out = []
    for n, line in enumerate((DATA / rel).read_text(encoding="utf-8").splitlines(), 1):
        try:
            out.append((n, json.loads(line)))
        except json.JSONDecodeError:
            out.append((n, None))
    return out


def test_jsonl_lines_are_pages_except_the_corrupt_one():
    x = expected()["x"]
    corrupt_file, corrupt_line = x["corrupt_line"].rsplit(":", 1)
    bad, ids = [], []
    for f in x["files"]:
        lines = pages(f["file"])
        assert len(lines) == f["lines"]
        bad += [f"{f['file']}:{n}" for n, page in lines if page is None]
        good = [page for _, page in lines if page is not None]
        assert len(good) == f["pages"]
        assert sum(len(p["data"]) for p in good) == f["posts"]
        for page in good:
            check_page(page)
            ids += [t["id"] for t in page["data"]]
    assert bad == [f"{corrupt_file}:{corrupt_line}"]
    assert len(ids) == len(set(ids)) == x["posts"]


def check_page(page: dict) -> None:
    assert set(page) >= {"data", "includes", "meta"}
    users = {u["id"] for u in page["includes"]["users"]}
    included = {t["id"] for t in page["includes"].get("tweets", [])}
    assert page["meta"]["result_count"] == len(page["data"])
    for tweet in [*page["data"], *page["includes"].get("tweets", [])]:
        assert re.fullmatch(r"\d{19}", tweet["id"]), tweet["id"]
        assert tweet["author_id"] in users and tweet["created_at"].endswith("Z")
        assert tweet["conversation_id"] and tweet["lang"]
        for ref in tweet.get("referenced_tweets", []):
            assert ref["type"] in {"retweeted", "quoted", "replied_to"}
        text, entities = tweet["text"], tweet.get("entities", {})
        for tag in entities.get("hashtags", []):
            assert text[tag["start"] : tag["end"]] == "#" + tag["tag"]
        for mention in entities.get("mentions", []):
            assert text[mention["start"] : mention["end"]] == "@" + mention["username"]
        for url in entities.get("urls", []):
            assert text[url["start"] : url["end"]] == url["url"] and url["expanded_url"]
    for tweet in page["data"]:
        for ref in tweet.get("referenced_tweets", []):
            assert ref["id"] in included


# --- chat ---


def chat_messages() -> list[tuple[str, str, str]]:
    messages = []
    for line in (DATA / expected()["chat"]["file"]).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("# "):
            continue
        m = CHAT_LINE.match(line)
        if m:
            messages.append(m.groups())
        else:  # a continuation line belongs to the message above
            stamp, author, text = messages[-1]
            messages[-1] = (stamp, author, f"{text}\n{line}")
    return messages


def test_chat_has_five_questions_and_answers_from_many_people():
    chat = expected()["chat"]
    messages = chat_messages()
    assert len(messages) == chat["messages"]
    questions = [text[:2] for _, author, text in messages if author == "lrnchat" and text[0] == "Q"]
    assert questions == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    answerers = {a for _, a, text in messages if re.match(r"A\d", text)}
    assert 10 <= len(answerers) <= 15
    assert len({a for _, a, _ in messages}) == chat["participants"]
    stamps = [s for s, _, _ in messages]
    assert stamps == sorted(stamps) and all(s.endswith("-05:00") for s in stamps)


# --- the design promise: on-topic items match, near-misses do not ---


@cache
def matcher():
    spacy = pytest.importorskip("spacy")
    from spacy.matcher import PhraseMatcher

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    match = PhraseMatcher(nlp.vocab, attr="LEMMA")
    for topic in config().topics:
        match.add(topic.id, list(nlp.pipe(p.lower() for p in topic.phrases)))
    return nlp, match


def topics_matched(text: str, hashtags: set[str]) -> set[str]:
    """Topics with a phrase match by lemma (case-insensitively) or a hashtag match."""
    nlp, match = matcher()
    found = set()
    for doc in (nlp(text), nlp(text.lower())):
        found |= {nlp.vocab.strings[m_id] for m_id, _, _ in match(doc)}
    found |= {t.id for t in config().topics if hashtags & set(t.hashtags)}
    return found


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def feed_texts() -> dict[str, tuple[str, set[str]]]:
    out = {}
    for feed in expected()["feeds"]:
        for e in feedparser.parse(DATA / feed["file"]).entries:
            tags = {re.sub(r"\W", "", t.term.lower()) for t in e.get("tags", [])}
            out[e.link] = (f"{e.title}\n{html_text(e.content[0].value)}", tags)
    return out


def tweet_texts() -> dict[str, tuple[str, set[str]]]:
    """What a reader of the tweet sees: retweets read as their original, links expanded."""
    out = {}
    for f in expected()["x"]["files"]:
        for _, page in pages(f["file"]):
            if page is None:
                continue
            originals = {t["id"]: t for t in page["includes"].get("tweets", [])}
            for tweet in page["data"]:
                shown = tweet
                for ref in tweet.get("referenced_tweets", []):
                    if ref["type"] == "retweeted":
                        shown = originals[ref["id"]]
                text, entities = shown["text"], shown.get("entities", {})
                for url in entities.get("urls", []):
                    text = text.replace(url["url"], url["expanded_url"])
                tags = {h["tag"].lower() for h in entities.get("hashtags", [])}
                out[tweet["id"]] = (text, tags)
    return out


def chat_texts() -> dict[int, tuple[str, set[str]]]:
    threads: dict[int, list[str]] = {}
    for _, _, text in chat_messages():
        m = re.match(r"[QA](\d)", text)
        if m:
            threads.setdefault(int(m.group(1)), []).append(text)
    return {n: ("\n".join(texts), {"lrnchat"}) for n, texts in threads.items()}


def test_every_item_matches_exactly_its_designed_topics():
    feeds, tweets, chat = feed_texts(), tweet_texts(), chat_texts()
    wrong = []
    for item in expected()["items"]:
        if "url" in item:
            text, tags = feeds[item["url"]]
        elif "tweet_id" in item:
            text, tags = tweets[item["tweet_id"]]
        else:
            text, tags = chat[item["question"]]
        got = topics_matched(text, tags)
        if got != set(item["topics"]):
            wrong.append((item.get("title") or item.get("tweet_id"), sorted(got), item["topics"]))
    assert not wrong
    assert len(expected()["items"]) == (
        expected()["feed_entries"]
        + expected()["x"]["posts"]
        - len(expected()["blocked"])
        + expected()["chat"]["questions"]
    )


def test_on_topic_items_match_even_a_case_sensitive_matcher():
    """Each kept item uses a phrase in lower case or a hashtag, so matching on the original
    casing (as a lookup lemmatizer does) still finds it."""
    nlp, match = matcher()
    texts = {**feed_texts(), **tweet_texts()}
    hashtags = {t.id: set(t.hashtags) for t in config().topics}
    for topic, lists in expected()["topics"].items():
        for ref in lists["keep"]:
            key = ref.get("url") or ref.get("tweet_id")
            if key is None:
                continue
            text, tags = texts[key]
            cased = {nlp.vocab.strings[m_id] for m_id, _, _ in match(nlp(text))}
            assert topic in cased or tags & hashtags[topic], ref


def test_near_misses_are_not_by_boosted_authors_and_chatter_matches_nothing():
    boosted = {a for t in config().topics for a in t.boost_authors}
    for lists in expected()["topics"].values():
        assert lists["keep"] and len(lists["near_misses"]) >= 5
        for ref in lists["near_misses"]:
            assert ref.get("author", "") not in boosted
    for _, _, text in chat_messages():
        if not re.match(r"[QA]\d", text):
            assert topics_matched(text, set()) == set(), text


# --- determinism ---


def test_regenerating_gives_identical_bytes(tmp_path):
    written = generator().write(tmp_path)
    assert written
    for path in written:
        rel = path.relative_to(tmp_path)
        assert path.read_bytes() == (DATA / rel).read_bytes(), f"{rel} differs: rerun the generator"


def edited_content(tmp_path: Path, rel: str, old: str, new: str) -> Path:
    """A copy of examples/content/ with `old` replaced by `new` once in the file `rel`."""
    content = tmp_path / "content"
    shutil.copytree(CONTENT, content)
    text = (content / rel).read_text(encoding="utf-8")
    assert old in text
    (content / rel).write_text(text.replace(old, new, 1), encoding="utf-8")
    return content


def test_an_edit_in_a_content_file_reaches_the_data(tmp_path):
    title = "Retrieval Practice Without the Quiz Anxiety"
    content = edited_content(tmp_path, "blogs/forgetting-curve.yaml", title, "Quiz Without Anxiety")
    generator().write(tmp_path / "data", content)
    feed = (tmp_path / "data" / "feeds" / "forgetting-curve.xml").read_text(encoding="utf-8")
    assert "<title>Quiz Without Anxiety</title>" in feed and title not in feed


MISTAKES = {  # (file, text, replacement, a pattern of what the one-line error says)
    "unknown-field": ("blogs/small-bites.yaml", "    lede:", "    led:", "unknown field 'led'"),
    "bad-yaml": ("blogs/small-bites.yaml", "  - title: ", "  - title: [", r"bites\.yaml:\d+: "),
    "unknown-topic": ("x/tweets.yaml", "  role: ml\n", "  role: mll\n", "ml1: role 'mll'"),
    "unknown-reply": ("x/tweets.yaml", "  reply: rp6", "  reply: rp99", "rp13: refers to 'rp99'"),
    "no-such-post": ("x/tweets.yaml", "small-bites:1}", "small-bites:99}", "no post 99"),
    "unknown-author": ("x/tweets.yaml", "author: maya_okafor", "author: maya", "'maya' is not in"),
    "unlisted-blog": ("example.yaml", "  - small-bites\n", "", "`blogs` must list"),
    "chat-line": ("chats/lrnchat-2026-11-19.txt", "20:30:00 @", "20:30 @", "txt:13: expected"),
}


@pytest.mark.parametrize(("rel", "old", "new", "says"), MISTAKES.values(), ids=MISTAKES.keys())
def test_a_content_mistake_is_one_line_naming_the_file(tmp_path, rel, old, new, says):
    content = edited_content(tmp_path, rel, old, new)
    run = subprocess.run(
        [sys.executable, ROOT / "tools/make_example.py", "--content", content, "--out", tmp_path],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and re.search(says, run.stderr), run.stderr
    assert str(content) in run.stderr and not (tmp_path / "expected.json").exists()


def test_regenerating_leaves_unchanged_files_alone(tmp_path):
    """pln run notices a changed mtime: an unchanged example must not look changed."""
    first = {p: p.stat().st_mtime_ns for p in generator().write(tmp_path)}
    stale = tmp_path / "expected.json"
    stale.write_text("{}", encoding="utf-8")
    second = generator().write(tmp_path)
    assert second == list(first)
    assert [p for p in second if p.stat().st_mtime_ns != first[p]] == [stale]
    assert stale.read_bytes() == (DATA / "expected.json").read_bytes()
