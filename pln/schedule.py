"""`pln schedule`: run the batch job on the config's cron expressions.

Runs never overlap: they happen one after another in this process, and `RunLock` makes a run
skip (not queue) while a manual `pln run` holds the database. After downtime, the missed slots
are caught up by one run, not one run per slot. An edit of the config file that is not a valid
config changes nothing: the runs go on with the last good one (`config`), as in a stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from pln.config import Config
from pln.cron import Cron

LOOK_EVERY = 2.0  # seconds between looks at the config file while waiting for a slot


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
        watch=None,
    ):
        """`watch` (pipelines/config_watch.py): a schedule edited in the config file applies
        from the next slot, without a restart; `run` reads `config`, the last good config."""
        self._use(config)
        self.run, self.last_run = run, last_run
        self.clock, self.sleep, self.log = clock, sleep, log
        self.watch = watch
        self.step = 60.0 if watch is None else LOOK_EVERY  # seconds slept between looks

    def _use(self, config: Config) -> None:
        self.config = config
        self.crons = [Cron.parse(c) for c in config.schedule.cron]
        self.tz = ZoneInfo(config.schedule.timezone)
        self.catch_up = config.schedule.catch_up

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
            if self._wait_for(slot):
                runs += self._run_once()
        return runs

    def _wait_for(self, slot: datetime) -> bool:
        """Sleep until `slot`; False when the schedule was edited meanwhile (or at the last
        look, just before the run), so that the next slot is found again."""
        while (wait := (slot - self.now()).total_seconds()) > 0:
            self.sleep(min(wait, self.step))
            if self._edited():
                return False
        return not self._edited(now=True)

    def _edited(self, now: bool = False) -> bool:
        """Whether the config's schedule was edited (then the next slot is found again);
        `now`: look at the file whenever the watch last did. Other valid edits are kept
        for the next run (`config`); invalid ones change nothing."""
        if self.watch is None:
            return False
        config = self.watch.look() if now else self.watch.changed()
        if config is None:
            return False
        if not config.schedule.cron:
            self.log(f"{config.path} was edited: schedule.cron is empty, so the schedule stays")
            self.config = config
            return False
        before = (self.crons, self.tz, self.catch_up)
        self._use(config)
        if (self.crons, self.tz, self.catch_up) == before:
            return False
        self.log(f"{config.path} was edited: the schedule is now {', '.join(config.schedule.cron)}")
        return True

    def _run_once(self) -> int:
        from pln.errors import PlnError

        try:
            self.run()
        except PlnError as exc:  # a locked database, a full disk: report, keep the schedule
            # Busy (75): the run never began. Anything else may have read and stored items
            # before it failed (the feeds on a full disk), so it is not "skipped".
            self.log(f"run {'skipped' if exc.exit_code == 75 else 'failed'}: {exc}")
        self.last_run = self.clock()
        return 1

    def _local(self, t: datetime | None) -> datetime | None:
        return t.astimezone(self.tz) if t else None
