"""Before the pipeline: ask every feed, at once, whether it changed (no Beam, no NLP here).

Most runs of a feed reader find most feeds unchanged: an HTTP 304, a file with the same size
and mtime. Starting Beam and spaCy to learn that costs seconds, so the batch job first probes
the feed sources concurrently on the driver (`FetchPool`: bounded, per-host limits, the same
deadlines). A feed that did not change, or that failed, is settled right there with the status
its source gives (the source itself runs, answered from the probe, so cursors and messages are
exactly its own). Sources of other types that tell from their files' stats that nothing
changed (`Source.unchanged`: X's saved pages, a chat export file or folder, a Slack export, an
X archive) are settled the same way, at once, never behind a slow server. Only feeds with new
bytes, changed files, and sources of other types go on to the pipeline; a changed feed's
response goes to the worker with its task (sources/prefetch.py: in memory for the local
engine's workers, staged as a file for the Beam engine's), so no server is asked twice. A
feed never read is fetched here as well and handed on the same way: the probe's thread would
be idle otherwise, and the workers keep their CPU for curating. When nothing changed the
pipeline does not start at all. A fetch the probe gave up on at its
deadline goes on on its thread; if its server answers after the run ended, the run's
`StagingFolder` takes nothing from it, so no staged file outlives the run.

With the local engine the probe streams (`ProbeThread`): it runs on a thread of the parent and
hands each changed feed to the workers the moment its answer comes, so one slow or hung server
among hundreds holds back only itself, never the feeds that answered before it; the parent
starts its writing loop at the first feed for the workers, and a run where nothing changed
never starts it. The Beam engine takes the probe's result whole (`probe_sources`), since its
pipeline is built from a list.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pln import progress
from pln.config import FetchConfig, SourceConfig
from pln.errors import PlnError, SourceError
from pln.record import SourceStatus
from pln.sources.base import FetchResult
from pln.sources.fetch_pool import FetchPool
from pln.sources.http import HttpFetcher, Response, answering_from
from pln.sources.prefetch import HeldResponse, StagingFolder
from pln.sources.registry import build_source, failed_status, fetch_once

SLOW_NOTE = 10.0  # a feed the probe still waits on after this many seconds is named


@dataclass(frozen=True)
class SourceTask:
    """What a worker needs to fetch one source: its config, its last cursor, when the run's
    fetching must end (unix time; None: no run deadline) and a staged response to parse."""

    config: SourceConfig
    cursor: dict[str, Any] | None = None
    run_deadline_at: float | None = None
    prefetched: str | HeldResponse | None = None  # the probe's response for it (prefetch.py)


def probe_sources(
    tasks: list[SourceTask],
    fetch: FetchConfig,
    staging: StagingFolder,
    on_change: Callable[[], None] | None = None,
    *,
    on_task: Callable[[SourceTask], None] | None = None,
    on_settled: Callable[[SourceStatus], None] | None = None,
    stop: threading.Event | None = None,
) -> tuple[list[SourceTask], list[SourceStatus]]:
    """(tasks still to run in the pipeline, statuses of the sources settled here).
    `on_change` is called when the first feed turns out to have changed.

    Streaming: given `on_task`, each task still to run goes to it as soon as it is known (the
    ones the probe cannot settle first, then each changed feed as its answer comes) instead of
    into the list returned; given `on_settled`, so does each settled status. Once `stop` is
    set, the probe ends within a second and hands on nothing more."""
    by_name = {t.config.name: t for t in tasks}
    pending: list[SourceTask] = []
    settled: list[SourceStatus] = []
    to_run = on_task or pending.append
    to_settle = on_settled or settled.append
    pool = FetchPool(
        fetch.concurrency,
        fetch.per_host,
        fetch.source_deadline,
        fetch=lambda config, cursor: _probe(config, cursor, staging),
    )

    def changed(task: SourceTask, staged: str | HeldResponse | None = None) -> None:
        nonlocal on_change
        if on_change is not None:
            on_change()
            on_change = None
        to_run(replace(task, prefetched=staged or None))

    for task in tasks:
        if not probeable(task):
            to_run(task)
        elif task.config.type == "rss":
            pool.add(task.config, task.cursor, task.run_deadline_at)
        else:  # an export: a stat tells, at once, never behind the feeds' servers
            status = _settle_export(task.config, task.cursor)
            if status is None:
                changed(task)
            else:
                to_settle(status)
    told: dict[str, float] = {}  # slow servers named, and when to name them again
    try:
        while len(pool) and not (stop is not None and stop.is_set()):
            for line in pool.slow_notes(told, SLOW_NOTE):
                progress.say(line)
            for done in pool.finished(timeout=1.0):
                staged, status = done.result, done.status
                if isinstance(staged, str | HeldResponse):
                    changed(by_name[done.config.name], staged)
                else:
                    to_settle(status)
    finally:
        pool.close()
    return pending, settled


class ProbeThread:
    """`probe_sources` on a thread of its own, streaming: `send` gets each task for the
    workers as the probe finds it, `end` is called once the probe is over if it sent any
    (however it ended), and the settled sources' statuses gather in `settled` (each also goes
    to `on_settled`, on this thread).
    The caller waits for `first`, then consumes what is sent while the probe goes on waiting
    for slow servers; `check` raises what broke the probe, there."""

    def __init__(
        self,
        tasks: list[SourceTask],
        fetch: FetchConfig,
        staging: StagingFolder,
        send: Callable[[SourceTask], None],
        end: Callable[[], None],
        on_change: Callable[[], None] | None = None,
        on_settled: Callable[[SourceStatus], None] | None = None,
    ):
        self.settled: list[SourceStatus] = []
        self.sent = 0
        self._args = (tasks, fetch, staging, on_change)
        self._send, self._end, self._on_settled = send, end, on_settled
        self._first = threading.Event()  # a task was sent, or the probe is over
        self._stop = threading.Event()
        self._error: BaseException | None = None
        # A daemon: a hung server must not keep a run that failed (or was stopped) alive.
        self._thread = threading.Thread(target=self._run, name="pln-probe", daemon=True)

    def start(self) -> ProbeThread:
        self._thread.start()
        return self

    def first(self) -> bool:
        """Wait until the first task is sent (True) or the probe ended without one (False);
        raises what broke the probe."""
        while not self._first.wait(timeout=1.0):
            pass
        self.check()
        return self.sent > 0

    def check(self) -> None:
        """Raise the exception that ended the probe, if one did."""
        if self._error is not None:
            raise self._error

    def join(self) -> None:
        """Wait for the probe to end; raises what broke it."""
        while self._thread.is_alive():
            self._thread.join(timeout=1.0)
        self.check()

    def stop(self) -> None:
        """The run failed or was stopped: send nothing more (a fetch under way is left to its
        thread, a daemon, as the fetch pool leaves one past its deadline)."""
        self._stop.set()

    def _run(self) -> None:
        tasks, fetch, staging, on_change = self._args
        try:
            probe_sources(
                tasks,
                fetch,
                staging,
                on_change,
                on_task=self._task,
                on_settled=self._settle,
                stop=self._stop,
            )
        except BaseException as exc:  # noqa: BLE001 - raised again by check() in the caller
            self._error = exc
        try:
            if self.sent and not self._stop.is_set():
                self._end()  # after a failure too: the workers end, the caller raises
        except BaseException as exc:  # noqa: BLE001 - likewise
            self._error = self._error or exc
        finally:
            self._first.set()

    def _task(self, task: SourceTask) -> None:
        if self._stop.is_set():
            return
        self._send(task)
        self.sent += 1
        self._first.set()

    def _settle(self, status: SourceStatus) -> None:
        self.settled.append(status)
        if self._on_settled is not None:
            self._on_settled(status)


def probeable(task: SourceTask) -> bool:
    """Feeds the probe takes: a file (a stat tells whether it changed) or a URL (a conditional
    GET when read before). A URL never read is fetched here too and staged like a changed
    feed: the parent's probe thread is idle otherwise, and a worker that fetches while it
    curates pays for its fetch threads' GIL hand-offs (bench/bench_stages.py). Also the
    other sources that can tell from their files' stats that nothing changed (`Source.
    unchanged`: X's saved pages, chat exports), once read: the example's X and chat files
    started the workers, and spaCy, on every run before."""
    return may_settle(task.config) and (task.config.type == "rss" or task.cursor is not None)


def may_settle(config: SourceConfig) -> bool:
    """Whether the probe can settle the source once it was read: a feed, or a source that
    tells from its files' stats that nothing changed (`Source.tells_unchanged`)."""
    if config.type == "rss":
        return bool(config.options.get("path") or config.options.get("url"))
    try:
        return build_source(config).tells_unchanged
    except PlnError:
        return False  # the pipeline says what is wrong


def _settle_export(config: SourceConfig, cursor: dict | None) -> SourceStatus | None:
    """The status of an export whose files did not change (its own `not_modified`), or None
    for a worker to read it."""
    try:
        if not build_source(config).unchanged(cursor):
            return None
    except PlnError:
        return None
    return _unless_read(fetch_once(config, cursor))


def _unless_read(fetched: tuple[FetchResult, SourceStatus]) -> SourceStatus | None:
    """The status of a fetch that read nothing; None when the source changed between the
    stat that said it had not and the fetch (its items go to a worker, never dropped here)."""
    result, status = fetched
    return status if not status.ok or result.not_modified else None


def _probe(config: SourceConfig, cursor: dict | None, staging: StagingFolder):
    """(the staged or held response, None) for a changed feed ("" for a file, which the worker
    reads itself); (None, status) for a settled one, or for a changed feed that answered after
    the run ended (nobody takes that status)."""
    known = cursor or {}  # a feed never read has no cursor: the source gets None, as ever
    try:
        source = build_source(config)
    except PlnError:
        return fetch_once(config, cursor)  # the same one-line error the pipeline would give
    if getattr(source, "path", None):
        if _file_unchanged(source.path, known):
            fetched = fetch_once(config, cursor)  # the source sees the same and says so
            if _unless_read(fetched) is not None:
                return fetched
        return _staged_marker(), None
    answer: Response | SourceError
    try:
        answer = HttpFetcher(
            config.name,
            timeout=source.timeout,
            max_bytes=source.max_bytes,
            user_agent=source.user_agent,
        ).get(source.url, _conditional_headers(known))
    except SourceError as exc:
        answer = exc
    changed = isinstance(answer, Response) and not answer.not_modified
    if changed and (
        "sha256" not in known or hashlib.sha256(answer.body).hexdigest() != known["sha256"]
    ):
        staged = staging.stage(config.name, source.url, answer)
        if staged is None:
            late = f"source {config.name!r}: answered after the run ended"
            return None, failed_status(config, late, cursor)
        return staged, None
    with answering_from({source.url: answer}):
        return fetch_once(config, cursor)


def _staged_marker() -> str:
    """A changed file is read by the worker itself: nothing to stage."""
    return ""


def _file_unchanged(path, cursor: dict) -> bool:
    try:
        stat = os.stat(path)
    except OSError:
        return False  # the source reports it
    return stat.st_mtime_ns == cursor.get("mtime_ns") and stat.st_size == cursor.get("size")


def _conditional_headers(cursor: dict) -> dict[str, str]:
    """What the feed source sends (sources/rss.py), so the server answers the same."""
    headers = {}
    if cursor.get("etag"):
        headers["If-None-Match"] = cursor["etag"]
    if cursor.get("last_modified"):
        headers["If-Modified-Since"] = cursor["last_modified"]
    return headers
