"""The DuckDB store: items, decisions, dead letters, source health and runs in one file.

One process writes at a time (DuckDB's file lock): a writer excludes every other process, readers
share the file with each other. Opening waits while another process holds the file (up to
`wait` seconds: PLN_LOCK_WAIT, else 10 s to read and 120 s to write), since writers hold it only
for short transactions; see docs/sql.md. Every write is an Arrow batch upserted by key inside one
transaction, so writing the same batch twice leaves the same rows and counts, and a failed write
leaves nothing half-done. Feeds and `pln sql` read the same tables and views.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pln import progress
from pln.backoff import next_poll_delay
from pln.errors import PlnError, UsageError
from pln.record import DeadLetter, Decision, Item, SourceStatus, utc

from .schema import (
    CONTENT_COLUMNS,
    DDL,
    DEAD_LETTER_ARROW,
    DECISION_ARROW,
    ITEM_COLUMNS,
    ITEM_FIELDS,
    ITEM_SEQUENCES,
    LABEL_ARROW,
    LABEL_ORIGINS,
    SCHEMA_VERSION,
    SOURCE_ARROW,
)
from .snapshot import snapshot_age, snapshot_path
from .stories import link_stories

DDL_HASH = hashlib.sha1(DDL.encode()).hexdigest()[:16]
DEFAULT_INTERVAL = 900.0  # seconds between polls when the caller does not say
LOCK_WAIT_ENV = "PLN_LOCK_WAIT"
# Seconds to wait for another process to release the file. Writers wait longer: a run that has
# fetched and curated everything should not be lost to someone's long `pln sql` query.
DEFAULT_READ_WAIT = 10.0
DEFAULT_WRITE_WAIT = 120.0
NOTE_AFTER = 0.5  # seconds of waiting before saying so
SNAPSHOT_MAX_AGE = 60.0  # a busy file's snapshot older than this is not read (stream gone?)


# What `pln sql` runs first: the query can read the open database and nothing else, and cannot
# undo these (lock_configuration). See https://duckdb.org/docs/operations_manual/securing_duckdb
LOCKED_DOWN = (
    "SET enable_external_access = false",
    "SET allow_community_extensions = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


class StoreBusy(PlnError):
    """Another process held the database file for longer than we were willing to wait."""

    exit_code = 75  # EX_TEMPFAIL: try again later

    def __init__(self, path: Path, holder: str, waited: float = 0.0):
        self.path, self.holder, self.waited = path, holder, waited
        after = f" (waited {waited:.1f} s)" if waited >= NOTE_AFTER else ""
        super().__init__(
            f"database {path} is being written by {holder}{after}; try again when it finishes, "
            "or query a copy of the file"
        )


def lock_wait_default(read_only: bool = True) -> float:
    """Seconds to wait for a busy database: $PLN_LOCK_WAIT, else 10 to read, 120 to write."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_READ_WAIT if read_only else DEFAULT_WRITE_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also rejects nan
        raise PlnError(f"{LOCK_WAIT_ENV} must be a number of seconds, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One kept item of a topic feed, with why it was kept."""

    item: Item
    topic: str
    score: float
    reason: str
    first_seen_at: datetime
    updated_at: datetime  # the latest of: content, decision or story last changed
    sort_at: datetime  # publication time (clamped to first sight), or first sight
    story_id: str = ""  # the story the item stands for in the feed ("" outside any story)
    story_items: int = 1  # items in that story
    people: int = 0  # people who shared the story (distinct authors of its posts)
    sharers: tuple[str, ...] = ()  # the first SHARERS of them, in the order they shared it
    rank: float = 0.0  # score plus a bonus for the people sharing it (digests order by it)

    @property
    def published_at(self) -> datetime:
        return self.item.published_at or self.first_seen_at


@dataclass(frozen=True, slots=True)
class Label:
    """A person's word on an item for a topic: +1 "more like this", -1 "less like this"."""

    item_id: str
    topic: str
    label: int
    at: datetime
    origin: str = "cli"  # feed (a link in a feed), cli or csv


class Store:
    """`with Store(path) as store:` opens (and when writable creates) the DuckDB file.

    While another process holds the file, opening retries for up to `wait` seconds (None:
    `lock_wait_default`), with a progress note, then raises StoreBusy.
    """

    def __init__(self, path: str | Path, read_only: bool = False, wait: float | None = None):
        self.path = Path(path)
        self.read_only = read_only
        self._depth = 0  # open transaction() blocks
        self.snapshot_age: float | None = None  # set when reading a stream's snapshot instead
        self.con = self._connect(lock_wait_default(read_only) if wait is None else wait)
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            if read_only:
                self._check_is_store()
            else:
                self._create_schema()
        except BaseException:
            self.con.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def sharing(cls, other: Store) -> Store:
        """A second handle on `other`'s open database, for another thread (its own cursor):
        it reads what `other` has committed; `other` keeps writing meanwhile."""
        handle = cls.__new__(cls)
        handle.path, handle.read_only, handle._depth = other.path, True, 0
        handle.snapshot_age = None
        handle.con = other.con.cursor()
        return handle

    def _connect(self, wait: float) -> duckdb.DuckDBPyConnection:
        if self.read_only and not self.path.is_file():
            raise UsageError(f"database {self.path} does not exist; run `pln run` first")
        if not self.read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PlnError(f"database {self.path}: cannot create its folder: {exc}") from None
        started = time.monotonic()
        delay, told = 0.005, False
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.Error as exc:
                error = self._open_error(exc)
            waited = time.monotonic() - started
            if not isinstance(error, StoreBusy):
                raise error from None
            if self.read_only and (snapshot := self._fresh_snapshot()) is not None:
                return snapshot
            if not told and waited >= NOTE_AFTER:
                progress.say(f"{error.holder} holds {self.path}; waiting up to {wait:g} s")
                told = True
            if waited >= wait:
                raise StoreBusy(self.path, error.holder, waited) from None
            # Writers hold the file for milliseconds at a time: poll often, then less so.
            time.sleep(min(delay, wait - waited))
            delay = min(delay * 2, 0.1)

    def _fresh_snapshot(self) -> duckdb.DuckDBPyConnection | None:
        """While a stream holds the file, readers get its published snapshot (snapshot.py)."""
        age = snapshot_age(self.path)
        if age is None or age > SNAPSHOT_MAX_AGE:
            return None
        try:
            con = duckdb.connect(str(snapshot_path(self.path)), read_only=True)
        except duckdb.Error:
            return None
        self.snapshot_age = age
        progress.say(f"{self.path} is being written; reading its snapshot from {age:.1f} s ago")
        return con

    def _open_error(self, exc: duckdb.Error) -> PlnError:
        message = _first_line(exc)
        if "lock" in message.lower():
            pid = re.search(r"PID (\d+)", message)
            who = f"another process (PID {pid.group(1)})" if pid else "another process"
            return StoreBusy(self.path, who)
        if "different configuration" in message:
            return PlnError(
                f"database {self.path} is already open in this process in another mode; "
                "close it first"
            )
        return PlnError(f"database {self.path}: cannot open: {message}")

    def _create_schema(self) -> None:
        # Re-running the DDL costs ~20 ms per open; writers that open per poll skip it when the
        # last writer already ran this very DDL.
        if self._meta("ddl_hash") == DDL_HASH:
            return
        self.con.execute(DDL)
        found = self._schema_version()
        if found is None:
            self.con.execute(
                "INSERT INTO pln_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
            )
        elif found != str(SCHEMA_VERSION):
            raise PlnError(
                f"database {self.path} has schema version {found}, this pln expects "
                f"{SCHEMA_VERSION}; use a new database file"
            )
        self.con.execute("INSERT OR REPLACE INTO pln_meta VALUES ('ddl_hash', ?)", [DDL_HASH])

    def _check_is_store(self) -> None:
        tables = {
            r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        if not {"pln_meta", "items", "decisions"} <= tables:
            raise PlnError(f"database {self.path} is not a PLN Curator database")

    def _schema_version(self) -> str | None:
        return self._meta("schema_version")

    def _meta(self, key: str) -> str | None:
        try:
            row = self.con.execute("SELECT value FROM pln_meta WHERE key = ?", [key]).fetchone()
        except duckdb.CatalogException:  # a new, empty file
            return None
        return row[0] if row else None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------------------

    def begin_run(self, run_id: str, config_path: str) -> None:
        self.con.execute(
            "INSERT INTO runs (run_id, config_path, started_at) VALUES (?, ?, ?) "
            "ON CONFLICT (run_id) DO NOTHING",
            [run_id, config_path, _now()],
        )

    def finish_run(self, run_id: str, stats: Mapping[str, Any]) -> None:
        self.con.execute(
            "UPDATE runs SET finished_at = ?, stats = ? WHERE run_id = ?",
            [_now(), json.dumps(stats, default=str), run_id],
        )

    def run_stats(self, run_id: str) -> dict[str, Any]:
        """What the writes of `run_id` did. Meant for right after the run: a later run that
        re-writes the same rows takes them over."""
        written, new, updated, dropped = self.con.execute(
            """SELECT count(*), count(*) FILTER (WHERE run_id = $r),
                      count(*) FILTER (WHERE updated_run_id = $r AND run_id IS DISTINCT FROM $r),
                      count(*) FILTER (WHERE id NOT IN (SELECT item_id FROM decisions WHERE kept))
               FROM items WHERE last_run_id = $r""",
            {"r": run_id},
        ).fetchone()
        topics = {
            topic: {"scored": scored, "kept": kept, "new": fresh}
            for topic, scored, kept, fresh in self.con.execute(
                """SELECT topic, count(*), count(*) FILTER (WHERE kept),
                          count(*) FILTER (WHERE kept_run_id = $r)
                   FROM decisions WHERE run_id = $r GROUP BY topic ORDER BY topic""",
                {"r": run_id},
            ).fetchall()
        }
        dead_by_source = dict(
            self.con.execute(
                "SELECT source, count(*) FROM dead_letters WHERE run_id = ? "
                "GROUP BY source ORDER BY source",
                [run_id],
            ).fetchall()
        )
        sources = self.con.execute(
            "SELECT name, ok, not_modified, error FROM sources WHERE run_id = ? ORDER BY name",
            [run_id],
        ).fetchall()
        notes = self.con.execute(
            "SELECT name, last_drops, last_warnings FROM sources "
            "WHERE run_id = ? AND ok AND NOT not_modified ORDER BY name",
            [run_id],
        ).fetchall()
        return {
            "items": {
                "written": written,
                "new": new,
                "updated": updated,
                "unchanged": written - new - updated,
            },
            "kept": sum(t["kept"] for t in topics.values()),
            "dropped": dropped,  # items written in the run that no topic kept
            "topics": topics,
            "dead_letters": sum(dead_by_source.values()),
            "dead_letters_by_source": dead_by_source,
            # records each source read and left out on purpose, by reason ("chatter": 3)
            "drops_by_source": {n: json.loads(d) for n, d, _ in notes if d},
            "warnings": {n: json.loads(w) for n, _, w in notes if w},
            "sources": {
                "ok": sum(1 for _, ok, _, _ in sources if ok),
                "failed": sum(1 for _, ok, _, _ in sources if not ok),
                "not_modified": sum(1 for _, ok, nm, _ in sources if ok and nm),
                "errors": {name: error for name, ok, _, error in sources if not ok},
            },
        }

    # -- writes ------------------------------------------------------------------------------

    def write(
        self,
        items: Iterable[Item],
        decisions: Iterable[Decision],
        dead_letters: Iterable[DeadLetter],
        run_id: str = "",
        story_keys: pa.Table | None = None,
    ) -> None:
        """Upsert items, their decisions and dead letters in one transaction.

        The decisions given for an item replace all of its earlier ones: a topic that no longer
        scores the item loses its decision. With `story_keys` (`pln.filters.stories.story_keys`
        of the items), new and changed items are linked into stories in the same transaction.
        """
        self.write_tables(
            items_table(list(items)),
            decisions_table(list(decisions)),
            dead_letters,
            run_id,
            story_keys,
        )

    def write_tables(
        self,
        items: pa.Table,
        decisions: pa.Table,
        dead_letters: Iterable[DeadLetter] = (),
        run_id: str = "",
        story_keys: pa.Table | None = None,
    ) -> None:
        """`write` for batches already in Arrow form (see `items_table`, `decisions_table`).

        One post delivered by several sources (same id) is one row, whatever the order the
        copies arrive in, within a batch or across runs: the row holds the copy of the first
        source by name and `sources` lists every source that delivered it. Each source's
        decisions are kept in `source_decisions`; `decisions` holds the best per topic.
        """
        now = _now()
        run = run_id or None
        delivered = items.select(["id", "source"])
        items = _preferred_copies(items)
        if story_keys is not None and items.num_rows < delivered.num_rows:
            # Copies of one post have the same keys: keep each key row once.
            names = story_keys.column_names
            story_keys = story_keys.group_by(names, use_threads=False).aggregate([]).select(names)
        decisions = _last_per_key(decisions, ("item_id", "topic", "source"))
        dead_letters = list({d.id: d for d in dead_letters}.values())
        if not (items.num_rows or decisions.num_rows or dead_letters):
            return
        with self.transaction():
            self.con.register("new_decisions", decisions)
            self.con.register("delivered", delivered)
            if items.num_rows:
                self._upsert_items(items, now, run, repeats=items.num_rows < delivered.num_rows)
            if items.num_rows or decisions.num_rows:
                unnamed = decisions.num_rows and pc.any(pc.equal(decisions["source"], "")).as_py()
                self._best_decisions(rescored=items.num_rows > 0, unnamed=bool(unnamed))
            if items.num_rows:
                # Items written here lose the decisions of topics that no longer score them
                # (for any source); items not in this batch keep theirs.
                self.con.execute(
                    """DELETE FROM decisions d
                       WHERE d.item_id IN (SELECT id FROM staged_items)
                         AND NOT EXISTS (SELECT 1 FROM best_decisions n
                                         WHERE n.item_id = d.item_id AND n.topic = d.topic)"""
                )
                if story_keys is not None:
                    self._link_stories(story_keys)
                self.con.execute("DROP TABLE staged_items")
            if items.num_rows or decisions.num_rows:
                self._upsert_decisions(now, run)
                self.con.execute("DROP TABLE best_decisions")
            self.con.unregister("new_decisions")
            self.con.unregister("delivered")
            if dead_letters:
                self._upsert_dead_letters(dead_letters, now, run)

    def _best_decisions(self, rescored: bool, unnamed: bool) -> None:
        """Record this batch's decisions per source, and stage in `best_decisions` the best
        decision per (item, topic) of every item the batch touched. `unnamed`: some decisions
        name no source."""
        if not unnamed:
            self.con.execute("CREATE OR REPLACE TEMP VIEW scored AS SELECT * FROM new_decisions")
        else:
            self.con.execute(
                """CREATE OR REPLACE TEMP TABLE scored AS
                   SELECT n.item_id, n.topic,
                          -- a decision that names no source is about the copy written with it
                          coalesce(nullif(n.source, ''),
                                   (SELECT min(d.source) FROM delivered d WHERE d.id = n.item_id),
                                   (SELECT i.source FROM items i WHERE i.id = n.item_id),
                                   '') AS source,
                          n.score, n.kept, n.reason, n.topic_version, n.model_version
                   FROM new_decisions n
                   QUALIFY row_number() OVER (
                       PARTITION BY n.item_id, n.topic, source ORDER BY n.score DESC) = 1"""
            )
        if rescored:
            # A source's copy written again loses the decisions of topics that no longer
            # score it; other sources' decisions about the same item stay.
            self.con.execute(
                """DELETE FROM source_decisions sd
                   WHERE EXISTS (SELECT 1 FROM delivered d
                                 WHERE d.id = sd.item_id AND d.source = sd.source)
                     AND NOT EXISTS (SELECT 1 FROM scored n WHERE n.item_id = sd.item_id
                                     AND n.topic = sd.topic AND n.source = sd.source)"""
            )
        self.con.execute(
            """INSERT OR REPLACE INTO source_decisions
               SELECT item_id, topic, source, score, kept, reason, topic_version, model_version
               FROM scored n
               WHERE NOT EXISTS (  -- unchanged decisions (the common case) are left alone
                   SELECT 1 FROM source_decisions o
                   WHERE o.item_id = n.item_id AND o.topic = n.topic AND o.source = n.source
                     AND (o.score, o.kept, o.reason, o.topic_version, o.model_version)
                         IS NOT DISTINCT FROM
                         (n.score, n.kept, n.reason, n.topic_version, n.model_version));
               CREATE OR REPLACE TEMP TABLE best_decisions AS
               SELECT item_id, topic, score, kept, reason, topic_version, model_version
               FROM source_decisions
               WHERE item_id IN (SELECT item_id FROM scored UNION ALL SELECT id FROM delivered)
               QUALIFY row_number() OVER (
                   PARTITION BY item_id, topic ORDER BY kept DESC, score DESC, source) = 1"""
        )
        self.con.execute(f"DROP {'TABLE' if unnamed else 'VIEW'} scored")

    def _upsert_items(self, table: pa.Table, now: datetime, run: str | None, repeats: bool):
        """Insert new items, rewrite changed ones, and only touch the bookkeeping of the rest.

        Changed rows are deleted and re-inserted with their first sight carried over: on wide
        rows that is ~10x faster than ON CONFLICT DO UPDATE, and a re-read of unchanged items
        (the common case) rewrites nothing but three narrow columns.
        """
        self.con.register("new_items", table)
        content = ", ".join(f"n.{c}" for c in CONTENT_COLUMNS)
        whole = ", ".join(f"n.{c}" for c in ITEM_COLUMNS if c != "fetched_at")
        # A narrow staging table (ids, hashes, earlier bookkeeping): the wide columns are read
        # straight from the Arrow batch when inserting.
        # `keep`: the stored row is the copy of a source that comes first by name, so this
        # copy only adds its source to `sources` (the same row whatever the arrival order).
        # Which sources delivered each item: only when the batch held several copies of one.
        delivered = (
            """JOIN (SELECT id, list(DISTINCT source) AS srcs FROM delivered GROUP BY id) d
                    ON d.id = n.id,"""
            if repeats
            else ", (SELECT [n.source] AS srcs) d,"
        )
        # `grow`: the batch names a source the row does not list yet. Such rows are rewritten
        # whole (delete and insert): updating a list column of stored rows is ~10x slower.
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE staged_items AS
                SELECT n.id, n.fetched_at, keep,
                       CASE WHEN keep THEN p.content_hash ELSE hash({content}) END
                           AS content_hash,
                       hash({whole}) AS row_hash, p.id IS NOT NULL AS known,
                       p.row_hash IS NOT DISTINCT FROM hash({whole}) AS same,
                       p.content_hash AS prior_content_hash, p.first_seen_at, p.updated_at,
                       p.run_id, p.updated_run_id,
                       list_sort(list_distinct(list_concat(coalesce(p.sources, []), d.srcs)))
                           AS sources,
                       NOT list_has_all(coalesce(p.sources, []), d.srcs) AS grow
                FROM new_items n LEFT JOIN items p ON p.id = n.id
                {delivered}
                LATERAL (SELECT coalesce(p.source < n.source, false) AS keep)"""
        )
        self.con.execute(
            """UPDATE items SET fetched_at = CASE WHEN s.same THEN s.fetched_at
                                                  ELSE items.fetched_at END,
                                last_seen_at = $now, last_run_id = $run
               FROM staged_items s
               WHERE (s.same OR s.keep) AND NOT s.grow AND items.id = s.id""",
            {"now": now, "run": run},
        )
        self.con.execute(
            """CREATE OR REPLACE TEMP TABLE regrown AS
               SELECT i.* REPLACE (s.sources AS sources, $now AS last_seen_at,
                                   $run AS last_run_id,
                                   CASE WHEN s.same THEN s.fetched_at ELSE i.fetched_at END
                                       AS fetched_at)
               FROM items i JOIN staged_items s ON s.id = i.id
               WHERE (s.same OR s.keep) AND s.grow""",
            {"now": now, "run": run},
        )
        self.con.execute(
            """DELETE FROM items WHERE id IN (
                   SELECT id FROM staged_items
                   WHERE known AND (NOT same AND NOT keep OR grow))"""
        )
        changed = "NOT s.known OR s.content_hash IS DISTINCT FROM s.prior_content_hash"
        self.con.execute(
            f"""INSERT INTO items
                SELECT {", ".join(f"n.{c}" for c in ITEM_COLUMNS)}, s.content_hash, s.row_hash,
                       coalesce(s.first_seen_at, $now), $now,
                       CASE WHEN {changed} THEN $now ELSE s.updated_at END,
                       CASE WHEN s.known THEN s.run_id ELSE $run END,
                       $run,
                       CASE WHEN {changed} THEN $run ELSE s.updated_run_id END,
                       s.sources
                FROM new_items n JOIN staged_items s ON s.id = n.id
                WHERE NOT s.same AND NOT s.keep""",
            {"now": now, "run": run},
        )
        self.con.execute("INSERT INTO items SELECT * FROM regrown; DROP TABLE regrown")
        self.con.unregister("new_items")

    def _link_stories(self, story_keys: pa.Table) -> None:
        """Link the new, changed and never linked items just staged into stories (stories.py)."""
        self.con.execute(
            """CREATE OR REPLACE TEMP TABLE story_batch AS
               SELECT s.id FROM staged_items s
               WHERE NOT s.known OR s.content_hash IS DISTINCT FROM s.prior_content_hash
                  OR s.id NOT IN (SELECT item_id FROM story_members)"""
        )
        if self.con.execute("SELECT count(*) FROM story_batch").fetchall()[0][0]:
            link_stories(self.con, story_keys)
        self.con.execute("DROP TABLE story_batch")

    def _upsert_decisions(self, now: datetime, run: str | None) -> None:
        changed = (
            "(decisions.score, decisions.kept, decisions.reason) IS DISTINCT FROM "
            "(excluded.score, excluded.kept, excluded.reason)"
        )
        self.con.execute(
            f"""INSERT INTO decisions
                SELECT item_id, topic, score, kept, reason, topic_version, model_version,
                       $now, $run, CASE WHEN kept THEN $run END
                FROM best_decisions
                ON CONFLICT (item_id, topic) DO UPDATE SET
                    score = excluded.score,
                    kept = excluded.kept,
                    reason = excluded.reason,
                    topic_version = excluded.topic_version,
                    model_version = excluded.model_version,
                    decided_at = CASE WHEN {changed} THEN excluded.decided_at
                                      ELSE decisions.decided_at END,
                    run_id = excluded.run_id,
                    kept_run_id = CASE WHEN NOT excluded.kept THEN NULL
                                       WHEN decisions.kept THEN decisions.kept_run_id
                                       ELSE excluded.run_id END""",
            {"now": now, "run": run},
        )

    def _upsert_dead_letters(self, dead: list[DeadLetter], now: datetime, run: str | None):
        table = pa.table(
            {
                "id": [d.id for d in dead],
                "source": [d.source for d in dead],
                "ref": [d.ref for d in dead],
                "reason": [d.reason for d in dead],
                "raw": [d.raw for d in dead],
                "at": [utc(d.at) for d in dead],
            },
            schema=DEAD_LETTER_ARROW,
        )
        self.con.register("new_dead_letters", table)
        self.con.execute(
            """INSERT INTO dead_letters
               SELECT id, source, ref, reason, raw, "at", $now, $run FROM new_dead_letters
               ON CONFLICT (id) DO UPDATE SET raw = excluded.raw,
                   last_seen_at = excluded.last_seen_at, run_id = excluded.run_id""",
            {"now": now, "run": run},
        )
        self.con.unregister("new_dead_letters")

    def update_sources(
        self,
        statuses: Iterable[SourceStatus],
        run_id: str = "",
        intervals: Mapping[str, float] | None = None,
    ) -> None:
        """Record fetch outcomes: cursor, consecutive error count, backoff for the next poll.

        A failed fetch keeps the previous cursor. A status no newer than the last recorded
        fetch of its source is ignored, so replaying statuses changes nothing.
        `intervals` maps source name to its poll interval in seconds (default 15 minutes).
        """
        statuses = sorted(statuses, key=lambda s: utc(s.fetched_at))
        if not statuses:
            return
        names = sorted({s.source for s in statuses})
        columns = SOURCE_ARROW.names
        rows = self.con.execute(
            f"SELECT {', '.join(columns)} FROM sources WHERE name IN (SELECT unnest($names))",
            {"names": names},
        ).fetchall()
        state: dict[str, dict[str, Any]] = {r[0]: dict(zip(columns, r, strict=True)) for r in rows}
        for status in statuses:
            previous = state.get(status.source)
            row = _source_row(status, previous, run_id, (intervals or {}).get(status.source))
            if row is not None:
                state[status.source] = row
        table = pa.Table.from_pylist([state[n] for n in names], schema=SOURCE_ARROW)
        with self.transaction():
            self.con.register("new_sources", table)
            self.con.execute("INSERT OR REPLACE INTO sources BY NAME SELECT * FROM new_sources")
            self.con.unregister("new_sources")

    def note_source_configs(self, fingerprints: Mapping[str, str]) -> list[str]:
        """Record each source's config fingerprint (name -> SourceConfig.fingerprint). Sources
        whose fingerprint changed lose their error count, backoff and cursor, so an edited
        source is read at once and whole; returns their names."""
        if not fingerprints:
            return []
        table = pa.table(
            {"name": list(fingerprints), "fingerprint": list(fingerprints.values())},
            schema=pa.schema([("name", pa.string()), ("fingerprint", pa.string())]),
        )
        with self.transaction():
            self.con.register("new_configs", table)
            changed = [
                name
                for (name,) in self.con.execute(
                    """SELECT n.name FROM new_configs n JOIN source_configs c USING (name)
                       WHERE c.fingerprint <> n.fingerprint ORDER BY n.name"""
                ).fetchall()
            ]
            if changed:
                self.con.execute(
                    """UPDATE sources SET error_count = 0, next_poll_at = NULL
                       WHERE name IN (SELECT unnest($names))""",
                    {"names": changed},
                )
            self.con.execute(
                """INSERT INTO source_configs SELECT name, fingerprint, $now FROM new_configs
                   ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint,
                       changed_at = excluded.changed_at
                   WHERE source_configs.fingerprint <> excluded.fingerprint""",
                {"now": _now()},
            )
            self.con.unregister("new_configs")
        return changed

    # -- reads -------------------------------------------------------------------------------

    def cursors(self) -> dict[str, dict]:
        """The last cursor of every source that has one."""
        rows = self.con.execute("SELECT name, cursor FROM sources WHERE cursor IS NOT NULL")
        return {name: json.loads(cursor) for name, cursor in rows.fetchall()}

    def feed_entries(self, topic_id: str, limit: int) -> list[FeedEntry]:
        """The latest `limit` stories a topic kept, newest first: each story once, as the item
        the `curated_stories` view picks, with the people who shared it."""
        return self.feed_entries_by_topic({topic_id: limit})[topic_id]

    def feed_entries_by_topic(self, limits: Mapping[str, int]) -> dict[str, list[FeedEntry]]:
        """`feed_entries` of several topics (topic -> limit) in one pass over the view."""
        cursor = self.con.execute(
            f"""SELECT c.topic, {ENTRY_COLUMNS} FROM curated_stories c
                JOIN (SELECT unnest($topics) AS topic, unnest($limits) AS n) l USING (topic)
                QUALIFY row_number() OVER (PARTITION BY c.topic ORDER BY sort_at DESC, id) <= n
                ORDER BY c.topic, sort_at DESC, id""",
            {"topics": list(limits), "limits": list(limits.values())},
        )
        rows = cursor.fetchall()
        entries = self._with_sharers([_entry_from_row(row[1:]) for row in rows])
        out: dict[str, list[FeedEntry]] = {topic: [] for topic in limits}
        for row, entry in zip(rows, entries, strict=True):
            out[row[0]].append(entry)
        return out

    def curated_page(
        self, topic_id: str | None, *, limit: int, offset: int = 0, words: str = ""
    ) -> tuple[list[FeedEntry], int]:
        """One page of kept stories, newest first, and how many there are in all: of one topic
        (None: every topic), only those whose title, text or author contain `words` when given
        (any case). For `pln serve`'s topic archive and search pages."""
        where = "($topic IS NULL OR topic = $topic) AND ($words = '' OR contains(lower("
        where += "concat_ws(' ', title, text, author)), lower($words)))"
        params = {"topic": topic_id, "words": words}
        rows = self.con.execute(
            f"""SELECT {ENTRY_COLUMNS} FROM curated_stories WHERE {where}
                ORDER BY sort_at DESC, id, topic LIMIT $limit OFFSET $offset""",
            {**params, "limit": limit, "offset": offset},
        ).fetchall()
        [(total,)] = self.con.execute(
            f"SELECT count(*) FROM curated_stories WHERE {where}", params
        ).fetchall()
        return self._with_sharers([_entry_from_row(row) for row in rows]), total

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
        """The best `per_period` kept stories of each of the last `periods` finished days or
        weeks (`period`: "day" or "week", weeks start on Monday, in `timezone`) that had any,
        newest period first, as (local start of the period, entries by rank: the score plus a
        bonus for the people who shared the story)."""
        if period not in ("day", "week"):
            raise ValueError(f"period must be 'day' or 'week', not {period!r}")
        cursor = self.con.execute(
            f"""WITH c AS (
                    SELECT *, date_trunc($unit, timezone($tz, sort_at)) AS period
                    FROM curated_stories WHERE topic = $topic),
                recent AS (
                    SELECT DISTINCT period FROM c
                    WHERE period < date_trunc($unit, timezone($tz, $now::TIMESTAMPTZ))
                    ORDER BY period DESC LIMIT $periods)
                SELECT period, {ENTRY_COLUMNS} FROM c
                WHERE period IN (SELECT period FROM recent)
                QUALIFY row_number() OVER (
                    PARTITION BY period ORDER BY "rank" DESC, sort_at DESC, id) <= $per_period
                ORDER BY period DESC, "rank" DESC, sort_at DESC, id""",
            {
                "unit": period,
                "tz": timezone,
                "topic": topic_id,
                "now": now,
                "periods": periods,
                "per_period": per_period,
            },
        )
        zone = ZoneInfo(timezone)
        digests: dict[datetime, list[FeedEntry]] = {}
        for start, *row in cursor.fetchall():
            digests.setdefault(start.replace(tzinfo=zone), []).append(_entry_from_row(row))
        return [(start, self._with_sharers(entries)) for start, entries in digests.items()]

    def _with_sharers(self, entries: list[FeedEntry]) -> list[FeedEntry]:
        """entries with the first SHARERS people who shared each one's story, in order."""
        stories = sorted({e.story_id for e in entries if e.people})
        if not stories:
            return entries
        found: dict[str, list[str]] = {}
        for story, author in self.con.execute(
            """WITH shares AS (
                   SELECT m.story_id, i.author, i.id,
                          coalesce(least(i.published_at, i.first_seen_at), i.first_seen_at) AS t
                   FROM story_members m JOIN items i ON i.id = m.item_id
                   WHERE m.story_id IN (SELECT unnest($stories))
                     AND i.kind NOT IN ('article', 'chat_thread') AND i.author <> ''
                   QUALIFY row_number() OVER (
                       PARTITION BY m.story_id, lower(i.author) ORDER BY t, i.id) = 1)
               SELECT story_id, author FROM shares
               QUALIFY row_number() OVER (PARTITION BY story_id ORDER BY t, id) <= $n
               ORDER BY story_id, t, id""",
            {"stories": stories, "n": SHARERS},
        ).fetchall():
            found.setdefault(story, []).append(author)
        return [
            replace(e, sharers=tuple(found[e.story_id])) if e.story_id in found else e
            for e in entries
        ]

    def items_by_id(self, ids: Iterable[str]) -> dict[str, Item]:
        """The stored items with these ids (unknown ids are left out)."""
        rows = self.con.execute(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE id IN (SELECT unnest($ids))",
            {"ids": sorted(set(ids))},
        ).fetchall()
        return {row[0]: _item_from_row(row) for row in rows}

    # -- labels ------------------------------------------------------------------------------

    def add_labels(self, labels: Iterable[Label]) -> int:
        """Record labels; one per (item, topic), the latest `at` wins, so recording the same
        label twice, or an older one after a newer one, changes nothing. Returns how many
        (item, topic) pairs were given."""
        latest: dict[tuple[str, str], Label] = {}
        for label in labels:
            _check_label(label)
            key = (label.item_id, label.topic)
            if key not in latest or utc(label.at) >= utc(latest[key].at):
                latest[key] = label
        if not latest:
            return 0
        rows = list(latest.values())
        table = pa.table(
            {
                "item_id": [r.item_id for r in rows],
                "topic": [r.topic for r in rows],
                "label": [r.label for r in rows],
                "at": [utc(r.at) for r in rows],
                "origin": [r.origin for r in rows],
            },
            schema=LABEL_ARROW,
        )
        with self.transaction():
            self.con.register("new_labels", table)
            self.con.execute(
                """INSERT INTO labels SELECT * FROM new_labels
                   ON CONFLICT (item_id, topic) DO UPDATE SET
                       label = excluded.label, "at" = excluded."at", origin = excluded.origin
                   WHERE excluded."at" >= labels."at"
                """
            )
            self.con.unregister("new_labels")
        return len(rows)

    def labels(self, topic: str | None = None) -> list[Label]:
        """Every label (of one topic, when given), oldest first."""
        rows = self.con.execute(
            """SELECT item_id, topic, label, "at", origin FROM labels
               WHERE $topic IS NULL OR topic = $topic ORDER BY "at", item_id, topic""",
            {"topic": topic},
        ).fetchall()
        return [Label(i, t, int(v), utc(at), origin) for i, t, v, at, origin in rows]

    def sql(self, query: str) -> tuple[list[str], list[tuple]]:
        """Run one SQL statement; returns column names and rows."""
        try:
            cursor = self.con.execute(query)
            if cursor is None or cursor.description is None:
                return [], []
            return [d[0] for d in cursor.description], cursor.fetchall()
        except duckdb.Error as exc:
            raise PlnError(f"SQL error: {_first_line(exc)}") from None

    def user_sql(self, query: str) -> tuple[list[str], list[tuple]]:
        """Run one statement a person typed (`pln sql`) so that it can only read this database.

        The connection is locked down first (DuckDB settings, which the query cannot change
        back): no files, no network, no extensions, no other databases. Mistakes and refusals
        raise UsageError (exit code 2); failures of DuckDB itself PlnError (1).
        """
        if not self.read_only:
            raise PlnError("user SQL runs only on a read-only store")
        for setting in LOCKED_DOWN:
            self.con.execute(setting)
        try:
            statements = self.con.extract_statements(query)
        except duckdb.Error as exc:
            raise UsageError(f"SQL error: {_first_line(exc)}") from None
        if not statements:
            raise UsageError('no SQL statement given, e.g. "SELECT count(*) FROM items"')
        if len(statements) > 1:
            raise UsageError(f"one statement at a time, got {len(statements)}")
        try:
            cursor = self.con.execute(query)
            if cursor is None or cursor.description is None:
                return [], []
            return [d[0] for d in cursor.description], cursor.fetchall()
        except duckdb.PermissionException as exc:
            raise UsageError(
                "refused: `pln sql` only reads the database (no files, network, extensions or "
                f"other databases): {_first_line(exc).removeprefix('Permission Error: ')}"
            ) from None
        except (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.InternalException) as exc:
            raise PlnError(f"SQL failed: {_first_line(exc)}") from None
        except duckdb.Error as exc:
            raise UsageError(f"SQL error: {_first_line(exc)}") from None

    # -- helpers -----------------------------------------------------------------------------

    def transaction(self) -> _Transaction:
        """One DuckDB transaction. Nested blocks join the outermost one (DuckDB has no nested
        transactions), so a caller can commit several writes, and its own rows, atomically."""
        return _Transaction(self)


class _Transaction:
    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> None:
        if self.store._depth == 0:
            self.store.con.begin()
        self.store._depth += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self.store._depth -= 1
        if self.store._depth:
            return  # the outermost block commits or rolls back
        if exc_type is None:
            self.store.con.commit()
        else:
            self.store.con.rollback()


def _last_per_key(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """Drop earlier rows of a repeated key (cheap check first: repeats are rare)."""
    columns = [table.column(k).to_pylist() for k in keys]
    rows = list(zip(*columns, strict=True)) if len(keys) > 1 else columns[0]
    last = {key: i for i, key in enumerate(rows)}
    if len(last) == table.num_rows:
        return table
    return table.take(sorted(last.values()))


def _preferred_copies(table: pa.Table) -> pa.Table:
    """One row per id: of several copies, the one of the first source by name (of one source's
    copies, the last), so the batch's order does not matter."""
    ids = table.column("id").to_pylist()
    if len(set(ids)) == len(ids):
        return table
    sources = table.column("source").to_pylist()
    chosen: dict[str, int] = {}
    for i, (item_id, source) in enumerate(zip(ids, sources, strict=True)):
        j = chosen.get(item_id)
        if j is None or source <= sources[j]:
            chosen[item_id] = i
    return table.take(sorted(chosen.values()))


def items_table(items: list[Item]) -> pa.Table:
    """Items as an Arrow table, column by column (far faster than row dicts)."""
    arrays = [pa.array(list(map(attrgetter(name), items)), type=typ) for name, typ in ITEM_FIELDS]
    return pa.Table.from_arrays(arrays, names=list(ITEM_COLUMNS))


def decisions_table(decisions: list[Decision]) -> pa.Table:
    if not decisions:
        return DECISION_ARROW.empty_table()
    arrays = [
        pa.array(list(map(attrgetter(f.name), decisions)), type=f.type) for f in DECISION_ARROW
    ]
    return pa.Table.from_arrays(arrays, schema=DECISION_ARROW)


SHARERS = 10  # people named per story in a feed item
ENTRY_COLUMNS = (
    f"{', '.join(ITEM_COLUMNS)}, topic, score, reason, first_seen_at, "
    "greatest(updated_at, decided_at, story_updated_at) AS updated_at, sort_at, "
    'story_id, story_items, people, "rank"'
)


def _entry_from_row(row: tuple) -> FeedEntry:
    n = len(ITEM_COLUMNS)
    item = _item_from_row(row[:n])
    topic, score, reason, first_seen, updated, sort_at, story, size, people, rank = row[n:]
    in_story = story if size > 1 else ""
    return FeedEntry(
        item,
        topic,
        score,
        reason or "",
        utc(first_seen),
        utc(updated),
        utc(sort_at),
        in_story,
        size,
        people if in_story else 0,
        rank=rank,
    )


def _check_label(label: Label) -> None:
    where = f"label of item {label.item_id!r} for topic {label.topic!r}"
    if label.label not in (1, -1) or isinstance(label.label, bool):
        raise PlnError(f"{where}: must be +1 or -1, got {label.label!r}")
    if label.origin not in LABEL_ORIGINS:
        raise PlnError(f"{where}: origin must be one of {', '.join(LABEL_ORIGINS)}")
    if not (label.item_id and label.topic) or not isinstance(label.at, datetime):
        raise PlnError(f"{where}: needs an item id, a topic and a time")


def _item_from_row(row: tuple) -> Item:
    values = {}
    for name, value in zip(ITEM_COLUMNS, row, strict=True):
        if name in ITEM_SEQUENCES:
            value = tuple(value or ())
        elif isinstance(value, datetime):
            value = utc(value)
        elif value is None and name not in ("published_at", "fetched_at"):
            value = ""
        values[name] = value
    return Item(**values)


def _source_row(
    status: SourceStatus, previous: dict[str, Any] | None, run_id: str, interval: float | None
) -> dict[str, Any] | None:
    """The new `sources` row after one fetch, or None when the status is not newer."""
    at = utc(status.fetched_at)
    prev = previous or {}
    if prev.get("last_fetch_at") is not None and utc(prev["last_fetch_at"]) >= at:
        return None
    interval = interval or DEFAULT_INTERVAL
    errors = 0 if status.ok else (prev.get("error_count") or 0) + 1
    delay = next_poll_delay(interval, errors, None if status.ok else status.retry_after)
    cursor = json.dumps(status.cursor, sort_keys=True) if status.cursor is not None else None
    return {
        "name": status.source,
        "type": status.type,
        "ok": status.ok,
        "error": "" if status.ok else status.error,
        "last_error": prev.get("last_error") if status.ok else status.error,
        "last_error_at": prev.get("last_error_at") if status.ok else at,
        "error_count": errors,
        "items_total": (prev.get("items_total") or 0) + status.items,
        "last_items": status.items,
        "last_dead_letters": status.dead_letters,
        "not_modified": status.not_modified,
        "last_fetch_at": at,
        "last_ok_at": at if status.ok else prev.get("last_ok_at"),
        "cursor": cursor if status.ok and cursor is not None else prev.get("cursor"),
        "next_poll_at": at + timedelta(seconds=delay),
        "run_id": run_id or None,
        **_fetch_notes(status, prev),
    }


def _fetch_notes(status: SourceStatus, prev: dict[str, Any]) -> dict[str, Any]:
    """Drops and warnings of the last fetch that read data (an unchanged source keeps them)."""
    if not status.ok or status.not_modified:
        return {k: prev.get(k) for k in ("last_drops", "last_warnings")}
    return {
        "last_drops": json.dumps(status.drops, sort_keys=True) if status.drops else None,
        "last_warnings": json.dumps(list(status.warnings)) if status.warnings else None,
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["FeedEntry", "Store"]
