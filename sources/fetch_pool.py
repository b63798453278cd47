"""Fetching many sources at once, politely, within deadlines (plain Python, no Beam).

`FetchPool` runs `fetch_once` on threads: at most `concurrency` sources at once and at most
`per_host` of them against one host, so a slow source never holds up the fast ones and no
server sees a burst from us. Each fetch is bounded twice: the HTTP client's own deadline, and
here `source_deadline` for the whole fetch (parse included) plus an optional deadline for the
run. A fetch that outlives its deadline is reported as a failure at once and its thread is left
to end on its own (threads are daemons, so it cannot keep the process alive); whatever it
returns later is dropped. Its GETs end soon after too (`http.bounded_by`), with their sockets,
rather than at the HTTP client's own deadline: a `source_deadline` under 3 x `timeout` would
otherwise leave a thread and a connection per given-up source for up to a minute.

A pool holds threads, so make it where it is used (a DoFn's bundle, a poll loop): never pickle it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from pln.config import SourceConfig
from pln.progress import counted
from pln.record import SourceStatus
from pln.sources.base import FetchResult
from pln.sources.http import answering_from, bounded_by
from pln.sources.prefetch import HeldResponse, load_response
from pln.sources.registry import failed_status, fetch_once

# Options whose value is the URL a source talks to (the host for per-host limits).
URL_OPTIONS = ("url", "instance", "service", "base_url", "api_base")
# A given-up fetch's GET ends this long after the pool gave it up, so the pool's own message
# ("gave up after 3 s (fetch.source_deadline)") is the one reported.
GET_GRACE = 0.5


@dataclass(frozen=True)
class Fetched:
    """One finished (or abandoned) fetch."""

    config: SourceConfig
    result: FetchResult
    status: SourceStatus

    @property
    def progress_line(self) -> str:
        """ "✓ name: 50 items, 1 dead letters", "✓ name: not modified" or "✗ name: error"."""
        name, result = self.config.name, self.result
        if not self.status.ok:
            return f"✗ {name}: {self.status.error.removeprefix(f'source {name!r}: ')}"
        note = "not modified" if result.not_modified else counted(len(result.items), "item")
        if result.dead_letters:
            note += f", {counted(len(result.dead_letters), 'dead letter')}"
        return f"✓ {name}: {note}"


@dataclass
class _Job:
    config: SourceConfig
    cursor: dict | None
    run_deadline_at: float | None  # unix time
    host: str
    prefetched: str | HeldResponse | None = None  # the probe's response (prefetch.py) to parse
    started_at: float = 0.0  # monotonic, set when started
    ends_at: float = 0.0  # likewise
    why: str = ""  # how the deadline that ends it reads: "after 120 s (fetch.source_deadline)"


def host_of(config: SourceConfig) -> str:
    """The host a source fetches from; '' for files and exports (no per-host limit)."""
    for name in URL_OPTIONS:
        value = config.options.get(name)
        if isinstance(value, str) and "://" in value:
            try:
                return (urlsplit(value).hostname or "").lower()
            except ValueError:
                return ""
    return ""


class FetchPool:
    def __init__(
        self,
        concurrency: int = 16,
        per_host: int = 4,
        source_deadline: float = 120.0,
        fetch: Callable[[SourceConfig, dict | None], tuple[FetchResult, SourceStatus]] = fetch_once,
        local: int | None = None,
    ):
        """`local`: at most this many local reads (files, staged responses) at once, when
        given; they are CPU-bound, so more threads only take turns on the GIL."""
        self.concurrency = concurrency
        self.per_host = per_host
        self.local = local
        self.source_deadline = source_deadline
        self._fetch = fetch
        self._waiting: dict[str, deque[_Job]] = {}  # by host, in the order hosts came
        self._queued = 0
        self._running: dict[int, _Job] = {}
        self._hosts: Counter[str] = Counter()
        self._jobs: queue.SimpleQueue[tuple[int, _Job] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[int, FetchResult, SourceStatus]] = queue.SimpleQueue()
        self._threads = 0  # worker threads started and not stopped
        self._stuck = 0  # of those, busy with a fetch given up at its deadline
        self._abandoned: set[int] = set()
        self._next_id = 0

    def add(
        self,
        config: SourceConfig,
        cursor: dict | None = None,
        run_deadline_at: float | None = None,
        prefetched: str | HeldResponse | None = None,
    ) -> None:
        # A prefetched source needs no connection, so no per-host slot either.
        host = "" if prefetched else host_of(config)
        job = _Job(config, cursor, run_deadline_at, host, prefetched)
        self._waiting.setdefault(host, deque()).append(job)
        self._queued += 1

    def __len__(self) -> int:
        return self._queued + len(self._running)

    def has_room(self, host_blocked: int) -> bool:
        """Whether one who feeds this pool from a shared queue should add another source:
        fewer than `concurrency` fetches run or could start at once, and fewer than
        `host_blocked` wait only for their host's turn (`per_host` of its fetches running, or
        the local reads' turn). Those do not count against `concurrency`: a pool full of one
        slow host's sources would otherwise stop taking the other hosts' sources queued
        behind them, and run a few at a time while the rest of its room stays empty."""
        startable, blocked = self._backlog()
        return len(self._running) + startable < self.concurrency and blocked < host_blocked

    def _backlog(self) -> tuple[int, int]:
        """(waiting jobs that could start now if `concurrency` allowed, waiting jobs whose host
        or the local reads have no free slot)."""
        startable = blocked = 0
        for host, jobs in self._waiting.items():
            limit = self.per_host if host else self.local
            free = len(jobs) if limit is None else max(0, limit - self._hosts[host])
            startable += min(len(jobs), free)
            blocked += max(0, len(jobs) - free)
        return startable, blocked

    def local_waiting(self) -> bool:
        """Whether a local read waits for its turn here."""
        return bool(self._waiting.get(""))

    def ready(self) -> list[Fetched]:
        """Start what may start and return the fetches finished so far, without waiting."""
        return list(self._collect(block=False))

    def finished(self, timeout: float | None = None) -> list[Fetched]:
        """Start what may start, then wait until at least one fetch ends (or is given up), or
        at most `timeout` seconds."""
        return list(self._collect(block=True, timeout=timeout)) if len(self) else []

    def drain(self) -> Iterator[Fetched]:
        """Every remaining fetch, in the order they finish; then the worker threads stop."""
        try:
            while len(self):
                yield from self._collect(block=True)
        finally:
            self.close()

    def running_longer(self, seconds: float) -> list[tuple[str, float, float]]:
        """The fetches running for `seconds` or more: (source, seconds so far, its deadline)."""
        now = time.monotonic()
        return [
            (job.config.name, now - job.started_at, job.ends_at - job.started_at)
            for job in self._running.values()
            if now - job.started_at >= seconds
        ]

    def slow_notes(self, told: dict[str, float], after: float = 10.0) -> list[str]:
        """Progress lines naming the fetches still running after `after` seconds, each again
        30 s later: a run that waits on a slow server shows what it waits for. `told` (kept by
        the caller): when to name each again."""
        lines = []
        for name, spent, deadline in self.running_longer(after):
            if spent >= told.get(name, after):
                told[name] = spent + 30
                lines.append(
                    f"… {name}: still reading after {spent:.0f} s (deadline {deadline:.0f} s)"
                )
        return lines

    def close(self) -> None:
        """Stop the idle worker threads (a thread stuck in a given-up fetch stops after it)."""
        for _ in range(self._threads):
            self._jobs.put(None)
        self._threads = 0

    def _collect(self, block: bool, timeout: float | None = None) -> Iterator[Fetched]:
        yield from self._start()
        wait = self._next_expiry() if block else 0.0
        timeout = wait if timeout is None else min(wait, timeout)
        try:
            first = self._done.get(block=block, timeout=timeout)
        except queue.Empty:
            first = None
        finished = [first] if first else []
        while True:
            try:
                finished.append(self._done.get_nowait())
            except queue.Empty:
                break
        for job_id, result, status in finished:
            job = self._finish(job_id)
            if job is not None:  # else it was given up at its deadline and reported then
                yield Fetched(job.config, result, status)
        yield from self._expire()
        yield from self._start()

    def _start(self) -> Iterator[Fetched]:
        """Start waiting jobs while there is room, host by host; none start past the run's
        deadline."""
        now_wall = time.time()
        for host, jobs in list(self._waiting.items()):
            limit = self.per_host if host else self.local
            while jobs and len(self._running) < self.concurrency:
                if limit is not None and self._hosts[host] >= limit:
                    break
                job = jobs.popleft()
                self._queued -= 1
                if job.run_deadline_at is not None and now_wall >= job.run_deadline_at:
                    yield _gave_up(job, "not fetched: the run's deadline (fetch.deadline) passed")
                else:
                    self._launch(job)
            if not jobs:
                del self._waiting[host]

    def _launch(self, job: _Job) -> None:
        job_id = self._next_id
        self._next_id += 1
        limit = self.source_deadline
        if job.run_deadline_at is not None:
            limit = min(limit, max(0.0, job.run_deadline_at - time.time()))
        job.started_at = time.monotonic()
        job.ends_at = job.started_at + limit
        by_run = limit < self.source_deadline
        job.why = (
            "(the run's deadline, fetch.deadline)"
            if by_run
            else f"after {limit:g} s (fetch.source_deadline)"
        )
        self._running[job_id] = job
        self._hosts[job.host] += 1
        if self._threads - self._stuck < len(self._running):
            self._threads += 1
            threading.Thread(target=self._work, name="pln-fetch", daemon=True).start()
        self._jobs.put((job_id, job))

    def _work(self) -> None:
        while (task := self._jobs.get()) is not None:
            job_id, job = task
            self._done.put((job_id, *self._run(job)))

    def _run(self, job: _Job) -> tuple[FetchResult, SourceStatus]:
        try:
            if job.prefetched:
                with answering_from(load_response(job.prefetched)):
                    return self._fetch(job.config, job.cursor)
            with bounded_by(job.ends_at + GET_GRACE, job.why):
                return self._fetch(job.config, job.cursor)
        except BaseException as exc:  # noqa: BLE001 - reported as this source's failure
            return FetchResult(cursor=job.cursor), _failure(
                job, f"unexpected {type(exc).__name__}: {exc}"
            )

    def _finish(self, job_id: int) -> _Job | None:
        if job_id in self._abandoned:  # its thread is free again
            self._abandoned.discard(job_id)
            self._stuck -= 1
        job = self._running.pop(job_id, None)
        if job is not None:
            self._hosts[job.host] -= 1
        return job

    def _next_expiry(self) -> float:
        if not self._running:
            return 0.05  # only jobs waiting on a busy host: look again soon
        return max(0.0, min(j.ends_at for j in self._running.values()) - time.monotonic())

    def _expire(self) -> Iterator[Fetched]:
        now = time.monotonic()
        for job_id, job in list(self._running.items()):
            if now >= job.ends_at:
                self._running.pop(job_id)
                self._hosts[job.host] -= 1
                self._abandoned.add(job_id)
                self._stuck += 1
                yield _gave_up(job, f"gave up {job.why}")


def _failure(job: _Job, message: str) -> SourceStatus:
    return failed_status(job.config, f"source '{job.config.name}': {message}", job.cursor)


def _gave_up(job: _Job, message: str) -> Fetched:
    return Fetched(job.config, FetchResult(cursor=job.cursor), _failure(job, message))
