"""A store left running forgets what no source delivered for `keep_days`, keeps what people
labelled and what the feeds show, and does not take a forgotten item back when a source
delivers it again."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from big_store import fill_store
from feedsite import feed_config
from helpers import article, db_rows, row_count
from test_stories import blog_post, social_post

from pln.cli import main
from pln.config import load_config
from pln.filters.stories import story_keys
from pln.pipelines.batch import _forget_if_due
from pln.pipelines.stream_writer import StreamWriter
from pln.record import DeadLetter, Decision, Item
from pln.sinks.feeds import render_feeds
from pln.sinks.retention import forget_old
from pln.sinks.store import Label, Store
from pln.sinks.store_forget import LAST_FORGET_KEY, forgotten_line

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ITEM_TABLES = ("decisions", "source_decisions", "item_keys", "story_members")


def post(n: int, day: int) -> Item:
    title, url = f"Spaced practice, part {n}", f"https://blog.example/{n}"
    when = datetime(2026, 1, day, 9, tzinfo=UTC)
    return article(f"p{n}", title=title, text=f"Part {n}: quizzes.", url=url, published_at=when)


def age(db: Path, days: int, ids=None) -> None:
    """As if no source had delivered these items (None: all) for `days` days."""
    where = "" if ids is None else "WHERE id IN (SELECT unnest($ids))"
    with Store(db) as store:
        store.con.execute(
            f"UPDATE items SET last_seen_at = last_seen_at - to_days($days) {where}",
            {"days": days, **({} if ids is None else {"ids": list(ids)})},
        )


def rows_about(db: Path, ids) -> dict[str, int]:
    ids = sorted(ids)
    counts = {}
    for table in ITEM_TABLES:
        counts[table] = db_rows(db, f"SELECT count(*) FROM {table} WHERE item_id IN {tuple(ids)}")[
            0
        ][0]
    counts["items"] = db_rows(db, f"SELECT count(*) FROM items WHERE id IN {tuple(ids)}")[0][0]
    return counts


def aged_store(tmp_path: Path):
    """A store with every case: old items kept for the feed, dropped, labelled; an old blog
    post with an old share and one from today; an old dead letter; an old finished run, one
    that never finished and the latest. Returns the config, the items by role and the feed."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    topic = {"id": "spaced", "title": "Spaced", "phrases": ["spaced practice"], "max_items": 2}
    config = feed_config(tmp_path, [topic], "http://127.0.0.1:8080/feeds")
    db = config.outputs.duckdb
    kept = [post(n, n) for n in range(1, 5)]  # the feed shows the latest 2: fresh p8 and old p4
    labelled, dropped, fresh = post(5, 5), post(7, 7), post(8, 8)
    blog = blog_post()  # an old blog post, shared long ago and again today: one story
    old_share, new_share = (
        social_post("x", "x-home", f"s{n}", "jane", f"https://x.example/s{n}", "Read", [blog.url])
        for n in (1, 2)
    )
    items = [*kept, labelled, dropped, fresh, blog, old_share, new_share]
    decisions = [Decision(i.id, "spaced", 0.9, True, "matched") for i in [*kept, fresh]]
    decisions.append(Decision(labelled.id, "spaced", 0.2, False, "too weak"))
    with Store(db) as store:
        store.write(
            items,
            decisions,
            [DeadLetter("blog", "feed#9", "no title")],
            run_id="r1",
            story_keys=story_keys(items),
        )
        store.begin_run("r1", "pln.yaml")
        store.finish_run("r1", {})
        store.add_labels([Label(labelled.id, "spaced", 1, datetime.now(UTC))])
        render_feeds(store, config)
    feed = (config.outputs.feeds_dir / "spaced.rss.xml").read_bytes()
    age(db, 400, [i.id for i in items if i not in (fresh, new_share)])
    with Store(db) as store:
        store.con.execute("UPDATE dead_letters SET last_seen_at = last_seen_at - to_days(400)")
        store.begin_run("r0", "pln.yaml")  # a run that never finished (killed)
        store.con.execute(
            "UPDATE runs SET started_at = started_at - to_days(400), "
            "finished_at = finished_at - to_days(400)"
        )
        store.begin_run("r2", "pln.yaml")  # the latest run is never forgotten
    roles = {"kept": kept, "labelled": labelled, "dropped": dropped, "fresh": fresh}
    roles |= {"blog": blog, "old_share": old_share, "new_share": new_share}
    return config, items, decisions, roles, feed


