"""Fetching many sources at once, politely, within deadlines (plain Python, no Beam).

`FetchPool` runs `fetch_once` on threads: at most `concurrency` sources at once and at most
`per_host` of them against one host, so a slow source never holds up the fast ones and no
server sees a burst from us. Each fetch is bounded twice: the HTTP client's own deadline, and
here `source_deadline` for the whole fetch (parse included) plus an optional deadline for the
run. A fetch that outlives its deadline is reported as a failure at once and its thread is left
to end on its own (threads are daemons, so it cannot keep the process alive); whatever it
returns later is dropped.

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
from pln.record import SourceStatus
from pln.sources.base import FetchResult
from pln.sources.http import answering_from
from pln.sources.prefetch import load_response
from pln.sources.registry import fetch_once

# Options whose value is the URL a source talks to (the host for per-host limits).
URL_OPTIONS = ("url", "instance", "service", "base_url", "api_base")


@dataclass(frozen=True)
class Fetched:
    """One finished (or abandoned) fetch."""

    config: SourceConfig
    result: FetchResult
    status: SourceStatus


@dataclass
class _Job:
    config: SourceConfig
    cursor: dict | None
    run_deadline_at: float | None  # unix time
    host: str
    prefetched: str | None = None  # a staged response (sources/prefetch.py) to parse
    ends_at: float = 0.0  # monotonic, set when started


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
    ):
        self.concurrency = concurrency
        self.per_host = per_host
        self.source_deadline = source_deadline
        self._fetch = fetch
        self._waiting: deque[_Job] = deque()
        self._running: dict[int, _Job] = {}
        self._hosts: Counter[str] = Counter()
        self._done: queue.SimpleQueue[tuple[int, FetchResult, SourceStatus]] = queue.SimpleQueue()
        self._next_id = 0

    def add(
        self,
        config: SourceConfig,
        cursor: dict | None = None,
        run_deadline_at: float | None = None,
        prefetched: str | None = None,
    ) -> None:
        # A prefetched source needs no connection, so no per-host slot either.
        host = "" if prefetched else host_of(config)
        self._waiting.append(_Job(config, cursor, run_deadline_at, host, prefetched))

    def __len__(self) -> int:
        return len(self._waiting) + len(self._running)

    def ready(self) -> list[Fetched]:
        """Start what may start and return the fetches finished so far, without waiting."""
        return list(self._collect(block=False))

    def drain(self) -> Iterator[Fetched]:
        """Every remaining fetch, in the order they finish."""
        while len(self):
            yield from self._collect(block=True)

    def _collect(self, block: bool) -> Iterator[Fetched]:
        yield from self._start()
        timeout = self._next_expiry() if block else 0.0
        try:
            job_id, result, status = self._done.get(block=block, timeout=timeout)
        except queue.Empty:
            pass
        else:
            job = self._finish(job_id)
            if job is not None:  # else it was abandoned at its deadline and reported then
                yield Fetched(job.config, result, status)
        while True:
            try:
                job_id, result, status = self._done.get_nowait()
            except queue.Empty:
                break
            job = self._finish(job_id)
            if job is not None:
                yield Fetched(job.config, result, status)
        yield from self._expire()
        yield from self._start()

    def _start(self) -> Iterator[Fetched]:
        """Start waiting jobs while there is room; jobs past the run's deadline never start."""
        skipped: list[_Job] = []
        now_wall = time.time()
        while self._waiting and len(self._running) < self.concurrency:
            job = self._waiting.popleft()
            if job.run_deadline_at is not None and now_wall >= job.run_deadline_at:
                yield _gave_up(job, "not fetched: the run's fetch deadline passed")
                continue
            if job.host and self._hosts[job.host] >= self.per_host:
                skipped.append(job)
                continue
            self._launch(job)
        self._waiting.extendleft(reversed(skipped))

    def _launch(self, job: _Job) -> None:
        job_id = self._next_id
        self._next_id += 1
        limit = self.source_deadline
        if job.run_deadline_at is not None:
            limit = min(limit, max(0.0, job.run_deadline_at - time.time()))
        job.ends_at = time.monotonic() + limit
        self._running[job_id] = job
        self._hosts[job.host] += 1
        thread = threading.Thread(
            target=self._run, args=(job_id, job), name=f"fetch-{job.config.name}", daemon=True
        )
        thread.start()

    def _run(self, job_id: int, job: _Job) -> None:
        try:
            if job.prefetched:
                with answering_from(load_response(job.prefetched)):
                    result, status = self._fetch(job.config, job.cursor)
            else:
                result, status = self._fetch(job.config, job.cursor)
        except BaseException as exc:  # noqa: BLE001 - reported as this source's failure
            result = FetchResult(cursor=job.cursor)
            status = _failure(job, f"unexpected {type(exc).__name__}: {exc}")
        self._done.put((job_id, result, status))

    def _finish(self, job_id: int) -> _Job | None:
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
                self._finish(job_id)
                run_ended = job.run_deadline_at is not None and time.time() >= job.run_deadline_at
                why = "the run's fetch deadline" if run_ended else "source deadline"
                spent = self.source_deadline if not run_ended else None
                after = f" after {spent:g} s" if spent is not None else ""
                yield _gave_up(job, f"gave up{after} ({why})")


def _failure(job: _Job, message: str) -> SourceStatus:
    cfg = job.config
    return SourceStatus(
        source=cfg.name,
        type=cfg.type,
        ok=False,
        error=f"source '{cfg.name}': {message}",
        cursor=job.cursor,
    )


def _gave_up(job: _Job, message: str) -> Fetched:
    return Fetched(job.config, FetchResult(cursor=job.cursor), _failure(job, message))
