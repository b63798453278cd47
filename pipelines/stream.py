"""`pln stream`: the raw-items topic -> curation -> DuckDB, topic feeds and the curated topic.

Two engines share the curation core (`polls.curate_poll`) and the writer (`StreamWriter`):

- `local` (default): curate worker processes and one loader that holds the database
  (local_stream.py). Meant to be left running: memory stays flat and an idle stream sleeps in
  Kafka polls.
- `beam`: the same steps as a Beam streaming pipeline (beam_stream.py), for Flink or Dataflow
  (`-- --runner=FlinkRunner ...`). Without a `--runner` it uses Beam's in-process runner, which
  is a testing runner: fine for a try, not for a service.

Delivery: DuckDB gets every raw record's effect exactly once (rows and offsets commit in one
transaction, writes are upserts by id). The curated topic is at-least-once: a kept item is
published before its rows commit, so a crash can repeat a message (same key, same value),
never lose one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from pln import progress
from pln.config import Config
from pln.errors import PlnError
from pln.lock import RunLock

from .config_watch import ConfigWatch
from .heartbeat import Heartbeat
from .kafka_io import KafkaSettings, ensure_topics
from .run_id import new_run_id
from .stream_writer import StreamWriter

ENGINES = ("local", "beam")


@dataclass
class StreamSummary:
    run_id: str
    seconds: float
    stats: dict
    edited: Config | None = None  # stopped for an edited config: start again with this one
    stopped: bool = False  # asked to stop (SIGTERM, local_stream.stop_running)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def run_stream(
    config: Config,
    settings: KafkaSettings,
    *,
    engine: str = "local",
    workers: int | None = None,
    beam_args=(),
    stop_after: float | None = None,
    until_idle: float | None = None,
    say=progress.say,
    watch_config: bool = False,
) -> StreamSummary:
    """Run until stopped, for `stop_after` seconds, or until nothing new arrived for
    `until_idle` seconds (a backlog drained). Holds the run lock of the database.
    `watch_config`: also stop when the config file is edited into another valid config,
    which the summary carries (`edited`), or when `pln train` saved a new model (`edited` is
    then the same config); the Beam engine notices it where its read runs."""
    if engine not in ENGINES:
        raise PlnError(f"unknown stream engine {engine!r}; use one of {', '.join(ENGINES)}")
    workers = workers or default_workers()
    started = time.perf_counter()
    edited, stopped = None, False
    db = config.outputs.duckdb
    with RunLock(db, "pln stream"):
        run_id = f"stream-{new_run_id()}"
        ensure_topics(settings, [settings.raw_topic, settings.curated_topic], say=say)
        heartbeat = Heartbeat(db, run_id=run_id, engine=engine, workers=workers)
        writer = StreamWriter(config, run_id, hold=engine == "local", heartbeat=heartbeat)
        store = writer.open()
        store.begin_run(run_id, str(config.path))
        from .scoring_state import scored_otherwise

        scored_otherwise(store, config)  # a new store notes what its items are scored with
        resume = store.resume_points(settings.raw_topic)
        # The feeds show this config from the start (a topic added or removed, a new title),
        # not only after the first item arrives.
        writer.feeds_stale = True
        if engine == "beam":
            writer.refresh(force=True)
            writer.close()  # the pipeline's write step opens the database per commit
        resumed = sum(resume.offsets.values())
        say(
            f"stream ({engine}, {workers} worker{'s' * (workers > 1)}): {settings.raw_topic} "
            f"@ {settings.bootstrap} -> {db}"
            + (f" (resuming after {progress.counted(resumed, 'message')})" if resumed else "")
        )
        heartbeat.beat(force=True, state="running", items_written=0, lag=None, broker="ok")
        try:
            if engine == "local":
                from .local_stream import LocalStream

                watch = ConfigWatch(config, say=say, models=True) if watch_config else None
                engine_run = LocalStream(config, settings, writer, resume, workers, watch)
                engine_run.run(stop_after, until_idle)
                stopped = engine_run.stopping.is_set()
                edited = None if stopped else engine_run.edited
            else:
                from .beam_stream import build_beam_stream

                pipeline = make_stream_pipeline(tuple(beam_args) or config.runner.beam_args)
                read_watch = ConfigWatch(config, models=True) if watch_config else None
                # Did the read end for an edit? The read says what it sees; this one is quiet.
                ended_for = ConfigWatch(config, say=lambda line: None, models=True)
                build_beam_stream(
                    pipeline, config, settings, resume, run_id, stop_after, until_idle=until_idle,
                    watch=read_watch,
                )  # fmt: skip
                from .runner import run_to_completion

                run_to_completion(pipeline)
                edited = ended_for.look() if watch_config else None
        finally:
            stats = writer.stats()
            seconds = time.perf_counter() - started
            failed = writer.failed  # a failed write (a full disk): its error says it all
            if not failed:
                writer.hold = True
                writer.feeds_stale = writer.snapshot_stale = True
                writer.refresh(force=True)
                writer.open().finish_run(run_id, {"seconds": round(seconds, 3), **stats})
            writer.close()
            # Starting again with an edited config takes seconds: `pln health` stays green.
            state = "stopped" if edited is None else "restarting"
            if not failed:  # (a stale heartbeat says the stream is not running)
                heartbeat.beat(force=True, state=state, **stats)
    return StreamSummary(run_id, seconds, stats, edited, stopped)


def make_stream_pipeline(beam_args=(), workers: int = 1):
    """A streaming pipeline on the in-process runner, unless `--runner` is among `beam_args`.

    Beam's DirectRunner would first try to download Prism; the in-process FnApiRunner runs the
    unbounded read live (one poll per bundle) and never touches the network. `workers > 1`
    runs the steps in that many worker processes (see runner.make_pipeline).
    """
    from .runner import make_pipeline

    return make_pipeline(beam_args, workers, streaming=True)
