"""`pln serve` on requests a QA pass sent: search words in any order, a busy database, odd
feedback links and form posts, and topic page numbers. Real server on 127.0.0.1, real DuckDB."""

from __future__ import annotations

import http.client
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

import pytest
from feedback_kit import give_feedback
from feedsite import NOW, POSTS, build_site, free_port, post
from helpers import hold_database
from test_serve import LATER, get, labels, raw_exchange

from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.store import Store


@pytest.fixture
def site(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    with FeedServer(config, "127.0.0.1", port) as server:
        yield config, server


def found(server, words: str) -> str:
    """What the search page says it found for `words`, e.g. "6 kept items"."""
    page = get(server, "search?" + urlencode({"q": words}))[2].decode()
    return re.search(r"(\d+ kept items?) mention", page).group(1)


def test_search_finds_items_with_every_word_in_any_order(site):
    _, server = site
    assert found(server, "practice spaced") == found(server, "spaced practice") == "6 kept items"
    assert found(server, "DOE spaced") == "6 kept items"  # the author and the title
    assert found(server, "5 part") == "1 kept item"
    assert found(server, '"5 part"') == "0 kept items"  # a quoted phrase stays a phrase
    assert found(server, '"part 5" jane') == "1 kept item"
    assert found(server, "grades drafts") == "1 kept item"  # the chat thread
    assert found(server, "part grades") == "0 kept items"  # each word in another item
    assert found(server, "“part 5” jane") == "1 kept item"  # typographic quotes too
    assert found(server, '""') == "0 kept items"  # quotes alone: no words, nothing found


def test_search_finds_a_title_with_angle_brackets_as_typed(site):
    """Titles keep "<int>" as "‹int›" (no reader sees markup); a visitor types "<"."""
    config, server = site
    item = post(9, NOW - timedelta(hours=1), title="Using std::vector<int> in C++")
    assert item.title == "Using std::vector‹int› in C++"
    with Store(config.outputs.duckdb) as store:
        store.write([item], [Decision(item.id, "spaced", 0.9, True, "matched it")], [])
    for words in ("vector<int>", "VECTOR‹INT›", "<int> c++"):
        assert found(server, words) == "1 kept item", words


def test_a_busy_database_is_a_plain_503_and_the_details_go_to_the_log(tmp_path, monkeypatch):
    from pln.web import app

    monkeypatch.setattr(app, "PAGE_WAIT", 0.2)
    port = free_port()
    config = build_site(tmp_path, port)
    holder = hold_database(config.outputs.duckdb)
    said = []
    try:
        with FeedServer(config, "127.0.0.1", port, log=said.append) as server:
            status, headers, body = get(server, "people")
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    page = body.decode()
    assert (status, headers["retry-after"]) == (503, "5")
    assert "The database is being written; try again in a moment." in page
    assert str(config.outputs.duckdb) not in page and "PID" not in page
    [line] = [x for x in said if x.startswith("page not served: ")]
    assert str(config.outputs.duckdb) in line and f"PID {holder.pid}" in line


@pytest.mark.parametrize("digit", ["²", "①", "₂"])
def test_a_feedback_link_with_unicode_digits_in_exp_is_refused(site, digit):
    config, server = site
    link = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", LATER)
    odd = re.sub(r"exp=\d+", "exp=" + quote(digit), urlsplit(link).query)
    for method in ("GET", "HEAD"):
        assert get(server, "_feedback?" + odd, method=method)[0] == 403, method
    assert give_feedback(link, fields={"exp": digit})[0] == 403
    assert labels(config) == []


def post_raw(server, head: bytes, body: bytes = b"") -> int:
    """The status of a POST to the feedback path with these extra header lines and body."""
    request = b"POST /feeds/_feedback HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    answer = raw_exchange(server, request + head + b"\r\n" + body)
    return int(re.match(rb"HTTP/1\.1 (\d{3})", answer).group(1))


def test_a_feedback_post_without_a_form_is_a_bad_request(site):
    config, server = site
    assert post_raw(server, b"") == 411  # no Content-Length at all
    assert post_raw(server, b"Content-Length: 0\r\n") == 400
    assert post_raw(server, b"Transfer-Encoding: chunked\r\n", b"0\r\n\r\n") == 400
    assert post_raw(server, b"Content-Length: 5000\r\n", b"x" * 5000) == 413
    assert labels(config) == []


def test_an_expired_link_leads_to_its_topics_pages(site):
    config, server = site
    expired = datetime.now(UTC) - timedelta(seconds=1)
    link = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", expired)
    status, _, body = get(server, "_feedback?" + urlsplit(link).query)
    page = body.decode()
    assert status == 410 and "item&#x27;s page" not in page
    assert '<a href="teach/spaced">Teach Spaced practice</a>' in page
    topic = re.search(r'<a href="([^"]+)">Spaced practice: kept items</a>', page).group(1)
    path = urlsplit(urljoin(server.url + "_feedback", topic)).path
    status, _, body = get(server, path.removeprefix(server.prefix + "/"))
    assert status == 200 and b"Spaced practice, part 5" in body
    # The form of a fresh link's page sent with the expired fields says the same.
    fields = dict(parse_qsl(urlsplit(link).query))
    fresh = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", LATER)
    status, page = give_feedback(fresh, fields=fields)
    assert status == 410 and 'href="topic/spaced"' in page


def test_topic_page_numbers_past_the_end_show_the_last_page_and_others_the_first(site, monkeypatch):
    """As search does (tests/test_web_paging.py): a page number is never an error."""
    from pln.web import pages

    monkeypatch.setattr(pages, "PER_PAGE", 4)
    _, server = site
    for number in ("3", "9", "99999999999999999999999"):
        status, _, body = get(server, f"topic/spaced?page={number}")
        assert status == 200 and "Page 2 of 2: items 5–6 of 6" in body.decode(), number
    for number in ("0", "-1", "abc", "1e3", "²", ""):
        status, _, body = get(server, f"topic/spaced?page={quote(number)}")
        assert status == 200 and "Page 1 of 2: items 1–4 of 6" in body.decode(), number


def test_a_form_posted_without_origin_or_fetch_site_is_recorded_by_cookie_and_token(site):
    """Old browsers send neither header: the cookie and token still bind the form to the
    page (docs/serve.md). A second click keeps one label; its `at` moves (docs/sql.md)."""
    config, server = site
    link = server.key.url(config.outputs.base_url, POSTS[0][0].id, "spaced", "up", LATER)
    opened = urlsplit(link)
    times = []
    for _ in range(2):
        conn = http.client.HTTPConnection(opened.hostname, opened.port, timeout=10)
        conn.request("GET", f"{opened.path}?{opened.query}")
        response = conn.getresponse()
        page, cookie = response.read().decode(), response.getheader("Set-Cookie").split(";")[0]
        form = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page)
        body = urlencode({k: unescape(v) for k, v in form})
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", opened.path, body=body, headers=headers)
        assert conn.getresponse().status == 200
        conn.close()
        [label] = labels(config)
        times.append(label.at)
    assert times[1] > times[0]
