"""`pln serve` over real HTTP on 127.0.0.1: conditional GET, gzip, valid feeds, feedback that
only a person can give, request framing, and the pages built from the database."""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html import unescape
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import feedparser
import pytest
import yaml
from feedback_kit import feedback_links, give_feedback
from feedsite import NOW, POSTS, SITE, THREAD, add_post_and_render, build_site, free_port
from helpers import hold_database, stored_labels

from pln.serve import FeedServer, accepts_gzip, etag_values
from pln.sinks.feeds import FeedbackKey
from pln.sinks.feeds_state import render_feeds_if_changed
from pln.sinks.store import Store

LATER = datetime.now(UTC) + timedelta(days=1)  # feedback links made by the tests expire then


@pytest.fixture
def site(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    with FeedServer(config, "127.0.0.1", port) as server:
        yield config, server


def get(server, path, headers=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        conn.request(method, server.prefix + "/" + path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def labels(config):
    return stored_labels(config.outputs.duckdb)


def test_a_feed_is_200_then_304_with_either_validator(site):
    _, server = site
    status, headers, body = get(server, "spaced.rss.xml")
    assert status == 200 and body.startswith(b"<?xml")
    assert headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert int(headers["content-length"]) == len(body)
    etag, modified = headers["etag"], headers["last-modified"]

    status, again, body = get(server, "spaced.rss.xml", {"If-None-Match": etag})
    assert (status, body) == (304, b"") and again["etag"] == etag
    status, _, body = get(server, "spaced.rss.xml", {"If-Modified-Since": modified})
    assert (status, body) == (304, b"")
    # A validator of another version, or a date before the change, gets the feed.
    assert get(server, "spaced.rss.xml", {"If-None-Match": '"0123"'})[0] == 200
    old = "Thu, 01 Jan 2026 00:00:00 GMT"
    assert get(server, "spaced.rss.xml", {"If-Modified-Since": old})[0] == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110).
    both = {"If-None-Match": '"0123"', "If-Modified-Since": modified}
    assert get(server, "spaced.rss.xml", both)[0] == 200


def test_a_new_run_changes_the_etag_and_the_content(site):
    config, server = site
    _, headers, _ = get(server, "spaced.rss.xml")
    newest = add_post_and_render(config, 9)
    status, fresh, body = get(server, "spaced.rss.xml", {"If-None-Match": headers["etag"]})
    assert status == 200 and fresh["etag"] != headers["etag"]
    assert feedparser.parse(body).entries[0].id == f"spaced:{newest.id}"


def test_a_change_within_the_same_second_still_moves_last_modified(site):
    config, server = site
    _, before, _ = get(server, "spaced.rss.xml")
    add_post_and_render(config, 9)  # milliseconds after the first render
    _, after, _ = get(server, "spaced.rss.xml")
    assert parsedate_to_datetime(after["last-modified"]) > parsedate_to_datetime(
        before["last-modified"]
    )
    # A client that only sends If-Modified-Since gets the change.
    assert get(server, "spaced.rss.xml", {"If-Modified-Since": before["last-modified"]})[0] == 200


def test_gzip_is_used_when_the_client_accepts_it(site):
    _, server = site
    _, plain_headers, plain = get(server, "spaced.atom.xml")
    status, headers, body = get(server, "spaced.atom.xml", {"Accept-Encoding": "gzip, br"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(body) == plain and len(body) < len(plain) / 2
    assert headers["etag"] != plain_headers["etag"]  # another representation, another tag
    # Either tag revalidates either representation: the content is the same.
    assert get(server, "spaced.atom.xml", {"If-None-Match": headers["etag"]})[0] == 304
    refused = get(server, "spaced.atom.xml", {"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused[1] and refused[2] == plain


def test_every_feed_parses_and_json_feed_has_the_required_fields(site):
    config, server = site
    for kind, version in (("rss.xml", "rss20"), ("atom.xml", "atom10")):
        feed = feedparser.parse(get(server, f"spaced.{kind}")[2])
        assert feed.bozo == 0, feed.get("bozo_exception")
        assert feed.version == version and feed.feed.title == f"{SITE}: Spaced practice"
        # Six posts and two weekly digests.
        assert len(feed.entries) == len(POSTS) + 2

    status, headers, body = get(server, "spaced.json")
    assert headers["content-type"] == "application/feed+json; charset=utf-8"
    feed = json.loads(body)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == f"{SITE}: Spaced practice"
    assert feed["feed_url"] == f"{config.outputs.base_url}/spaced.json"
    assert len(feed["items"]) == len(POSTS) + 2
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item["content_html"] and item["date_published"].endswith("Z")
    first = feed["items"][0]
    assert first["title"] == "Spaced practice & friends <3"  # JSON strings are not HTML-escaped
    assert first["_pln"]["score"] == 0.85 and first["_pln"]["topic"] == "spaced"

    opml = ET.fromstring(get(server, "index.opml")[2])
    assert [o.get("xmlUrl") for o in opml.iter("outline")] == [
        f"{config.outputs.base_url}/spaced.rss.xml",
        f"{config.outputs.base_url}/feedback.rss.xml",
    ]
    status, headers, page = get(server, "")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b'href="spaced.json"' in page and THREAD.title.encode() in page


def test_root_redirects_and_only_feed_files_are_served(site):
    config, server = site
    (config.outputs.feeds_dir / "notes.txt").write_text("private")
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request("GET", "/")
    response = conn.getresponse()
    assert (response.status, response.getheader("Location")) == (302, "/feeds/")
    for path in ("notes.txt", "../pln.duckdb", "..%2Fpln.duckdb", "nope.rss.xml", ".x.json"):
        assert get(server, path)[0] == 404, path
    assert get(server, "spaced.rss.xml", method="POST")[0] == 405
    status, headers, body = get(server, "spaced.rss.xml", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def render_with(config, topics: set[str]):
    """A run's render with only `topics` of the site's config; returns that config."""
    kept = dataclasses.replace(config, topics=tuple(t for t in config.topics if t.id in topics))
    with Store(config.outputs.duckdb) as store:
        render_feeds_if_changed(store, kept, now=NOW)
    return kept


def test_a_removed_topics_feeds_and_page_are_gone_until_it_comes_back(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)  # topics "spaced" and "feedback"
    render_with(config, {"spaced", "feedback"})
    before = datetime.now(UTC).date().isoformat()
    without = render_with(config, {"feedback"})  # "spaced" taken out of the config
    feeds = ("spaced.rss.xml", "spaced.atom.xml", "spaced.json")
    days = {before, datetime.now(UTC).date().isoformat()}  # two, if midnight came in between
    with FeedServer(without, "127.0.0.1", port) as server:
        for path in (*feeds, "topic/spaced"):
            status, headers, body = get(server, path)
            page = body.decode()
            assert status == 410, path
            assert "&#x27;spaced&#x27; was taken out" in page, path
            assert any(day in page for day in days), path
            assert headers["cache-control"] == "no-store"
        assert get(server, "spaced.rss.xml", method="HEAD")[:3:2] == (410, b"")
        assert get(server, "other.rss.xml")[0] == 404  # never a topic here: not found
        assert get(server, "feedback.rss.xml")[0] == 200

        render_with(config, {"spaced", "feedback"})  # it comes back
        for path in feeds:
            status, headers, body = get(server, path)
            assert status == 200 and b"Spaced practice" in body, path


def test_feedback_links_in_the_feed_record_labels_once_per_item_and_topic(site):
    config, server = site
    feed = feedparser.parse(get(server, "spaced.atom.xml")[2])
    entry = next(e for e in feed.entries if e.id.endswith(f":item:{POSTS[4][0].id}"))
    links = feedback_links(entry.content[0].value)
    assert set(links) == {"More like this", "Less like this"}

    # Following the link only shows the item and a button: a crawler records nothing.
    with urllib.request.urlopen(links["More like this"], timeout=10) as response:
        shown = response.read().decode()
        assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    assert "Spaced practice, part 5" in shown and "<button>Yes, more like this</button>" in shown
    assert labels(config) == []

    status, page = give_feedback(links["More like this"])
    assert status == 200 and "Recorded <strong>more like this</strong>" in page
    assert "“Spaced practice, part 5”" in page
    give_feedback(links["More like this"])  # clicked twice
    [label] = labels(config)
    assert (label.item_id, label.topic, label.label, label.origin) == (
        POSTS[4][0].id,
        "spaced",
        1,
        "feed",
    )

    # Changed their mind: the confirmation page's link leads to the opposite button.
    undo = re.search(r'Changed your mind\? <a rel="nofollow" href="([^"]+)">Less like this', page)
    assert give_feedback(urljoin(links["More like this"], unescape(undo.group(1))))[0] == 200
    assert [(x.item_id, x.label) for x in labels(config)] == [(POSTS[4][0].id, -1)]
    assert not server.labels.journal.read_text()  # nothing left waiting


def test_feedback_posts_from_elsewhere_or_without_the_pages_cookie_are_refused(site):
    config, server = site
    link = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", LATER)
    assert give_feedback(link, origin="https://evil.example")[0] == 403
    assert give_feedback(link, cookie=False)[0] == 403
    assert give_feedback(link, fetch_site="cross-site")[0] == 403
    assert labels(config) == []
    assert give_feedback(link, fetch_site="same-origin")[0] == 200
    assert len(labels(config)) == 1


def test_a_forged_broken_or_expired_feedback_link_is_refused(site):
    config, server = site
    item = POSTS[0][0].id
    good = server.key.query(item, "spaced", "up", LATER)
    forged = re.sub(r"sig=\w+", "sig=" + "0" * 32, good)
    swapped = good.replace("label=up", "label=down")  # the "up" signature on a "down" link
    other_item = good.replace(item, POSTS[1][0].id)
    longer = re.sub(r"exp=(\d+)", lambda m: f"exp={int(m.group(1)) + 86400}", good)
    for query in (forged, swapped, other_item, longer):
        status, _, page = get(server, "_feedback?" + query)
        assert status == 403 and b"signature does not match" in page
    assert get(server, "_feedback?item=" + item)[0] == 400
    assert get(server, "_feedback?" + good.replace("topic=spaced", "topic=nope"))[0] == 404
    expired = server.key.query(item, "spaced", "up", datetime.now(UTC) - timedelta(seconds=1))
    status, _, page = get(server, "_feedback?" + expired)
    assert status == 410 and b"expired" in page
    assert get(server, "_feedback?" + good, method="HEAD")[0] == 200  # HEAD records nothing
    # A form from a fresh link's page, sent with an expired link's fields, is refused too.
    late = dict(parse_qsl(expired))
    assert give_feedback(server.url + "_feedback?" + good, fields=late)[0] == 410
    assert labels(config) == []


def test_feedback_for_an_item_the_store_no_longer_holds_is_gone_and_records_nothing(site):
    """A reader's cached feed keeps its signed links after `outputs.keep_days` forgot the item:
    clicking one says so (410) instead of thanking them for a label with no text to learn from."""
    config, server = site
    link = server.key.url(config.outputs.base_url, "f" * 20, "spaced", "up", LATER)
    status, _, page = get(server, "_feedback?" + urlsplit(link).query)
    assert status == 410 and b"no longer in the database" in page
    # The form of a page opened while the item was still stored, sent after it was forgotten.
    stored = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", LATER)
    gone = dict(parse_qsl(urlsplit(link).query))
    assert give_feedback(stored, fields=gone)[0] == 410
    assert labels(config) == []
    assert give_feedback(stored)[0] == 200 and len(labels(config)) == 1


def test_a_journaled_label_whose_item_was_forgotten_meanwhile_is_dropped_with_a_line(site):
    """A click journaled while a run held the database is written later; if that run forgot the
    item, the label is dropped and the server's log says so."""
    from pln.sinks.store import Label

    config, server = site
    said = []
    server.labels.log = said.append
    for item in (POSTS[0][0].id, "f" * 20):
        server.labels.record(Label(item, "spaced", 1, datetime.now(UTC), "feed"))
    assert [x.item_id for x in labels(config)] == [POSTS[0][0].id]
    assert said == [f"feedback for {'f' * 20} dropped: the item is no longer stored"]
    assert server.labels.pending() == 0


def give_feedback_the_database_cannot_take(server, config) -> None:
    """A click the database cannot take now: the reader is told it is kept, and it is."""
    link = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", LATER)
    status, page = give_feedback(link)
    assert status == 200 and "feedback is kept" in page and server.labels.pending() == 1


def wait_until_journal_written(server, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while server.labels.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.labels.pending() == 0


def test_feedback_while_a_run_holds_the_database_is_kept_then_written(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    holder = hold_database(config.outputs.duckdb)
    try:
        server = FeedServer(config, "127.0.0.1", port, label_wait=0.2)
        server.labels.retry_every = 0.1
        with server:
            give_feedback_the_database_cannot_take(server, config)
            holder.stdin.close()
            holder.wait(timeout=10)
            wait_until_journal_written(server)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert [(x.item_id, x.label, x.origin) for x in labels(config)] == [(POSTS[0][0].id, 1, "feed")]


def test_feedback_the_database_cannot_write_is_kept_then_written(tmp_path):
    """A folder where DuckDB writes its log makes every commit fail, as a full disk does."""
    port = free_port()
    config = build_site(tmp_path, port)
    wal = Path(f"{config.outputs.duckdb}.wal")
    assert not wal.exists()
    wal.mkdir()
    server = FeedServer(config, "127.0.0.1", port, label_wait=0.2)
    server.labels.retry_every = 0.1
    with server:
        give_feedback_the_database_cannot_take(server, config)
        time.sleep(0.5)  # retries meanwhile fail, and keep it
        assert server.labels.pending() == 1
        wal.rmdir()
        wait_until_journal_written(server)
    assert [(x.item_id, x.label, x.origin) for x in labels(config)] == [(POSTS[0][0].id, 1, "feed")]


def fetch_when_up(url: str, seconds: float = 30) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read()
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_pln_serve(config, *flags: str) -> subprocess.Popen:
    """`pln serve -c CONFIG FLAGS` as a child process, its output piped as text."""
    command = [sys.executable, "-m", "pln.cli", "serve", "-c", str(config.path), *flags]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_pln_serve_prints_its_address_and_feeds_then_stops_cleanly(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    proc = start_pln_serve(config, "--json")
    try:
        lines = []
        while not (lines and lines[-1] == "}"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line.rstrip("\n"))
        summary = json.loads("\n".join(lines))
        assert summary["url"] == f"http://127.0.0.1:{port}/feeds/"  # the port of base_url
        assert summary["feeds"]["spaced"]["json"] == summary["url"] + "spaced.json"
        assert summary["note"].startswith("rendered 10 files")
        assert summary["server"] == "granian"
        body = fetch_when_up(summary["feeds"]["feedback"]["rss"])  # its workers are starting
        assert feedparser.parse(body).entries[0].title == THREAD.title
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == "" and err == ""  # --json: the summary and nothing else


def until(check, seconds: float = 20):
    """`check()`'s first truthy value, asked every 0.1 s for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_pln_serve_follows_an_edited_config_without_a_restart(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)  # topics "spaced" and "feedback"
    written = yaml.safe_load(config.path.read_text())
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "pln.cli", "serve", "-c", str(config.path)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}/feeds/"

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(url + path, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def page(path: str) -> str:
        with urllib.request.urlopen(url + path, timeout=10) as response:
            return response.read().decode()

    def edit(**changes) -> None:
        data = {**written, **changes}
        config.path.write_text(yaml.safe_dump(data), encoding="utf-8")

    try:
        fetch_when_up(url + "spaced.rss.xml")
        drafts = {"id": "drafts", "title": "Drafts", "phrases": ["drafts"]}
        retitled = {**written["topics"][1], "title": "Giving feedback"}
        edit(
            topics=[retitled, drafts],
            outputs={**written["outputs"], "title": "Our team's PLN"},
        )
        until(lambda: "was edited: serving feedback, drafts; rendered" in log.read_text())
        assert status("spaced.rss.xml") == status("spaced.json") == 410  # taken out
        until(lambda: status("topic/spaced") == 410)  # each worker within 2 s
        until(lambda: status("topic/drafts") == 200)
        assert feedparser.parse(page("drafts.atom.xml")).feed.title == "Our team's PLN: Drafts"
        assert "Our team&#x27;s PLN" in page("index.html")
        until(lambda: "Giving feedback" in page("topic/feedback"))

        edit(colour="blue")  # not a config: one line, from the serve process only
        until(lambda: "was edited but cannot be used" in log.read_text())
        moved = {**written["outputs"], "base_url": f"http://127.0.0.1:{free_port()}/feeds"}
        edit(topics=[retitled, drafts], outputs=moved)
        until(lambda: "restart pln serve to use them" in log.read_text())
        assert status("topic/drafts") == 200  # still served where it was
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    said = log.read_text()
    assert proc.returncode == 0, said
    assert said.count("was edited but cannot be used") == 1, said
    assert "(outputs.base_url changed: restart pln serve to use them)" in said
    assert "Traceback" not in said


def test_a_busy_port_is_a_one_line_error(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    with FeedServer(config, "127.0.0.1", port):
        result = subprocess.run(
            [sys.executable, "-m", "pln.cli", "serve", "-c", str(config.path), "-q"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"pln: error: cannot listen on 127.0.0.1:{port}: ")
    assert result.stderr.count("\n") == 1


def test_accept_encoding_and_if_none_match_parsing():
    assert accepts_gzip("gzip, deflate, br") and accepts_gzip("br;q=1.0, GZIP;q=0.5")
    assert accepts_gzip("*") and not accepts_gzip("gzip;q=0") and not accepts_gzip("gzip; q=0.0")
    assert not accepts_gzip(None) and not accepts_gzip("identity")
    assert etag_values('W/"abc", "def-gz" ,*') == ["abc", "def", "*"]


def raw_exchange(server, data: bytes) -> bytes:
    """Send bytes on one connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_hidden_in_a_body_is_never_answered(site):
    _, server = site
    hidden = b"GET /feeds/index.opml HTTP/1.1\r\nHost: x\r\n\r\n"
    hidden = hidden.ljust(60, b"\n")
    sent = (
        b"POST /feeds/spaced.rss.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n"
        + hidden
        + b"GET /feeds/robots-check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = raw_exchange(server, sent)
    statuses = re.findall(rb"^HTTP/1\.1 (\d{3})", answer, re.MULTILINE)
    assert statuses == [b"405", b"404"]  # the POST, then the next real request
    assert b"<opml" not in answer
    # A malformed request line gets a real HTTP error response.
    assert re.match(rb"HTTP/1\.[01] 400 ", raw_exchange(server, b"NONSENSE\r\n\r\n"))


def test_security_headers_robots_txt_and_the_base_url_without_slash(site):
    config, server = site
    for path in ("", "spaced.rss.xml", "people", "nope"):
        _, headers, _ = get(server, path)
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request("GET", "/feeds")  # base_url as written in the config
    response = conn.getresponse()
    assert (response.status, response.getheader("Location")) == (302, "/feeds/")
    conn.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/robots.txt") as r:
        robots = r.read().decode()
    assert "Disallow: /feeds/_feedback" in robots.splitlines()


def test_the_index_page_shows_snippets_chat_answers_sources_and_subscribe_help(site):
    config, server = site
    page = get(server, "")[2].decode()
    assert "Part 5: quizzes at 2, 7 and 21 days." in page  # a snippet of the text
    assert "blog.example" in page and "· rss<" not in page  # the blog, not "rss"
    assert "<h3>Q1. How do you give feedback on drafts?</h3>" in page  # the thread's question
    assert "A1. Comments first, grades later" in page and "1 answer" in page
    assert f'value="{config.outputs.base_url}/spaced.rss.xml"' in page  # the address to copy
    assert 'data-copy="feed-spaced"' in page and "paste this address" in page
    assert 'href="topic/spaced"' in page
    assert 'src="pln.js"' in page and get(server, "pln.js")[0] == 200


def test_a_topic_page_lists_older_items_page_by_page(site, monkeypatch):
    from pln.web import pages

    monkeypatch.setattr(pages, "PER_PAGE", 4)
    _, server = site
    status, _, first = get(server, "topic/spaced")
    first = first.decode()
    assert status == 200 and "Page 1 of 2: items 1–4 of 6" in first
    assert "Spaced practice, part 5" in first and "Spaced practice, part 2" not in first
    assert 'rel="next" href="spaced?page=2"' in first
    second = get(server, "topic/spaced?page=2")[2].decode()
    assert "Spaced practice, part 2" in second and "Spaced practice, part 1" in second
    assert 'rel="prev" href="spaced?page=1"' in second
    assert get(server, "topic/nope")[0] == 404
    # Its feedback links lead to the confirmation page, like the feed's.
    link = re.search(r'<a rel="nofollow" href="([^"]+)">More like this', second).group(1)
    assert give_feedback(urljoin(server.url + "topic/spaced", unescape(link)))[0] == 200


def test_search_finds_kept_items_by_words_and_author(site):
    _, server = site
    page = get(server, "search?q=PART+5")[2].decode()
    assert 'name="q" type="search" value="PART 5"' in page  # the words stay in the field
    assert "1 kept item mentions" in page and "Spaced practice, part 5" in page
    page = get(server, "search?q=comments+first")[2].decode()
    assert "Q1. How do you give feedback on drafts?" in page and "In Feedback" in page
    assert "6 kept items" in get(server, "search?q=jane+doe")[2].decode()
    assert "0 kept items" in get(server, "search?q=%3Cscript%3E")[2].decode()
    assert b"<script>" not in get(server, "search?q=%3Cscript%3E")[2]


def test_the_people_page_says_who_posts_on_which_topic_and_whose_items_were_kept(site):
    config, server = site
    link = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", LATER)
    give_feedback(link)
    page = get(server, "people")[2].decode()
    row = re.search(r"<tr><th scope=\"row\">.*?Jane Doe</a></th>(.*?)</tr>", page).group(1)
    assert row == "<td>blogs</td><td>6</td><td>6</td><td>Spaced practice 6</td><td>+1 / −0</td>"
    assert ">lrnchat</a>" in page and ">jane_ld</a>" in page  # chat participants


def test_pln_serve_under_granian_frames_requests_and_records_a_persons_feedback(tmp_path):
    """The default server (granian worker processes) with the same app: a body is never a
    request, bad request lines get a 400, and feedback goes from a worker to the database."""
    port = free_port()
    config = build_site(tmp_path, port)
    proc = start_pln_serve(config, "-q")
    try:
        fetch_when_up(f"{config.outputs.base_url}/")

        class Server:  # what raw_exchange needs
            server_address = ("127.0.0.1", port)

        hidden = b"GET /feeds/index.opml HTTP/1.1\r\nHost: x\r\n\r\n".ljust(60, b"\n")
        answer = raw_exchange(
            Server,
            b"POST /feeds/spaced.rss.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n"
            + hidden
            + b"GET /feeds/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert re.findall(rb"^HTTP/1\.1 (\d{3})", answer, re.MULTILINE) == [b"405", b"404"]
        assert re.match(rb"HTTP/1\.[01] 400 ", raw_exchange(Server, b"NONSENSE\r\n\r\n"))
        with urllib.request.urlopen(f"{config.outputs.base_url}/", timeout=10) as response:
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        key = FeedbackKey.beside(config.outputs.duckdb)
        link = key.url(config.outputs.base_url, POSTS[1][0].id, "spaced", "down", LATER)
        assert give_feedback(link)[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and out == "" and err == ""
    assert [(x.item_id, x.label) for x in labels(config)] == [(POSTS[1][0].id, -1)]


def test_atom_updated_is_each_items_own_date(site):
    _, server = site
    feed = feedparser.parse(get(server, "spaced.atom.xml")[2])
    posts = {f"urn:pln:topic:spaced:item:{p.id}": p for p, _ in POSTS}
    items = [e for e in feed.entries if e.id in posts]
    assert len(items) == len(POSTS)
    for entry in items:  # not the time the run fetched it
        assert entry.updated == posts[entry.id].published_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len({e.updated for e in feed.entries}) == len(feed.entries)  # no DuplicateUpdated


def test_idle_keep_alive_connections_do_not_hold_the_workers(site):
    """HTTP/1.0 clients asking for keep-alive (ab -k), more of them than there are threads,
    each after one answered request: a new client is still served."""
    _, server = site
    idle = []
    try:
        for _ in range(20):  # FeedServer runs 8 threads
            sock = socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10)
            sock.sendall(b"GET /feeds/robots-none HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.0 404")
            idle.append(sock)
        assert get(server, "spaced.rss.xml")[0] == 200
    finally:
        for sock in idle:
            sock.close()


def test_the_server_stops_even_when_its_wake_up_pipe_is_gone(tmp_path):
    """Seen once in a full test run: the I/O loop's trigger pipe was closed already (EBADF)
    when the server was asked to stop. It stops all the same, and frees its port."""
    port = free_port()
    server = FeedServer(build_site(tmp_path, port), "127.0.0.1", port).start()
    assert urllib.request.urlopen(server.url + "index.opml", timeout=5).status == 200
    os.close(server.server.trigger.trigger)
    server.close()
    assert not server._thread.is_alive()
    with socket.socket() as s:  # no socket listens there any more (TIME_WAIT aside)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
