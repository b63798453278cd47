"""The batch job: read every source, curate, write DuckDB, render the topic feeds.

Feeds are first probed (pipelines/probe.py): a file's stat, a conditional GET, a first GET
for a feed never read.
With the local engine (the default) the probe runs on a thread beside the parent's writing
loop and hands each changed feed to the workers as its answer comes, so a slow or hung server
holds back only its own feed: the others are curated and written meanwhile. The parent waits
for the probe's first feed for the workers before it starts writing, so a run where nothing
changed never lets the crew load spaCy and never opens the write path. The Beam engine
(`runner.engine: beam`) builds its pipeline from a list: it waits for the whole probe first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pln import progress
from pln.backoff import shown_until
from pln.config import Config
from pln.errors import PlnError
from pln.lock import RunLock

from .run_id import new_run_id

if TYPE_CHECKING:
    from pln.record import SourceStatus
    from pln.sinks.store import Store
    from pln.sources.prefetch import StagingFolder

    from .local_batch import LocalBatch
    from .probe import SourceTask

log = logging.getLogger(__name__)

# Bodies of changed feeds the probe hands the local engine's workers in memory, a run; the
# rest are staged as files (sources/prefetch.py). It bounds what waits in the tasks queue.
HELD_BYTES = 64 * 2**20

# Beam, spaCy and the curation chain are imported only when a run has something to curate:
# a run where every feed answers 304 never pays for them. DuckDB (0.07 s), which only the
# parent needs, is imported after the local engine's crew has started loading spaCy, so both
# happen at once; Arrow too, unless the run surely curates (`_import_shared_modules`).


@dataclass
class RunSummary:
    run_id: str
    db_path: Path
    feeds_dir: Path
    seconds: float
    stats: dict[str, Any]
    feeds: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
            "database": str(self.db_path),
            "feeds_dir": str(self.feeds_dir),
            "feeds": [str(p) for p in self.feeds],
            **self.stats,
        }


def backing_off(store: Store, names: list[str]) -> dict[str, datetime]:
    """Failing sources among `names` whose next poll (backoff, Retry-After) is still ahead:
    name -> when."""
    rows = store.con.execute(
        """SELECT name, next_poll_at FROM sources
           WHERE NOT ok AND error_count > 0 AND next_poll_at > now()
             AND name IN (SELECT unnest($names)) ORDER BY name""",
        {"names": names},
    ).fetchall()
    return dict(rows)


def staging_uri(config: Config, run_id: str) -> str:
    """Where workers stage curated batches for the writer (see write.py); the probe stages
    responses beside it, in `<that>-prefetch`."""
    base = config.outputs.staging or f"{config.outputs.duckdb.resolve()}.staging"
    return f"{base.rstrip('/')}/{run_id}"


def sweep_staging(config: Config) -> int:
    """Remove what earlier runs left in the default staging folder (`<duckdb>.staging`): a run
    killed (kill -9, a power cut) never removed its folders. Call it under the run lock: then
    no other run stages there (`pln stream` takes the same lock, and stages nothing). A
    staging place set in `outputs.staging` is left alone: it may be shared by several
    databases, whose runs hold other locks. Returns the number of files removed."""
    if config.outputs.staging:
        return 0
    base = Path(f"{config.outputs.duckdb.resolve()}.staging")
    try:
        entries = list(base.iterdir())
    except OSError:
        return 0  # none yet, or unreadable: nothing this run can do about it
    files = 0
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                found = sum(len(names) for _, _, names in os.walk(entry))
                shutil.rmtree(entry)
            else:
                entry.unlink()
                found = 1
            files += found
    if files:
        progress.say(f"removed {progress.counted(files, 'staged file')} left by an earlier run")
    return files


def build_batch_pipeline(pipeline, config: Config, tasks: list[SourceTask], run_id: str) -> None:
    """Wire Read -> Curate -> Write onto `pipeline` (kept separate so tests can inspect it)."""
    import apache_beam as beam

    from pln.filters.curator import Curator

    from .curate import Curate
    from .read import ReadSources
    from .write import WriteToStore

    # Spreading work over workers only pays when there is more than one.
    spread = config.runner.workers > 1 or bool(config.runner.beam_args)
    read = (
        pipeline
        | "Sources" >> beam.Create(tasks, reshuffle=spread)
        | "Read" >> ReadSources(fetch=config.fetch)
    )
    # Sources are spread over workers; their item batches stay where they were read, because
    # moving them costs more (pickling every item) than curating them in place.
    curated = read.items | "Curate" >> Curate(Curator.for_config(config), reshuffle=False)
    (
        (curated.curated, curated.dead, read.dead, read.status)
        | "Store"
        >> WriteToStore(
            str(config.outputs.duckdb),
            run_id,
            config.intervals,
            staging_uri(config, run_id),
        )
    )


def run_batch(config: Config, *, full: bool = False) -> RunSummary:
    """Run the whole job once. `full` ignores the source cursors and re-reads everything.

    Raises RunInProgress (without touching anything) when another run holds the database.
    """
    with RunLock(config.outputs.duckdb, "pln run"):
        return _run_batch(config, full)


def _report(statuses) -> None:
    for status in statuses:
        if status.ok:
            progress.say(f"✓ {status.source}: not modified")
        else:
            error = status.error.removeprefix(f"source {status.source!r}: ")
            progress.say(f"✗ {status.source}: {error}")


def _run_pipeline(config: Config, tasks: list[SourceTask], run_id: str) -> None:
    """The Beam engine's run of `tasks`."""
    from .runner import make_pipeline, run_to_completion

    pipeline = make_pipeline(config.runner.beam_args, config.runner.workers)
    build_batch_pipeline(pipeline, config, tasks, run_id)
    try:
        run_to_completion(pipeline)
    finally:
        # The writer removes the staged batches; this catches a run that failed before it.
        from pln.sources.prefetch import remove_staged

        remove_staged(staging_uri(config, run_id))


