"""The store left running: what a year of items costs the everyday operations (not a test).

Fills one DuckDB file with RSS-like items (20% kept for one topic, story keys, as
`bench_store_write.py` makes them) up to each size, and at each size times, on a copy:
  - a daily run's write: 2,500 new items;
  - a stream poll's write: 3 items (median of 10);
  - the feed query: a topic's latest 50 stories (`Store.feed_entries_by_topic`, median of 5);
  - the stream's read snapshot: a checkpoint and a copy of the file (`publish_snapshot`,
    median of 3), beside DuckDB's `COPY FROM DATABASE`, which it used before (once).

With --example, the bundled example then runs (`pln run`) three times on a copy of the largest
store: the first run writes the example's items, the next two find every source unchanged.

    .venv/bin/python bench/bench_store_growth.py [SIZE ...] [--example]   # default 100k 300k 1M

`--stories-before FILE` also times each poll write with an older story linking, in turns.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_store_write import batch, rss_items, write

from pln.sinks import snapshot, store_write
from pln.sinks.store import Store

FILL_CHUNK = 100_000
REPO = Path(__file__).resolve().parents[1]


def seconds(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_poll_ms(store: Store, tag: str) -> float:
    """A stream poll's write (3 new items), median of 10."""
    polls = [batch(rss_items(3, f"{tag}-{k}")) for k in range(10)]
    return 1000 * statistics.median(write(store, data, "poll")["total"] for data in polls)


def poll_writes(store: Store, held: int, before) -> dict[str, float]:
    """`median_poll_ms`; with `before` (an older story-linking module), the same with its
    `link_stories` too, in 3 turns of 10 each."""

    def median_ms(tag: str) -> float:
        return median_poll_ms(store, f"{tag}{held}")

    if before is None:
        return {"poll write ms": median_ms("tiny")}
    now, then = [], []
    for turn in range(3):
        for link, times in ((store_write.link_stories, now), (before.link_stories, then)):
            current, store_write.link_stories = store_write.link_stories, link
            try:
                times.append(median_ms(f"t{turn}{len(times)}{link is before.link_stories}"))
            finally:
                store_write.link_stories = current
    return {"poll write ms": statistics.median(now), "poll, before ms": statistics.median(then)}


def load_stories(path: str | None):
    """An older sinks/stories.py (e.g. `git show REV:sinks/stories.py > FILE`) as a module."""
    if path is None:
        return None
    spec = importlib.util.spec_from_file_location("pln.sinks.stories_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(template: Path, held: int, folder: Path, before=None) -> dict[str, float]:
    copy = folder / "copy.duckdb"
    shutil.copyfile(template, copy)
    row: dict[str, float] = {"file MB": template.stat().st_size / 1e6}
    with Store(copy) as store:
        daily = batch(rss_items(2500, f"daily{held}"))
        row["daily write s"] = seconds(lambda: write(store, daily, "daily"))
        row.update(poll_writes(store, held, before))
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


# `pln run`, then its peak RSS from /proc (getrusage would count this bench's own memory, which
# the child had before exec).
RUN_AND_REPORT = """
import sys
from pln.cli import main
code = main(sys.argv[1:])
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(int(peak.split()[1]) // 1024, file=sys.stderr)
sys.exit(code)
"""


def run_example_on(template: Path, folder: Path) -> None:
    """`pln run` of the example three times on a copy of `template`: wall time and the peak RSS
    of its main process (where the write and the feeds are)."""
    work = folder / "example"
    shutil.copytree(REPO / "examples", work, ignore=shutil.ignore_patterns("out"))
    (work / "out").mkdir()
    shutil.copyfile(template, work / "out" / "pln.duckdb")
    for n in range(3):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", RUN_AND_REPORT, "run", "-c", "pln.yaml", "-q"],
            cwd=work,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        peak = done.stderr.strip().splitlines()[-1]
        what = "writes the example" if n == 0 else "nothing changed"
        print(f"pln run of the example ({what}): {wall:.2f} s, peak RSS {peak} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--example", action="store_true", help="then run the example on it")
    parser.add_argument(
        "--stories-before", metavar="FILE", help="an older sinks/stories.py to time polls against"
    )
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
            row = measure(template, held, folder, load_stories(args.stories_before))
            if size == min(args.sizes):
                print(f"{'items':>10}" + "".join(f"{name:>22}" for name in row), flush=True)
            print(f"{held:>10,}" + "".join(f"{value:>22.3f}" for value in row.values()), flush=True)
        if args.example:
            run_example_on(template, folder)


if __name__ == "__main__":
    sys.exit(main())