def test_old_items_go_while_labelled_ones_live_story_heads_and_the_feeds_stay(tmp_path):
    config, items, decisions, roles, feed = aged_store(tmp_path)
    db = config.outputs.duckdb
    kept, labelled, dropped, fresh = (roles[k] for k in ("kept", "labelled", "dropped", "fresh"))
    blog, old_share, new_share = (roles[k] for k in ("blog", "old_share", "new_share"))
    gone = {kept[0].id, kept[1].id, kept[2].id, dropped.id, old_share.id}
    with Store(db) as store:
        counted = forget_old(store, config, days=365, dry_run=True)
    assert rows_about(db, gone)["items"] == 5  # a dry run changes nothing
    assert row_count(db, "SELECT count(*) FROM forgotten_items") == 0
    with Store(db) as store:
        done = forget_old(store, config, days=365)
    for result in (counted, done):
        assert (result.items, result.stories) == (5, 4)  # the old share leaves a live story
        assert (result.kept_labelled, result.kept_shown, result.kept_heads) == (1, 1, 1)
        assert (result.dead_letters, result.runs) == (1, 2)
    assert rows_about(db, gone) == dict.fromkeys((*ITEM_TABLES, "items"), 0)
    stayed = {kept[3].id, labelled.id, fresh.id, blog.id, new_share.id}
    assert {r[0] for r in db_rows(db, "SELECT id FROM items")} == stayed
    assert db_rows(
        db,
        f"SELECT DISTINCT story_id FROM story_members WHERE item_id IN {(blog.id, new_share.id)}",
    ) == [(blog.id,)]
    assert db_rows(db, "SELECT run_id FROM runs") == [("r2",)]
    assert row_count(db, "SELECT count(*) FROM dead_letters") == 0
    assert row_count(db, "SELECT count(*) FROM forgotten_items") == 5
    with Store(db) as store:
        render_feeds(store, config)
    assert (config.outputs.feeds_dir / "spaced.rss.xml").read_bytes() == feed

    # Delivered again (an archive read anew): the forgotten items stay out, the rest is written.
    with Store(db) as store:
        store.write(items, decisions, [], run_id="r3", story_keys=story_keys(items))
        assert store.run_stats("r3")["forgotten_earlier"] == 5
    assert rows_about(db, gone) == dict.fromkeys((*ITEM_TABLES, "items"), 0)
    assert row_count(db) == len(stayed)


def test_passes_with_a_limit_forget_whole_stories_oldest_first_and_end_where_one_pass_ends(
    tmp_path,
):
    config, items, _, roles, feed = aged_store(tmp_path / "limited")
    whole, *_ = aged_store(tmp_path / "whole")
    db = config.outputs.duckdb
    with Store(whole.outputs.duckdb) as store:
        forget_old(store, whole, days=365)
    first = {roles["kept"][0].id, roles["dropped"].id}  # the longest undelivered go first
    age(db, 10, [roles["kept"][0].id])
    age(db, 5, [roles["dropped"].id])
    passes = []
    while not passes or passes[-1].left:
        with Store(db) as store:
            passes.append(forget_old(store, config, days=365, limit=2))
            finished = store.db.meta(LAST_FORGET_KEY)
        assert (finished is None) == bool(passes[-1].left)  # the daily clock waits for the end
        if passes[-1].left:  # old dead letters and runs go with the last pass
            assert row_count(db, "SELECT count(*) FROM dead_letters") == 1
        if len(passes) == 1:
            assert not {r[0] for r in db_rows(db, "SELECT id FROM items")} & first
            assert row_count(db) == len(items) - 2
    assert [(p.items, p.left) for p in passes] == [(2, 3), (2, 1), (1, 0)]
    assert [(p.dead_letters, p.runs) for p in passes] == [(0, 0), (0, 0), (1, 2)]
    for table in ("items", "story_members", "forgotten_items", "runs", "dead_letters"):
        query = (
            f"SELECT * EXCLUDE (forgotten_at) FROM {table}"
            if table == "forgotten_items"
            else (f"SELECT count(*) FROM {table}")
        )
        assert sorted(db_rows(db, query)) == sorted(db_rows(whole.outputs.duckdb, query)), table
    with Store(db) as store:
        render_feeds(store, config)
    assert (config.outputs.feeds_dir / "spaced.rss.xml").read_bytes() == feed
    assert "; 3 more to forget in the next passes" in forgotten_line(passes[0].as_dict(365))