def _local_engine(config: Config):
    """The local engine's processes, not started yet (pipelines/local_batch.py); None for the
    Beam engine."""
    if config.runner.uses_beam:
        return None
    from .local_batch import LocalBatch

    return LocalBatch(config)


def _surely_curates(config: Config) -> bool:
    """Whether this run will have items to curate whatever the store says: it is the first
    (no database yet) or reads a source the probe cannot settle. Then spaCy loads at once,
    while the store is read; otherwise only once a source is known to need it, so a run where
    every feed answers 304 and every saved export is as it was never loads it."""
    from .probe import may_settle

    enabled = [src for src in config.sources if src.enabled]
    return bool(enabled) and (
        not config.outputs.duckdb.exists() or not all(map(may_settle, enabled))
    )


def _import_shared_modules() -> None:
    """Arrow with its compute functions, and numpy, which it imports, before the crew is forked,
    for a run that will surely curate: both processes need them (the parent to write, the
    workers to build their tables; spaCy imports numpy too). Imported once here they are
    shared, where each process imported them (0.12 s, and 0.03-0.1 s more for the compute
    functions) for itself; the crew is ready as soon as before, since it no longer imports
    them. 10 alternating runs from files: 2.62 -> 2.55 s, CPU 4.13 -> 3.98 s. A run that may
    find nothing changed forks a held crew first and imports them only when it writes.
    """
    import pyarrow.compute  # noqa: F401


def _run_batch(config: Config, full: bool) -> RunSummary:
    started = time.perf_counter()
    run_id = new_run_id()
    crew = _local_engine(config)
    try:
        if crew is not None:
            curates = _surely_curates(config)
            if curates:
                _import_shared_modules()
            # Forked now, before the probe's threads exist; held until a feed has changed.
            crew.start(held=not curates)
        # What the run decides items with (`_finish`): taken while the crew is still importing
        # spaCy, before it looks for the model, and not before the fork (it imports DuckDB).
        scoring = _scoring_key(config)
        return _read_and_write(config, full, run_id, started, crew, scoring)
    finally:
        if crew is not None:
            crew.stop()


