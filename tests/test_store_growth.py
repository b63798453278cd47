"""A store left running for a year: the stream still renders its feeds and serves its pages.

The store is filled with SQL (a million items in seconds, where the write path would take a
minute): items with ids like pln's (20 hex digits: too long for DuckDB to inline, as in a real
store), 20% of them kept for the topic, each its own story.
"""

from __future__ import annotations

import logging
from pathlib import Path

import feedparser
import pytest
from conftest_kafka import stream_workspace

from pln.pipelines.stream_writer import StreamWriter
from pln.sinks.store import Store

pytestmark = pytest.mark.slow

A_YEAR = 1_000_000  # items a PLN of 500 blogs and a few hashtags may gather in a year


def fill(db: Path, items: int, topic: str) -> None:
    with Store(db) as store:
        store.con.execute(
            """INSERT INTO items BY NAME
               SELECT left(md5(range::VARCHAR), 20) AS id, 'blog' || (range % 500) AS source,
                      'rss' AS platform, 'article' AS kind, 'post' || range AS native_id,
                      'Author ' || (range % 500) AS author, 'Spaced practice, part ' || range AS title,
                      repeat('spaced practice and retrieval ', 10) AS text,
                      'https://blog.example/' || range AS url,
                      TIMESTAMPTZ '2026-01-01' + INTERVAL (range) SECOND AS published_at,
                      TIMESTAMPTZ '2026-12-01' AS first_seen_at,
                      TIMESTAMPTZ '2026-12-01' AS last_seen_at,
                      TIMESTAMPTZ '2026-12-01' AS updated_at,
                      ['blog' || (range % 500)] AS sources
               FROM range($n)""",
            {"n": items},
        )
        store.con.execute(
            """INSERT INTO decisions BY NAME
               SELECT left(md5(range::VARCHAR), 20) AS item_id, $topic AS topic, 0.8 AS score, true AS kept,
                      'matched' AS reason, TIMESTAMPTZ '2026-12-01' AS decided_at
               FROM range(0, $n, 5)""",
            {"n": items, "topic": topic},
        )
        store.con.execute(
            """INSERT INTO story_members
               SELECT left(md5(range::VARCHAR), 20), left(md5(range::VARCHAR), 20) FROM range($n)""",
            {"n": items},
        )


def test_the_stream_renders_the_feeds_of_a_store_a_year_old(tmp_path, caplog):
    """Under a fixed 128 MB DuckDB limit the feed query ran out of memory at 1M items: the
    stream warned once and its feeds went stale for good. The limit grows with the store."""
    config, db, _ = stream_workspace(tmp_path)
    fill(db, A_YEAR, "spaced")
    writer = StreamWriter(config, "year")
    writer.feeds_stale = writer.snapshot_stale = True
    with caplog.at_level(logging.WARNING):
        writer.refresh(force=True)
        page, total = writer.open().curated_page("spaced", limit=50, offset=100)
    writer.close()
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    feed = feedparser.parse(config.outputs.feeds_dir / "spaced.rss.xml")
    assert len(feed.entries) == 50
    assert feed.entries[0].title == f"Spaced practice, part {A_YEAR - 5}"  # the newest kept
    assert total == A_YEAR // 5 and len(page) == 50
    assert page[0].item.title == f"Spaced practice, part {A_YEAR - 5 * 101}"
