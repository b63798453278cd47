"""The store's batch write when one batch mixes every case: new items, unchanged ones, edited
ones and a second source's copy of a stored post, with their decisions and story keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pln.filters.stories import story_keys
from pln.record import Decision, Item
from pln.sinks.store import Store

T0 = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)


def post(n: int, source: str = "a-blog", **kw) -> Item:
    fields = {
        "kind": "article",
        "author": f"author{n}",
        "title": f"Post {n}",
        "text": f"Spaced practice, part {n}.",
        "url": f"https://blog.example/{n}",
        "published_at": T0 + timedelta(hours=n),
    }
    fields.update(kw)
    return Item.create(source=source, platform="rss", native_id=f"post-{n}", **fields)


def kept(it: Item, score: float = 0.8) -> Decision:
    return Decision(it.id, "spaced", score, True, "matched", source=it.source)


def write(store: Store, items: list[Item], decisions: list[Decision], run_id: str) -> None:
    store.begin_run(run_id, "pln.yaml")
    store.write(items, decisions, [], run_id=run_id, story_keys=story_keys(items))


def test_one_batch_of_new_unchanged_edited_and_second_source_items(tmp_path):
    with Store(tmp_path / "pln.duckdb") as store:
        first = [post(1), post(2), post(3)]
        write(store, first, [kept(first[0]), kept(first[1])], "r1")
        seen = dict(store.sql("SELECT native_id, first_seen_at FROM items")[1])

        same, edited = post(1), post(2, title="Post 2 (edited)")
        copy, fresh = post(3, source="b-archive", title="Post 3, as archived"), post(4)
        write(store, [same, edited, copy, fresh], [kept(same), kept(copy), kept(fresh)], "r2")

        assert store.run_stats("r2")["items"] == {
            "written": 4,
            "new": 1,
            "updated": 1,
            "unchanged": 2,
        }
        rows = {
            r[0]: r[1:]
            for r in store.sql(
                "SELECT native_id, source, title, sources, run_id, updated_run_id, last_run_id, "
                "first_seen_at FROM items ORDER BY native_id"
            )[1]
        }
        assert rows == {
            "post-1": ("a-blog", "Post 1", ["a-blog"], "r1", "r1", "r2", seen["post-1"]),
            "post-2": ("a-blog", "Post 2 (edited)", ["a-blog"], "r1", "r2", "r2", seen["post-2"]),
            # the first source by name keeps its copy; the row lists both sources
            "post-3": (
                "a-blog",
                "Post 3",
                ["a-blog", "b-archive"],
                "r1",
                "r1",
                "r2",
                seen["post-3"],
            ),
            "post-4": ("a-blog", "Post 4", ["a-blog"], "r2", "r2", "r2", rows["post-4"][-1]),
        }
        # the edited post is no longer scored: it loses its decision; the copy gains one
        decided = store.sql("SELECT i.native_id FROM decisions d JOIN items i ON i.id = d.item_id")
        assert sorted(n for (n,) in decided[1]) == ["post-1", "post-3", "post-4"]
        members = store.sql("SELECT count(*) FROM story_members")[1]
        assert members == [(4,)]  # every item is linked into a story, the new one too


def test_writing_a_batch_of_only_unchanged_items_again_rewrites_nothing(tmp_path):
    with Store(tmp_path / "pln.duckdb") as store:
        items = [post(n) for n in range(5)]
        write(store, items, [kept(it) for it in items], "r1")
        before = store.sql("SELECT * EXCLUDE (last_seen_at, last_run_id) FROM items ORDER BY id")
        write(store, items, [kept(it) for it in items], "r2")
        after = store.sql("SELECT * EXCLUDE (last_seen_at, last_run_id) FROM items ORDER BY id")
        assert after == before
        assert store.run_stats("r2")["items"]["unchanged"] == 5
        assert store.sql("SELECT DISTINCT last_run_id FROM items")[1] == [("r2",)]


def test_a_write_that_is_no_delivery_keeps_each_rows_last_sight(tmp_path):
    """`seen=False` (`pln rescore`): unchanged, rewritten and grown rows all keep
    `last_seen_at` and `last_run_id`, which forgetting goes by; the content is written."""
    with Store(tmp_path / "pln.duckdb") as store:
        first = [post(1), post(2), post(3, source="b-archive")]
        write(store, first, [kept(it) for it in first], "r1")
        sight = "SELECT native_id, last_seen_at, last_run_id FROM items ORDER BY native_id"
        before = store.sql(sight)[1]

        again = [post(1), post(2, title="Post 2 (cleaned again)"), post(3), post(3, "b-archive")]
        store.write(again, [kept(it) for it in again], [], run_id="rescore-1", seen=False)
        assert store.sql(sight)[1] == before
        rows = store.sql("SELECT native_id, title, sources FROM items ORDER BY native_id")[1]
        assert rows == [
            ("post-1", "Post 1", ["a-blog"]),
            ("post-2", "Post 2 (cleaned again)", ["a-blog"]),
            ("post-3", "Post 3", ["a-blog", "b-archive"]),  # rewritten whole: it grew
        ]