def example_copy(tmp_path: Path, **outputs) -> Path:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    path = tmp_path / "examples" / "pln.yaml"
    data = yaml.safe_load(path.read_text())
    data["outputs"].update(outputs)
    path.write_text(yaml.safe_dump(data))
    return path


def test_pln_forget_then_a_full_run_leaves_the_forgotten_out(tmp_path, capsys):
    config_path = example_copy(tmp_path)
    db = load_config(config_path).outputs.duckdb
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    ids = [r[0] for r in db_rows(db, "SELECT id FROM items ORDER BY id")]
    age(db, 400, ids[::2])

    assert main(["forget", "-c", str(config_path)]) == 2  # no days: keep_days is not set
    assert capsys.readouterr().err.splitlines()[-1] + "\n" == (
        f"pln: error: pln forget: outputs.keep_days is not set (or 0) in {config_path}, which "
        "keeps everything; give --days N, or set keep_days to 1 or more\n"
    )
    assert main(["forget", "--days", "0", "-c", str(config_path)]) == 2
    assert "give --days N of at least 1, got 0" in capsys.readouterr().err
    assert main(["forget", "--days", "365", "-c", str(config_path)]) == 0
    said = capsys.readouterr().out
    left = row_count(db)
    assert said.startswith(f"forgot {len(ids) - left} items no source delivered in 365 days (")
    assert left < len(ids) - 100  # some old ones stay: the feeds show them

    # Labelling a forgotten item says what happened to it, not just "no item".
    kept = {r[0] for r in db_rows(db, "SELECT id FROM items")}
    gone = next(i for i in ids if i not in kept)
    topic = load_config(config_path).topics[0].id
    assert main(["label", gone, topic, "+", "-c", str(config_path)]) == 2  # a user mistake
    err = capsys.readouterr().err
    [(when,)] = db_rows(db, "SELECT max(forgotten_at) FROM forgotten_items")  # one forget run
    assert f"item {gone!r} was forgotten on {when.astimezone(UTC):%Y-%m-%d}" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["label", "0" * 20, topic, "+", "-c", str(config_path)]) == 2
    assert "no item with id '00000000000000000000'" in capsys.readouterr().err

    assert main(["run", "--full", "-c", str(config_path)]) == 0
    summary = capsys.readouterr().out
    assert f"{left} read: 0 new" in summary
    assert f"{len(ids) - left} forgotten earlier, left out" in summary
    assert row_count(db) == left


def test_a_rescore_delivers_nothing_so_forgetting_stays_as_it_was(tmp_path, capsys):
    """Deciding items again (`pln rescore`, after a topic edit or `pln train`) is no delivery:
    it left every item's last sight at now, and nothing was ever forgotten (QA, 4 Dec 2026)."""
    config_path = example_copy(tmp_path)
    db = load_config(config_path).outputs.duckdb
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    age(db, 400)
    sight = "SELECT id, last_seen_at, last_run_id FROM items ORDER BY id"
    before = db_rows(db, sight)
    dry_run = ["forget", "--days", "365", "--dry-run", "-c", str(config_path)]
    assert main(dry_run) == 0
    would = capsys.readouterr().out
    assert would.startswith("would forget ") and not would.startswith("would forget 0 ")

    assert main(["rescore", "-c", str(config_path)]) == 0
    assert db_rows(db, sight) == before
    capsys.readouterr()
    assert main(dry_run) == 0
    # The same plan; the file's size may differ (the rescore rewrote every decision).
    assert _sizeless(capsys.readouterr().out) == _sizeless(would)


def _sizeless(report: str) -> str:
    return re.sub(r"\(\d+(\.\d+)? [KMGT]?B;", "(SIZE;", report)


