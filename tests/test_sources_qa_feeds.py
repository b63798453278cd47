"""Feeds over HTTP and from files, QA findings: credentials in a feed URL, a 304 nobody asked
for, compressions the client cannot undo, and paths that are not regular files (real server on
127.0.0.1, real files, real DuckDB)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from helpers import db_rows, make_source
from httpserver import RecordedServer

from pln.config import load_config
from pln.errors import SourceError
from pln.pipelines.batch import run_batch
from pln.sources.http import HttpFetcher

FEEDS = Path(__file__).parent / "fixtures" / "feeds"

# Relative guids (isPermaLink by default), a fragment-only one, a query-only link, an entry with
# neither (its HTML is read against the feed URL), and relative URLs in the HTML.
CREDENTIAL_FEED = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Private blog</title>
<item><title>Spaced practice</title><guid>a1</guid>
  <description>&lt;p&gt;See &lt;a href="notes.html"&gt;notes&lt;/a&gt;&lt;/p&gt;</description></item>
<item><title>Retrieval practice</title><guid>#a2</guid><description>Two</description></item>
<item><title>Interleaving</title><link>?p=3</link><description>Three</description></item>
<item><title>Worked examples</title>
  <description>&lt;img src="img/w.png"&gt; &lt;a href=""&gt;this page&lt;/a&gt;</description></item>
</channel></rss>"""
# The same, ill-formed (an undefined entity): feedparser reads it, not the fast path.
ILL_FORMED = CREDENTIAL_FEED.replace(b"<title>Private blog", b"<title>Private&nbsp;blog")
SECRETS = ("bob", "hunter2", "SECRET3")


def with_credentials(url: str) -> str:
    return url.replace("http://", "http://bob:hunter2@", 1)


def feed_source(tmp_path: Path, **options):
    options.setdefault("timeout", 2)
    return make_source("rss", tmp_path, "blog", **options)


def every_field(result) -> str:
    return repr(result.items) + repr(result.dead_letters)


def ids_by_title(result) -> dict[str, str]:
    return {item.title: item.native_id for item in result.items}


# -- defect 4: user:password (and key=...) in a feed URL ---------------------------------------


@pytest.mark.parametrize("body", [CREDENTIAL_FEED, ILL_FORMED], ids=["fast-path", "feedparser"])
def test_credentials_in_the_feed_url_reach_no_item(server, tmp_path, body):
    server.route("/trunc", body=body, headers={"Content-Type": "application/rss+xml"})
    url = with_credentials(server.url("/trunc?key=SECRET3"))
    result = feed_source(tmp_path, url=url).fetch(None)
    assert len(result.items) == 4
    assert not any(secret in every_field(result) for secret in SECRETS)
    site = server.url("/")
    ids = ids_by_title(result)
    assert ids.pop("Worked examples").startswith(f"{site}trunc?key=***#sha1:")
    assert ids == {
        "Spaced practice": f"{site}a1",
        "Retrieval practice": f"{site}trunc?key=***#a2",
        "Interleaving": f"{site}trunc?p=3",
    }
    spaced = next(i for i in result.items if i.title == "Spaced practice")
    assert spaced.links == (f"{site}notes.html",) and f'href="{site}notes.html"' in spaced.html


def test_ids_of_a_feed_url_without_credentials_stay_as_they_were(server, tmp_path):
    server.route("/trunc", body=CREDENTIAL_FEED)
    url = server.url("/trunc?format=rss")
    result = feed_source(tmp_path, url=url).fetch(None)
    site = server.url("/")
    ids = ids_by_title(result)
    assert (ids["Spaced practice"], ids["Retrieval practice"], ids["Interleaving"]) == (
        f"{site}a1",
        f"{site}trunc?format=rss#a2",
        f"{site}trunc?p=3",
    )


