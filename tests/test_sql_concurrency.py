"""`pln sql` while another process writes the database: it waits for the writer's transaction
instead of failing, and says so; it gives up with one line only after PLN_LOCK_WAIT."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from helpers import article, row_count

from pln.record import Decision
from pln.sinks import snapshot
from pln.sinks.store import Store

REPO = Path(__file__).resolve().parents[1]

# A writer process: `hold` writes `batch` items and keeps the file open until its stdin closes;
# `stream` writes a batch per short transaction (open, write, close), like `pln stream`, until
# the file `stop` exists, and prints how many items it wrote.
WRITER = r"""
import sys, time
from datetime import UTC, datetime
from pln.record import Decision, Item
from pln.sinks.store import Store

import os
mode, path, batch, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def items(start):
    out = [Item.create(source="s", platform="rss", native_id=str(n), kind="article",
                       title=f"spaced practice {n}", text="spaced practice " * 20,
                       published_at=datetime(2026, 1, 1, tzinfo=UTC))
           for n in range(start, start + batch)]
    return out, [Decision(i.id, "spaced", 0.9, True, "matched") for i in out]

if mode == "hold":
    store = Store(path)
    store.write(*items(0), [])
    print("holding", flush=True)
    sys.stdin.read()
    store.close()
else:
    written = 0
    print("writing", flush=True)
    while not os.path.exists(stop):
        with Store(path) as store:
            store.write(*items(written), [])
        written += batch
        time.sleep(0.02)
    print(written, flush=True)
"""


def writer(mode: str, path: Path, batch: int, stop: Path | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, mode, str(path), str(batch), str(stop or "")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = proc.stdout.readline().strip()
    assert first in ("holding", "writing"), proc.stderr.read()
    return proc


def pln_sql_command(db: Path, query: str) -> list[str]:
    return [sys.executable, "-m", "pln.cli", "sql", "--db", str(db), "--format", "json", query]


def pln_sql(db: Path, query: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        pln_sql_command(db, query),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "pln.duckdb"
    Store(path).close()
    return path


def test_pln_sql_waits_for_a_writer_that_holds_the_file(db):
    holder = writer("hold", db, 2000)
    reader = subprocess.Popen(
        pln_sql_command(db, "SELECT count(*) AS n FROM curated_items"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    note = reader.stderr.readline()  # pln sql says it waits, and for whom
    holder.stdin.close()  # only then does the writer let go
    out, err = reader.communicate(timeout=60)
    assert holder.wait(timeout=30) == 0, holder.stderr.read()
    assert f"another process (PID {holder.pid}) holds {db}; waiting up to 10 s" in note
    assert reader.returncode == 0, note + err
    assert json.loads(out) == [{"n": 2000}]  # it saw the writer's committed rows


def test_pln_sql_gives_up_after_the_wait_with_one_line(db):
    holder = writer("hold", db, 10)
    try:
        result = pln_sql(db, "SELECT 1", PLN_LOCK_WAIT="0.6")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 75  # EX_TEMPFAIL: try again later
    note, error = result.stderr.splitlines()  # the progress note, then the one-line error
    assert note.strip().endswith("waiting up to 0.6 s")
    assert error.startswith(
        f"pln: error: database {db} is being written by another process (PID {holder.pid}) "
        "(waited 0.6 s); try again when it finishes"
    )
    assert result.stdout == ""


def test_a_bad_lock_wait_setting_is_a_one_line_error(db):
    result = pln_sql(db, "SELECT 1", PLN_LOCK_WAIT="soon")
    assert result.returncode == 2
    assert result.stderr == "pln: error: PLN_LOCK_WAIT must be a number of seconds, got 'soon'\n"


def test_queries_and_a_stream_like_writer_take_turns_without_errors(db):
    stop = db.with_name("stop")
    stream = writer("stream", db, 3000, stop)
    counts = []
    for _ in range(3):  # reads while the writer keeps writing (however slow the machine)
        result = pln_sql(db, "SELECT count(*) AS n FROM items")
        assert result.returncode == 0, result.stderr
        counts.append(json.loads(result.stdout)[0]["n"])
        with Store(db, read_only=True) as store:  # and an in-process reader, for good measure
            counts.append(store.sql("SELECT count(*) FROM items")[1][0][0])
    stop.touch()
    out, err = stream.communicate(timeout=120)
    assert stream.returncode == 0, err  # the writer waited for the readers, too
    written = int(out)
    assert counts == sorted(counts)  # never a half-written batch
    assert all(n % 3000 == 0 for n in counts)
    assert row_count(db) == written


def test_pln_sql_while_pln_run_curates_the_example(tmp_path):
    config = yaml.safe_load((REPO / "examples" / "pln.yaml").read_text())
    for source in config["sources"]:
        source["path"] = str(REPO / "examples" / source["path"])
    config["outputs"] = {"duckdb": str(tmp_path / "pln.duckdb"), "feeds_dir": str(tmp_path)}
    path = tmp_path / "pln.yaml"
    path.write_text(yaml.safe_dump(config))
    run = subprocess.Popen(
        [sys.executable, "-m", "pln.cli", "run", "-c", str(path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    db, answers = tmp_path / "pln.duckdb", []
    while run.poll() is None:
        if db.exists():
            result = pln_sql(db, "SELECT count(*) AS n FROM runs")
            assert result.returncode == 0, result.stderr
            answers.append(json.loads(result.stdout)[0]["n"])
        else:
            time.sleep(0.05)
    out, err = run.communicate()
    assert run.returncode == 0, err
    assert answers and set(answers) <= {0, 1}
    kept = json.loads(out)["kept"]
    result = pln_sql(db, "SELECT count(*) AS n FROM curated_items")
    assert json.loads(result.stdout) == [{"n": kept}] and kept > 0


def test_the_read_snapshot_holds_every_commit_and_nothing_in_progress(db):
    """The stream's snapshot is a file copy of the checkpointed store; the table-by-table copy
    (used when a checkpoint cannot run) gives the same tables."""
    posts = [
        article(f"p{n}", title=f"Spaced practice {n}", text="spaced practice") for n in range(100)
    ]
    with Store(db) as store:
        store.write(posts, [Decision(p.id, "spaced", 0.9, True, "matched") for p in posts], [])
        in_progress = store.con.cursor()
        in_progress.execute("BEGIN")
        in_progress.execute("DELETE FROM decisions")  # not committed: no snapshot may see it
        published = snapshot.publish_snapshot(store.con, db)
        by_tables = db.with_name("by-tables.duckdb")
        snapshot._copy_tables(store.con, by_tables)
        in_progress.execute("ROLLBACK")
    assert published == db.with_name("pln.read.duckdb")
    for copy in (published, by_tables):
        assert row_count(copy) == 100
        assert row_count(copy, "SELECT count(*) FROM decisions") == 100
        assert row_count(copy, "SELECT count(*) FROM curated_stories") == 100  # views too
    assert not list(db.parent.glob("*.wal")) and not list(db.parent.glob(".*.tmp*"))


def test_publishing_the_snapshot_leaves_the_store_locked_against_other_writers(db):
    """DuckDB's lock is a POSIX record lock, which a process drops when it closes any handle
    of the file: a snapshot copied in the holder's own process unlocked the store, and a label
    `pln serve` then wrote beside the stream was overwritten by the stream's next checkpoint."""
    another_writer = [sys.executable, "-c", f"import duckdb; duckdb.connect({str(db)!r})"]
    with Store(db) as store:
        snapshot.publish_snapshot(store.con, db)
        opened = subprocess.run(another_writer, capture_output=True, text=True, timeout=60)
        assert opened.returncode != 0 and "lock" in opened.stderr.lower(), opened.stderr
        assert row_count(snapshot.snapshot_path(db), "SELECT count(*) FROM items") == 0


