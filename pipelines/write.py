"""The single writer step: every write to the DuckDB file goes through one DoFn call.

A DuckDB file takes one writer process, so all outputs are gathered under one key and written
in large Arrow batches by `StoreWriterFn`. Writes are upserts keyed by id, so a rerun or a
replayed batch leaves the same rows.
"""

from __future__ import annotations

import apache_beam as beam

from pln import progress
from pln.record import DeadLetter, Decision, Item, SourceStatus
from pln.sinks.store import Store

from .curate import CuratedBatch

FLUSH_ITEMS = 50_000


class StoreWriterFn(beam.DoFn):
    """Writes tagged outputs (curated batches, dead letters, source statuses) to the store."""

    def __init__(self, db_path: str, run_id: str, intervals: dict[str, float]):
        self.db_path, self.run_id, self.intervals = db_path, run_id, intervals

    def process(self, keyed):
        _, values = keyed
        items: list[Item] = []
        decisions: list[Decision] = []
        dead: list[DeadLetter] = []
        statuses: list[SourceStatus] = []
        ticker = progress.Ticker("written")
        with Store(self.db_path) as store:

            def flush():
                if items or decisions or dead:
                    store.write(items, decisions, dead, run_id=self.run_id)
                    ticker.add(len(items))
                    items.clear(), decisions.clear(), dead.clear()

            for value in values:
                if isinstance(value, CuratedBatch):
                    items.extend(value.items)
                    decisions.extend(value.decisions)
                elif isinstance(value, SourceStatus):
                    statuses.append(value)
                else:
                    dead.extend(value)
                if len(items) >= FLUSH_ITEMS:
                    flush()
            flush()
            # Cursors last: if anything above failed, the next run re-reads those sources.
            store.update_sources(statuses, run_id=self.run_id, intervals=self.intervals)
        ticker.close()
        yield ticker.count


class WriteToStore(beam.PTransform):
    """Gathers curated batches, dead letters and statuses into the one writer step."""

    def __init__(self, db_path: str, run_id: str, intervals: dict[str, float]):
        super().__init__()
        self.db_path, self.run_id, self.intervals = db_path, run_id, intervals

    def expand(self, pcolls):
        return (
            pcolls
            | "Gather" >> beam.Flatten()
            | "OneWriter" >> beam.WithKeys(0)
            | "Group" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(StoreWriterFn(self.db_path, self.run_id, self.intervals))
        )
