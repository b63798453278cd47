"""Before the pipeline: ask every feed, at once, whether it changed (no Beam, no NLP here).

Most runs of a feed reader find most feeds unchanged: an HTTP 304, a file with the same size
and mtime. Starting Beam and spaCy to learn that costs seconds, so the batch job first probes
the feed sources concurrently on the driver (`FetchPool`: bounded, per-host limits, the same
deadlines). A feed that did not change, or that failed, is settled right there with the status
its source gives (the source itself runs, answered from the probe, so cursors and messages are
exactly its own). Only feeds with new bytes, and sources of other types, go on to the
pipeline; a changed feed's response is staged for the worker (sources/prefetch.py), so no server
is asked twice. When nothing changed the pipeline does not start at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pln.config import FetchConfig, SourceConfig
from pln.errors import PlnError, SourceError
from pln.record import SourceStatus
from pln.sources.fetch_pool import FetchPool
from pln.sources.http import HttpFetcher, Response, answering_from
from pln.sources.prefetch import stage_response
from pln.sources.registry import build_source, fetch_once


@dataclass(frozen=True)
class SourceTask:
    """What a worker needs to fetch one source: its config, its last cursor, when the run's
    fetching must end (unix time; None: no run deadline) and a staged response to parse."""

    config: SourceConfig
    cursor: dict[str, Any] | None = None
    run_deadline_at: float | None = None
    prefetched: str | None = None  # where the probe staged the response (prefetch.py)


def probe_sources(
    tasks: list[SourceTask],
    fetch: FetchConfig,
    staging: str,
    on_change: Callable[[], None] | None = None,
) -> tuple[list[SourceTask], list[SourceStatus]]:
    """(tasks still to run in the pipeline, statuses of the sources settled here).
    `on_change` is called when the first feed turns out to have changed."""
    by_name = {t.config.name: t for t in tasks}
    pending: list[SourceTask] = []
    settled: list[SourceStatus] = []
    pool = FetchPool(
        fetch.concurrency,
        fetch.per_host,
        fetch.source_deadline,
        fetch=lambda config, cursor: _probe(config, cursor, staging),
    )
    for task in tasks:
        if probeable(task):
            pool.add(task.config, task.cursor, task.run_deadline_at)
        else:
            pending.append(task)
    for done in pool.drain():
        staged, status = done.result, done.status
        if isinstance(staged, str):
            pending.append(replace(by_name[done.config.name], prefetched=staged or None))
            if on_change is not None:
                on_change()
                on_change = None
        else:
            settled.append(status)
    return pending, settled


def probeable(task: SourceTask) -> bool:
    """Feeds the probe may settle: a file (a stat tells), or a URL read before (a conditional
    GET). A URL never read has nothing to settle: a worker fetches it while others curate."""
    config = task.config
    if config.type != "rss":
        return False
    return bool(config.options.get("path") or (config.options.get("url") and task.cursor))


def _probe(config: SourceConfig, cursor: dict | None, staging: str):
    """(staged response path, None) for a changed feed; (None, status) for a settled one."""
    cursor = cursor or {}
    try:
        source = build_source(config)
    except PlnError:
        return fetch_once(config, cursor)  # the same one-line error the pipeline would give
    if getattr(source, "path", None):
        if _file_unchanged(source.path, cursor):
            return fetch_once(config, cursor)  # the source sees the same and says so
        return _staged_marker(), None
    answer: Response | SourceError
    try:
        answer = HttpFetcher(
            config.name,
            timeout=source.timeout,
            max_bytes=source.max_bytes,
            user_agent=source.user_agent,
        ).get(source.url, _conditional_headers(cursor))
    except SourceError as exc:
        answer = exc
    changed = isinstance(answer, Response) and not answer.not_modified
    if changed and hashlib.sha256(answer.body).hexdigest() != cursor.get("sha256"):
        return stage_response(staging, config.name, source.url, answer), None
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
