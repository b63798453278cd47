"""The event-driven mode as a service: the offset ledger, telling broker problems apart,
recreated topics, a broker that stays away, readers during a stream, health, and engines that
decide alike."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import duckdb
import pytest
from conftest_kafka import (
    REPO,
    kill,
    produce_items,
    stream_process,
    stream_workspace,
    tweet_items,
    wait_for,
    with_bootstrap,
    write_config,
    write_tweets,
)
from helpers import db_rows, row_count
from kafka_broker import KafkaBroker, broker_binary, free_port

from pln.config import load_config
from pln.pipelines.kafka_io import probe_broker
from pln.record import Item
from pln.sinks.snapshot import snapshot_path
from pln.sinks.store import decisions_table, items_table
from pln.sinks.stream_store import OffsetLedger, OffsetRange, ResumePoints, StreamStore

P = ("raw", 0)


# ------------------------------------------------------------------------- offset ledger


def test_ledger_resumes_after_the_last_poll_with_no_gap_before_it_in_any_commit_order():
    polls = [OffsetRange(0, 10, fresh=True), OffsetRange(10, 25), OffsetRange(25, 30, False, "k")]
    for order in itertools.permutations(polls):
        ledger = OffsetLedger()
        for rng in order:
            ledger.add(P, rng)
        assert ledger.resume_at("raw") == {P: 30}
        assert ledger.keys("raw") == {P: "k"}
        assert not ledger.waiting

    ledger = OffsetLedger()
    ledger.add(P, OffsetRange(0, 10, fresh=True))
    ledger.add(P, OffsetRange(20, 30))  # committed before the poll in between
    assert ledger.resume_at("raw") == {P: 10}  # a restart re-reads 10..30: nothing is lost
    ledger.add(P, OffsetRange(10, 20))
    assert ledger.resume_at("raw") == {P: 30}


def test_ledger_starts_over_after_a_reset_and_forgets_the_old_log():
    ledger = OffsetLedger({P: (500, "old")}, {P: [(600, 700, "older", 1)]})
    ledger.add(P, OffsetRange(5, 9, last_key="b", epoch=2))  # committed before the reset's
    ledger.add(P, OffsetRange(0, 5, fresh=True, last_key="new", epoch=2))
    assert ledger.resume_at("raw") == {P: 9}
    assert ledger.keys("raw") == {P: "b"}
    assert not ledger.waiting  # the old log's parked range is gone


def test_ledger_is_stored_with_the_rows_and_read_back(tmp_path):
    db = tmp_path / "pln.duckdb"
    item = Item.create(source="x", platform="twitter", native_id="1", kind="post", text="hi")
    with StreamStore(db) as store:
        store.commit_tables(
            items_table([item]),
            decisions_table([]),
            [],
            [],
            [(P, OffsetRange(0, 10, True, "a")), (P, OffsetRange(20, 30, False, "c"))],
            "run",
            {},
        )
    with StreamStore(db) as store:
        assert store.offsets("raw") == {P: 10}
        assert store.resume_points("raw").keys == {P: "a"}
        store.commit_tables(
            items_table([]), decisions_table([]), [], [], [(P, OffsetRange(10, 20))], "run", {}
        )
    with StreamStore(db) as store:
        assert store.offsets("raw") == {P: 30}
        assert store.resume_points("raw").keys == {P: "c"}
    assert db_rows(db, "SELECT count(*) FROM items") == [(1,)]


# ------------------------------------------------------------------- broker problems


def _server(reply: bytes | None):
    """A TCP server on 127.0.0.1 that answers every connection with `reply` (None: silence)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(1024)
            if reply is not None:
                conn.sendall(reply)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_broker_problems_are_told_apart(kafka_broker):
    assert probe_broker(kafka_broker.bootstrap) is None
    assert "cannot resolve broker host 'no-such-host.invalid'" in probe_broker(
        "no-such-host.invalid:9092"
    )
    refused = f"127.0.0.1:{free_port()}"
    assert f"connection refused by {refused}" in probe_broker(refused)
    http = _server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    silent = _server(None)
    try:
        http_at = f"127.0.0.1:{http.getsockname()[1]}"
        assert probe_broker(http_at) == f"{http_at} answers, but not as a Kafka broker"
        silent_at = f"127.0.0.1:{silent.getsockname()[1]}"
        assert "no Kafka answer from" in probe_broker(silent_at, timeout=0.5)
    finally:
        http.close()
        silent.close()


# ------------------------------------------------------------------------ with a broker


@pytest.fixture
def own_broker(tmp_path):
    """A broker of this test's own, which it may restart (a restart empties it)."""
    broker = KafkaBroker(broker_binary(), log_dir=tmp_path).start()
    yield broker
    broker.stop()


@pytest.fixture
def own_topics(kafka_topics, own_broker):
    """The test's topics on its own broker."""
    return with_bootstrap(kafka_topics, own_broker.bootstrap)


