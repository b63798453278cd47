"""A testing source and sink for the shared Beam transforms (as bytewax's TestingSource and
TestingSink): feed items in, read verdicts out, on Beam's in-process runner.

    with in_process_test_pipeline() as p:
        curated = item_batches(p, [post_a, post_b]) | Curate(curator)
        assert_that(curated.curated | verdicts(), equal_to([("a", "spaced", True, "...")]))

The runner is named explicitly: Beam's default DirectRunner tries Prism first, which wants to
download a binary (see pipelines/runner.py).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline

from pln.pipelines.batches import ItemBatch
from pln.pipelines.curate import CuratedBatch
from pln.record import Item


def in_process_test_pipeline() -> TestPipeline:
    """A TestPipeline on the in-process FnApiRunner; leaving the `with` block runs it."""
    return TestPipeline(runner=FnApiRunner(), options=PipelineOptions([]))


def item_batches(pipeline, *batches: list[Item], label: str = "Items"):
    """The testing source: a PCollection holding each list of items as one ItemBatch."""
    return pipeline | label >> beam.Create([ItemBatch(b) for b in batches], reshuffle=False)


def verdicts(label: str = "Verdicts") -> beam.PTransform:
    """CuratedBatches -> (native_id, topic, kept, reason), one per decision: what a user reads
    in the feed's "why" line, keyed by something a test can name."""

    def of(batch: CuratedBatch):
        native = {item.id: item.native_id for item in batch.items}
        return [(native[d.item_id], d.topic, d.kept, d.reason) for d in batch.decisions]

    return label >> beam.FlatMap(of)


def curated_native_ids(label: str = "CuratedIds") -> beam.PTransform:
    """CuratedBatches -> the native id of every item that came out."""
    return label >> beam.FlatMap(lambda batch: [item.native_id for item in batch.items])