def test_pln_forget_item_takes_a_post_out_of_the_store_and_feeds_for_good(tmp_path, capsys):
    """A post deleted upstream (a phone number shared by mistake) goes now, labelled, shown in
    a feed and heading a story as it is; a source delivering it again does not bring it back."""
    config_path = example_copy(tmp_path)
    config = load_config(config_path)
    db = config.outputs.duckdb
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    [(head, url, topic)] = db_rows(
        db,
        """SELECT i.id, i.url, any_value(d.topic) FROM items i
           JOIN decisions d ON d.item_id = i.id AND d.kept
           JOIN story_members m ON m.story_id = i.id
           GROUP BY i.id, i.url HAVING count(DISTINCT m.item_id) > 2
           ORDER BY i.id LIMIT 1""",
    )
    feed = config.outputs.feeds_dir / f"{topic}.rss.xml"
    entry = f"<link>{url}</link>"  # the post's own entry (shares quote its link, and stay)
    assert entry in feed.read_text()
    assert main(["label", head, topic, "+", "-c", str(config_path)]) == 0
    others = row_count(db) - 1
    capsys.readouterr()

    forget = ["forget", "-c", str(config_path), "--item"]
    assert main([*forget, url, "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(f"would forget {head}: ")
    assert row_count(db) == others + 1
    assert main([*forget, url, "--item", "no-such-item"]) == 0
    said = capsys.readouterr()
    assert said.out.startswith(f"forgot {head}: ")
    assert said.err == "pln: warning: no item with id or link 'no-such-item'\n"
    assert rows_about(db, [head]) == dict.fromkeys([*ITEM_TABLES, "items"], 0)
    assert db_rows(db, "SELECT count(*) FROM labels") == [(0,)]
    assert row_count(db) == others  # its story's shares stay
    assert entry not in feed.read_text()

    assert main(["run", "--full", "-c", str(config_path)]) == 0
    assert "1 forgotten earlier, left out" in capsys.readouterr().out
    assert rows_about(db, [head])["items"] == 0
    assert entry not in feed.read_text()


def test_pln_forget_item_mistakes_are_one_line_errors(tmp_path, capsys):
    config_path = example_copy(tmp_path)
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    capsys.readouterr()
    assert main(["forget", "-c", str(config_path), "--item", "nothing-like-it"]) == 2
    assert capsys.readouterr().err == (
        "pln: error: pln forget: no item with id or link 'nothing-like-it'\n"
    )
    assert main(["forget", "-c", str(config_path), "--item", "x", "--days", "3"]) == 2
    assert "give either --days or --item, not both" in capsys.readouterr().err


def test_keep_days_forgets_once_a_day_in_runs(tmp_path, capsys):
    config_path = example_copy(tmp_path, keep_days=30)
    db = load_config(config_path).outputs.duckdb
    assert main(["run", "-c", str(config_path)]) == 0
    assert "forgot" in capsys.readouterr().out  # nothing old yet, but the day's pass ran
    total = row_count(db)
    age(db, 40)
    assert main(["run", "-c", str(config_path)]) == 0
    assert "forgot" not in capsys.readouterr().out  # it ran today already
    assert row_count(db) == total
    with Store(db) as store:  # a day later
        store.con.execute(
            "UPDATE pln_meta SET value = ? WHERE key = ?",
            [(datetime.now(UTC) - timedelta(days=1, minutes=1)).isoformat(), LAST_FORGET_KEY],
        )
    assert main(["run", "-c", str(config_path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  forgot"))
    assert "no source delivered in 30 days (" in line and "shown in feeds" in line
    assert row_count(db) < total
    with Store(db) as store:  # a clock that once ran a year ahead does not stop it for a year
        store.con.execute(
            "UPDATE pln_meta SET value = ? WHERE key = ?",
            [(datetime.now(UTC) + timedelta(days=365)).isoformat(), LAST_FORGET_KEY],
        )
    assert main(["run", "-c", str(config_path)]) == 0
    assert "  forgot " in capsys.readouterr().out


def test_keep_days_is_checked(tmp_path, capsys):
    config_path = example_copy(tmp_path, keep_days=-1)
    assert main(["validate", "-c", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert "outputs.keep_days" in err and "at least 0" in err and len(err.splitlines()) == 1


def stream_over_old_posts(tmp_path: Path, posts: int) -> tuple[StreamWriter, Path]:
    """A stream's writer (keep_days 30) over a store of `posts` kept posts, 40 days old; the
    topic's feed shows the newest."""
    topic = {"id": "spaced", "title": "Spaced", "phrases": ["spaced practice"], "max_items": 1}
    config = feed_config(tmp_path, [topic], "http://127.0.0.1:8080/feeds")
    config = dataclasses.replace(config, outputs=dataclasses.replace(config.outputs, keep_days=30))
    items = [post(n, n) for n in range(1, posts + 1)]
    with Store(config.outputs.duckdb) as store:
        store.write(items, [Decision(i.id, "spaced", 0.9, True, "m") for i in items], [])
    age(config.outputs.duckdb, 40)
    return StreamWriter(config, "stream-1", hold=False), config.outputs.duckdb


def test_a_stream_forgets_between_commits(tmp_path):
    writer, db = stream_over_old_posts(tmp_path, 3)
    config = writer.config
    writer.refresh()
    assert writer.forgotten is not None and writer.forgotten.items == 2
    assert (config.outputs.feeds_dir / "spaced.rss.xml").is_file()  # rendered after it
    assert row_count(config.outputs.duckdb) == 1
    with Store(config.outputs.duckdb) as store:
        store.write([post(9, 9)], [], [])
    age(config.outputs.duckdb, 40)
    writer.refresh()  # looks again only after FORGET_LOOK_EVERY, and then daily
    writer.close()
    assert row_count(config.outputs.duckdb) == 2


def test_a_stream_forgets_a_big_backlog_in_passes_between_commits(tmp_path, monkeypatch):
    from pln.pipelines import stream_writer

    monkeypatch.setattr(stream_writer, "FORGET_PASS_LIMIT", 2)
    monkeypatch.setattr(stream_writer, "FORGET_PASS_PAUSE", 0.0)
    writer, db = stream_over_old_posts(tmp_path, 6)
    left = []
    for _ in range(4):
        writer.refresh()
        left.append((writer.forgotten.items, writer.forgotten.left, row_count(db)))
    writer.close()
    # 5 to go (the feed shows the newest): 2, 2, then 1; the fourth look waits for tomorrow.
    assert left == [(2, 3, 4), (2, 1, 2), (1, 0, 1), (1, 0, 1)]


def test_the_file_stops_growing_when_old_items_go(tmp_path):
    """A year of a steady stream: each round forgets the oldest fifth and adds as many new."""
    db = tmp_path / "pln.duckdb"
    step = 40_000
    fill_store(db, 5 * step, "spaced")
    config = feed_config(tmp_path, [{"id": "spaced", "title": "S", "phrases": ["x"]}], "http://h")
    with Store(db) as store:
        store.con.execute("CHECKPOINT")
    start = db.stat().st_size
    sizes = []
    for round_ in range(1, 7):
        with Store(db) as store:
            store.con.execute(
                """UPDATE items SET last_seen_at = TIMESTAMPTZ '2000-01-01'
                   WHERE id IN (SELECT id FROM items WHERE last_seen_at > TIMESTAMPTZ '2000-01-01'
                                ORDER BY published_at LIMIT $n)""",
                {"n": step},
            )
            assert forget_old(store, config, days=365).items >= step - 50
        fill_store(db, step, "spaced", start=(round_ + 4) * step)
        with Store(db) as store:
            store.con.execute("CHECKPOINT")
        sizes.append(db.stat().st_size)
    shown = 50  # the feed's latest items stay, old as they are
    assert 5 * step <= row_count(db) <= 5 * step + shown
    assert row_count(db, "SELECT count(*) FROM forgotten_items") >= 6 * step - shown
    assert max(sizes[3:]) <= max(sizes[:3]) * 1.1, [start, *sizes]  # it levels off


def test_a_run_whose_forgetting_fails_still_renders_its_feeds(tmp_path, caplog):
    """The run's items are written before it forgets: running out of memory there (a stand-in
    for any write failure) is a warning, and the feeds are rendered all the same."""
    config = feed_config(tmp_path, [{"id": "spaced", "title": "S", "phrases": ["x"]}], "http://h")
    config = dataclasses.replace(config, outputs=dataclasses.replace(config.outputs, keep_days=30))
    fill_store(config.outputs.duckdb, 200_000, "spaced")
    age(config.outputs.duckdb, 40)
    stats: dict = {}
    with Store(config.outputs.duckdb) as store:
        store.con.execute("SET memory_limit = '24MB'")
        _forget_if_due(store, config, stats)
        store.con.execute("RESET memory_limit")
        assert render_feeds(store, config)
    assert "out of memory" in stats["forget_error"] and "forgotten" not in stats
    assert "old items not forgotten this time" in caplog.text
    assert row_count(config.outputs.duckdb) == 200_000  # nothing half-done
    assert "Spaced practice" in (config.outputs.feeds_dir / "spaced.rss.xml").read_text()
