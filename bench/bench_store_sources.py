"""The store's write path with posts delivered by two sources (sinks/store.py): 100k items with
a decision each, written new, re-written unchanged (the common case), and delivered again by a
second source (only `sources` changes). Rows/s per step, on a DuckDB file.

    .venv/bin/python bench/bench_store_sources.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pln.record import Decision, Item
from pln.sinks.store import Store, decisions_table, items_table


def batch(n: int, source: str) -> tuple:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    items = [
        Item.create(
            source=source,
            platform="twitter",
            native_id=str(i),
            kind="post",
            author=f"user{i % 500}",
            text=f"Post {i} about spaced practice and retrieval.",
            url=f"https://x.com/u/status/{i}",
            published_at=at,
        )
        for i in range(n)
    ]
    named = {"source": source} if "source" in Decision.__slots__ else {}  # as the Curator does
    decisions = [Decision(it.id, "spaced", 0.8, True, "matched", **named) for it in items]
    return items_table(items), decisions_table(decisions)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    a, b = batch(n, "a-timeline"), batch(n, "b-archive")
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "pln.duckdb") as store:
        for label, (items, decisions) in (
            ("new", a),
            ("unchanged", a),
            ("second source", b),
            ("both again", b),
        ):
            started = time.perf_counter()
            store.write_tables(items, decisions, run_id=label)
            took = time.perf_counter() - started
            print(f"  {label:14} {n / took:>10,.0f} rows/s ({took:.2f} s)")
        if "sources" in store.sql("SELECT * FROM items LIMIT 0")[0]:
            both = store.sql("SELECT count(*) FROM items WHERE len(sources) = 2")[1][0][0]
            print(f"  {both:,} of {n:,} items list both sources")


if __name__ == "__main__":
    main()
