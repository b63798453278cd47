"""The runner helpers: an interrupt inside a DoFn stops the CLI quietly; real errors stay."""

from __future__ import annotations

import apache_beam as beam
import pytest

from pln.pipelines.runner import make_pipeline, run_to_completion


class Raise(beam.DoFn):
    def __init__(self, exc: BaseException):
        self.exc = exc

    def process(self, element):
        raise self.exc


def pipeline_raising(exc: BaseException) -> beam.Pipeline:
    pipeline = make_pipeline()
    _ = pipeline | beam.Create([1]) | beam.ParDo(Raise(exc))
    return pipeline


def test_an_interrupt_inside_a_dofn_comes_back_as_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt):
        run_to_completion(pipeline_raising(KeyboardInterrupt()))


def test_other_errors_are_not_mistaken_for_an_interrupt():
    with pytest.raises(Exception, match="disk full") as err:
        run_to_completion(pipeline_raising(OSError("disk full")))
    assert not isinstance(err.value, KeyboardInterrupt)
