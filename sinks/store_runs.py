"""Run bookkeeping in the store: when each run started and finished, and what its writes did."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .store_db import Database, now_utc


class RunLog:
    """The `runs` table, and the counts of one run's rows in the other tables."""

    def __init__(self, db: Database):
        self.db = db

    def begin(self, run_id: str, config_path: str) -> None:
        self.db.con.execute(
            "INSERT INTO runs (run_id, config_path, started_at) VALUES (?, ?, ?) "
            "ON CONFLICT (run_id) DO NOTHING",
            [run_id, config_path, now_utc()],
        )

    def finish(self, run_id: str, stats: Mapping[str, Any]) -> None:
        self.db.con.execute(
            "UPDATE runs SET finished_at = ?, stats = ? WHERE run_id = ?",
            [now_utc(), json.dumps(stats, default=str), run_id],
        )

    def stats(self, run_id: str) -> dict[str, Any]:
        """What the writes of `run_id` did. Meant for right after the run: a later run that
        re-writes the same rows takes them over."""
        con = self.db.con
        written, new, updated, dropped = con.execute(
            """SELECT count(*), count(*) FILTER (WHERE run_id = $r),
                      count(*) FILTER (WHERE updated_run_id = $r AND run_id IS DISTINCT FROM $r),
                      count(*) FILTER (WHERE id NOT IN (SELECT item_id FROM decisions WHERE kept))
               FROM items WHERE last_run_id = $r""",
            {"r": run_id},
        ).fetchone()
        topics = {
            topic: {"scored": scored, "kept": kept, "new": fresh}
            for topic, scored, kept, fresh in con.execute(
                """SELECT topic, count(*), count(*) FILTER (WHERE kept),
                          count(*) FILTER (WHERE kept_run_id = $r)
                   FROM decisions WHERE run_id = $r GROUP BY topic ORDER BY topic""",
                {"r": run_id},
            ).fetchall()
        }
        dead_by_source = dict(
            con.execute(
                "SELECT source, count(*) FROM dead_letters WHERE run_id = ? "
                "GROUP BY source ORDER BY source",
                [run_id],
            ).fetchall()
        )
        sources = con.execute(
            "SELECT name, ok, not_modified, error FROM sources WHERE run_id = ? ORDER BY name",
            [run_id],
        ).fetchall()
        notes = con.execute(
            "SELECT name, last_drops, last_warnings FROM sources "
            "WHERE run_id = ? AND ok AND NOT not_modified ORDER BY name",
            [run_id],
        ).fetchall()
        [(refused,)] = con.execute(
            "SELECT count(*) FROM forgotten_items WHERE offered_run_id = ?", [run_id]
        ).fetchall()
        return {
            "items": {
                "written": written,
                "new": new,
                "updated": updated,
                "unchanged": written - new - updated,
            },
            "forgotten_earlier": refused,  # items delivered again, left out (store_forget.py)
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
