"""How soon pln's fetch limits cut a bad server off (not a test: the tests assert what is cut
and what the message says; the seconds live here, where a loaded machine cannot fail a build).

Against a real HTTP server on 127.0.0.1 (tests/httpserver.py) it times, `--repeat` times each:
  - a server that never answers, read timeout 0.3 s (HttpFetcher);
  - a body that drips 64 bytes every 0.1 s, deadline 0.6 s (HttpFetcher), side by side with
    urllib.request and the same 0.3 s timeout, which has no total deadline (its drip is
    shortened to about 3 s so the run ends);
  - a 5 MB body against a 1 MB cap;
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
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from helpers import billion_laughs  # noqa: E402
from httpserver import RecordedServer, SilentServer  # noqa: E402

from pln.config import SourceConfig  # noqa: E402
from pln.errors import SourceError  # noqa: E402
from pln.sources.fetch_pool import FetchPool  # noqa: E402
from pln.sources.http import HttpFetcher  # noqa: E402
from pln.sources.registry import build_source  # noqa: E402

FEED = (REPO / "tests" / "fixtures" / "feeds" / "rss2.xml").read_bytes()
DRIP = b"x" * 64 * 300  # 30 s at 64 bytes per 0.1 s


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
        f"{case:<46} limit {limit_text}  median {statistics.median(times):6.2f} s  "
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
    print(f"{'':<46} peak memory {max(peaks) / 1e6:.1f} MB (traced)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with RecordedServer() as server:
        bench_fetcher(server, args.repeat)
        bench_pool(server, args.repeat)
    bench_entity_bomb(args.repeat)


if __name__ == "__main__":
    main()
