"""Commands left running (QA): quiet progress while idle, a schedule that outlives a broken
edit, `pln forget` beside a stream, SIGTERM as a clean stop, `pln health` after a kill, and
whole seconds where a person reads a wait."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from conftest_kafka import (
    REPO,
    kill,
    pln_process,
    stream_holding,
    stream_workspace,
    tweet_items,
    wait_for,
    write_config,
)
from helpers import db_rows, descendant_pids, is_running
from kafka_broker import free_port

from pln.cli import main
from pln.errors import SourceError
from pln.pipelines import stream_writer
from pln.pipelines.polls import CuratedPoll
from pln.pipelines.stream_writer import PollTables, StreamWriter
from pln.sinks.store import Store

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def pln(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pln.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


def progress_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.startswith("  stream: ")]


# ---------------------------------------------------------------------- progress while idle


class Clock:
    """The writer's clock, moved by the test (monotonic and wall time together)."""

    def __init__(self):
        self.t = 1_000_000.0

    def monotonic(self) -> float:
        return self.t

    def time(self) -> float:
        return self.t


def poll(items, age: float, now: float) -> PollTables:
    """A curated poll of `items`, produced `age` seconds before `now`."""
    stamps = [int((now - age) * 1000)] * len(items)
    return PollTables.of(CuratedPoll(items, [], [], [], {}, stamps))


def test_an_idle_stream_says_so_every_five_minutes_with_a_p95_of_the_last_minute(
    tmp_path, monkeypatch, capsys
):
    clock = Clock()
    monkeypatch.setattr(stream_writer, "time", clock)
    monkeypatch.setenv("PLN_PROGRESS", "1")
    config, _, _ = stream_workspace(tmp_path)
    writer = StreamWriter(config, "stream-1", hold=False)
    try:
        writer.commit([poll(tweet_items(range(3)), age=188, now=clock.t)])  # a restart's backlog
        for _ in range(130):  # 5 min 12 s idle, a report every 2.4 s
            writer.report(lag=0)
            clock.t += 2.4
        writer.commit([poll(tweet_items([3]), age=0.2, now=clock.t)])
        writer.report(lag=0)
    finally:
        writer.close()
    assert progress_lines(capsys.readouterr().err) == [
        "stream: 3 items written · 0 items/s · lag 0 · p95 188.00 s over the last 60 s",
        "stream: idle for 5 min · 3 items written · lag 0",
        "stream: 4 items written · 0 items/s · lag 0 · p95 0.20 s over the last 60 s",
    ]


@pytest.mark.slow
def test_a_stream_stopped_by_sigterm_prints_its_summary_and_exits_0(tmp_path, kafka_topics):
    with stream_holding(tmp_path, kafka_topics, 4) as (config, db, log):
        proc_pid = _stream_pid(db)
        mark = len(log.read_text())
        time.sleep(16)  # idle: not a line every 2 s
        idle = progress_lines(log.read_text()[mark:])
        os.kill(proc_pid, signal.SIGTERM)
        wait_for(lambda: not is_running(proc_pid), 30, "the stream to stop")
    said = log.read_text()
    assert len(idle) <= 3, idle  # the last items, the lag settling, the rate fallen to 0
    assert all(a != b for a, b in zip(idle, idle[1:], strict=False)), idle
    summary = [line for line in said.splitlines() if line.startswith("PLN Curator stream ")]
    assert len(summary) == 1 and "4 items written" in summary[0], said
    assert summary[0].endswith("(stopped by SIGTERM)") and "pln: interrupted" not in said
    assert db_rows(db, "SELECT count(*) FROM runs WHERE finished_at IS NOT NULL") == [(1,)]


def _stream_pid(db: Path) -> int:
    """The pid the stream's run lock names (the process the test started)."""
    return int(Path(f"{db}.lock").read_text().split()[0])


# ------------------------------------------------------------------- health, forget, a stream


