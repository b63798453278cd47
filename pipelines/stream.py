"""The streaming job: raw-items topic -> Curate -> DuckDB, topic feeds and the curated-items topic.

A real Beam streaming pipeline (`ReadRawRecords` is unbounded). Exactly-once effect in DuckDB:
after each poll the reader emits a `Mark` with the next Kafka offsets; the writer commits the
poll's items, decisions, dead letters and source statuses *and those offsets* in one DuckDB
transaction, and a restart seeks to the stored offsets. The curated topic is written before that
commit, so a crash can repeat a curated message (same key, same value) but never lose one.

The writer opens the DuckDB file only while it writes (a few ms per poll), so `pln sql` and
other readers can open it between writes.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pyarrow as pa

from pln import payload, progress
from pln.config import Config
from pln.errors import PlnError
from pln.filters.curator import Curator
from pln.filters.stories import story_keys
from pln.lock import RunLock
from pln.record import DeadLetter, Decision, Item, SourceStatus
from pln.sinks.store import Store

from .batch import new_run_id
from .curate import Curate, CuratedBatch
from .kafka_io import (
    KafkaSettings,
    Mark,
    ReadRawRecords,
    ReadRawRecordsXlang,
    ReliableProducer,
    ensure_topics,
)
from .runner import pipeline_options, run_to_completion

log = logging.getLogger("pln.stream")

OFFSETS_DDL = """
CREATE TABLE IF NOT EXISTS stream_offsets (
    topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,        -- the first offset not yet written
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
)"""


class StreamStore(Store):
    """The store plus the Kafka offsets the stream has written, committed with the rows."""

    def __init__(self, path: str | Path, read_only: bool = False):
        super().__init__(path, read_only)
        if not read_only:
            self.con.execute(OFFSETS_DDL)

    def offsets(self, topic: str) -> dict[tuple[str, int], int]:
        """Where the stream resumes: next offset per partition of `topic`."""
        try:
            rows = self.con.execute(
                "SELECT kafka_partition, next_offset FROM stream_offsets WHERE topic = ?", [topic]
            ).fetchall()
        except Exception:  # a read-only store made before the stream ever ran
            return {}
        return {(topic, partition): offset for partition, offset in rows}

    def commit_poll(
        self,
        items: list[Item],
        decisions: list[Decision],
        dead_letters: list[DeadLetter],
        statuses: list[SourceStatus],
        offsets: dict[tuple[str, int], int],
        run_id: str,
        intervals: dict[str, float],
        keys: pa.Table | None = None,
    ) -> None:
        """Rows, their stories (given `keys`, the items' story keys) and the offsets they came
        from, in one transaction."""
        with self.transaction():
            self.write(items, decisions, dead_letters, run_id=run_id, story_keys=keys)
            self.update_sources(statuses, run_id=run_id, intervals=intervals)
            if offsets:
                rows = sorted(offsets.items())
                table = pa.table(
                    {
                        "topic": [t for (t, _), _ in rows],
                        "kafka_partition": pa.array([p for (_, p), _ in rows], pa.int32()),
                        "next_offset": [o for _, o in rows],
                        "updated_at": [datetime.now(UTC)] * len(rows),
                    }
                )
                self.con.register("new_offsets", table)
                self.con.execute("INSERT OR REPLACE INTO stream_offsets SELECT * FROM new_offsets")
                self.con.unregister("new_offsets")


def open_store_when_free(path: Path, say=log.warning, patience: float = 2.0) -> StreamStore:
    """Open the store for writing, waiting while a reader (e.g. `pln sql`) holds the file."""
    delay, waited, told = 0.02, 0.0, False
    while True:
        try:
            return StreamStore(path)
        except PlnError as exc:
            if "being written by" not in str(exc):
                raise
            if waited >= patience and not told:
                say(f"{exc} (waiting)")
                told = True
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 1.0)


class PollBuffer:
    """Curated items and dead letters waiting for the Mark of their poll."""

    def __init__(self):
        self.marks: list[Mark] = []
        self.items: dict[str, Item] = {}
        self.decisions: dict[str, list[Decision]] = {}
        self.dead: dict[str, list[DeadLetter]] = {}  # by item id

    def add(self, element) -> None:
        if isinstance(element, CuratedBatch):
            for item in element.items:
                self.items[item.id] = item
                self.decisions.setdefault(item.id, [])
            for d in element.decisions:
                self.decisions[d.item_id].append(d)
        else:  # dead letters of the Curate step; ref is "item:<id>"
            for dead in element:
                self.dead.setdefault(dead.ref.removeprefix("item:"), []).append(dead)


# Per worker process: the buffer the collecting steps and the writer of one pipeline share.
# All three run fused in the same stage as the poll (no Flatten or GroupByKey in between: on
# local runners those would hold elements back until the unbounded read ends).
_BUFFERS: dict[str, PollBuffer] = {}


def _buffer(token: str) -> PollBuffer:
    return _BUFFERS.setdefault(token, PollBuffer())


class CollectFn(beam.DoFn):
    """Puts curated batches and Curate's dead letters into the writer's buffer."""

    def __init__(self, token: str):
        self.token = token

    def process(self, element):
        _buffer(self.token).add(element)


class StreamWriterFn(beam.DoFn):
    """On each Mark, commits the Marks whose items have all arrived, in poll order.

    A Mark is complete when every item id it lists arrived, curated or as a dead letter of the
    Curate step. Its items, dead letters, source statuses and offsets go to DuckDB in one
    transaction, so the stored offsets never run ahead of the stored rows.
    """

    def __init__(
        self, config: Config, settings: KafkaSettings, run_id: str, token: str, feed_every=1.0
    ):
        self.config, self.settings, self.run_id, self.token = config, settings, run_id, token
        self.feed_every = feed_every
        self.intervals = {s.name: s.interval for s in config.sources}

    def setup(self):
        self.producer = (
            ReliableProducer(self.settings, say=log.warning)
            if self.settings.curated_topic
            else None
        )
        self.feeds_stale = False
        self.last_render = 0.0
        self.ticker = progress.Ticker("stream: written", every=2.0)

    def teardown(self):
        if getattr(self, "producer", None) is not None:
            self.producer.close()

    def process(self, mark: Mark):
        buffer = _buffer(self.token)
        buffer.marks.append(mark)
        buffer.marks.sort(key=lambda m: m.seq)
        self._commit_ready(buffer)

    def _commit_ready(self, buf: PollBuffer) -> None:
        ready: list[Mark] = []
        for mark in buf.marks:
            if not all(i in buf.items or i in buf.dead for i in mark.item_ids):
                break
            ready.append(mark)
        del buf.marks[: len(ready)]
        ids = {i for m in ready for i in m.item_ids}
        items = [buf.items.pop(i) for i in ids if i in buf.items]
        decisions = [d for i in ids for d in buf.decisions.pop(i, [])]
        dead = [d for i in ids for d in buf.dead.pop(i, [])]
        dead += [d for m in ready for d in m.dead_letters]
        statuses = [s for m in ready for s in m.statuses]
        offsets: dict[tuple[str, int], int] = {}
        for mark in ready:
            offsets.update(mark.offsets)

        self.feeds_stale = self.feeds_stale or bool(items)
        render_now = self.feeds_stale and time.monotonic() - self.last_render >= self.feed_every
        if not (offsets or dead or statuses or render_now):
            return
        self._publish(items, decisions)
        with open_store_when_free(self.config.outputs.duckdb) as store:
            if offsets or dead or statuses:
                store.commit_poll(
                    items,
                    decisions,
                    dead,
                    statuses,
                    offsets,
                    self.run_id,
                    self.intervals,
                    story_keys(items),
                )
                self.ticker.add(len(items))
            if render_now:
                self._render_feeds(store)

    def _publish(self, items: list[Item], decisions: list[Decision]) -> None:
        if self.producer is None:
            return
        kept: dict[str, list[Decision]] = {}
        for d in decisions:
            if d.kept:
                kept.setdefault(d.item_id, []).append(d)
        messages = [
            (it.id.encode(), payload.encode_curated(it, kept[it.id]))
            for it in items
            if it.id in kept
        ]
        if messages:
            self.producer.send_all(self.settings.curated_topic, messages)

    def _render_feeds(self, store: Store) -> None:
        from pln.sinks.feeds import render_feeds

        render_feeds(store, self.config)
        self.feeds_stale = False
        self.last_render = time.monotonic()


def build_stream_pipeline(
    pipeline: beam.Pipeline,
    config: Config,
    settings: KafkaSettings,
    start_offsets: dict[tuple[str, int], int],
    run_id: str,
    stop_after: float | None = None,
) -> None:
    """Wire ReadRaw -> Curate -> one writer step onto `pipeline`."""
    if settings.read == "xlang":
        read = pipeline | "ReadRaw" >> ReadRawRecordsXlang(settings)
    else:
        read = pipeline | "ReadRaw" >> ReadRawRecords(
            settings, start_offsets, stop_after=stop_after
        )
    token = uuid.uuid4().hex
    curated = read.items | "Curate" >> Curate(Curator.for_config(config), reshuffle=False)
    curated.curated | "Collect" >> beam.ParDo(CollectFn(token))
    curated.dead | "CollectDead" >> beam.ParDo(CollectFn(token))
    read.marks | "Write" >> beam.ParDo(StreamWriterFn(config, settings, run_id, token))


def make_stream_pipeline(beam_args=()) -> beam.Pipeline:
    """A streaming pipeline on the in-process runner, unless `--runner` is among `beam_args`.

    Beam's DirectRunner would first try to download Prism; the in-process FnApiRunner runs the
    unbounded read live (one poll per bundle) and never touches the network.
    """
    from apache_beam.options.pipeline_options import StandardOptions

    options = pipeline_options(beam_args, streaming=True)
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    return beam.Pipeline(runner=FnApiRunner(), options=options)


@dataclass
class StreamSummary:
    run_id: str
    seconds: float


def run_stream(
    config: Config,
    settings: KafkaSettings,
    *,
    beam_args=(),
    stop_after: float | None = None,
    say=progress.say,
) -> StreamSummary:
    """Run until stopped (or for `stop_after` seconds). Holds the run lock of the database."""
    started = time.perf_counter()
    db = config.outputs.duckdb
    with RunLock(db):
        run_id = f"stream-{new_run_id()}"
        with StreamStore(db) as store:
            store.begin_run(run_id, str(config.path))
            start_offsets = store.offsets(settings.raw_topic)
        ensure_topics(settings, [settings.raw_topic, settings.curated_topic], say=log.warning)
        resumed = sum(start_offsets.values())
        say(
            f"stream: {settings.raw_topic} @ {settings.bootstrap} -> {db}"
            + (f" (resuming after {resumed:,} messages)" if resumed else "")
        )
        pipeline = make_stream_pipeline(tuple(beam_args) or config.runner.beam_args)
        build_stream_pipeline(pipeline, config, settings, start_offsets, run_id, stop_after)
        run_to_completion(pipeline)
        seconds = time.perf_counter() - started
        with StreamStore(db) as store:
            store.finish_run(run_id, {"seconds": round(seconds, 3)})
    return StreamSummary(run_id, seconds)
