"""Beam's DaskRunner, with the fixes the batch pipeline needs to give the same rows on Dask.

Beam's DaskRunner (apache_beam.runners.dask, 2.77) turns each transform into a dask.bag step.
Three things in its translation lose or mix data for us, so this subclass translates ParDo
itself and keeps everything else (Create, Flatten, GroupByKey) as Beam does:

- A multi-output ParDo (`with_outputs`) gives every consumer all outputs mixed together: bags
  are looked up by the producing transform, not by PCollection. Here each output PCollection
  is its own bag, filtered by tag.
- Outputs emitted in `finish_bundle` are dropped (the results are taken before it runs), which
  loses the item batches FetchSourceFn completes there. Here they are taken after it.
- The receivers that collect outputs are built once on the driver and shipped with every task,
  so two tasks run by one worker process could see each other's outputs. Here each task
  collects into its own list.

A DoFn that sets `dask_resources` (e.g. the DuckDB writer: `{"pln_writer": 1}`) runs only on
workers that offer those resources, when the cluster has such a worker; otherwise anywhere.

It also spreads the sources over the cluster: PARTITIONS_PER_THREAD partitions per worker
thread unless `--dask_npartitions`/`--dask_partition_size` say otherwise (Beam's default puts up
to 128 elements in one partition, i.e. the whole example on one worker). Sources differ in size
by orders of magnitude, so a few partitions per thread let idle workers take the next one; each
partition sets its DoFns up again, so not many more. It computes every leaf of the graph, and
closes its client when the run ends.
"""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import dask
import dask.bag as db
import distributed
from apache_beam import pvalue
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.common import (
    DoFnContext,
    DoFnInvoker,
    DoFnSignature,
    Receiver,
    _OutputHandler,
)
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask import transform_evaluator as evaluator
from apache_beam.runners.dask.overrides import dask_overrides
from apache_beam.transforms.core import DoFn, ParDo
from apache_beam.transforms.sideinputs import SideInputMap

from pln.errors import PlnError


class DaskUnreachable(PlnError):
    """The scheduler named by --dask_client_address (or the scheduler file) does not answer."""


MAIN = None  # the tag Beam gives a ParDo's main output
PARTITIONS_PER_THREAD = 4


class _Collect(Receiver):
    """A Receiver: appends (tag, value) for every output of one tag."""

    def __init__(self, tag, out: list):
        self.tag, self.out = tag, out

    def receive(self, windowed_value):
        self.out.append((self.tag, windowed_value.value))


class _Receivers(dict):
    def __init__(self, out: list):
        super().__init__()
        self.out = out

    def __missing__(self, tag):
        self[tag] = receiver = _Collect(tag, self.out)
        return receiver


def _run_dofn_on_partition(elements, fn, label, window_fn, side_inputs, args, kwargs):
    """One partition is one bundle: setup, process each element, finish, teardown."""
    out: list = []
    receivers = _Receivers(out)
    handler = _OutputHandler(
        window_fn=window_fn,
        main_receivers=receivers[MAIN],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn),
        handler,
        context=DoFnContext(label, state=None),
        side_inputs=side_inputs,
        input_args=args,
        input_kwargs=kwargs,
        user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam(),
    )
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for element in elements:
        invoker.invoke_process(evaluator.get_windowed_value(element, window_fn))
    invoker.invoke_finish_bundle()
    invoker.invoke_teardown()
    return out


def _tagged(pair, tag) -> bool:
    return pair[0] == tag


def _value(pair):
    return pair[1]