@pytest.mark.slow
def test_health_says_a_killed_stream_is_gone_at_once(tmp_path, kafka_topics):
    with stream_holding(tmp_path, kafka_topics, 2) as (config, db, log):
        pid = _stream_pid(db)
        alive = pln("health", "-c", str(config.path))
        assert alive.returncode == 0 and alive.stdout.startswith("stream ok: "), alive
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not is_running(pid), 30, "the stream to die")
        gone = pln("health", "-c", str(config.path), "--max-age", "30")
    assert gone.returncode == 1, gone
    assert gone.stderr.strip() == f"stream not running (pid {pid} is gone)"


@pytest.mark.slow
def test_forget_beside_a_stream_is_refused_at_once_but_a_dry_run_counts(tmp_path, kafka_topics):
    with stream_holding(tmp_path, kafka_topics, 2) as (config, db, log):
        pid = _stream_pid(db)
        started = time.monotonic()
        refused = pln("forget", "-c", str(config.path), "--days", "30", timeout=60)
        assert refused.returncode == 75, refused
        assert time.monotonic() - started < 15
        assert refused.stderr == (
            f"pln: error: pln stream (pid {pid}) is writing {db}; "
            "stop it (or let it finish) and forget then\n"
        )
        counted = pln("forget", "-c", str(config.path), "--days", "30", "--dry-run", timeout=60)
        assert counted.returncode == 0, counted
        assert counted.stdout.startswith("would forget "), counted
        assert is_running(pid)  # the stream goes on


# --------------------------------------------------------------------------- SIGTERM, schedule


def schedule_config(tmp_path: Path, cron: str) -> Path:
    shutil.copy(FEEDS / "rss2.xml", tmp_path / "rss2.xml")
    path = tmp_path / "pln.yaml"
    path.write_text(
        "sources:\n  - {name: blog, type: rss, path: rss2.xml}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
        f"schedule: {{cron: ['{cron}'], catch_up: false}}\n"
    )
    return path


@pytest.mark.slow
def test_a_schedule_runs_the_last_good_config_while_the_file_is_broken(tmp_path):
    path = schedule_config(tmp_path, "* * * * *")
    while datetime.now().second >= 30:  # the next slot at least 30 s away: time to break it
        time.sleep(1)
    log = tmp_path / "schedule.log"
    proc = pln_process("schedule", "-c", str(path), "--max-runs", "1", log=log)
    try:
        wait_for(lambda: "next run at" in log.read_text(), 30, "the next slot")
        with path.open("a") as config:
            config.write("outputs: [unclosed\n")
        code = proc.wait(timeout=120)
    finally:
        kill(proc)
    said = log.read_text()
    assert code == 0, said
    assert "run skipped" not in said and said.count("PLN Curator run ") == 1, said
    assert said.count("was edited but cannot be used, so nothing changes") == 1, said
    assert said.index("cannot be used") < said.index("PLN Curator run ")


def test_a_schedule_restarted_after_a_run_was_killed_midway_catches_up(tmp_path):
    """The last *finished* run decides whether a slot was missed: a run killed by SIGKILL, a
    reboot or the OOM killer left a started run behind, and the restart waited for the next
    slot (QA: up to a day with a daily cron)."""
    path = schedule_config(tmp_path, "0 0 1 1 *")  # once a year
    path.write_text(path.read_text().replace("catch_up: false", "catch_up: true"))
    assert main(["run", "-q", "-c", str(path)]) == 0
    db = tmp_path / "out" / "pln.duckdb"
    with Store(db) as store:  # that run was two years ago; one started a minute ago, killed
        store.con.execute(
            "UPDATE runs SET started_at = started_at - INTERVAL 730 DAY, "
            "finished_at = finished_at - INTERVAL 730 DAY"
        )
        store.begin_run("killed-midway", str(path))
    log = tmp_path / "schedule.log"
    proc = pln_process("schedule", "-c", str(path), "--max-runs", "1", log=log)
    try:
        code = proc.wait(timeout=120)  # it waited until 1 January before
    finally:
        kill(proc)
    said = log.read_text()
    assert code == 0 and "catching up: running now for the missed slots since " in said, said
    assert said.count("PLN Curator run ") == 1, said


