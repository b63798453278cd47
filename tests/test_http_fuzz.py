"""Whatever one server sends, the fetcher answers with a Response or a one-line SourceError,
and the backoff it leads to stays bounded (property test over a raw server on 127.0.0.1)."""

from __future__ import annotations

import gzip
import socket
import socketserver
import threading
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import source_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pln.backoff import MAX_BACKOFF, MAX_RETRY_AFTER, next_poll_delay
from pln.errors import SourceError
from pln.sources.http import HttpFetcher, Response
from pln.sources.registry import fetch_once

FEED = (Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml").read_bytes()


class RawServer:
    """A TCP server on 127.0.0.1 that answers every request with the bytes in `reply`, then
    closes the connection. Nothing is checked or fixed up: the reply may be any bytes."""

    def __init__(self):
        self.reply = b""
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(2)
                head = b""
                try:
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        data = self.request.recv(4096)
                        if not data:
                            return
                        head += data
                    self.request.sendall(owner.reply)
                    self.request.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str = "/feed") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def raw_server():
    with RawServer() as server:
        yield server


def digits(max_len: int = 30):
    return st.text("0123456789", min_size=1, max_size=max_len)


def http_dates():
    return st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")
    )


junk = st.text(max_size=40).map(lambda s: s.replace("\r", "").replace("\n", ""))

# Locations never lead off 127.0.0.1: a fuzz test must not reach the internet.
locations = st.sampled_from(
    [
        "/next",
        "",
        "feed2",
        "http://127.0.0.1:1/x",
        "ftp://x/y",
        "http://[::1",
        "http://127.0.0.1:99999/",
    ]
)
header_values = {
    "Retry-After": st.one_of(digits(), http_dates(), junk, st.just("-1"), st.just("1e400")),
    "Content-Length": st.one_of(digits(25), junk, st.just("-5")),
    "Content-Encoding": st.sampled_from(["gzip", "deflate", "br", "x-gzip", "", "gzip, gzip"]),
    "Transfer-Encoding": st.sampled_from(["chunked", "identity", "gzip", "bogus"]),
    "Location": locations,
    "ETag": junk,
    "Last-Modified": st.one_of(http_dates(), junk),
    "Content-Type": st.sampled_from(["application/rss+xml", "text/html", "", "x/y; charset=zz"]),
}
headers = st.lists(
    st.one_of(
        st.sampled_from(list(header_values)).flatmap(
            lambda name: header_values[name].map(lambda v: (name, v))
        ),
        st.tuples(junk, junk),
    ),
    max_size=6,
)
statuses = st.one_of(
    st.sampled_from([200, 200, 200, 301, 302, 304, 308, 404, 429, 500, 503]),
    st.integers(0, 999),
)
status_lines = st.one_of(
    st.builds(lambda code, reason: f"HTTP/1.1 {code} {reason}", statuses, junk),
    st.builds(lambda code: f"HTTP/1.0 {code} X", statuses),
    junk,
)
bodies = st.one_of(
    st.binary(max_size=3000),
    st.just(FEED),
    st.binary(max_size=2000).map(lambda b: gzip.compress(FEED[:500] + b)),
    st.just(gzip.compress(b"\0" * 3_000_000)),  # inflates past the 1 MB cap below
    st.binary(max_size=500).map(lambda b: zlib.compress(b)),
    st.binary(max_size=500).map(lambda b: gzip.compress(FEED[:300]) + b),  # members or junk
)


def encode(status_line: str, header_list, body: bytes) -> bytes:
    lines = [status_line] + [f"{name}: {value}" for name, value in header_list]
    head = "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n"
    return head + body


def fuzz_profile(examples: int):
    """Hypothesis settings for responses from the module's one raw server (a shared fixture,
    hence the health check), with no per-example deadline: a loaded machine must not fail."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def check_bounded(error: SourceError | None) -> None:
    retry_after = error.retry_after if error else None
    if retry_after is not None:
        assert 0 <= retry_after <= MAX_RETRY_AFTER
    delay = next_poll_delay(900, 1 if error else 0, retry_after)
    assert 0 < delay <= MAX_BACKOFF
    datetime.now(UTC) + timedelta(seconds=delay)  # the store's arithmetic never overflows


@fuzz_profile(150)
@given(status_line=status_lines, header_list=headers, body=bodies)
def test_any_response_is_a_response_or_one_line_error(raw_server, status_line, header_list, body):
    raw_server.reply = encode(status_line, header_list, body)
    fetcher = HttpFetcher("fuzz", timeout=2, deadline=4, max_bytes=1_000_000)
    try:
        response = fetcher.get(raw_server.url())
    except SourceError as exc:
        message = str(exc)
        assert message.startswith("source 'fuzz': ") and "\n" not in message
        check_bounded(exc)
    else:
        assert isinstance(response, Response)
        assert 200 <= response.status < 300 or response.status == 304
        assert len(response.body) <= 1_000_000
        check_bounded(None)


@fuzz_profile(60)
@given(status_line=status_lines, header_list=headers, body=bodies)
def test_a_feed_source_never_fails_the_run(raw_server, status_line, header_list, body):
    raw_server.reply = encode(status_line, header_list, body)
    config = source_config("rss", Path("."), "fuzz", url=raw_server.url(), timeout=2)
    result, status = fetch_once(config, {"etag": '"x"'})
    if status.ok:
        assert status.items == len(result.items)
    else:
        assert "\n" not in status.error, status.error
        assert not status.error.startswith("source 'fuzz': unexpected "), status.error  # a bug
        assert status.cursor == {"etag": '"x"'}  # a failure keeps the old cursor
        if status.retry_after is not None:
            assert 0 <= status.retry_after <= MAX_RETRY_AFTER
