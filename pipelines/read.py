"""Reading sources inside the pipeline: one element per source, fetched concurrently on a worker."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from pln import progress
from pln.config import FetchConfig
from pln.record import Item
from pln.sources.fetch_pool import Fetched, FetchPool

from .batches import ItemBatch
from .probe import SourceTask

STATUS = "status"
DEAD = "dead"


class FetchSourceFn(beam.DoFn):
    """Fetches sources; emits item batches, dead letters (tag `dead`) and a status (`status`).

    The sources of a bundle are fetched concurrently (see `FetchPool`: a bounded number at once,
    a few per host, each within its deadline), and their outcomes are emitted as they finish, so
    curating starts with the first feed while the slow ones are still on the wire. The pool is
    made per bundle on the worker: nothing but the settings is pickled.

    Items of the sources in one bundle are gathered into full batches (most feeds and chats
    hold a few dozen items; curating and writing in large batches is much cheaper).
    A source that fails becomes a status with the error; it never stops the other sources.
    """

    def __init__(self, batch_size: int = 1000, fetch: FetchConfig | None = None):
        self.batch_size = batch_size
        self.fetch = fetch or FetchConfig()

    def start_bundle(self):
        self._pending: list[Item] = []
        self._pool = FetchPool(
            self.fetch.concurrency, self.fetch.per_host, self.fetch.source_deadline
        )

    def process(self, task: SourceTask):
        self._pool.add(task.config, task.cursor, task.run_deadline_at, task.prefetched)
        for fetched in self._pool.ready():
            yield from self._outputs(fetched)

    def finish_bundle(self):
        for fetched in self._pool.drain():
            for out in self._outputs(fetched):
                if isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(out.tag, GlobalWindows.windowed_value(out.value))
                else:
                    yield GlobalWindows.windowed_value(out)
        if self._pending:
            yield GlobalWindows.windowed_value(ItemBatch(self._pending))
            self._pending = []

    def _full_batches(self, items: list[Item]):
        self._pending.extend(items)
        while len(self._pending) >= self.batch_size:
            yield ItemBatch(self._pending[: self.batch_size])
            self._pending = self._pending[self.batch_size :]

    def _outputs(self, fetched: Fetched):
        result, status = fetched.result, fetched.status
        progress.say(fetched.progress_line)
        if status.ok:
            yield from self._full_batches(result.items)
            if result.dead_letters:
                yield beam.pvalue.TaggedOutput(DEAD, result.dead_letters)
        yield beam.pvalue.TaggedOutput(STATUS, status)


class ReadSources(beam.PTransform):
    """SourceTasks -> item batches, with `dead` and `status` side outputs."""

    def __init__(self, batch_size: int = 1000, fetch: FetchConfig | None = None):
        super().__init__()
        self.batch_size = batch_size
        self.fetch = fetch

    def expand(self, tasks):
        fn = FetchSourceFn(self.batch_size, self.fetch)
        fetch = beam.ParDo(fn).with_output_types(ItemBatch)
        return tasks | "Fetch" >> fetch.with_outputs(STATUS, DEAD, main="items")
