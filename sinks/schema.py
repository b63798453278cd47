"""The DuckDB schema of the store: tables, the Arrow schemas that feed them (and the builders
of those Arrow tables, which workers use without DuckDB), and SQL views.

Every table is keyed so writes are upserts. Timestamps are TIMESTAMPTZ (UTC), sequences of the
Item record are VARCHAR[] and cursors / run stats are JSON text.

Columns are declared by kind ("string", "strings", "timestamp", ...) and the Arrow schemas are
built from them on first use, so opening the store, reading it and recording source statuses
never import pyarrow (and numpy): a run where every feed answers 304 does none of the rest.
"""

from __future__ import annotations

import functools
from operator import attrgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from pln.record import Decision, Item

# The shape of the store's tables. Bump it whenever a table gains, loses or changes a column
# (tests/test_store_schema.py holds the shape it names): a pln whose number is lower then refuses
# the store in one line instead of failing in the middle of a write. 1 until 4 December 2026,
# through many added columns; every pln before 2 refuses any store whose number is not 1. 3 from
# 6 December: item_keys.stored_at.
SCHEMA_VERSION = 3

Fields = tuple[tuple[str, str], ...]  # (column, kind)

# Item fields in record order, with their kinds (pln.record.Item).
ITEM_FIELDS: Fields = (
    ("id", "string"),
    ("source", "string"),
    ("platform", "string"),
    ("kind", "string"),
    ("native_id", "string"),
    ("author", "string"),
    ("title", "string"),
    ("text", "string"),
    ("html", "string"),
    ("url", "string"),
    ("canonical_url", "string"),
    ("links", "strings"),
    ("hashtags", "strings"),
    ("mentions", "strings"),
    ("lang", "string"),
    ("published_at", "timestamp"),
    ("fetched_at", "timestamp"),
    ("thread_id", "string"),
    ("reply_to", "string"),
    ("participants", "strings"),
    ("entities", "strings"),
    ("raw", "string"),
)
ITEM_COLUMNS = tuple(name for name, _ in ITEM_FIELDS)
ITEM_SEQUENCES = frozenset(name for name, kind in ITEM_FIELDS if kind == "strings")

# What the source said about an item; a change here counts as "updated" in the run stats.
# Fetch time and NLP annotations (lang, entities) are not content.
CONTENT_COLUMNS = (
    "kind",
    "author",
    "title",
    "text",
    "html",
    "url",
    "canonical_url",
    "links",
    "hashtags",
    "mentions",
    "published_at",
    "thread_id",
    "reply_to",
    "participants",
)

DECISION_FIELDS: Fields = (
    ("item_id", "string"),
    ("topic", "string"),
    ("score", "float64"),
    ("kept", "bool"),
    ("reason", "string"),
    ("topic_version", "string"),
    ("model_version", "string"),
    ("source", "string"),
)

DEAD_LETTER_FIELDS: Fields = (
    ("id", "string"),
    ("source", "string"),
    ("ref", "string"),
    ("reason", "string"),
    ("raw", "string"),
    ("at", "timestamp"),
)

LABEL_FIELDS: Fields = (
    ("item_id", "string"),
    ("topic", "string"),
    ("label", "int8"),
    ("at", "timestamp"),
    ("origin", "string"),
)
LABEL_ORIGINS = ("feed", "cli", "csv")

# The `sources` table's columns (see DDL); statuses reach it as column lists, not Arrow.
SOURCE_COLUMNS = (
    "name",
    "type",
    "ok",
    "error",
    "last_error",
    "last_error_at",
    "error_count",
    "items_total",
    "last_items",
    "last_dead_letters",
    "not_modified",
    "last_fetch_at",
    "last_ok_at",
    "cursor",
    "next_poll_at",
    "run_id",
    "last_drops",
    "last_warnings",
)


