"""Choosing a Beam runner that never reaches for the network by default.

Beam's DirectRunner tries to download the Prism runner first. We name the in-process
FnApiRunner explicitly unless the user passes `--runner=...` (Flink, Dataflow, Prism): those
flags go through to Beam untouched. With `workers > 1` the same runner starts that many worker
processes (Beam's multi-process mode) through `pipelines/worker.py`.

`--runner=dask` (or `DaskRunner`, or Beam's dotted name) runs on a dask.distributed cluster
(`--dask_client_address=HOST:PORT`) through `pipelines/dask_runner.py`, Beam's DaskRunner with
the fixes our pipeline needs; Beam itself registers no short name for it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.metrics import monitoring_infos
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from pln.errors import PlnError

DASK_NAMES = {"dask", "daskrunner", "apache_beam.runners.dask.dask_runner.daskrunner"}


class RunnerUnavailable(PlnError):
    """The runner named in `runner.beam_args` cannot be loaded here."""


def pipeline_options(beam_args: Sequence[str] = (), streaming: bool = False) -> PipelineOptions:
    options = PipelineOptions(list(beam_args))
    if streaming:
        options.view_as(StandardOptions).streaming = True
    return options


def make_pipeline(
    beam_args: Sequence[str] = (), workers: int = 1, streaming: bool = False
) -> beam.Pipeline:
    """A pipeline on the in-process runner unless `--runner` is among `beam_args`."""
    options = pipeline_options(beam_args, streaming)
    runner = options.view_as(StandardOptions).runner
    if runner and runner.lower() in DASK_NAMES:
        options.view_as(StandardOptions).runner = None
        return beam.Pipeline(runner=dask_runner(), options=options)
    if runner:
        return beam.Pipeline(options=options)
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    _fold_metrics_as_they_come()
    environment = None
    if workers > 1:
        from apache_beam.transforms.environments import SubprocessSDKEnvironment

        environment = SubprocessSDKEnvironment.from_command_string(
            f"{sys.executable} -m pln.pipelines.worker"
        )
        options.view_as(DirectOptions).direct_num_workers = workers
        # The runner's own multi_processing mode would start Beam's noisier entry point.
        options.view_as(DirectOptions).direct_running_mode = "in_memory"
    return beam.Pipeline(runner=FnApiRunner(default_environment=environment), options=options)


def _fold_metrics_as_they_come() -> None:
    """Beam's FnApiRunner folds each bundle's metrics into the run's with
    `monitoring_infos.consolidate`, which is a generator: after n bundles the runner holds n
    nested generators and every bundle's metrics. A stream runs one bundle per poll, for ever
    (the read asks Kafka several times a second): it grew by 10 MB a minute (Beam 2.77). Folded
    into a list as they come, the metrics keep one entry each, and memory stays flat.
    Replaced only while the runner still uses that very function (a Beam that changed it is
    left alone; tests/test_stream_service.py would show a new leak)."""
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    if fn_runner.consolidate_monitoring_infos is monitoring_infos.consolidate:
        fn_runner.consolidate_monitoring_infos = _consolidated


def _consolidated(infos) -> list:
    return list(monitoring_infos.consolidate(infos))


def dask_runner() -> beam.runners.PipelineRunner:
    try:
        from .dask_runner import DaskRunner
    except ImportError as exc:
        raise RunnerUnavailable(
            f"runner.beam_args: the Dask runner needs dask.distributed ({exc.msg}); "
            "install it with: pip install 'pln-curator[dask]'"
        ) from None
    return DaskRunner()


def run_to_completion(pipeline: beam.Pipeline) -> None:
    """Run and wait. Ctrl-C or SIGTERM inside a DoFn reaches us wrapped in Beam's RuntimeError;
    it is raised again as the KeyboardInterrupt it was, so the CLI stops quietly (exit 130)."""
    try:
        pipeline.run().wait_until_finish()
    except Exception as exc:
        if _caused_by_interrupt(exc):
            raise KeyboardInterrupt from None
        raise


def _caused_by_interrupt(exc: BaseException | None) -> bool:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt) or str(exc).startswith("KeyboardInterrupt"):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
