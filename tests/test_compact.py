"""`pln compact` gives a store's free space back to the disk without losing or changing a row,
leaves the store untouched when it cannot finish, and lets writers that wait for it go on into
the new file."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from big_store import fill_store
from helpers import db_rows, row_count
from test_forget import age, example_copy

from pln.cli import main
from pln.config import load_config
from pln.lock import RunLock
from pln.sinks.store import Label, Store

TABLES_SQL = "SELECT table_name FROM duckdb_tables() ORDER BY 1"


def every_row(db: Path) -> dict[str, list[tuple]]:
    """Each table's rows, sorted: what a user could ever read back."""
    tables = [r[0] for r in db_rows(db, TABLES_SQL)]
    return {t: sorted(db_rows(db, f"SELECT * FROM {t}"), key=repr) for t in tables}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pln(*args: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pln.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **popen,
    )


def forgotten_store(tmp_path: Path, extra: int) -> tuple[Path, int]:
    """The example's store plus `extra` items from a year ago; `pln forget` forgets those and
    half the example's own items. Returns the config and how many of the example's stayed."""
    config_path = example_copy(tmp_path)
    db = load_config(config_path).outputs.duckdb
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    example = [r[0] for r in db_rows(db, "SELECT id FROM items ORDER BY id")]
    fill_store(db, extra, load_config(config_path).topics[0].id)
    age(db, 400, [r[0] for r in db_rows(db, "SELECT id FROM items WHERE source LIKE 'blog%'")])
    age(db, 400, example[::2])
    assert main(["forget", "--days", "365", "-c", str(config_path)]) == 0
    stayed = row_count(db, f"SELECT count(*) FROM items WHERE id IN {tuple(example)}")
    assert stayed < len(example)
    return config_path, stayed


def test_compact_shrinks_the_file_and_keeps_every_row(tmp_path, capsys):
    config_path, stayed = forgotten_store(tmp_path, 100_000)
    db = load_config(config_path).outputs.duckdb
    capsys.readouterr()
    before, size_before = every_row(db), db.stat().st_size

    assert main(["compact", "-c", str(config_path)]) == 0
    said = capsys.readouterr().out
    size_after = db.stat().st_size
    assert size_after < size_before * 0.5  # the forgotten 100k items' pages are given back
    rows = sum(len(r) for r in before.values())
    assert said.startswith(f"compacted {db}: {size_before / 1e6:,.1f} MB -> ")
    assert f"({rows:,} rows in {len(before)} tables copied and checked)" in said
    assert every_row(db) == before
    assert not list(db.parent.glob(f"{db.name}.compacting*"))
    assert not Path(f"{db}.wal").exists()

    # The store works as before: its views, and the tombstones that keep forgotten items out.
    assert row_count(db, "SELECT count(*) FROM curated_items") > 0
    assert main(["run", "--full", "-c", str(config_path)]) == 0
    summary = capsys.readouterr().out
    assert f"{stayed} read: 0 new" in summary
    assert main(["compact", "--json", "-c", str(config_path)]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["rows_checked"] > rows and done["bytes_after"] == db.stat().st_size


def test_compact_refuses_while_a_run_holds_the_store(tmp_path, capsys):
    config_path = example_copy(tmp_path)
    db = load_config(config_path).outputs.duckdb
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    capsys.readouterr()
    unchanged = digest(db)
    with RunLock(db):
        assert main(["compact", "-c", str(config_path)]) == 75  # busy: try again later
    err = capsys.readouterr().err.strip()
    assert f"another run (pid {os.getpid()}) is writing {db}; stop it" in err
    assert len(err.splitlines()) == 1
    assert digest(db) == unchanged
    assert main(["compact", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "none.duckdb does not exist; nothing to compact" in capsys.readouterr().err


def test_a_compaction_cut_short_by_a_full_disk_leaves_the_store_as_it_was(tmp_path):
    config_path, _ = forgotten_store(tmp_path, 30_000)
    db = load_config(config_path).outputs.duckdb
    unchanged, size = digest(db), db.stat().st_size

    def files_of_at_most_100_kb():
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    cut = pln("compact", "--db", str(db), preexec_fn=files_of_at_most_100_kb)
    assert cut.returncode == 1
    assert (
        cut.stderr.strip()
        .splitlines()[-1]
        .startswith(f"pln: error: compacting {db} failed, the store is unchanged: ")
    )
    assert digest(db) == unchanged and db.stat().st_size == size
    assert not Path(f"{db}.compacting").exists()

    done = pln("compact", "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert db.stat().st_size < size


def test_readers_go_on_and_a_writer_that_waits_writes_into_the_new_file(tmp_path):
    db = tmp_path / "pln.duckdb"
    fill_store(db, 300_000, "learning")
    with Store(db) as store:
        store.con.execute("DELETE FROM items WHERE id < '8'")
    item, held = db_rows(db, "SELECT max(id), count(*) FROM items")[0]

    compacting = subprocess.Popen(
        [sys.executable, "-m", "pln.cli", "compact", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "copying" in compacting.stderr.readline()
    with Store(db, read_only=True, wait=0) as reader:  # readers are not kept waiting
        assert reader.sql("SELECT count(*) FROM items")[1] == [(held,)]
        assert reader.snapshot_age is None  # the file itself, not a stream's snapshot
    assert compacting.poll() is None  # the copy is under way: this writer has to wait
    with Store(db) as store:
        store.add_labels([Label(item, "learning", 1, datetime.now(UTC))])
    out, err = compacting.communicate(timeout=120)
    assert compacting.returncode == 0, err
    assert out.startswith(f"compacted {db}")
    assert db_rows(db, "SELECT item_id, label FROM labels") == [(item, 1)]
