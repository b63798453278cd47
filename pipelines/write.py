"""The single writer step: every write to the DuckDB file goes through one DoFn call.

A DuckDB file takes one writer process, so all outputs are gathered under one key and written
in large Arrow batches by `StoreWriterFn`. Curated batches are turned into Arrow tables on the
worker that curated them (`ToArrowFn`), which makes the hop to the writer cheap. Writes are
upserts keyed by id, so a rerun or a replayed batch leaves the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa

from pln import progress
from pln.record import DeadLetter, SourceStatus
from pln.sinks.store import Store, decisions_table, items_table

from .curate import CuratedBatch

FLUSH_ROWS = 50_000


@dataclass
class ArrowBatch:
    items: pa.Table
    decisions: pa.Table


class ToArrowFn(beam.DoFn):
    def process(self, batch: CuratedBatch):
        yield ArrowBatch(items_table(batch.items), decisions_table(batch.decisions))


class StoreWriterFn(beam.DoFn):
    """Writes tagged outputs (Arrow batches, dead letters, source statuses) to the store."""

    def __init__(self, db_path: str, run_id: str, intervals: dict[str, float]):
        self.db_path, self.run_id, self.intervals = db_path, run_id, intervals

    def process(self, keyed):
        _, values = keyed
        batches: list[ArrowBatch] = []
        dead: list[DeadLetter] = []
        statuses: list[SourceStatus] = []
        pending = 0
        ticker = progress.Ticker("written")
        with Store(self.db_path) as store:

            def flush():
                if not (batches or dead):
                    return
                tables = [b.items for b in batches] or [items_table([])]
                decisions = [b.decisions for b in batches] or [decisions_table([])]
                items = pa.concat_tables(tables)
                store.write_tables(items, pa.concat_tables(decisions), dead, run_id=self.run_id)
                ticker.add(items.num_rows)
                batches.clear()
                dead.clear()

            for value in values:
                if isinstance(value, ArrowBatch):
                    batches.append(value)
                    pending += value.items.num_rows
                elif isinstance(value, SourceStatus):
                    statuses.append(value)
                else:
                    dead.extend(value)
                if pending >= FLUSH_ROWS:
                    flush()
                    pending = 0
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
        curated, *others = pcolls
        arrow = curated | "ToArrow" >> beam.ParDo(ToArrowFn())
        return (
            (arrow, *others)
            | "Gather" >> beam.Flatten()
            | "OneWriter" >> beam.WithKeys(0)
            | "Group" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(StoreWriterFn(self.db_path, self.run_id, self.intervals))
        )
