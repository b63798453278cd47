"""The DuckDB store: idempotent upserts, rescoring, run stats, source health, open errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from helpers import chat_thread, hold_database

from pln.errors import PlnError
from pln.record import DeadLetter, Decision, Item, SourceStatus
from pln.sinks.store import Label, Store

T0 = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)


def item(n: int, **kw) -> Item:
    fields = {
        "kind": "article",
        "author": f"author{n}",
        "title": f"Post {n}",
        "text": f"Spaced practice, part {n}.",
        "url": f"https://blog.example/{n}",
        "hashtags": ("lrnchat",),
        "published_at": T0 + timedelta(hours=n),
    }
    fields.update(kw)
    return Item.create(source="blog", platform="rss", native_id=f"post-{n}", **fields)


def kept(it: Item, topic: str = "spaced", score: float = 0.8) -> Decision:
    return Decision(it.id, topic, score, True, f"matched 'spaced practice' in {it.title}", "v1")


def dropped(it: Item, topic: str = "spaced", score: float = 0.2) -> Decision:
    return Decision(it.id, topic, score, False, "weak match", "v1")


def counts(store: Store) -> dict[str, int]:
    tables = ("items", "decisions", "dead_letters")
    return {t: store.sql(f"SELECT count(*) FROM {t}")[1][0][0] for t in tables}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "out" / "pln.duckdb") as s:
        yield s


def test_creates_parent_folders_and_schema(tmp_path):
    path = tmp_path / "a" / "b" / "pln.duckdb"
    with Store(path) as store:
        _, rows = store.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1")
    assert path.is_file()
    assert {r[0] for r in rows} >= {"items", "decisions", "dead_letters", "sources", "runs"}


def test_items_round_trip_with_every_field(store):
    original = Item.create(
        source="masto",
        platform="mastodon",
        native_id="109",
        kind="reply",
        author="jane_ld",
        title="",
        text="A1. Retrieval quizzes at 2, 7 and 21 days",
        html="<p>A1. Retrieval quizzes</p>",
        url="https://mastodon.example/@jane/109",
        canonical_url="https://mastodon.example/@jane/109",
        links=("https://a.example", "https://b.example"),
        hashtags=("#LrnChat", "ld"),
        mentions=("@lrnchat",),
        lang="en",
        published_at=datetime(2026, 11, 19, 15, 3, 45, tzinfo=UTC),
        fetched_at=datetime(2026, 11, 19, 21, 0, tzinfo=UTC),
        thread_id="t1",
        reply_to="108",
        participants=("jane_ld", "lrnchat"),
        entities=("ORG:ATD",),
        raw='{"id": "109"}',
    )
    store.write([original], [kept(original)], [])
    [entry] = store.feed_entries("spaced", 10)
    assert entry.item == original
    assert entry.score == 0.8 and entry.reason.startswith("matched 'spaced practice'")


def test_writing_the_same_batch_twice_changes_nothing(store):
    items = [item(n) for n in range(5)]
    decisions = [kept(it) for it in items] + [dropped(it, "feedback") for it in items]
    dead = [DeadLetter("blog", "feed.xml#7", "entry has no link", "<entry/>", at=T0)]
    store.write(items, decisions, dead, run_id="r1")
    first = store.sql("SELECT id, first_seen_at, run_id FROM items ORDER BY id")[1]
    before = counts(store)
    store.write(items, decisions, dead, run_id="r1")
    assert counts(store) == before == {"items": 5, "decisions": 10, "dead_letters": 1}
    assert store.sql("SELECT id, first_seen_at, run_id FROM items ORDER BY id")[1] == first
    assert store.run_stats("r1")["items"] == {"written": 5, "new": 5, "updated": 0, "unchanged": 0}
    assert store.run_stats("r1")["dropped"] == 0  # every item was kept by some topic
    store.write([item(9)], [dropped(item(9))], [], run_id="r1")
    assert store.run_stats("r1")["dropped"] == 1


def test_duplicate_ids_in_one_batch_keep_the_last(store):
    old, new = item(1, title="first"), item(1, title="second")
    store.write([old, new], [kept(old), kept(new)], [])
    assert store.sql("SELECT title FROM items")[1] == [("second",)]
    assert counts(store)["decisions"] == 1


def test_rewrite_keeps_first_sight_and_counts_new_updated_unchanged(store):
    store.begin_run("r1", "pln.yaml")
    store.write([item(1), item(2)], [kept(item(1)), kept(item(2))], [], run_id="r1")
    (first_seen,) = store.sql("SELECT first_seen_at FROM items WHERE native_id = 'post-1'")[1][0]

    store.begin_run("r2", "pln.yaml")
    changed = item(1, title="Post 1 (edited)")
    same = item(2, fetched_at=T0 + timedelta(days=1))  # refetched, content unchanged
    fresh = item(3)
    store.write([changed, same, fresh], [kept(changed), kept(same), kept(fresh)], [], "r2")

    stats = store.run_stats("r2")
    assert stats["items"] == {"written": 3, "new": 1, "updated": 1, "unchanged": 1}
    assert stats["topics"] == {"spaced": {"scored": 3, "kept": 3, "new": 1}}
    assert stats["kept"] == 3 and stats["dropped"] == 0
    rows = dict(store.sql("SELECT native_id, run_id FROM items")[1])
    assert rows == {"post-1": "r1", "post-2": "r1", "post-3": "r2"}
    after = store.sql("SELECT first_seen_at, title FROM items WHERE native_id = 'post-1'")[1]
    assert after == [(first_seen, "Post 1 (edited)")]
    (fetched,) = store.sql("SELECT fetched_at FROM items WHERE native_id = 'post-2'")[1][0]
    assert fetched == T0 + timedelta(days=1)


def test_rescoring_replaces_decisions_and_removes_those_that_no_longer_apply(store):
    a, b = item(1), item(2)
    store.write([a, b], [kept(a), kept(a, "feedback"), kept(b, "feedback")], [], run_id="r1")
    # a is rescored: no longer about feedback, now dropped for spaced. b is not re-written.
    store.write([a], [dropped(a)], [], run_id="r2")
    rows = store.sql("SELECT item_id, topic, kept FROM decisions ORDER BY item_id, topic")[1]
    assert sorted(rows) == sorted([(a.id, "spaced", False), (b.id, "feedback", True)])
    assert store.feed_entries("spaced", 10) == []
    assert [e.item.id for e in store.feed_entries("feedback", 10)] == [b.id]


def test_decided_at_moves_only_when_the_decision_changes(store):
    a = item(1)
    store.write([a], [kept(a)], [], run_id="r1")
    first = store.sql("SELECT decided_at FROM decisions")[1]
    store.write([a], [kept(a)], [], run_id="r2")
    assert store.sql("SELECT decided_at FROM decisions")[1] == first
    store.write([a], [kept(a, score=0.9)], [], run_id="r3")
    assert store.sql("SELECT decided_at FROM decisions")[1] != first
    assert store.run_stats("r3")["topics"]["spaced"]["new"] == 0  # kept before, still kept


def test_feed_entries_are_latest_kept_items_newest_first(store):
    items = [item(n) for n in range(6)]
    undated = item(9, published_at=None)
    future = item(10, published_at=T0 + timedelta(days=3650))
    decisions = [kept(it) for it in items[:5]] + [dropped(items[5]), kept(undated), kept(future)]
    store.write([*items, undated, future], decisions, [])
    ids = [e.item.id for e in store.feed_entries("spaced", 4)]
    # Undated and future-dated items sort at first sight, which is now (after every post).
    assert set(ids[:2]) == {undated.id, future.id}
    assert ids[2:] == [items[4].id, items[3].id]
    assert store.feed_entries("nobody-follows-this", 10) == []


def test_feed_entries_of_all_topics_in_one_pass_keep_each_topics_limit(store):
    items = [item(n) for n in range(6)]
    decisions = [kept(it) for it in items] + [kept(it, topic="other") for it in items[:3]]
    store.write(items, decisions, [])
    latest = store.feed_entries_by_topic({"spaced": 4, "other": 2, "none": 5})
    assert latest == {
        "spaced": store.feed_entries("spaced", 4),
        "other": store.feed_entries("other", 2),
        "none": [],
    }
    assert [e.item.id for e in latest["other"]] == [items[2].id, items[1].id]
    assert len(latest["spaced"]) == 4


def test_dead_letters_are_counted_per_run(store):
    dl = DeadLetter("chat", "chat.txt:12", "no timestamp", "hello", at=T0)
    store.write([], [], [dl], run_id="r1")
    store.write([], [], [dl, DeadLetter("chat", "chat.txt:40", "no timestamp")], run_id="r2")
    assert counts(store)["dead_letters"] == 2
    assert store.run_stats("r2")["dead_letters"] == 2
    assert store.run_stats("r2")["dead_letters_by_source"] == {"chat": 2}
    assert store.sql("SELECT \"at\" FROM dead_letters WHERE ref = 'chat.txt:12'")[1] == [(T0,)]


def test_source_errors_count_up_and_back_off_then_reset(store):
    def status(ok: bool, minutes: int, cursor=None, items=0):
        at = T0 + timedelta(minutes=minutes)
        error = "" if ok else "HTTP 503 from https://blog.example/feed"
        return SourceStatus("blog", "rss", ok, items, error=error, cursor=cursor, fetched_at=at)

    store.update_sources([status(True, 0, {"etag": "v1"}, items=4)], run_id="r1")
    assert store.cursors() == {"blog": {"etag": "v1"}}
    store.update_sources([status(False, 15)], run_id="r2", intervals={"blog": 600})
    store.update_sources([status(False, 30)], run_id="r3", intervals={"blog": 600})
    row = store.sql(
        "SELECT ok, error_count, last_error, next_poll_at - last_fetch_at FROM sources"
    )[1][0]
    assert row == (False, 2, "HTTP 503 from https://blog.example/feed", timedelta(seconds=2400))
    assert store.cursors() == {"blog": {"etag": "v1"}}  # a failure keeps the last good cursor
    assert store.run_stats("r3")["sources"]["errors"] == {
        "blog": "HTTP 503 from https://blog.example/feed"
    }

    store.update_sources([status(True, 45, {"etag": "v2"}, items=2)], run_id="r4")
    store.update_sources([status(True, 45, {"etag": "v2"}, items=2)], run_id="r4")  # replayed
    row = store.sql("SELECT ok, error_count, error, items_total, last_error FROM sources")[1][0]
    assert row == (True, 0, "", 6, "HTTP 503 from https://blog.example/feed")
    assert store.cursors() == {"blog": {"etag": "v2"}}
    assert store.run_stats("r4")["sources"] == {
        "ok": 1,
        "failed": 0,
        "not_modified": 0,
        "errors": {},
    }


def test_runs_are_recorded(store):
    store.begin_run("r1", "/etc/pln.yaml")
    store.finish_run("r1", {"items": {"new": 3}, "seconds": 1.5})
    _, [(config, stats, finished)] = store.sql(
        "SELECT config_path, stats->>'$.items.new', finished_at IS NOT NULL FROM runs"
    )
    assert (config, stats, finished) == ("/etc/pln.yaml", "3", True)


def test_views_agree_with_the_feed(store):
    a, b = item(1), item(2)
    store.write([a, b], [kept(a), dropped(b)], [])
    _, rows = store.sql("SELECT topic, id, score FROM curated_items")
    assert rows == [("spaced", a.id, 0.8)]
    _, rows = store.sql("SELECT topic, scored, kept FROM topic_counts")
    assert rows == [("spaced", 2, 1)]


def test_read_only_never_creates_the_file(tmp_path):
    path = tmp_path / "missing" / "pln.duckdb"
    with pytest.raises(PlnError, match=r"does not exist; run `pln run` first") as err:
        Store(path, read_only=True)
    assert "\n" not in str(err.value)
    assert not path.parent.exists()


def test_read_only_reads_but_refuses_writes(tmp_path):
    path = tmp_path / "pln.duckdb"
    with Store(path) as store:
        store.write([item(1)], [kept(item(1))], [])
    with Store(path, read_only=True) as store:
        assert store.sql("SELECT count(*) FROM curated_items") == (["count_star()"], [(1,)])
        with pytest.raises(PlnError, match="^SQL error: .*read-only"):
            store.sql("DELETE FROM items")
        with pytest.raises(PlnError, match="^SQL error: .*nope"):
            store.sql("SELECT * FROM nope")


@pytest.mark.parametrize("bulk", [False, True])
def test_a_file_that_is_not_a_store_is_refused(tmp_path, bulk):
    path = tmp_path / "notes.duckdb"
    path.write_text("just some notes\n")
    with pytest.raises(PlnError, match=r"notes.duckdb: not a DuckDB database file$") as err:
        Store(path, bulk=bulk)
    assert "\n" not in str(err.value)
    assert path.read_text() == "just some notes\n"


def test_a_bulk_writer_stores_smaller_row_groups_that_every_reader_reads(tmp_path):
    """The batch job's writer puts a big write's rows into row groups of BULK_ROW_GROUP rows
    (its commit compresses two small ones faster than one big one); what it wrote is the same
    store for a plain writer and for readers, with nothing left in a write-ahead log."""
    from pln.sinks.store_db import BULK_ROW_GROUP

    many = [item(n) for n in range(BULK_ROW_GROUP + 1_000)]
    row_groups = {}
    for bulk in (False, True):
        path = tmp_path / f"it's bulk-{bulk}.duckdb"  # a quote: the path is a parameter
        with Store(path, bulk=bulk) as store:
            store.write(many, [kept(it) for it in many], [], run_id="r1")
        assert not path.with_name(path.name + ".wal").exists()
        with Store(path, read_only=True) as store:
            row_groups[bulk] = store.sql(
                "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('items')"
            )[1][0][0]
            assert store.sql("SELECT count(*), count(DISTINCT id) FROM curated_items")[1] == [
                (len(many), len(many))
            ]
        with Store(path) as store:  # a plain writer goes on with it
            store.write([item(-1)], [kept(item(-1))], [], run_id="r2")
            assert counts(store)["items"] == len(many) + 1
    assert row_groups == {False: 1, True: 2}


def test_paths_in_messages_are_relative_only_below_the_working_folder(tmp_path, monkeypatch):
    from pln.errors import shown_path

    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "out" / "pln.duckdb") == "out/pln.duckdb"
    assert shown_path("/var/lib/pln/pln.duckdb") == "/var/lib/pln/pln.duckdb"
    monkeypatch.chdir("/")  # a service without a working folder: relative would mislead
    assert shown_path("/var/lib/pln/pln.duckdb") == "/var/lib/pln/pln.duckdb"


def test_database_locked_by_another_process_gives_one_line_error(tmp_path, monkeypatch):
    path = tmp_path / "out" / "pln.duckdb"
    Store(path).close()
    holder = hold_database(path)
    monkeypatch.chdir(tmp_path)  # the message names the file as the user would type it
    shown = "out/pln.duckdb"
    try:
        for read_only, bulk in ((False, False), (False, True), (True, False)):
            with pytest.raises(PlnError) as err:
                Store(path, read_only=read_only, wait=0, bulk=bulk)
            message = str(err.value)
            if read_only:  # only a writer keeps a reader out
                assert message.startswith(f"database {shown} is being written by another process")
            else:  # the holder may only be reading: the message does not say it writes
                assert message.startswith(f"database {shown}: another process (PID ")
                assert message.endswith(" holds the file open; try again when it closes it")
            assert f"(PID {holder.pid})" in message and "\n" not in message
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with Store(path) as store:  # usable again once the other writer is gone
        store.write([item(1)], [], [])


def test_a_failed_write_leaves_nothing_behind(store):
    broken = DeadLetter("blog", "feed.xml#3", "bad date", at=None)  # "at" is required
    with pytest.raises(Exception, match="NOT NULL"):
        store.write([item(1)], [kept(item(1))], [broken], run_id="r1")
    assert counts(store) == {"items": 0, "decisions": 0, "dead_letters": 0}
    store.write([item(1)], [kept(item(1))], [], run_id="r1")  # the store is still usable
    assert counts(store)["items"] == 1


def test_labels_keep_the_latest_word_per_item_and_topic(store):
    a, b = item(1), item(2)
    t = T0 + timedelta(days=1)
    store.add_labels([Label(a.id, "spaced", 1, t, "feed"), Label(b.id, "spaced", -1, t, "cli")])
    store.add_labels([Label(a.id, "spaced", 1, t, "feed")])  # the same click again
    store.add_labels([Label(a.id, "spaced", -1, t - timedelta(hours=1), "csv")])  # older: ignored
    store.add_labels([Label(a.id, "feedback", -1, t, "cli")])  # another topic: its own label
    assert sorted(
        (x.item_id, x.topic, x.label, x.origin) for x in store.labels("spaced")
    ) == sorted([(a.id, "spaced", 1, "feed"), (b.id, "spaced", -1, "cli")])
    store.add_labels([Label(a.id, "spaced", -1, t + timedelta(hours=1), "cli")])  # changed mind
    assert {(x.item_id, x.topic): x.label for x in store.labels()} == {
        (a.id, "spaced"): -1,
        (b.id, "spaced"): -1,
        (a.id, "feedback"): -1,
    }
    assert store.labels()[0].at == t  # aware UTC datetimes come back


@pytest.mark.parametrize(
    "bad, problem",
    [
        (Label("x", "spaced", 2, T0), "must be +1 or -1, got 2"),
        (Label("x", "spaced", True, T0), "must be +1 or -1, got True"),
        (Label("x", "spaced", 1, T0, "email"), "origin must be one of feed, cli, csv"),
        (Label("", "spaced", 1, T0), "needs an item id"),
    ],
)
def test_bad_labels_are_refused_with_one_line(store, bad, problem):
    with pytest.raises(PlnError, match=re.escape(problem)):
        store.add_labels([Label("ok", "spaced", 1, T0), bad])
    assert store.labels() == []  # nothing half-written


def test_user_views_top_links_people_chat_threads_source_health(store):
    participants = ("lrnchat", "jane_ld", "sam")
    chat = chat_thread("q1", "Q1. Spaced practice?", participants, published_at=T0)
    shared = "https://example.org/spacing-guide"
    posts = [
        item(1, author="jane_ld", links=(shared,)),
        item(2, author="sam", links=(shared, "https://other.example")),
        item(3, author="jane_ld", links=(shared,)),
    ]
    store.write([*posts, chat], [kept(posts[0]), dropped(posts[1]), kept(chat)], [])
    store.write([], [], [DeadLetter("blog", "feed.xml#1", "no title", at=T0)])
    store.update_sources([SourceStatus("blog", "rss", False, error="HTTP 500", fetched_at=T0)])

    _, rows = store.sql("SELECT link, people, shares, kept_shares, topics FROM top_links")
    assert rows[0] == (shared, 2, 3, 1, ["spaced"])
    _, rows = store.sql("SELECT person, items, chat_threads, kept, topics FROM active_people")
    assert rows == [
        ("jane_ld", 2, 1, 2, ["spaced"]),  # her post 1 and the chat thread were kept
        ("sam", 1, 1, 1, ["spaced"]),  # by kept, then by activity
        ("lrnchat", 0, 1, 1, ["spaced"]),
    ]
    _, rows = store.sql("SELECT id, people, participants, topics FROM chat_threads")
    assert rows == [(chat.id, 3, ["lrnchat", "jane_ld", "sam"], ["spaced"])]
    _, rows = store.sql("SELECT name, status, error_count, dead_letters FROM source_health")
    assert rows == [("blog", "failing", 1, 1)]

    store.add_labels([Label(posts[0].id, "spaced", 1, T0, "feed")])
    _, rows = store.sql("SELECT item_id, label, score, kept, title FROM labeled_items")
    assert rows == [(posts[0].id, 1, 0.8, True, "Post 1")]


def test_items_by_id_returns_known_items_only(store):
    a = item(1)
    store.write([a], [], [])
    assert store.items_by_id([a.id, "missing"]) == {a.id: a}
