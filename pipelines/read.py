"""Reading sources inside the pipeline: one element per source, fetched on a worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from pln import progress
from pln.config import SourceConfig
from pln.record import Item
from pln.sources.registry import fetch_once

from .batches import ItemBatch

STATUS = "status"
DEAD = "dead"


@dataclass(frozen=True)
class SourceTask:
    """What a worker needs to fetch one source: its config and its last cursor."""

    config: SourceConfig
    cursor: dict[str, Any] | None = None


class FetchSourceFn(beam.DoFn):
    """Fetches one source; emits item batches, dead letters (tag `dead`) and a status (`status`).

    Items of the sources in one bundle are gathered into full batches (most feeds and chats
    hold a few dozen items; curating and writing in large batches is much cheaper).
    A source that fails becomes a status with the error; it never stops the other sources.
    """

    def __init__(self, batch_size: int = 1000):
        self.batch_size = batch_size

    def start_bundle(self):
        self._pending: list[Item] = []

    def finish_bundle(self):
        if self._pending:
            yield GlobalWindows.windowed_value(ItemBatch(self._pending))
            self._pending = []

    def _full_batches(self, items: list[Item]):
        self._pending.extend(items)
        while len(self._pending) >= self.batch_size:
            yield ItemBatch(self._pending[: self.batch_size])
            self._pending = self._pending[self.batch_size :]

    def process(self, task: SourceTask):
        cfg = task.config
        result, status = fetch_once(cfg, task.cursor)
        if not status.ok:
            progress.say(f"✗ {cfg.name}: {status.error.removeprefix(f'source {cfg.name!r}: ')}")
            yield beam.pvalue.TaggedOutput(STATUS, status)
            return
        yield from self._full_batches(result.items)
        if result.dead_letters:
            yield beam.pvalue.TaggedOutput(DEAD, result.dead_letters)
        note = "not modified" if result.not_modified else f"{len(result.items):,} items"
        if result.dead_letters:
            note += f", {len(result.dead_letters)} dead letters"
        progress.say(f"✓ {cfg.name}: {note}")
        yield beam.pvalue.TaggedOutput(STATUS, status)


class ReadSources(beam.PTransform):
    """SourceTasks -> item batches, with `dead` and `status` side outputs."""

    def __init__(self, batch_size: int = 1000):
        super().__init__()
        self.batch_size = batch_size

    def expand(self, tasks):
        fetch = beam.ParDo(FetchSourceFn(self.batch_size)).with_output_types(ItemBatch)
        return tasks | "Fetch" >> fetch.with_outputs(STATUS, DEAD, main="items")
