"""What the served pages ask the database, through a read-only `Store` (which waits while a
writer holds the file). One lock per process: DuckDB refuses a read-only and a read-write
connection to the same file in one process, and the feedback journal writes from this process."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path

PEOPLE_LIMIT = 200

_DB_LOCK = threading.RLock()


@contextlib.contextmanager
def database_lock():
    """Held while this process has the database open (pages read, labels write)."""
    with _DB_LOCK:
        yield


@contextlib.contextmanager
def reading(db_path: Path, wait: float):
    """A read-only Store of `db_path`, or a PlnError (StoreBusy while a writer holds it)."""
    from pln.sinks.store import Store

    with database_lock(), Store(db_path, read_only=True, wait=wait) as store:
        yield store


@dataclass(frozen=True)
class Person:
    """Someone in the PLN: how much they post, how much of it the topics kept, per topic, and
    the feedback given on their items."""

    name: str
    platforms: tuple[str, ...]
    posts: int  # items and chat threads they posted or took part in
    kept: int
    topics: dict[str, int]  # topic -> items of theirs it kept
    liked: int  # "more like this" on their items
    disliked: int


def people(store, limit: int = PEOPLE_LIMIT) -> list[Person]:
    """The most active people of the PLN, those with the most kept items first."""
    _, rows = store.sql(
        f"""WITH per_topic AS (
                SELECT author AS person, topic, count(*) AS n FROM curated_items
                WHERE author <> '' AND kind <> 'chat_thread' GROUP BY ALL
                UNION ALL
                SELECT p.person, c.topic, count(*) FROM curated_items c,
                       unnest(c.participants) AS p(person)
                WHERE c.kind = 'chat_thread' AND p.person <> '' GROUP BY ALL),
            topics AS (
                SELECT person, map(list(topic ORDER BY n DESC, topic),
                                   list(n ORDER BY n DESC, topic)) AS topics
                FROM (SELECT person, topic, sum(n)::BIGINT AS n FROM per_topic GROUP BY ALL)
                GROUP BY person),
            feedback AS (
                SELECT i.author AS person, count(*) FILTER (WHERE l.label > 0) AS liked,
                       count(*) FILTER (WHERE l.label < 0) AS disliked
                FROM labels l JOIN items i ON i.id = l.item_id
                WHERE i.author <> '' GROUP BY ALL)
            SELECT a.person, a.platforms, a.items + a.chat_threads, a.kept,
                   coalesce(t.topics, MAP {{}}), coalesce(f.liked, 0), coalesce(f.disliked, 0)
            FROM active_people a
            LEFT JOIN topics t USING (person) LEFT JOIN feedback f USING (person)
            ORDER BY a.kept DESC, a.items + a.chat_threads DESC, a.person
            LIMIT {int(limit)}"""
    )
    return [
        Person(name, tuple(platforms or ()), posts, kept, dict(topics or {}), liked, disliked)
        for name, platforms, posts, kept, topics, liked, disliked in rows
    ]
