"""Benchmark the event-driven mode (not a test): raw topic -> pln stream -> DuckDB + feeds.

Starts a Tansu broker on a free loopback port (or uses --bootstrap) and prints:

1. throughput: --items posts (half on topic) waiting in a 4-partition raw topic, drained by
   `pln stream --workers W --until-idle 3` for each W in --workers; items/s from the first
   row committed to the last (and wall time with start-up), peak memory of the process tree;
2. latency and readers at a steady --rate (items/s) for --seconds, against a running stream:
   produce -> committed in DuckDB (the stream's own measure, from Kafka timestamps), and what
   a plain DuckDB client sees: it opens the read snapshot (no retry) every 0.2 s, counts the
   opens that fail, and how old the newest item it sees is.

    python bench/bench_stream.py [--items 50000] [--workers 1 2] [--rate 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from stream_kit import (
    KafkaSettings,
    ReliableProducer,
    ensure_topics,
    make_items,
    produce,
    start_broker,
    stream_process,
    tree_rss_mb,
    wait_until,
    write_config,
)

from pln import payload
from pln.sinks.snapshot import snapshot_path


def settings_for(bootstrap: str, tag: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap=bootstrap,
        raw_topic=f"bench-raw-{tag}",
        curated_topic=f"bench-cur-{tag}",
        partitions=4,
    )


def throughput(bootstrap: str, items, workers: int, folder: Path) -> dict:
    settings = settings_for(bootstrap, f"t{workers}-{time.time_ns():x}")
    ensure_topics(settings, [settings.raw_topic, settings.curated_topic], say=print)
    produce(settings, items)
    config = write_config(folder / f"w{workers}")
    log = folder / f"w{workers}.log"
    started = time.perf_counter()
    proc = stream_process(config, settings, "--workers", str(workers), "--until-idle", "3", log=log)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"stream failed:\n{log.read_text()[-2000:]}")
    db = config.parent / "out" / "pln.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        n, first, last = con.execute(
            "SELECT count(*), min(first_seen_at), max(first_seen_at) FROM items"
        ).fetchone()
    span = (last - first).total_seconds()
    return {
        "workers": workers,
        "items": n,
        "items_per_s": n / span if span else float("nan"),
        "wall_s": wall,
        "peak_mb": peak,
    }


def steady(bootstrap: str, rate: float, seconds: float, folder: Path, workers: int) -> dict:
    settings = settings_for(bootstrap, f"lat-{time.time_ns():x}")
    config = write_config(folder / "steady")
    db = config.parent / "out" / "pln.duckdb"
    log = folder / "steady.log"
    proc = stream_process(config, settings, "--workers", str(workers), log=log)
    producer = ReliableProducer(settings, say=print)
    try:
        warm = make_items([0], tag="warm")
        producer.send_all(settings.raw_topic, [(warm[0].id.encode(), payload.encode_item(warm[0]))])
        wait_until(lambda: snapshot_path(db).exists(), 120)
        reads = {"ok": 0, "failed": 0, "staleness": []}
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    with duckdb.connect(str(snapshot_path(db)), read_only=True) as con:
                        newest = con.execute("SELECT max(first_seen_at) FROM items").fetchone()[0]
                    reads["ok"] += 1
                    if newest is not None:
                        age = (datetime.now(UTC) - newest).total_seconds()
                        reads["staleness"].append(age)
                except duckdb.Error:
                    reads["failed"] += 1
                time.sleep(0.2)

        thread = threading.Thread(target=reader)
        thread.start()
        total = int(rate * seconds)
        items = make_items(range(total), tag="steady")
        start = time.perf_counter()
        for i, item in enumerate(items):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            producer.send_all(settings.raw_topic, [(item.id.encode(), payload.encode_item(item))])
        time.sleep(3)
        stop.set()
        thread.join()
    finally:
        producer.close()
        proc.terminate()
        proc.wait(timeout=60)
    with duckdb.connect(str(db), read_only=True) as con:
        stats = json.loads(
            con.execute("SELECT stats FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
        )
    stale = sorted(reads["staleness"])
    attempts = reads["ok"] + reads["failed"]
    return {
        "p50_commit_s": stats.get("latency_p50_s"),
        "p95_commit_s": stats.get("latency_p95_s"),
        "reader_success": reads["ok"] / attempts if attempts else float("nan"),
        "reader_attempts": attempts,
        "staleness_p95_s": stale[int(0.95 * (len(stale) - 1))] if stale else float("nan"),
        "staleness_median_s": statistics.median(stale) if stale else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rate", type=float, default=100.0, help="items/s for the steady run")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the steady run")
    parser.add_argument("--bootstrap", help="use this broker instead of starting Tansu")
    args = parser.parse_args()

    broker = None if args.bootstrap else start_broker()
    bootstrap = args.bootstrap or broker.bootstrap
    try:
        with tempfile.TemporaryDirectory(prefix="pln-bench-stream-") as tmp:
            folder = Path(tmp)
            items = make_items(range(args.items))
            for workers in args.workers if args.items else ():
                r = throughput(bootstrap, items, workers, folder)
                print(
                    f"throughput, {workers} worker(s): {r['items']:,} items raw topic -> DuckDB"
                    f" + feeds at {r['items_per_s']:,.0f} items/s "
                    f"(wall {r['wall_s']:.1f} s with start-up; peak {r['peak_mb']:.0f} MB)",
                    flush=True,
                )
            if args.seconds > 0:
                s = steady(bootstrap, args.rate, args.seconds, folder, max(args.workers))
                print(
                    f"steady {args.rate:g} items/s for {args.seconds:g} s: produce -> committed "
                    f"p50 {s['p50_commit_s']} s, p95 {s['p95_commit_s']} s; a plain DuckDB "
                    f"reader on the snapshot: {s['reader_success']:.1%} of "
                    f"{s['reader_attempts']} opens succeeded, newest item seen "
                    f"{s['staleness_median_s']:.2f} s old (median), "
                    f"{s['staleness_p95_s']:.2f} s (p95)"
                )
    finally:
        if broker:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
