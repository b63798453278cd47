"""Soak the local stream (not a test): memory and CPU of `pln stream` left running.

Phases: idle for --idle minutes, --rate items/s for --busy minutes, idle again for --idle
minutes (30 minutes by default). Every --every seconds it samples the resident memory of the
stream's whole process tree (loader and workers) and prints the curve, then the growth from
the end of the first idle phase to the end, and the CPU used while idle (% of one core).

    python bench/bench_soak.py [--idle 10] [--busy 10] [--rate 100] [--workers 2] [--held N]

`--held N` starts the stream on a store that already holds N items (a store a year old:
tests/big_store.py), so its feeds, snapshot and memory cap work at that size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from stream_kit import (
    KafkaSettings,
    ReliableProducer,
    fill_store,
    make_items,
    start_broker,
    stream_process,
    tree_cpu_seconds,
    tree_rss_mb,
    wait_until,
    write_config,
)

from pln import payload
from pln.config import load_config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=10.0, help="minutes idle, before and after")
    parser.add_argument("--busy", type=float, default=10.0, help="minutes at --rate")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--held", type=int, default=0, help="items in the store at the start")
    args = parser.parse_args()

    broker = start_broker()
    tag = f"{time.time_ns():x}"
    settings = KafkaSettings(
        bootstrap=broker.bootstrap, raw_topic=f"soak-raw-{tag}", curated_topic=f"soak-cur-{tag}"
    )
    samples: list[tuple[float, str, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="pln-soak-") as tmp:
            folder = Path(tmp)
            config = write_config(folder)
            if args.held:
                fill_store(load_config(config).outputs.duckdb, args.held, "spaced")
                print(f"the store holds {args.held:,} items", flush=True)
            proc = stream_process(
                config, settings, "--workers", str(args.workers), log=folder / "stream.log"
            )
            producer = ReliableProducer(settings, say=print)
            first = make_items([0], tag="first")[0]
            producer.send_all(settings.raw_topic, [(first.id.encode(), payload.encode_item(first))])
            wait_until(lambda: (folder / "out" / "pln.read.duckdb").exists(), 180)
            start = time.monotonic()

            def sample(phase: str) -> None:
                minute = (time.monotonic() - start) / 60
                samples.append((minute, phase, tree_rss_mb(proc.pid)))
                print(f"{minute:6.1f} min  {phase:5}  {samples[-1][2]:7.1f} MB", flush=True)

            def idle(minutes: float, phase: str) -> float:
                cpu0, t0 = tree_cpu_seconds(proc.pid), time.monotonic()
                end = t0 + minutes * 60
                while time.monotonic() < end:
                    sample(phase)
                    time.sleep(min(args.every, max(0.0, end - time.monotonic())))
                return 100 * (tree_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)

            idle_cpu = [idle(args.idle, "idle")]
            base = samples[-1][2]
            end = time.monotonic() + args.busy * 60
            n, next_sample = 0, 0.0
            t0 = time.monotonic()
            while time.monotonic() < end:  # paced sends, acknowledged in batches of 0.1 s
                due = int((time.monotonic() - t0) * args.rate)
                batch = make_items(range(n, due), tag="soak")
                if batch:
                    producer.send_all(
                        settings.raw_topic,
                        [(it.id.encode(), payload.encode_item(it)) for it in batch],
                    )
                n = max(n, due)
                if time.monotonic() >= next_sample:
                    sample("busy")
                    next_sample = time.monotonic() + args.every
                time.sleep(0.1)
            idle_cpu.append(idle(args.idle, "idle"))
            producer.close()
            proc.terminate()
            proc.wait(timeout=60)
    finally:
        broker.stop()
    peak = max(mb for _, _, mb in samples)
    print(
        f"\n{n:,} items at {args.rate:g}/s; memory at the first sample {samples[0][2]:.0f} MB, "
        f"after the first idle phase {base:.0f} MB, "
        f"at the end {samples[-1][2]:.0f} MB ({samples[-1][2] - base:+.0f} MB), peak {peak:.0f} MB;"
        f" CPU while idle {idle_cpu[0]:.2f}% and {idle_cpu[1]:.2f}% of one core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
