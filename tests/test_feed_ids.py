"""A feed's items keep their ids when the source reads the same feed from elsewhere: a feed
that moved and whose url the user updated (as `pln run` says to), a file swapped for its URL,
a `pln run --full`. Entries whose guid is not globally unique ("413") are named by where the
feed was first read; a different feed under the source's name is named by its own place."""

from __future__ import annotations

import shutil
from pathlib import Path

import feedparser
import pytest
from helpers import db_rows

from pln.cli import main

FEED_FILE = Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml"
FEED = FEED_FILE.read_bytes()  # three entries, one with guid "413" (not a URL)
OTHER_BLOG = FEED.replace(b"https://learningloop.example/</link>", b"https://other.example/</link>")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def configure(tmp_path: Path, where: str) -> Path:
    """pln.yaml with one rss source `blog` at `where` ("url: …" or "path: …")."""
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n  - {{name: blog, type: rss, {where}}}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return path


def run(config: Path, capsys, *options: str) -> str:
    capsys.readouterr()
    assert main(["run", *options, "-c", str(config)]) == 0
    return capsys.readouterr().out


def stored(tmp_path: Path) -> dict[str, str]:
    """title -> id of every stored item."""
    return dict(db_rows(tmp_path / "out/pln.duckdb", "SELECT title, id FROM items"))


def guids(tmp_path: Path) -> set[str]:
    """The entry ids the topic's feed gives readers."""
    feed = feedparser.parse((tmp_path / "out/feeds/practice.rss.xml").read_bytes())
    return {entry.id for entry in feed.entries}


def test_a_moved_feed_whose_url_was_updated_keeps_its_item_ids(server, tmp_path, capsys):
    server.route("/feed.xml", body=FEED, repeat=1)
    server.route("/feed.xml", status=301, headers={"Location": "/blog/feed.xml"})
    server.route("/blog/feed.xml", body=FEED)
    config = configure(tmp_path, f'url: "{server.url("/feed.xml")}"')
    run(config, capsys)
    ids, shown = stored(tmp_path), guids(tmp_path)
    assert len(ids) == 3 and shown

    assert "moved to" in run(config, capsys)
    configure(tmp_path, f'url: "{server.url("/blog/feed.xml")}"')  # as the summary said
    assert "3 read: 0 new, 0 updated, 3 unchanged" in run(config, capsys)
    assert stored(tmp_path) == ids and guids(tmp_path) == shown
    assert "3 read: 0 new" in run(config, capsys, "--full")
    assert stored(tmp_path) == ids


def test_a_file_swapped_for_its_url_keeps_its_item_ids(server, tmp_path, capsys):
    shutil.copy(FEED_FILE, tmp_path / "blog.xml")
    config = configure(tmp_path, "path: blog.xml")
    run(config, capsys)
    ids = stored(tmp_path)
    server.route("/feed.xml", body=FEED)
    configure(tmp_path, f'url: "{server.url("/feed.xml")}"')
    assert "3 read: 0 new" in run(config, capsys)
    assert stored(tmp_path) == ids


def test_another_feed_under_the_same_name_gets_ids_of_its_own(server, tmp_path, capsys):
    """The same guid "413" in another blog's feed is another post: it must not overwrite the
    stored one."""
    server.route("/feed.xml", body=FEED)
    server.route("/other.xml", body=OTHER_BLOG)
    config = configure(tmp_path, f'url: "{server.url("/feed.xml")}"')
    run(config, capsys)
    first = dict(db_rows(tmp_path / "out/pln.duckdb", "SELECT native_id, id FROM items"))
    configure(tmp_path, f'url: "{server.url("/other.xml")}"')
    run(config, capsys)
    rows = dict(db_rows(tmp_path / "out/pln.duckdb", "SELECT native_id, id FROM items"))
    assert f"{server.url('/feed.xml')}#413" in first
    assert {f"{server.url('/feed.xml')}#413", f"{server.url('/other.xml')}#413"} <= set(rows)