@pytest.mark.slow
def test_restart_against_a_recreated_topic_reads_it_all_and_says_so(
    tmp_path, own_topics, own_broker
):
    settings = own_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, "--until-idle", "2", log=log)
    produce_items(settings, tweet_items(range(60)))
    proc.wait(timeout=120)
    assert row_count(db) == 60
    # The broker loses its topics; the recreated topic grows past the stored offsets before
    # the stream comes back, so offsets alone cannot tell (this lost 3,935 of 6,500 items).
    own_broker.stop()
    own_broker.start()
    produce_items(settings, tweet_items(range(1000, 1200)))
    proc = stream_process(config.path, settings, "--until-idle", "2", log=log)
    assert proc.wait(timeout=120) == 0, log.read_text()
    assert row_count(db) == 260
    text = log.read_text()
    assert f"OFFSETS OUT OF RANGE: {settings.raw_topic} partition" in text
    assert "resuming from the earliest offset" in text and "Traceback" not in text


@pytest.mark.slow
def test_a_running_stream_rides_out_a_broker_restart(tmp_path, own_topics, own_broker):
    settings = own_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, "--give-up-after", "60", log=log)
    try:
        produce_items(settings, tweet_items(range(40)))
        wait_for(lambda: row_count(db) == 40, 90, "the first items")
        own_broker.stop()
        time.sleep(1)
        own_broker.start()
        produce_items(settings, tweet_items(range(500, 508)))  # fewer than were read per partition
        wait_for(lambda: row_count(db) == 48, 90, "the items sent after the restart")
        assert proc.poll() is None
    finally:
        kill(proc, signal.SIGTERM)
    text = log.read_text()
    assert "OFFSETS OUT OF RANGE" in text and "Traceback" not in text


