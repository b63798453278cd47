"""Reading the store: the entries of topic feeds, digests and archive pages, and items by id.

Feeds are views of the store (`curated_stories` in schema.py), so the RSS output and SQL agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from pln.record import Item, utc

from .schema import ITEM_COLUMNS, ITEM_SEQUENCES
from .search_words import search_patterns
from .store_db import Database


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


class FeedReader:
    """Kept stories as `FeedEntry`s, for feeds, digests and `pln serve`."""

    def __init__(self, db: Database):
        self.db = db

    def latest(self, topic_id: str, limit: int) -> list[FeedEntry]:
        """The latest `limit` stories a topic kept, newest first: each story once, as the item
        the `curated_stories` view picks, with the people who shared it."""
        return self.latest_by_topic({topic_id: limit})[topic_id]

    def latest_by_topic(self, limits: Mapping[str, int]) -> dict[str, list[FeedEntry]]:
        """`latest` of several topics (topic -> limit) in one pass over the view.

        The view's narrow columns pick the entries, and the items' wide ones (text, HTML, raw)
        are read for those alone: carrying them through the window over every kept item took
        half the time on a store of 1M items (0.7 s against 0.33 s)."""
        with self.db.transaction():  # both reads see the same commits
            picked = self.db.con.execute(
                f"""SELECT c.id, {PICK_COLUMNS} FROM curated_stories c
                    JOIN (SELECT unnest($topics) AS topic, unnest($limits) AS n) l USING (topic)
                    QUALIFY row_number() OVER (PARTITION BY c.topic ORDER BY sort_at DESC, id) <= n
                    ORDER BY c.topic, sort_at DESC, id""",
                {"topics": list(limits), "limits": list(limits.values())},
            ).fetchall()
            entries = self._picked_entries(picked)
        out: dict[str, list[FeedEntry]] = {topic: [] for topic in limits}
        for entry in entries:
            out[entry.topic].append(entry)
        return out

    def page(
        self, topic_id: str | None, *, limit: int, offset: int = 0, words: str = ""
    ) -> tuple[list[FeedEntry], int]:
        """One page of kept stories, newest first, and how many there are in all: of one topic
        (None: every topic), only those whose title, text or author contain each of `words`
        (any case, any order; a "quoted phrase" as one; `search_patterns`) when given. For
        `pln serve`'s topic archive and search pages. Picked on narrow columns and counted in
        the same pass, as `latest_by_topic` (1M items: 0.8 s -> 0.4 s)."""
        conditions, params = [], {"limit": limit, "offset": offset}
        if topic_id is not None:
            conditions.append("topic = $topic")
            params["topic"] = topic_id
        # Each a parameter: no SQL is built from the words. Titles keep "<T>" as "‹T›"
        # (pln/clean.py plain_title): the patterns take either for what was typed.
        patterns = search_patterns(words)
        if words.strip() and not patterns:
            return [], 0  # only quotes or punctuation: no words to look for
        haystack = "concat_ws(' ', title, text, author)"
        for n, pattern in enumerate(patterns):
            conditions.append(f"regexp_matches({haystack}, $w{n}, 'i')")
            params[f"w{n}"] = pattern
        where = " AND ".join(conditions) or "true"
        with self.db.transaction():  # the page, its count and its items see the same commits
            rows = self.db.con.execute(
                f"""SELECT count(*) OVER (), id, {PICK_COLUMNS} FROM curated_stories
                    WHERE {where} ORDER BY sort_at DESC, id, topic
                    LIMIT $limit OFFSET $offset""",
                params,
            ).fetchall()
            if rows or not offset:
                total = rows[0][0] if rows else 0
            else:  # past the last page: count them apart
                del params["limit"], params["offset"]
                [(total,)] = self.db.con.execute(
                    f"SELECT count(*) FROM curated_stories WHERE {where}", params
                ).fetchall()
            return self._picked_entries([row[1:] for row in rows]), total

    def digests(
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
        cursor = self.db.con.execute(
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

    def _picked_entries(self, picked: list[tuple]) -> list[FeedEntry]:
        """Entries of rows (id, *PICK_COLUMNS), their items read by id, with their sharers."""
        items = self.items(row[0] for row in picked)
        return self._with_sharers([_entry(items[row[0]], row[1:]) for row in picked])

    def _with_sharers(self, entries: list[FeedEntry]) -> list[FeedEntry]:
        """entries with the first SHARERS people who shared each one's story, in order."""
        stories = sorted({e.story_id for e in entries if e.people})
        if not stories:
            return entries
        found: dict[str, list[str]] = {}
        for story, author in self.db.con.execute(
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

    def items(self, ids: Iterable[str]) -> dict[str, Item]:
        """The stored items with these ids (unknown ids are left out)."""
        rows = self.db.con.execute(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE id IN (SELECT unnest($ids))",
            {"ids": sorted(set(ids))},
        ).fetchall()
        return {row[0]: _item_from_row(row) for row in rows}


SHARERS = 10  # people named per story in a feed item

# What curated_stories says of an entry beside its item's columns.
PICK_COLUMNS = (
    "topic, score, reason, first_seen_at, "
    "greatest(updated_at, decided_at, story_updated_at) AS updated_at, sort_at, "
    'story_id, story_items, people, "rank"'
)
ENTRY_COLUMNS = f"{', '.join(ITEM_COLUMNS)}, {PICK_COLUMNS}"


def _entry_from_row(row: tuple) -> FeedEntry:
    n = len(ITEM_COLUMNS)
    return _entry(_item_from_row(row[:n]), row[n:])


def _entry(item: Item, picked: tuple) -> FeedEntry:
    """The entry of `item`, from the PICK_COLUMNS of its row."""
    topic, score, reason, first_seen, updated, sort_at, story, size, people, rank = picked
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