def _read_and_write(
    config: Config, full: bool, run_id: str, started: float, crew, scoring: str
) -> RunSummary:
    # The feeds' modules too: imported now, while the crew loads spaCy, they cost the run's
    # end nothing, where they took 7-10 ms after the final write, on one core.
    from pln.sinks import feeds_state  # noqa: F401
    from pln.sinks.store import Store
    from pln.sources.prefetch import StagingFolder

    from .probe import SourceTask, probeable
    from .scoring_state import scored_otherwise

    sweep_staging(config)  # under the run lock (run_batch)
    db_path = config.outputs.duckdb
    with Store(db_path) as store:
        store.begin_run(run_id, str(config.path))
        scored_otherwise(store, config)  # a new store notes what its items will be scored with
        enabled = [src for src in config.sources if src.enabled]
        store.forget_unconfigured_sources([src.name for src in config.sources])
        # A source whose config changed since it was last read is read now, whole.
        edited = store.note_source_configs({src.name: src.fingerprint for src in enabled})
        for name in edited:
            progress.say(f"… {name}: config changed, reading it again")
        cursors = store.cursors(whole=full)
        waiting = {} if full else backing_off(store, [src.name for src in enabled])
    tasks = []
    run_deadline_at = time.time() + config.fetch.deadline if config.fetch.deadline else None
    now = datetime.now(UTC)
    for src in config.sources:
        if src.enabled and src.name in waiting:
            until = shown_until(waiting[src.name], now)
            progress.say(f"… {src.name}: failing, backing off until {until}")
        elif src.enabled:
            tasks.append(SourceTask(src, cursors.get(src.name), run_deadline_at))

    progress.say(f"reading {progress.counted(len(tasks), 'source')}")
    if crew is not None and not all(map(probeable, tasks)):
        crew.release()  # a source the probe cannot settle: it will need a worker
    # The local engine's workers take the probe's responses in memory, up to HELD_BYTES.
    held = HELD_BYTES if crew is not None else 0
    prefetch = StagingFolder(f"{staging_uri(config, run_id)}-prefetch", hold_bytes=held)
    try:
        # The store is not held open while the probe waits on servers (readers may want it;
        # the local engine's writing loop lets go of it when nothing comes for a second).
        # The crew loads spaCy from the first changed feed on, while the probe goes on.
        if crew is None:
            settled = _probe_then_run(config, tasks, run_id, prefetch)
        else:
            settled = _probe_while_running(config, tasks, run_id, prefetch, crew)
        written_to = crew.take_store() if crew is not None else None
        with written_to or Store(db_path) as store:
            store.update_sources(settled, run_id=run_id, intervals=config.intervals)
            # A renamed source's decisions end once its items come under the new name.
            store.forget_gone_sources({s.name for s in config.sources}, run_id, run_only=True)
            return _finish(store, config, run_id, waiting, started, scoring)
    finally:
        prefetch.end()  # a fetch given up on that answers later stages nothing


def _probe_then_run(
    config: Config, tasks: list[SourceTask], run_id: str, prefetch: StagingFolder
) -> list[SourceStatus]:
    """The Beam engine: the whole probe, then the pipeline over the feeds that changed, if
    any. Returns the settled sources' statuses still to record."""
    from pln.sinks.store import Store

    from .probe import probe_sources

    tasks, settled = probe_sources(tasks, config.fetch, prefetch)
    _report(settled)
    if not tasks:
        return settled  # nothing changed: no pipeline, and the caller's store finishes
    with Store(config.outputs.duckdb) as store:
        store.update_sources(settled, run_id=run_id, intervals=config.intervals)
    _run_pipeline(config, tasks, run_id)
    return []


