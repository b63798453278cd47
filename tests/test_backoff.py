"""A failing source is polled again only after its backoff (or the server's Retry-After)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import db_rows

from pln.backoff import MAX_BACKOFF, MAX_RETRY_AFTER, next_poll_delay
from pln.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"


def config(tmp_path: Path, url: str) -> Path:
    shutil.copy(FIXTURES / "rss2.xml", tmp_path / "rss2.xml")
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"""
sources:
  - {{name: busy, type: rss, url: "{url}", interval: 60}}
  - {{name: local, type: rss, path: rss2.xml}}
topics:
  - {{id: practice, phrases: [retrieval practice, spaced repetition]}}
outputs: {{duckdb: out/pln.duckdb, feeds_dir: out/feeds}}
"""
    )
    return path


def health(path: Path) -> dict:
    query = "SELECT name, error_count, next_poll_at, last_error FROM sources"
    rows = db_rows(path.parent / "out" / "pln.duckdb", query)
    return {name: (errors, at, error) for name, errors, at, error in rows}


def test_retry_after_is_honoured_and_full_forces_a_poll(server, tmp_path, capsys):
    server.route("/feed.xml", status=429, headers={"Retry-After": "7200"})
    path = config(tmp_path, server.url("/feed.xml"))

    assert main(["run", "-c", str(path)]) == 0
    errors, next_poll, error = health(path)["busy"]
    assert errors == 1 and "retry after" in error.lower()
    wait = (next_poll - datetime.now(UTC)).total_seconds()
    assert 7000 < wait <= 7200  # the server's 2 h, not the 60 s interval's backoff
    assert len(server.requests_to("/feed.xml")) == 1

    capsys.readouterr()
    assert main(["run", "-c", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "busy: failing, backing off until" in err
    assert "1 backing off (busy; --full to retry now)" in out
    assert len(server.requests_to("/feed.xml")) == 1  # not polled again
    assert health(path)["local"][0] == 0  # the other source still ran

    assert main(["run", "--full", "-q", "-c", str(path)]) == 0
    assert len(server.requests_to("/feed.xml")) == 2
    assert health(path)["busy"][0] == 2  # consecutive failures counted


@pytest.mark.parametrize(
    "retry_after", ["999999999999999", "Fri, 01 Jan 2099 00:00:00 GMT", "1e400", "-5"]
)
def test_a_hostile_retry_after_is_bounded_and_the_run_completes(server, tmp_path, retry_after):
    server.route("/feed.xml", status=429, headers={"Retry-After": retry_after})
    path = config(tmp_path, server.url("/feed.xml"))
    assert main(["run", "-q", "-c", str(path)]) == 0
    errors, next_poll, _ = health(path)["busy"]
    assert errors == 1
    wait = (next_poll - datetime.now(UTC)).total_seconds()
    assert wait <= MAX_RETRY_AFTER  # never parked for years
    assert health(path)["local"][0] == 0


def test_one_policy_doubles_caps_and_honours_a_bounded_retry_after():
    assert next_poll_delay(600) == 600
    assert [next_poll_delay(600, n) for n in (1, 2, 3)] == [1200, 2400, 4800]
    assert next_poll_delay(600, 10**9) == MAX_BACKOFF  # many failures: still retried daily
    assert next_poll_delay(2 * MAX_BACKOFF, 5) == 2 * MAX_BACKOFF  # never sooner than asked
    assert next_poll_delay(600, 1, retry_after=7200) == 7200
    assert next_poll_delay(600, 1, retry_after=1e300) == MAX_RETRY_AFTER
    assert next_poll_delay(600, 1, retry_after=float("inf")) == MAX_RETRY_AFTER
    assert next_poll_delay(600, 1, retry_after=float("nan")) == 1200
    assert next_poll_delay(600, 1, retry_after=-3) == 1200


def test_the_ingester_uses_the_same_policy(tmp_path):
    from pln.pipelines import ingest

    assert ingest.next_poll_delay is next_poll_delay
