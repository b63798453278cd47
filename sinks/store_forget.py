"""Forgetting: the store drops what no source has delivered for a while, so a store left running
for years stays the size of its recent past (`outputs.keep_days`, `pln forget`).

What goes: each item no source delivered since the cutoff, with its decisions, story keys and
story membership; dead letters not seen since; runs that finished before it (the latest run
stays). What stays, however old:
- labelled items (`pln train` reads their text);
- every item of the stories the feeds and digests show now (a quiet topic keeps its feed as it
  is, sharers and all);
- the head of a story that is still alive (a member delivered since the cutoff): the blog post
  a link shared today points at. Its old shares go; a story goes whole once all of it is old.

A forgotten item leaves a tombstone, an 8-byte key of its id in `forgotten_items`, and the write
path drops items with a tombstone: a feed that still lists an old entry, or an archive read again,
does not bring it back as new. DuckDB reuses the freed pages for new rows; the file stops
growing, and `pln compact` (store_compact.py) gives the space back (docs/safety.md, "A store
left running").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pln.progress import counted

from .store_db import Database, now_utc

if TYPE_CHECKING:
    import pyarrow as pa

# The tombstone of an id: the first 16 hex digits of the id, which for pln's ids (20 hex digits,
# a digest) are a key already, or of any other id's MD5. Stable across DuckDB versions (unlike
# `hash()`). 1M tombstones take 7 MB, and a batch's lookup 1-4 ms (strings: 12 MB, 4-15 ms).
_KEY = """('0x' || left(CASE WHEN regexp_full_match({id}, '[0-9a-f]{{20}}') THEN {id}
                            ELSE md5({id}) END, 16))::UBIGINT"""
LAST_FORGET_KEY = "forgotten_at"  # pln_meta: when forgetting last ran (ISO time)


def tombstone_key(column: str) -> str:
    """SQL for the tombstone key of the id in `column`."""
    return _KEY.format(id=column)


@dataclass(frozen=True)
class Forgotten:
    """What one pass of forgetting did (or, on a dry run, would do)."""

    cutoff: datetime
    items: int  # items forgotten
    stories: int  # stories forgotten whole (the others lost old items, and live on)
    kept_labelled: int  # items older than the cutoff kept because they are labelled
    kept_shown: int  # ... because a feed or digest shows their story
    kept_heads: int  # ... because they head a story with newer items
    dead_letters: int
    runs: int
    dry_run: bool = False
    left: int = 0  # old items due to go that a pass with a limit left for the next one

    def as_dict(self, days: int) -> dict:
        """For run stats and JSON summaries."""
        return {**asdict(self), "cutoff": self.cutoff.isoformat(), "days": days}


def forget_before(
    db: Database,
    cutoff: datetime,
    shown_stories: Iterable[str] = (),
    *,
    dry_run: bool = False,
    limit: int | None = None,
) -> Forgotten:
    """Forget, in one transaction, what no source delivered since `cutoff` (see the module
    docstring); `shown_stories`: the story ids (or item ids) the feeds show now.

    `limit`: forget about this many items at most (whole stories, oldest first; a story bigger
    than the limit goes alone), leaving the rest to the next pass (`Forgotten.left`): a stream
    that starts forgetting on a year-old store pauses a second or two per pass instead of 15 s
    once. The old dead letters and runs go with the pass that leaves nothing."""
    import pyarrow as pa  # here: a run that forgets nothing never loads Arrow

    con = db.con
    shown = pa.table({"story_id": pa.array(sorted(set(shown_stories)), pa.string())})
    with db.transaction():
        con.register("shown_stories", shown)
        con.execute(
            """CREATE OR REPLACE TEMP TABLE forget_candidates AS
               WITH story AS (
                   SELECT i.id, coalesce(m.story_id, i.id) AS story_id, i.last_seen_at
                   FROM items i LEFT JOIN story_members m ON m.item_id = i.id),
               alive AS (SELECT DISTINCT story_id FROM story WHERE last_seen_at >= $cutoff),
               old AS (
                   SELECT s.id, s.story_id, s.last_seen_at, s.story_id = s.id AS head,
                          s.id IN (SELECT item_id FROM labels) AS labelled,
                          s.story_id IN (SELECT story_id FROM shown_stories) AS shown,
                          s.story_id = s.id AND s.story_id IN (SELECT story_id FROM alive)
                              AS alive
                   FROM story s WHERE s.last_seen_at < $cutoff)
               SELECT *, NOT (labelled OR shown OR alive) AS gone FROM old""",
            {"cutoff": cutoff},
        )
        con.unregister("shown_stories")
        left = 0 if dry_run or limit is None else _defer_beyond(db, limit)
        items, stories, labelled, shown, alive = con.execute(
            """SELECT count(*) FILTER (WHERE gone), count(*) FILTER (WHERE gone AND head),
                      count(*) FILTER (WHERE labelled),
                      count(*) FILTER (WHERE shown AND NOT labelled),
                      count(*) FILTER (WHERE alive AND NOT (labelled OR shown))
               FROM forget_candidates"""
        ).fetchone()
        dead = runs = 0
        if not left:
            [(dead,)] = con.execute(
                "SELECT count(*) FROM dead_letters WHERE last_seen_at < ?", [cutoff]
            ).fetchall()
            [(runs,)] = con.execute(_OLD_RUNS.format(what="count(*)"), [cutoff]).fetchall()
        if not dry_run:
            _delete(db, cutoff, finished=not left)
        con.execute("DROP TABLE forget_candidates")
    return Forgotten(cutoff, items, stories, labelled, shown, alive, dead, runs, dry_run, left)


def _defer_beyond(db: Database, limit: int) -> int:
    """Keep the first `limit` or so items due to go (whole stories, by their newest delivery,
    oldest first) marked gone, and the rest not; return how many were deferred."""
    [(deferred,)] = db.con.execute(
        """WITH per_story AS (
               SELECT story_id, count(*) AS n, max(last_seen_at) AS newest
               FROM forget_candidates WHERE gone GROUP BY story_id),
           running AS (
               SELECT story_id, sum(n) OVER (ORDER BY newest, story_id) AS upto,
                      row_number() OVER (ORDER BY newest, story_id) AS nth
               FROM per_story),
           later AS (SELECT story_id FROM running WHERE upto > $limit AND nth > 1)
           UPDATE forget_candidates SET gone = false
           WHERE gone AND story_id IN (SELECT story_id FROM later)""",
        {"limit": limit},
    ).fetchall()  # DuckDB answers an UPDATE with the number of rows it changed
    return deferred


# Runs that ended (or, never finished, began) before the cutoff; never the latest run.
_OLD_RUNS = """SELECT {what} FROM runs
               WHERE coalesce(finished_at, started_at) < ?
                 AND started_at < (SELECT max(started_at) FROM runs)"""


def _delete(db: Database, cutoff: datetime, *, finished: bool) -> None:
    con = db.con
    con.execute(
        """CREATE OR REPLACE TEMP TABLE forget_ids AS
           SELECT id FROM forget_candidates WHERE gone"""
    )
    _drop_items(con, "SELECT id FROM forget_ids", {})
    con.execute("DROP TABLE forget_ids")
    if not finished:  # more to forget: the next pass comes soon, and does the rest
        return
    con.execute("DELETE FROM dead_letters WHERE last_seen_at < ?", [cutoff])
    con.execute(f"DELETE FROM runs WHERE run_id IN ({_OLD_RUNS.format(what='run_id')})", [cutoff])
    con.execute(
        "INSERT OR REPLACE INTO pln_meta VALUES (?, ?)", [LAST_FORGET_KEY, now_utc().isoformat()]
    )


def forget_items(
    db: Database, wanted: Iterable[str], *, dry_run: bool = False
) -> tuple[list[tuple[str, str, int]], list[str]]:
    """Forget these items now, whatever their age, labels or feeds: a post deleted upstream
    (or a phone number shared by mistake) leaves the store, and a tombstone keeps it out when a
    source delivers it again. Each of `wanted` is an item id or an item's link. Returns the
    (id, title, number of labels) of the items found, in the order asked, and the `wanted`
    that matched none. Their labels go too (the text they label is gone). A story headed by
    one of them lives on under its id."""
    wanted = list(dict.fromkeys(wanted))
    con = db.con
    found = con.execute(
        """SELECT w.value, i.id, i.title,
                  (SELECT count(*) FROM labels l WHERE l.item_id = i.id) AS labels
           FROM (SELECT unnest($wanted) AS value, generate_subscripts($wanted, 1) AS n) w
           JOIN items i ON i.id = w.value OR i.url = w.value
           ORDER BY w.n, i.id""",
        {"wanted": wanted},
    ).fetchall()
    matched = {value for value, *_ in found}
    items = list(dict.fromkeys(tuple(row[1:]) for row in found))
    missing = [value for value in wanted if value not in matched]
    if dry_run or not items:
        return items, missing
    ids = {"ids": [item_id for item_id, *_ in items]}
    with db.transaction():
        _drop_items(con, "SELECT unnest($ids) AS id", ids, also=("labels",))
    return items, missing


def _drop_items(con, ids: str, params: dict, also: tuple[str, ...] = ()) -> None:
    """Delete the items `ids` (a query of an `id` column) with their rows in the tables about
    items (and in `also`), and leave their tombstones."""
    for table in ("decisions", "source_decisions", "item_keys", "story_members", *also):
        con.execute(f"DELETE FROM {table} WHERE item_id IN ({ids})", params)
    con.execute(f"DELETE FROM items WHERE id IN ({ids})", params)
    con.execute(
        f"""INSERT INTO forgotten_items
            SELECT {tombstone_key("id")}, $now, NULL FROM ({ids})""",
        {**params, "now": now_utc()},
    )


def last_forget(db: Database) -> datetime | None:
    """When forgetting last ran on this store (None: never)."""
    value = db.meta(LAST_FORGET_KEY)
    return datetime.fromisoformat(value) if value else None


def forgotten_on(db: Database, item_id: str) -> datetime | None:
    """When the item with this id was forgotten (None: never, as far as this store knows)."""
    import duckdb

    try:
        rows = db.con.execute(
            f"""SELECT max(forgotten_at) FROM forgotten_items
                WHERE "key" = (SELECT {tombstone_key("$id")})""",
            {"id": item_id},
        ).fetchall()
    except duckdb.Error:  # a store from before forgetting, opened read-only
        return None
    return rows[0][0]


def forgotten_among(db: Database, ids: pa.Array, run_id: str | None) -> pa.Array | None:
    """Those of `ids` that have a tombstone, which notes `run_id` as the last run that offered
    them; None when none has (the usual case, and every case on a store that never forgot).
    Call inside the write's transaction."""
    con = db.con
    [(any_forgotten,)] = con.execute("SELECT EXISTS (SELECT 1 FROM forgotten_items)").fetchall()
    if not any_forgotten:
        return None
    import pyarrow as pa

    con.register("batch_ids", pa.table({"id": ids}))
    try:
        found = con.execute(
            f"""SELECT DISTINCT id FROM batch_ids
                WHERE {tombstone_key("id")} IN (SELECT "key" FROM forgotten_items)"""
        ).fetchall()
        if found and run_id:
            con.execute(
                f"""UPDATE forgotten_items SET offered_run_id = $run
                    WHERE "key" IN (SELECT {tombstone_key("id")} FROM batch_ids)""",
                {"run": run_id},
            )
    finally:
        con.unregister("batch_ids")
    return pa.array([row[0] for row in found], pa.string()) if found else None


def forgotten_line(forgotten: dict) -> str:
    """What was (or would be) forgotten, from `Forgotten.as_dict`, e.g. "120 items no source
    delivered in 365 days (118 whole stories); kept 3 labelled; also 2 runs"."""
    f = forgotten
    line = f"{counted(f['items'], 'item')} no source delivered in {counted(f['days'], 'day')}"
    if f["stories"]:
        line += f" ({f['stories']:,} whole stories)"
    kept = [f"{f[k]:,} {what}" for k, what in _KEPT if f[k]]
    if kept:
        line += f"; kept {', '.join(kept)}"
    extra = [f"{f[k]:,} {what}{'s' if f[k] != 1 else ''}" for k, what in _ALSO if f[k]]
    if extra:
        line += f"; also {' and '.join(extra)}"
    if f.get("left"):
        line += f"; {f['left']:,} more to forget in the next passes"
    return line


_KEPT = (
    ("kept_labelled", "labelled"),
    ("kept_shown", "shown in feeds"),
    ("kept_heads", "heading newer stories"),
)
_ALSO = (("dead_letters", "dead letter"), ("runs", "run"))
