"""What `pln` tells a person or a cron job: read-only SQL, exit codes, one-line errors, a quiet
`-q`, a short summary, and backoff that follows the config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import db_rows
from kafka_broker import free_port

from pln.cli import EXIT_SOURCES_FAILED, main
from pln.config import load_config
from pln.pipelines.batch import RunSummary
from pln.summary import format_run_summary

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def write_config(tmp_path: Path, sources: str, outputs: str = "") -> Path:
    for name in ("rss2.xml", "not-a-feed.html"):
        shutil.copy(FEEDS / name, tmp_path / name)
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"""
sources:
{sources}
topics:
  - {{id: practice, phrases: [retrieval practice, spaced repetition]}}
outputs: {outputs or "{duckdb: out/pln.duckdb, feeds_dir: out/feeds}"}
"""
    )
    return path


GOOD = "  - {name: good, type: rss, path: rss2.xml}"
BROKEN = "  - {name: broken, type: rss, path: not-a-feed.html}"


@pytest.fixture
def ran(tmp_path) -> Path:
    path = write_config(tmp_path, GOOD)
    assert main(["run", "-q", "-c", str(path)]) == 0
    return path


HOSTILE_SQL = [
    "COPY items TO '{out}/copy.csv'",
    "EXPORT DATABASE '{out}/export'",
    "ATTACH '{out}/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT * FROM read_text('{cfg}')",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SELECT 1; COPY items TO '{out}/second.csv'",
]


@pytest.mark.parametrize("query", HOSTILE_SQL)
def test_pln_sql_refuses_anything_but_reading_the_database(ran, tmp_path, capsys, query):
    out = tmp_path / "written"
    out.mkdir()
    capsys.readouterr()
    code = main(["sql", "-c", str(ran), query.format(out=out, cfg=ran)])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("pln: error: ") and err.count("\n") == 1, err  # one line
    assert list(out.iterdir()) == []  # nothing written


def test_pln_sql_reads_and_says_what_is_wrong_in_one_line(ran, capsys):
    capsys.readouterr()
    assert main(["sql", "-c", str(ran), "--format", "csv", "SELECT count(*) AS n FROM items"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] != "0"
    assert "\r" not in out  # ids piped to `pln label` in a shell kept a "\r" (QA)
    for query, expected in [
        ("", "no SQL statement given"),
        ("   ", "no SQL statement given"),
        ("SELEC 1", "syntax error"),
        ("SELECT nope FROM items", "SQL error"),
    ]:
        assert main(["sql", "-c", str(ran), query]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err


def test_pln_sql_without_a_database_is_a_user_mistake(tmp_path, capsys):
    path = write_config(tmp_path, GOOD)
    assert main(["sql", "-c", str(path), "SELECT 1"]) == 2
    assert "does not exist; run `pln run` first" in capsys.readouterr().err


def test_a_failing_source_warns_on_stderr_even_when_quiet(tmp_path, capsys):
    path = write_config(tmp_path, f"{GOOD}\n{BROKEN}")
    assert main(["run", "-q", "-c", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "pln: warning: 1 of 2 sources failed: broken (`pln sources` says why)\n"
    # --strict: a code for monitors; --full so the broken source is tried again now.
    code = main(["run", "-q", "--strict", "--full", "-c", str(path)])
    assert code == EXIT_SOURCES_FAILED
    assert "1 of 2 sources failed" in capsys.readouterr().err
    # A run where every source is fine (or skipped by backoff) says nothing at all.
    assert main(["run", "-q", "-c", str(write_config(tmp_path, GOOD))]) == 0
    assert capsys.readouterr() == ("", "")


def test_quiet_run_prints_nothing_not_even_library_warnings(tmp_path):
    path = write_config(tmp_path, GOOD)
    done = subprocess.run(
        [sys.executable, "-m", "pln.cli", "run", "-q", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0
    assert (done.stdout, done.stderr) == ("", "")


@pytest.mark.parametrize("key", ["duckdb", "feeds_dir"])
def test_an_outputs_path_that_cannot_be_created_is_a_config_mistake(tmp_path, capsys, key):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    outputs = {"duckdb": "out/pln.duckdb", "feeds_dir": "out/feeds"}
    outputs[key] = f"blocker/sub/{'pln.duckdb' if key == 'duckdb' else 'feeds'}"
    path = write_config(
        tmp_path, GOOD, "{" + ", ".join(f"{k}: {v}" for k, v in outputs.items()) + "}"
    )
    for command in ("validate", "run"):
        assert main([command, "-c", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"outputs.{key}: folder" in err and "blocker is a file" in err, err
        assert err.count("\n") == 1


def test_the_summary_stays_short_with_a_thousand_sources(tmp_path):
    config = load_config(write_config(tmp_path, GOOD))
    names = [f"source-{i:04d}" for i in range(1000)]
    stats = {
        "items": {"written": 5, "new": 5, "updated": 0, "unchanged": 0},
        "topics": {},
        "dropped": 0,
        "dead_letters": 3000,
        "dead_letters_by_source": {n: 3 for n in names},
        "sources": {
            "ok": 0,
            "failed": 1000,
            "not_modified": 0,
            "errors": {n: f"source {n!r}: not an RSS/Atom feed: {n}.xml" for n in names},
            "backing_off": {n: "2026-12-01T00:00:00+00:00" for n in names},
        },
    }
    summary = RunSummary("run-1", tmp_path / "pln.duckdb", tmp_path / "feeds", 1.0, stats)
    text = format_run_summary(summary, config)
    assert len(text.splitlines()) <= 16 and len(text) < 2_000, text
    assert "1,000 backing off (source-0000, source-0001" in text
    assert "and 995 more; --full to retry now)" in text
    assert "✗ … and 995 more (`pln sources`)" in text
    assert "3,000 records could not be read (source-0000 3, " in text


def health(path: Path) -> dict[str, tuple]:
    query = "SELECT name, ok, error_count, next_poll_at FROM sources"
    rows = db_rows(path.parent / "out" / "pln.duckdb", query)
    return {name: rest for name, *rest in rows}


def test_an_edited_source_is_read_whole_though_its_file_did_not_change(tmp_path, capsys):
    """After "config changed, reading it again" the source is read: the old config's cursor
    (the file's size and mtime) must not make it "not modified"."""
    path = write_config(tmp_path, GOOD)
    assert main(["run", "-c", str(path)]) == 0
    assert "items     3 read: 3 new" in capsys.readouterr().out
    path = write_config(tmp_path, GOOD.replace("}", ", max_bytes: 1000000}"))
    assert main(["run", "-c", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "good: config changed, reading it again" in err
    assert "items     3 read: 0 new, 0 updated, 3 unchanged" in out
    assert main(["run", "-c", str(path)]) == 0  # and from then on, by its new cursor
    assert "✓ good: not modified" in capsys.readouterr().err


def test_backoff_follows_the_config_not_the_name(tmp_path, capsys):
    path = write_config(tmp_path, f"{GOOD}\n{BROKEN}")
    main(["run", "-q", "-c", str(path)])
    ok, errors, next_poll = health(path)["broken"]
    assert not ok and errors == 1 and next_poll > datetime.now(UTC)
    capsys.readouterr()

    main(["run", "-c", str(path)])
    assert "1 backing off (broken; --full to retry now)" in capsys.readouterr().out

    # Fixed: the same name now reads a good file, and is read at once, no --full needed.
    fixed = BROKEN.replace("not-a-feed.html", "rss2.xml")
    path = write_config(tmp_path, f"{GOOD}\n{fixed}")
    assert main(["run", "-c", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "backing off" not in out and "broken: config changed, reading it again" in err
    assert health(path)["broken"][:2] == [True, 0]

    # Broken again, then removed from the config: no longer listed as backing off.
    path = write_config(tmp_path, f"{GOOD}\n{BROKEN}")
    main(["run", "-q", "-c", str(path)])
    assert health(path)["broken"][0] is False
    path = write_config(tmp_path, GOOD)
    assert main(["run", "-c", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert "backing off" not in out and "broken" not in out


def test_sigterm_exits_even_when_a_library_left_a_thread_running(tmp_path):
    """`pln stream` stopped while Beam's runner starts a pipeline: a runner thread that is not
    a daemon must not keep the process alive after the command cleaned up (seen once in 27)."""
    import signal
    import time

    port = free_port()  # no broker there: the stream waits for one, retrying
    config = write_config(tmp_path, GOOD)
    script = (
        "import threading, time, sys\n"
        "threading.Thread(target=time.sleep, args=(600,), name='runner-left-over').start()\n"
        f"sys.argv = ['pln', 'stream', '-c', {str(config)!r}, '--bootstrap', '127.0.0.1:{port}']\n"
        "import pln.cli\n"
        "pln.cli.run()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err  # SIGTERM stops a service cleanly
    assert err.rstrip().endswith("pln: stopped (SIGTERM)")


def test_a_sigterm_swallowed_where_python_ignores_exceptions_still_ends_the_stream(tmp_path):
    """The handler's KeyboardInterrupt can land in a weakref callback inside Beam (seen in CI),
    where Python prints it and goes on; the command must still end, with code 130."""
    import signal
    import time

    script = (
        "import time, pln.cli_stream as s\n"
        "s.GRACE = 1.0\n"
        "s._prepare_process()\n"
        "said = False\n"
        # What a place that ignores exceptions amounts to. The outer loop catches the one
        # KeyboardInterrupt if it lands between the inner loop's try statements, and 'ready'
        # is said inside them: a KeyboardInterrupt outside every try ends the process by
        # SIGINT, -2, before the grace timer can (seen in CI, twice).
        "while True:\n"
        "    try:\n"
        "        while True:\n"
        "            try:\n"
        "                if not said:\n"
        "                    print('ready', flush=True)\n"
        "                    said = True\n"
        "                time.sleep(0.05)\n"
        "            except KeyboardInterrupt:\n"
        "                pass\n"
        "    except KeyboardInterrupt:\n"
        "        pass\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and 0.9 < time.monotonic() - started < 10
    assert err.strip() == "pln: interrupted, and not stopped after 1 s: exiting"
