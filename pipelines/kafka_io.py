"""Kafka for the event-driven mode, built on kafka-python.

- `KafkaSettings`: where the broker and the two topics are.
- `ensure_topics`: create the topics, waiting (with clear messages) while the broker is away.
- `ReliableProducer`: sends a batch and returns only when the broker acknowledged every message
  (acks=all), retrying through broker outages. Used by the ingester and the stream writer.
- `ReadRawRecords`: an unbounded Beam read that any runner can execute: a splittable DoFn whose
  consumer is made in `setup()` polls once per bundle. It emits lists of Items and, after each
  poll, a `Mark` with the next offsets; the writer stores those offsets with the rows.
  (Not PeriodicImpulse: Beam's in-process runner keeps re-running an SDF whose ticks are already
  due without ending the bundle, so under load nothing downstream of a stage break would run.)
- `ReadRawRecordsXlang`: the same elements from Beam's cross-language `ReadFromKafka` (Java), for
  Flink or Dataflow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import apache_beam as beam
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pln import payload
from pln.errors import PlnError
from pln.record import DeadLetter, Item, SourceStatus

from .batches import ItemBatch

MARKS = "marks"
READ_MODES = ("builtin", "xlang")
MAX_BACKOFF = 30.0

Say = Callable[[str], None]
log = logging.getLogger("pln.kafka")


class KafkaUnavailable(PlnError):
    """The broker stayed away longer than the caller was willing to wait."""


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "localhost:9092"
    raw_topic: str = "pln.raw-items"
    curated_topic: str = "pln.curated-items"  # "" publishes no curated items
    partitions: int = 3  # for topics pln creates
    client_id: str = "pln"
    read: str = "builtin"  # or "xlang": Beam's Java ReadFromKafka (Flink, Dataflow)
    group_id: str = "pln-stream"  # used by the xlang read, which commits offsets to Kafka
    request_timeout_ms: int = 15_000

    def client_config(self) -> dict:
        return {
            "bootstrap_servers": self.bootstrap.split(","),
            "client_id": self.client_id,
            "request_timeout_ms": self.request_timeout_ms,
            "reconnect_backoff_max_ms": 2_000,
            "bootstrap_timeout_ms": 3_000,  # then our own backoff says what is going on
        }


def describe(exc: BaseException) -> str:
    """A Kafka error as one short line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = type(exc).__name__
    text = text.removeprefix(f"{name}: ").removeprefix(name).strip(": ") or name
    if "bootstrap" in text.lower():
        return f"broker unreachable ({text})"
    return text


class Backoff:
    """Doubling waits up to MAX_BACKOFF, with one clear line per failed attempt."""

    def __init__(self, what: str, say: Say, first: float = 0.5, deadline: float | None = None):
        self.what, self.say, self.delay = what, say, first
        self.first = first
        self.deadline = None if deadline is None else time.monotonic() + deadline
        self.failures = 0

    def wait(self, exc: BaseException) -> None:
        self.failures += 1
        if self.deadline is not None and time.monotonic() + self.delay > self.deadline:
            raise KafkaUnavailable(f"{self.what}: {describe(exc)}; gave up") from None
        self.say(f"{self.what}: {describe(exc)}; retrying in {self.delay:g}s")
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, MAX_BACKOFF)

    def succeeded(self) -> None:
        if self.failures:
            self.say(f"{self.what}: ok again")
        self.failures, self.delay = 0, self.first


def ensure_topics(
    settings: KafkaSettings, topics: Sequence[str], say: Say, wait: float | None = None
) -> None:
    """Create the topics that do not exist yet; waits for the broker (forever unless `wait`)."""
    backoff = Backoff(f"kafka {settings.bootstrap}", say, deadline=wait)
    while True:
        try:
            admin = KafkaAdminClient(**settings.client_config())
            break
        except KafkaError as exc:
            backoff.wait(exc)
    try:
        for topic in filter(None, topics):
            while True:
                try:
                    admin.create_topics([NewTopic(topic, settings.partitions, 1)])
                    break
                except TopicAlreadyExistsError:
                    break
                except KafkaError as exc:
                    backoff.wait(exc)
    finally:
        admin.close()
    backoff.succeeded()


