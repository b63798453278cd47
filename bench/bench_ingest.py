"""The ingester's first round over many blogs, by how many feeds it fetches at once (not a test).

Generates --feeds RSS feeds x --entries entries (bench_peers' corpus), serves them from a local
HTTP server that waits --latency ms before every answer (as servers across the internet do),
starts a Tansu broker on a free loopback port, and times `Ingester` from its start until every
feed was polled and its items acknowledged by the broker, once for each --concurrency
(`fetch.concurrency`; 1 is how the ingester fetched before: one source after the other).

    python bench/bench_ingest.py [--feeds 500] [--entries 50] [--latency 100] [--concurrency 1 32]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_peers import make_corpus, start_server  # noqa: E402
from kafka_broker import start_broker  # noqa: E402

from pln.config import load_config  # noqa: E402
from pln.pipelines.ingest import Ingester  # noqa: E402
from pln.pipelines.kafka_io import KafkaSettings  # noqa: E402


def config_for(work: Path, port: int, feeds: int, concurrency: int) -> Path:
    lines = ["sources:"]
    for i in range(feeds):
        url = f"http://127.0.0.1:{port}/feed{i:04d}.xml"
        lines.append(f'  - {{name: blog{i:04d}, type: rss, url: "{url}", interval: 3600}}')
    lines += [
        "topics:\n  - {id: learning, phrases: [spaced repetition]}",
        f"outputs: {{duckdb: {work}/out/pln.duckdb}}",
        # One local server stands for many hosts: the per-host limit is the pool's.
        f"fetch: {{concurrency: {concurrency}, per_host: {concurrency}}}",
    ]
    path = work / f"pln-{concurrency}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def first_round(config_path: Path, bootstrap: str, feeds: int, tag: str) -> tuple[float, int]:
    """(seconds until every feed was polled and acknowledged, items sent)."""
    settings = KafkaSettings(bootstrap=bootstrap, raw_topic=f"bench-ingest-{tag}")
    state = config_path.with_suffix(".state.json")
    ingester = Ingester(load_config(config_path), settings, state, say=lambda line: None)
    stop = threading.Event()
    started = time.perf_counter()
    runner = threading.Thread(target=ingester.run, kwargs={"stop": stop})
    runner.start()
    while ingester.sent["polls"] < feeds and runner.is_alive():
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    stop.set()
    runner.join()
    return seconds, ingester.sent["items"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--latency", type=float, default=100.0, help="ms before each answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pln-bench-ingest-") as tmp:
        work = Path(tmp)
        make_corpus(work / "feeds", args.feeds, args.entries)
        server, port = start_server(work / "feeds", args.latency / 1000)
        broker = start_broker()
        try:
            print(f"{args.feeds} feeds x {args.entries} entries, {args.latency:g} ms a request")
            print(f"{'fetch.concurrency':>18} {'first round':>12} {'items/s':>9}")
            for n in args.concurrency:
                config = config_for(work, port, args.feeds, n)
                seconds, items = first_round(config, broker.bootstrap, args.feeds, f"{n}")
                print(f"{n:>18} {seconds:>11.1f}s {items / seconds:>9,.0f}", flush=True)
        finally:
            broker.stop()
            server.terminate()


if __name__ == "__main__":
    main()
