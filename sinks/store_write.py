"""Writing batches to the store: items, decisions, dead letters and stories, in one transaction.

Every write is an Arrow batch upserted by key inside one transaction, so writing the same batch
twice leaves the same rows and counts, and a failed write leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from pln.record import DeadLetter, utc

from .schema import CONTENT_COLUMNS, DEAD_LETTER_FIELDS, ITEM_COLUMNS, arrow_schema
from .store_db import Database, now_utc
from .store_forget import forgotten_among
from .stories import link_stories

# What `_upsert_items` has to do with the staged batch (see `_Staged`).
STAGED_COUNTS = """
    SELECT count(*) FILTER (WHERE (same OR keep) AND NOT grow),
           count(*) FILTER (WHERE (same OR keep) AND grow),
           count(*) FILTER (WHERE known AND (NOT same AND NOT keep OR grow)),
           count(*) FILTER (WHERE NOT same AND NOT keep)
    FROM staged_items"""


def best_decisions(item_ids: str) -> str:
    """SQL making the temp table `best_decisions`: per item (of the query `item_ids`) and
    topic, the decision of the source whose copy it keeps, else scores highest."""
    return f"""CREATE OR REPLACE TEMP TABLE best_decisions AS
        SELECT item_id, topic, score, kept, reason, topic_version, model_version
        FROM source_decisions WHERE item_id IN ({item_ids})
        QUALIFY row_number() OVER (
            PARTITION BY item_id, topic ORDER BY kept DESC, score DESC, source) = 1"""


class _Staged(NamedTuple):
    touched: int  # unchanged: only their bookkeeping is updated
    regrown: int  # unchanged but for a new source in `sources`: rewritten whole
    replaced: int  # stored rows deleted, to be inserted again
    inserted: int  # rows inserted from the batch (new, changed or replaced)


class BatchWriter:
    """The write path of the store (see `write_tables`)."""

    def __init__(self, db: Database):
        self.db = db

    def write_tables(
        self,
        items: pa.Table,
        decisions: pa.Table,
        dead_letters: Iterable[DeadLetter] = (),
        run_id: str = "",
        story_keys: pa.Table | None = None,
        seen: bool = True,
    ) -> None:
        """Upsert items and decisions in Arrow form (see `items_table`, `decisions_table`) and
        dead letters in one transaction; the decisions given for an item replace its earlier
        ones, and `story_keys` link new and changed items into stories (see `Store.write`).
        `seen=False` (`pln rescore`): no source delivered the items now, so their last sight
        (`last_seen_at`, `last_run_id`, which forgetting goes by) stays as it was.

        One post delivered by several sources (same id) is one row, whatever the order the
        copies arrive in, within a batch or across runs: the row holds the copy of the first
        source by name and `sources` lists every source that delivered it. Each source's
        decisions are kept in `source_decisions`; `decisions` holds the best per topic.
        """
        run = run_id or None
        if not items.num_rows:
            self._write(items, decisions, dead_letters, run, story_keys, seen)
            return
        with self.db.transaction():  # the tombstones are read, and noted, with the write
            items, decisions, story_keys = _drop_forgotten(
                self.db, items, decisions, story_keys, run
            )
            self._write(items, decisions, dead_letters, run, story_keys, seen)

    def _write(
        self,
        items: pa.Table,
        decisions: pa.Table,
        dead_letters: Iterable[DeadLetter],
        run: str | None,
        story_keys: pa.Table | None,
        seen: bool,
    ) -> None:
        con = self.db.con
        now = now_utc()
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
        with self.db.transaction():
            con.register("new_decisions", decisions)
            con.register("delivered", delivered)
            if items.num_rows:
                repeats = items.num_rows < delivered.num_rows
                self._upsert_items(items, now, run, repeats, seen)
            if items.num_rows or decisions.num_rows:
                unnamed = decisions.num_rows and pc.any(pc.equal(decisions["source"], "")).as_py()
                self._best_decisions(rescored=items.num_rows > 0, unnamed=bool(unnamed))
            if items.num_rows:
                # Items written here lose the decisions of topics that no longer score them
                # (for any source); items not in this batch keep theirs.
                con.execute(
                    """DELETE FROM decisions d
                       WHERE d.item_id IN (SELECT id FROM staged_items)
                         AND NOT EXISTS (SELECT 1 FROM best_decisions n
                                         WHERE n.item_id = d.item_id AND n.topic = d.topic)"""
                )
                if story_keys is not None:
                    self._link_stories(story_keys)
                con.execute("DROP TABLE staged_items")
            if items.num_rows or decisions.num_rows:
                self.upsert_best_decisions(now, run)
                con.execute("DROP TABLE best_decisions")
            con.unregister("new_decisions")
            con.unregister("delivered")
            if dead_letters:
                self._upsert_dead_letters(dead_letters, now, run)

    def _best_decisions(self, rescored: bool, unnamed: bool) -> None:
        """Record this batch's decisions per source, and stage in `best_decisions` the best
        decision per (item, topic) of every item the batch touched. `unnamed`: some decisions
        name no source."""
        con = self.db.con
        scored = "new_decisions"
        if unnamed:
            scored = "scored"
            con.execute(
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
            con.execute(
                f"""DELETE FROM source_decisions sd
                    WHERE EXISTS (SELECT 1 FROM delivered d
                                  WHERE d.id = sd.item_id AND d.source = sd.source)
                      AND NOT EXISTS (SELECT 1 FROM {scored} n WHERE n.item_id = sd.item_id
                                      AND n.topic = sd.topic AND n.source = sd.source)"""
            )
        con.execute(
            f"""INSERT OR REPLACE INTO source_decisions
                SELECT n.item_id, n.topic, n.source, n.score, n.kept, n.reason,
                       n.topic_version, n.model_version
                FROM {scored} n LEFT JOIN source_decisions o  -- at most one: o's key
                    ON o.item_id = n.item_id AND o.topic = n.topic AND o.source = n.source
                -- unchanged decisions (the common case) are left alone; a join is ~2x faster
                -- than NOT EXISTS here
                WHERE o.item_id IS NULL
                   OR (o.score, o.kept, o.reason, o.topic_version, o.model_version)
                      IS DISTINCT FROM
                      (n.score, n.kept, n.reason, n.topic_version, n.model_version);
                {best_decisions(f"SELECT item_id FROM {scored} UNION ALL SELECT id FROM delivered")}"""
            + ("; DROP TABLE scored" if unnamed else "")
        )

    def _upsert_items(
        self, table: pa.Table, now: datetime, run: str | None, repeats: bool, seen: bool
    ):
        """Insert new items, rewrite changed ones, and only touch the bookkeeping of the rest.

        Changed rows are deleted and re-inserted with their first sight carried over: on wide
        rows that is ~10x faster than ON CONFLICT DO UPDATE, and a re-read of unchanged items
        (the common case) rewrites nothing but three narrow columns.
        """
        con = self.db.con
        con.register("new_items", table)
        self._apply_staged(self._stage_items(repeats), now, run, seen)
        con.unregister("new_items")

    def _stage_items(self, repeats: bool) -> _Staged:
        """Stage the batch `new_items` against the stored rows in `staged_items`; returns what
        is to be done. `repeats`: the batch held several copies of some item."""
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
        self.db.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE staged_items AS
                SELECT n.id, n.fetched_at, keep,
                       CASE WHEN keep THEN p.content_hash ELSE hash({content}) END
                           AS content_hash,
                       hash({whole}) AS row_hash, p.id IS NOT NULL AS known,
                       p.row_hash IS NOT DISTINCT FROM hash({whole}) AS same,
                       p.content_hash AS prior_content_hash, p.first_seen_at, p.updated_at,
                       p.run_id, p.updated_run_id, p.last_seen_at, p.last_run_id,
                       list_sort(list_distinct(list_concat(coalesce(p.sources, []), d.srcs)))
                           AS sources,
                       NOT list_has_all(coalesce(p.sources, []), d.srcs) AS grow
                FROM new_items n LEFT JOIN items p ON p.id = n.id
                {delivered}
                LATERAL (SELECT coalesce(p.source < n.source, false) AS keep)"""
        )
        return _Staged(*self.db.con.execute(STAGED_COUNTS).fetchone())

    def _apply_staged(self, staged: _Staged, now: datetime, run: str | None, seen: bool) -> None:
        """Write the staged batch; statements with nothing to do are skipped (each costs
        milliseconds even then). `seen=False`: rows keep their last sight (`write_tables`)."""
        con = self.db.con
        seen_at, seen_in = ("$now", "$run") if seen else ("s.last_seen_at", "s.last_run_id")
        sight = {"now": now, "run": run} if seen else {}  # what seen_at and seen_in need
        if staged.touched:
            con.execute(
                f"""UPDATE items SET fetched_at = CASE WHEN s.same THEN s.fetched_at
                                                       ELSE items.fetched_at END,
                                     last_seen_at = {seen_at}, last_run_id = {seen_in}
                    FROM staged_items s
                    WHERE (s.same OR s.keep) AND NOT s.grow AND items.id = s.id""",
                sight,
            )
        if staged.regrown:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE regrown AS
                   SELECT i.* REPLACE (s.sources AS sources, {seen_at} AS last_seen_at,
                                       {seen_in} AS last_run_id,
                                       CASE WHEN s.same THEN s.fetched_at ELSE i.fetched_at END
                                           AS fetched_at)
                   FROM items i JOIN staged_items s ON s.id = i.id
                   WHERE (s.same OR s.keep) AND s.grow""",
                sight,
            )
        if staged.replaced:
            con.execute(
                """DELETE FROM items WHERE id IN (
                       SELECT id FROM staged_items
                       WHERE known AND (NOT same AND NOT keep OR grow))"""
            )
        changed = "NOT s.known OR s.content_hash IS DISTINCT FROM s.prior_content_hash"
        if staged.inserted:
            con.execute(
                f"""INSERT INTO items
                    SELECT {", ".join(f"n.{c}" for c in ITEM_COLUMNS)}, s.content_hash,
                           s.row_hash, coalesce(s.first_seen_at, $now),
                           {"$now" if seen else "coalesce(s.last_seen_at, $now)"},
                           CASE WHEN {changed} THEN $now ELSE s.updated_at END,
                           CASE WHEN s.known THEN s.run_id ELSE $run END,
                           {"$run" if seen else "coalesce(s.last_run_id, $run)"},
                           CASE WHEN {changed} THEN $run ELSE s.updated_run_id END,
                           s.sources
                    FROM new_items n JOIN staged_items s ON s.id = n.id
                    WHERE NOT s.same AND NOT s.keep""",
                {"now": now, "run": run},
            )
        if staged.regrown:
            con.execute("INSERT INTO items SELECT * FROM regrown; DROP TABLE regrown")

    def _link_stories(self, story_keys: pa.Table) -> None:
        """Link the new, changed and never linked items just staged into stories (stories.py)."""
        con = self.db.con
        [(linked,)] = con.execute(
            """CREATE OR REPLACE TEMP TABLE story_batch AS
               SELECT s.id, s.known FROM staged_items s LEFT JOIN story_members m ON m.item_id = s.id
               WHERE NOT s.known OR s.content_hash IS DISTINCT FROM s.prior_content_hash
                  OR m.item_id IS NULL"""
        ).fetchall()
        if linked:
            link_stories(con, story_keys)
        con.execute("DROP TABLE story_batch")

    def upsert_best_decisions(self, now: datetime, run: str | None) -> None:
        """Write the temp table `best_decisions` (one row per item and topic) to `decisions`."""
        con = self.db.con
        changed = (
            "(decisions.score, decisions.kept, decisions.reason) IS DISTINCT FROM "
            "(excluded.score, excluded.kept, excluded.reason)"
        )
        con.execute(
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
        con = self.db.con
        table = pa.table(
            {
                "id": [d.id for d in dead],
                "source": [d.source for d in dead],
                "ref": [d.ref for d in dead],
                "reason": [d.reason for d in dead],
                "raw": [d.raw for d in dead],
                "at": [utc(d.at) for d in dead],
            },
            schema=arrow_schema(DEAD_LETTER_FIELDS),
        )
        con.register("new_dead_letters", table)
        # A row of the same source, ref and raw text under another id is this record, read
        # with another reason (a newer pln's wording, a refused file's new size): replaced.
        # Refs name a file relative to the config folder (Source.shown_path); older pln named
        # it by its absolute path (chat lines: by its bare name). A row of the same source and
        # raw text whose ref is such an old name of the new ref is this record too, so a moved
        # project folder or an upgrade keeps one row. Rows written now are never touched.
        con.execute(
            # A hashtag chat's posts name their source first (`chat.posts:data/x.jsonl:2`):
            # the names are compared after it.
            """DELETE FROM dead_letters d USING (
                   SELECT source, raw, ref, head, ref[length(head) + 1:] AS name
                   FROM (SELECT *, CASE WHEN starts_with(ref, source || '.posts:')
                                        THEN source || '.posts:' ELSE '' END AS head
                         FROM new_dead_letters)) n
               WHERE d.source = n.source AND d.raw = n.raw AND starts_with(d.ref, n.head)
                 AND d.id NOT IN (SELECT id FROM new_dead_letters)
                 AND (d.ref = n.ref
                      OR starts_with(d.ref, n.head || '/') AND ends_with(d.ref, '/' || n.name)
                      OR NOT contains(d.ref[length(n.head) + 1:], '/')
                         AND ends_with(n.name, '/' || d.ref[length(n.head) + 1:]))"""
        )
        con.execute(
            """INSERT INTO dead_letters
               SELECT id, source, ref, reason, raw, "at", $now, $run FROM new_dead_letters
               ON CONFLICT (id) DO UPDATE SET raw = excluded.raw,
                   last_seen_at = excluded.last_seen_at, run_id = excluded.run_id""",
            {"now": now, "run": run},
        )
        con.unregister("new_dead_letters")


def _last_per_key(table: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    """Drop earlier rows of a repeated key (cheap check first: repeats are rare)."""
    columns = [table.column(k).to_pylist() for k in keys]
    rows = list(zip(*columns, strict=True)) if len(keys) > 1 else columns[0]
    last = {key: i for i, key in enumerate(rows)}
    if len(last) == table.num_rows:
        return table
    return table.take(sorted(last.values()))


def _drop_forgotten(
    db: Database,
    items: pa.Table,
    decisions: pa.Table,
    story_keys: pa.Table | None,
    run_id: str | None,
) -> tuple[pa.Table, pa.Table, pa.Table | None]:
    """The batch without the items forgotten earlier (store_forget.py), and their rows."""
    gone = forgotten_among(db, items["id"], run_id)
    if gone is None:
        return items, decisions, story_keys

    def others(table: pa.Table, column: str) -> pa.Table:
        return table.filter(pc.invert(pc.is_in(table[column], value_set=gone)))

    keys = None if story_keys is None else others(story_keys, "item_id")
    return others(items, "id"), others(decisions, "item_id"), keys


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
