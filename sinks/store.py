"""The DuckDB store: items, decisions, dead letters, stories, source health, runs and labels in
one file. `Store` is the one object callers open; each job is done by a part of its own:

- store_db.py: opening the file while others hold it, the schema, transactions (`Database`);
- store_write.py: batch writes of items, decisions, dead letters and stories (`BatchWriter`);
- store_sources.py: fetch outcomes, cursors and the next poll of each source (`SourceLog`);
- store_runs.py: run bookkeeping and the stats of a run (`RunLog`);
- store_read.py: feed, digest and archive entries, items by id (`FeedReader`, `FeedEntry`);
- store_labels.py: a person's +1/-1 per item and topic (`LabelBook`, `Label`);
- store_sql.py: SQL statements, and the locked-down `pln sql` of a person.

Feeds and `pln sql` read the same tables and views (schema.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pln.errors import PlnError
from pln.record import DeadLetter, Decision, Item, SourceStatus

from .schema import decisions_table, items_table
from .store_db import Database, StoreBusy, lock_wait_default
from .store_forget import forgotten_on
from .store_gone import forget_gone_sources, named_sources
from .store_labels import Label, LabelBook
from .store_read import FeedEntry, FeedReader
from .store_runs import RunLog
from .store_sources import SourceLog
from .store_sql import run_sql, run_user_sql

if TYPE_CHECKING:
    import pyarrow as pa

    from .store_write import BatchWriter


class Store:
    """`with Store(path) as store:` opens (and when writable creates) the DuckDB file.

    While another process holds the file, opening retries for up to `wait` seconds (None:
    `lock_wait_default`), with a progress note, then raises StoreBusy. `bulk`: the batch job's
    writer, which writes many rows at a time (`Database`).
    """

    def __init__(
        self,
        path: str | Path,
        read_only: bool = False,
        wait: float | None = None,
        bulk: bool = False,
    ):
        self._attach(Database(path, read_only, wait, bulk))

    @classmethod
    def sharing(cls, other: Store) -> Store:
        """A second handle on `other`'s open database, for another thread (its own cursor):
        it reads what `other` has committed; `other` keeps writing meanwhile."""
        handle = cls.__new__(cls)
        handle._attach(Database.sharing(other.db))
        return handle

    def _attach(self, db: Database) -> None:
        self.db = db
        self._writer: BatchWriter | None = None
        self.source_log = SourceLog(db)
        self.run_log = RunLog(db)
        self.reader = FeedReader(db)
        self.label_book = LabelBook(db)

    @property
    def writer(self) -> BatchWriter:
        """The write path, imported when first used: it loads Arrow and the story linking,
        which a run where every feed answers 304 and the reading commands never need."""
        if self._writer is None:
            from .store_write import BatchWriter

            self._writer = BatchWriter(self.db)
        return self._writer

    # -- the connection ----------------------------------------------------------------------

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        return self.db.con

    @property
    def path(self) -> Path:
        return self.db.path

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    @property
    def snapshot_age(self) -> float | None:
        """Seconds old of the stream's snapshot read instead of the busy file, else None."""
        return self.db.snapshot_age

    def transaction(self):
        """One transaction; nested blocks join the outermost one (`Database.transaction`)."""
        return self.db.transaction()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- runs (store_runs.py) ----------------------------------------------------------------

    def begin_run(self, run_id: str, config_path: str) -> None:
        self.run_log.begin(run_id, config_path)

    def finish_run(self, run_id: str, stats: Mapping[str, Any]) -> None:
        self.run_log.finish(run_id, stats)

    def run_stats(self, run_id: str) -> dict[str, Any]:
        """What the writes of `run_id` did (`RunLog.stats`)."""
        return self.run_log.stats(run_id)

    # -- writes (store_write.py) -------------------------------------------------------------

    def write(
        self,
        items: Iterable[Item],
        decisions: Iterable[Decision],
        dead_letters: Iterable[DeadLetter],
        run_id: str = "",
        story_keys: pa.Table | None = None,
        seen: bool = True,
    ) -> None:
        """Upsert items, their decisions and dead letters in one transaction.

        The decisions given for an item replace all of its earlier ones: a topic that no longer
        scores the item loses its decision. With `story_keys` (`pln.filters.stories.story_keys`
        of the items), new and changed items are linked into stories in the same transaction.
        `seen=False`: no source delivered them now (a rescore); their last sight stays.
        """
        self.writer.write_tables(
            items_table(list(items)),
            decisions_table(list(decisions)),
            dead_letters,
            run_id,
            story_keys,
            seen,
        )

    def write_tables(
        self,
        items: pa.Table,
        decisions: pa.Table,
        dead_letters: Iterable[DeadLetter] = (),
        run_id: str = "",
        story_keys: pa.Table | None = None,
    ) -> None:
        """`write` for batches already in Arrow form (`BatchWriter.write_tables`)."""
        self.writer.write_tables(items, decisions, dead_letters, run_id, story_keys)

    # -- sources (store_sources.py) ----------------------------------------------------------

    def update_sources(
        self,
        statuses: Iterable[SourceStatus],
        run_id: str = "",
        intervals: Mapping[str, float] | None = None,
    ) -> None:
        """Record fetch outcomes and when to poll each source again (`SourceLog.update`)."""
        self.source_log.update(statuses, run_id, intervals)

    def note_source_configs(self, fingerprints: Mapping[str, str]) -> list[str]:
        """Record config fingerprints; returns the sources whose config changed."""
        return self.source_log.note_configs(fingerprints)

    def forget_unconfigured_sources(self, configured: Collection[str]) -> None:
        """Drop the health of sources gone from the config (`SourceLog.forget_unconfigured`)."""
        self.source_log.forget_unconfigured(configured)

    def cursors(self, *, whole: bool = False) -> dict[str, dict]:
        """The last cursor of every source that has one (`SourceLog.cursors`)."""
        return self.source_log.cursors(whole=whole)

    def forget_gone_sources(
        self,
        configured: Collection[str],
        run_id: str = "",
        run_only: bool = False,
        ids: list[str] | None = None,
    ) -> int:
        """Sources not in `configured` stop deciding for items a configured source delivers
        too (store_gone.py); returns how many items were decided again. Among the items run
        `run_id` delivered (`run_only`), or these (`ids`), else all."""
        return forget_gone_sources(self.db, configured, run_id or None, run_only, ids)

    def named_sources(self) -> set[str]:
        """Every source name the stored items list (`items.sources`)."""
        return named_sources(self.db)

    # -- reads (store_read.py) ---------------------------------------------------------------

    def feed_entries(self, topic_id: str, limit: int) -> list[FeedEntry]:
        """The latest `limit` stories a topic kept, newest first (`FeedReader.latest`)."""
        return self.reader.latest(topic_id, limit)

    def feed_entries_by_topic(self, limits: Mapping[str, int]) -> dict[str, list[FeedEntry]]:
        """`feed_entries` of several topics (topic -> limit) in one pass over the view."""
        return self.reader.latest_by_topic(limits)

    def curated_page(
        self, topic_id: str | None, *, limit: int, offset: int = 0, words: str = ""
    ) -> tuple[list[FeedEntry], int]:
        """One page of kept stories and their total (`FeedReader.page`)."""
        return self.reader.page(topic_id, limit=limit, offset=offset, words=words)

    def digest_entries(
        self,
        topic_id: str,
        period: str,
        timezone: str,
        now: datetime,
        *,
        periods: int,
        per_period: int,
    ) -> list[tuple[datetime, list[FeedEntry]]]:
        """The best stories of each recent day or week (`FeedReader.digests`)."""
        return self.reader.digests(
            topic_id, period, timezone, now, periods=periods, per_period=per_period
        )

    def items_by_id(self, ids: Iterable[str]) -> dict[str, Item]:
        """The stored items with these ids (unknown ids are left out)."""
        return self.reader.items(ids)

    def forgotten_on(self, item_id: str) -> datetime | None:
        """When `outputs.keep_days` forgot this item (None: it never did)."""
        return forgotten_on(self.db, item_id)

    # -- labels (store_labels.py) ------------------------------------------------------------

    def add_labels(self, labels: Iterable[Label]) -> int:
        """Record labels, the latest per (item, topic) winning (`LabelBook.add`)."""
        return self.label_book.add(labels)

    def labels(self, topic: str | None = None) -> list[Label]:
        """Every label (of one topic, when given), oldest first."""
        return self.label_book.all(topic)

    # -- SQL (store_sql.py) ------------------------------------------------------------------

    def sql(self, query: str) -> tuple[list[str], list[tuple]]:
        """Run one SQL statement; returns column names and rows."""
        return run_sql(self.con, query)

    def user_sql(self, query: str) -> tuple[list[str], list[tuple]]:
        """Run one statement a person typed (`pln sql`) so that it can only read this database
        (`store_sql.run_user_sql`)."""
        if not self.read_only:
            raise PlnError("user SQL runs only on a read-only store")
        return run_user_sql(self.con, query)


__all__ = [
    "FeedEntry",
    "Label",
    "Store",
    "StoreBusy",
    "decisions_table",
    "items_table",
    "lock_wait_default",
]
