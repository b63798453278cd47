"""`pln serve` on what a second QA pass found: a base_url at the site root or with a
percent-encoded path, search wording, worker and thread counts, pages before the first run,
and the favicon. Real server on 127.0.0.1, real DuckDB."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from feedsite import FEEDBACK_TOPIC, NOW, POSTS, SITE, feed_config, free_port
from test_serve import LATER, fetch_when_up, get, start_pln_serve

from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.feeds import render_feeds
from pln.sinks.store import Store

SPACED = {"id": "spaced", "title": "Spaced practice", "phrases": ["spaced practice"]}


def site_at(tmp_path, base_url: str, *, store: bool = True):
    """The feedsite's topics published at `base_url`; with `store`, POSTS kept and rendered."""
    config = feed_config(tmp_path, [SPACED, FEEDBACK_TOPIC], base_url)
    if store:
        decisions = [Decision(p.id, "spaced", s, True, "matched it") for p, s in POSTS]
        with Store(config.outputs.duckdb) as db:
            db.write([p for p, _ in POSTS], decisions, [])
            render_feeds(db, config, now=NOW)
    return config


def fetch(port: int, path: str, method: str = "GET"):
    """(status, lower-cased headers, body) of `path` as sent, without following redirects."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def fetch_raw(port: int, path: bytes) -> bytes:
    """The status line of a GET of `path` sent as raw bytes (e.g. UTF-8, as curl sends)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return sock.makefile("rb").readline()


# -- 1. base_url at the site root ---------------------------------------------------------


@pytest.mark.parametrize("path", ["", "/"])
def test_a_base_url_at_the_site_root_serves_the_index_at_slash(tmp_path, path):
    port = free_port()
    config = site_at(tmp_path, f"http://127.0.0.1:{port}{path}")
    with FeedServer(config, "127.0.0.1", port) as server:
        assert server.url == f"http://127.0.0.1:{port}/"
        status, headers, body = fetch(port, "/")
        assert status == 200, headers.get("location")
        assert headers["content-type"].startswith("text/html") and SITE.encode() in body
        assert fetch(port, "/spaced.rss.xml")[0] == 200
        assert fetch(port, "/index.html")[2] == body
        assert fetch(port, "/topic/spaced")[0] == 200


@pytest.mark.parametrize("path", ["/feeds", "/feeds/"])
def test_a_base_url_with_a_path_redirects_the_root_there(tmp_path, path):
    port = free_port()
    config = site_at(tmp_path, f"http://127.0.0.1:{port}{path}")
    with FeedServer(config, "127.0.0.1", port):
        for asked in ("/", "/feeds"):
            status, headers, _ = fetch(port, asked)
            assert (status, headers["location"]) == (302, "/feeds/"), asked
        assert fetch(port, "/feeds/")[0] == fetch(port, "/feeds/spaced.rss.xml")[0] == 200


# -- 6. a percent-encoded path in base_url ------------------------------------------------


def test_a_percent_encoded_base_url_path_is_matched_decoded_and_sent_encoded(tmp_path):
    port = free_port()
    config = site_at(tmp_path, f"http://127.0.0.1:{port}/f%C3%BCr")
    with FeedServer(config, "127.0.0.1", port) as server:
        assert server.url == f"http://127.0.0.1:{port}/f%C3%BCr/"
        for asked in ("/", "/f%C3%BCr"):
            status, headers, _ = fetch(port, asked)
            assert (status, headers["location"]) == (302, "/f%C3%BCr/"), asked
        assert fetch(port, "/f%C3%BCr/")[0] == 200
        assert fetch(port, "/f%c3%bcr/spaced.rss.xml")[0] == 200  # either case of hex
        assert fetch(port, "/f%C3%BCr/topic/spaced")[0] == 200
        assert fetch(port, "/fur/spaced.rss.xml")[0] == 404
        robots = fetch(port, "/robots.txt")[2].decode()
        assert "Disallow: /f%C3%BCr/_feedback" in robots.splitlines()
        link = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", LATER)
        status, headers, _ = fetch(port, link.removeprefix(f"http://127.0.0.1:{port}"))
        assert status == 200 and "Path=/f%C3%BCr/_feedback;" in headers["set-cookie"]