class ReliableProducer:
    """`send_all` returns once the broker acknowledged every message (acks=all).

    Messages not acknowledged are sent again after a backoff, so a caller that advances a
    cursor or commits offsets after `send_all` never loses a message; it may duplicate one,
    which is harmless because keys are stable ids and every sink upserts.
    """

    def __init__(self, settings: KafkaSettings, say: Say, flush_timeout: float = 10.0):
        self.settings, self.say, self.flush_timeout = settings, say, flush_timeout
        self._producer: KafkaProducer | None = None

    def _connect(self, backoff: Backoff) -> KafkaProducer:
        while self._producer is None:
            try:
                self._producer = KafkaProducer(
                    **self.settings.client_config(),
                    acks="all",
                    linger_ms=5,
                    retries=5,
                    max_in_flight_requests_per_connection=1,
                    delivery_timeout_ms=max(30_000, self.settings.request_timeout_ms + 5_000),
                    compression_type=None,
                )
            except KafkaError as exc:
                backoff.wait(exc)
        return self._producer

    def send_all(self, topic: str, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Send (key, value) pairs to `topic` and wait until all are acknowledged."""
        pending = list(messages)
        backoff = Backoff(f"kafka {self.settings.bootstrap} ({topic})", self.say)
        while pending:
            producer = self._connect(backoff)
            futures = [producer.send(topic, key=k, value=v) for k, v in pending]
            error: BaseException | None = None
            while not all(f.is_done for f in futures):
                try:
                    producer.flush(timeout=self.flush_timeout)
                except KafkaError as exc:  # still waiting for the broker; keep the messages
                    error = exc
                    backoff.wait(exc)
            failed = [(m, f.exception) for m, f in zip(pending, futures, strict=True) if f.failed()]
            pending = [m for m, _ in failed]
            if failed:
                backoff.wait(failed[0][1] or error or KafkaError("send failed"))
        backoff.succeeded()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


# ------------------------------------------------------------------------------------ reading


@dataclass
class Mark:
    """What one poll consumed: the next offset per partition and the records that are not items.

    Runners do not keep the order of elements across steps, so a Mark may reach the writer
    before or after the curated items of its poll: the writer commits it (rows and offsets in
    one transaction) once every id in `item_ids` has arrived, and commits Marks in `seq` order.
    """

    seq: int = 0
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    item_ids: frozenset[str] = frozenset()
    dead_letters: list[DeadLetter] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.offsets or self.dead_letters or self.statuses)


def decode_records(records) -> tuple[list[Item], Mark]:
    """kafka-python ConsumerRecords (of any partitions) -> items and their Mark."""
    items: list[Item] = []
    mark = Mark()
    for rec in records:
        mark.offsets[(rec.topic, rec.partition)] = rec.offset + 1
        try:
            record = payload.decode(rec.value)
        except payload.PayloadError as exc:
            mark.dead_letters.append(
                DeadLetter(
                    source=f"kafka:{rec.topic}",
                    ref=f"{rec.topic}/{rec.partition}@{rec.offset}",
                    reason=str(exc),
                    raw=(rec.value or b"")[:20_000].decode("utf-8", "replace"),
                )
            )
            continue
        if isinstance(record, Item):
            items.append(record)
        elif isinstance(record, DeadLetter):
            mark.dead_letters.append(record)
        else:
            mark.statuses.append(record)
    mark.item_ids = frozenset(it.id for it in items)
    return items, mark


class _PollsRestriction(beam.transforms.core.RestrictionProvider):
    """Position n = the n-th poll. Never split: one consumer reads every partition."""

    def __init__(self, polls: int):
        self.polls = polls

    def initial_restriction(self, element):
        from apache_beam.io.restriction_trackers import OffsetRange

        return OffsetRange(0, self.polls)

    def create_tracker(self, restriction):
        from apache_beam.io.restriction_trackers import OffsetRestrictionTracker

        return OffsetRestrictionTracker(restriction)

    def split(self, element, restriction):
        yield restriction

    def restriction_size(self, element, restriction):
        return 1


_POLLS = beam.DoFn.RestrictionParam(_PollsRestriction(2**62))  # practically for ever


@beam.DoFn.unbounded_per_element()
class PollKafkaFn(beam.DoFn):
    """A splittable DoFn that polls the raw topic once per bundle, for ever (or `stop_after`).

    Each poll emits a list of Items and then (tag `marks`) a Mark, and checkpoints: ending the
    bundle after every poll lets the runner hand the outputs to the writer at once.

    The consumer assigns itself every partition of the topic and starts at `start_offsets`
    (from the store), else at the earliest offset: the store, not a consumer group, says how
    far the stream got, so a restart neither skips nor repeats.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        start_offsets: dict[tuple[str, int], int],
        max_records: int = 5000,
        poll_ms: int = 100,
        pause: float = 0.02,
        stop_after: float | None = None,
    ):
        self.settings, self.start_offsets = settings, dict(start_offsets)
        self.max_records, self.poll_ms, self.pause = max_records, poll_ms, pause
        self.stop_at = time.time() + stop_after if stop_after else None

    def setup(self):
        backoff = Backoff(f"kafka {self.settings.bootstrap}", log.warning)
        while True:
            try:
                self.consumer = KafkaConsumer(
                    **self.settings.client_config(),
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    max_partition_fetch_bytes=4 * 1024 * 1024,
                )
                break
            except KafkaError as exc:
                backoff.wait(exc)
        backoff.succeeded()
        self.assigned: set[TopicPartition] = set()
        self.next_partition_check = 0.0
        self.connected = True
        self.quiet_since = time.monotonic()
        self.seq = 0

    def teardown(self):
        consumer = getattr(self, "consumer", None)
        if consumer is not None:
            consumer.close()

    def _assign_new_partitions(self) -> None:
        if time.monotonic() < self.next_partition_check:
            return
        self.next_partition_check = time.monotonic() + 5.0
        topic = self.settings.raw_topic
        found = self.consumer.partitions_for_topic(topic) or set()
        new = {TopicPartition(topic, p) for p in found} - self.assigned
        if not new:
            return
        self.assigned |= new
        self.consumer.assign(sorted(self.assigned))
        for tp in new:
            start = self.start_offsets.get((tp.topic, tp.partition))
            if start is not None:
                self.consumer.seek(tp, start)

    def process(self, _impulse, tracker=_POLLS):
        from apache_beam.utils.timestamp import Duration

        position = tracker.current_restriction().start
        if self.stop_at is not None and time.time() >= self.stop_at:
            tracker.try_claim(tracker.current_restriction().stop - 1)  # done
            return
        if not tracker.try_claim(position):
            return
        yield from self._poll()
        tracker.defer_remainder(Duration.of(self.pause))

    def _poll(self):
        try:
            self._assign_new_partitions()
        except KafkaError as exc:
            log.warning("kafka %s: %s; retrying", self.settings.bootstrap, describe(exc))
        if not self.assigned:
            time.sleep(self.poll_ms / 1000)
            return
        polled = self.consumer.poll(timeout_ms=self.poll_ms, max_records=self.max_records)
        self._report_connection(bool(polled))
        records = [rec for batch in polled.values() for rec in batch]
        items, mark = decode_records(records)
        self.seq += 1
        mark.seq = self.seq
        if items:
            yield ItemBatch(items)
        # Empty marks too: they give the writer a chance to refresh throttled feeds.
        yield beam.pvalue.TaggedOutput(MARKS, mark)

    def _report_connection(self, got_records: bool) -> None:
        """After a quiet spell, ask the broker for end offsets: says so when it is away."""
        now = time.monotonic()
        if got_records:
            self.quiet_since = now
        if got_records or now - self.quiet_since < 10.0:
            if got_records and not self.connected:
                self._say_connected(True)
            return
        self.quiet_since = now
        try:
            self.consumer.end_offsets(sorted(self.assigned))
            if not self.connected:
                self._say_connected(True)
        except KafkaError as exc:
            if self.connected:
                self._say_connected(False, exc)

    def _say_connected(self, connected: bool, exc: BaseException | None = None) -> None:
        self.connected = connected
        if connected:
            log.warning("kafka %s: reading again", self.settings.bootstrap)
        else:
            log.warning(
                "kafka %s: %s; still trying",
                self.settings.bootstrap,
                describe(exc) if exc else "broker unreachable",
            )


