"""The pipeline off the driver: Beam's multi-process mode gives the same rows as in-process.

Worker processes only have what was pickled into the DoFns, so this catches driver-held state.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from helpers import db_rows

from pln.config import load_config
from pln.pipelines.batch import run_batch

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run_example(tmp_path: Path, workers: int) -> list[tuple]:
    work = tmp_path / f"w{workers}"
    shutil.copytree(REPO / "examples", work, ignore=shutil.ignore_patterns("out"))
    config = load_config(work / "pln.yaml")
    runner = dataclasses.replace(config.runner, workers=workers, engine="beam")
    config = dataclasses.replace(config, runner=runner)
    summary = run_batch(config)
    assert summary.stats["sources"]["failed"] == 1  # the deliberately broken feed
    query = "SELECT item_id, topic, round(score, 6), kept, reason FROM decisions ORDER BY 1, 2"
    return db_rows(config.outputs.duckdb, query)


def test_multi_process_run_matches_in_process_run(tmp_path):
    in_process = run_example(tmp_path, workers=1)
    multi_process = run_example(tmp_path, workers=2)
    assert len(in_process) > 100
    assert multi_process == in_process
