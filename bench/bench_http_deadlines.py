"""How soon pln's fetch limits cut a bad server off (not a test: the tests assert what is cut
and what the message says; the seconds live here, where a loaded machine cannot fail a build).

Against a real HTTP server on 127.0.0.1 (tests/httpserver.py) it times, `--repeat` times each:
  - a server that never answers, read timeout 0.3 s (HttpFetcher);
  - a body that drips 64 bytes every 0.1 s, deadline 0.6 s (HttpFetcher), side by side with
    urllib.request and the same 0.3 s timeout, which has no total deadline (its drip is
    shortened to about 3 s so the run ends);
  - a 5 MB body against a 1 MB cap;
  - gzip bodies, HttpFetcher (which inflates what it reads itself) side by side with urllib3's
    own decoding (`read1(amt, decode_content=True)`, bounded output since urllib3 2.6) under
    the same per-read timeout, deadline and cap: a gzip stream of empty blocks that never
    yields a byte, dripped (deadline 0.6 s; shortened to about 3 s for urllib3), sent at once
    as 2 MB against a 100 KB cap, and sent without end (the server stops after 5 s); and the
    client CPU of 300 GETs of a 60 KB feed, gzipped and plain;
  - a fetch pool of 10 fast feeds and 3 silent servers: when the last fast feed finished, and
    when the slow ones were given up (source deadline 2 s);
  - a billion-laughs feed file (entity bomb), read by FeedSource: seconds and peak memory
    (tracemalloc).
It prints, per case, the limit, the median and the worst time, and the worst overrun.

    python bench/bench_http_deadlines.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import socketserver
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.request
from collections.abc import Callable
from pathlib import Path

import urllib3

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers import billion_laughs  # noqa: E402
from httpserver import RecordedServer, SilentServer, gzip_of_nothing, gzipped  # noqa: E402

from pln.config import SourceConfig  # noqa: E402
from pln.errors import SourceError  # noqa: E402
from pln.sources.fetch_pool import FetchPool  # noqa: E402
from pln.sources.http import HttpFetcher  # noqa: E402
from pln.sources.registry import build_source  # noqa: E402

FEED = (REPO / "tests" / "fixtures" / "feeds" / "rss2.xml").read_bytes()
DRIP = b"x" * 64 * 300  # 30 s at 64 bytes per 0.1 s


def outcome(call: Callable[[], object]) -> tuple[float, str]:
    """Seconds until `call` returned or raised, and what happened."""
    started = time.perf_counter()
    try:
        body = call()
    except (SourceError, OSError, ValueError) as exc:
        text = str(exc).split(": ", 1)[-1]
        return time.perf_counter() - started, f"error: {text[:70]}"
    return time.perf_counter() - started, f"returned {len(getattr(body, 'body', body))} bytes"


def seconds_until_error(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    with contextlib.suppress(SourceError, OSError):
        call()
    return time.perf_counter() - started


def row(case: str, limit: float | None, times: list[float]) -> None:
    worst = max(times)
    over = f"{worst - limit:+6.2f} s" if limit is not None else "      -"
    limit_text = f"{limit:5.2f} s" if limit is not None else "   none"
    print(
        f"{case:<50} limit {limit_text}  median {statistics.median(times):6.2f} s  "
        f"worst {worst:6.2f} s  worst overrun {over}"
    )


def bench_fetcher(server: RecordedServer, repeat: int) -> None:
    server.route("/silent", body=FEED, delay=30)
    server.route("/drip", body=DRIP, chunk_delay=0.1)
    server.route("/short-drip", body=DRIP[: 64 * 30], chunk_delay=0.1)  # about 3 s
    server.route("/huge", body=b"x" * 5_000_000)
    fetcher = HttpFetcher("bench", timeout=0.3, deadline=0.6)
    silent = [
        seconds_until_error(lambda: fetcher.get(server.url("/silent"))) for _ in range(repeat)
    ]
    row("silent server, HttpFetcher timeout", 0.3, silent)
    drip = [seconds_until_error(lambda: fetcher.get(server.url("/drip"))) for _ in range(repeat)]
    row("dripping body, HttpFetcher deadline", 0.6, drip)

    def urllib_read():
        with urllib.request.urlopen(server.url("/short-drip"), timeout=0.3) as response:
            response.read()

    plain = [seconds_until_error(urllib_read) for _ in range(max(1, repeat // 2))]
    row("dripping body (3 s), urllib timeout=0.3", None, plain)
    capped = HttpFetcher("bench", timeout=5, max_bytes=1_000_000)
    huge = [seconds_until_error(lambda: capped.get(server.url("/huge"))) for _ in range(repeat)]
    row("5 MB body, 1 MB cap", None, huge)


GZIP_HEADERS = {"Content-Encoding": "gzip"}
_urllib3_pool = urllib3.PoolManager()


def urllib3_decoding_get(url: str, timeout: float, deadline: float, max_bytes: int) -> bytes:
    """The alternative to HttpFetcher's own inflating: urllib3 decodes, read in bounded steps
    with the same per-read timeout (cut to the deadline) and cap on decoded and wire bytes."""
    ends_at = time.monotonic() + deadline
    raw = _urllib3_pool.request(
        "GET",
        url,
        headers={"Accept-Encoding": "gzip, deflate"},
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=False,
        redirect=False,
        preload_content=False,
    )
    parts, size = [], 0
    try:
        while True:
            left = ends_at - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"gave up after {deadline:g} s (deadline)")
            sock = getattr(raw.connection, "sock", None)
            if sock is not None:
                sock.settimeout(min(timeout, left))
            chunk = raw.read1(64 * 1024, decode_content=True)
            if not chunk:
                return b"".join(parts)
            size += len(chunk)
            if size > max_bytes or raw.tell() > max_bytes:
                raise ValueError(f"response larger than {max_bytes} bytes")
            parts.append(chunk)
    finally:
        raw.release_conn()


class EndlessGzipServer:
    """Answers every GET with a gzip body of empty blocks, sent as fast as the client reads,
    for `seconds`; `sent` counts the body bytes. A hostile server would never stop."""

    def __init__(self, seconds: float):
        self.seconds, self.sent = seconds, 0
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                head = b""
                while b"\r\n\r\n" not in head:
                    data = self.request.recv(4096)
                    if not data:
                        return
                    head += data
                self.request.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"
                    + gzip_of_nothing(0)
                )
                block = gzip_of_nothing(64 * 1024 // 5)[len(gzip_of_nothing(0)) :]
                ends_at = time.monotonic() + owner.seconds
                with contextlib.suppress(OSError):
                    while time.monotonic() < ends_at:
                        self.request.sendall(block)
                        owner.sent += len(block)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/feed"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def bench_decoding(server: RecordedServer, repeat: int) -> None:
    drip = gzip_of_nothing(64 * 300 // 5)  # 30 s at 64 bytes per 0.1 s
    server.route("/nothing-drip", headers=GZIP_HEADERS, body=drip, chunk_delay=0.1)
    server.route("/nothing-short", headers=GZIP_HEADERS, body=drip[: 64 * 30], chunk_delay=0.1)
    server.route("/padding", headers=GZIP_HEADERS, body=gzip_of_nothing(400_000), chunked=True)
    fetcher = HttpFetcher("bench", timeout=0.3, deadline=0.6)
    capped = HttpFetcher("bench", timeout=5, max_bytes=100_000)
    few = max(1, repeat // 2)
    cases = [
        (
            "gzip of nothing dripped 30 s, HttpFetcher",
            0.6,
            repeat,
            server.url("/nothing-drip"),
            fetcher.get,
        ),
        (
            "gzip of nothing dripped 3 s, urllib3 decodes",
            0.6,
            few,
            server.url("/nothing-short"),
            lambda url: urllib3_decoding_get(url, 0.3, 0.6, 10**9),
        ),
        (
            "2 MB gzip of nothing, 100 KB cap, HttpFetcher",
            None,
            repeat,
            server.url("/padding"),
            capped.get,
        ),
        (
            "2 MB gzip of nothing, 100 KB cap, urllib3",
            None,
            repeat,
            server.url("/padding"),
            lambda url: urllib3_decoding_get(url, 5, 15, 100_000),
        ),
    ]
    for case, limit, times, url, get in cases:
        results = [outcome(lambda: get(url)) for _ in range(times)]  # noqa: B023
        row(case, limit, [seconds for seconds, _ in results])
        print(f"{'':<50} {results[-1][1]}")
    for name, get in (
        ("HttpFetcher", HttpFetcher("bench", timeout=0.3, deadline=0.6).get),
        ("urllib3 decodes", lambda url: urllib3_decoding_get(url, 0.3, 0.6, 20 * 1024 * 1024)),
    ):
        with EndlessGzipServer(seconds=5) as endless:
            seconds, what = outcome(lambda: get(endless.url()))  # noqa: B023
        row(f"endless gzip of nothing (5 s), {name}", 0.6, [seconds])
        print(f"{'':<50} {what}; {endless.sent / 1e6:.0f} MB sent")
    bench_decoding_cpu(server, repeat)


def bench_decoding_cpu(server: RecordedServer, repeat: int) -> None:
    feed = FEED * 21  # about 60 KB
    server.route("/feed.gz", headers=GZIP_HEADERS, body=gzipped(feed))
    server.route("/feed.xml", body=feed)
    plain = HttpFetcher("bench", timeout=5)
    ways = {
        f"{path}, {name}": (server.url(f"/{path}"), get)
        for path in ("feed.gz", "feed.xml")
        for name, get in (
            ("HttpFetcher", lambda url: plain.get(url).body),
            ("urllib3 decodes", lambda url: urllib3_decoding_get(url, 5, 15, 10**8)),
        )
    }
    for url, get in ways.values():
        assert get(url) == feed
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeat):
        for name, (url, get) in ways.items():  # interleaved: load on the machine hits all alike
            started = time.thread_time()
            for _ in range(300):
                get(url)
            cpu[name].append(time.thread_time() - started)
    for name in ways:
        row(f"300 GETs (60 KB) {name}, CPU", None, cpu[name])


def rss(name: str, url: str, **options) -> SourceConfig:
    return SourceConfig(name, "rss", {"url": url, **options}, Path("."), "bench.yaml", name)


def bench_pool(server: RecordedServer, repeat: int) -> None:
    server.route("/fast.xml", body=FEED)
    fast_done, slow_done = [], []
    for _ in range(repeat):
        pool = FetchPool(concurrency=8, per_host=8, source_deadline=2)
        with SilentServer() as silent:
            for i in range(3):
                pool.add(rss(f"slow{i}", silent.url("/slow.xml"), timeout=60))
            for i in range(10):
                pool.add(rss(f"fast{i}", server.url("/fast.xml")))
            started = time.perf_counter()
            for fetched in pool.drain():
                at = time.perf_counter() - started
                (slow_done if fetched.config.name.startswith("slow") else fast_done).append(at)
    row("pool: 10 fast feeds beside 3 silent ones", None, fast_done)
    row("pool: the 3 silent ones, source deadline", 2.0, slow_done)


def bench_entity_bomb(repeat: int) -> None:
    bomb = billion_laughs()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bomb.xml").write_bytes(bomb)
        source = build_source(
            SourceConfig("blog", "rss", {"path": "bomb.xml"}, Path(tmp), "bench.yaml", "blog")
        )
        times, peaks = [], []
        for _ in range(repeat):
            tracemalloc.start()
            started = time.perf_counter()
            source.fetch(None)
            times.append(time.perf_counter() - started)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    row("entity bomb feed file, FeedSource.fetch", None, times)
    print(f"{'':<50} peak memory {max(peaks) / 1e6:.1f} MB (traced)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with RecordedServer() as server:
        bench_fetcher(server, args.repeat)
        bench_decoding(server, args.repeat)
        bench_pool(server, args.repeat)
    bench_entity_bomb(args.repeat)


if __name__ == "__main__":
    main()
