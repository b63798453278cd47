"""Sources gone from the config: their say about items a configured source also delivers ends.

The store keeps each source's decisions about an item (`source_decisions`) and the item's best
decision over them (`decisions`), so a topic that takes one source and not another keeps what
either keeps. A source renamed in the config (or removed, or merged into another) leaves its
rows behind, and the best decision went on counting them: an item kept under the old name, at
an old threshold, or before its post was edited, stayed in the feeds for good, and neither
`pln rescore` nor `pln run --full` could end it (found by QA, 4 December 2026).

`forget_gone_sources` drops, for every item that a configured source also delivered, the rows of
the sources no longer configured, takes them off the item's `sources` (the row names a
configured source as its own), and decides such items again from the rows left. An item only
gone sources delivered keeps everything: what a removed blog said stays in the feeds' past.
"""

from __future__ import annotations

from collections.abc import Collection

from .store_db import Database, now_utc

# Items that a configured source delivered and a gone source did too: lists of names are
# compared with the few gone names (against 500 configured ones, the same test took a second
# for 25,000 items; this, milliseconds).
_TOUCHED = """
    CREATE OR REPLACE TEMP TABLE gone_items AS
    SELECT id, list_sort(list_intersect(sources, $kept)) AS kept_sources
    FROM items
    WHERE {scope} list_has_any(sources, $gone)
      AND len(list_intersect(sources, $gone)) < len(sources)"""
_RUN_ONLY = "last_run_id = $run AND"
_THESE = "id IN (SELECT unnest($ids)) AND"


def forget_gone_sources(
    db: Database,
    configured: Collection[str],
    run: str | None,
    run_only: bool = False,
    ids: list[str] | None = None,
) -> int:
    """Apply the module's rule for the sources not in `configured`; returns how many items
    were decided again. Only a delivery makes a configured source join an item's sources, so
    a writer looks at what it delivered: `run_only`, the items `run` delivered (a batch run);
    `ids`, these items (a stream's commit). Neither: every item (`pln rescore`)."""
    if not configured:  # a config with no sources says nothing about which ones are gone
        return 0
    con = db.con
    scope, params = "", {}
    if run_only:
        scope, params = _RUN_ONLY, {"run": run}
    elif ids is not None:
        scope, params = _THESE, {"ids": ids}
    names = named_sources(db, scope, params)
    gone = sorted(names.difference(configured))
    if not gone:
        return 0
    with db.transaction():
        con.execute(
            _TOUCHED.format(scope=scope),
            {**params, "gone": gone, "kept": sorted(names.intersection(configured))},
        )
        [(touched,)] = con.execute("SELECT count(*) FROM gone_items").fetchall()
        if touched:
            _forget(db, run)
        con.execute("DROP TABLE gone_items")
    return touched


def named_sources(db: Database, scope: str = "", params: dict | None = None) -> set[str]:
    """The source names the stored items (of `scope`, a condition ending in AND) list."""
    query = f"SELECT DISTINCT unnest(sources) FROM items WHERE {scope} true"
    return {name for (name,) in db.con.execute(query, params or {}).fetchall()}


def _forget(db: Database, run: str | None) -> None:
    con = db.con
    con.execute(
        """DELETE FROM source_decisions sd USING gone_items g
           WHERE sd.item_id = g.id AND NOT list_contains(g.kept_sources, sd.source);
           -- rewritten whole, as the writer does: updating the list column of 300k rows in
           -- place took 34 s, deleting and inserting them 6 s
           CREATE OR REPLACE TEMP TABLE gone_rows AS
           SELECT i.* REPLACE (
                      g.kept_sources AS sources,
                      CASE WHEN list_contains(g.kept_sources, i.source)
                           THEN i.source ELSE g.kept_sources[1] END AS source)
           FROM items i JOIN gone_items g ON g.id = i.id;
           DELETE FROM items WHERE id IN (SELECT id FROM gone_items);
           INSERT INTO items SELECT * FROM gone_rows;
           DROP TABLE gone_rows;
           -- a topic no configured source's copy scored: the item has no decision for it
           DELETE FROM decisions d USING gone_items g
           WHERE d.item_id = g.id AND NOT EXISTS (
               SELECT 1 FROM source_decisions s
               WHERE s.item_id = d.item_id AND s.topic = d.topic)"""
    )
    from .store_write import BatchWriter, best_decisions  # Arrow: only when it acts

    con.execute(best_decisions("SELECT id FROM gone_items"))
    BatchWriter(db).upsert_best_decisions(now_utc(), run)
    con.execute("DROP TABLE best_decisions")