class _BagVisitor(PipelineVisitor):
    """Builds one dask bag per PCollection."""

    def __init__(self, bag_kwargs: dict, default_partitions: int, resources: set[str]):
        self.resources = resources  # what the cluster's workers offer
        self.pinned = False
        self.bag_kwargs = dict(bag_kwargs)
        if not self.bag_kwargs:
            self.bag_kwargs["npartitions"] = default_partitions
        self.bags: dict[pvalue.PCollection, db.Bag] = {}
        self.consumed: set[pvalue.PCollection] = set()

    def leaves(self) -> list[db.Bag]:
        leaves = {id(b): b for p, b in self.bags.items() if p not in self.consumed}
        return list(leaves.values())

    def visit_transform(self, node: AppliedPTransform) -> None:
        inputs = [p for p in node.inputs if not isinstance(p, pvalue.PBegin)]
        self.consumed.update(inputs)
        bags = [self.bags[p] for p in inputs if p in self.bags]
        side_inputs = [
            SideInputMap(
                type(si),
                si._view_options(),
                evaluator.DaskBagWindowedIterator(self.bags[si.pvalue], si._window_mapping_fn),
            )
            for si in node.side_inputs
        ]
        self.consumed.update(si.pvalue for si in node.side_inputs)

        if type(node.transform) is ParDo:
            self._par_do(node, bags[0], side_inputs or None)
            return
        op_class = evaluator.TRANSLATIONS.get(type(node.transform), evaluator.NoOp)
        op = op_class(node, bag_kwargs=self.bag_kwargs)
        if isinstance(op, evaluator.Flatten):
            bag = op.apply(bags)
        elif isinstance(op, evaluator.Create):
            bag = op.apply(None)
        else:
            bag = op.apply(bags[0] if len(bags) == 1 else bags, side_inputs or None)
        for output in node.outputs.values():
            self.bags[output] = bag

    def _par_do(self, node: AppliedPTransform, bag: db.Bag, side_inputs) -> None:
        transform = node.transform
        main_input = next(iter(node.main_inputs.values()))
        window_fn = getattr(getattr(main_input, "windowing", None), "windowfn", None)
        wanted = getattr(transform.fn, "dask_resources", None) or {}
        pin = bool(wanted) and set(wanted) <= self.resources
        self.pinned |= pin
        with dask.annotate(resources=wanted) if pin else nullcontext():
            pairs = self._map_partitions(bag, node, window_fn, side_inputs)
        for tag, output in node.outputs.items():
            self.bags[output] = pairs.filter(partial(_tagged, tag=tag)).map(_value)

    def _map_partitions(self, bag, node, window_fn, side_inputs) -> db.Bag:
        transform = node.transform
        args, kwargs = transform.raw_side_inputs
        return bag.map_partitions(
            _run_dofn_on_partition,
            transform.fn,
            transform.label,
            window_fn,
            side_inputs,
            list(args),
            kwargs,
            token=node.full_label,  # names the step's tasks in Dask's dashboard and task stream
        )


class DaskRunner(beam_dask.DaskRunner):
    """Runs a Beam pipeline on a dask.distributed cluster (see the module docstring)."""

    def run_pipeline(self, pipeline, options):
        dask_options = options.view_as(beam_dask.DaskOptions).get_all_options(
            drop_default=True, current_only=True
        )
        bag_kwargs = beam_dask.DaskOptions._extract_bag_kwargs(dask_options)
        try:
            client = distributed.Client(**dask_options)
        except OSError as exc:  # refused, unresolvable, timed out
            where = dask_options.get("address") or dask_options.get("scheduler_file")
            raise DaskUnreachable(
                f"runner.beam_args: cannot reach the Dask scheduler at {where or 'a new local cluster'}: {exc}"
            ) from None
        try:
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            threads = sum(w["nthreads"] for w in workers) or 1
            resources = {name for w in workers for name in w.get("resources", {})}
            pipeline.replace_all(dask_overrides())
            visitor = _BagVisitor(bag_kwargs, PARTITIONS_PER_THREAD * threads, resources)
            pipeline.visit(visitor)
            # Fusing tasks would drop the annotation that pins a step to its workers.
            futures = client.compute(visitor.leaves(), optimize_graph=not visitor.pinned)
        except BaseException:
            client.close()
            raise
        return DaskRunResult(client, futures)


class DaskRunResult(beam_dask.DaskRunnerResult):
    """Waits for every leaf of the graph, then closes the client."""

    def wait_until_finish(self, duration=None) -> str:
        try:
            return super().wait_until_finish(duration)
        finally:
            self.client.close()
