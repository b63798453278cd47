"""The `dask_cluster` fixture: a real dask.distributed cluster (a scheduler and 2 workers on
127.0.0.1) for the whole session, started on first use and stopped at the end."""

from __future__ import annotations

import pytest
from dask_cluster import ClusterUnavailable, DaskCluster


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A running cluster; skips (naming why) when dask.distributed cannot be imported."""
    pytest.importorskip("distributed", reason="dask.distributed is not installed (the dask extra)")
    # PLN_PROGRESS: the workers log a line per source read, as `pln run` prints them.
    # worker1 offers `pln_writer`, as the worker beside the DuckDB file does on a real cluster.
    cluster = DaskCluster(
        tmp_path_factory.mktemp("dask"), workers=2, env={"PLN_PROGRESS": "1"}, writer=True
    )
    try:
        cluster.start()
    except ClusterUnavailable as exc:
        pytest.fail(f"the dask cluster would not start: {exc}")
    yield cluster
    cluster.stop()