def test_pln_serve_under_granian_serves_a_percent_encoded_base_url_path(tmp_path):
    port = free_port()
    config = site_at(tmp_path, f"http://127.0.0.1:{port}/f%C3%BCr")
    proc = start_pln_serve(config, "-q")
    try:
        fetch_when_up(f"http://127.0.0.1:{port}/f%C3%BCr/spaced.rss.xml")
        assert fetch(port, "/")[1]["location"] == "/f%C3%BCr/"
        assert fetch(port, "/f%C3%BCr/")[0] == 200
        # granian takes a path sent as raw UTF-8 (as curl sends it); waitress answers 400
        assert fetch_raw(port, "/für/spaced.json".encode()).startswith(b"HTTP/1.1 200 ")
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


# -- 9. search wording ------------------------------------------------------------------------


def test_the_search_page_says_one_item_mentions_and_more_items_mention(tmp_path):
    port = free_port()
    config = site_at(tmp_path, f"http://127.0.0.1:{port}/feeds")
    with FeedServer(config, "127.0.0.1", port) as server:
        one = get(server, "search?q=part+5")[2].decode()
        assert "1 kept item mentions “part 5”." in one
        assert "6 kept items mention “jane”." in get(server, "search?q=jane")[2].decode()
        assert "0 kept items mention “zebra”." in get(server, "search?q=zebra")[2].decode()


# -- 12. --workers and --threads --------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("--workers", "0"), ("--workers", "-3"), ("--workers", "two"), ("--threads", "0")],
)
def test_serve_refuses_fewer_than_one_worker_or_thread_in_one_line(tmp_path, option, value):
    missing = tmp_path / "none.yaml"  # the arguments are checked first: nothing is served
    result = subprocess.run(
        [sys.executable, "-m", "pln.cli", "serve", "-c", str(missing), option, value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [  # one line, no usage lines before it
        f"pln serve: error: argument {option}: must be at least 1, got '{value}'"
    ]


# -- 13. pages before the first run -----------------------------------------------------------


def test_database_pages_before_the_first_run_say_nothing_is_curated_yet(tmp_path):
    port = free_port()
    config = site_at(tmp_path, f"http://127.0.0.1:{port}/feeds", store=False)
    with FeedServer(config, "127.0.0.1", port) as server:
        for path in ("", "topic/spaced", "teach/spaced", "search?q=practice", "people"):
            status, headers, body = get(server, path)
            assert (status, "retry-after" in headers) == (200, False), path
            assert "Nothing has been curated yet: run pln run, then reload." in body.decode()
        assert get(server, "topic/nope")[0] == 404
    assert not config.outputs.duckdb.exists()  # the server made none


def test_a_database_that_cannot_be_read_is_still_a_503(tmp_path):
    port = free_port()
    config = site_at(tmp_path, f"http://127.0.0.1:{port}/feeds", store=False)
    config.outputs.duckdb.parent.mkdir(parents=True)
    config.outputs.duckdb.write_bytes(b"not a database" * 100)
    with FeedServer(config, "127.0.0.1", port) as server:
        status, headers, body = get(server, "people")
    assert (status, headers["retry-after"]) == (503, "5")
    assert "The database cannot be read right now" in body.decode()


# -- 17. the favicon --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/feeds", ""])
def test_the_favicon_browsers_ask_for_is_served(tmp_path, path):
    port = free_port()
    config = site_at(tmp_path, f"http://127.0.0.1:{port}{path}")
    with FeedServer(config, "127.0.0.1", port):
        status, headers, body = fetch(port, "/favicon.ico")
        assert (status, headers["content-type"]) == (200, "image/svg+xml")
        assert ET.fromstring(body).tag == "{http://www.w3.org/2000/svg}svg"
        assert fetch(port, "/favicon.ico", "HEAD")[::2] == (200, b"")
        assert fetch(port, "/favicon.ico", "POST")[0] == 405
