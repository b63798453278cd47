"""Stories: items that share a link, a text or nearly a text, grouped where all items meet.

Curation runs in batches on workers, but a story needs every item, so the single writer links
them, inside the transaction that writes the items. Workers send each item's story keys
(`pln.filters.stories` says what a key is); here items are joined by them:

- items with an equal self or link key are one story (a blog post and the posts sharing its
  URL; a post and its reposts; two posts sharing the same link);
- items with an equal text key are one story (the same text posted again);
- items of two accounts (platform and author), published within WINDOW of each other, that
  share a band key and whose MinHash lanes say their word pairs are SIMILARITY alike or more,
  are one story (near-duplicates; one account's near-identical posts are a series, "Release
  notes: October" and "Release notes: November"). Only the first item of a text within WINDOW
  keeps band keys (the others join it by text; a copy further away in time keeps its own, for
  the near-duplicates around it), and band keys are dropped once they are older than WINDOW
  before the newest item and were stored more than WINDOW ago, which keeps that index small.
  The second condition keeps stories from depending on how items were split into writes: a
  backfilled export of August, written in two parts after November's posts, links its parts.

Stories only grow: a new item joins (and may merge) the stories it matches. A link or text is
matched against stories rather than against each of their members, and a text repeated a
thousand times keeps one set of bands, so a story shared a thousand times costs little more than
one shared twice. The head of a story is its first article, else its
first post that is not a repost (by sort time, then first seen, then id: of two equal items, the
one seen first keeps heading, so a blog re-issuing its guids does not move its stories' heads to
the new items); the story's id is its head's id, so it changes when a better head arrives (the
blog post after the posts that shared it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import combinations

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WINDOW = timedelta(days=30)
_WINDOW_SQL = f"INTERVAL {WINDOW.days} DAY"
SIMILARITY = 0.6  # estimated Jaccard similarity of word pairs that makes a near-duplicate
MAX_BAND_GROUP = 32  # new items sharing one band: more than this, and the band is too common

STORY_KEY_COLUMNS = ("item_id", "kind", "key", "band", "lanes")
SORT_AT = "coalesce(least(published_at, first_seen_at), first_seen_at)"
ACCOUNT = "CASE WHEN author <> '' THEN platform || ':' || lower(author) END"
HEAD_RANK = "CASE kind WHEN 'article' THEN 0 WHEN 'repost' THEN 2 ELSE 1 END"
LANE = "(((xor(x.lanes, y.lanes) >> {shift}) & 65535) = 0)::INTEGER"
EQUAL_LANES = " + ".join(LANE.format(shift=s) for s in (0, 16, 32, 48))

# sorts the best head first: (HEAD_RANK, at, first_seen_at, id)
_Head = tuple[int, datetime, datetime, str]


def link_stories(con: duckdb.DuckDBPyConnection, keys: pa.Table) -> None:
    """Link the items of the temp table `story_batch(id, known)` (new or changed items; known:
    stored before, so it may have keys) into stories, with their story keys from `keys` (see
    `pln.filters.stories.story_keys`). Run inside a transaction."""
    missing = set(STORY_KEY_COLUMNS) - set(keys.column_names)
    if missing:
        raise ValueError(f"story keys lack columns: {', '.join(sorted(missing))}")
    _forget_other_band_format(con, (keys.schema.metadata or {}).get(b"band_format"))
    _store_keys(con, keys.select(list(STORY_KEY_COLUMNS)))
    _match_stored(con)
    matches = con.execute("SELECT item_id, story_id FROM story_matches").fetchall()
    # Keys the batch shares are found first: building the lists of every key's group, to keep
    # the few with two items or more, took 18-34 ms for 25,000 new items (3 ms now).
    shared = con.execute(
        """SELECT kind = 'band', list(item_id), list("at"), list(who)
           FROM story_batch_keys
           WHERE "key" IN (SELECT "key" FROM story_batch_keys GROUP BY "key" HAVING count(*) > 1)
           GROUP BY kind = 'band', "key" HAVING count(*) > 1"""
    ).fetchall()
    heads = _touched_story_heads(con)
    batch_stories, renames = _relink(con, matches, shared, heads)

    con.execute("DELETE FROM story_members WHERE item_id IN (SELECT id FROM story_batch)")
    if renames:
        table = pa.table({"old": list(renames), "new": list(renames.values())})
        con.register("story_renames", table)
        con.execute(
            """UPDATE story_members SET story_id = r.new FROM story_renames r
               WHERE story_members.story_id = r.old"""
        )
        con.unregister("story_renames")
    table = pa.table({"id": list(batch_stories), "story": list(batch_stories.values())})
    con.register("linked_items", table)
    con.execute(
        """INSERT INTO story_members
           SELECT b.id, coalesce(l.story, b.id) FROM story_batch b
           LEFT JOIN linked_items l ON l.id = b.id"""
    )
    con.unregister("linked_items")
    if pc.any(pc.equal(keys.column("kind").cast(pa.string()), "band")).as_py():
        # Only new band keys move the window: without them, the last prune still holds.
        con.execute(
            f"""DELETE FROM item_keys WHERE kind = 'band' AND "at" <
                (SELECT max("at") FROM item_keys WHERE kind = 'band') - {_WINDOW_SQL}
                AND coalesce(stored_at < current_timestamp - {_WINDOW_SQL}, true)"""
        )
    con.execute("DROP TABLE story_batch_keys; DROP TABLE story_matches")


def _forget_other_band_format(con: duckdb.DuckDBPyConnection, band_format: bytes | None) -> None:
    """Band keys made another way (an older pln) never match new ones: drop them, once."""
    if band_format is None:
        return
    stored = con.execute("SELECT value FROM pln_meta WHERE key = 'band_format'").fetchall()
    if stored != [(band_format.decode(),)]:
        con.execute("DELETE FROM item_keys WHERE kind = 'band'")
        con.execute(
            "INSERT OR REPLACE INTO pln_meta VALUES ('band_format', ?)", [band_format.decode()]
        )


def _store_keys(con: duckdb.DuckDBPyConnection, keys: pa.Table) -> None:
    """Replace the batch items' keys; `story_batch_keys` holds them with time and account.
    An item repeating a text whose band keys are kept within WINDOW of it (stored, or first
    in the batch) keeps no bands: it joins that one by text. Further away, it keeps its own:
    its near-duplicates, within WINDOW of it, would not reach the other's."""
    con.register("new_story_keys", keys)
    # Only items stored before can have keys to replace; finding them scans every key's item id
    # (16 ms at 1M items), which a batch of new items need not pay.
    [(known,)] = con.execute("SELECT bool_or(known) FROM story_batch").fetchall()
    if known:
        con.execute(
            "DELETE FROM item_keys WHERE item_id IN (SELECT id FROM story_batch WHERE known)"
        )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE story_batch_keys AS
            SELECT k.item_id, k.kind::VARCHAR AS kind, k."key",
                   CASE WHEN k.kind = 'band' THEN k.band END AS band,
                   CASE WHEN k.kind = 'band' THEN k.lanes END AS lanes,
                   {SORT_AT} AS "at", {ACCOUNT} AS who
            FROM new_story_keys k JOIN items i ON i.id = k.item_id
            WHERE k.item_id IN (SELECT id FROM story_batch);
            DELETE FROM story_batch_keys WHERE kind = 'band' AND item_id IN (
                SELECT t.item_id FROM (
                    SELECT item_id, "key", "at",
                           first(item_id) OVER w AS first_id, first("at") OVER w AS first_at
                    FROM story_batch_keys WHERE kind = 'text'
                    WINDOW w AS (PARTITION BY "key" ORDER BY "at", item_id)) t
                WHERE (t.item_id <> t.first_id AND t."at" <= t.first_at + {_WINDOW_SQL})
                   OR EXISTS (
                       SELECT 1 FROM item_keys s JOIN item_keys b
                           ON b.item_id = s.item_id AND b.kind = 'band'
                       WHERE s.kind = 'text' AND s."key" = t."key"
                         AND s."at" BETWEEN t."at" - {_WINDOW_SQL} AND t."at" + {_WINDOW_SQL}));
            INSERT INTO item_keys (item_id, kind, "key", band, lanes, "at", stored_at)
            SELECT item_id, kind, "key", band, lanes, "at", current_timestamp
            FROM story_batch_keys"""
    )
    con.unregister("new_story_keys")


def _match_stored(con: duckdb.DuckDBPyConnection) -> None:
    """`story_matches`: (batch item, stored story) pairs that the rules above join."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE story_matches AS
            WITH hits AS (  -- by row id first: reading every key's item id costs 3x more
                SELECT rowid AS r FROM item_keys
                WHERE "key" IN (SELECT "key" FROM story_batch_keys WHERE kind <> 'band')),
            exact AS (
                SELECT DISTINCT k."key", m.story_id
                FROM item_keys k JOIN story_members m ON m.item_id = k.item_id
                WHERE k.rowid IN (SELECT r FROM hits) AND k.kind <> 'band'
                  AND k.item_id NOT IN (SELECT id FROM story_batch)),
            candidates AS (
                SELECT DISTINCT b.item_id, k.item_id AS other
                FROM story_batch_keys b
                JOIN item_keys k ON k."key" = b."key" AND k.kind = 'band'
                JOIN items i ON i.id = k.item_id
                WHERE b.kind = 'band' AND k.item_id NOT IN (SELECT id FROM story_batch)
                  AND k."at" BETWEEN b."at" - {_WINDOW_SQL} AND b."at" + {_WINDOW_SQL}
                  AND (b.who IS NULL OR b.who IS DISTINCT FROM {ACCOUNT})),
            alike AS (
                SELECT c.item_id, c.other
                FROM candidates c
                JOIN story_batch_keys x ON x.item_id = c.item_id AND x.kind = 'band'
                JOIN item_keys y ON y.item_id = c.other AND y.kind = 'band' AND y.band = x.band
                GROUP BY ALL
                HAVING sum({EQUAL_LANES}) >= {SIMILARITY} * 4 * count(*))
            SELECT b.item_id, e.story_id
            FROM story_batch_keys b JOIN exact e ON e."key" = b."key"
            WHERE b.kind <> 'band'
            UNION
            SELECT s.item_id, m.story_id
            FROM alike s JOIN story_members m ON m.item_id = s.other"""
    )


def _touched_story_heads(con: duckdb.DuckDBPyConnection) -> dict[str, _Head]:
    """The best head among the members outside the batch of every stored story that a batch
    item matches or leaves (an edited post)."""
    rows = con.execute(
        f"""WITH touched AS (
                SELECT story_id FROM story_matches
                UNION
                SELECT story_id FROM story_members WHERE item_id IN (SELECT id FROM story_batch)),
            members AS (
                SELECT m.story_id, i.id, {HEAD_RANK} AS head_rank, {SORT_AT} AS "at",
                       i.first_seen_at AS seen
                FROM story_members m JOIN items i ON i.id = m.item_id
                WHERE m.story_id IN (SELECT story_id FROM touched)
                  AND m.item_id NOT IN (SELECT id FROM story_batch))
            SELECT story_id, min({{'r': head_rank, 'at': "at", 'seen': seen, 'id': id}}) AS best
            FROM members GROUP BY story_id"""
    ).fetchall()
    return {story: (best["r"], best["at"], best["seen"], best["id"]) for story, best in rows}


def _relink(
    con: duckdb.DuckDBPyConnection,
    matches: list[tuple[str, str]],
    shared: list[tuple[bool, list[str], list[datetime], list[str | None]]],
    heads: dict[str, _Head],
) -> tuple[dict[str, str], dict[str, str]]:
    """Union batch items and the stories they match; returns the story of each batch item that
    is in a story with others, and the new id of each stored story whose head changed."""
    groups = _UnionFind()
    for story in heads:  # every touched story is a node, so one an item left gets a new head
        groups.find("s:" + story)
    for item, story in matches:
        groups.union(item, "s:" + story)
    for band, items, _, _ in shared:
        if not band:
            for other in items[1:]:
                groups.union(items[0], other)
    _union_near_duplicates(con, groups, [group[1:] for group in shared if group[0]])

    batch_ids = [node for node in groups.parent if not node.startswith("s:")]
    rows = con.execute(
        f"""SELECT id, {HEAD_RANK}, {SORT_AT}, first_seen_at FROM items
            WHERE id IN (SELECT unnest($ids::VARCHAR[]))""",
        {"ids": batch_ids},
    ).fetchall()
    candidates = {i: (rank, at, seen, i) for i, rank, at, seen in rows}
    candidates.update(("s:" + story, head) for story, head in heads.items())
    best: dict[str, _Head] = {}
    for node, head in candidates.items():
        root = groups.find(node)
        if root not in best or head < best[root]:
            best[root] = head
    batch_stories = {i: best[groups.find(i)][-1] for i in batch_ids}
    renames = {}
    for story in heads:
        new = best[groups.find("s:" + story)][-1]
        if new != story:
            renames[story] = new
    return batch_stories, renames


def _union_near_duplicates(
    con: duckdb.DuckDBPyConnection,
    groups: _UnionFind,
    bands: list[tuple[list[str], list[datetime], list[str | None]]],
) -> None:
    """Union batch items of two accounts, within WINDOW, that share a band and are SIMILARITY
    alike by their lanes."""
    pairs: set[tuple[str, str]] = set()
    for items, ats, whos in bands:
        if len(items) > MAX_BAND_GROUP:
            continue
        members = sorted(zip(items, ats, whos, strict=True))
        for (a, a_at, a_who), (b, b_at, b_who) in combinations(members, 2):
            if abs(a_at - b_at) <= WINDOW and (a_who is None or a_who != b_who):
                pairs.add((a, b))
    if not pairs:
        return
    ids = sorted({i for pair in pairs for i in pair})
    rows = con.execute(
        """SELECT item_id, list(lanes ORDER BY band) FROM story_batch_keys
           WHERE kind = 'band' AND item_id IN (SELECT unnest($ids::VARCHAR[]))
           GROUP BY item_id""",
        {"ids": ids},
    ).fetchall()
    lanes = {i: np.array(values, dtype=np.int64).view(np.uint16) for i, values in rows}
    for a, b in pairs:
        x, y = lanes[a], lanes[b]
        if len(x) == len(y) and np.count_nonzero(x == y) >= SIMILARITY * len(x):
            groups.union(a, b)


class _UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        parent = self.parent
        root = parent.setdefault(node, node)
        while root != parent[root]:
            root = parent[root]
        while node != root:
            parent[node], node = root, parent[node]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
