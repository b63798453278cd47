"""Staged files never outlive their run, in a process left running for weeks (`pln schedule`
calls `run_batch` again and again) or after a run that was killed.

A feed fetch the probe gives up on at its deadline goes on on its thread; when its server
answers after the run removed its staging folder, it must not stage the response (which made
the folder again, with a file nobody removed). And a run sweeps what killed runs left in the
default staging folder, under its run lock. Real HTTP server on 127.0.0.1, real runs in
process (as `pln schedule` makes them)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from httpserver import AnsweringServer

from pln.config import load_config
from pln.lock import RunInProgress, RunLock
from pln.pipelines.batch import run_batch, staging_uri
from pln.pipelines.run_id import new_run_id
from pln.record import SourceStatus
from pln.sinks.store import Store
from pln.sources import prefetch
from pln.sources.http import Response

FEED = (Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml").read_bytes()


class LateFeed:
    """`/late.xml` answers 200 with a changed feed, but only once `release` is set (after the
    run gave up on it). `/same.xml` answers 304."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        self.server = AnsweringServer(self._answer)
        self.base = self.server.base

    def _answer(self, path: str):
        if path != "/late.xml":
            return 304, {"ETag": '"v2"'}, b""
        self.asked.set()
        self.release.wait(30)
        return 200, {"ETag": '"v2"'}, FEED

    def close(self) -> None:
        self.release.set()
        self.server.close()


@pytest.fixture
def late():
    served = LateFeed()
    yield served
    served.close()


def configured(tmp_path: Path, base: str, name: str, extra: str = "", outputs: str = "") -> Path:
    """A config of one feed that was read before (its cursor is in the store already, so the
    run probes it with a conditional GET and loads no NLP)."""
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n  - {{name: {name}, type: rss, url: '{base}/{name}.xml', timeout: 30}}\n"
        "topics:\n  - {id: practice, phrases: [spaced repetition]}\n"
        f"outputs: {{duckdb: out/pln.duckdb, feeds_dir: out/feeds{outputs}}}\n"
        "fetch: {source_deadline: 0.5}\n" + extra
    )
    db = tmp_path / "out" / "pln.duckdb"
    db.parent.mkdir(exist_ok=True)
    with Store(db) as store:
        status = SourceStatus(name, "rss", True, cursor={"etag": '"v1"'})
        store.update_sources([status], run_id="earlier")
    return path


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def join_fetch_threads(before: set[threading.Thread]) -> None:
    """Wait for the fetch threads started since `before` (daemons the pool left running) to
    end."""
    for thread in set(threading.enumerate()) - before:
        if thread.name == "pln-fetch":
            thread.join(timeout=10)
            assert not thread.is_alive()


@pytest.mark.parametrize("engine", ["local", "beam"])
def test_a_feed_that_answers_after_its_run_ended_stages_nothing(tmp_path, late, engine):
    config = load_config(configured(tmp_path, late.base, "late", f"runner: {{engine: {engine}}}\n"))
    staging = Path(f"{config.outputs.duckdb}.staging")
    before = set(threading.enumerate())
    summary = run_batch(config)  # gives up on the feed after 0.5 s
    assert late.asked.is_set() and not late.release.is_set()
    assert "gave up" in summary.stats["sources"]["errors"]["late"]
    assert files_under(staging) == []
    late.release.set()  # the server answers now, to the thread the run left behind
    join_fetch_threads(before)  # which ends once it has read that answer
    assert files_under(staging) == []  # was: <run id>-prefetch/<sha1 of the name>.response


def test_a_response_being_written_when_the_run_ends_is_removed_by_its_writer(tmp_path, monkeypatch):
    """The race: the run ends while a late fetch is writing its response. The run does not
    wait for it; the writer removes the folder when it is done."""
    written, go_on = threading.Event(), threading.Event()
    stage = prefetch.stage_response

    def slow_stage(*args):
        where = stage(*args)
        written.set()
        go_on.wait(10)
        return where

    monkeypatch.setattr(prefetch, "stage_response", slow_stage)
    folder = prefetch.StagingFolder(str(tmp_path / "run-prefetch"))
    writer = threading.Thread(
        target=folder.stage, args=("feed", "http://x/", Response(200, "http://x/", {}, FEED))
    )
    writer.start()
    assert written.wait(10)
    folder.end()  # returns at once
    assert files_under(tmp_path)  # still being written
    go_on.set()
    writer.join(timeout=10)
    assert not (tmp_path / "run-prefetch").exists()
    # And once ended, nothing is staged at all.
    assert folder.stage("feed", "http://x/", Response(200, "http://x/", {}, FEED)) is None
    assert not (tmp_path / "run-prefetch").exists()


def leftovers(staging: Path) -> list[Path]:
    """What a run killed in the middle leaves: the probe's staged response and the Beam
    writer's staged batch."""
    old = new_run_id()
    made = [staging / f"{old}-prefetch" / "x.response", staging / old / "abc.items.arrow"]
    for path in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"staged")
    return made


def test_a_run_removes_what_killed_runs_left_in_the_default_staging_folder(
    tmp_path, late, monkeypatch, capsys
):
    config = load_config(configured(tmp_path, late.base, "same"))
    staging = Path(f"{config.outputs.duckdb}.staging")
    assert Path(staging_uri(config, "r")).parent == staging.resolve()
    leftovers(staging)
    monkeypatch.setenv("PLN_PROGRESS", "1")
    assert run_batch(config).stats["sources"]["not_modified"] == 1
    assert files_under(staging) == [] and list(staging.iterdir()) == []
    err = capsys.readouterr().err
    assert "  removed 2 staged files left by an earlier run\n" in err
    run_batch(config)  # nothing left: nothing said
    assert "removed" not in capsys.readouterr().err


def test_no_sweep_without_the_run_lock_nor_in_a_staging_place_the_user_set(tmp_path, late):
    config = load_config(configured(tmp_path, late.base, "same"))
    staging = Path(f"{config.outputs.duckdb}.staging")
    made = leftovers(staging)
    # Another process holds the database (`pln stream` or another `pln run`): no run, no sweep.
    with RunLock(config.outputs.duckdb, "pln stream"), pytest.raises(RunInProgress):
        run_batch(config)
    assert files_under(staging) == sorted(made)
    # `outputs.staging` may be shared by the runs of several databases: left alone.
    shared = tmp_path / "shared"
    made = leftovers(shared)
    config = load_config(configured(tmp_path, late.base, "same", outputs=f", staging: '{shared}'"))
    assert Path(staging_uri(config, "r")).parent == shared
    assert run_batch(config).stats["sources"]["not_modified"] == 1
    assert files_under(shared) == sorted(made)
