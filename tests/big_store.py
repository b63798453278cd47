"""A store as a year of use leaves it, filled with SQL: a million items in seconds, where the
write path would take a minute. Ids are like pln's (20 hex digits: too long for DuckDB to inline,
as in a real store); every fifth item is kept for the topic; each item is its own story."""

from __future__ import annotations

from pathlib import Path

from pln.sinks.store import Store


def fill_store(db: Path, items: int, topic: str, start: int = 0) -> None:
    """`items` items in the store at `db`, titled "Spaced practice, part N" (N = `start` and
    on, published a second apart; N = 0 oldest), all seen now."""
    with Store(db) as store:
        store.con.execute(
            """INSERT INTO items BY NAME
               SELECT left(md5(range::VARCHAR), 20) AS id, 'blog' || (range % 500) AS source,
                      'rss' AS platform, 'article' AS kind, 'post' || range AS native_id,
                      'Author ' || (range % 500) AS author, 'Spaced practice, part ' || range AS title,
                      repeat('spaced practice and retrieval ', 10) AS text,
                      'https://blog.example/' || range AS url,
                      TIMESTAMPTZ '2026-01-01' + INTERVAL (range) SECOND AS published_at,
                      now() AS first_seen_at, now() AS last_seen_at, now() AS updated_at,
                      ['blog' || (range % 500)] AS sources
               FROM range($start, $start + $n)""",
            {"n": items, "start": start},
        )
        store.con.execute(
            """INSERT INTO decisions BY NAME
               SELECT left(md5(range::VARCHAR), 20) AS item_id, $topic AS topic, 0.8 AS score, true AS kept,
                      'matched' AS reason, now() AS decided_at
               FROM range($start, $start + $n, 5)""",
            {"n": items, "start": start, "topic": topic},
        )
        store.con.execute(
            """INSERT INTO story_members
               SELECT left(md5(range::VARCHAR), 20), left(md5(range::VARCHAR), 20)
               FROM range($start, $start + $n)""",
            {"n": items, "start": start},
        )
