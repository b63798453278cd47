"""The DuckDB schema of the store: tables, the Arrow schemas that feed them, and SQL views.

Every table is keyed so writes are upserts. Timestamps are TIMESTAMPTZ (UTC), sequences of the
Item record are VARCHAR[] and cursors / run stats are JSON text.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

UTC_TS = pa.timestamp("us", tz="UTC")
STRINGS = pa.list_(pa.string())

# Item fields in record order, with their Arrow types (pln.record.Item).
ITEM_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.string()),
    ("source", pa.string()),
    ("platform", pa.string()),
    ("kind", pa.string()),
    ("native_id", pa.string()),
    ("author", pa.string()),
    ("title", pa.string()),
    ("text", pa.string()),
    ("html", pa.string()),
    ("url", pa.string()),
    ("canonical_url", pa.string()),
    ("links", STRINGS),
    ("hashtags", STRINGS),
    ("mentions", STRINGS),
    ("lang", pa.string()),
    ("published_at", UTC_TS),
    ("fetched_at", UTC_TS),
    ("thread_id", pa.string()),
    ("reply_to", pa.string()),
    ("participants", STRINGS),
    ("entities", STRINGS),
    ("raw", pa.string()),
)
ITEM_COLUMNS = tuple(name for name, _ in ITEM_FIELDS)
ITEM_SEQUENCES = frozenset(name for name, typ in ITEM_FIELDS if typ == STRINGS)

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

DECISION_ARROW = pa.schema(
    [
        ("item_id", pa.string()),
        ("topic", pa.string()),
        ("score", pa.float64()),
        ("kept", pa.bool_()),
        ("reason", pa.string()),
        ("topic_version", pa.string()),
        ("model_version", pa.string()),
    ]
)

DEAD_LETTER_ARROW = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("ref", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("at", UTC_TS),
    ]
)

SOURCE_ARROW = pa.schema(
    [
        ("name", pa.string()),
        ("type", pa.string()),
        ("ok", pa.bool_()),
        ("error", pa.string()),
        ("last_error", pa.string()),
        ("last_error_at", UTC_TS),
        ("error_count", pa.int64()),
        ("items_total", pa.int64()),
        ("last_items", pa.int64()),
        ("last_dead_letters", pa.int64()),
        ("not_modified", pa.bool_()),
        ("last_fetch_at", UTC_TS),
        ("last_ok_at", UTC_TS),
        ("cursor", pa.string()),
        ("next_poll_at", UTC_TS),
        ("run_id", pa.string()),
    ]
)

_ITEM_DDL = ",\n    ".join(
    f"{name} {'VARCHAR[]' if typ == STRINGS else 'TIMESTAMPTZ' if typ == UTC_TS else 'VARCHAR'}"
    + (" PRIMARY KEY" if name == "id" else "")
    for name, typ in ITEM_FIELDS
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
    updated_run_id VARCHAR              -- run that last changed the content
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
    run_id VARCHAR
);

CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    config_path VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    stats JSON
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
SELECT name, type, ok, error_count, error, last_error, last_error_at, last_fetch_at, last_ok_at,
       next_poll_at, items_total, last_items
FROM sources
ORDER BY error_count DESC, name;

CREATE OR REPLACE VIEW topic_counts AS
SELECT topic, count(*) AS scored, count(*) FILTER (WHERE kept) AS kept,
       round(avg(score), 3) AS avg_score, max(decided_at) AS last_decided_at
FROM decisions
GROUP BY topic
ORDER BY topic;
"""