@functools.cache
def arrow_schema(fields: Fields) -> pa.Schema:
    """The Arrow schema of `fields` (imports pyarrow)."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "strings": pa.list_(pa.string()),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "int8": pa.int8(),
        "int64": pa.int64(),
    }
    return pa.schema([(name, types[kind]) for name, kind in fields])


_SQL_TYPES = {"strings": "VARCHAR[]", "timestamp": "TIMESTAMPTZ"}
_ITEM_DDL = ",\n    ".join(
    f"{name} {_SQL_TYPES.get(kind, 'VARCHAR')}" + (" PRIMARY KEY" if name == "id" else "")
    for name, kind in ITEM_FIELDS
)

DDL = f"""
CREATE TABLE IF NOT EXISTS pln_meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE IF NOT EXISTS items (
    {_ITEM_DDL},
    content_hash UBIGINT,              -- what the source said (see CONTENT_COLUMNS)
    row_hash UBIGINT,                  -- every field but fetched_at
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,    -- when the content last changed
    run_id VARCHAR,                     -- run of first sight
    last_run_id VARCHAR,                -- run of last sight
    updated_run_id VARCHAR,             -- run that last changed the content
    sources VARCHAR[]                   -- every source that delivered it, by name; `source`
                                        -- (whose copy the row holds) is the first of them
);
-- Stores made before `sources` existed (the only migration so far).
ALTER TABLE items ADD COLUMN IF NOT EXISTS sources VARCHAR[];
UPDATE items SET sources = [source] WHERE sources IS NULL;

-- What each topic decided about each source's copy of an item. `decisions` holds the best of
-- them per (item, topic): kept first, then the highest score, then the first source by name;
-- so an item kept for a topic stays kept whichever source delivered it, in whatever order.
CREATE TABLE IF NOT EXISTS source_decisions (
    item_id VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    kept BOOLEAN NOT NULL,
    reason VARCHAR,
    topic_version VARCHAR,
    model_version VARCHAR,
    PRIMARY KEY (item_id, topic, source)
);

CREATE TABLE IF NOT EXISTS decisions (
    item_id VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    score DOUBLE NOT NULL,
    kept BOOLEAN NOT NULL,
    reason VARCHAR,
    topic_version VARCHAR,
    model_version VARCHAR,
    decided_at TIMESTAMPTZ NOT NULL,    -- when score, kept or reason last changed
    run_id VARCHAR,                     -- run that last wrote it
    kept_run_id VARCHAR,                -- run in which it became kept (NULL when not kept)
    PRIMARY KEY (item_id, topic)
);

-- Stores made before `source_decisions` existed: their decisions came from the item's source.
INSERT INTO source_decisions
SELECT d.item_id, d.topic, i.source, d.score, d.kept, d.reason, d.topic_version, d.model_version
FROM decisions d JOIN items i ON i.id = d.item_id
WHERE NOT EXISTS (SELECT 1 FROM source_decisions)
ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS dead_letters (
    id VARCHAR PRIMARY KEY,
    source VARCHAR NOT NULL,
    ref VARCHAR,
    reason VARCHAR,
    raw VARCHAR,
    "at" TIMESTAMPTZ NOT NULL,          -- first time it was recorded ("at" is a keyword)
    last_seen_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR                      -- last run that produced it
);

CREATE TABLE IF NOT EXISTS sources (
    name VARCHAR PRIMARY KEY,
    type VARCHAR,
    ok BOOLEAN,
    error VARCHAR,                      -- error of the last fetch ('' when it succeeded)
    last_error VARCHAR,
    last_error_at TIMESTAMPTZ,
    error_count BIGINT,                 -- consecutive failed fetches
    items_total BIGINT,
    last_items BIGINT,
    last_dead_letters BIGINT,
    not_modified BOOLEAN,
    last_fetch_at TIMESTAMPTZ,
    last_ok_at TIMESTAMPTZ,
    cursor JSON,
    next_poll_at TIMESTAMPTZ,
    run_id VARCHAR,
    last_drops JSON,                    -- records left out on purpose, per reason (chat chatter)
    last_warnings JSON                  -- [one-line warnings] of the last fetch that read data
);
-- Databases made before these columns get them here (the DDL re-runs when it changes).
ALTER TABLE sources ADD COLUMN IF NOT EXISTS last_drops JSON;
ALTER TABLE sources ADD COLUMN IF NOT EXISTS last_warnings JSON;

-- What each source's config was when it was last read (SourceConfig.fingerprint): a source whose
-- config changed starts afresh instead of staying in the backoff of its old config.
CREATE TABLE IF NOT EXISTS source_configs (
    name VARCHAR PRIMARY KEY,
    fingerprint VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    config_path VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    stats JSON
);