def assert_stops_cleanly_on_sigterm(proc: subprocess.Popen, log: Path, waiting) -> None:
    """SIGTERM to a `pln` command once `waiting()` returns: exit 0, its last line `pln:
    stopped (SIGTERM)`. The command is killed whatever happens."""
    try:
        waiting()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        kill(proc)
    assert code == 0, log.read_text()
    assert log.read_text().rstrip().endswith("pln: stopped (SIGTERM)")


@pytest.mark.slow
def test_sigterm_stops_a_waiting_schedule_cleanly(tmp_path):
    path = schedule_config(tmp_path, "0 0 1 1 *")
    log = tmp_path / "schedule.log"
    proc = pln_process("schedule", "-c", str(path), log=log)

    def waiting() -> None:
        wait_for(lambda: "next run at" in log.read_text(), 30, "the schedule to wait")

    assert_stops_cleanly_on_sigterm(proc, log, waiting)


def test_sigterm_stops_an_ingest_waiting_for_its_broker_cleanly(tmp_path):
    config = write_config(tmp_path)
    log = tmp_path / "ingest.log"
    bootstrap = f"127.0.0.1:{free_port()}"  # no broker there: it waits for one
    proc = pln_process("ingest", "-c", str(config), "--bootstrap", bootstrap, log=log)
    assert_stops_cleanly_on_sigterm(proc, log, lambda: time.sleep(3))


@pytest.mark.slow
def test_sigterm_interrupts_a_run_as_ctrl_c_does(tmp_path):
    path = schedule_config(tmp_path, "0 0 1 1 *")
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/feed.xml"
    stuck = f"  - {{name: stuck, type: rss, url: '{url}', timeout: 120}}\n"
    text = path.read_text().replace("sources:\n", "sources:\n" + stuck)
    path.write_text(text.replace("outputs:", "runner: {workers: 2}\noutputs:"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pln.cli", "run", "-c", str(path)],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        for line in proc.stderr:  # the good source is done, so the workers are up
            if "✓ blog" in line:
                break
        workers = descendant_pids(proc.pid)
        assert workers, "the run should have a worker waiting for the silent server"
        proc.send_signal(signal.SIGTERM)
        err = proc.stderr.read()
        code = proc.wait(timeout=30)
    finally:
        kill(proc)
        silent.close()
    assert code == 130 and err.rstrip().endswith("pln: interrupted"), err
    wait_for(lambda: not [pid for pid in workers if is_running(pid)], 10, "the workers to stop")


# ------------------------------------------------------------------------ whole seconds


def test_a_retry_after_date_is_whole_seconds(server):
    from pln.sources.http import HttpFetcher

    when = datetime.now(UTC) + timedelta(seconds=40)
    server.route("/feed", status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(SourceError) as info:
        HttpFetcher("blog", timeout=2.0).get(server.url("/feed"))
    wait = info.value.retry_after
    assert wait == int(wait) and 38 <= wait <= 41
    assert re.search(r"retry after \d+ s$", str(info.value)), str(info.value)


def test_a_backoff_within_the_hour_shows_seconds():
    from pln.backoff import shown_until

    now = datetime(2026, 12, 4, 7, 59, 0, tzinfo=UTC)
    assert shown_until(now + timedelta(seconds=40), now) == "2026-12-04 07:59:40 UTC"
    assert shown_until(now + timedelta(hours=3), now) == "2026-12-04 10:59 UTC"


def test_a_sigterm_lost_in_a_weakref_callback_is_raised_again():
    """A handler's KeyboardInterrupt that lands in a weakref callback is printed and ignored by
    Python (seen in CI inside Beam's runner): the command must still stop at once, not run
    on until the 20 s watchdog exits it with 130."""
    code = """
import gc, os, signal, sys, time, weakref
from pln.cli_stream import stop_on_sigterm
stop_on_sigterm()
class Thing: pass
def callback(_):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)  # the handler runs here, and its exception is swallowed
thing = Thing()
ref = weakref.ref(thing, callback)
try:
    del thing
    gc.collect()
    time.sleep(10)
    print("ran on")
except KeyboardInterrupt:
    print("stopped")
"""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "stopped\n", done.stderr
    assert "KeyboardInterrupt" in done.stderr  # the first one, ignored where it landed
    assert time.monotonic() - started < 8
