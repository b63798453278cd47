"""A real command-line feed reader (Debian's newsboat) subscribes to served feeds and reads
every item. Skipped when newsboat is not installed (`apt-get install newsboat`; CI installs it)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess

import feedparser
import pytest
from feedsite import POSTS, THREAD, add_post_and_render, build_site, free_port

from pln.serve import FeedServer

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
