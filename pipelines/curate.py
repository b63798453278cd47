"""`Curate`: the curation transform shared by the batch and the streaming pipelines.

Input: a PCollection of item batches (lists of Items). Output: `CuratedBatch`es (the items and
their per-topic decisions) plus a `dead` output of items the filters could not process.
"""

from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from pln.filters.curator import Curator
from pln.record import Decision, Item

from .batches import BatchCoder
from .polls import curate_items

DEAD = "dead"


@dataclass
class CuratedBatch:
    items: list[Item]
    decisions: list[Decision]


beam.coders.registry.register_coder(CuratedBatch, BatchCoder)


class CurateFn(beam.DoFn):
    """Runs the filter chain on a batch; spaCy and the models load once per worker in `setup`."""

    def __init__(self, curator: Curator):
        self.curator = curator

    def setup(self):
        self.curator.setup()

    # No annotation on `batch` (a list of Items, or an ItemBatch): Beam 2.78 checks it against
    # the input's type and refuses an ItemBatch for list[Item].
    def process(self, batch):
        items, decisions, dead = curate_items(self.curator, batch)
        if items:
            yield CuratedBatch(items, decisions)
        if dead:
            yield beam.pvalue.TaggedOutput(DEAD, dead)


class Curate(beam.PTransform):
    """Item batches -> CuratedBatches (main) and dead letters (`dead`).

    `curator` is built on the driver (`Curator.for_config`), so every worker uses the same topic
    and model versions.
    """

    def __init__(self, curator: Curator, reshuffle: bool = True):
        super().__init__()
        self.curator, self.reshuffle = curator, reshuffle

    def expand(self, batches):
        if self.reshuffle:
            # Spread batches of one big source over all workers.
            batches = batches | "Spread" >> beam.Reshuffle()
        curate = beam.ParDo(CurateFn(self.curator)).with_output_types(CuratedBatch)
        return batches | "Filter" >> curate.with_outputs(DEAD, main="curated")
