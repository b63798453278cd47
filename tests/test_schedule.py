"""The scheduler: slots, one catch-up run after downtime, never two runs at once."""

from __future__ import annotations

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


def config(tmp_path: Path, cron: list[str], tz: str = "UTC"):
    data = {
        "sources": [{"name": "a", "type": "rss", "path": "a.xml"}],
        "topics": [{"id": "t", "phrases": ["x"]}],
        "schedule": {"cron": cron, "timezone": tz},
    }
    return parse_config(data, tmp_path / "pln.yaml")


def test_runs_at_each_slot(tmp_path):
    clock = FakeClock(datetime(2026, 11, 27, 9, 50, tzinfo=UTC))
    ran: list[datetime] = []
    sched = Scheduler(
        config(tmp_path, ["0 * * * *"]),
        lambda: ran.append(clock()),
        last_run=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        clock=clock,
        sleep=clock.sleep,
        log=lambda _: None,
    )
    assert sched.loop(max_runs=3) == 3
    assert ran == [datetime(2026, 11, 27, h, 0, tzinfo=UTC) for h in (10, 11, 12)]


def test_downtime_is_caught_up_by_one_run(tmp_path):
    clock = FakeClock(datetime(2026, 11, 27, 9, 30, tzinfo=UTC))
    ran: list[datetime] = []
    sched = Scheduler(
        config(tmp_path, ["*/15 * * * *"]),
        lambda: ran.append(clock()),
        last_run=clock.t - timedelta(days=2),  # ~190 slots missed
        clock=clock,
        sleep=clock.sleep,
        log=lambda _: None,
    )
    sched.loop(max_runs=2)
    assert ran == [
        datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        datetime(2026, 11, 27, 9, 45, tzinfo=UTC),
    ]


def test_slots_follow_the_configured_time_zone(tmp_path):
    clock = FakeClock(datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
    ran: list[datetime] = []
    sched = Scheduler(
        config(tmp_path, ["0 7 * * *"], tz="Europe/Berlin"),
        lambda: ran.append(clock()),
        last_run=clock.t,
        clock=clock,
        sleep=clock.sleep,
        log=lambda _: None,
    )
    sched.loop(max_runs=1)
    assert ran == [datetime(2026, 11, 27, 6, 0, tzinfo=UTC)]  # 07:00 CET


def test_a_run_never_overlaps_another(tmp_path):
    db = tmp_path / "pln.duckdb"
    with RunLock(db), pytest.raises(RunInProgress, match="another run"), RunLock(db):
        pass
    with RunLock(db):  # released: the next one gets it
        pass


def test_a_locked_database_skips_the_slot_and_keeps_the_schedule(tmp_path):
    clock = FakeClock(datetime(2026, 11, 27, 9, 59, tzinfo=UTC))
    db = tmp_path / "pln.duckdb"
    log: list[str] = []

    def run():
        with RunLock(db):
            pass

    sched = Scheduler(
        config(tmp_path, ["0 * * * *"]),
        run,
        last_run=clock.t,
        clock=clock,
        sleep=clock.sleep,
        log=log.append,
    )
    with RunLock(db):
        sched.loop(max_runs=1)
    assert any("run skipped: another run" in line for line in log)
    assert sched.loop(max_runs=1) == 1
