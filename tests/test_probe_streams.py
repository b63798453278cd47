"""The local engine takes each changed feed from the probe as the probe finds it: one feed
server that hangs on its conditional GET does not hold the others back (real HTTP server on
127.0.0.1, real `pln run` processes)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import child_pids
from httpserver import AnsweringServer, RecordedServer

from pln.config import load_config
from pln.errors import PlnError
from pln.pipelines.batch import run_batch
from pln.sinks.store import Store

FEED = (Path(__file__).parent / "fixtures" / "feeds" / "rss2.xml").read_bytes()


def item(n: str) -> bytes:
    link = f"https://new.example/{n}"
    return (
        f"<item><title>New post {n}: spaced repetition at work</title><link>{link}</link>"
        f'<guid isPermaLink="true">{link}</guid><description>Fresh notes on spaced '
        "repetition for employee onboarding.</description></item>"
    ).encode()


class Feeds:
    """`/slow.xml`: the feed the first time; then, asked again (a conditional GET), nothing
    until `release` is set, then 304. `/aN.xml`: the feed the first time, then the feed with
    one new entry (`https://new.example/aN`), whatever the request says. `/same.xml`: the
    feed, then 304. `/bad.xml`: the feed, then 500."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waiting = threading.Event()  # the slow feed's second request has come
        self.asked: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = AnsweringServer(self._answer)
        self.base = self.server.base

    def _answer(self, path: str):
        name = path.strip("/").removesuffix(".xml")
        with self._lock:
            self.asked[name] = asked = self.asked.get(name, 0) + 1
        status, body, etag = 200, FEED, f'"{name}-1"'
        if asked > 1 and name == "slow":
            self.waiting.set()
            self.release.wait(120)
            status, body = 304, b""
        elif asked > 1 and name == "same":
            status, body = 304, b""
        elif asked > 1 and name == "bad":
            status, body = 500, b"down for maintenance"
        elif asked > 1:
            body = FEED.replace(b"<item>", item(name) + b"<item>", 1)
            etag = f'"{name}-2"'
        return status, {"ETag": etag, "Content-Type": "application/rss+xml"}, body

    def close(self) -> None:
        self.release.set()
        self.server.close()


@pytest.fixture
def feeds():
    served = Feeds()
    yield served
    served.close()


def write_config(tmp_path: Path, base: str, names: list[str]) -> Path:
    sources = "".join(
        f"  - {{name: {n}, type: rss, url: '{base}/{n}.xml', timeout: 100}}\n" for n in names
    )
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n{sources}"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return path


def stored(db: Path, query: str) -> list[tuple] | None:
    """`query` on the store, read-only; None while the run holds the file."""
    try:
        with Store(db, read_only=True) as store:
            return store.sql(query)[1]
    except PlnError as exc:
        if "being written" in str(exc):
            return None
        raise


