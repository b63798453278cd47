"""The batch job on a real dask.distributed cluster gives the same rows and feeds as in-process.

The cluster (a scheduler and 2 worker processes on 127.0.0.1) only has what was pickled into the
DoFns, so this also catches driver-held state; and Beam's own DaskRunner mixes tagged outputs
and drops what `finish_bundle` emits, which this run would show as missing or extra rows.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import socket
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import apache_beam as beam
import duckdb
import pytest

from pln.config import load_config
from pln.errors import PlnError
from pln.pipelines.batch import run_batch
from pln.pipelines.runner import make_pipeline, run_to_completion

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

# What a run wrote, without the columns that say when or in which run it was written.
QUERIES = {
    "items": "SELECT * EXCLUDE (fetched_at, first_seen_at, last_seen_at, updated_at, run_id, "
    "last_run_id, updated_run_id) FROM items ORDER BY id",
    "decisions": "SELECT item_id, topic, round(score, 9), kept, reason, topic_version, "
    "model_version FROM decisions ORDER BY 1, 2",
    # A dead letter's ref (and so its id) and a cursor name files, which are in each run's folder.
    "dead_letters": "SELECT source, replace(ref, $work, ''), reason, raw FROM dead_letters "
    "ORDER BY ALL",
    "sources": "SELECT name, type, ok, error, error_count, items_total, last_items, "
    "last_dead_letters, not_modified, replace(cursor, $work, '') FROM sources ORDER BY name",
    "stories": "SELECT item_id, story_id FROM story_members ORDER BY 1",
}


def run_example(
    work: Path, beam_args: tuple[str, ...] = (), feed_key: Path | None = None
) -> tuple[dict, dict]:
    """Runs the bundled example in `work`; returns its rows per table and its feed files.

    `feed_key`: the secret that signs the feeds' feedback links, so two runs sign alike."""
    shutil.copytree(REPO / "examples", work, ignore=shutil.ignore_patterns("out"))
    config = load_config(work / "pln.yaml")
    if feed_key:
        config.outputs.duckdb.parent.mkdir(parents=True)
        shutil.copy(feed_key, f"{config.outputs.duckdb}.key")
    config = dataclasses.replace(
        config, runner=dataclasses.replace(config.runner, beam_args=beam_args)
    )
    started = datetime.now(UTC)
    summary = run_batch(config)
    print(f"{work.name}: {summary.seconds:.1f} s")
    run_times = (started - timedelta(seconds=1), datetime.now(UTC) + timedelta(seconds=1))
    assert summary.stats["sources"]["failed"] == 1  # the deliberately broken feed
    with duckdb.connect(str(config.outputs.duckdb), read_only=True) as con:
        rows = {
            table: con.execute(query, {"work": str(work)} if "$work" in query else None).fetchall()
            for table, query in QUERIES.items()
        }
    feeds_dir = config.outputs.feeds_dir
    feeds = {p.name: mask_run_times(p.read_text(), *run_times) for p in sorted(feeds_dir.iterdir())}
    return rows, feeds


RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
RFC822 = r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d (?:GMT|[+-]\d{4})"
PAGE = r"\d{1,2} \w{3} \d{4} \d\d:\d\d UTC"  # index.html, to the minute


def mask_run_times(text: str, start: datetime, end: datetime) -> str:
    """Feeds date what was first seen in this run (and their build) with the run's clock."""

    def mask(match: re.Match) -> str:
        stamp = match.group()
        if stamp.endswith(" UTC"):
            at = datetime.strptime(stamp, "%d %b %Y %H:%M UTC").replace(tzinfo=UTC)
            in_run = start.replace(second=0, microsecond=0) <= at <= end
        else:
            parse = parsedate_to_datetime if "," in stamp else datetime.fromisoformat
            in_run = start <= parse(stamp) <= end
        return "<run time>" if in_run else stamp

    text = re.sub(f"{RFC3339}|{RFC822}|{PAGE}", mask, text)
    # Feedback links expire 90 days after an item was first seen, and are signed with that.
    return re.sub(r"exp=\d+(&(?:amp;)*)sig=[0-9a-f]+", r"exp=<run time>\1sig=<signed>", text)


def test_batch_on_a_dask_cluster_matches_the_in_process_run(tmp_path, dask_cluster):
    in_process, in_process_feeds = run_example(tmp_path / "in-process")
    on_dask, dask_feeds = run_example(
        tmp_path / "dask",
        ("--runner=dask", f"--dask_client_address={dask_cluster.host_port}"),
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
