"""A post delivered by two sources is one item whose stored row and decisions do not depend on
the order the copies arrive in: in one batch, across two runs, either way round. A topic that
takes one of the sources keeps the item whichever source came last, and `items.sources` says
which sources delivered it. Real DuckDB files throughout; the last test runs `pln run`."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from helpers import article, db_rows

from pln.cli import main
from pln.config import parse_config
from pln.filters.curator import Curator
from pln.record import Item
from pln.sinks.store import Store

CONFIG = {
    "sources": [
        {"name": "a-blog", "type": "rss", "url": "https://a.example/feed"},
        {"name": "b-planet", "type": "rss", "url": "https://b.example/feed"},
    ],
    "topics": [
        # Only what a-blog delivers; b-planet's copy is out of this topic's scope.
        {"id": "from-a", "title": "A", "phrases": ["spaced practice"], "sources": ["a-blog"]},
        {"id": "any", "title": "Any", "phrases": ["spaced practice", "retrieval"]},
    ],
}


def copy(source: str, text: str) -> Item:
    """The same post (one native id) as `source` delivered it."""
    post = "https://a.example/posts/1"
    return article(post, source, title="Spaced practice at work", text=text, url=post)


A = copy("a-blog", "Spaced practice, as the author wrote it.")
B = copy("b-planet", "Spaced practice and retrieval, as the planet copied it.")
OTHER = article(
    "https://b.example/2",
    "b-planet",
    title="Retrieval on its own",
    text="Retrieval.",
    url="https://b.example/2",
)


@pytest.fixture(scope="module")
def curator(tmp_path_factory) -> Curator:
    config = parse_config(CONFIG, tmp_path_factory.mktemp("cfg") / "pln.yaml")
    curator = Curator(config.topics, config.nlp)
    curator.setup()
    return curator


def state(path: Path) -> tuple:
    items = db_rows(path, "SELECT id, source, sources, text FROM items ORDER BY id")
    decisions = db_rows(
        path, "SELECT item_id, topic, kept, round(score, 6), reason FROM decisions ORDER BY 1, 2"
    )
    return items, decisions


def write(path: Path, curator: Curator, *batches: list[Item]) -> tuple:
    with Store(path) as store:
        for batch in batches:
            result = curator.curate(batch)
            store.write(result.items, result.decisions, [])
    return state(path)


ORDERS = {
    "one batch, a first": [[A, B, OTHER]],
    "one batch, b first": [[OTHER, B, A]],
    "two runs, a then b": [[A], [B, OTHER]],
    "two runs, b then a": [[B, OTHER], [A]],
    "three runs, a, b, a": [[A], [B, OTHER], [A]],
}


def test_the_same_result_whatever_the_order(tmp_path, curator):
    results = {
        name: write(tmp_path / f"{i}.duckdb", curator, *batches)
        for i, (name, batches) in enumerate(ORDERS.items())
    }
    first = next(iter(results.values()))
    for name, result in results.items():
        assert result == first, name
    items, decisions = first
    row = next(r for r in items if r[0] == A.id)
    assert row[1:] == ("a-blog", ["a-blog", "b-planet"], A.text)  # a's copy, both sources
    kept = {(item, topic) for item, topic, k, *_ in decisions if k}
    assert (A.id, "from-a") in kept  # b-planet's copy did not undo a-blog's decision
    assert (A.id, "any") in kept and (OTHER.id, "any") in kept


def test_a_source_that_drops_the_post_leaves_the_other_sources_decision(tmp_path, curator):
    path = tmp_path / "pln.duckdb"
    write(path, curator, [A, B])
    changed = copy("a-blog", "Nothing about that any more.").replaced(title="Renamed")
    _, decisions = write(path, curator, [changed])
    assert {(t, k) for i, t, k, *_ in decisions if i == A.id} == {("any", True)}  # b's copy


def test_stores_made_before_sources_were_recorded_are_migrated(tmp_path, curator):
    path = tmp_path / "old.duckdb"
    write(path, curator, [A])
    con = duckdb.connect(str(path))  # back to the shape of an older store
    con.execute("ALTER TABLE items DROP COLUMN sources; DROP TABLE source_decisions")
    con.execute("DELETE FROM pln_meta WHERE key = 'ddl_hash'")
    con.close()
    items, decisions = write(path, curator, [B])
    assert items[0][1:3] == ("a-blog", ["a-blog", "b-planet"])
    assert (A.id, "from-a") in {(i, t) for i, t, k, *_ in decisions if k}


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>
<link>https://{name}.example/</link><description>x</description>
<item><title>Spaced practice at work</title><guid>https://a.example/posts/1</guid>
<link>https://a.example/posts/1</link><description>Spaced practice, by {name}.</description>
</item></channel></rss>"""


def test_pln_run_records_every_source_of_a_post(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.xml").write_text(FEED.format(name=name))
    config = tmp_path / "pln.yaml"
    config.write_text(
        """
sources:
  - {name: b-planet, type: rss, path: b.xml}
  - {name: a-blog, type: rss, path: a.xml}
topics:
  - {id: from-a, phrases: [spaced practice], sources: [a-blog]}
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}
"""
    )
    assert main(["run", "-q", "-c", str(config)]) == 0
    items, decisions = state(tmp_path / "out" / "pln.duckdb")
    assert [r[1:3] for r in items] == [("a-blog", ["a-blog", "b-planet"])]
    assert [(t, k) for _, t, k, *_ in decisions] == [("from-a", True)]
