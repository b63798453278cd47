"""The store's batch write (`Store.write_tables`), phase by phase, on a DuckDB file.

A batch of N RSS-like items (500 feeds x 50 entries by default) with story keys and a decision
for 20% of them, plus a few dead letters, written:
  - into a fresh file;
  - into files that already hold 25k and 100k other items;
  - again, unchanged (a second run over the same feeds);
and tiny writes (3 items into a store of 3k items, as a stream poll commits): the fixed cost
per commit, which bounds the streaming latency. Prints seconds per phase: items upsert,
source_decisions and best decisions, stories linking, decisions upsert, dead letters, and the
rest (the total minus those: staging, stale decisions, commit). Each row is the fastest of
--repeat writes, each into a fresh copy of the same file (tiny writes: the median of 30).

    .venv/bin/python bench/bench_store_write.py [N] [--repeat 3]
    git show main:sinks/store.py > /tmp/store_before.py
    .venv/bin/python bench/bench_store_write.py --before /tmp/store_before.py

`--before FILE` loads another version of sinks/store.py (one that still holds the whole write
path, as on main before the split) beside this one and runs both on the same files, alternating,
so a loaded machine slows both alike. Phases are timed by wrapping the write path's methods by
name wherever they are defined (the `Store` class before the split, `BatchWriter` after).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pln.filters.stories import story_keys
from pln.record import DeadLetter, Decision, Item
from pln.sinks import store_write
from pln.sinks.store import Store, decisions_table, items_table

PHASES = {
    "_upsert_items": "items upsert",
    "_best_decisions": "source/best decisions",
    "_link_stories": "stories linking",
    "_upsert_decisions": "decisions upsert",
    "_upsert_dead_letters": "dead letters",
}
COLUMNS = ["total", *PHASES.values(), "rest"]
T0 = datetime(2026, 11, 1, tzinfo=UTC)
TOPIC_WORDS = "retrieval practice spaced learning onboarding cohort quiz review feedback"
OTHER_WORDS = "slides coffee team budget design video garden kitchen travel release notes"
WORDS = tuple(f"{TOPIC_WORDS} {OTHER_WORDS}".split())

timings: dict[str, float] = defaultdict(float)


def instrument(*owners: type) -> None:
    """Wrap each phase method of these classes to add up its time."""
    for owner in owners:
        for name, phase in PHASES.items():
            method = owner.__dict__.get(name)
            if method is not None and not getattr(method, "timed", False):
                setattr(owner, name, timed(method, phase))


def timed(method, phase: str):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            timings[phase] += time.perf_counter() - started

    wrapper.timed = True
    return wrapper


def load_before(path: Path) -> type:
    """The Store class of another version of sinks/store.py, importable beside this one."""
    spec = importlib.util.spec_from_file_location("pln.sinks._store_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.Store


def rss_items(n: int, prefix: str, feeds: int = 500) -> list[Item]:
    items = []
    for i in range(n):
        feed = i % feeds
        words = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(40))
        items.append(
            Item.create(
                source=f"{prefix}-feed{feed}",
                platform="rss",
                native_id=f"https://{prefix}{feed}.example/post/{i}",
                kind="article",
                author=f"Author {feed}",
                title=f"Post {i} on {WORDS[i % len(WORDS)]}",
                text=f"{prefix} {i}: {words}",
                url=f"https://{prefix}{feed}.example/post/{i}",
                links=[f"https://ref.example/{i % 3000}"],
                published_at=T0 - timedelta(minutes=i),
            )
        )
    return items


def batch(items: list[Item]):
    decisions = [
        Decision(it.id, "learning", 0.8, True, "matched 'spaced practice'", source=it.source)
        for i, it in enumerate(items)
        if i % 5 == 0
    ]
    dead = [DeadLetter(items[0].source, f"entry-{i}", "no link") for i in range(5)]
    return items_table(items), decisions_table(decisions), dead, story_keys(items)


def write(store, data, run_id: str) -> dict[str, float]:
    timings.clear()
    items, decisions, dead, keys = data
    started = time.perf_counter()
    store.write_tables(items, decisions, dead, run_id=run_id, story_keys=keys)
    total = time.perf_counter() - started
    row = {"total": total, **{p: timings.get(p, 0.0) for p in PHASES.values()}}
    row["rest"] = total - sum(timings.values())
    return row


def prefilled(folder: Path, held: int, data=None) -> Path:
    """A store file holding `held` other items (and then `data`, when given)."""
    path = folder / f"held{held}{'-again' if data else ''}.duckdb"
    with Store(path) as store:
        if held:
            write(store, batch(rss_items(held, "old")), "prefill")
        if data:
            write(store, data, "r0")
    return path


def fastest(versions, template: Path, folder: Path, data, repeat: int) -> dict[str, dict]:
    """Per version, the row of the fastest of `repeat` writes, each into a copy of `template`."""
    rows: dict[str, list[dict]] = {name: [] for name, _ in versions}
    for k in range(repeat):
        for name, cls in versions:
            copy = folder / f"copy-{name}-{k}.duckdb"
            shutil.copyfile(template, copy)
            with cls(copy) as store:
                rows[name].append(write(store, data, "r1"))
            copy.unlink()
    return {name: min(found, key=lambda r: r["total"]) for name, found in rows.items()}


def show(label: str, row: dict[str, float], unit: str = "s") -> None:
    scale = 1000 if unit == "ms" else 1
    cells = "".join(f"{row[c] * scale:>12.3f}" for c in COLUMNS)
    print(f"{label:<34}{cells}  ({unit})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another sinks/store.py to compare with")
    args = parser.parse_args()
    versions = [("after" if args.before else "this", Store)]
    if args.before:
        versions.insert(0, ("before", load_before(args.before)))
    instrument(store_write.BatchWriter, *(cls for _, cls in versions))

    print(f"write_tables of {args.n:,} RSS items, 20% with a decision, story keys, 5 dead letters")
    print(f"{'':<34}" + "".join(f"{c[:11]:>12}" for c in COLUMNS))
    data = batch(rss_items(args.n, "new"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scenarios = [(f"into {held:,} held items", prefilled(folder, held)) for held in (0, 25_000)]
        scenarios.append(("again, unchanged (25k held)", prefilled(folder, 25_000, data)))
        scenarios.append(("into 100,000 held items", prefilled(folder, 100_000)))
        for label, template in scenarios:
            for name, row in fastest(versions, template, folder, data, args.repeat).items():
                show(f"{label} [{name}]", row)
        tiny_template = prefilled(folder, 3000)
        stores = []
        for name, cls in versions:
            copy = folder / f"tiny-{name}.duckdb"
            shutil.copyfile(tiny_template, copy)
            stores.append((name, cls(copy)))
        rows: dict[str, list[dict]] = {name: [] for name, _ in stores}
        for k in range(30):
            tiny = batch(rss_items(3, f"tiny{k}"))
            for name, store in stores:
                rows[name].append(write(store, tiny, f"t{k}"))
        for name, store in stores:
            store.close()
            median = {c: statistics.median(r[c] for r in rows[name]) for c in COLUMNS}
            show(f"3 items into 3k, median [{name}]", median, "ms")


if __name__ == "__main__":
    main()
