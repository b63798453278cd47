"""The batch job on a real dask.distributed cluster gives the same rows and feeds as in-process.

The cluster (a scheduler and 2 worker processes on 127.0.0.1) only has what was pickled into the
DoFns, so this also catches driver-held state; and Beam's own DaskRunner mixes tagged outputs
and drops what `finish_bundle` emits, which this run would show as missing or extra rows.
"""

from __future__ import annotations

import socket

import apache_beam as beam
import pytest
from example_runs import QUERIES, run_example

from pln.errors import PlnError
from pln.pipelines.runner import make_pipeline, run_to_completion

pytestmark = pytest.mark.slow


def test_batch_on_a_dask_cluster_matches_the_in_process_run(tmp_path, dask_cluster):
    in_process, in_process_feeds = run_example(tmp_path / "in-process")
    on_dask, dask_feeds = run_example(
        tmp_path / "dask",
        beam_args=("--runner=dask", f"--dask_client_address={dask_cluster.host_port}"),
        feed_key=tmp_path / "in-process" / "out" / "pln.duckdb.key",
    )
    assert len(in_process["items"]) > 400
    assert len(in_process["decisions"]) > 100
    assert in_process["dead_letters"]
    assert len(in_process["sources"]) == 10
    for table in QUERIES:
        assert on_dask[table] == in_process[table], table
    assert len(in_process_feeds) >= 12
    assert dask_feeds == in_process_feeds
    # The sources were read on the cluster's workers (each logs a line per source it read).
    worker_logs = dask_cluster.log("worker0") + dask_cluster.log("worker1")
    for name, *_ in in_process["sources"]:
        assert f" {name}: " in worker_logs
    # The one DuckDB writer ran on the worker that offers `pln_writer`, and only there.
    assert f"written: {len(in_process['items']):,} items" in dask_cluster.log("worker1")
    assert "written:" not in dask_cluster.log("worker0")


def test_an_unknown_runner_option_without_dask_installed_names_the_extra(monkeypatch):
    """Without dask.distributed, `--runner=dask` is a one-line error naming the extra."""
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "pln.pipelines.dask_runner", raising=False)
    with pytest.raises(PlnError, match=r"pln-curator\[dask\]"):
        make_pipeline(["--runner=DaskRunner"])


def test_an_unreachable_scheduler_is_one_line_naming_it(tmp_path):
    pytest.importorskip("distributed", reason="dask.distributed is not installed (the dask extra)")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [
        "--runner=dask",
        f"--dask_client_address=127.0.0.1:{port}",
        "--dask_connection_timeout=2",
    ]
    pipeline = make_pipeline(args)
    _ = pipeline | beam.Create([1])
    with pytest.raises(PlnError, match=f"cannot reach the Dask scheduler at 127.0.0.1:{port}: "):
        run_to_completion(pipeline)
