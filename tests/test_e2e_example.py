"""End to end through the CLI on the bundled example: feeds, SQL, reruns, a broken source."""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest

from pln.record import make_item_id

REPO = Path(__file__).resolve().parents[1]
EXPECTED = json.loads((REPO / "examples" / "data" / "expected.json").read_text())

pytestmark = pytest.mark.slow


def pln(*args: str, cwd: Path, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pln.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        **popen,
    )


def sql(query: str, cwd: Path) -> list[dict]:
    done = pln("sql", "-c", "pln.yaml", "--format", "json", query, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ref_id(ref: dict) -> str | None:
    if "tweet_id" in ref:
        return make_item_id("twitter", ref["tweet_id"])
    if "question" in ref:
        return make_item_id("chat", f"lrnchat:2026-11-19:Q{ref['question']}")
    return None


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict:
    """The example copied to a temp folder and run twice."""
    work = tmp_path_factory.mktemp("example")
    shutil.copytree(
        REPO / "examples", work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("out")
    )
    first = pln("run", "-c", "pln.yaml", cwd=work)
    counts_after_first = sql(
        "SELECT (SELECT count(*) FROM items) items, (SELECT count(*) FROM decisions) decisions, "
        "(SELECT count(*) FROM dead_letters) dead",
        work,
    )[0]
    stories_after_first = sql("SELECT item_id, story_id FROM story_members ORDER BY 1", work)
    second = pln("run", "-c", "pln.yaml", "--json", cwd=work)
    return {
        "dir": work,
        "first": first,
        "second": second,
        "counts": counts_after_first,
        "stories": stories_after_first,
    }


def feed(example, topic: str, kind: str = "rss") -> feedparser.FeedParserDict:
    path = example["dir"] / "out" / "feeds" / f"{topic}.{kind}.xml"
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_run_succeeds_and_summarizes(example):
    first = example["first"]
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert f"{EXPECTED['feed_entries'] + EXPECTED['x']['posts'] + 7} read" in out
    for topic, n in {
        "retrieval-practice": 39,
        "microlearning": 29,
        "onboarding": 25,
        "learning-analytics": 26,
    }.items():
        assert f"{topic} {n}" in out
    assert "dead      1 record could not be read (x-timeline-nov 1)" in out
    assert "out/pln.duckdb" in out and "out/feeds" in out


def test_a_broken_source_is_one_line_and_the_others_still_run(example):
    first = example["first"]
    line = "✗ broken-blog: not an RSS/Atom feed: data/feeds/broken.xml (it is an HTML page)"
    assert line in first.stdout
    assert "Traceback" not in first.stderr + first.stdout
    assert sql("SELECT count(DISTINCT source) n FROM items", example["dir"])[0]["n"] == 9


@pytest.fixture(scope="module")
def story_of(example) -> dict[str, set[str]]:
    """Item id and URL -> the ids of every item in its story."""
    rows = sql(
        "SELECT m.story_id, i.id, i.url FROM story_members m JOIN items i ON i.id = m.item_id",
        example["dir"],
    )
    members: dict[str, set[str]] = {}
    for row in rows:
        members.setdefault(row["story_id"], set()).add(row["id"])
    return {key: members[r["story_id"]] for r in rows for key in (r["id"], r["url"])}


@pytest.mark.parametrize("topic", list(EXPECTED["topics"]))
def test_feeds_hold_what_the_topic_keeps_and_not_the_near_misses(example, story_of, topic):
    rss, atom = feed(example, topic, "rss"), feed(example, topic, "atom")
    for parsed in (rss, atom):
        links = {e.get("link") for e in parsed.entries}
        ids = {e.id.rpartition(":")[2] for e in parsed.entries}  # ids name topic and item
        for ref in EXPECTED["topics"][topic]["keep"]:
            # A kept item is in the feed, or the story it belongs to is (shown once).
            assert story_of[ref_id(ref) or ref["url"]] & ids, ref
        for ref in EXPECTED["topics"][topic]["near_misses"]:
            assert (ref_id(ref) not in ids) if ref_id(ref) else (ref["url"] not in links), ref
    assert rss.feed.title and any(link.rel == "self" for link in rss.feed.links)
    assert all("Why:" in e.summary for e in rss.entries)


def test_feed_html_is_sanitized(example):
    for path in (example["dir"] / "out" / "feeds").glob("*.xml"):
        text = path.read_text()
        assert "<script" not in text.lower() and "onerror" not in text.lower(), path.name


def test_opml_lists_every_topic_feed(example):
    opml = (example["dir"] / "out" / "feeds" / "index.opml").read_text()
    for topic in EXPECTED["topics"]:
        assert f"{topic}.rss.xml" in opml


def test_sql_returns_the_curated_rows(example):
    rows = sql(
        "SELECT i.native_id, d.score, d.reason FROM decisions d JOIN items i ON i.id = d.item_id "
        "WHERE d.topic = 'microlearning' AND i.native_id = '2103897792836584721'",
        example["dir"],
    )
    assert rows and rows[0]["reason"].startswith("blocked author @earnfast_now")
    kept = sql(
        "SELECT topic, count(*) n FROM decisions WHERE kept GROUP BY topic ORDER BY topic",
        example["dir"],
    )
    assert {r["topic"]: r["n"] for r in kept} == {
        "learning-analytics": 26,
        "microlearning": 29,
        "onboarding": 25,
        "retrieval-practice": 39,
    }


def test_second_run_adds_nothing(example):
    second = example["second"]
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["items"]["new"] == 0
    assert summary["sources"]["not_modified"] == 9  # every readable source was unchanged
    after = sql(
        "SELECT (SELECT count(*) FROM items) items, (SELECT count(*) FROM decisions) decisions, "
        "(SELECT count(*) FROM dead_letters) dead",
        example["dir"],
    )[0]
    assert after == example["counts"]
    stories = sql("SELECT item_id, story_id FROM story_members ORDER BY 1", example["dir"])
    assert stories == example["stories"]


def test_a_blog_post_shared_on_x_is_one_feed_item_naming_who_shared_it(example):
    rss = feed(example, "microlearning")
    url = "https://smallbites.example.com/2026/10/microlearning-is-a-format-not-a-strategy/"
    [post] = [e for e in rss.entries if e.link == url]
    assert "Shared by 2 people in your PLN: @tomasreyes_ld, @sam_whitfield" in post.summary
    assert not [e for e in rss.entries if "Microlearning is a format, not a strategy." in e.title]


def test_sql_is_read_only(example):
    done = pln("sql", "-c", "pln.yaml", "DELETE FROM items", cwd=example["dir"])
    assert done.returncode != 0
    assert "read-only" in done.stderr.lower() and "Traceback" not in done.stderr


def test_a_full_disk_is_one_line_and_the_next_run_stores_everything(tmp_path):
    """A file size limit stands in for a full disk (the same failed write, no root needed)."""
    shutil.copytree(
        REPO / "examples", tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("out")
    )

    def files_of_at_most_300_kb():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    full = pln("run", "-c", "pln.yaml", cwd=tmp_path, preexec_fn=files_of_at_most_300_kb)
    assert full.returncode == 1
    assert "Traceback" not in full.stderr
    error = full.stderr.splitlines()[-1]
    assert error.startswith("pln: error: database ") and "cannot write: " in error
    assert "File too large" in error

    again = pln("run", "-c", "pln.yaml", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    everything = EXPECTED["feed_entries"] + EXPECTED["x"]["posts"] + 7  # as in the first test
    summary = json.loads(again.stdout)
    assert summary["items"]["new"] == everything  # the failed run stored no source as read
    assert sql("SELECT count(*) n FROM items", tmp_path) == [{"n": everything}]
