"""`pln ingest`: cursors, at-least-once delivery into Kafka, crashes and broker outages."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest_kafka import (
    consume_all,
    kill,
    pln_args,
    pln_process,
    tweet_item_id,
    wait_for,
    write_config,
    write_tweets,
)
from helpers import db_rows
from kafka_broker import KafkaBroker, broker_binary, free_port

from pln import payload
from pln.config import load_config
from pln.errors import PlnError
from pln.pipelines.config_watch import ConfigWatch
from pln.pipelines.ingest import Ingester, IngestState
from pln.record import Item, SourceStatus


def ingest_args(config, settings, *extra):
    return pln_args("ingest", config, settings, *extra)


def records(settings, expect: int, timeout: float = 20.0):
    """Items and statuses on the raw topic, decoded."""
    messages = consume_all(settings, settings.raw_topic, expect, timeout)
    decoded = [payload.decode(m.value) for m in messages]
    return [r for r in decoded if isinstance(r, Item)], [
        r for r in decoded if isinstance(r, SourceStatus)
    ]


def test_state_file_round_trips_and_bad_files_are_named(tmp_path):
    path = tmp_path / "state.json"
    state = IngestState.load(path)
    state.of("x").cursor = {"files": {"a": 1}}
    state.save()
    assert IngestState.load(path).of("x").cursor == {"files": {"a": 1}}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temp files left
    path.write_text("{broken")
    with pytest.raises(PlnError, match=r"ingest state .*state.json: cannot read it"):
        IngestState.load(path)
    path.write_text(json.dumps({"version": 9}))
    with pytest.raises(PlnError, match="not a version 1 state file"):
        IngestState.load(path)


def test_poll_produces_items_and_advances_the_cursor_only_after(tmp_path, kafka_topics):
    config = load_config(write_config(tmp_path))
    write_tweets(tmp_path, "p1", range(5))
    ingester = Ingester(config, kafka_topics, tmp_path / "state.json", say=lambda _: None)
    source = config.sources[0]

    status = ingester.poll(source)
    assert status.ok and status.items == 5
    cursor = IngestState.load(tmp_path / "state.json").of("x").cursor
    assert cursor == status.cursor and cursor
    assert ingester.poll(source).not_modified  # the cursor holds: nothing new, nothing sent

    write_tweets(tmp_path, "p2", range(5, 8))
    assert ingester.poll(source).items == 3
    ingester.producer.close()
    items, statuses = records(kafka_topics, expect=8 + 3)
    assert sorted(i.id for i in items) == sorted(tweet_item_id(n) for n in range(8))
    assert [s.items for s in sorted(statuses, key=lambda s: s.fetched_at)] == [5, 0, 3]


def test_a_changed_feed_sends_only_its_new_and_changed_entries(tmp_path, kafka_topics, monkeypatch):
    """A feed answers with all its entries whenever one changed: the ingester sends those it
    did not send before, or that changed; an unchanged one again only once RESEND_AFTER has
    passed (the store's `last_seen_at`, which keep_days forgets by, needs a delivery)."""
    from pln.pipelines import sent_items

    def write_feed(*entries: tuple[int, str]) -> None:
        items = "".join(
            f"<item><title>{title}</title><link>https://blog.example/{n}</link>"
            f"<guid>https://blog.example/{n}</guid><description>Notes {n}.</description></item>"
            for n, title in entries
        )
        feed.write_text(f'<rss version="2.0"><channel><title>Blog</title>{items}</channel></rss>')

    feed = tmp_path / "blog.xml"
    sources = "sources:\n  - {name: blog, type: rss, path: blog.xml}\n"
    config = load_config(write_config(tmp_path, sources=sources))
    said: list[str] = []
    ingester = Ingester(config, kafka_topics, tmp_path / "state.json", say=said.append)
    source = config.sources[0]

    write_feed((1, "One"), (2, "Two"), (3, "Three"))
    assert ingester.poll(source).items == 3
    write_feed((4, "Four"), (1, "One"), (2, "Two, edited"), (3, "Three"))
    assert ingester.poll(source).items == 4  # what the feed holds (the status says)
    monkeypatch.setattr(sent_items, "RESEND_AFTER", 0.0)
    write_feed((4, "Four"), (1, "One"), (2, "Two, edited"))
    assert ingester.poll(source).items == 3
    ingester.producer.close()
    items, _ = records(kafka_topics, expect=4 + 1)  # distinct keys: 4 items, 1 status
    titles = sorted(i.title for i in items)
    assert titles == sorted(
        ["One", "Two", "Three", "Four", "Two, edited"] + ["Four", "One", "Two, edited"]
    )
    assert "✓ blog: 2 items (2 more unchanged, not sent again)" in said
    assert ingester.summary(1.0).endswith("(2 unchanged items not sent again)")


def test_failing_source_is_reported_and_backed_off(tmp_path, kafka_topics):
    config = load_config(write_config(tmp_path))
    (tmp_path / "tweets").rmdir()
    ingester = Ingester(config, kafka_topics, tmp_path / "state.json", say=lambda _: None)
    status = ingester.poll(config.sources[0])
    ingester.producer.close()
    assert not status.ok and "path not found" in status.error
    state = IngestState.load(tmp_path / "state.json").of("x")
    assert state.errors == 1 and state.cursor is None
    _, statuses = records(kafka_topics, expect=1)
    assert statuses[0].error == status.error


@pytest.mark.slow
def test_ingest_then_stream_with_both_killed_mid_flow(tmp_path, kafka_topics):
    """Ingester and stream are SIGKILLed and restarted: every item lands in DuckDB once."""
    settings = kafka_topics
    config = load_config(write_config(tmp_path, interval=1.0))
    db = config.outputs.duckdb
    ingest_log, stream_log = tmp_path / "ingest.log", tmp_path / "stream.log"
    stream_cmd = (
        "stream", "-c", str(config.path), "--bootstrap", settings.bootstrap,
        "--raw-topic", settings.raw_topic, "--curated-topic", settings.curated_topic,
    )  # fmt: skip
    ingest = pln_process(*ingest_args(config.path, settings), log=ingest_log)
    stream = pln_process(*stream_cmd, log=stream_log)
    total = 0
    try:
        for page in range(6):
            write_tweets(tmp_path, f"p{page}", range(total, total + 200))
            total += 200
            if page == 2:
                wait_for(lambda: " items" in ingest_log.read_text(), 30, "a first poll")
                kill(ingest)  # SIGKILL between polls or mid-poll
                kill(stream)
                ingest = pln_process(*ingest_args(config.path, settings), log=ingest_log)
                stream = pln_process(*stream_cmd, log=stream_log)

        def all_items():
            rows = db_rows(db, "SELECT count(*) FROM items")
            return rows and rows[0][0] == total

        wait_for(all_items, 90, f"all {total} items in DuckDB")
    finally:
        kill(ingest, signal.SIGTERM)
        kill(stream, signal.SIGTERM)
    ids = {r[0] for r in db_rows(db, "SELECT id FROM items")}
    assert ids == {tweet_item_id(n) for n in range(total)}
    health = db_rows(db, "SELECT name, ok, error_count FROM source_health")
    assert health == [("x", True, 0)]


@pytest.mark.slow
def test_ingest_waits_for_the_broker_and_says_so(tmp_path, kafka_topics):
    port = free_port()
    settings = kafka_topics.__class__(**{**vars(kafka_topics), "bootstrap": f"127.0.0.1:{port}"})
    config = load_config(write_config(tmp_path))
    write_tweets(tmp_path, "p1", range(3))
    log = tmp_path / "ingest.log"
    proc = pln_process(*ingest_args(config.path, settings), log=log)
    try:
        wait_for(
            lambda: "connection refused by 127.0.0.1" in log.read_text(), 30, "a clear message"
        )
        assert not (tmp_path / "out" / "ingest-state.json").exists()
        with KafkaBroker(broker_binary(), port=port):
            items, _ = records(settings, expect=4, timeout=30)
            assert len(items) == 3
            state = tmp_path / "out" / "ingest-state.json"
            wait_for(state.exists, 10, "the cursor after the broker acknowledged")
    finally:
        kill(proc, signal.SIGTERM)
    assert "Traceback" not in log.read_text()


def source_yaml(name: str, path: str) -> str:
    return f"  - name: {name}\n    type: twitter_v2\n    path: {path}\n    interval: 1.0\n"


def test_a_running_ingester_follows_its_config_and_a_changed_source_starts_afresh(
    tmp_path, kafka_topics
):
    settings = kafka_topics
    config_path = write_config(tmp_path)
    written = config_path.read_text()
    x_before = "sources:\n" + source_yaml("x", "tweets")
    log = tmp_path / "ingest.log"

    def edit(sources: str) -> None:
        assert x_before in written
        config_path.write_text(written.replace(x_before, "sources:\n" + sources))

    def said(text: str, times: int = 1) -> bool:
        return log.read_text().count(text) >= times

    write_tweets(tmp_path, "p1", range(3))
    for folder, first in (("b", 100), ("c", 200)):
        (tmp_path / folder / "tweets").mkdir(parents=True)
        write_tweets(tmp_path / folder, "p1", range(first, first + 3))
    proc = pln_process(*ingest_args(config_path, settings), log=log)
    try:
        wait_for(lambda: said("✓ x: 3 items"), 30, "the first poll")
        config_path.write_text(written + "colour: blue\n")
        wait_for(lambda: said("was edited but cannot be used"), 30, "the broken edit said")

        edit(source_yaml("x", "tweets") + source_yaml("y", "b/tweets"))
        wait_for(lambda: said("ingesting 2 sources (added y)"), 30, "the added source")
        wait_for(lambda: said("✓ y: 3 items"), 30, "the added source polled")

        # Another folder under the same name: x starts afresh and reads all of it.
        edit(source_yaml("x", "c/tweets"))
        wait_for(lambda: said("(removed y; changed (read again) x)"), 30, "the edit")
        wait_for(lambda: said("✓ x: 3 items", 2), 30, "x read again")
        write_tweets(tmp_path / "b", "p2", range(110, 113))  # y is no longer polled
        time.sleep(3)
        write_tweets(tmp_path / "c", "p2", range(210, 212))
        wait_for(lambda: said("✓ x: 2 items"), 30, "x polled after y was removed")
    finally:
        kill(proc, signal.SIGTERM)
    assert "Traceback" not in log.read_text()
    items, _ = records(settings, expect=14 + 2)
    expected = [*range(3), *range(100, 103), *range(200, 203), *range(210, 212)]
    assert {i.id for i in items} == {tweet_item_id(n) for n in expected}


def test_a_source_edited_between_runs_does_not_go_on_from_its_old_cursor(
    tmp_path, kafka_topics, server
):
    """A Mastodon cursor holds the newest status id of the timeline read; asked of another
    timeline (`min_id`), a real server would answer only newer statuses: all older ones lost."""
    statuses = (Path(__file__).parent / "fixtures" / "mastodon" / "tag_newest.json").read_bytes()
    for tag in ("lrnchat", "edtech"):
        server.route(f"/api/v1/timelines/tag/{tag}", body=statuses)
    state_path = tmp_path / "state.json"

    def poll_with(tag: str) -> tuple[list[str], str]:
        """Poll the source on `tag` once: what the ingester said, and the query it sent."""
        timeline = f"'hashtag:#{tag}'"
        sources = f"sources:\n  - {{name: m, type: mastodon, instance: '{server.url('')}', "
        config = load_config(write_config(tmp_path, sources + f"timeline: {timeline}}}\n"))
        lines: list[str] = []
        ingester = Ingester(config, kafka_topics, state_path, say=lines.append)
        try:
            assert ingester.poll(ingester.sources[0]).ok
        finally:
            ingester.producer.close()
        return lines, server.requests_log[-1].path

    lines, first = poll_with("lrnchat")
    assert "min_id" not in first and not any("config changed" in line for line in lines)
    _, again = poll_with("lrnchat")
    assert "min_id=113500000000000105" in again  # unchanged: it goes on from its cursor
    lines, other = poll_with("edtech")
    assert "config changed, reading it again" in lines[0]
    assert other.startswith("/api/v1/timelines/tag/edtech") and "min_id" not in other


def test_a_feed_file_swapped_for_its_url_sends_its_items_under_their_ids(
    tmp_path, kafka_topics, server
):
    feed = Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml"  # has a guid "413"
    (tmp_path / "blog.xml").write_bytes(feed.read_bytes())
    server.route("/feed.xml", body=feed.read_bytes())
    state_path = tmp_path / "state.json"

    def poll_at(where: str) -> None:
        config = load_config(
            write_config(tmp_path, f"sources:\n  - {{name: b, type: rss, {where}}}\n")
        )
        ingester = Ingester(config, kafka_topics, state_path, say=lambda _: None)
        try:
            assert ingester.poll(ingester.sources[0]).items == 3
        finally:
            ingester.producer.close()

    poll_at("path: blog.xml")
    poll_at(f"url: '{server.url('/feed.xml')}'")  # an edit: read whole, the same feed
    items, _ = records(kafka_topics, expect=3 + 1 + 3 + 1)
    assert len(items) == 6 and len({i.id for i in items}) == 3
    assert "blog.xml#413" in {i.native_id for i in items}


def test_an_edit_back_to_the_first_config_and_a_shorter_interval_apply_at_once(
    tmp_path, kafka_topics
):
    config_path = write_config(tmp_path, interval=3600)
    written = config_path.read_text()
    write_tweets(tmp_path, "p1", range(2))
    config = load_config(config_path)
    lines: list[str] = []
    watch = ConfigWatch(config, say=lines.append, every=0)
    ingester = Ingester(config, kafka_topics, tmp_path / "state.json", lines.append, watch)
    try:
        ingester.poll(ingester.sources[0])
        assert ingester.state.of("x").next_poll_at > time.time() + 3000

        def edit_and_follow(text: str) -> None:
            config_path.write_text(text)
            os.utime(config_path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new stamp
            edited = watch.changed()
            assert edited is not None, text
            ingester._follow(edited)

        edit_and_follow(written.replace("interval: 3600", "interval: 60"))
        assert ingester.state.of("x").next_poll_at < time.time() + 61
        edit_and_follow(written)  # back to the config the watch started with
        assert ingester.sources[0].interval == 3600
    finally:
        ingester.producer.close()
    assert lines[-1].endswith("was edited: ingesting 1 source")


def test_a_slow_source_never_holds_up_the_others(tmp_path, kafka_topics, server):
    """Sources are fetched at once: while a server takes 60 s to answer, a folder source polled
    every second keeps delivering, and the slow one is given up at `fetch.source_deadline`."""
    server.route("/feed.xml", body=b"<rss/>", delay=60)
    slow = f"  - {{name: slow, type: rss, url: '{server.url('/feed.xml')}', interval: 1.0}}\n"
    path = write_config(tmp_path, "sources:\n" + source_yaml("x", "tweets") + slow)
    path.write_text(path.read_text() + "fetch: {source_deadline: 3}\n")
    write_tweets(tmp_path, "p1", range(3))
    later = threading.Timer(1.5, write_tweets, (tmp_path, "p2", range(3, 5)))
    lines: list[str] = []
    ingester = Ingester(load_config(path), kafka_topics, tmp_path / "state.json", lines.append)
    later.start()
    started = time.monotonic()
    ingester.run(stop_after=5)
    assert time.monotonic() - started < 8
    assert lines[1:3] == ["✓ x: 3 items", "✓ x: 2 items"]
    polls = ingester.sent["polls"]
    assert polls >= 4 and re.fullmatch(
        rf"ingest stopped after [5-7] s: {polls} polls \(1 failed\) sent 5 items and 0 dead "
        rf"letters to {kafka_topics.raw_topic}",
        lines[-1],
    ), lines[-1]
    items, statuses = records(kafka_topics, expect=5 + 2)
    assert {i.id for i in items} == {tweet_item_id(n) for n in range(5)}
    [gave_up] = [s for s in statuses if s.source == "slow"]
    assert gave_up.error == "source 'slow': gave up after 3 s (fetch.source_deadline)"
    assert IngestState.load(tmp_path / "state.json").of("slow").errors == 1
