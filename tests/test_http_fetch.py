"""HttpFetcher against a real server on 127.0.0.1 replaying recorded responses."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from httpserver import gzip_of_nothing, gzipped

from pln.errors import SourceError
from pln.sources.http import HttpFetcher, parse_retry_after, proxy_for, redact

BODY = b"<rss version='2.0'><channel><title>Spaced practice</title></channel></rss>"


def fetcher(**kw) -> HttpFetcher:
    kw.setdefault("timeout", 2.0)
    return HttpFetcher("blog", **kw)


def test_200_returns_body_headers_and_sends_user_agent(server):
    server.route(
        "/feed", headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"}, body=BODY
    )
    response = fetcher(user_agent="pln-test/1").get(server.url("/feed"))
    assert (response.status, response.body) == (200, BODY)
    assert response.headers["etag"] == '"v1"'
    assert response.url == server.url("/feed") and response.permanent_url is None
    sent = server.requests_log[0].headers
    assert sent["user-agent"] == "pln-test/1"
    assert "gzip" in sent["accept-encoding"]


def test_304_is_returned_not_raised(server):
    server.route("/feed", status=304, headers={"ETag": '"v1"'})
    response = fetcher().get(server.url("/feed"), {"If-None-Match": '"v1"'})
    assert response.not_modified and response.body == b""
    assert server.requests_log[0].headers["if-none-match"] == '"v1"'


def test_permanent_redirect_chain_reports_new_url(server):
    server.route("/old", status=301, headers={"Location": "/older"})
    server.route("/older", status=308, headers={"Location": server.url("/feed")})
    server.route("/feed", body=BODY)
    response = fetcher().get(server.url("/old"))
    assert response.body == BODY
    assert response.url == server.url("/feed")
    assert response.permanent_url == server.url("/feed")


def test_temporary_redirect_stops_the_permanent_url(server):
    server.route("/old", status=301, headers={"Location": "/moved"})
    server.route("/moved", status=302, headers={"Location": "/feed"})
    server.route("/feed", body=BODY)
    response = fetcher().get(server.url("/old"))
    assert response.permanent_url == server.url("/moved")


def test_redirect_loop_is_cut_after_five_hops(server):
    server.route("/a", status=302, headers={"Location": "/b"})
    server.route("/b", status=302, headers={"Location": "/a"})
    with pytest.raises(SourceError, match="more than 5 redirects"):
        fetcher().get(server.url("/a"))
    assert len(server.requests_log) == 6


def test_redirect_to_another_scheme_is_refused(server):
    server.route("/a", status=301, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(SourceError, match="only http"):
        fetcher().get(server.url("/a"))


def test_authorization_is_not_forwarded_to_another_host(server):
    other = server.url("/feed").replace("127.0.0.1", "localhost")
    server.route("/a", status=302, headers={"Location": other})
    server.route("/feed", body=BODY)
    fetcher().get(server.url("/a"), {"Authorization": "Bearer s3cret"})
    first, second = server.requests_log
    assert first.headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in second.headers


def test_429_with_retry_after_seconds(server):
    server.route("/feed", status=429, headers={"Retry-After": "120"})
    with pytest.raises(SourceError, match="HTTP 429") as info:
        fetcher().get(server.url("/feed"))
    assert info.value.retry_after == 120


def test_503_with_retry_after_date(server):
    when = datetime.now(UTC) + timedelta(seconds=90)
    server.route("/feed", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(SourceError) as info:
        fetcher().get(server.url("/feed"))
    assert 80 <= info.value.retry_after <= 91


def test_500_is_a_one_line_error_naming_the_url(server):
    server.route("/feed", status=500, body=b"Traceback...\nboom")
    with pytest.raises(SourceError) as info:
        fetcher().get(server.url("/feed"))
    assert str(info.value) == f"source 'blog': HTTP 500 from {server.url('/feed')}"
    assert info.value.retry_after is None


def test_slow_server_times_out_with_a_message_naming_the_timeout(server):
    # Without the timeout the body would arrive after 30 s and no error would be raised.
    server.route("/feed", body=BODY, delay=30)
    with pytest.raises(SourceError, match=r"timed out after 0\.3 s waiting for http://"):
        fetcher(timeout=0.3).get(server.url("/feed"))


def test_dripping_body_hits_the_total_deadline_and_says_so(server):
    # Each 64-byte piece arrives well within the read timeout; the whole body would take 30 s.
    server.route("/feed", body=b"x" * 64 * 300, chunk_delay=0.1)
    with pytest.raises(SourceError, match=r"after 0\.6 s \(deadline\)"):
        fetcher(timeout=0.3, deadline=0.6).get(server.url("/feed"))


def test_truncated_body_is_an_error(server):
    server.route("/feed", body=BODY, truncate=20)
    with pytest.raises(SourceError, match=f"cut off: got 20 of {len(BODY)} bytes"):
        fetcher().get(server.url("/feed"))


def test_truncated_chunked_body_is_an_error(server):
    server.route("/feed", body=BODY, chunked=True, truncate=20)
    with pytest.raises(SourceError, match="cut off"):
        fetcher().get(server.url("/feed"))


def test_chunked_body_is_read_whole(server):
    server.route("/feed", body=BODY * 50, chunked=True, chunk_delay=0.001)
    assert fetcher().get(server.url("/feed")).body == BODY * 50


def test_oversized_body_is_refused_by_content_length(server):
    server.route("/feed", body=b"x" * 5000)
    with pytest.raises(SourceError, match="response larger than 1000 bytes"):
        fetcher(max_bytes=1000).get(server.url("/feed"))


def test_oversized_streamed_body_is_refused_while_reading(server):
    server.route("/feed", body=b"x" * 500_000, chunked=True)
    with pytest.raises(SourceError, match="response larger than 100000 bytes"):
        fetcher(max_bytes=100_000).get(server.url("/feed"))


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "GZIP"])
def test_gzip_body_is_decoded(server, encoding):
    server.route("/feed", headers={"Content-Encoding": encoding}, body=gzipped(BODY))
    assert fetcher().get(server.url("/feed")).body == BODY


@pytest.mark.parametrize(
    "body",
    [gzipped(BODY[:30]) + gzipped(BODY[30:]), gzipped(BODY) + b"\0\0 trailing junk"],
    ids=["two-members", "trailing-junk"],
)
def test_gzip_members_are_all_decoded_and_junk_after_them_ignored(server, body):
    server.route("/feed", headers={"Content-Encoding": "gzip"}, body=body)
    assert fetcher().get(server.url("/feed")).body == BODY


def test_truncated_gzip_body_counts_the_bytes_received(server):
    body = gzipped(BODY * 50)
    server.route("/feed", headers={"Content-Encoding": "gzip"}, body=body, truncate=100)
    with pytest.raises(SourceError, match=f"cut off: got 100 of {len(body)} bytes"):
        fetcher().get(server.url("/feed"))


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_body_is_decoded(server, wbits):
    packer = zlib.compressobj(wbits=wbits)
    server.route(
        "/feed",
        headers={"Content-Encoding": "deflate"},
        body=packer.compress(BODY) + packer.flush(),
    )
    assert fetcher().get(server.url("/feed")).body == BODY


def test_gzip_bomb_is_stopped_at_the_decompressed_cap(server):
    bomb = gzipped(b"\0" * 50_000_000)  # ~50 KB on the wire, 50 MB inflated
    server.route("/feed", headers={"Content-Encoding": "gzip"}, body=bomb)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="response larger than 1000000 bytes"):
            fetcher(max_bytes=1_000_000).get(server.url("/feed"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000  # never inflated beyond the cap (plus buffers)


def test_dripping_gzip_that_decodes_to_nothing_hits_the_deadline(server):
    # Every 64-byte piece arrives within the read timeout and inflates to nothing, so a reader
    # that waits for decoded bytes would sit through the whole body (about 30 s).
    body = gzip_of_nothing(64 * 300 // 5)
    server.route("/feed", headers={"Content-Encoding": "gzip"}, body=body, chunk_delay=0.1)
    with pytest.raises(SourceError, match=r"after 0\.6 s \(deadline\)"):
        fetcher(timeout=0.3, deadline=0.6).get(server.url("/feed"))


def test_compressed_padding_is_refused_by_its_size_on_the_wire(server):
    # 2 MB of gzip that inflates to nothing: the cap holds for received bytes too.
    body = gzip_of_nothing(400_000)
    server.route("/feed", headers={"Content-Encoding": "gzip"}, body=body, chunked=True)
    with pytest.raises(SourceError, match="response larger than 100000 bytes"):
        fetcher(max_bytes=100_000).get(server.url("/feed"))


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        b"\x1f\x8bgarbage",  # the gzip magic, then a bad header
        b"\x1f\x8b\x08\x00garbage",  # a gzip header, then garbage that ends the body
        gzipped(BODY * 50)[:60],  # a stream cut short while its length is announced right
    ],
    ids=["no-header", "bad-header", "header-then-garbage", "cut-stream"],
)
def test_corrupt_gzip_is_a_clear_error(server, body):
    server.route("/feed", headers={"Content-Encoding": "gzip"}, body=body)
    with pytest.raises(SourceError) as info:
        fetcher().get(server.url("/feed"))
    message = str(info.value)
    prefix = f"source 'blog': gzip body from {server.url('/feed')} could not be decoded: "
    assert message.startswith(prefix), message
    assert "\n" not in message


def test_an_empty_gzip_body_is_empty_not_an_error(server):
    server.route("/feed", headers={"Content-Encoding": "gzip"}, body=b"")
    assert fetcher().get(server.url("/feed")).body == b""


def test_connection_refused_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError) as info:
        fetcher().get(f"http://127.0.0.1:{port}/feed")
    assert str(info.value) == (
        f"source 'blog': connection refused by 127.0.0.1 (http://127.0.0.1:{port}/feed)"
    )


@pytest.mark.parametrize("url", ["ftp://example.org/feed", "file:///etc/passwd", "feed.xml"])
def test_only_http_schemes(url):
    with pytest.raises(SourceError, match="only http"):
        fetcher().get(url)


def test_errors_never_show_credentials(server):
    server.route("/feed", status=500)
    url = server.url("/feed?api_key=abc123&page=2").replace("http://", "http://me:pw@")
    with pytest.raises(SourceError) as info:
        fetcher().get(url)
    message = str(info.value)
    assert "abc123" not in message and "pw" not in message
    assert "page=2" in message


def test_redact_keeps_ordinary_urls():
    assert redact("https://blog.example/feed?page=2") == "https://blog.example/feed?page=2"
    assert redact("https://u:p@h/x?token=t&a=1") == "https://h/x?token=***&a=1"


def test_retry_after_parsing():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None


@pytest.fixture
def tinyproxy(tmp_path):
    """A real forward proxy (Debian's tinyproxy) on 127.0.0.1; skipped when not installed."""
    yield from _tinyproxy(tmp_path)


@pytest.fixture
def tinyproxy_with_password(tmp_path):
    """tinyproxy that wants user `pln` and password `right`: others get 407."""
    yield from _tinyproxy(tmp_path, "BasicAuth pln right\n")


def _tinyproxy(tmp_path, extra: str = ""):
    binary = shutil.which("tinyproxy")
    if not binary:
        pytest.skip("tinyproxy is not installed (apt-get install tinyproxy)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text(
        f"Port {port}\nListen 127.0.0.1\nTimeout 10\nAllow 127.0.0.1\nMaxClients 10\n"
        f'LogLevel Error\nPidFile "{tmp_path / "tp.pid"}"\nViaProxyName "pln-test-proxy"\n' + extra
    )
    proc = subprocess.Popen([binary, "-d", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            proc.wait(timeout=0.05) if proc.poll() is not None else threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # seen once on a loaded machine: it must not linger
            proc.kill()
            proc.wait(timeout=5)


def test_proxy_from_the_environment_is_used_and_no_proxy_bypasses_it(
    server, tinyproxy, monkeypatch
):
    server.route("/feed", body=BODY)
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", tinyproxy)
    assert fetcher().get(server.url("/feed")).body == BODY
    assert "pln-test-proxy" in server.requests_log[-1].headers.get("via", "")

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert fetcher().get(server.url("/feed")).body == BODY
    assert "via" not in server.requests_log[-1].headers


def no_proxy_settings(monkeypatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_no_proxy_takes_ip_networks_as_curl_does(server, tinyproxy, monkeypatch):
    server.route("/feed", body=BODY)
    no_proxy_settings(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", tinyproxy)
    for no_proxy, bypassed in [
        ("127.0.0.0/8", True),
        ("example.org, 127.0.0.0/24", True),
        ("127.0.0.1/32", True),
        ("10.0.0.0/8,::1", False),
        ("::/0", False),  # IPv6 networks do not hold IPv4 addresses
        ("127.0.0.2/31", False),
    ]:
        monkeypatch.setenv("NO_PROXY", no_proxy)
        assert fetcher().get(server.url("/feed")).body == BODY
        via = server.requests_log[-1].headers.get("via", "")
        assert ("pln-test-proxy" not in via) == bypassed, (no_proxy, via)


def test_no_proxy_networks_of_ipv6_and_names_beside_them(monkeypatch):
    proxy = "http://proxy.example:3128"
    no_proxy_settings(monkeypatch)
    monkeypatch.setenv("http_proxy", proxy)  # lower case, as curl prefers
    for no_proxy, url, expected in [
        ("fd00::/8", "http://[fd00::1]:8080/feed", ""),
        ("[fd00::]/8", "http://[fd00::1]/feed", ""),
        ("[::1]", "http://[::1]/feed", ""),
        ("fd00::/8", "http://[fe80::1]/feed", proxy),
        ("10.0.0.0/8", "http://10.2.3.4/feed", ""),
        ("10.0.0.0/8", "http://10.example.org/feed", proxy),  # names are not resolved
        ("10.0.0.0/8,.example.org", "http://feeds.example.org/feed", ""),
        ("*", "http://anything.example/feed", ""),
    ]:
        monkeypatch.setenv("no_proxy", no_proxy)
        assert proxy_for(url) == expected, (no_proxy, url)


def test_a_proxy_that_wants_a_password_is_named_for_plain_http(
    server, tinyproxy_with_password, monkeypatch
):
    server.route("/feed", body=BODY)
    no_proxy_settings(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", tinyproxy_with_password)
    with pytest.raises(SourceError) as info:
        fetcher().get(server.url("/feed"))
    assert str(info.value) == (
        f"source 'blog': proxy {tinyproxy_with_password} failed for {server.url('/feed')}: "
        "HTTP 407 Proxy Authentication Required"
    )
    assert not server.requests_log  # the feed's server was never asked

    right = tinyproxy_with_password.replace("http://", "http://pln:right@")
    monkeypatch.setenv("HTTP_PROXY", right)
    assert fetcher().get(server.url("/feed")).body == BODY


def test_a_proxy_407_names_the_proxy_without_its_credentials(server, monkeypatch):
    """`server` plays a proxy that refuses every request (it gets the feed's whole URL)."""
    feed = "http://127.0.0.1:9/feed"  # never reached: the proxy answers
    server.route(feed, status=407, headers={"Proxy-Authenticate": 'Basic realm="x"'})
    no_proxy_settings(monkeypatch)
    proxy = server.url("").replace("http://", "http://user:s3cret@")
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with pytest.raises(SourceError) as info:
        fetcher().get(feed)
    message = str(info.value)
    assert message == (
        f"source 'blog': proxy {server.url('')} failed for {feed}: "
        "HTTP 407 Proxy Authentication Required"
    )
    assert server.requests_log[-1].headers["proxy-authorization"].startswith("Basic ")
    assert "s3cret" not in message


def test_a_dead_proxy_is_a_one_line_error(server, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://user:pw@127.0.0.1:{port}")
    with pytest.raises(SourceError) as info:
        fetcher().get(server.url("/feed"))
    message = str(info.value)
    assert message == (
        f"source 'blog': proxy http://127.0.0.1:{port} failed for {server.url('/feed')}: "
        f"connection refused by proxy 127.0.0.1:{port}"
    )
    assert "pw" not in message
