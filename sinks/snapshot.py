"""A read snapshot of the store for clients that do not retry while a stream writes.

DuckDB lets one process hold a file for writing, and a read-only open from another process
fails while it does. `pln stream` keeps its database open, so every few seconds (big stores
less often) it copies the whole database to `<name>.read.duckdb` beside it: written to a
temporary file, then renamed over the old snapshot. A reader opening the snapshot path never meets a
writer's lock, and one that already has the previous file open keeps reading it.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import duckdb

SUFFIX = ".read.duckdb"


def snapshot_path(db_path: str | Path) -> Path:
    path = Path(db_path)
    return path.with_name(path.stem + SUFFIX)


def publish_snapshot(con: duckdb.DuckDBPyConnection, db_path: str | Path) -> Path:
    """Copy the database open on `con` (the writer's connection) to its snapshot path.

    Nothing may commit on the database meanwhile: the copy is of the file itself, right after
    a checkpoint has put every commit in it (on a 1M-item store 0.14-1.6 s, mostly writing
    488 MB, against 9-10 s for DuckDB's table-by-table `COPY FROM DATABASE`, which is still
    used when the checkpoint cannot run or leaves a write-ahead log).

    A copy that fails (a full disk) leaves no partial file behind, and one left by a writer
    that died mid-copy is removed: only the process holding the database publishes, so any
    other temporary snapshot beside it is such a leftover."""
    source, target = Path(db_path), snapshot_path(db_path)
    for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
        leftover.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if _checkpointed(con, source):
            copy_held_file(source, tmp)
        else:
            _copy_tables(con, tmp)
        os.replace(tmp, target)
    except BaseException:
        for partial in (tmp, _wal(tmp)):
            partial.unlink(missing_ok=True)
        raise
    return target


def copy_held_file(source: Path, target: Path) -> None:
    """Copy a database file this process holds, in a child process.

    DuckDB locks its file with a POSIX record lock (fcntl), and POSIX releases all of a
    process's record locks on a file when the process closes *any* descriptor of that file. A
    copy made here (open, read, close) would silently unlock the database: other processes
    could then open it for writing beside the stream, and the stream's next checkpoint would
    overwrite what they wrote (a feedback label `pln serve` wrote was lost that way). A child's
    descriptors carry none of this process's locks."""
    done = subprocess.run(
        ["cp", "--", str(source), str(target)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise OSError(f"cannot copy {source} to {target}: {said[-1] if said else done.returncode}")


def _checkpointed(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Whether the file alone now holds every commit (its write-ahead log is empty)."""
    try:
        con.execute("CHECKPOINT")
    except duckdb.Error:  # another transaction is running
        return False
    wal = _wal(path)
    return not wal.exists() or wal.stat().st_size == 0


def _copy_tables(con: duckdb.DuckDBPyConnection, tmp: Path) -> None:
    database = con.execute("SELECT current_database()").fetchone()[0]
    con.execute("ATTACH ? AS pln_snapshot", [str(tmp)])
    try:
        con.execute(f'COPY FROM DATABASE "{database}" TO pln_snapshot')
    finally:
        con.execute("DETACH pln_snapshot")


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def snapshot_age(db_path: str | Path) -> float | None:
    """Seconds since the snapshot was published, or None when there is none."""
    try:
        return max(0.0, time.time() - snapshot_path(db_path).stat().st_mtime)
    except FileNotFoundError:
        return None
