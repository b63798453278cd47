"""Benchmark the event-driven mode (not a test): ingest -> Kafka -> stream -> DuckDB and feeds.

Starts a Tansu broker on a free loopback port (or uses --bootstrap), runs `pln stream` and
`pln ingest` as child processes, and prints:
  - throughput: N tweets written as JSONL pages for the ingester, until all N are in DuckDB
    (items/s, measured from the first page written to the last row committed);
  - latency at a steady rate: items produced straight to the raw topic at --rate items/s;
    latency = the row's first_seen_at in DuckDB (set in the commit) - the send time.

    python bench/bench_stream.py [--items 20000] [--rate 100] [--seconds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest_kafka import (  # noqa: E402
    db_rows,
    kill,
    pln_process,
    wait_for,
    write_config,
    write_tweets,
)
from kafka_broker import start_broker  # noqa: E402

from pln import payload  # noqa: E402
from pln.pipelines.kafka_io import KafkaSettings, ReliableProducer  # noqa: E402
from pln.record import Item  # noqa: E402


def count(db: Path, platform: str = "twitter") -> int:
    rows = db_rows(db, f"SELECT count(*) FROM items WHERE platform = '{platform}'")
    return rows[0][0] if rows else 0


def throughput(folder: Path, settings: KafkaSettings, db: Path, n: int, page: int = 2000) -> float:
    start = time.perf_counter()
    for first in range(0, n, page):
        write_tweets(
            folder, f"bench-{first:07d}", range(first, min(n, first + page)), first % 2 == 0
        )
    wait_for(lambda: count(db) >= n, 600, f"{n} items", every=0.1)
    return n / (time.perf_counter() - start)


def latency(settings: KafkaSettings, db: Path, rate: float, seconds: float) -> list[float]:
    producer = ReliableProducer(settings, say=print)
    sent: dict[str, datetime] = {}
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        item = Item.create(
            source="bench",
            platform="bench",
            native_id=f"lat-{i}",
            kind="post",
            text=f"Note {i}: spaced repetition and retrieval practice, week {i % 52}",
        )
        sent[item.id] = datetime.now(UTC)
        producer.send_all(settings.raw_topic, [(item.id.encode(), payload.encode_item(item))])
    producer.close()
    wait_for(lambda: count(db, "bench") >= len(sent), 60, "the latency items", every=0.2)
    rows = db_rows(db, "SELECT id, first_seen_at FROM items WHERE platform = 'bench'")
    return [(seen - sent[item_id]).total_seconds() for item_id, seen in rows if item_id in sent]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=100.0, help="items/s for the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--bootstrap", help="use this broker instead of starting Tansu")
    args = parser.parse_args()

    broker = None if args.bootstrap else start_broker()
    bootstrap = args.bootstrap or broker.bootstrap
    tag = f"{time.time_ns():x}"
    settings = KafkaSettings(
        bootstrap=bootstrap, raw_topic=f"bench-raw-{tag}", curated_topic=f"bench-cur-{tag}"
    )
    procs = []
    try:
        with tempfile.TemporaryDirectory(prefix="pln-bench-stream-") as tmp:
            folder = Path(tmp)
            config = write_config(folder, interval=1.0)
            db = folder / "out" / "pln.duckdb"
            common = (
                "-c",
                str(config),
                "--bootstrap",
                bootstrap,
                "--raw-topic",
                settings.raw_topic,
            )
            procs.append(
                pln_process(
                    "stream",
                    *common,
                    "--curated-topic",
                    settings.curated_topic,
                    log=folder / "stream.log",
                )
            )
            procs.append(pln_process("ingest", *common, log=folder / "ingest.log"))
            write_tweets(folder, "warm-up", [10**8])  # wait until both ends are up
            wait_for(lambda: count(db) >= 1, 120, "the warm-up item")

            rate = throughput(folder, settings, db, args.items)
            print(
                f"throughput: {args.items:,} items ingest -> stream -> DuckDB: {rate:,.0f} items/s"
            )

            lat = sorted(latency(settings, db, args.rate, args.seconds))
            p95 = lat[int(0.95 * (len(lat) - 1))]
            print(
                f"latency at {args.rate:g} items/s for {args.seconds:g}s ({len(lat)} items), "
                f"produce -> visible in DuckDB: median {statistics.median(lat):.3f}s, "
                f"p95 {p95:.3f}s, max {lat[-1]:.3f}s"
            )
    finally:
        for proc in procs:
            kill(proc)
        if broker:
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
