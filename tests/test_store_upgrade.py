"""A store an older pln made works with this one: read before any write, then brought up to date
by a run, with no item twice and the same feed entry ids from run to run.

tests/fixtures/store_upgrade/pln-23cddbf.duckdb.gz is the store commit 23cddbf (2026-11-27, the
first version with labels and `pln serve`) made from BLOG and PLANET with CONFIG below by
`pln run`, `pln label 15dda11735073d54f7e9 practice +`, `pln label 07eb67ea5e45944b3d5f
practice -` and `pln run`. It has none of what came later: stories (item_keys, story_members and
their views), per-source decisions, items.sources, the sources' drops and warnings, source
config fingerprints, tombstones.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import duckdb
import pytest
from helpers import db_rows

from pln.cli import main
from pln.errors import PlnError
from pln.sinks.schema import DDL, SCHEMA_VERSION
from pln.sinks.store import Store
from pln.sources.registry import load_checked_config
from pln.web.follow import refresh_feeds

FIXTURE = Path(__file__).parent / "fixtures" / "store_upgrade" / "pln-23cddbf.duckdb.gz"

CONFIG = """sources:
  - {name: blog, type: rss, path: blog.xml}
  - {name: planet, type: rss, path: planet.xml}
topics:
  - {id: practice, title: Spaced & retrieval practice, phrases: [spaced practice, retrieval practice], threshold: 0.5}
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds, base_url: http://localhost:8080/feeds}
"""

BLOG = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Practice Notes</title><link>https://blog.example/</link><description>A blog</description>
<item><title>Spaced practice at work</title><guid>https://blog.example/posts/1</guid><link>https://blog.example/posts/1</link><author>maya@blog.example (Maya Okafor)</author><description>How we use spaced practice and retrieval practice in onboarding.</description><pubDate>Mon, 02 Nov 2026 10:00:00 +0000</pubDate></item>
<item><title>Coffee notes</title><guid>https://blog.example/posts/2</guid><link>https://blog.example/posts/2</link><author>maya@blog.example (Maya Okafor)</author><description>Nothing about learning here, only coffee.</description><pubDate>Tue, 03 Nov 2026 10:00:00 +0000</pubDate></item>
<item><title>Retrieval practice, again</title><guid>https://blog.example/posts/3</guid><link>https://blog.example/posts/3</link><author>maya@blog.example (Maya Okafor)</author><description>More on retrieval practice: quizzes that stick.</description><pubDate>Wed, 04 Nov 2026 10:00:00 +0000</pubDate></item>
</channel></rss>
"""  # noqa: E501

PLANET = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>L&amp;D Planet</title><link>https://planet.example/</link><description>Shared posts</description>
<item><title>Worth reading: spaced practice at work</title><guid>https://planet.example/7</guid><link>https://planet.example/7</link><author>ben@planet.example (Ben Carter)</author><description>Ben shares &lt;a href="https://blog.example/posts/1"&gt;Maya's post on spaced practice&lt;/a&gt; for anyone planning onboarding.</description><pubDate>Thu, 05 Nov 2026 09:00:00 +0000</pubDate></item>
<item><title>Team lunch</title><guid>https://planet.example/8</guid><link>https://planet.example/8</link><author>ben@planet.example (Ben Carter)</author><description>Pizza on Friday.</description><pubDate>Fri, 06 Nov 2026 12:00:00 +0000</pubDate></item>
</channel></rss>
"""  # noqa: E501

# docs/sql.md's views, with the rows each has in the fixture (stories: none before a re-read).
VIEWS = {
    "curated_items": 3,
    "curated_stories": 3,
    "stories": 0,
    "item_story": 0,
    "topic_counts": 1,
    "top_links": 1,
    "shared_links": 1,
    "active_people": 2,
    "chat_threads": 0,
    "source_health": 2,
    "labeled_items": 2,
}
KEPT = {"63cbcd823b47782d107d", "46795459b1543d78be0f", "15dda11735073d54f7e9"}
LABELS = [
    ("07eb67ea5e45944b3d5f", "practice", -1, "cli"),
    ("15dda11735073d54f7e9", "practice", 1, "cli"),
]


@pytest.fixture
def old_store(tmp_path) -> Path:
    """The config of a folder holding the fixture's feeds and the store 23cddbf made of them."""
    (tmp_path / "blog.xml").write_text(BLOG)
    (tmp_path / "planet.xml").write_text(PLANET)
    (tmp_path / "pln.yaml").write_text(CONFIG)
    (tmp_path / "out").mkdir()
    with gzip.open(FIXTURE) as packed, open(tmp_path / "out" / "pln.duckdb", "wb") as db:
        shutil.copyfileobj(packed, db)
    return tmp_path / "pln.yaml"


def view_counts(config: Path, capsys) -> dict[str, int]:
    """Each documented view's row count, as `pln sql` gives it."""
    capsys.readouterr()
    counts = {}
    for view in VIEWS:
        code = main(["sql", "-c", str(config), "--format", "csv", f"SELECT count(*) FROM {view}"])
        out, err = capsys.readouterr()
        assert code == 0, f"{view}: {err}"
        counts[view] = int(out.split()[-1])
    return counts


