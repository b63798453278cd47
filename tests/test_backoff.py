"""A failing source is polled again only after its backoff (or the server's Retry-After)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from httpserver import RecordedServer

from pln.cli import main
from pln.sinks.store import Store

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
    with Store(path.parent / "out" / "pln.duckdb", read_only=True) as store:
        _, rows = store.sql("SELECT name, error_count, next_poll_at, last_error FROM sources")
    return {name: (errors, at, error) for name, errors, at, error in rows}


def test_retry_after_is_honoured_and_full_forces_a_poll(tmp_path, capsys):
    with RecordedServer() as server:
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