-- What a person said about an item for a topic: +1 "more like this", -1 "less like this".
-- One row per (item, topic): the latest word wins, so clicking a feed link twice changes nothing.
CREATE TABLE IF NOT EXISTS labels (
    item_id VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    label TINYINT NOT NULL CHECK (label IN (-1, 1)),
    "at" TIMESTAMPTZ NOT NULL,          -- when it was said
    origin VARCHAR NOT NULL,            -- feed (a link in a feed), cli or csv
    PRIMARY KEY (item_id, topic)
);

-- Stories (see docs/sql.md and pln.sinks.stories): the keys each item was matched by, and the
-- story each item belongs to. A story's id is the id of its head item.
CREATE TABLE IF NOT EXISTS item_keys (
    item_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,              -- self, link, text or band
    "key" BIGINT NOT NULL,
    band TINYINT,                       -- band rows: which band, and 4 x 16 bits of MinHash
    lanes BIGINT,
    "at" TIMESTAMPTZ,                   -- the item's sort time (near-duplicates: a window)
    stored_at TIMESTAMPTZ               -- when the key was stored (band keys are kept 30 days)
);
ALTER TABLE item_keys ADD COLUMN IF NOT EXISTS stored_at TIMESTAMPTZ;

CREATE TABLE IF NOT EXISTS story_members (
    item_id VARCHAR PRIMARY KEY,
    story_id VARCHAR NOT NULL
);

-- Tombstones of forgotten items (store_forget.py): an 8-byte key of each id, so that a source
-- delivering a forgotten item again does not bring it back.
CREATE TABLE IF NOT EXISTS forgotten_items (
    "key" UBIGINT NOT NULL,
    forgotten_at TIMESTAMPTZ NOT NULL,
    offered_run_id VARCHAR              -- the last run a source delivered it in, and was refused
);

-- Kept items per topic, newest first. `sort_at` is the publication time, clamped to when we first
-- saw the item (so a bogus future date cannot pin an item to the top of a feed).
CREATE OR REPLACE VIEW curated_items AS
SELECT d.topic, d.score, d.reason, d.decided_at, d.topic_version, d.model_version,
       coalesce(least(i.published_at, i.first_seen_at), i.first_seen_at) AS sort_at,
       i.*
FROM decisions d JOIN items i ON i.id = d.item_id
WHERE d.kept;

CREATE OR REPLACE VIEW source_health AS
SELECT s.name, s.type, s.ok, s.error_count, s.error, s.last_error, s.last_error_at,
       s.last_fetch_at, s.last_ok_at, s.next_poll_at, s.items_total, s.last_items,
       CASE WHEN NOT s.ok THEN 'failing' WHEN s.not_modified THEN 'unchanged' ELSE 'ok' END
           AS status,
       s.last_dead_letters,
       coalesce(dl.dead_letters, 0) AS dead_letters
FROM sources s
LEFT JOIN (SELECT source, count(*) AS dead_letters FROM dead_letters GROUP BY source) dl
       ON dl.source = s.name
ORDER BY s.error_count DESC, s.name;

CREATE OR REPLACE VIEW topic_counts AS
SELECT topic, count(*) AS scored, count(*) FILTER (WHERE kept) AS kept,
       round(avg(score), 3) AS avg_score, max(decided_at) AS last_decided_at
FROM decisions
GROUP BY topic
ORDER BY topic;

-- Every link an item shared, one row per (link, item).
CREATE OR REPLACE VIEW shared_links AS
SELECT l.link, i.id AS item_id, i.author, i.platform, i.source,
       coalesce(least(i.published_at, i.first_seen_at), i.first_seen_at) AS shared_at
FROM items i, unnest(i.links) AS l(link)
WHERE l.link <> '';

-- Links shared by the most people; `topics` lists the topics that kept an item sharing it.
CREATE OR REPLACE VIEW top_links AS
SELECT s.link,
       count(DISTINCT lower(s.author)) FILTER (WHERE s.author <> '') AS people,
       count(DISTINCT s.item_id) AS shares,
       count(DISTINCT s.item_id) FILTER (WHERE k.item_id IS NOT NULL) AS kept_shares,
       coalesce(list_sort(list_distinct(flatten(list(k.topics)
           FILTER (WHERE k.topics IS NOT NULL)))), []) AS topics,
       min(s.shared_at) AS first_shared_at, max(s.shared_at) AS last_shared_at
FROM shared_links s
LEFT JOIN (SELECT item_id, list(topic ORDER BY topic) AS topics FROM decisions WHERE kept
           GROUP BY item_id) k ON k.item_id = s.item_id
