"""`pln serve` over real HTTP on 127.0.0.1: conditional GET, gzip, valid feeds, feedback links."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from html import unescape
from urllib.parse import urljoin

import feedparser
import pytest
from feedsite import POSTS, SITE, THREAD, add_post_and_render, build_site, free_port

from pln.serve import FeedServer, accepts_gzip, etag_values
from pln.sinks.store import Store


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
    with Store(config.outputs.duckdb, read_only=True) as store:
        return store.labels()


def feedback_links(content_html: str) -> dict[str, str]:
    """{"More like this": url, "Less like this": url} from an entry's HTML."""
    found = re.findall(r'<a href="([^"]*/feedback\?[^"]*)">([^<]+)</a>', content_html)
    return {text: unescape(href) for href, text in found}


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
    assert feedparser.parse(body).entries[0].id == newest.id


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


def test_feedback_links_in_the_feed_record_labels_once_per_item_and_topic(site):
    config, server = site
    feed = feedparser.parse(get(server, "spaced.atom.xml")[2])
    entry = next(e for e in feed.entries if e.id == f"urn:pln:item:{POSTS[4][0].id}")
    links = feedback_links(entry.content[0].value)
    assert set(links) == {"More like this", "Less like this"}

    with urllib.request.urlopen(links["More like this"], timeout=10) as response:
        page = response.read().decode()
    assert "Recorded <strong>more like this</strong>" in page
    assert "“Spaced practice, part 5”" in page
    urllib.request.urlopen(links["More like this"], timeout=10).read()  # clicked twice
    [label] = labels(config)
    assert (label.item_id, label.topic, label.label, label.origin) == (
        POSTS[4][0].id,
        "spaced",
        1,
        "feed",
    )

    # Changed their mind: the confirmation page's link records the opposite.
    undo = re.search(r'Changed your mind\? <a href="([^"]+)">Less like this</a>', page)
    urllib.request.urlopen(urljoin(links["More like this"], unescape(undo.group(1)))).read()
    assert [(x.item_id, x.label) for x in labels(config)] == [(POSTS[4][0].id, -1)]
    assert links["Less like this"] == urljoin(links["More like this"], unescape(undo.group(1)))
    assert not server.labels.journal.read_text()  # nothing left waiting


def test_a_forged_or_broken_feedback_link_is_refused(site):
    config, server = site
    item = POSTS[0][0].id
    good = server.key.query(item, "spaced", "up")
    forged = re.sub(r"sig=\w+", "sig=" + "0" * 32, good)
    swapped = good.replace("label=up", "label=down")  # the "up" signature on a "down" link
    other_item = good.replace(item, POSTS[1][0].id)
    for query in (forged, swapped, other_item):
        status, _, page = get(server, "feedback?" + query)
        assert status == 403 and b"signature does not match" in page
    assert get(server, "feedback?item=" + item)[0] == 400
    assert get(server, "feedback?" + good.replace("topic=spaced", "topic=nope"))[0] == 404
    assert get(server, "feedback?" + good, method="HEAD")[0] == 200  # HEAD records nothing
    assert labels(config) == []


def test_feedback_while_a_run_holds_the_database_is_kept_then_written(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(config.outputs.duckdb),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        server = FeedServer(config, "127.0.0.1", port, label_wait=0.2)
        server.labels.retry_every = 0.1
        with server:
            link = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up")
            with urllib.request.urlopen(link, timeout=10) as response:
                page = response.read().decode()
            assert "database is busy" in page and server.labels.pending() == 1
            holder.stdin.close()
            holder.wait(timeout=10)
            deadline = time.monotonic() + 10
            while server.labels.pending() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert server.labels.pending() == 0
    finally:
        if holder.poll() is None:
            holder.kill()
    assert [(x.item_id, x.label, x.origin) for x in labels(config)] == [(POSTS[0][0].id, 1, "feed")]


def test_pln_serve_prints_its_address_and_feeds_then_stops_cleanly(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pln.cli", "serve", "-c", str(config.path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not (lines and lines[-1] == "}"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line.rstrip("\n"))
        summary = json.loads("\n".join(lines))
        assert summary["url"] == f"http://127.0.0.1:{port}/feeds/"  # the port of base_url
        assert summary["feeds"]["spaced"]["json"] == summary["url"] + "spaced.json"
        assert summary["note"].startswith("rendered 8 files")
        with urllib.request.urlopen(summary["feeds"]["feedback"]["rss"], timeout=10) as response:
            assert feedparser.parse(response.read()).entries[0].title == THREAD.title
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == "" and err == ""  # --json: the summary and nothing else


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
