"""The store left running: what a year of items costs the everyday operations (not a test).

Fills one DuckDB file with RSS-like items (20% kept for one topic, story keys, as
`bench_store_write.py` makes them) up to each size, and at each size times, on a copy:
  - a daily run's write: 2,500 new items;
  - a stream poll's write: 3 items (median of 10);
  - the feed query: a topic's latest 50 stories (`Store.feed_entries_by_topic`, median of 5);
  - the stream's read snapshot: a checkpoint and a copy of the file (`publish_snapshot`,
    median of 3), beside DuckDB's `COPY FROM DATABASE`, which it used before (once).

    .venv/bin/python bench/bench_store_growth.py [SIZE ...]     # default 100000 300000 1000000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_store_write import batch, rss_items, write

from pln.sinks import snapshot
from pln.sinks.store import Store

FILL_CHUNK = 100_000


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(template: Path, held: int, folder: Path) -> dict[str, float]:
    copy = folder / "copy.duckdb"
    shutil.copyfile(template, copy)
    row: dict[str, float] = {"file MB": template.stat().st_size / 1e6}
    with Store(copy) as store:
        daily = batch(rss_items(2500, f"daily{held}"))
        row["daily write s"] = seconds(lambda: write(store, daily, "daily"))
        tiny = [batch(rss_items(3, f"tiny{held}-{k}")) for k in range(10)]
        row["poll write ms"] = 1000 * statistics.median(
            seconds(lambda data=data: write(store, data, "poll")) for data in tiny
        )
        row["feed query s"] = statistics.median(
            seconds(lambda: store.feed_entries_by_topic({"learning": 50})) for _ in range(5)
        )
        row["snapshot s"] = statistics.median(
            seconds(lambda: snapshot.publish_snapshot(store.con, copy)) for _ in range(3)
        )
        by_tables = folder / "by-tables.duckdb"
        row["COPY FROM DATABASE s"] = seconds(lambda: snapshot._copy_tables(store.con, by_tables))
    for leftover in folder.glob("*"):
        if leftover != template:
            leftover.unlink()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 300_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = folder / "grown.duckdb"
        held = 0
        for size in sorted(args.sizes):
            while held < size:
                chunk = min(FILL_CHUNK, size - held)
                with Store(template) as store:
                    write(store, batch(rss_items(chunk, f"old{held}")), f"fill{held}")
                held += chunk
            row = measure(template, held, folder)
            if size == min(args.sizes):
                print(f"{'items':>10}" + "".join(f"{name:>22}" for name in row), flush=True)
            print(f"{held:>10,}" + "".join(f"{value:>22.3f}" for value in row.values()), flush=True)


if __name__ == "__main__":
    sys.exit(main())
