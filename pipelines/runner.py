"""Choosing a Beam runner that never reaches for the network by default.

Beam's DirectRunner tries to download the Prism runner first. We name the in-process
FnApiRunner explicitly unless the user passes `--runner=...` (Flink, Dataflow, Prism): those
flags go through to Beam untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions


def pipeline_options(beam_args: Sequence[str] = (), workers: int = 1, streaming: bool = False):
    options = PipelineOptions(list(beam_args))
    if streaming:
        options.view_as(StandardOptions).streaming = True
    direct = options.view_as(DirectOptions)
    if workers > 1 and not direct.direct_running_mode:
        direct.direct_running_mode = "multi_processing"
        direct.direct_num_workers = workers
    return options


def make_pipeline(beam_args: Sequence[str] = (), workers: int = 1) -> beam.Pipeline:
    """A batch pipeline: the in-process runner unless `--runner` is among `beam_args`."""
    options = pipeline_options(beam_args, workers)
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    if not options.view_as(DirectOptions).direct_running_mode:
        options.view_as(DirectOptions).direct_running_mode = "in_memory"
    return beam.Pipeline(runner=FnApiRunner(), options=options)