class _HeldFeed:
    """A feed server on 127.0.0.1 that answers only once `release` is set (or after a minute)."""

    def __init__(self):
        self.release = threading.Event()
        feed = (REPO / "tests" / "fixtures" / "feeds" / "rss2.xml").read_bytes()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.release.wait(60)
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/rss+xml")
                    self.send_header("Content-Length", str(len(feed)))
                    self.end_headers()
                    self.wfile.write(feed)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/feed.xml"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_pln_sql_reads_while_pln_run_waits_on_a_slow_feed(tmp_path):
    """The run writes what the fast sources gave and lets go of the file while a slow feed
    keeps it waiting: a query then answers at once, with those items, instead of waiting for
    the run (and failing after PLN_LOCK_WAIT, as it did while the run held the file). After
    10 s the run names the source it waits for."""
    slow = _HeldFeed()
    feeds = REPO / "tests" / "fixtures" / "feeds"
    config = {
        "sources": [
            {"name": "fast", "type": "rss", "path": str(feeds / "atom.xml")},
            {"name": "slow", "type": "rss", "url": slow.url, "timeout": 80},
        ],
        "topics": [{"id": "all", "phrases": ["learning"]}],
        "outputs": {"duckdb": str(tmp_path / "pln.duckdb"), "feeds_dir": str(tmp_path / "f")},
        "fetch": {"source_deadline": 90},
    }
    path = tmp_path / "pln.yaml"
    path.write_text(yaml.safe_dump(config))
    db = tmp_path / "pln.duckdb"
    run = subprocess.Popen(
        [sys.executable, "-m", "pln.cli", "run", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not any(line.strip().startswith("✓ fast") for line in lines):
            line = run.stderr.readline()
            assert line, "".join(lines)  # the run ended before the fast feed was read
            lines.append(line)
        started, seen = time.monotonic(), 0
        while not seen and time.monotonic() - started < 15:  # written a second after it came
            result = pln_sql(db, "SELECT count(*) AS n FROM items", PLN_LOCK_WAIT="20")
            assert result.returncode == 0, result.stderr
            seen = json.loads(result.stdout)[0]["n"]
        waited = time.monotonic() - started
        while not any("still reading" in line for line in lines):  # and says what it waits for
            line = run.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        slow.close()
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert seen > 0 and waited < 15  # the fast feed's items, while the slow one hung (60 s)
    assert row_count(db) > seen  # and the slow feed's, once it answered
    assert re.fullmatch(r"… slow: still reading after 1\d s \(deadline 90 s\)", lines[-1].strip())
