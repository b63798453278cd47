"""The scheduler: slots, one catch-up run after downtime, never two runs at once."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pln.config import parse_config
from pln.lock import RunInProgress, RunLock
from pln.schedule import Scheduler


class FakeClock:
    """Time that moves only when the scheduler sleeps."""

    def __init__(self, start: datetime):
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def scheduler(config, clock: FakeClock, job, last_run: datetime, log=lambda _: None):
    """A Scheduler on the fake clock: it sleeps by moving the clock forward."""
    return Scheduler(config, job, last_run=last_run, clock=clock, sleep=clock.sleep, log=log)


def recording_scheduler(config, start: datetime, last_run: datetime | None = None):
    """A scheduler on a fake clock from `start` (last run: `last_run`, by default `start`)
    and the list of times its job ran."""
    clock = FakeClock(start)
    ran: list[datetime] = []
    return scheduler(config, clock, lambda: ran.append(clock()), last_run or start), ran


def config(tmp_path: Path, cron: list[str], tz: str = "UTC"):
    data = {
        "sources": [{"name": "a", "type": "rss", "path": "a.xml"}],
        "topics": [{"id": "t", "phrases": ["x"]}],
        "schedule": {"cron": cron, "timezone": tz},
    }
    return parse_config(data, tmp_path / "pln.yaml")


def test_runs_at_each_slot(tmp_path):
    start, last_run = (
        datetime(2026, 11, 27, 9, 50, tzinfo=UTC),
        datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
    )
    sched, ran = recording_scheduler(config(tmp_path, ["0 * * * *"]), start, last_run)
    assert sched.loop(max_runs=3) == 3
    assert ran == [datetime(2026, 11, 27, h, 0, tzinfo=UTC) for h in (10, 11, 12)]


def test_downtime_is_caught_up_by_one_run(tmp_path):
    start = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    last_run = start - timedelta(days=2)  # ~190 slots missed
    sched, ran = recording_scheduler(config(tmp_path, ["*/15 * * * *"]), start, last_run)
    sched.loop(max_runs=2)
    assert ran == [
        datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        datetime(2026, 11, 27, 9, 45, tzinfo=UTC),
    ]


def test_slots_follow_the_configured_time_zone(tmp_path):
    berlin = config(tmp_path, ["0 7 * * *"], tz="Europe/Berlin")
    sched, ran = recording_scheduler(berlin, datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
    sched.loop(max_runs=1)
    assert ran == [datetime(2026, 11, 27, 6, 0, tzinfo=UTC)]  # 07:00 CET


def test_a_run_never_overlaps_another(tmp_path):
    db = tmp_path / "pln.duckdb"
    with RunLock(db), pytest.raises(RunInProgress, match="another run"), RunLock(db):
        pass
    with RunLock(db):  # released: the next one gets it
        pass


def test_a_busy_database_says_which_command_holds_it(tmp_path):
    db = tmp_path / "pln.duckdb"
    for holder in ("pln compact", "pln stream", "pln rescore", "pln run"):
        with RunLock(db, holder), pytest.raises(RunInProgress) as busy, RunLock(db, "pln run"):
            pass
        assert busy.value.busy == f"{holder} (pid {os.getpid()}) is writing {db}"


def test_a_locked_database_skips_the_slot_and_keeps_the_schedule(tmp_path):
    clock = FakeClock(datetime(2026, 11, 27, 9, 59, tzinfo=UTC))
    db = tmp_path / "pln.duckdb"
    log: list[str] = []

    def run():
        with RunLock(db):
            pass

    sched = scheduler(config(tmp_path, ["0 * * * *"]), clock, run, clock.t, log=log.append)
    with RunLock(db):
        sched.loop(max_runs=1)
    assert any("run skipped: another run" in line for line in log)
    assert sched.loop(max_runs=1) == 1


def test_a_run_that_failed_midway_is_said_to_have_failed_not_skipped(tmp_path):
    """A full disk while the feeds are written: the run read and stored items first."""
    from pln.errors import PlnError

    clock = FakeClock(datetime(2026, 11, 27, 9, 59, tzinfo=UTC))
    log: list[str] = []

    def run():
        raise PlnError("feed out/feeds/t.rss.xml: [Errno 28] No space left on device")

    sched = scheduler(config(tmp_path, ["0 * * * *"]), clock, run, clock.t, log=log.append)
    assert sched.loop(max_runs=1) == 1
    assert "run failed: feed out/feeds/t.rss.xml: [Errno 28] No space left on device" in log
    assert not any("skipped" in line for line in log)


def test_a_schedule_edited_while_it_waits_applies_to_the_next_slot(tmp_path):
    from pln.config import load_config
    from pln.pipelines.config_watch import ConfigWatch

    path = tmp_path / "pln.yaml"
    text = (
        "sources: [{name: a, type: rss, path: a.xml}]\ntopics: [{id: t, phrases: [x]}]\n"
        "schedule: {cron: ['0 * * * *']}\n"
    )
    path.write_text(text)
    config = load_config(path)
    clock = FakeClock(datetime(2026, 11, 27, 9, 50, tzinfo=UTC))
    ran, said = [], []

    edited = text.replace("0 * * * *", "55 9 * * *")

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock() >= datetime(2026, 11, 27, 9, 52, tzinfo=UTC) and path.read_text() != edited:
            path.write_text(edited)  # at 9:52, while it waits for 10:00

    watch = ConfigWatch(config, say=said.append, every=0)
    sched = Scheduler(
        config, lambda: ran.append(clock()), last_run=clock(), clock=clock, sleep=sleep,
        log=said.append, watch=watch,
    )  # fmt: skip
    assert sched.loop(max_runs=1) == 1
    assert ran == [datetime(2026, 11, 27, 9, 55, tzinfo=UTC)]
    assert said == [
        "next run at 2026-11-27 10:00 UTC",
        f"{path} was edited: the schedule is now 55 9 * * *",
        "next run at 2026-11-27 09:55 UTC",
    ]
