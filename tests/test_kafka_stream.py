"""`pln stream` against a real broker: end to end, crash and restart, broker outages."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest_kafka import (
    consume_all,
    kill,
    produce_items,
    stream_holding,
    stream_process,
    stream_workspace,
    tweet_item_id,
    tweet_items,
    wait_for,
    with_bootstrap,
)
from helpers import child_pids, cmdline, db_rows, is_running, row_count
from kafka_broker import KafkaBroker, broker_binary, free_port

from pln import payload
from pln.pipelines.heartbeat import heartbeat_path
from pln.pipelines.kafka_io import ReliableProducer
from pln.record import DeadLetter, SourceStatus
from pln.sinks.store import Store

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------- payload


def test_payload_round_trips_every_record_kind():
    item = tweet_items([1])[0].replaced(hashtags=("lrnchat",), published_at=None)
    dead = DeadLetter(source="x", ref="file:3", reason="bad JSON", raw="{")
    status = SourceStatus(source="x", type="twitter_v2", ok=True, items=3, cursor={"a": 1})
    assert payload.decode(payload.encode_item(item)) == item
    assert payload.decode(payload.encode_dead_letter(dead)) == dead
    assert payload.decode(payload.encode_status(status)) == status


@pytest.mark.parametrize(
    "raw, message",
    [
        (b'{"v": 2, "item": {}}', "unknown payload version 2"),
        (b'{"item": {}}', "unknown payload version None"),
        (b"not json", "payload is not JSON"),
        (b'{"v": 1, "item": {"id": "x"}}', "does not match the record"),
    ],
)
def test_payload_rejects_what_it_cannot_read(raw, message):
    with pytest.raises(payload.PayloadError, match=message):
        payload.decode(raw)


# ----------------------------------------------------------------------------- end to end


def test_stream_curates_into_duckdb_feeds_and_curated_topic(tmp_path, kafka_topics):
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, log=log)
    try:
        produce_items(settings, tweet_items(range(40)))
        ReliableProducer(settings, say=print).send_all(settings.raw_topic, [(b"bad", b"{oops")])
        wait_for(lambda: row_count(db) == 40, 60, "40 items in DuckDB")
        kept = row_count(db, "SELECT count(*) FROM decisions WHERE kept")
        assert kept == 20  # the even-numbered tweets mention spaced repetition
        dead = db_rows(db, "SELECT ref, reason FROM dead_letters")
        assert [
            (ref.split("@")[0].split("/")[0], "not JSON" in reason) for ref, reason in dead
        ] == [(settings.raw_topic, True)]
        rss = config.outputs.feeds_dir / "spaced.rss.xml"
        wait_for(lambda: rss.exists() and rss.read_text().count("<item>") == 20, 10, "feed")

        curated = consume_all(settings, settings.curated_topic, expect=20)
        items = {payload.decode_curated(m.value)[0].id for m in curated}
        assert items == {r[0] for r in db_rows(db, "SELECT item_id FROM decisions WHERE kept")}

        # An item arriving later shows up in the feed while the stream runs, without a restart
        # (how soon is measured by bench/bench_stream.py, not asserted here).
        produce_items(settings, tweet_items([100]))
        wait_for(lambda: rss.read_text().count("<item>") == 21, 30, "feed refresh")
    finally:
        kill(proc, signal.SIGTERM)
    assert proc.returncode == 0, log.read_text()


def test_feedback_journaled_while_the_stream_holds_the_store_reaches_the_labels(
    tmp_path, kafka_topics
):
    """`pln serve` cannot open a database a stream holds, so it journals a click; the stream
    stores it, and `pln train` (which reads the stream's snapshot) sees it within seconds.
    (The stream's snapshot copies once unlocked the database: the server then wrote the label
    itself, and the stream's next checkpoint lost it.)"""
    from pln.sinks.label_journal import journal_label, journal_path
    from pln.sinks.snapshot import snapshot_path
    from pln.sinks.store import Label
    from pln.web.journal import LabelRecorder

    with stream_holding(tmp_path, kafka_topics, items=4) as (config, db, log):
        item = tweet_items([0])[0].id
        now = datetime.now(UTC)
        wait_for(snapshot_path(db).exists, 30, "the stream's first snapshot")
        # What `pln serve` does with a click (no server runs here): the store is busy.
        recorder = LabelRecorder(db, wait=0.5)
        assert recorder.record(Label(item, "spaced", 1, now, "feed")) == (False, "")
        journal_label(journal_path(db), Label("0" * 16, "spaced", -1, now, "feed"))  # not stored
        labels = "SELECT item_id, topic, label, origin FROM labels"
        # The stream may take the two journaled labels in one look or in two (2 s apart).
        taken = lambda: journal_path(db).stat().st_size == 0 and db_rows(db, labels)  # noqa: E731
        wait_for(taken, 30, "the journal emptied and the label in the snapshot")
        assert db_rows(db, labels) == [(item, "spaced", 1, "feed")]
    said = log.read_text()
    stored = re.findall(r"feedback: (\d+) labels? from the journal stored", said)
    assert sum(map(int, stored)) == 2, said
    assert f"feedback for {'0' * 16} dropped: the item is no longer stored" in said


def test_labels_then_pln_train_while_the_stream_runs_rescore_with_the_new_model(
    tmp_path, kafka_topics
):
    """The learning loop with a stream left running: clicks reach the labels, `pln train`
    saves a model, and the stream starts again with it and rescores what it stored."""
    from pln.sinks.label_journal import journal_label, journal_path
    from pln.sinks.store import Label

    with stream_holding(tmp_path, kafka_topics, items=20) as (config, db, log):
        now = datetime.now(UTC)
        for n in range(12):  # the even tweets are about spaced repetition
            label = Label(tweet_item_id(n), "spaced", 1 if n % 2 == 0 else -1, now, "feed")
            journal_label(journal_path(db), label)
        wait_for(lambda: row_count(db, "SELECT count(*) FROM labels") == 12, 30, "the labels")
        trained = subprocess.run(
            [sys.executable, "-m", "pln.cli", "train", "-c", str(config.path)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert trained.returncode == 0, trained.stderr
        wait_for(lambda: "rescored 20 items" in log.read_text(), 60, "the rescore")
        # (Cross-validation keeps the rules for this topic: its phrases already decide right.)
        scored = "SELECT value FROM pln_meta WHERE key = 'scored_with'"
        wait_for(lambda: '"model": 1' in db_rows(db, scored)[0][0], 30, "scored with v1")
    said = log.read_text()
    assert "feedback: 12 labels from the journal stored" in said
    assert "a newly trained model: the stream starts again with it" in said, said


@pytest.mark.parametrize("engine", ["local", "beam"])
def test_a_stream_starts_again_with_an_edited_config_and_ignores_a_broken_one(
    tmp_path, kafka_topics, engine
):
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, "--engine", engine, log=log)
    lunch = "SELECT count(*) FROM decisions WHERE topic = 'lunch' AND kept"
    try:
        produce_items(settings, tweet_items(range(10)))
        wait_for(lambda: row_count(db) == 10, 60, "10 items")
        written = config.path.read_text()

        # An edit that is no valid config is said in one line; the stream goes on as it was.
        config.path.write_text(written + "colour: blue\n")
        wait_for(lambda: "was edited but cannot be used" in log.read_text(), 30, "the line")
        assert "colour: unknown key" in log.read_text()
        produce_items(settings, tweet_items(range(10, 20)))
        wait_for(lambda: row_count(db) == 20, 60, "10 more items")

        # A topic added while it runs: the stream starts again with it, and loses nothing;
        # meanwhile its heartbeat says "restarting" or "rescoring", never "stopped" (`pln
        # health` stays ok).
        states, watching = set(), threading.Event()
        watching.set()

        def watch_heartbeat():
            while watching.is_set():
                with contextlib.suppress(OSError, ValueError):
                    states.add(json.loads(heartbeat_path(db).read_text()).get("state"))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch_heartbeat, daemon=True)
        watcher.start()
        config.path.write_text(
            written.replace("topics:\n", "topics:\n  - {id: lunch, phrases: [coffee machine]}\n")
        )
        wait_for(lambda: "was edited: the stream starts again" in log.read_text(), 30, "restart")
        produce_items(settings, tweet_items(range(20, 30)))
        wait_for(lambda: row_count(db) == 30, 60, "the items after the edit")
        watching.clear()
        watcher.join()
        assert "rescoring" in states and "stopped" not in states, states
        # The 20 stored before the edit were rescored with the new topic before it went on.
        wait_for(lambda: row_count(db, lunch) == 15, 30, "the odd ones kept for lunch")
        assert row_count(db, "SELECT count(*) FROM decisions WHERE topic = 'spaced' AND kept") == 15

        # An edit that changes only what the feeds show reaches them with no item arriving.
        retitled = config.path.read_text().replace("outputs:\n", "outputs:\n  title: Team PLN\n")
        config.path.write_text(retitled)
        rss = config.outputs.feeds_dir / "spaced.rss.xml"
        wait_for(lambda: "<title>Team PLN: " in rss.read_text(), 30, "the new title")
    finally:
        kill(proc, signal.SIGTERM)
    said = log.read_text()
    assert proc.returncode == 0, said
    assert "rescored 20 items" in said and "lunch: 10 kept (+10 -0)" in said, said
    assert said.count("rescored") == 1  # only for the edit: not at the first start
    assert row_count(db, "SELECT sum(next_offset) FROM stream_offsets") == 30  # each once


def test_stream_killed_mid_flow_resumes_without_loss_or_repeats(tmp_path, kafka_topics):
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    total = 3000
    proc = stream_process(config.path, settings, log=log)

    def steady_flow():  # 150 items every 0.1 s, so the kill lands mid-stream
        for start in range(150, total, 150):
            produce_items(settings, tweet_items(range(start, start + 150)))
            time.sleep(0.1)

    flow = threading.Thread(target=steady_flow)
    try:
        produce_items(settings, tweet_items(range(150)))
        wait_for(lambda: row_count(db) > 0, 60, "the stream to start", every=0.05)
        flow.start()
        wait_for(lambda: row_count(db) > 150, 60, "the stream part-way", every=0.05)
        workers = child_pids(proc.pid)
        kill(proc)  # SIGKILL: no chance to clean up
        written_before = row_count(db)
        # Its curate workers notice and exit, though nobody reads their queue any more.
        wait_for(lambda: not any(map(is_running, workers)), 30, "the orphaned workers to exit")
        proc = stream_process(config.path, settings, log=log)
        wait_for(lambda: row_count(db) == total, 90, f"all {total} items after the restart")
        time.sleep(1.5)  # nothing more may arrive, and the feed catches up
    finally:
        if flow.is_alive():
            flow.join()
        kill(proc, signal.SIGTERM)
    assert written_before < total
    # Exactly once: every message was consumed once (offsets), no row or decision repeats.
    assert row_count(db, "SELECT sum(next_offset) FROM stream_offsets") == total
    assert row_count(db, "SELECT count(DISTINCT id) FROM items") == total
    assert row_count(db, "SELECT count(*) FROM decisions WHERE kept") == total // 2
    rss = (config.outputs.feeds_dir / "spaced.rss.xml").read_text()
    guids = [line for line in rss.splitlines() if "<guid" in line]
    assert len(guids) == len(set(guids)) > 0
    # The curated topic is at-least-once: every kept item is there (repeats allowed).
    curated = consume_all(settings, settings.curated_topic, expect=total // 2)
    assert len({m.key for m in curated}) == total // 2


def restart_writes_every_item_once(config, settings, db, log, total: int) -> None:
    """A restart of the stream that stopped part-way writes all `total` items, each once."""
    proc = stream_process(config.path, settings, log=log)
    try:
        wait_for(lambda: row_count(db) == total, 90, f"all {total} items after the restart")
    finally:
        kill(proc, signal.SIGTERM)
    assert row_count(db, "SELECT sum(next_offset) FROM stream_offsets") == total
    assert row_count(db, "SELECT count(DISTINCT id) FROM items") == total


def test_a_worker_killed_in_the_middle_of_a_message_stops_the_stream_and_loses_nothing(
    tmp_path, kafka_topics
):
    """The curate worker sends its polls (Arrow tables) through a pipe. With the loader
    stopped (SIGSTOP), the pipe fills and the worker stops part-way through a poll; then it is
    SIGKILLed. Let go, the loader used to wait forever for the rest of that poll: a stream
    that looked alive and wrote nothing. It must stop with an error, so whatever watches it
    restarts it, and the restart must write every item exactly once."""
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    total = 3000
    proc = stream_process(config.path, settings, "--workers", "1", log=log)
    try:
        produce_items(settings, tweet_items(range(150)))
        wait_for(lambda: row_count(db) > 0, 60, "the stream to start", every=0.05)
        (worker,) = [pid for pid in child_pids(proc.pid) if "spawn_main" in cmdline(pid)]
        os.kill(proc.pid, signal.SIGSTOP)
        produce_items(settings, tweet_items(range(150, total)))
        time.sleep(3)  # the worker curates, fills the pipe and stops part-way through a poll
        os.kill(worker, signal.SIGKILL)
        os.kill(proc.pid, signal.SIGCONT)
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("the stream hung after its worker was killed") from None
    finally:
        kill(proc)
    assert code == 1, log.read_text()[-2000:]
    assert "curate worker 0 exited unexpectedly (code -9)" in log.read_text()
    assert row_count(db) < total

    restart_writes_every_item_once(config, settings, db, log, total)


def test_a_full_disk_stops_the_stream_with_one_line_and_the_restart_loses_nothing(
    tmp_path, kafka_topics
):
    """A file size limit stands in for a full disk: DuckDB's writes (a commit, or the
    checkpoint before a read snapshot) fail part-way through the flow. The stream must stop,
    so whatever watches it restarts it, without storing offsets it did not store items for."""
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    total = 3000

    def files_of_at_most_400_kb():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

    proc = stream_process(config.path, settings, log=log, preexec_fn=files_of_at_most_400_kb)
    try:
        produce_items(settings, tweet_items(range(150)))
        wait_for(lambda: row_count(db) > 0, 60, "the stream to start", every=0.05)
        produce_items(settings, tweet_items(range(150, total)))
        code = proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        raise AssertionError("the stream kept running on a full disk") from None
    finally:
        kill(proc)
    said = log.read_text()
    assert code == 1, said[-2000:]
    assert "Traceback" not in said
    assert f"pln: error: database {db}: cannot write: " in said
    assert said.count("read snapshot not published") <= 1  # said once, not at every try
    assert not list(db.parent.glob(".*.tmp*"))  # no partial snapshot left to fill the disk
    assert 0 < row_count(db) < total

    restart_writes_every_item_once(config, settings, db, log, total)


class _Unreadable:
    """Pickles, but cannot be unpickled (as a message from a worker of another version)."""

    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise RuntimeError("cannot read this message")


def test_a_stream_with_keep_days_forgets_and_a_replay_does_not_bring_items_back(
    tmp_path, kafka_topics
):
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    with config.path.open("a") as out:
        out.write("  keep_days: 30\n")
    proc = stream_process(config.path, settings, "--until-idle", "3", log=log)
    produce_items(settings, tweet_items(range(40)))
    proc.wait(timeout=120)
    assert row_count(db) == 40, log.read_text()
    odd = [tweet_item_id(n) for n in range(1, 20, 2)]  # not kept, so no feed shows them
    with Store(db) as store:  # 40 days without them, and the last forgetting 2 days ago
        store.con.execute(
            "UPDATE items SET last_seen_at = last_seen_at - to_days(40) "
            "WHERE id IN (SELECT unnest($ids))",
            {"ids": [tweet_item_id(n) for n in range(20)]},
        )
        store.con.execute(
            "UPDATE pln_meta SET value = ? WHERE key = 'forgotten_at'",
            [(datetime.now(UTC) - timedelta(days=2)).isoformat()],
        )

    proc = stream_process(config.path, settings, log=log)
    try:
        wait_for(lambda: "stream: forgot 10 items" in log.read_text(), 60, "the forgetting")
        produce_items(settings, tweet_items(range(60)))  # the old ones again, and 20 new
        wait_for(lambda: row_count(db) == 50, 60, "20 new items")
        time.sleep(3)  # the replayed old ones had time to come back, and did not
        assert row_count(db) == 50
        assert db_rows(db, f"SELECT count(*) FROM items WHERE id IN {tuple(odd)}") == [(0,)]
        kept = row_count(db, "SELECT count(*) FROM decisions WHERE kept")
        assert kept == 30  # the 20 even ones of the first 40 stayed: the feed shows them
        refused = compact(config.path)
        assert refused.returncode == 75 and "stop it (or let it finish)" in refused.stderr
        assert f"pln stream (pid {proc.pid}) is writing {db}" in refused.stderr
    finally:
        kill(proc, signal.SIGTERM)
    assert proc.returncode == 0, log.read_text()
    assert "(10 whole stories); kept 10 shown in feeds" in log.read_text()

    # Compacted between two runs of the stream: the tombstones and the offsets come along.
    offsets = row_count(db, "SELECT sum(next_offset) FROM stream_offsets")
    compacted = compact(config.path)
    assert compacted.returncode == 0 and compacted.stdout.startswith("compacted "), compacted.stderr
    proc = stream_process(config.path, settings, "--until-idle", "3", log=log)
    produce_items(settings, tweet_items(range(70)))  # the forgotten ones again, and 10 new
    proc.wait(timeout=120)
    assert row_count(db) == 60, log.read_text()
    assert db_rows(db, f"SELECT count(*) FROM items WHERE id IN {tuple(odd)}") == [(0,)]
    assert row_count(db, "SELECT sum(next_offset) FROM stream_offsets") == offsets + 70


def compact(config_path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pln.cli", "compact", "-c", str(config_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_loader_raises_a_message_it_cannot_read_instead_of_stalling():
    """The loader reads its workers' results in a thread (`Inbox`). A message that cannot
    be read must reach the loader's own loop as the error it is, not end that thread quietly
    and leave a stream that takes nothing more."""
    import multiprocessing as mp
    import queue

    from pln.pipelines.local_stream import Inbox

    results = mp.get_context("spawn").Queue()
    inbox = Inbox(results)
    results.put("first")
    results.put(_Unreadable())
    assert inbox.get(5.0) == "first"
    with pytest.raises(RuntimeError, match="cannot read this message"):
        inbox.get(5.0)
    with pytest.raises(queue.Empty):
        inbox.get(0.2)


def test_polls_without_items_are_committed_together_and_polls_with_items_at_once():
    """Most of a stream's life is feeds answering 304: polls that carry a source status and no
    item. Committed one by one they cost a stream a third of a core (40 feeds polled every
    5 s, bench/bench_left_running.py --calm); they now wait up to STATUS_LINGER for company,
    while a poll with items is committed within COMMIT_LINGER of its arrival."""
    import multiprocessing as mp
    import threading

    from pln.pipelines.local_stream import STATUS_LINGER, Inbox
    from pln.pipelines.stream_writer import PollTables
    from pln.pipelines.tables import CuratedTables
    from pln.record import SourceStatus

    results = mp.get_context("spawn").Queue()
    inbox = Inbox(results)

    def status() -> PollTables:
        return PollTables(CuratedTables.of([], []), statuses=[SourceStatus("b", "rss", True)])

    def arriving(*timed: tuple[float, PollTables]) -> tuple[list[PollTables], float]:
        """What one gather returns while the polls arrive at the given seconds, and when."""

        def send():
            started = time.monotonic()
            for at, poll in timed:
                time.sleep(max(0.0, started + at - time.monotonic()))
                results.put(poll)

        sender = threading.Thread(target=send)
        sender.start()
        started = time.monotonic()
        polls, failed = inbox.gather(first_wait=0.5, health={})
        took = time.monotonic() - started
        sender.join()
        assert failed is None
        return polls, took

    spread = STATUS_LINGER * 0.3
    polls, _ = arriving((0, status()), (spread, status()), (2 * spread, status()))
    assert len(polls) == 3
    items = PollTables(CuratedTables.of(tweet_items([0]), []))
    # The late status comes well after the gather should end (0.1 + COMMIT_LINGER) and before
    # the first status's linger would: a loaded machine has most of a second of slack.
    late = 0.1 + 0.8 * STATUS_LINGER
    polls, took = arriving((0, status()), (0.1, items), (late, status()))
    assert [len(p.tables.items) for p in polls] == [0, 1]
    assert took < 0.1 + STATUS_LINGER / 2
    assert len(inbox.gather(first_wait=STATUS_LINGER, health={})[0]) == 1  # the late status


def test_stream_waits_for_a_broker_that_is_not_there_yet(tmp_path, kafka_topics):
    port = free_port()
    settings = with_bootstrap(kafka_topics, f"127.0.0.1:{port}")
    config, _, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, log=log)
    try:
        wait_for(lambda: "retrying" in log.read_text(), 30, "a retry message")
        with KafkaBroker(broker_binary(), port=port):
            produce_items(settings, tweet_items(range(10)))
            wait_for(
                lambda: row_count(config.outputs.duckdb) == 10, 60, "items after the broker came"
            )
    finally:
        kill(proc, signal.SIGTERM)
    text = log.read_text()
    assert f"kafka 127.0.0.1:{port}" in text and "Traceback" not in text


def test_stream_rides_out_a_broker_pause(tmp_path, kafka_broker, kafka_topics):
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, log=log)
    try:
        produce_items(settings, tweet_items(range(20)))
        wait_for(lambda: row_count(db) == 20, 60, "the first items")
        kafka_broker.process.send_signal(signal.SIGSTOP)  # unresponsive, as in a network split
        time.sleep(3)
        kafka_broker.process.send_signal(signal.SIGCONT)
        produce_items(settings, tweet_items(range(20, 40)))
        wait_for(lambda: row_count(db) == 40, 60, "the items sent after the pause")
    finally:
        if kafka_broker.process:
            kafka_broker.process.send_signal(signal.SIGCONT)
        kill(proc, signal.SIGTERM)
    assert "Traceback" not in log.read_text()


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_closing_a_producer_whose_broker_is_gone_warns_instead_of_raising(kafka_topics):
    """A stop (Ctrl-C, SIGTERM) while the broker is away must not end in a traceback: close()
    flushes first, and kafka-python raises when that flush times out, then again from
    `__del__` ("Exception ignored in ...") when the producer is garbage-collected."""
    said: list[str] = []
    port = free_port()
    settings = with_bootstrap(kafka_topics, f"127.0.0.1:{port}")
    producer = ReliableProducer(settings, say=said.append)
    with KafkaBroker(broker_binary(), port=port):
        producer.send_all(settings.raw_topic, [(b"k1", b"acknowledged")])
    producer._producer.send(settings.raw_topic, key=b"k2", value=b"never acknowledged")
    started = time.monotonic()
    producer.close()
    assert time.monotonic() - started < 15
    assert said and "closed with messages not acknowledged" in said[-1]
    assert "sent again on the next start" in said[-1]
    producer.close()  # a second close is a no-op
    threads = {t.name for t in threading.enumerate()}
    assert not [name for name in threads if "kafka" in name.lower()]
    gc.collect()  # the closed KafkaProducer's __del__ runs here