def feed_ids(feeds: Path) -> dict[str, list[str]]:
    """The entry ids of the topic's RSS, Atom and JSON feeds, in feed order."""
    atom = "{http://www.w3.org/2005/Atom}"
    return {
        "rss": [g.text for g in ET.parse(feeds / "practice.rss.xml").iter("guid")],
        "atom": [
            e.findtext(f"{atom}id")
            for e in ET.parse(feeds / "practice.atom.xml").iter(f"{atom}entry")
        ],
        "json": [e["id"] for e in json.loads((feeds / "practice.json").read_text())["items"]],
    }


def test_an_older_store_reads_as_today_before_any_write(old_store, capsys):
    db = old_store.parent / "out" / "pln.duckdb"
    before = db.read_bytes()
    assert view_counts(old_store, capsys) == VIEWS  # stories' views: missing in 23cddbf's store
    # `pln serve` renders the feeds read-only at start: that failed on story_members.
    note = refresh_feeds(load_checked_config(old_store), wait=1.0)
    assert note.startswith("rendered"), note
    ids = feed_ids(old_store.parent / "out" / "feeds")
    assert {i.rsplit(":", 1)[1] for i in ids["rss"] + ids["atom"] + ids["json"]} == KEPT
    with Store(db, read_only=True) as store:  # a handle for another thread sees the same
        assert Store.sharing(store).sql("SELECT count(*) FROM curated_stories")[1] == [(3,)]
    assert main(["sources", "-c", str(old_store)]) == 0
    assert main(["topics", "-c", str(old_store)]) == 0
    assert db.read_bytes() == before  # read-only: the file is as 23cddbf left it


def test_a_run_brings_an_older_store_up_to_date(old_store, capsys):
    db = old_store.parent / "out" / "pln.duckdb"
    assert db_rows(db, "SELECT value FROM pln_meta WHERE key = 'schema_version'") == [("1",)]
    assert main(["run", "-q", "-c", str(old_store)]) == 0
    # Now of this pln's version: every older pln refuses it (they accept only "1").
    assert db_rows(db, "SELECT value FROM pln_meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert db_rows(db, "SELECT count(*), count(DISTINCT id) FROM items") == [(5, 5)]
    assert db_rows(db, "SELECT count(*) FROM items WHERE sources <> [source]") == [(0,)]
    assert db_rows(db, "SELECT item_id, topic, label, origin FROM labels ORDER BY 1") == LABELS
    # The decisions 23cddbf made, now also per source (the item's own).
    assert db_rows(
        db,
        """SELECT count(*) FROM decisions d JOIN items i ON i.id = d.item_id
           JOIN source_decisions s ON s.item_id = d.item_id AND s.topic = d.topic
                AND s.source = i.source AND s.score = d.score AND s.kept = d.kept""",
    ) == [(3,)]
    assert db_rows(db, "SELECT count(*) FROM sources WHERE last_drops IS NULL") == [(2,)]
    first = feed_ids(old_store.parent / "out" / "feeds")
    assert {i.rsplit(":", 1)[1] for i in first["rss"]} == KEPT

    # Read again whole, twice: the same items, now linked into stories, and the same entries.
    for _ in range(2):
        assert main(["run", "-q", "--full", "-c", str(old_store)]) == 0
        assert db_rows(db, "SELECT count(*), count(DISTINCT id) FROM items") == [(5, 5)]
        assert db_rows(db, "SELECT count(*), count(*) FILTER (WHERE kept) FROM decisions") == [
            (3, 3)
        ]
        assert db_rows(db, "SELECT count(*) FROM story_members") == [(5,)]
        assert feed_ids(old_store.parent / "out" / "feeds") == first
    assert db_rows(db, "SELECT item_id, topic, label, origin FROM labels ORDER BY 1") == LABELS
    assert view_counts(old_store, capsys) == VIEWS | {"stories": 5, "item_story": 5}


@pytest.mark.parametrize("version", [str(SCHEMA_VERSION + 1), "9" * 30, "2b", "²"])
def test_a_store_a_newer_pln_wrote_is_refused_and_left_as_it_is(tmp_path, version):
    db = tmp_path / "pln.duckdb"
    with Store(db):
        pass
    with duckdb.connect(str(db)) as con:  # a store a later, incompatible pln made
        con.execute("UPDATE pln_meta SET value = ? WHERE key = 'schema_version'", [version])
        con.execute("DELETE FROM pln_meta WHERE key = 'ddl_hash'")
        con.execute("DROP VIEW stories; DROP TABLE forgotten_items")
    with pytest.raises(PlnError) as refused:
        Store(db)
    assert str(refused.value) == (
        f"database {db} was written by a newer pln (schema version {version}; this one knows "
        f"{SCHEMA_VERSION}): upgrade pln, or use another database file"
    )
    with duckdb.connect(str(db), read_only=True) as con:  # this pln's DDL did not run on it
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    assert "forgotten_items" not in names and "stories" not in views


def test_a_store_of_the_same_ddl_but_version_1_is_marked_as_this_version(tmp_path):
    # The pln before version 2 had the same DDL; it noted its hash without the version, and
    # this pln skipped everything, version mark included, for a matching hash.
    db = tmp_path / "pln.duckdb"
    with Store(db):
        pass
    with duckdb.connect(str(db)) as con:  # as the pln before 2 left it
        con.execute("UPDATE pln_meta SET value = '1' WHERE key = 'schema_version'")
        con.execute(
            "UPDATE pln_meta SET value = ? WHERE key = 'ddl_hash'",
            [hashlib.sha1(DDL.encode()).hexdigest()[:16]],
        )
    with Store(db):
        pass
    assert db_rows(db, "SELECT value FROM pln_meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
