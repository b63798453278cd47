"""Labels in the store: a person's +1/-1 on an item for a topic, the latest word winning."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pln.errors import PlnError
from pln.record import utc

from .schema import LABEL_FIELDS, LABEL_ORIGINS, arrow_schema
from .store_db import Database


@dataclass(frozen=True, slots=True)
class Label:
    """A person's word on an item for a topic: +1 "more like this", -1 "less like this"."""

    item_id: str
    topic: str
    label: int
    at: datetime
    origin: str = "cli"  # feed (a link in a feed), cli or csv


class LabelBook:
    """The `labels` table."""

    def __init__(self, db: Database):
        self.db = db

    def add(self, labels: Iterable[Label]) -> int:
        """Record labels; one per (item, topic), the latest `at` wins, so recording the same
        label twice, or an older one after a newer one, changes nothing. Returns how many
        (item, topic) pairs were given."""
        latest: dict[tuple[str, str], Label] = {}
        for label in labels:
            _check(label)
            key = (label.item_id, label.topic)
            if key not in latest or utc(label.at) >= utc(latest[key].at):
                latest[key] = label
        if not latest:
            return 0
        rows = list(latest.values())
        import pyarrow as pa  # here: reading labels, and opening the store, never need it

        table = pa.table(
            {
                "item_id": [r.item_id for r in rows],
                "topic": [r.topic for r in rows],
                "label": [r.label for r in rows],
                "at": [utc(r.at) for r in rows],
                "origin": [r.origin for r in rows],
            },
            schema=arrow_schema(LABEL_FIELDS),
        )
        con = self.db.con
        with self.db.transaction():
            con.register("new_labels", table)
            con.execute(
                """INSERT INTO labels SELECT * FROM new_labels
                   ON CONFLICT (item_id, topic) DO UPDATE SET
                       label = excluded.label, "at" = excluded."at", origin = excluded.origin
                   WHERE excluded."at" >= labels."at"
                """
            )
            con.unregister("new_labels")
        return len(rows)

    def all(self, topic: str | None = None) -> list[Label]:
        """Every label (of one topic, when given), oldest first."""
        rows = self.db.con.execute(
            """SELECT item_id, topic, label, "at", origin FROM labels
               WHERE $topic IS NULL OR topic = $topic ORDER BY "at", item_id, topic""",
            {"topic": topic},
        ).fetchall()
        return [Label(i, t, int(v), utc(at), origin) for i, t, v, at, origin in rows]


def _check(label: Label) -> None:
    where = f"label of item {label.item_id!r} for topic {label.topic!r}"
    if label.label not in (1, -1) or isinstance(label.label, bool):
        raise PlnError(f"{where}: must be +1 or -1, got {label.label!r}")
    if label.origin not in LABEL_ORIGINS:
        raise PlnError(f"{where}: origin must be one of {', '.join(LABEL_ORIGINS)}")
    if not (label.item_id and label.topic) or not isinstance(label.at, datetime):
        raise PlnError(f"{where}: needs an item id, a topic and a time")
