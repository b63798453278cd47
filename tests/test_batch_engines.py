"""The local batch engine (the default) against the Beam pipeline: the same job, the same
rows and byte-identical feeds, with one worker process or several."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import child_pids, is_running

from pln.config import load_config
from pln.pipelines.batch import run_batch
from pln.sinks.store import Store

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

ROWS = {
    "items": "SELECT id, source, title, text, html, url, canonical_url, links, lang, sources "
    "FROM items ORDER BY id",
    "decisions": "SELECT item_id, topic, round(score, 6), kept, reason FROM decisions ORDER BY 1, 2",
    "sources": "SELECT name, ok, error, cursor FROM sources ORDER BY name",
    "dead": "SELECT source, ref, reason FROM dead_letters ORDER BY source, ref",
    "stories": "SELECT item_id, story_id FROM story_members ORDER BY 1",
}


def run_example(
    tmp_path: Path, engine: str, workers: int, feed_key: Path | None = None
) -> tuple[dict, dict, Path]:
    """The example's rows per table, its feed files, and the key that signed their links
    (`feed_key`: sign with this one, so two runs sign alike)."""
    work = tmp_path / f"{engine}{workers}"
    shutil.copytree(REPO / "examples", work, ignore=shutil.ignore_patterns("out"))
    config = load_config(work / "pln.yaml")
    key = Path(f"{config.outputs.duckdb}.key")
    if feed_key:
        key.parent.mkdir(parents=True)
        shutil.copy(feed_key, key)
    runner = dataclasses.replace(config.runner, engine=engine, workers=workers)
    summary = run_batch(dataclasses.replace(config, runner=runner))
    assert summary.stats["sources"]["failed"] == 1  # the deliberately broken feed
    with Store(config.outputs.duckdb, read_only=True) as store:
        rows = {name: _here(store.sql(query)[1], str(work)) for name, query in ROWS.items()}
    feeds = {
        p.relative_to(config.outputs.feeds_dir).as_posix(): _unsigned(p.read_bytes())
        for p in sorted(config.outputs.feeds_dir.rglob("*"))
        if p.is_file()
    }
    return rows, feeds, key


def _unsigned(feed: bytes) -> bytes:
    """feed without the expiry and signature of its feedback links, which count from now."""
    return re.sub(rb"exp=\d+(&[a-z;]*)sig=[0-9a-f]+", rb"exp=E\1sig=S", feed)


def _here(rows: list[tuple], work: str) -> list[tuple]:
    """rows with this run's folder as "<work>" (cursors and dead letters name the files of the
    run's own copy of the example)."""
    return [tuple(v.replace(work, "<work>") if isinstance(v, str) else v for v in r) for r in rows]


@pytest.fixture(scope="module")
def beam_run(tmp_path_factory):
    return run_example(tmp_path_factory.mktemp("beam"), "beam", 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_writes_what_the_beam_pipeline_writes(beam_run, tmp_path, workers):
    beam_rows, beam_feeds, key = beam_run
    rows, feeds, _ = run_example(tmp_path, "local", workers, feed_key=key)
    assert len(beam_rows["items"]) > 100 and len(beam_rows["decisions"]) > 100
    for table in ROWS:
        assert rows[table] == beam_rows[table], table
    assert len(feeds) > 5
    assert feeds == beam_feeds


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Spaced repetition at work</title><link>https://e.example/1</link>
<description>How we used spaced repetition for onboarding.</description></item>
</channel></rss>"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_ctrl_c_stops_a_local_run_with_its_workers_and_the_next_run_works(tmp_path):
    (tmp_path / "good.xml").write_text(FEED)
    os.mkfifo(tmp_path / "stuck.xml")  # reading it blocks until someone writes: a hung source
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n"
        "  - {name: good, type: rss, path: good.xml}\n"
        "  - {name: stuck, type: rss, path: stuck.xml}\n"
        "topics:\n  - {id: sr, title: SR, phrases: [spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
        "runner: {workers: 2}\n"
    )
    run = [sys.executable, "-m", "pln.cli", "run", "-c", str(config)]
    proc = subprocess.Popen(run, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    for line in proc.stderr:  # the good source is done, so the workers are up
        if "✓ good" in line:
            break
    workers = child_pids(proc.pid)
    assert workers, "the run should have worker processes"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert not [pid for pid in workers if is_running(pid)]

    (tmp_path / "stuck.xml").unlink()
    (tmp_path / "stuck.xml").write_text(FEED.replace("/1<", "/2<"))
    done = subprocess.run([*run, "-q", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    # Nothing of the stopped run counted as read (cursors are written last): both sources now.
    assert summary["items"]["written"] == 2 and summary["kept"] == 2
