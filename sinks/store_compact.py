"""Giving a store's free space back to the disk: a checked copy that replaces the file.

DuckDB reuses the pages that deleted rows (forgetting, upserts) leave free, but never shrinks the
file. `compact` copies every table, view and constraint into a new file beside it, checks the
copy row for row (a count and an order-free hash of every row, per table), and only then renames
it over the old one. Until that rename the old file is untouched, so a failure at any step (a full
disk, a kill) leaves the store as it was, plus at most a leftover `.compacting` file that the next
attempt removes.

Other processes: `pln run` and `pln stream` hold RunLock, so compacting refuses while one is on.
During the copy the old file is attached read-only: readers (`pln sql`, `pln serve`'s pages) go on
reading it; a writer waits for the lock (DuckDB's own file lock) and, once the file is replaced,
opens the new one, as every writer opens the store by path.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pln import progress
from pln.errors import PlnError, UsageError
from pln.lock import RunInProgress, RunLock

from .store_db import Database, StoreBusy, first_line, lock_wait_default

OLD, NEW = "pln_compact_old", "pln_compact_new"
# After the rename the old file stays locked this long: a writer that opened the old path just
# before the rename fails to lock it and opens the path again (the new file), instead of locking
# the old one as it is released and writing where nobody will read.
RELEASE_GRACE = 0.5
WAL_RETRIES = 3


class CompactFailed(PlnError):
    """Compacting stopped; the store file is unchanged."""


@dataclass(frozen=True)
class Compacted:
    path: Path
    bytes_before: int
    bytes_after: int
    tables: int
    rows: int
    seconds: float

    def as_dict(self) -> dict:
        return {
            "database": str(self.path),
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "tables": self.tables,
            "rows_checked": self.rows,
            "seconds": round(self.seconds, 3),
        }

    def line(self) -> str:
        return (
            f"compacted {self.path}: {self.bytes_before / 1e6:,.1f} MB -> "
            f"{self.bytes_after / 1e6:,.1f} MB in {self.seconds:.1f} s "
            f"({progress.counted(self.rows, 'row')} in {progress.counted(self.tables, 'table')} "
            "copied and checked)"
        )


def compacting_path(db: Path) -> Path:
    return Path(f"{db}.compacting")


def compact(db: Path, wait: float | None = None) -> Compacted:
    """Replace the store at `db` with a checked, compact copy of itself."""
    db = Path(db)
    if not db.is_file():
        raise UsageError(f"database {db} does not exist; nothing to compact")
    started = time.monotonic()
    wait = lock_wait_default(read_only=False) if wait is None else wait
    try:
        with RunLock(db, "pln compact"):
            return _compact_locked(db, wait, started)
    except RunInProgress as exc:
        raise RunInProgress(f"{exc.busy}; stop it (or let it finish) and compact then") from None


def _compact_locked(db: Path, wait: float, started: float) -> Compacted:
    copy = compacting_path(db)
    _remove(copy)
    con = _attach_settled(db, wait)
    bytes_before = db.stat().st_size
    try:
        progress.say(f"copying {db} ({bytes_before / 1e6:,.1f} MB) to {copy.name}")
        try:
            con.execute(f"ATTACH ? AS {NEW}", [str(copy)])
            con.execute(f"COPY FROM DATABASE {OLD} TO {NEW}")
            progress.say("checking the copy, table by table")
            tables, rows = _check_copy(con, db)
            con.execute(f"DETACH {NEW}")
        except duckdb.Error as exc:
            raise CompactFailed(
                f"compacting {db} failed, the store is unchanged: {first_line(exc)}"
            ) from None
        if Path(f"{copy}.wal").exists():
            raise CompactFailed(f"compacting {db}: the copy was not fully written; unchanged")
        shutil.copymode(db, copy)
        _fsync(copy)
        os.replace(copy, db)
        _fsync(db.parent)
        time.sleep(RELEASE_GRACE)
    except BaseException:
        _remove(copy)
        raise
    finally:
        con.close()
    return Compacted(db, bytes_before, db.stat().st_size, tables, rows, time.monotonic() - started)


def _attach_settled(db: Path, wait: float) -> duckdb.DuckDBPyConnection:
    """A connection with `db` attached read-only and no write-ahead log beside it.

    Opening it for writing first replays and checkpoints any log a killed writer left; a log
    that appears again before the read-only attach means a writer came in between: try again."""
    for _ in range(WAL_RETRIES):
        Database(db, wait=wait).close()  # brings the schema up to date, checkpoints on close
        con = duckdb.connect(":memory:")
        try:
            _attach_read_only(con, db, wait)
        except BaseException:
            con.close()
            raise
        if not Path(f"{db}.wal").exists():
            return con
        con.close()
    raise CompactFailed(f"database {db} is being written all the time; stop its writers first")


def _attach_read_only(con: duckdb.DuckDBPyConnection, db: Path, wait: float) -> None:
    started = time.monotonic()
    while True:
        try:
            con.execute(f"ATTACH ? AS {OLD} (READ_ONLY)", [str(db)])
            return
        except duckdb.Error as exc:
            if "lock" not in str(exc).lower():
                raise CompactFailed(f"database {db}: cannot open: {first_line(exc)}") from None
        if (waited := time.monotonic() - started) >= wait:
            raise StoreBusy(db, "another process", waited)
        time.sleep(0.05)


def _check_copy(con: duckdb.DuckDBPyConnection, db: Path) -> tuple[int, int]:
    """Each table's row count and the sum of its rows' hashes, in the copy as in the original."""
    names = [
        r[0]
        for r in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE database_name = ? ORDER BY 1",
            [OLD],
        ).fetchall()
    ]
    rows = 0
    for name in names:
        quoted = ".".join(f'"{part}"' for part in name.split("."))
        fingerprint = "SELECT count(*), coalesce(sum(hash(t)), 0) FROM {}.{} AS t"
        old = con.execute(fingerprint.format(OLD, quoted)).fetchone()
        new = con.execute(fingerprint.format(NEW, quoted)).fetchone()
        if old != new:
            raise CompactFailed(
                f"compacting {db}: the copy of table {name} differs ({new[0]:,} rows against "
                f"{old[0]:,}); the store is unchanged"
            )
        rows += old[0]
    return len(names), rows


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(copy: Path) -> None:
    for leftover in (copy, Path(f"{copy}.wal")):
        leftover.unlink(missing_ok=True)