def _probe_while_running(
    config: Config,
    tasks: list[SourceTask],
    run_id: str,
    prefetch: StagingFolder,
    crew: LocalBatch,
) -> list[SourceStatus]:
    """The local engine: the probe, on a thread, hands each feed for the workers over as it
    finds it, and this thread writes what they send meanwhile; it starts that only at the
    first such feed, so a run where nothing changed never needs the crew. Returns the settled
    sources' statuses, to record after the workers' (the probe has ended by then: the
    workers end at its end)."""
    from . import probe

    thread = probe.ProbeThread(
        tasks,
        config.fetch,
        prefetch,
        send=crew.add,
        end=crew.end_tasks,
        on_change=crew.release,
        # As each answer comes. The writing loop prints too; each line is one write of a
        # whole line (pln/progress.py), so the two threads' lines never mix.
        on_settled=lambda status: _report([status]),
    ).start()
    try:
        if thread.first():
            crew.write(run_id, check=thread.check)
        thread.join()
    except BaseException as exc:
        thread.stop()  # a failed or stopped run hands the crew nothing more
        if isinstance(exc, Exception):  # not on Ctrl-C: that stops at once
            _keep_settled(config, run_id, list(thread.settled))
        raise
    return thread.settled


def _keep_settled(config: Config, run_id: str, settled: list[SourceStatus]) -> None:
    """A run that failed after the probe settled some feeds still records them, as it did when
    the probe ran first: a failing feed counts toward its back-off, a 304 is noted."""
    from pln.sinks.store import Store

    if not settled:
        return
    # The run's own error is the one to tell.
    with contextlib.suppress(PlnError, OSError), Store(config.outputs.duckdb, wait=5) as store:
        store.update_sources(settled, run_id=run_id, intervals=config.intervals)


def _finish(
    store: Store,
    config: Config,
    run_id: str,
    waiting: dict[str, datetime],
    started: float,
    scoring: str,
) -> RunSummary:
    """Summarize the run and render the topic feeds (unless nothing they show changed).
    `scoring`: what the run decided items with (`_scoring_key` when it started)."""
    from pln.sinks.feeds_state import render_feeds_if_changed

    from .scoring_state import note_scored, rescored_by, scored_otherwise

    stats = store.run_stats(run_id)
    stats["sources"]["backing_off"] = {name: at.isoformat() for name, at in waiting.items()}
    enabled = {src.name for src in config.sources if src.enabled}
    moved = moved_feeds(store)
    stats["sources"]["moved"] = {name: url for name, url in moved.items() if name in enabled}
    stats["sources"]["disabled"] = [src.name for src in config.sources if not src.enabled]
    if scored_otherwise(store, config):  # items stored before an edit keep their decisions,
        # unless the run read every one again (`--full`, or sources whose config changed), with
        # what the config says now: a model saved since the run started is not in its decisions
        if scoring == _scoring_key(config) and rescored_by(store, run_id):
            note_scored(store, config)
        else:
            stats["rescore_due"] = True
    if config.outputs.keep_days:
        _forget_if_due(store, config, stats)
    feeds, _, removed = render_feeds_if_changed(store, config)
    if removed:
        stats["feeds_removed"] = removed
    seconds = time.perf_counter() - started  # the whole job, feeds included
    stats["seconds"] = round(seconds, 3)
    store.finish_run(run_id, stats)
    feeds_dir = config.outputs.feeds_dir
    return RunSummary(run_id, config.outputs.duckdb, feeds_dir, seconds, stats, feeds)


def _scoring_key(config: Config) -> str:
    from .scoring_state import scoring_key

    return scoring_key(config)


def moved_feeds(store: Store) -> dict[str, str]:
    """Feeds that permanent redirects now send elsewhere: name -> the new URL (masked like every
    URL pln shows). pln never rewrites the config: the user updates it."""
    from pln.sinks.store_sources import moved_sources

    moved = moved_sources(store.con)
    if not moved:
        return {}
    from pln.sources.http import public_url

    return {name: public_url(url) for name, url in moved.items()}


def _forget_if_due(store: Store, config: Config, stats: dict[str, Any]) -> None:
    """`outputs.keep_days`: forget old items once a day. The run's items are written by now, so
    a forgetting that fails (out of memory, a full disk) is a warning: the feeds still render."""
    from pln.sinks.retention import forget_if_due

    try:
        forgotten = forget_if_due(store, config)
    except PlnError as exc:
        log.warning("old items not forgotten this time: %s", exc)
        stats["forget_error"] = str(exc)
        return
    if forgotten is not None:
        stats["forgotten"] = forgotten.as_dict(config.outputs.keep_days)