def test_credentials_never_reach_the_store_or_the_published_feeds(server, tmp_path):
    server.route("/trunc", body=CREDENTIAL_FEED, headers={"Content-Type": "application/rss+xml"})
    url = with_credentials(server.url("/trunc?key=SECRET3"))
    config_path = tmp_path / "pln.yaml"
    config_path.write_text(
        f'sources:\n  - {{name: blog, type: rss, url: "{url}"}}\n'
        "topics:\n  - {id: practice, phrases: [practice, examples, interleaving]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    config = load_config(config_path)
    assert run_batch(config).stats["sources"]["ok"] == 1
    db = config.outputs.duckdb
    stored = db_rows(db, "SELECT CAST(i AS VARCHAR) FROM items i")
    stored += db_rows(db, "SELECT CAST(d AS VARCHAR) FROM dead_letters d")
    published = [p.read_text() for p in config.outputs.feeds_dir.rglob("*") if p.is_file()]
    assert len(stored) == 4 and published
    assert f"{server.url('/')}a1" in repr(stored)
    for secret in SECRETS:
        assert secret not in repr(stored) and not any(secret in text for text in published)


# -- defect 8: a 304 to a request that asked nothing -------------------------------------------


def test_a_304_without_validators_is_an_error_and_with_them_not_modified(server):
    server.route("/n304", status=304)
    fetcher = HttpFetcher("n304", timeout=2)
    with pytest.raises(SourceError) as err:
        fetcher.get(server.url("/n304"))
    assert err.value.message == (
        f"HTTP 304 Not Modified from {server.url('/n304')} to a request without "
        "If-None-Match or If-Modified-Since"
    )
    assert fetcher.get(server.url("/n304"), {"If-None-Match": '"v1"'}).not_modified
    assert fetcher.get(server.url("/n304"), {"if-modified-since": "x"}).not_modified


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "pln.yaml"
    path.write_text(
        f'sources:\n  - {{name: n304, type: rss, url: "{url}"}}\n'
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return path


def test_a_feed_that_always_answers_304_fails_and_shows_as_failing(server, tmp_path):
    server.route("/n304.xml", status=304)
    config = load_config(write_config(tmp_path, server.url("/n304.xml")))
    stats = run_batch(config).stats["sources"]
    assert stats["not_modified"] == 0 and "HTTP 304 Not Modified" in stats["errors"]["n304"]
    [(ok, not_modified, error)] = db_rows(
        config.outputs.duckdb, "SELECT ok, not_modified, error FROM sources"
    )
    assert not ok and not not_modified and "without If-None-Match" in error


def test_a_304_after_a_200_without_validators_fails_through_the_probe(tmp_path):
    with RecordedServer() as server:  # 200 without ETag or Last-Modified, then 304 for ever
        server.route("/n304.xml", body=(FEEDS / "rss2.xml").read_bytes(), repeat=1)
        server.route("/n304.xml", status=304)
        config = load_config(write_config(tmp_path, server.url("/n304.xml")))
        assert run_batch(config).stats["sources"]["ok"] == 1
        stats = run_batch(config).stats["sources"]
    assert stats["not_modified"] == 0 and "HTTP 304 Not Modified" in stats["errors"]["n304"]


# -- defect 10: Content-Encoding the client cannot undo ----------------------------------------


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br", "gzip, gzip"])
def test_an_unsupported_content_encoding_is_named(server, tmp_path, encoding):
    server.route("/feed", headers={"Content-Encoding": encoding}, body=b"\x8b\x02\x80<rss")
    with pytest.raises(SourceError) as err:
        feed_source(tmp_path, url=server.url("/feed")).fetch(None)
    assert err.value.message == (
        f"unsupported Content-Encoding: {encoding} from {server.url('/feed')} "
        "(asked for gzip, deflate)"
    )
    assert server.requests_log[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("encoding", ["identity", "utf-8", "gzip, identity"])
def test_identity_or_a_label_that_is_no_compression_keeps_the_body(server, tmp_path, encoding):
    body = (FEEDS / "rss2.xml").read_bytes()
    if encoding.startswith("gzip"):
        import gzip

        body = gzip.compress(body)
    server.route("/feed", headers={"Content-Encoding": encoding}, body=body)
    assert len(feed_source(tmp_path, url=server.url("/feed")).fetch(None).items) == 3


# -- defect 20: paths that are no regular file, and the cap on what is read --------------------


@pytest.mark.parametrize("type_name", ["rss", "irc", "whatsapp"])
def test_a_device_is_refused_up_front(tmp_path, type_name):
    # /dev/null, not /dev/zero: refused the same way, and harmless to a build without the check
    source = make_source(type_name, tmp_path, "dev", path="/dev/null")
    with pytest.raises(SourceError) as err:
        source.fetch(None)
    assert err.value.message == "/dev/null is a character device, not a regular file"


def fetch_in_thread(source) -> tuple[threading.Thread, list]:
    outcome: list = []

    def fetch() -> None:
        try:
            outcome.append(source.fetch(None))
        except SourceError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    thread.join(5)
    return thread, outcome


@pytest.mark.parametrize("type_name", ["rss", "irc", "zoom_chat"])
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path, type_name):
    fifo = tmp_path / "feed.xml"
    os.mkfifo(fifo)
    thread, outcome = fetch_in_thread(make_source(type_name, tmp_path, "pipe", path="feed.xml"))
    if thread.is_alive():  # blocked in open(): let it go before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("the source waited for a writer on a named pipe")
    [error] = outcome
    assert error.message == "feed.xml is a named pipe, not a regular file"  # as the config names it


def test_a_file_that_says_it_is_empty_is_still_read_only_to_the_cap(tmp_path):
    status = Path("/proc/self/status")  # a regular file whose size says 0
    if not status.is_file() or status.stat().st_size != 0:
        pytest.skip("needs Linux /proc")
    source = make_source("rss", tmp_path, "proc", path=str(status), max_bytes=100)
    with pytest.raises(SourceError) as err:
        source.fetch(None)
    assert err.value.message == "/proc/self/status is larger than 100 bytes"


def test_user_and_password_in_a_feed_url_are_sent_as_basic_auth(server, tmp_path):
    """`https://user:pass@host/feed`, as curl and newsboat read it: Basic auth to that host,
    never in the URL asked for, and not forwarded on a redirect to another host."""
    server.route("/private", body=CREDENTIAL_FEED, headers={"Content-Type": "application/rss+xml"})
    url = server.url("/private").replace("http://", "http://b%40b:hunter%3A2@", 1)
    result = feed_source(tmp_path, url=url).fetch(None)
    assert len(result.items) == 4
    (request,) = server.requests_to("/private")
    assert request.headers["authorization"] == "Basic YkBiOmh1bnRlcjoy"  # "b@b:hunter:2"
    assert "hunter" not in request.path
