"""What one poll of the raw topic yields, and the curation of it that every engine shares.

A `Poll` keeps a poll's items together with the offsets they came from, so no step ever has
to join them again: the local stream's workers, the Beam streaming pipeline and the batch job
all curate with `curate_items` and write with the same store calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pln import payload
from pln.filters.curator import Curator
from pln.record import DeadLetter, Decision, Item, SourceStatus

if TYPE_CHECKING:  # the batch workers curate without the stream store (and DuckDB)
    from pln.sinks.stream_store import OffsetRange, Partition


@dataclass
class Poll:
    """Records of one poll: items, the dead letters and fetch statuses the ingester sent, and
    per partition the offsets consumed. `timestamps` are the item records' Kafka timestamps
    (ms), for latency."""

    items: list[Item] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)
    offsets: dict[Partition, OffsetRange] = field(default_factory=dict)
    timestamps: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.items or self.dead_letters or self.statuses or self.offsets)


@dataclass
class CuratedPoll:
    """A Poll after curation: the items (annotated), their decisions, and every dead letter."""

    items: list[Item]
    decisions: list[Decision]
    dead_letters: list[DeadLetter]
    statuses: list[SourceStatus]
    offsets: dict[Partition, OffsetRange]
    timestamps: list[int] = field(default_factory=list)


def decode_records(
    records, fresh: set[Partition] | frozenset = frozenset(), epochs: dict | None = None
) -> Poll:
    """kafka-python ConsumerRecords (of any partitions, in offset order per partition) -> Poll.

    `fresh`: partitions whose first record here starts a new read; `epochs`: which read of
    each partition this is (see OffsetRange).
    """
    from pln.sinks.stream_store import OffsetRange

    epochs = epochs or {}
    poll = Poll()
    for rec in records:
        key = (rec.topic, rec.partition)
        found = poll.offsets.get(key)
        start = found.start if found else rec.offset
        last_key = (rec.key or b"").decode("utf-8", "replace")
        poll.offsets[key] = OffsetRange(
            start, rec.offset + 1, key in fresh, last_key, epochs.get(key, 0)
        )
        try:
            record = payload.decode(rec.value)
        except payload.PayloadError as exc:
            poll.dead_letters.append(
                DeadLetter(
                    source=f"kafka:{rec.topic}",
                    ref=f"{rec.topic}/{rec.partition}@{rec.offset}",
                    reason=str(exc),
                    raw=(rec.value or b"")[:20_000].decode("utf-8", "replace"),
                )
            )
            continue
        if isinstance(record, Item):
            poll.items.append(record)
            poll.timestamps.append(rec.timestamp)
        elif isinstance(record, DeadLetter):
            poll.dead_letters.append(record)
        else:
            poll.statuses.append(record)
    return poll


def curate_items(
    curator: Curator, items: list[Item]
) -> tuple[list[Item], list[Decision], list[DeadLetter]]:
    """The filter chain over a batch; items that break it become dead letters, the rest are
    curated as usual (the chain is tried item by item only after the batch failed)."""
    try:
        result = curator.curate(items)
        return result.items, result.decisions, []
    except Exception:
        pass
    good: list[Item] = []
    decisions: list[Decision] = []
    dead: list[DeadLetter] = []
    for item in items:
        try:
            result = curator.curate([item])
        except Exception as exc:
            dead.append(
                DeadLetter(
                    source=item.source,
                    ref=f"item:{item.id}",
                    reason=f"filters failed: {type(exc).__name__}: {exc}",
                    raw=item.raw[:20_000],
                )
            )
            continue
        good.extend(result.items)
        decisions.extend(result.decisions)
    return good, decisions, dead


def curate_poll(curator: Curator, poll: Poll) -> CuratedPoll:
    items, decisions, dead = curate_items(curator, poll.items) if poll.items else ([], [], [])
    return CuratedPoll(
        items, decisions, poll.dead_letters + dead, poll.statuses, poll.offsets, poll.timestamps
    )


def kept_messages(items: list[Item], decisions: list[Decision]) -> list[tuple[bytes, bytes]]:
    """The curated-topic messages of a curated poll: each kept item with its kept decisions."""
    kept: dict[str, list[Decision]] = {}
    for d in decisions:
        if d.kept:
            kept.setdefault(d.item_id, []).append(d)
    return [
        (it.id.encode(), payload.encode_curated(it, kept[it.id])) for it in items if it.id in kept
    ]