GROUP BY s.link
ORDER BY people DESC, shares DESC, s.link;

-- People of the PLN by activity: items they wrote (chat threads aside), chat threads they took
-- part in, and how many of their items a topic kept. A person is an author name as the platform
-- gives it ("Maya Okafor" on a blog and "maya_okafor" on X are two rows).
CREATE OR REPLACE VIEW active_people AS
WITH activity AS (
    SELECT author AS person, id AS item_id, platform, false AS chat,
           coalesce(least(published_at, first_seen_at), first_seen_at) AS at
    FROM items WHERE author <> '' AND kind <> 'chat_thread'
    UNION ALL
    SELECT p.person, id, platform, true,
           coalesce(least(published_at, first_seen_at), first_seen_at)
    FROM items, unnest(participants) AS p(person)
    WHERE kind = 'chat_thread' AND p.person <> ''
)
SELECT a.person,
       list_sort(list_distinct(list(a.platform))) AS platforms,
       count(DISTINCT a.item_id) FILTER (WHERE NOT a.chat) AS items,
       count(DISTINCT a.item_id) FILTER (WHERE a.chat) AS chat_threads,
       count(DISTINCT a.item_id) FILTER (WHERE k.item_id IS NOT NULL) AS kept,
       coalesce(list_sort(list_distinct(flatten(list(k.topics)
           FILTER (WHERE k.topics IS NOT NULL)))), []) AS topics,
       max(a.at) AS last_active_at
FROM activity a
LEFT JOIN (SELECT item_id, list(topic ORDER BY topic) AS topics FROM decisions WHERE kept
           GROUP BY item_id) k ON k.item_id = a.item_id
GROUP BY a.person
ORDER BY kept DESC, items + chat_threads DESC, a.person;

-- Chat threads (a question and its answers), with who took part and which topics kept them.
CREATE OR REPLACE VIEW chat_threads AS
SELECT i.id, i.source, i.platform, i.title,
       coalesce(least(i.published_at, i.first_seen_at), i.first_seen_at) AS started_at,
       len(i.participants) AS people, i.participants,
       coalesce(k.topics, []) AS topics, k.best_score, i.thread_id, i.url, i.text
FROM items i
LEFT JOIN (SELECT item_id, list(topic ORDER BY topic) AS topics, max(score) AS best_score
           FROM decisions WHERE kept GROUP BY item_id) k ON k.item_id = i.id
WHERE i.kind = 'chat_thread'
ORDER BY started_at DESC, i.id;

-- How each item joined its story: 'self' (the head), 'link' (shares a link or post with
-- another member, or points at one), 'same-text' (repeats an earlier member's text word for word:
-- a duplicate, `duplicate_of` names the first) or 'near-dup' (a near-duplicate text).
-- A post pointing at a member (a share of the blog post, a repost) is 'link' even when its text
-- repeats another share's.
CREATE OR REPLACE VIEW item_story AS
WITH member_keys AS (
    SELECT m.item_id, m.story_id, k.kind, k."key", k."at"
    FROM story_members m JOIN item_keys k ON k.item_id = m.item_id
    WHERE k.kind <> 'band'
),
url_groups AS (
    SELECT story_id, "key", count(DISTINCT item_id) AS n,
           count(DISTINCT item_id) FILTER (WHERE kind = 'self') AS selves
    FROM member_keys WHERE kind IN ('self', 'link') GROUP BY ALL HAVING count(DISTINCT item_id) > 1
),
linked AS (
    SELECT k.item_id, bool_or(k.kind = 'link' AND g.selves > 0) AS points
    FROM member_keys k JOIN url_groups g ON g.story_id = k.story_id AND g."key" = k."key"
    GROUP BY k.item_id
),
first_text AS (
    SELECT story_id, "key", first(item_id ORDER BY "at", item_id) AS first_id
    FROM member_keys WHERE kind = 'text' GROUP BY ALL HAVING count(*) > 1
),
duplicates AS (
    SELECT k.item_id, f.first_id
    FROM member_keys k JOIN first_text f ON f.story_id = k.story_id AND f."key" = k."key"
    WHERE k.kind = 'text' AND k.item_id <> f.first_id
)
SELECT m.item_id, m.story_id,
       CASE WHEN m.item_id = m.story_id THEN 'self'
            WHEN l.points THEN 'link'
            WHEN d.first_id IS NOT NULL THEN 'same-text'
            WHEN l.item_id IS NOT NULL THEN 'link'
            ELSE 'near-dup' END AS how,
       CASE WHEN m.item_id <> m.story_id AND NOT coalesce(l.points, false) THEN d.first_id END
           AS duplicate_of
