"""A real command-line feed reader (Debian's newsboat) subscribes to served feeds and reads
every item. Skipped when newsboat is not installed (`apt-get install newsboat`; CI installs it)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

import feedparser
import pytest
from feedsite import NOW, POSTS, THREAD, add_post_and_render, build_site, free_port

from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.feeds import feed_filename, render_feeds
from pln.sinks.store import Store

NEWSBOAT = shutil.which("newsboat")
pytestmark = pytest.mark.skipif(NEWSBOAT is None, reason="newsboat is not installed")


def newsboat(tmp_path, *command: str) -> str:
    """Run newsboat non-interactively on the temp subscriptions, cache and config."""
    result = subprocess.run(
        [
            NEWSBOAT,
            "-u",
            str(tmp_path / "urls"),
            "-c",
            str(tmp_path / "cache.db"),
            "-C",
            str(tmp_path / "config"),
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def titles_in_cache(tmp_path, url: str) -> set[str]:
    with sqlite3.connect(tmp_path / "cache.db") as cache:
        rows = cache.execute("SELECT title FROM rss_item WHERE feedurl = ?", [url]).fetchall()
    return {title for (title,) in rows}


def test_newsboat_reads_every_item_then_polls_with_conditional_get(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    with FeedServer(config, "127.0.0.1", port) as server:
        rss, atom = server.url + "spaced.rss.xml", server.url + "feedback.atom.xml"
        (tmp_path / "urls").write_text(f"{rss}\n{atom}\n")
        (tmp_path / "config").write_text("reload-threads 2\n")
        served = {url: {e.title for e in feedparser.parse(url).entries} for url in (rss, atom)}
        assert len(served[rss]) == len(POSTS) + 2  # the posts and two weekly digests
        assert served[atom] == {THREAD.title}

        # newsboat 2.21 stores a feed's validators from its second fetch on.
        newsboat(tmp_path, "-x", "reload")
        newsboat(tmp_path, "-x", "reload")
        assert {url: titles_in_cache(tmp_path, url) for url in (rss, atom)} == served
        assert newsboat(tmp_path, "-x", "print-unread").strip() == "9 unread articles"
        with sqlite3.connect(tmp_path / "cache.db") as cache:
            etags = [etag for (etag,) in cache.execute("SELECT etag FROM rss_feed")]
        assert len(etags) == 2 and all(e.endswith('-gz"') for e in etags)  # it took gzip

        before = server.statuses[304]
        newsboat(tmp_path, "-x", "reload")  # nothing changed: both feeds answer 304
        assert server.statuses[304] == before + 2

        newest = add_post_and_render(config, 9)  # a new run curated one more item
        newsboat(tmp_path, "-x", "reload")
        assert newest.title in titles_in_cache(tmp_path, rss)
        assert newsboat(tmp_path, "-x", "print-unread").strip() == "10 unread articles"


def test_newsboat_subscribed_to_every_topic_feed_shows_every_entry_of_every_topic(tmp_path):
    """An item kept by two topics is an entry in both feeds: newsboat, which de-duplicates by
    guid across feeds, must show it twice, each copy with its own topic's feedback links."""
    port = free_port()
    config = build_site(tmp_path, port)
    shared = POSTS[5][0]  # kept by "spaced"; "feedback" keeps it too
    with Store(config.outputs.duckdb) as store:
        store.write([], [Decision(shared.id, "feedback", 0.7, True, "matched 'feedback'")], [])
        render_feeds(store, config, now=NOW)
    with FeedServer(config, "127.0.0.1", port) as server:
        urls = [
            server.url + feed_filename(topic.id, kind)
            for topic in config.topics
            for kind in ("rss", "atom")
        ]
        (tmp_path / "urls").write_text("\n".join(urls) + "\n")
        (tmp_path / "config").write_text("reload-threads 2\n")
        served = {url: len(feedparser.parse(url).entries) for url in urls}
        newsboat(tmp_path, "-x", "reload")
        with sqlite3.connect(tmp_path / "cache.db") as cache:
            shown = dict(cache.execute("SELECT feedurl, count(*) FROM rss_item GROUP BY 1"))
            copies = cache.execute(
                "SELECT feedurl, content FROM rss_item WHERE title = ?", [shared.title]
            ).fetchall()
    assert shown == served and sum(shown.values()) == 2 * (len(POSTS) + 2 + 2)
    assert len(copies) == 4  # RSS and Atom of both topics
    for url, content in copies:
        topic = url.rsplit("/", 1)[1].split(".")[0]
        assert f"topic={topic}&amp;" in content or f"topic={topic}&" in content
