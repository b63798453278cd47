"""The batch job: read every source, curate, write DuckDB, render the topic feeds."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
from pyarrow import fs as pafs

from pln import progress
from pln.config import Config
from pln.filters.curator import Curator
from pln.lock import RunLock
from pln.sinks.feeds import render_feeds
from pln.sinks.store import Store

from .curate import Curate
from .read import ReadSources, SourceTask
from .runner import make_pipeline, run_to_completion
from .write import WriteToStore


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
    """Where workers stage curated batches for the writer (see write.py)."""
    base = config.outputs.staging or f"{config.outputs.duckdb.resolve()}.staging"
    return f"{base.rstrip('/')}/{run_id}"


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def build_batch_pipeline(
    pipeline: beam.Pipeline, config: Config, tasks: list[SourceTask], run_id: str
) -> None:
    """Wire Read -> Curate -> Write onto `pipeline` (kept separate so tests can inspect it)."""
    # Spreading work over workers only pays when there is more than one.
    spread = config.runner.workers > 1 or bool(config.runner.beam_args)
    read = pipeline | "Sources" >> beam.Create(tasks, reshuffle=spread) | "Read" >> ReadSources()
    # Sources are spread over workers; their item batches stay where they were read, because
    # moving them costs more (pickling every item) than curating them in place.
    curated = read.items | "Curate" >> Curate(Curator.for_config(config), reshuffle=False)
    (
        (curated.curated, curated.dead, read.dead, read.status)
        | "Store"
        >> WriteToStore(
            str(config.outputs.duckdb),
            run_id,
            {s.name: s.interval for s in config.sources},
            staging_uri(config, run_id),
        )
    )


def run_batch(config: Config, *, full: bool = False) -> RunSummary:
    """Run the whole job once. `full` ignores the source cursors and re-reads everything.

    Raises RunInProgress (without touching anything) when another run holds the database.
    """
    with RunLock(config.outputs.duckdb):
        return _run_batch(config, full)


def _remove_staging(uri: str) -> None:
    """The writer removes the staged batches; this catches a run that failed before it."""
    fs, path = pafs.FileSystem.from_uri(uri)
    if fs.get_file_info(path).type != pafs.FileType.NotFound:
        fs.delete_dir(path)


def _run_batch(config: Config, full: bool) -> RunSummary:
    started = time.perf_counter()
    run_id = new_run_id()
    db_path = config.outputs.duckdb
    with Store(db_path) as store:
        store.begin_run(run_id, str(config.path))
        enabled = [src for src in config.sources if src.enabled]
        # A source whose config changed since it was last read is read now, whole.
        edited = store.note_source_configs({src.name: src.fingerprint for src in enabled})
        for name in edited:
            progress.say(f"… {name}: config changed, reading it again")
        cursors = {} if full else store.cursors()
        waiting = {} if full else backing_off(store, [src.name for src in enabled])
    tasks = []
    for src in config.sources:
        if src.enabled and src.name in waiting:
            until = waiting[src.name]
            progress.say(f"… {src.name}: failing, backing off until {until:%Y-%m-%d %H:%M %Z}")
        elif src.enabled:
            tasks.append(SourceTask(src, cursors.get(src.name)))

    progress.say(f"reading {len(tasks)} sources")
    pipeline = make_pipeline(config.runner.beam_args, config.runner.workers)
    build_batch_pipeline(pipeline, config, tasks, run_id)
    try:
        run_to_completion(pipeline)
    finally:
        _remove_staging(staging_uri(config, run_id))

    with Store(db_path) as store:
        stats = store.run_stats(run_id)
        stats["sources"]["backing_off"] = {name: at.isoformat() for name, at in waiting.items()}
        feeds = render_feeds(store, config)
        seconds = time.perf_counter() - started  # the whole job, feeds included
        stats["seconds"] = round(seconds, 3)
        store.finish_run(run_id, stats)
    return RunSummary(run_id, db_path, config.outputs.feeds_dir, seconds, stats, feeds)