class ReadRawRecords(beam.PTransform):
    """Unbounded read of the raw topic -> Item lists (main) and Marks (`marks`)."""

    def __init__(
        self,
        settings: KafkaSettings,
        start_offsets: dict[tuple[str, int], int],
        stop_after: float | None = None,
    ):
        super().__init__()
        self.settings, self.start_offsets, self.stop_after = settings, start_offsets, stop_after

    def expand(self, pbegin):
        poll = PollKafkaFn(self.settings, self.start_offsets, stop_after=self.stop_after)
        return (
            pbegin
            | "Start" >> beam.Impulse()
            | "Poll"
            >> beam.ParDo(poll).with_output_types(ItemBatch).with_outputs(MARKS, main="items")
        )


class _RecordsToBatches(beam.DoFn):
    """One xlang record (metadata included) -> an Item list and its Mark."""

    def process(self, record):
        items, mark = decode_records([record])
        if items:
            yield ItemBatch(items)
        yield beam.pvalue.TaggedOutput(MARKS, mark)


@dataclass
class _XlangRecord:
    topic: str
    partition: int
    offset: int
    value: bytes


class ReadRawRecordsXlang(beam.PTransform):
    """The raw topic through Beam's Java `ReadFromKafka` (needs Java and a portable runner).

    The runner checkpoints the read and commits offsets to the `group_id` consumer group when a
    bundle is finalized; the writer still upserts by id, so a replay after a failure leaves the
    same rows.
    """

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
            | "Record" >> beam.Map(lambda r: _XlangRecord(r.topic, r.partition, r.offset, r.value))
            | "Decode"
            >> beam.ParDo(_RecordsToBatches())
            .with_output_types(ItemBatch)
            .with_outputs(MARKS, main="items")
        )
