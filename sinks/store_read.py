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
from .search_words import search_words
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
    topics: tuple[str, ...] = ()  # `topic`, then (search) the other topics that kept the item

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
        """One page of kept stories, newest first, and how many there are in all, of one topic
        (None: every topic), for `pln serve`'s topic archive; with `words`, a page of `search`.
        Picked on narrow columns and counted in the same pass, as `latest_by_topic` (1M items:
        0.8 s -> 0.4 s)."""
        if words.strip():
            return self.search(words, topic_id, limit=limit, offset=offset)
        where, params = "true", {}
        if topic_id is not None:
            where, params = "topic = $topic", {"topic": topic_id}
        found = f"SELECT id, sort_at, topic FROM curated_stories WHERE {where}"
        sql = f"""SELECT count(*) OVER (), id, {PICK_COLUMNS} FROM curated_stories
                  WHERE {where} ORDER BY sort_at DESC, id, topic LIMIT $limit OFFSET $offset"""
        return self._paged(sql, found, params, limit, offset)

    def search(
        self, words: str, topic_id: str | None = None, *, limit: int, offset: int = 0
    ) -> tuple[list[FeedEntry], int]:
        """One page of the kept items (of one topic; None: any) whose title, text, author or
        chat participants contain each of `words` (any case, any order; `search_words`), newest
        first, and how many there are in all. Each item once, with every topic that kept it
        (`FeedEntry.topics`), whether it heads its story or not: a person's name finds every
        kept item the People page counts for them."""
        # Plain words first: DuckDB looks for them as text, and rows they rule out skip the
        # patterns with classes (`zzqq a-a-a-a`: 38 ms, against 54 in the other order).
        patterns = sorted(search_words(words).patterns, key=lambda p: p.count("\\p"))
        if not patterns:
            return [], 0  # only quotes or punctuation: no words to look for
        # Each a parameter: no SQL is built from the words. Titles keep "<T>" as "‹T›"
        # (pln/clean.py plain_title): the patterns take either for what was typed.
        params: dict = {f"w{n}": pattern for n, pattern in enumerate(patterns)}
        kept = "kept"
        if topic_id is not None:
            kept += " AND topic = $topic"
            params["topic"] = topic_id
        matches = " AND ".join(
            f"regexp_matches({HAYSTACK}, $w{n}, 'i')" for n in range(len(patterns))
        )
        found = f"""SELECT i.id,
                           coalesce(least(i.published_at, i.first_seen_at), i.first_seen_at) AS sort_at
                    FROM (SELECT DISTINCT item_id FROM decisions WHERE {kept}) k
                    JOIN items i ON i.id = k.item_id WHERE {matches}"""
        return self._paged(_search_page_sql(found, kept), found, params, limit, offset)

    def _paged(
        self, page: str, found: str, params: dict, limit: int, offset: int
    ) -> tuple[list[FeedEntry], int]:
        """The entries of the `page` query's rows (count(*) OVER (), id, *PICK_COLUMNS[, topics])
        and the total, counted from `found` when the offset is past the last page."""
        with self.db.transaction():  # the page, its count and its items see the same commits
            rows = self.db.con.execute(
                page, {**params, "limit": limit, "offset": offset}
            ).fetchall()
            if rows or not offset:
                total = rows[0][0] if rows else 0
            else:  # past the last page: count them apart
                [(total,)] = self.db.con.execute(
                    f"SELECT count(*) FROM ({found})", params
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

# What search looks in (items i, joined to the kept ids k): chat threads name the people taking
# part, as People counts them. The CASE on k keeps the optimizer from running the patterns on
# every item before the join (100k items, 20k kept: 117 ms against 44 for a long term).
HAYSTACK = (
    "CASE WHEN k.item_id IS NOT NULL THEN "
    "concat_ws(' ', i.title, i.text, i.author, array_to_string(i.participants, ' ')) END"
)

# What curated_stories says of an entry beside its item's columns.
PICK_COLUMNS = (
    "topic, score, reason, first_seen_at, "
    "greatest(updated_at, decided_at, story_updated_at) AS updated_at, sort_at, "
    'story_id, story_items, people, "rank"'
)
ENTRY_COLUMNS = f"{', '.join(ITEM_COLUMNS)}, {PICK_COLUMNS}"


def _search_page_sql(found: str, kept: str) -> str:
    """The query of a page of search results (`found`: id, sort_at of the items found), as
    rows of `FeedEntry`s: each item as kept by its best-scored topic (of those `kept` says),
    with its story's size and people as the `stories` view counts them."""
    return f"""WITH page AS (
            SELECT count(*) OVER () AS total, * FROM ({found})
            ORDER BY sort_at DESC, id LIMIT $limit OFFSET $offset),
        best AS (
            SELECT item_id AS id, list(topic ORDER BY score DESC, topic) AS topics,
                   max(score) AS score, first(reason ORDER BY score DESC, topic) AS reason,
                   max(decided_at) AS decided_at
            FROM decisions WHERE {kept} AND item_id IN (SELECT id FROM page) GROUP BY item_id),
        story AS (
            SELECT p.id, coalesce(m.story_id, p.id) AS story_id
            FROM page p LEFT JOIN story_members m ON m.item_id = p.id),
        stats AS (  -- the `stories` view, for these stories only
            SELECT m.story_id, count(*) AS n_items,
                   count(DISTINCT lower(i.author)) FILTER (
                       WHERE i.kind NOT IN ('article', 'chat_thread') AND i.author <> ''
                   ) AS n_people,
                   max(i.first_seen_at) AS updated_at
            FROM story_members m JOIN items i ON i.id = m.item_id
            WHERE m.story_id IN (SELECT story_id FROM story)
            GROUP BY m.story_id)
        SELECT p.total, p.id, b.topics[1], b.score, b.reason, i.first_seen_at,
               greatest(i.updated_at, b.decided_at, s.updated_at), p.sort_at, st.story_id,
               coalesce(s.n_items, 1), coalesce(s.n_people, 0),
               b.score + 0.1 * log2(greatest(coalesce(s.n_people, 0), 1)), b.topics
        FROM page p JOIN best b USING (id) JOIN items i USING (id) JOIN story st USING (id)
        LEFT JOIN stats s ON s.story_id = st.story_id
        ORDER BY p.sort_at DESC, p.id"""


def _entry_from_row(row: tuple) -> FeedEntry:
    n = len(ITEM_COLUMNS)
    return _entry(_item_from_row(row[:n]), row[n:])


def _entry(item: Item, picked: tuple) -> FeedEntry:
    """The entry of `item`, from the PICK_COLUMNS of its row (and the topics that kept it)."""
    topic, score, reason, first_seen, updated, sort_at, story, size, people, rank = picked[:10]
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
        topics=tuple(picked[10]) if len(picked) > 10 else (topic,),
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
