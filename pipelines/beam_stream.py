"""The streaming job as a Beam pipeline, for Flink, Dataflow or any portable runner.

```
ReadRaw (one Poll per poll) -> Curate (curate_poll) -> Write (publish kept, commit rows+offsets)
```
Each element carries a whole poll, its items and the offsets they came from, so no step needs
another step's state: the steps may run fused in one process or apart on different workers
(`spread=True` puts a Reshuffle between them, which is how the tests prove it). Polls may reach
the writer in any order; the offset ledger (sinks/stream_store.py) stores them so that a
restart resumes after the last poll whose predecessors are all stored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import apache_beam as beam

from pln.config import Config
from pln.filters.curator import Curator
from pln.sinks.stream_store import ResumePoints

from .batches import BatchCoder
from .config_watch import ConfigWatch
from .kafka_io import KafkaSettings, ReliableProducer
from .polls import CuratedPoll, Poll, curate_poll, decode_records, kept_messages
from .raw_reader import RawReader
from .stream_writer import PollTables, StreamWriter

log = logging.getLogger("pln.stream")

beam.coders.registry.register_coder(Poll, BatchCoder)
beam.coders.registry.register_coder(CuratedPoll, BatchCoder)


class _PollsRestriction(beam.transforms.core.RestrictionProvider):
    """Position n = the n-th poll. Never split: one reader assigns itself every partition."""

    def initial_restriction(self, element):
        from apache_beam.io.restriction_trackers import OffsetRange

        return OffsetRange(0, 2**62)  # practically for ever

    def create_tracker(self, restriction):
        from apache_beam.io.restriction_trackers import OffsetRestrictionTracker

        return OffsetRestrictionTracker(restriction)

    def split(self, element, restriction):
        yield restriction

    def restriction_size(self, element, restriction):
        return 1


_POLLS = beam.DoFn.RestrictionParam(_PollsRestriction())


@beam.DoFn.unbounded_per_element()
class PollKafkaFn(beam.DoFn):
    """A splittable DoFn that polls the raw topic once per bundle (RawReader), for ever or for
    `stop_after` seconds, and checkpoints after each poll so its output moves on at once."""

    def __init__(
        self,
        settings: KafkaSettings,
        resume: ResumePoints,
        stop_after: float | None = None,
        until_idle: float | None = None,
        pause: float = 0.02,
        watch: ConfigWatch | None = None,
    ):
        self.settings, self.resume, self.until_idle = settings, resume, until_idle
        self.stop_at = time.time() + stop_after if stop_after else None
        self.pause, self.watch = pause, watch

    def setup(self):
        self.reader = RawReader(
            self.settings,
            self.resume,
            on_out_of_range=self.settings.on_out_of_range,
        )
        self.saw_records, self.last_records = False, time.monotonic()

    def teardown(self):
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.close()

    def process(self, _impulse, tracker=_POLLS):
        from apache_beam.utils.timestamp import Duration

        position = tracker.current_restriction().start
        if self._done():
            tracker.try_claim(tracker.current_restriction().stop - 1)  # done
            return
        if not tracker.try_claim(position):
            return
        poll = self.reader.poll(timeout_ms=100)
        if not poll.empty:
            self.saw_records, self.last_records = True, time.monotonic()
            yield poll
        tracker.defer_remainder(Duration.of(self.pause))

    def _done(self) -> bool:
        if self.stop_at is not None and time.time() >= self.stop_at:
            return True
        # An edited config ends the read; `pln stream` then submits the pipeline again with it.
        # Workers that cannot see the file (a remote cluster) never stop for it.
        if self.watch is not None and self.watch.changed() is not None:
            return True
        idle = time.monotonic() - self.last_records
        if self.until_idle is None or idle < self.until_idle:
            return False
        return self.saw_records or self.reader.lag() == 0  # nothing waited at the start


class ReadRawPolls(beam.PTransform):
    """Unbounded read of the raw topic -> Polls."""

    def __init__(
        self, settings, resume: ResumePoints, stop_after=None, until_idle=None, watch=None
    ):
        super().__init__()
        self.settings, self.resume, self.watch = settings, resume, watch
        self.stop_after, self.until_idle = stop_after, until_idle

    def expand(self, pbegin):
        poll = PollKafkaFn(
            self.settings, self.resume, self.stop_after, self.until_idle, watch=self.watch
        )
        return (
            pbegin | "Start" >> beam.Impulse() | "Poll" >> beam.ParDo(poll).with_output_types(Poll)
        )


@dataclass
class _XlangRecord:
    topic: str
    partition: int
    offset: int
    value: bytes
    timestamp: int = 0


class ReadRawPollsXlang(beam.PTransform):
    """The raw topic through Beam's Java `ReadFromKafka` (needs Java and a portable runner),
    one Poll per record. The runner checkpoints the read and commits offsets to the
    `group_id` consumer group; the writer still upserts by id and keeps its own ledger."""

    def __init__(self, settings: KafkaSettings):
        super().__init__()
        self.settings = settings

    def expand(self, pbegin):
        from apache_beam.io.kafka import ReadFromKafka

        return (
            pbegin
            | "ReadFromKafka"
            >> ReadFromKafka(
                consumer_config={
                    "bootstrap.servers": self.settings.bootstrap,
                    "group.id": self.settings.group_id,
                    "auto.offset.reset": "earliest",
                },
                topics=[self.settings.raw_topic],
                with_metadata=True,
                commit_offset_in_finalize=True,
            )
            | "Record"
            >> beam.Map(
                lambda r: _XlangRecord(r.topic, r.partition, r.offset, r.value, r.timestamp)
            )
            | "Decode" >> beam.Map(lambda r: decode_records([r])).with_output_types(Poll)
        )


class CuratePollFn(beam.DoFn):
    def __init__(self, curator: Curator):
        self.curator = curator

    def setup(self):
        self.curator.setup()

    def process(self, poll: Poll):
        yield curate_poll(self.curator, poll)


class WritePollFn(beam.DoFn):
    """Publishes a poll's kept items, then commits its rows and offsets in one transaction.

    The database is opened per commit, so several instances of this step take turns."""

    def __init__(self, config: Config, settings: KafkaSettings, run_id: str):
        self.config, self.settings, self.run_id = config, settings, run_id

    def setup(self):
        self.producer = (
            ReliableProducer(self.settings, say=log.warning)
            if self.settings.curated_topic
            else None
        )
        self.writer = StreamWriter(self.config, self.run_id, hold=False)

    def teardown(self):
        if getattr(self, "producer", None) is not None:
            self.producer.close()
        if getattr(self, "writer", None) is not None:
            self.writer.refresh(force=True)
            self.writer.close()

    def process(self, curated: CuratedPoll):
        if self.producer is not None:
            messages = kept_messages(curated.items, curated.decisions)
            if messages:
                self.producer.send_all(self.settings.curated_topic, messages)
        self.writer.commit([PollTables.of(curated)])
        self.writer.refresh()
        yield len(curated.items)


def build_beam_stream(
    pipeline: beam.Pipeline,
    config: Config,
    settings: KafkaSettings,
    resume: ResumePoints,
    run_id: str,
    stop_after: float | None = None,
    spread: bool = False,
    until_idle: float | None = None,
    watch: ConfigWatch | None = None,
) -> None:
    """Wire ReadRaw -> Curate -> Write onto `pipeline`; `spread` keeps the steps apart; with
    `watch`, the (builtin) read ends when the config file is edited into another valid one."""
    if settings.read == "xlang":
        polls = pipeline | "ReadRaw" >> ReadRawPollsXlang(settings)
    else:
        read = ReadRawPolls(settings, resume, stop_after, until_idle, watch)
        polls = pipeline | "ReadRaw" >> read
    if spread:
        polls = polls | "SpreadPolls" >> beam.Reshuffle()
    curated = polls | "Curate" >> beam.ParDo(
        CuratePollFn(Curator.for_config(config))
    ).with_output_types(CuratedPoll)
    if spread:
        curated = curated | "SpreadCurated" >> beam.Reshuffle()
    _ = curated | "Write" >> beam.ParDo(WritePollFn(config, settings, run_id))
