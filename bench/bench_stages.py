"""Where a batch worker's CPU goes, per item, on the issue-11 corpus (not a test).

Two measures, in this process, on bench_peers' 500 feeds x 50 entries:
  - stages: parse (feed bytes -> Items), curate (`curate_items` in batches of 1,000), tables
    (`CuratedTables.of`) and pickling, each timed alone, best of `--repeat`;
  - worker loop: the local engine's `_fetch_and_curate` over every feed, from files and over
    HTTP from a local server (a separate process), with user and system CPU and voluntary
    context switches: what fetching with threads beside the curating thread costs;
  - GETs alone: the 500 feeds fetched with `HttpFetcher`, one at a time and 16 threads at once.

    .venv/bin/python bench/bench_stages.py [--repeat 3] [--skip-http] [--style plain|blog]
"""

from __future__ import annotations

import argparse
import os
import pickle
import queue
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peers  # noqa: E402


def stages(config, repeat: int) -> dict[str, float]:
    """Best CPU µs per item of each stage."""
    from pln.filters.curator import Curator
    from pln.pipelines.polls import curate_items
    from pln.pipelines.tables import CuratedTables
    from pln.sources.rss import FeedSource

    curator = Curator.for_config(config)
    curator.setup()
    feeds = [(FeedSource(s), Path(s.options["path"]).read_bytes()) for s in config.sources]
    best: dict[str, float] = {}
    for _ in range(repeat):
        started = time.process_time()
        items = [item for source, data in feeds for item in source.parse(data).items]
        parsed = time.process_time()
        curated = [curate_items(curator, items[i : i + 1000]) for i in range(0, len(items), 1000)]
        done = time.process_time()
        tables = [CuratedTables.of(good, decisions) for good, decisions, _ in curated]
        tabled = time.process_time()
        pickle.dumps(tables)
        pickled = time.process_time()
        times = zip(
            ("parse", "curate", "tables", "pickle"),
            (parsed - started, done - parsed, tabled - done, pickled - tabled),
            strict=True,
        )
        for name, seconds in times:
            best[name] = min(best.get(name, 1e9), seconds / len(items) * 1e6)
    return best


class _Outbox:
    """What `_fetch_and_curate` sends to the parent, pickled and dropped."""

    parent_pid = os.getppid()

    def put(self, message) -> None:
        pickle.dumps(message)


def worker_loop(config, repeat: int) -> tuple[float, float, float]:
    """Best (user µs, system µs, voluntary context switches) per item of the worker's loop."""
    from pln.filters.curator import Curator
    from pln.pipelines import local_batch
    from pln.pipelines.probe import SourceTask

    curator = Curator.for_config(config)
    curator.setup()
    best = (1e9, 1e9, 1e9)
    for _ in range(repeat):
        todo: queue.Queue = queue.Queue()
        for source in config.sources:
            todo.put(SourceTask(source, None))
        todo.put(None)
        before = resource.getrusage(resource.RUSAGE_SELF)
        local_batch._fetch_and_curate(curator, config, todo, _Outbox())
        after = resource.getrusage(resource.RUSAGE_SELF)
        n = 500 * 50
        user = (after.ru_utime - before.ru_utime) / n * 1e6
        system = (after.ru_stime - before.ru_stime) / n * 1e6
        if user + system < sum(best[:2]):
            best = (user, system, (after.ru_nvcsw - before.ru_nvcsw) / n)
    return best


def gets(urls: list[str], threads: int) -> tuple[float, float, float]:
    """(user ms, system ms, voluntary context switches) per GET of urls, `threads` at once."""
    from concurrent.futures import ThreadPoolExecutor

    from pln.sources.http import HttpFetcher

    fetcher = HttpFetcher("bench")
    before = resource.getrusage(resource.RUSAGE_SELF)
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(fetcher.get, urls):
            pass
    after = resource.getrusage(resource.RUSAGE_SELF)
    n = len(urls)
    return (
        (after.ru_utime - before.ru_utime) / n * 1e3,
        (after.ru_stime - before.ru_stime) / n * 1e3,
        (after.ru_nvcsw - before.ru_nvcsw) / n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--style", choices=("plain", "blog"), default="plain")
    args = parser.parse_args()
    from pln.config import load_config

    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        work = Path(tmp)
        bench_peers.make_corpus(work / "feeds", 500, 50, style=args.style)
        files = sorted((work / "feeds").glob("*.xml"))
        config = load_config(bench_peers.pln_config(work, [str(f) for f in files], "path", 2))
        cost = stages(config, args.repeat)
        print("CPU µs per item: " + ", ".join(f"{k} {v:.1f}" for k, v in cost.items()))
        user, system, switches = worker_loop(config, args.repeat)
        print(
            f"worker loop, files: user {user:.1f} µs, system {system:.1f} µs, {switches:.3f} "
            "voluntary context switches per item"
        )
        if args.skip_http:
            return
        server, port = bench_peers.start_server(work / "feeds")
        try:
            urls = [f"http://127.0.0.1:{port}/{f.name}" for f in files]
            http = load_config(bench_peers.pln_config(work, urls, "url", 2))
            user, system, switches = worker_loop(http, args.repeat)
            alone = {threads: gets(urls, threads) for threads in (1, 16, 1, 16)}
        finally:
            server.terminate()
        print(
            f"worker loop, HTTP:  user {user:.1f} µs, system {system:.1f} µs, {switches:.3f} "
            "voluntary context switches per item"
        )
        for threads, (user, system, switches) in alone.items():  # the second round of each
            print(
                f"GETs alone, {threads:2d} at once: user {user:.3f} ms, system {system:.3f} ms, "
                f"{switches:.1f} voluntary context switches per GET"
            )


if __name__ == "__main__":
    main()
