"""The store's batch write (`Store.write_tables`), phase by phase, on a DuckDB file.

A batch of N RSS-like items (500 feeds x 50 entries by default) with story keys and a decision
for 20% of them, plus a few dead letters, written:
  - into a fresh file;
  - into files that already hold 25k and 100k other items;
  - again, unchanged (a second run over the same feeds);
and tiny writes (3 items into a store of 3k items, as a stream poll commits), the fixed cost
per commit. Prints seconds per phase: items upsert, source_decisions and best decisions,
stories linking, decisions upsert, dead letters, and the rest (the total minus those).

    .venv/bin/python bench/bench_store_write.py [N]

Phases are timed by wrapping the write path's methods by name wherever they are defined (the
`Store` class before the split, the writer class after), so the same script measures both.
"""

from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pln.filters.stories import story_keys
from pln.record import DeadLetter, Decision, Item
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
WORDS = (
    "retrieval practice spaced learning onboarding cohort managers quiz review feedback "
    "workshop slides coffee team budget design course video community analytics learners "
    "habit nudge reminder calendar checklist buddy release notes garden kitchen travel"
).split()

timings: dict[str, float] = defaultdict(float)


def instrument() -> None:
    """Wrap each phase method, wherever the write path defines it, to add up its time."""
    owners = [Store]
    for module in ("pln.sinks.store_write",):
        try:
            owners += [v for v in vars(importlib.import_module(module)).values()]
        except ImportError:
            pass
    for owner in owners:
        if not isinstance(owner, type):
            continue
        for name, phase in PHASES.items():
            method = owner.__dict__.get(name)
            if method is None or getattr(method, "timed", False):
                continue
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


def write(store: Store, data, run_id: str) -> dict[str, float]:
    timings.clear()
    items, decisions, dead, keys = data
    started = time.perf_counter()
    store.write_tables(items, decisions, dead, run_id=run_id, story_keys=keys)
    total = time.perf_counter() - started
    row = {"total": total, **{p: timings.get(p, 0.0) for p in PHASES.values()}}
    row["rest"] = total - sum(timings.values())
    return row


def show(label: str, row: dict[str, float], unit: str = "s") -> None:
    scale = 1000 if unit == "ms" else 1
    cells = "".join(f"{row[c] * scale:>12.3f}" for c in COLUMNS)
    print(f"{label:<28}{cells}  ({unit})")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 25_000
    instrument()
    print(f"write_tables of {n:,} RSS items, 20% with a decision, story keys, 5 dead letters")
    print(f"{'':<28}" + "".join(f"{c[:11]:>12}" for c in COLUMNS))
    data = batch(rss_items(n, "new"))
    with tempfile.TemporaryDirectory() as tmp:
        for held in (0, 25_000, 100_000):
            path = Path(tmp) / f"held{held}.duckdb"
            with Store(path) as store:
                if held:
                    write(store, batch(rss_items(held, "old")), "prefill")
                show(f"into {held:,} held items", write(store, data, "r1"))
                if held == 25_000:
                    show("again, unchanged", write(store, data, "r2"))
        path = Path(tmp) / "tiny.duckdb"
        with Store(path) as store:
            write(store, batch(rss_items(3000, "old")), "prefill")
            rows = [write(store, batch(rss_items(3, f"tiny{k}")), f"t{k}") for k in range(30)]
            show("3 items into 3k (median)", {c: _median(rows, c) for c in COLUMNS}, "ms")


def _median(rows: list[dict[str, float]], column: str) -> float:
    return statistics.median(r[column] for r in rows)


if __name__ == "__main__":
    main()
