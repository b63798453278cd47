"""The single writer step: every write to the DuckDB file goes through one DoFn call.

A DuckDB file takes one writer process, so all outputs are gathered under one key and written
in large Arrow batches by `StoreWriterFn`. Curated batches are turned into Arrow tables, with
their story keys, on the worker that curated them and staged as Arrow IPC files (`StageFn`),
so only file names travel to the writer; the writer links stories where all items meet. Writes
are upserts keyed by id, so a rerun or a replayed batch leaves the same rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
from pyarrow import fs as pafs

from pln import progress
from pln.record import DeadLetter, SourceStatus
from pln.sinks.store import Store

from .curate import CuratedBatch
from .tables import FLUSH_BYTES, FLUSH_ROWS, CuratedTables

STAGED_KINDS = ("items", "decisions", "stories")  # CuratedTables' fields, one file each


@dataclass(frozen=True)
class StagedBatch:
    """A curated batch staged as Arrow IPC files `<stem>.items.arrow`, `<stem>.decisions.arrow`
    and `<stem>.stories.arrow` (pln.filters.stories.story_keys of the items)."""

    stem: str
    rows: int
    nbytes: int = 0  # of its tables in Arrow


class StageFn(beam.DoFn):
    def __init__(self, staging: str):
        self.staging = staging

    def setup(self):
        self.fs, self.base = pafs.FileSystem.from_uri(self.staging)
        self.fs.create_dir(self.base, recursive=True)

    def process(self, batch: CuratedBatch):
        stem = f"{self.base}/{uuid.uuid4().hex}"
        tables = CuratedTables.of(batch.items, batch.decisions)
        for kind in STAGED_KINDS:
            _write_ipc(self.fs, f"{stem}.{kind}.arrow", getattr(tables, kind))
        yield StagedBatch(stem, len(batch.items), tables.nbytes)


def _write_ipc(fs: pafs.FileSystem, path: str, table: pa.Table) -> None:
    with fs.open_output_stream(path) as out, pa.ipc.new_file(out, table.schema) as writer:
        writer.write_table(table)


def _read_ipc(fs: pafs.FileSystem, path: str) -> pa.Table:
    with fs.open_input_file(path) as source:
        return pa.ipc.open_file(source).read_all()


def _read_staged(fs: pafs.FileSystem, stem: str) -> CuratedTables:
    return CuratedTables(*(_read_ipc(fs, f"{stem}.{kind}.arrow") for kind in STAGED_KINDS))


class StoreWriterFn(beam.DoFn):
    """Writes tagged outputs (Arrow batches, dead letters, source statuses) to the store."""

    # On a Dask cluster this step runs on the worker started with `--resources pln_writer=1`
    # (the machine that holds the DuckDB file), when there is one; see docs/scaling.md.
    dask_resources = {"pln_writer": 1}

    def __init__(self, db_path: str, run_id: str, intervals: dict[str, float], staging: str):
        self.db_path, self.run_id, self.intervals = db_path, run_id, intervals
        self.staging = staging

    def process(self, keyed):
        _, values = keyed
        fs, base = pafs.FileSystem.from_uri(self.staging)
        batches: list[StagedBatch] = []
        dead: list[DeadLetter] = []
        statuses: list[SourceStatus] = []
        rows = nbytes = 0
        ticker = progress.Ticker("written")
        with Store(self.db_path, bulk=True) as store:
            for value in values:
                if isinstance(value, StagedBatch):
                    batches.append(value)
                    rows, nbytes = rows + value.rows, nbytes + value.nbytes
                elif isinstance(value, SourceStatus):
                    statuses.append(value)
                else:
                    dead.extend(value)
                if rows >= FLUSH_ROWS or nbytes >= FLUSH_BYTES:
                    self._flush(store, fs, batches, dead, ticker)
                    rows = nbytes = 0
            self._flush(store, fs, batches, dead, ticker)
            # Cursors last: if anything above failed, the next run re-reads those sources.
            store.update_sources(statuses, run_id=self.run_id, intervals=self.intervals)
        fs.delete_dir(base)
        ticker.close()
        yield ticker.count

    def _flush(self, store, fs, batches: list[StagedBatch], dead: list[DeadLetter], ticker):
        """Write the staged batches and dead letters gathered so far, then forget them.

        (A helper rather than a closure in `process`: Beam reads process's source and warns
        about "yield and return" when a nested function returns a value.)
        """
        if not (batches or dead):
            return

        tables = CuratedTables.joined([_read_staged(fs, b.stem) for b in batches])
        store.write_tables(
            tables.items, tables.decisions, dead, run_id=self.run_id, story_keys=tables.stories
        )
        ticker.add(tables.items.num_rows)
        batches.clear()
        dead.clear()


class WriteToStore(beam.PTransform):
    """Gathers curated batches, dead letters and statuses into the one writer step."""

    def __init__(self, db_path: str, run_id: str, intervals: dict[str, float], staging: str):
        super().__init__()
        self.db_path, self.run_id, self.intervals = db_path, run_id, intervals
        self.staging = staging

    def expand(self, pcolls):
        curated, *others = pcolls
        staged = curated | "Stage" >> beam.ParDo(StageFn(self.staging))
        return (
            (staged, *others)
            | "Gather" >> beam.Flatten()
            | "OneWriter" >> beam.WithKeys(0)
            | "Group" >> beam.GroupByKey()
            | "Write"
            >> beam.ParDo(StoreWriterFn(self.db_path, self.run_id, self.intervals, self.staging))
        )
