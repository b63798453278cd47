"""A store left running for a year: the stream still commits, renders its feeds and serves its
pages."""

from __future__ import annotations

import logging
import time

import feedparser
import pytest
from big_store import fill_store
from conftest_kafka import stream_workspace
from helpers import article

from pln.pipelines.stream_writer import StreamWriter
from pln.record import Decision

pytestmark = pytest.mark.slow

A_YEAR = 1_000_000  # items a PLN of 500 blogs and a few hashtags may gather in a year
POLLS = 12


def poll(n: int) -> tuple[list, list]:
    """100 new posts, kept for the topic, as one stream poll writes them."""
    posts = [article(f"p{n}-{k}", title=f"Poll {n}, post {k}", text="spaced") for k in range(100)]
    return posts, [Decision(p.id, "spaced", 0.9, True, "matched") for p in posts]


def test_a_stream_a_year_old_commits_while_it_renders_its_feeds(tmp_path, caplog):
    """Under a fixed 128 MB DuckDB cap the feed query ran out of memory at 1M items (the feeds
    went stale with one warning); under 256 MB, polls committed beside a feed render did (the
    stream died). The cap grows with the store."""
    config, db, _ = stream_workspace(tmp_path)
    fill_store(db, A_YEAR, "spaced")
    writer = StreamWriter(config, "year")
    store = writer.open()
    with caplog.at_level(logging.WARNING):
        for n in range(POLLS):  # as the loader runs: a render on its thread, commits meanwhile
            writer.feeds_stale, writer.next_feeds = True, 0.0
            writer.refresh()
            store.write(*poll(n), [])
        writer.close()
        writer.feeds_stale = writer.snapshot_stale = True
        before = time.monotonic()
        writer.refresh(force=True)
        after = time.monotonic()
        # A big store's snapshot is copied at most 20 MB/s on average, not every 2 s. Bounds
        # from both ends of the refresh, which may take seconds on a loaded machine.
        least = min(db.stat().st_size / 20e6, 45)
        assert before + least <= writer.next_snapshot <= after + 45
        assert db.stat().st_size > 100e6  # so that is more than the 2 s of a small store
        page, total = writer.open().curated_page("spaced", limit=50, offset=100)
        writer.close()
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    feed = feedparser.parse(config.outputs.feeds_dir / "spaced.rss.xml")
    assert len(feed.entries) == 50
    assert {e.title.split(",")[0] for e in feed.entries} <= {f"Poll {n}" for n in range(POLLS)}
    assert total == A_YEAR // 5 + 100 * POLLS and len(page) == 50
