"""Forgetting on a store left running (not a test): what it costs, and whether the file stops
growing.

Fills one DuckDB file through the write path with SIZE RSS-like items (as bench_store_growth.py
does: 20% kept for one topic, story keys), then, each on a fresh copy:
  - a day's pass: the oldest SIZE/365 items last delivered over a year ago, forgotten by
    `forget_old` (feeds protected, tombstones written), beside what a user of a plain DuckDB
    client would run instead: `DELETE FROM items WHERE last_seen_at < cutoff` (which leaves
    decisions, story rows and feed-shown items dangling, and lets a source bring them back);
  - a first pass on a year-old store with `keep_days` set to half a year: half the items;
    then the same in the steps a stream takes (FORGET_PASS_LIMIT items a pass);
  - a stream poll's write (3 new items) after that half, with its tombstones and without;
  - ROUNDS rounds of "forget the oldest fifth, write a new fifth": the file size after each;
  - `pln compact` after the half and after the rounds (a checked copy renamed over the file),
    beside what a plain DuckDB client user would run: `ATTACH` a new file and `COPY FROM
    DATABASE` into it (no check, no rename, nobody kept out while copying).

    .venv/bin/python bench/bench_forget.py [SIZE] [--rounds N]     # default 1,000,000, 6 rounds
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench_store_growth import FILL_CHUNK, median_poll_ms
from bench_store_write import batch, rss_items, write

from pln.config import parse_config
from pln.pipelines.stream_writer import FORGET_PASS_LIMIT as PASS_LIMIT
from pln.sinks.retention import forget_old
from pln.sinks.store import Store
from pln.sinks.store_compact import compact


def seconds(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def config_for(folder: Path):
    data = {
        "sources": [{"name": "blog", "type": "rss", "url": "https://blog.example/feed"}],
        "topics": [{"id": "learning", "title": "Learning", "phrases": ["spaced practice"]}],
        "outputs": {"duckdb": "pln.duckdb", "feeds_dir": "feeds"},
    }
    path = folder / "pln.yaml"
    path.write_text(yaml.safe_dump(data))
    return parse_config(data, path)


def age_oldest(store: Store, n: int) -> None:
    """The `n` oldest items not yet aged: no source delivered them for 400 days."""
    store.con.execute(
        """UPDATE items SET last_seen_at = now() - INTERVAL 400 DAY
           WHERE id IN (SELECT id FROM items WHERE last_seen_at > now() - INTERVAL 300 DAY
                        ORDER BY first_seen_at, published_at LIMIT $n)""",
        {"n": n},
    )


def fresh_copy(template: Path, folder: Path) -> Path:
    copy = folder / "pln.duckdb"
    shutil.copyfile(template, copy)
    return copy


def plain_copy(db: Path) -> float:
    """What a DuckDB user would do by hand to shrink the file: copy it into a new one."""
    import duckdb

    target = db.with_name("plain-copy.duckdb")
    target.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(f"ATTACH '{target}' AS fresh")
    con.execute(f"COPY FROM DATABASE {db.stem} TO fresh")
    con.close()
    took = time.perf_counter() - started
    target.unlink()
    return took


def limited_passes(template: Path, folder: Path, config, aged: int) -> None:
    """The same first pass as a stream does it: passes of FORGET_PASS_LIMIT items."""
    limited = folder / "limited.duckdb"
    shutil.copyfile(template, limited)
    with Store(limited) as store:
        age_oldest(store, aged)
    times, left = [], None
    while left is None or left:
        with Store(limited) as store:
            took, done = seconds(lambda: forget_old(store, config, days=182, limit=PASS_LIMIT))
        times.append(took)
        left = done.left
    print(
        f"  the same in the stream's passes of {PASS_LIMIT:,}: {len(times)} passes, longest "
        f"{max(times):.2f} s, median {statistics.median(times):.2f} s, total {sum(times):.2f} s",
        flush=True,
    )
    limited.unlink()


def report_compact(db: Path, label: str) -> None:
    plain = plain_copy(db)
    done = compact(db)
    print(
        f"pln compact {label}: {done.bytes_before / 1e6:.0f} MB -> {done.bytes_after / 1e6:.0f} MB"
        f" in {done.seconds:.2f} s ({done.rows:,} rows checked; 0.5 s of it the release grace);"
        f" plain ATTACH + COPY FROM DATABASE {plain:.2f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    size = args.size
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = config_for(folder)
        template = folder / "grown.duckdb"
        for held in range(0, size, FILL_CHUNK):
            with Store(template) as store:
                chunk = min(FILL_CHUNK, size - held)
                write(store, batch(rss_items(chunk, f"old{held}")), f"fill{held}")
        with Store(template) as store:
            store.con.execute("CHECKPOINT")
        print(f"store: {size:,} items, {template.stat().st_size / 1e6:.0f} MB", flush=True)

        day = size // 365
        db = fresh_copy(template, folder)
        with Store(db) as store:
            age_oldest(store, day)
            took, done = seconds(lambda: forget_old(store, config, days=365))
        print(f"a day's pass ({done.items:,} items): pln forget {took:.2f} s", flush=True)
        db = fresh_copy(template, folder)
        with Store(db) as store:
            age_oldest(store, day)
            took, _ = seconds(
                lambda: store.con.execute(
                    "DELETE FROM items WHERE last_seen_at < now() - INTERVAL 365 DAY"
                )
            )
        print(f"  the same with a plain DELETE FROM items: {took:.2f} s", flush=True)

        db = fresh_copy(template, folder)
        with Store(db) as store:
            age_oldest(store, size // 2)
            took, done = seconds(lambda: forget_old(store, config, days=182))
        print(f"first pass, half the store ({done.items:,} items): {took:.2f} s", flush=True)
        limited_passes(template, folder, config, size // 2)
        # The tombstone check's cost: the same store with and without its tombstones, in turns.
        cleared = folder / "cleared.duckdb"
        shutil.copyfile(db, cleared)
        with Store(cleared) as store:
            store.con.execute("DELETE FROM forgotten_items")
        with_them, without = [], []
        for turn in range(3):
            for path, times in ((db, with_them), (cleared, without)):
                with Store(path) as store:
                    times.append(median_poll_ms(store, f"{path.stem}{turn}"))
        print(
            f"poll write (3 items) on the remaining {size - done.items:,}: "
            f"{statistics.median(with_them):.1f} ms with {done.items:,} tombstones, "
            f"{statistics.median(without):.1f} ms without (medians of 3 x 10)",
            flush=True,
        )
        report_compact(db, "after the half")
        with Store(db) as store:
            compacted = median_poll_ms(store, "compacted")
        print(f"  poll write after compacting: {compacted:.1f} ms", flush=True)

        db = fresh_copy(template, folder)
        step = size // 5
        sizes = [db.stat().st_size / 1e6]
        for round_ in range(args.rounds):
            with Store(db) as store:
                age_oldest(store, step)
                forget_old(store, config, days=365)
                for k in range(0, step, FILL_CHUNK):
                    chunk = min(FILL_CHUNK, step - k)
                    write(store, batch(rss_items(chunk, f"new{round_}-{k}")), f"r{round_}")
                store.con.execute("CHECKPOINT")
            sizes.append(db.stat().st_size / 1e6)
        print("file MB, start and after each round: " + " ".join(f"{s:.0f}" for s in sizes))
        report_compact(db, f"after {args.rounds} rounds")


if __name__ == "__main__":
    sys.exit(main())
