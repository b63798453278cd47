"""`pln schedule`: run the batch job on the config's cron expressions.

Runs never overlap: they happen one after another in this process, and `RunLock` makes a run
skip (not queue) while a manual `pln run` holds the database. After downtime, the missed slots
are caught up by one run, not one run per slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pln.config import Config
from pln.cron import Cron


def next_slot(crons: list[Cron], after: datetime) -> datetime:
    return min(c.next_after(after) for c in crons)


def missed_slot(crons: list[Cron], last_run: datetime | None, now: datetime) -> bool:
    """True when a slot fell between the last run and now, or there was never a run."""
    return last_run is None or next_slot(crons, last_run) <= now


class Scheduler:
    """Sleeps until the next slot, runs, repeats. `clock`/`sleep` are injectable for tests."""

    def __init__(
        self,
        config: Config,
        run: Callable[[], object],
        *,
        last_run: datetime | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] = print,
    ):
        self.crons = [Cron.parse(c) for c in config.schedule.cron]
        self.tz = ZoneInfo(config.schedule.timezone)
        self.catch_up = config.schedule.catch_up
        self.run, self.last_run = run, last_run
        self.clock, self.sleep, self.log = clock, sleep, log

    def now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    def loop(self, max_runs: int | None = None) -> int:
        runs = 0
        if self.catch_up and missed_slot(self.crons, self._local(self.last_run), self.now()):
            since = f"since {self.last_run:%Y-%m-%d %H:%M}" if self.last_run else "(first run)"
            self.log(f"catching up: running now for the missed slots {since}")
            runs += self._run_once()
        while max_runs is None or runs < max_runs:
            slot = next_slot(self.crons, self.now())
            self.log(f"next run at {slot:%Y-%m-%d %H:%M %Z}")
            while (wait := (slot - self.now()).total_seconds()) > 0:
                self.sleep(min(wait, 60.0))
            runs += self._run_once()
        return runs

    def _run_once(self) -> int:
        from pln.errors import PlnError

        try:
            self.run()
        except PlnError as exc:  # a locked database or a broken config: report, keep the schedule
            self.log(f"run skipped: {exc}")
        self.last_run = self.clock()
        return 1

    def _local(self, t: datetime | None) -> datetime | None:
        return t.astimezone(self.tz) if t else None
