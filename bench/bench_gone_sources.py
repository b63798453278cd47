"""What ending a renamed source's say costs (not a test): `Store.forget_gone_sources` on a store
where every item lists a configured source and one gone from the config (as after a rename
whose source was read again whole), and then again with nothing left to do.

Fills a store with tests/big_store.py (SIZE items, 500 sources), adds a gone name to every
item's `sources`, then times the pass that rewrites them, and a second pass (what each later
run pays: a query over the names its items list).

    .venv/bin/python bench/bench_gone_sources.py [SIZE]      # default 300,000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from big_store import fill_store  # noqa: E402

from pln.sinks.store import Store  # noqa: E402

CONFIGURED = {f"blog{i}" for i in range(500)}


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    with tempfile.TemporaryDirectory(prefix="bench-gone-") as tmp:
        db = Path(tmp) / "pln.duckdb"
        fill_store(db, size, "practice")
        with Store(db) as store:
            store.con.execute("UPDATE items SET sources = list_append(sources, 'old-name')")
            for what in ("first pass", "second pass"):
                started = time.perf_counter()
                touched = store.forget_gone_sources(CONFIGURED, "bench")
                seconds = time.perf_counter() - started
                print(f"{what}: {touched:,} of {size:,} items decided again in {seconds:.2f} s")


if __name__ == "__main__":
    main()