@pytest.mark.slow
def test_changed_feeds_are_curated_and_written_while_the_probe_waits_on_a_hung_server(
    tmp_path, feeds
):
    changed = ["a1", "a2", "a3"]
    config = write_config(tmp_path, feeds.base, ["slow", *changed, "same"])
    db = tmp_path / "out" / "pln.duckdb"
    assert run_batch(load_config(config)).stats["sources"]["ok"] == 5  # every feed read once

    run = [sys.executable, "-m", "pln.cli", "run", "--json", "-c", str(config)]
    proc = subprocess.Popen(
        run,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PLN_PROGRESS": "1"},  # --json alone prints no progress
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    new = "SELECT url FROM items WHERE url LIKE 'https://new.example/%' ORDER BY url"
    try:
        assert feeds.waiting.wait(30), "the probe should ask the slow feed again"
        deadline = time.monotonic() + 45
        rows = None
        while time.monotonic() < deadline and proc.poll() is None:
            rows = stored(db, new)
            if rows and len(rows) == len(changed):
                break
            time.sleep(0.2)
        # The slow server has not answered yet, and the run goes on waiting for it ...
        assert not feeds.release.is_set() and proc.poll() is None
        # ... while the feeds that changed are already curated and in the file (which the
        # run has let go of, so that readers may open it meanwhile).
        assert rows == [(f"https://new.example/{n}",) for n in changed]
        # The settled feed was reported as the probe got its answer.
        assert "  ✓ same: not modified\n" in lines
        assert feeds.asked["slow"] == 2
        # And the run says what it waits for (after 10 s).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("slow: still" in x for x in lines):
            time.sleep(0.2)
        waits = [x.strip() for x in lines if "slow: still" in x]
        assert re.fullmatch(r"… slow: still reading after 1\d s \(deadline 120 s\)", waits[0])
    finally:
        feeds.release.set()
    out = proc.stdout.read()  # the summary, at the end; stderr is the reader's alone
    assert proc.wait(timeout=60) == 0, "".join(lines)
    reader.join(timeout=10)
    summary = json.loads(out)
    assert summary["sources"]["ok"] == 5 and summary["sources"]["not_modified"] == 2
    assert "  ✓ slow: not modified\n" in lines
    assert all(feeds.asked[n] == 2 for n in ["slow", *changed, "same"])  # each asked once
    assert len(stored(db, new)) == len(changed)
    with Store(db, read_only=True) as store:
        cursors = store.cursors()
        runs = store.sql("SELECT name, run_id FROM sources ORDER BY name")[1]
    assert {n: cursors[n]["etag"] for n in cursors} == {
        "slow": '"slow-1"',  # a 304 keeps what the feed had
        "same": '"same-1"',
        **{n: f'"{n}-2"' for n in changed},
    }
    assert len({run_id for _, run_id in runs}) == 1  # every status is the second run's
    assert not list(tmp_path.glob("out/*.staging/*"))  # staged responses are cleaned up


def test_a_run_where_nothing_changed_still_never_lets_the_crew_load_the_curator(
    server: RecordedServer, tmp_path
):
    """The probe runs beside the parent now; a run whose feeds all answer 304 (one of them
    slowly) or are failing still settles them all without starting the pipeline: the held
    crew is never let go, neither spaCy nor Arrow is imported, and the statuses are kept."""
    for n in ("a", "b"):
        server.route(f"/{n}.xml", body=FEED, headers={"ETag": f'"{n}-1"'}, repeat=1)
        server.route(f"/{n}.xml", status=304, headers={"ETag": f'"{n}-1"'}, delay=0.5 * (n == "b"))
    server.route("/c.xml", body=FEED, headers={"ETag": '"c-1"'}, repeat=1)
    server.route("/c.xml", status=500)
    sources = "".join(
        f"  - {{name: {n}, type: rss, url: '{server.url(f'/{n}.xml')}'}}\n" for n in "abc"
    )
    (tmp_path / "local.xml").write_bytes(FEED)
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n{sources}  - {{name: local, type: rss, path: local.xml}}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    run_batch(load_config(path))  # the first run reads every feed
    script = (
        "import json, sys, multiprocessing.process as mp\n"
        "started, start = [], mp.BaseProcess.start\n"
        "mp.BaseProcess.start = lambda p: (started.append((p.name, p._args[-1])), start(p))\n"
        "from pln.config import load_config\n"
        "from pln.pipelines.batch import run_batch\n"
        f"s = run_batch(load_config({str(path)!r}))\n"
        "print(json.dumps([s.stats['sources']['not_modified'], sorted(s.stats['sources']"
        "['errors']), [m for m in ('spacy', 'pyarrow', 'feedparser') if m in sys.modules],"
        " [(name, go.is_set()) for name, go in started]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PLN_PROGRESS": "1"},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [3, ["c"], [], [["pln-batch-crew", False]]]
    for line in ("✓ a: not modified", "✓ b: not modified", "✓ local: not modified", "✗ c: "):
        assert f"  {line}" in done.stderr
    with Store(tmp_path / "out" / "pln.duckdb", read_only=True) as store:
        rows = dict(
            (name, (error_count, run_id))
            for name, error_count, run_id in store.sql(
                "SELECT name, error_count, run_id FROM sources"
            )[1]
        )
        last_run = store.sql("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[1][0][0]
    assert rows == {
        "a": (0, last_run),
        "b": (0, last_run),
        "c": (1, last_run),
        "local": (0, last_run),
    }


def test_an_error_in_the_probe_reaches_the_caller_and_the_next_run_works(
    server: RecordedServer, tmp_path, monkeypatch
):
    """The probe runs on a thread of its own: what breaks there (not a source's failure,
    which is that source's status) still ends the run with that error."""
    from pln.sources import fetch_pool

    server.route("/a.xml", body=FEED, headers={"ETag": '"a-1"'}, repeat=1)
    server.route("/a.xml", status=304, headers={"ETag": '"a-1"'})
    server.route("/b.xml", body=FEED, headers={"ETag": '"b-1"'}, repeat=1)
    server.route("/b.xml", body=FEED.replace(b"<item>", item("b") + b"<item>", 1))
    sources = "".join(
        f"  - {{name: {n}, type: rss, url: '{server.url(f'/{n}.xml')}'}}\n" for n in "ab"
    )
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n{sources}"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    config = load_config(path)
    first = run_batch(config)
    assert first.stats["sources"]["ok"] == 2

    collect = fetch_pool.FetchPool._collect

    def broken(pool, *args, **kwargs):
        for done in collect(pool, *args, **kwargs):
            if done.config.name == "b":
                raise RuntimeError("the probe broke")
            yield done

    monkeypatch.setattr(fetch_pool.FetchPool, "_collect", broken)
    with pytest.raises(RuntimeError, match="the probe broke"):
        run_batch(config)
    monkeypatch.undo()
    again = run_batch(config)
    assert again.stats["sources"]["ok"] == 2 and again.stats["sources"]["not_modified"] == 1


@pytest.mark.slow
def test_a_run_that_fails_still_records_what_the_probe_settled(tmp_path, feeds):
    """The crew is killed while the probe waits on a hung server: the run fails (exit 1), yet
    the feed that answered 500 to the probe counts that failure (toward its back-off) and the
    304 is noted, as when the probe ran before the pipeline."""
    config = write_config(tmp_path, feeds.base, ["slow", "a1", "same", "bad"])
    db = tmp_path / "out" / "pln.duckdb"
    assert run_batch(load_config(config)).stats["sources"]["ok"] == 4
    first = dict(stored(db, "SELECT name, run_id FROM sources"))

    run = [sys.executable, "-m", "pln.cli", "run", "-c", str(config)]
    env = {**os.environ, "PLN_PROGRESS": "1"}
    proc = subprocess.Popen(run, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        assert feeds.waiting.wait(30), "the probe should ask the slow feed again"
        deadline = time.monotonic() + 30
        while not any("✗ bad" in x for x in lines) or not any("✓ a1" in x for x in lines):
            assert time.monotonic() < deadline, lines
            time.sleep(0.1)
        (crew,) = child_pids(proc.pid)
        os.kill(crew, signal.SIGKILL)
        assert proc.wait(timeout=30) == 1
    finally:
        feeds.release.set()
        proc.kill()
    reader.join(timeout=10)
    assert "pln: error: batch worker 0 failed: killed by SIGKILL\n" in lines
    rows = stored(db, "SELECT name, error_count, not_modified, run_id FROM sources")
    now = {name: (errors, not_modified, run_id) for name, errors, not_modified, run_id in rows}
    second = now["bad"][2]
    assert second != first["bad"]
    assert now["bad"][:2] == (1, False)
    assert now["same"] == (0, True, second)
