"""The stream's store: the rows of each poll and the Kafka offsets they came from, in one
DuckDB transaction, so the stored offsets never run ahead of the stored rows.

Polls may be committed out of order (Beam runners do not keep the order of elements across
steps), so offsets are kept as a ledger per partition: `next_offset` is where a restart resumes
(everything before it is stored), and polls committed ahead of a gap wait in `stream_ranges`
until the gap is filled. A restart re-reads from `next_offset`: what it reads again is upserted
by id, so nothing is lost and nothing is duplicated in DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa

from pln.record import DeadLetter, SourceStatus

from .store import Store

OFFSETS_DDL = """
CREATE TABLE IF NOT EXISTS stream_offsets (
    topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,        -- every offset before it is stored
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);
ALTER TABLE stream_offsets ADD COLUMN IF NOT EXISTS last_key VARCHAR;  -- key at next_offset - 1
ALTER TABLE stream_offsets ADD COLUMN IF NOT EXISTS epoch BIGINT;
CREATE TABLE IF NOT EXISTS stream_ranges (  -- polls stored ahead of a gap
    topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    start_offset BIGINT NOT NULL,
    end_offset BIGINT NOT NULL,
    last_key VARCHAR,
    epoch BIGINT,                       -- the read (start or reset) the poll belongs to
    PRIMARY KEY (topic, kafka_partition, start_offset)
)"""

Partition = tuple[str, int]


@dataclass(frozen=True)
class OffsetRange:
    """Offsets [start, end) of one partition that one poll consumed.

    `fresh`: the reader started (or restarted after an out-of-range reset) at `start` with no
    stored position, so `start` becomes the partition's base. `last_key`: the key of the record
    at `end - 1`; a restart checks that the log still holds it there (else it was recreated).
    `epoch`: which read of the partition (a start or a reset) the poll belongs to.
    """

    start: int
    end: int
    fresh: bool = False
    last_key: str = ""
    epoch: int = 0


@dataclass(frozen=True)
class ResumePoints:
    """Where a reader resumes each partition, with the key it expects just before (to check
    the log is still the one read) and the read (epoch) it continues."""

    offsets: dict[Partition, int] = field(default_factory=dict)
    keys: dict[Partition, str] = field(default_factory=dict)
    epochs: dict[Partition, int] = field(default_factory=dict)


class Base(NamedTuple):
    offset: int  # every offset before it is stored
    key: str = ""  # key of the record at offset - 1
    epoch: int = 0  # the read it belongs to


class OffsetLedger:
    """Where each partition resumes, given the ranges committed so far (in any order).

    `bases[p]`: the resume point; `waiting[p]`: ranges committed ahead of a gap, as
    (start, end, last_key, epoch). A range only counts against a base of its own read (epoch).
    """

    def __init__(self, bases=None, waiting=None):
        self.bases: dict[Partition, Base] = {k: Base(*v) for k, v in (bases or {}).items()}
        self.waiting: dict[Partition, list[tuple[int, int, str, int]]] = {
            k: sorted(v) for k, v in (waiting or {}).items() if v
        }

    def copy(self) -> OffsetLedger:
        return OffsetLedger(self.bases, {k: list(v) for k, v in self.waiting.items()})

    def add(self, partition: Partition, rng: OffsetRange) -> None:
        base = self.bases.get(partition)
        pending = self.waiting.setdefault(partition, [])
        if rng.fresh:
            # A new read (first, or a reset after the log was recreated or truncated): ranges
            # parked by earlier reads belong to the log as it was.
            pending[:] = [r for r in pending if r[3] == rng.epoch]
            base = Base(rng.start, "", rng.epoch)
        if base is None or rng.epoch != base.epoch or rng.start > base.offset:
            pending.append((rng.start, rng.end, rng.last_key, rng.epoch))
            pending.sort()
        elif rng.end > base.offset:
            base = Base(rng.end, rng.last_key, rng.epoch)
        if base is not None:
            base = self._absorb(base, pending)
            self.bases[partition] = base
        if not pending:
            del self.waiting[partition]

    @staticmethod
    def _absorb(base: Base, pending: list[tuple[int, int, str, int]]) -> Base:
        """Advance `base` over the parked ranges of its read that now join it."""
        moved = True
        while moved:
            moved = False
            for r in list(pending):
                if r[3] == base.epoch and r[0] <= base.offset:
                    pending.remove(r)
                    if r[1] > base.offset:
                        base = Base(r[1], r[2], r[3])
                    moved = True
        return base

    def resume_at(self, topic: str) -> dict[Partition, int]:
        return {k: v.offset for k, v in self.bases.items() if k[0] == topic}

    def keys(self, topic: str) -> dict[Partition, str]:
        """The key of the record just before each resume point (to check the log is the same)."""
        return {k: v.key for k, v in self.bases.items() if k[0] == topic and v.key}

    def epochs(self, topic: str) -> dict[Partition, int]:
        return {k: v.epoch for k, v in self.bases.items() if k[0] == topic}


class StreamStore(Store):
    """The store plus the stream's offset ledger, committed with the rows."""

    def __init__(self, path: str | Path, read_only: bool = False, wait: float | None = None):
        super().__init__(path, read_only, wait)
        if not read_only:
            self.con.execute(OFFSETS_DDL)
        self.ledger = self._load_ledger()

    def _load_ledger(self) -> OffsetLedger:
        try:
            bases = self.con.execute(
                "SELECT topic, kafka_partition, next_offset, last_key, epoch FROM stream_offsets"
            ).fetchall()
            ranges = self.con.execute(
                "SELECT topic, kafka_partition, start_offset, end_offset, last_key, epoch "
                "FROM stream_ranges"
            ).fetchall()
        except Exception:  # a read-only store made before the stream ever ran
            return OffsetLedger()
        waiting: dict[Partition, list[tuple[int, int, str, int]]] = {}
        for topic, partition, start, end, key, epoch in ranges:
            waiting.setdefault((topic, partition), []).append((start, end, key or "", epoch or 0))
        return OffsetLedger({(t, p): (o, k or "", e or 0) for t, p, o, k, e in bases}, waiting)

    def resume_points(self, topic: str) -> ResumePoints:
        ledger = self.ledger
        return ResumePoints(ledger.resume_at(topic), ledger.keys(topic), ledger.epochs(topic))

    def offsets(self, topic: str) -> dict[Partition, int]:
        """Where the stream resumes: next offset per partition of `topic`."""
        return self.ledger.resume_at(topic)

    def commit_tables(
        self,
        items: pa.Table,
        decisions: pa.Table,
        dead_letters: list[DeadLetter],
        statuses: list[SourceStatus],
        offsets: Iterable[tuple[Partition, OffsetRange]],
        run_id: str,
        intervals: dict[str, float],
        keys: pa.Table | None = None,
    ) -> None:
        """Rows already in Arrow form (see `items_table`) and the offsets they came from."""
        ledger = self.ledger.copy()
        touched: set[Partition] = set()
        for partition, rng in offsets:
            ledger.add(partition, rng)
            touched.add(partition)
        with self.transaction():
            self.write_tables(items, decisions, dead_letters, run_id=run_id, story_keys=keys)
            if statuses:
                self.update_sources(statuses, run_id=run_id, intervals=intervals)
            if touched:
                self._save_ledger(ledger, touched)
        self.ledger = ledger

    def _save_ledger(self, ledger: OffsetLedger, touched: set[Partition]) -> None:
        now = datetime.now(UTC)
        bases = sorted((p, ledger.bases[p]) for p in touched if p in ledger.bases)
        if bases:
            self._insert(
                "stream_offsets",
                {
                    "topic": [t for (t, _), _ in bases],
                    "kafka_partition": pa.array([p for (_, p), _ in bases], pa.int32()),
                    "next_offset": pa.array([b.offset for _, b in bases], pa.int64()),
                    "updated_at": pa.array([now] * len(bases), pa.timestamp("us", tz="UTC")),
                    "last_key": pa.array([b.key for _, b in bases], pa.string()),
                    "epoch": pa.array([b.epoch for _, b in bases], pa.int64()),
                },
            )
        for topic, partition in touched:
            self.con.execute(
                "DELETE FROM stream_ranges WHERE topic = ? AND kafka_partition = ?",
                [topic, partition],
            )
        waiting = [(p, r) for p in sorted(touched) for r in ledger.waiting.get(p, [])]
        if waiting:
            self._insert(
                "stream_ranges",
                {
                    "topic": [t for (t, _), _ in waiting],
                    "kafka_partition": pa.array([p for (_, p), _ in waiting], pa.int32()),
                    "start_offset": pa.array([r[0] for _, r in waiting], pa.int64()),
                    "end_offset": pa.array([r[1] for _, r in waiting], pa.int64()),
                    "last_key": pa.array([r[2] for _, r in waiting], pa.string()),
                    "epoch": pa.array([r[3] for _, r in waiting], pa.int64()),
                },
            )

    def _insert(self, table: str, columns: dict) -> None:
        self.con.register("pln_new_rows", pa.table(columns))
        try:
            names = ", ".join(columns)
            self.con.execute(
                f"INSERT OR REPLACE INTO {table} ({names}) SELECT {names} FROM pln_new_rows"
            )
        finally:
            self.con.unregister("pln_new_rows")