@pytest.mark.slow
def test_a_stream_without_its_broker_exits_non_zero_in_bounded_time(
    tmp_path, own_topics, own_broker
):
    settings = own_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, "--give-up-after", "4", log=log)
    produce_items(settings, tweet_items(range(10)))
    wait_for(lambda: row_count(db) == 10, 90, "the first items")
    own_broker.stop()
    code = proc.wait(timeout=90)  # bounded: it gives up rather than waiting for ever
    text = log.read_text()
    assert code == 1, text
    assert f"connection refused by {own_broker.bootstrap}" in text
    assert "gave up after 4 s" in text and "Traceback" not in text
    # It stopped cleanly: the run is closed and the heartbeat says so.
    assert db_rows(db, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL") == [(1,)]


@pytest.mark.slow
def test_plain_duckdb_clients_read_the_snapshot_while_the_stream_writes(tmp_path, kafka_topics):
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, log=log)
    sent = 0
    try:
        produce_items(settings, tweet_items(range(20)))
        snapshot = snapshot_path(db)
        wait_for(snapshot.exists, 90, "the first snapshot")
        ok, failures = 0, []
        for batch in range(20):  # ~50 items/s for about 4 s, a plain reader all along
            produce_items(settings, tweet_items(range(100 + 10 * batch, 110 + 10 * batch)))
            for _ in range(3):
                try:
                    with duckdb.connect(str(snapshot), read_only=True) as con:
                        con.execute("SELECT count(*) FROM curated_items").fetchone()
                    ok += 1
                except duckdb.Error as exc:
                    failures.append(str(exc))
                time.sleep(0.06)
        sent = 220
        assert failures == [] and ok == 60

        def snapshot_has_all() -> bool:
            with duckdb.connect(str(snapshot), read_only=True) as con:
                return con.execute("SELECT count(*) FROM items").fetchone()[0] == sent

        wait_for(snapshot_has_all, 30, "the snapshot to catch up")
        # pln sql reads the snapshot too while the stream holds the database.
        out = subprocess.run(
            [sys.executable, "-m", "pln.cli", "sql", "-c", str(config.path), "--format", "csv"]
            + ["SELECT count(*) FROM items"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == str(sent)
    finally:
        kill(proc, signal.SIGTERM)


def _health(config, max_age: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pln.cli", "health", "-c", str(config), "--max-age", str(max_age)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


@pytest.mark.slow
def test_health_tells_a_live_stream_from_a_stuck_or_stopped_one(tmp_path, kafka_topics):
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, log=log)
    try:
        produce_items(settings, tweet_items(range(10)))
        wait_for(lambda: row_count(db) == 10, 90, "the first items")
        # The heartbeat is rewritten about once a second, so it may trail the snapshot a little.
        alive = wait_for(
            lambda: (r := _health(config.path, 5)).stdout.startswith("stream ok: 10 items") and r,
            30,
            "the heartbeat to count the items",
        )
        assert alive.returncode == 0 and alive.stdout.startswith("stream ok: 10 items written")
        proc.send_signal(signal.SIGSTOP)  # stuck: the process is there but does nothing
        time.sleep(4)
        stuck = _health(config.path, 3)
        assert stuck.returncode == 1 and "heartbeat is" in stuck.stderr
        proc.send_signal(signal.SIGCONT)
    finally:
        proc.send_signal(signal.SIGCONT)
        kill(proc, signal.SIGTERM)
    stopped = _health(config.path, 3)
    assert stopped.returncode == 1 and "the stream stopped" in stopped.stderr
    assert db_rows(db, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL") == [(1,)]


@pytest.mark.slow
def test_batch_local_stream_and_beam_stream_decide_alike(tmp_path, kafka_topics):
    from pln.pipelines.batch import run_batch
    from pln.pipelines.beam_stream import build_beam_stream
    from pln.pipelines.runner import run_to_completion
    from pln.pipelines.stream import make_stream_pipeline
    from pln.sources.registry import fetch_once

    settings = kafka_topics
    configs = {}
    for name in ("batch", "local", "beam"):
        folder = tmp_path / name
        configs[name] = load_config(write_config(folder))
        write_tweets(folder, "relevant", range(0, 40), relevant=True)
        write_tweets(folder, "other", range(40, 70), relevant=False)
    run_batch(configs["batch"])
    result, _ = fetch_once(configs["local"].sources[0], None)
    assert len(result.items) == 70
    produce_items(settings, result.items)

    local = stream_process(
        configs["local"].path,
        settings,
        "--workers",
        "2",
        "--until-idle",
        "2",
        log=tmp_path / "local.log",
    )
    assert local.wait(timeout=180) == 0

    # The Beam pipeline with its steps kept apart (a Reshuffle between each) in two worker
    # processes: nothing may pass from step to step but the elements themselves.
    beam_db = configs["beam"].outputs.duckdb
    with StreamStore(beam_db) as store:
        store.begin_run("beam-run", "test")
    pipeline = make_stream_pipeline((), workers=2)
    build_beam_stream(
        pipeline,
        configs["beam"],
        settings,
        ResumePoints(),
        "beam-run",
        stop_after=120,
        spread=True,
        until_idle=3,
    )
    run_to_completion(pipeline)

    query = "SELECT item_id, topic, score, kept, reason FROM decisions ORDER BY ALL"
    batch = db_rows(configs["batch"].outputs.duckdb, query)
    assert len([d for d in batch if d[3]]) == 40
    assert db_rows(configs["local"].outputs.duckdb, query) == batch
    assert db_rows(beam_db, query) == batch
    ids = "SELECT id FROM items ORDER BY id"
    assert db_rows(beam_db, ids) == db_rows(configs["batch"].outputs.duckdb, ids)


@pytest.mark.parametrize("engine", ["local", "beam"])
def test_a_stream_started_again_in_its_process_leaves_no_thread_or_pipe_behind(
    tmp_path, kafka_topics, engine
):
    """`pln stream` starts the stream again in its own process after every config edit and
    every newly trained model. Each start used to leave its inbox thread and the results
    pipe behind: a stream left running for months grows by both with each edit."""
    from pln.pipelines.stream import run_stream

    config = load_config(write_config(tmp_path))
    produce_items(kafka_topics, tweet_items(range(4)))

    def threads_and_pipes() -> tuple[int, int]:
        # (Other tests' threads may still be ending, and their files closing: count ours.)
        inboxes = sum(t.name == "pln-stream-inbox" for t in threading.enumerate())
        fds = [os.path.join("/proc/self/fd", fd) for fd in os.listdir("/proc/self/fd")]
        pipes = sum(os.readlink(fd).startswith("pipe:") for fd in fds if os.path.islink(fd))
        return inboxes, pipes

    def one_run(**until) -> None:
        run_stream(config, kafka_topics, engine=engine, workers=1, say=lambda line: None, **until)

    one_run(until_idle=1.0, stop_after=60.0)
    assert row_count(config.outputs.duckdb) == 4
    before = threads_and_pipes()
    for _ in range(2):
        one_run(stop_after=1.0)
    assert threads_and_pipes() == before


def test_a_beam_stream_left_running_does_not_keep_every_polls_metrics(tmp_path, kafka_topics):
    """The Beam engine runs one bundle per poll of Kafka, several a second, for as long as the
    stream runs. Beam's in-process runner kept every bundle's metrics (in a chain of nested
    generators): a quiet stream grew by 10 MB a minute. Now the runner's metrics stay as many
    as there are metrics, however long it runs."""
    import gc

    from pln.pipelines.stream import run_stream

    config = load_config(write_config(tmp_path))
    produce_items(kafka_topics, tweet_items(range(4)))
    counts: list[int] = []

    def count_metrics(at: float) -> None:
        time.sleep(at)
        gc.collect()
        counts.append(sum(type(o).__name__ == "MonitoringInfo" for o in gc.get_objects()))

    samplers = [threading.Thread(target=count_metrics, args=(at,)) for at in (5.0, 15.0)]
    for sampler in samplers:
        sampler.start()
    run_stream(config, kafka_topics, engine="beam", say=lambda line: None, stop_after=16.0)
    for sampler in samplers:
        sampler.join()
    assert row_count(config.outputs.duckdb) == 4
    assert counts[1] <= counts[0], counts  # before: about 80 more in 10 s of polls
