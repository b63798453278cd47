"""Reading the raw-items topic with kafka-python: plain Python, shared by the local stream's
workers and the Beam streaming read.

The store, not a consumer group, says how far the stream got: a reader assigns itself its
partitions (`owns`) and seeks to the stored offsets. It also notices what Kafka does not say
out loud:

- a stored offset past the end of the log (the topic was recreated, e.g. after a restart of a
  broker that keeps topics in memory), before its start (retention deleted it), or pointing
  into a different log (on start it re-reads the record before each stored offset and checks
  its key: a recreated topic that has grown past the stored offsets fails that check). All are
  reported loudly, naming topic, partition and offsets, and handled by `on_out_of_range`:
  `earliest` (default; safe because every write is an upsert by id), `latest`, or `fail`;
- partitions added to the topic, which it starts reading from their beginning;
- how long the broker has been unreachable (`down_for`), so the caller can give up in time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, OffsetOutOfRangeError

from pln.errors import PlnError
from pln.sinks.stream_store import Partition, ResumePoints

from .kafka_io import KafkaSettings, describe
from .polls import Poll, decode_records

OUT_OF_RANGE_POLICIES = ("earliest", "latest", "fail")
PARTITION_CHECK = 5.0  # seconds between looks for new partitions
QUIET_PROBE = 5.0  # seconds without records before asking the broker whether it is there
BUSY_FETCH_WAIT_MS = 100  # how long a broker may hold a fetch while records flow
IDLE_FETCH_WAIT_MS = 1000  # ... and after QUIET_PROBE seconds without any (fewer wake-ups)

log = logging.getLogger("pln.stream")


class OffsetsOutOfRange(PlnError):
    """Stored offsets the log no longer has, with the `fail` policy."""


def owned_by(worker: int, workers: int) -> Callable[[int], bool]:
    return lambda partition: partition % workers == worker


class RawReader:
    def __init__(
        self,
        settings: KafkaSettings,
        resume: ResumePoints | None = None,
        owns: Callable[[int], bool] = lambda p: True,
        on_out_of_range: str = "earliest",
        max_records: int = 2000,
        say: Callable[[str], None] = log.warning,
    ):
        if on_out_of_range not in OUT_OF_RANGE_POLICIES:
            raise PlnError(
                f"on_out_of_range must be one of {', '.join(OUT_OF_RANGE_POLICIES)}, "
                f"got {on_out_of_range!r}"
            )
        self.settings, self.owns, self.policy = settings, owns, on_out_of_range
        self.resume = resume or ResumePoints()
        self.verify: dict[TopicPartition, tuple[int, str]] = {}  # offset, key expected there
        self.max_records, self.say = max_records, say
        self.consumer: KafkaConsumer | None = None
        self.assigned: set[TopicPartition] = set()
        self.found_partitions = False  # the topic's partitions were looked up (owned or not)
        self.fresh: set[Partition] = set()  # partitions whose next range starts a new read
        self.epochs: dict[Partition, int] = {}  # which read of each partition (start, reset)
        self.next_partition_check = 0.0
        self.last_contact = time.monotonic()
        self.last_records = time.monotonic()
        self.last_error: str = ""

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> KafkaConsumer | None:
        if self.consumer is None:
            try:
                self.consumer = KafkaConsumer(
                    **self.settings.client_config(),
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="none",  # out of range is ours to handle (see module doc)
                    max_partition_fetch_bytes=4 * 1024 * 1024,
                    # A broker may hold a fetch this long when nothing is there (Tansu always
                    # does): it bounds the latency of a quiet stream (default 500 ms).
                    fetch_max_wait_ms=BUSY_FETCH_WAIT_MS,
                )
            except KafkaError as exc:
                self._lost(exc)
        return self.consumer

    def _lost(self, exc: BaseException) -> None:
        self.last_error = describe(exc, self.settings.bootstrap)

    def down_for(self) -> float:
        """Seconds since the broker last answered (0 while it answers)."""
        return time.monotonic() - self.last_contact

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None

    # -- partitions --------------------------------------------------------------------------

    def _assign_new_partitions(self, consumer: KafkaConsumer) -> None:
        now = time.monotonic()
        if now < self.next_partition_check:
            return
        self.next_partition_check = now + PARTITION_CHECK
        topic = self.settings.raw_topic
        found = consumer.partitions_for_topic(topic) or set()
        self.found_partitions = self.found_partitions or bool(found)
        new = {TopicPartition(topic, p) for p in found if self.owns(p)} - self.assigned
        if not new:
            return
        self.assigned |= new
        consumer.assign(sorted(self.assigned))
        unknown = []
        for tp in new:
            partition = (tp.topic, tp.partition)
            start = self.resume.offsets.get(partition)
            key = self.resume.keys.get(partition)
            self.epochs[partition] = self.resume.epochs.get(partition) or time.time_ns()
            if start is None:
                unknown.append(tp)
            elif start > 0 and key is not None:
                consumer.seek(tp, start - 1)  # re-read the last stored record to check it
                self.verify[tp] = (start - 1, key)
            else:
                consumer.seek(tp, start)
        if unknown:
            consumer.seek_to_beginning(*unknown)
            for tp in unknown:
                self.fresh.add((tp.topic, tp.partition))
                self.epochs[(tp.topic, tp.partition)] = time.time_ns()

    # -- polling -----------------------------------------------------------------------------

    def poll(self, timeout_ms: int = 500) -> Poll:
        """One poll (waits up to `timeout_ms` for records). Never raises for broker trouble."""
        consumer = self._connect()
        if consumer is None:
            time.sleep(timeout_ms / 1000)
            return Poll()
        try:
            self._assign_new_partitions(consumer)
            if not self.assigned:
                time.sleep(timeout_ms / 1000)
                return Poll()
            polled = consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        except OffsetOutOfRangeError as exc:
            found = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            positions = found or {tp: consumer.position(tp) for tp in self.assigned}
            self._reset(consumer, positions, "outside the log")
            return Poll()
        except KafkaError as exc:
            self._lost(exc)
            return Poll()
        records = self._checked([rec for batch in polled.values() for rec in batch], consumer)
        if polled:
            self.last_contact = self.last_records = time.monotonic()
            self.last_error = ""
            self._fetch_wait(consumer, BUSY_FETCH_WAIT_MS)
        else:
            self._probe_when_quiet(consumer)
        self._check_past_end(consumer, polled)
        started = {(r.topic, r.partition) for r in records} & self.fresh
        poll = decode_records(records, started, self.epochs)
        self.fresh -= started
        return poll

    def _checked(self, records: list, consumer: KafkaConsumer) -> list:
        """Drops each verified partition's check record; resets a partition that fails it."""
        if not self.verify:
            return records
        kept, failed = [], {}
        for rec in records:
            tp = TopicPartition(rec.topic, rec.partition)
            if tp in failed:
                continue
            check = self.verify.pop(tp, None)
            if check is None:
                kept.append(rec)
                continue
            key = (rec.key or b"").decode("utf-8", "replace")
            if (rec.offset, key) != check:
                failed[tp] = check[0] + 1
        if failed:
            self._reset(consumer, failed, "in a different log (the record before it changed)")
        return kept

    def _probe_when_quiet(self, consumer: KafkaConsumer) -> None:
        """No records for a while: ask for end offsets, which fails when the broker is away."""
        now = time.monotonic()
        if now - max(self.last_records, self.last_contact) < QUIET_PROBE:
            return
        try:
            consumer.end_offsets(sorted(self.assigned))
            self.last_contact = now
            self.last_error = ""
        except KafkaError as exc:
            self._lost(exc)
        self.last_records = now  # probe again only after another quiet spell
        self._fetch_wait(consumer, IDLE_FETCH_WAIT_MS)

    @staticmethod
    def _fetch_wait(consumer: KafkaConsumer, ms: int) -> None:
        """Short fetch waits while records flow (latency), long ones when idle (CPU: ten
        empty fetches a second cost an idle stream ~2% of a core). kafka-python reads this
        setting for every fetch request but offers no public way to change it."""
        config = getattr(getattr(consumer, "_fetcher", None), "config", None)
        if isinstance(config, dict) and config.get("fetch_max_wait_ms") != ms:
            config["fetch_max_wait_ms"] = ms

    def _check_past_end(self, consumer: KafkaConsumer, polled) -> None:
        """A position past the log's end (its high watermark, from the last fetch): the log was
        recreated or truncated. Kafka itself says OFFSET_OUT_OF_RANGE; some brokers say nothing."""
        past = {}
        for tp in self.assigned:
            if tp in polled:
                continue
            end = consumer.highwater(tp)
            if end is None:
                continue
            if tp in self.verify:  # the record to check must exist
                if end <= self.verify[tp][0]:
                    past[tp] = self.verify.pop(tp)[0] + 1
                continue
            position = consumer.position(tp, timeout_ms=1000)
            if position is not None and position > end:
                past[tp] = position
        if past:
            self._reset(consumer, past, "past the end of the log", ends=True)

    def _reset(self, consumer: KafkaConsumer, positions: dict, where: str, ends=False) -> None:
        for tp, offset in sorted(positions.items()):
            end = f" (log ends at {consumer.highwater(tp)})" if ends else ""
            line = (
                f"OFFSETS OUT OF RANGE: {tp.topic} partition {tp.partition}: offset {offset} "
                f"is {where}{end}; the topic was recreated or its retention deleted records"
            )
            if self.policy == "fail":
                raise OffsetsOutOfRange(f"{line}; stopping (on_out_of_range: fail)")
            self.say(f"{line}; resuming from the {self.policy} offset")
        partitions = sorted(positions)
        for tp in partitions:
            self.verify.pop(tp, None)
            self.epochs[(tp.topic, tp.partition)] = time.time_ns()
        if self.policy == "earliest":
            consumer.seek_to_beginning(*partitions)
            self.fresh |= {(tp.topic, tp.partition) for tp in partitions}
        else:
            consumer.seek_to_end(*partitions)
            self.fresh |= {(tp.topic, tp.partition) for tp in partitions}

    def lag(self) -> int | None:
        """Records behind the end of the log over the assigned partitions (from the last fetch)."""
        consumer = self.consumer
        if consumer is not None and not self.assigned and self.found_partitions:
            return 0  # more workers than partitions: this one reads none
        if consumer is None or not self.assigned:
            return None
        total = 0
        for tp in self.assigned:
            end = consumer.highwater(tp)
            if end is None:
                return None
            try:
                position = consumer.position(tp, timeout_ms=100)
            except KafkaError:
                return None
            total += max(0, end - (position or 0))
        return total
