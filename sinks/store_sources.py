"""Source health in the store: fetch outcomes, cursors, the next poll, config fingerprints.

When to poll again is `pln.backoff`'s policy (the one the ingester uses too); this module only
records its answer.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from datetime import timedelta
from typing import Any

import duckdb

from pln.backoff import next_poll_delay
from pln.record import SourceStatus, lasting, utc

from .schema import SOURCE_COLUMNS
from .store_db import Database, now_utc

DEFAULT_INTERVAL = 900.0  # seconds between polls when the caller does not say


class SourceLog:
    """The `sources` and `source_configs` tables."""

    def __init__(self, db: Database):
        self.db = db

    def update(
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
        con = self.db.con
        names = sorted({s.source for s in statuses})
        columns = SOURCE_COLUMNS
        rows = con.execute(
            f"SELECT {', '.join(columns)} FROM sources WHERE name IN (SELECT unnest($names))",
            {"names": names},
        ).fetchall()
        state: dict[str, dict[str, Any]] = {r[0]: dict(zip(columns, r, strict=True)) for r in rows}
        for status in statuses:
            previous = state.get(status.source)
            row = source_row(status, previous, run_id, (intervals or {}).get(status.source))
            if row is not None:
                state[status.source] = row
        # Column lists unnested side by side: a few hundred rows need no Arrow table.
        values = {c: [state[n][c] for n in names] for c in columns}
        select = ", ".join(f"unnest(${c}) AS {c}" for c in columns)
        with self.db.transaction():
            con.execute(f"INSERT OR REPLACE INTO sources BY NAME SELECT {select}", values)

    def note_configs(self, fingerprints: Mapping[str, str]) -> list[str]:
        """Record each source's config fingerprint (name -> SourceConfig.fingerprint). Sources
        whose fingerprint changed lose their error count, backoff and cursor, so an edited
        source is read at once and whole; returns their names."""
        if not fingerprints:
            return []
        con = self.db.con
        with self.db.transaction():
            con.execute(
                """CREATE OR REPLACE TEMP TABLE new_configs AS
                   SELECT unnest($names) AS name, unnest($prints) AS fingerprint""",
                {"names": list(fingerprints), "prints": list(fingerprints.values())},
            )
            changed = [
                name
                for (name,) in con.execute(
                    """SELECT n.name FROM new_configs n JOIN source_configs c USING (name)
                       WHERE c.fingerprint <> n.fingerprint ORDER BY n.name"""
                ).fetchall()
            ]
            if changed:  # the cursor keeps how the source names its items (base.lasting)
                kept = {
                    name: lasting(json.loads(cursor)) if cursor else None
                    for name, cursor in con.execute(
                        "SELECT name, cursor FROM sources WHERE name IN (SELECT unnest($names))",
                        {"names": changed},
                    ).fetchall()
                }
                con.execute(
                    """UPDATE sources SET error_count = 0, next_poll_at = NULL, cursor = k.cursor
                       FROM (SELECT unnest($names) AS name, unnest($cursors) AS cursor) k
                       WHERE sources.name = k.name""",
                    {
                        "names": list(kept),
                        "cursors": [
                            json.dumps(c, sort_keys=True) if c else None for c in kept.values()
                        ],
                    },
                )
            con.execute(
                """INSERT INTO source_configs SELECT name, fingerprint, $now FROM new_configs
                   ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint,
                       changed_at = excluded.changed_at
                   WHERE source_configs.fingerprint <> excluded.fingerprint""",
                {"now": now_utc()},
            )
            con.execute("DROP TABLE new_configs")
        return changed

    def forget_unconfigured(self, configured: Collection[str]) -> None:
        """Drop the health, cursor and fingerprint of sources not in `configured` (renamed or
        removed from the config), so `source_health` lists no source that is never polled
        again. Their items and dead letters stay. A config with no sources says nothing about
        which ones are gone."""
        if not configured:
            return
        with self.db.transaction():
            for table in ("sources", "source_configs"):
                self.db.con.execute(
                    f"DELETE FROM {table} WHERE name NOT IN (SELECT unnest($names))",
                    {"names": sorted(configured)},
                )

    def cursors(self, *, whole: bool = False) -> dict[str, dict]:
        """The last cursor of every source that has one; `whole`: only what a source keeps
        when it is read whole (`pln run --full`; base.lasting)."""
        rows = self.db.con.execute("SELECT name, cursor FROM sources WHERE cursor IS NOT NULL")
        found = {name: json.loads(cursor) for name, cursor in rows.fetchall()}
        if whole:
            found = {name: kept for name, c in found.items() if (kept := lasting(c))}
        return found


def moved_sources(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Feeds that have moved: name -> the URL that permanent redirects (301/308) led to in the
    source's last successful fetch (the cursor's "permanent_url", sources/rss.py). A fetch
    without them stores a cursor without it, so a move no longer seen is no longer named; nor
    is one seen before the source's config last changed (the user may have updated its url)."""
    try:
        rows = con.execute(
            """SELECT s.name, s.cursor FROM sources s LEFT JOIN source_configs c USING (name)
               WHERE contains(s.cursor::VARCHAR, '"permanent_url"')
                 AND (c.changed_at IS NULL OR s.last_ok_at >= c.changed_at)
               ORDER BY s.name"""
        ).fetchall()
    except duckdb.CatalogException:  # an older database opened read-only: no source_configs
        return {}
    moved = {name: json.loads(cursor).get("permanent_url") for name, cursor in rows}
    return {name: url for name, url in moved.items() if isinstance(url, str) and url}


def source_row(
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