FROM story_members m
LEFT JOIN linked l ON l.item_id = m.item_id
LEFT JOIN duplicates d ON d.item_id = m.item_id;

-- One row per story: its head, size, and the people who shared it (distinct authors of its posts:
-- members that are not articles or chat threads, names compared without case).
CREATE OR REPLACE VIEW stories AS
SELECT m.story_id, m.story_id AS head_item_id, count(*) AS n_items,
       count(DISTINCT lower(i.author))
           FILTER (WHERE i.kind NOT IN ('article', 'chat_thread') AND i.author <> '') AS n_people,
       min(coalesce(least(i.published_at, i.first_seen_at), i.first_seen_at)) AS first_seen,
       max(coalesce(least(i.published_at, i.first_seen_at), i.first_seen_at)) AS last_seen,
       list_sort(list_distinct(list(i.platform))) AS platforms,
       max(i.first_seen_at) AS updated_at  -- when the story last gained an item
FROM story_members m JOIN items i ON i.id = m.item_id
GROUP BY m.story_id;

-- What the feeds show: each story once per topic, as its head when the topic kept the head, else
-- as its best-scored kept item; `people` shared it, `rank` = score + 0.1 * log2(people) orders
-- digests. Items never linked into a story (written without story keys) are their own story.
CREATE OR REPLACE VIEW curated_stories AS
WITH kept AS (  -- narrow columns only: the wide ones are read for the chosen items
    SELECT d.topic, d.item_id, coalesce(m.story_id, d.item_id) AS story_id
    FROM decisions d
    JOIN items i ON i.id = d.item_id
    LEFT JOIN story_members m ON m.item_id = d.item_id
    WHERE d.kept
    QUALIFY row_number() OVER (
        PARTITION BY d.topic, coalesce(m.story_id, d.item_id)
        ORDER BY d.item_id = coalesce(m.story_id, d.item_id) DESC, d.score DESC,
                 coalesce(least(i.published_at, i.first_seen_at), i.first_seen_at) DESC,
                 i.first_seen_at, d.item_id) = 1
),
stats AS (  -- `stories`, for the kept stories only
    SELECT m.story_id, count(*) AS n_items,
           count(DISTINCT lower(i.author))
               FILTER (WHERE i.kind NOT IN ('article', 'chat_thread') AND i.author <> '')
               AS n_people,
           max(i.first_seen_at) AS updated_at
    FROM story_members m JOIN items i ON i.id = m.item_id
    WHERE m.story_id IN (SELECT story_id FROM kept)
    GROUP BY m.story_id
)
SELECT c.*, k.story_id, coalesce(s.n_items, 1) AS story_items,
       coalesce(s.n_people, 0) AS people, s.updated_at AS story_updated_at,
       c.score + 0.1 * log2(greatest(coalesce(s.n_people, 0), 1)) AS "rank"
FROM kept k
JOIN curated_items c ON c.topic = k.topic AND c.id = k.item_id
LEFT JOIN stats s ON s.story_id = k.story_id;

-- Labels with the item they are about (for training and for reviewing feedback).
CREATE OR REPLACE VIEW labeled_items AS
SELECT l.item_id, l.topic, l.label, l."at", l.origin,
       d.score, d.kept, i.title, i.author, i.url, i.text
FROM labels l
LEFT JOIN items i ON i.id = l.item_id
LEFT JOIN decisions d ON d.item_id = l.item_id AND d.topic = l.topic
ORDER BY l."at" DESC;
"""


def items_table(items: list[Item]) -> pa.Table:
    """Items as an Arrow table, column by column (far faster than row dicts)."""
    import pyarrow as pa

    schema = arrow_schema(ITEM_FIELDS)
    arrays = [pa.array(list(map(attrgetter(f.name), items)), type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def decisions_table(decisions: list[Decision]) -> pa.Table:
    import pyarrow as pa

    schema = arrow_schema(DECISION_FIELDS)
    if not decisions:
        return schema.empty_table()
    arrays = [pa.array(list(map(attrgetter(f.name), decisions)), type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
