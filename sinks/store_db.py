"""The store's DuckDB connection: opening the file while others hold it, the schema, transactions.

One process writes at a time (DuckDB's file lock): a writer excludes every other process, readers
share the file with each other. Opening waits while another process holds the file (up to
`wait` seconds: PLN_LOCK_WAIT, else 10 s to read and 120 s to write), since writers hold it only
for short transactions; see docs/sql.md. A reader that finds the file held by a stream reads the
stream's published snapshot instead (snapshot.py).

A writer brings a store an older pln made up to date (the DDL's migrations); a reader that comes
first sees today's tables and views through temporary stand-ins and leaves the file as it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pln import progress
from pln.errors import PlnError, UsageError, shown_path

from .schema import DDL, SCHEMA_VERSION
from .snapshot import snapshot_age, snapshot_path

# With the version: a pln of another version but the same DDL must still check the version
# (the DDL did not change from 1 to 2, and the pln before 2 skipped the check for a store of 2).
DDL_HASH = hashlib.sha1(f"{SCHEMA_VERSION}\n{DDL}".encode()).hexdigest()[:16]
# A table or view the DDL creates (its statements that are not migrations).
_CREATED = re.compile(
    r"^CREATE (?P<head>(OR REPLACE )?)(?P<kind>TABLE|VIEW) (?P<tail>(IF NOT EXISTS )?)(?P<name>\w+)",
    re.M,
)
LOCK_WAIT_ENV = "PLN_LOCK_WAIT"
# Seconds to wait for another process to release the file. Writers wait longer: a run that has
# fetched and curated everything should not be lost to someone's long `pln sql` query.
DEFAULT_READ_WAIT = 10.0
DEFAULT_WRITE_WAIT = 120.0
NOTE_AFTER = 0.5  # seconds of waiting before saying so
SNAPSHOT_MAX_AGE = 60.0  # a busy file's snapshot older than this is not read (stream gone?)
# A bulk writer's row groups (DuckDB's default: 122,880 rows). The commit that stores a first
# run's 25,000 items compresses them in 0.19 s in two row groups, 0.24-0.26 s in one; 8,192
# is no faster, and the file grows (19.7 MB by default, 21.0 at 16,384, 24.1 at 8,192).
BULK_ROW_GROUP = 16_384
BULK_ALIAS = "pln_store"
# What DuckDB raises when the disk is full or a file may not grow (`Failed to commit: Could not
# write file ...` is a TransactionException); the transaction is then rolled back. A checkpoint
# that fails so (FatalException) leaves the connection unusable until the file is reopened.
WRITE_FAILURES = (
    duckdb.IOException,
    duckdb.TransactionException,
    duckdb.OutOfMemoryException,
    duckdb.FatalException,
)


class StoreBusy(PlnError):
    """Another process held the database file for longer than we were willing to wait.

    A reader is kept out only by a process that opened the file to write; a writer by any other
    process, which may only be reading (a plain DuckDB client): its message says no more."""

    exit_code = 75  # EX_TEMPFAIL: try again later

    def __init__(self, path: Path, holder: str, waited: float = 0.0, read_only: bool = True):
        self.path, self.holder, self.waited = path, holder, waited
        after = f" (waited {waited:.1f} s)" if waited >= NOTE_AFTER else ""
        if read_only:
            message = (
                f"database {shown_path(path)} is being written by {holder}{after}; try again when it "
                "finishes, or query a copy of the file"
            )
        else:
            message = (
                f"database {shown_path(path)}: {holder} holds the file open{after}; "
                "try again when it closes it"
            )
        super().__init__(message)


def lock_wait_default(read_only: bool = True) -> float:
    """Seconds to wait for a busy database: $PLN_LOCK_WAIT, else 10 to read, 120 to write."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_READ_WAIT if read_only else DEFAULT_WRITE_WAIT
    value = wait_seconds(raw)
    if value is None:
        raise UsageError(f"{LOCK_WAIT_ENV} must be a number of seconds, got {raw!r}")
    return value


def wait_seconds(text: str) -> float | None:
    """`text` as seconds to wait, 0 or more; None when it is not that (nan and "10s" too)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None  # nan >= 0 is False


def no_database(path: Path) -> UsageError:
    """The one-line user mistake (exit 2) of a command that reads a store not made yet (or
    is given a folder for one)."""
    if path.is_dir():
        return UsageError(f"database {shown_path(path)} is a folder; name a database file")
    return UsageError(f"database {shown_path(path)} does not exist; run `pln run` first")


class Database:
    """An open store file: `con`, and `transaction()` blocks that nest.

    While another process holds the file, opening retries for up to `wait` seconds (None:
    `lock_wait_default`), with a progress note, then raises StoreBusy. A writable open creates
    the file and its schema. `bulk`: a writer of many rows at a time (the batch job's), whose
    rows go into smaller row groups (`BULK_ROW_GROUP`); DuckDB sets that only when it attaches
    the file, so this open attaches it to an in-memory database. While it is open, no other
    open of the file in this process works (DuckDB: "already attached"), where plain opens
    share one database: it is for the batch job's writer, the one open at that time.
    """

    def __init__(
        self,
        path: str | Path,
        read_only: bool = False,
        wait: float | None = None,
        bulk: bool = False,
    ):
        self.path = Path(path)
        self.read_only = read_only
        self.bulk = bulk and not read_only
        self._depth = 0  # open transaction() blocks
        self.snapshot_age: float | None = None  # set when reading a stream's snapshot instead
        self.con = self._connect(lock_wait_default(read_only) if wait is None else wait)
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            if read_only:
                self._check_is_store()
                self._stand_in_for_newer_schema()
            else:
                self._create_schema()
        except BaseException:
            self.con.close()
            raise

    @classmethod
    def sharing(cls, other: Database) -> Database:
        """A read-only handle on `other`'s open database with its own cursor (for a thread)."""
        handle = cls.__new__(cls)
        handle.path, handle.read_only, handle._depth = other.path, True, 0
        handle.bulk = False
        handle.snapshot_age = None
        handle.con = other.con.cursor()
        handle._stand_in_for_newer_schema()  # a cursor does not see its parent's temp objects
        return handle

    def transaction(self) -> _Transaction:
        """One DuckDB transaction. Nested blocks join the outermost one (DuckDB has no nested
        transactions), so a caller can commit several writes, and its own rows, atomically."""
        return _Transaction(self)

    def close(self) -> None:
        self.con.close()

    def meta(self, key: str) -> str | None:
        """A value of `pln_meta` (None when unset or the file is new)."""
        try:
            row = self.con.execute("SELECT value FROM pln_meta WHERE key = ?", [key]).fetchone()
        except duckdb.CatalogException:  # a new, empty file
            return None
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO pln_meta VALUES (?, ?)", [key, value])

    def _connect(self, wait: float) -> duckdb.DuckDBPyConnection:
        if self.read_only and not self.path.is_file():
            raise no_database(self.path)
        if not self.read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PlnError(
                    f"database {shown_path(self.path)}: cannot create its folder: {exc}"
                ) from None
        started = time.monotonic()
        delay, told = 0.005, False
        while True:
            try:
                if self.bulk:
                    return self._attached()
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.Error as exc:
                error = self._open_error(exc)
            waited = time.monotonic() - started
            if not isinstance(error, StoreBusy):
                raise error from None
            if self.read_only and (snapshot := self._fresh_snapshot()) is not None:
                return snapshot
            if not told and waited >= NOTE_AFTER:
                progress.say(
                    f"{error.holder} holds {shown_path(self.path)}; waiting up to {wait:g} s"
                )
                told = True
            if waited >= wait:
                raise StoreBusy(self.path, error.holder, waited, self.read_only) from None
            # Writers hold the file for milliseconds at a time: poll often, then less so.
            time.sleep(min(delay, wait - waited))
            delay = min(delay * 2, 0.1)

    def _attached(self) -> duckdb.DuckDBPyConnection:
        """The file, attached for bulk writes to an in-memory database and made the default."""
        con = duckdb.connect(":memory:")
        try:
            con.execute(
                f"ATTACH ? AS {BULK_ALIAS} (ROW_GROUP_SIZE {BULK_ROW_GROUP})", [str(self.path)]
            )
            con.execute(f"USE {BULK_ALIAS}")
        except BaseException:
            con.close()
            raise
        return con

    def _fresh_snapshot(self) -> duckdb.DuckDBPyConnection | None:
        """While a stream holds the file, readers get its published snapshot (snapshot.py)."""
        age = snapshot_age(self.path)
        if age is None or age > SNAPSHOT_MAX_AGE:
            return None
        try:
            con = duckdb.connect(str(snapshot_path(self.path)), read_only=True)
        except duckdb.Error:
            return None
        self.snapshot_age = age
        progress.say(
            f"{shown_path(self.path)} is being written; reading its snapshot from {age:.1f} s ago"
        )
        return con

    def _open_error(self, exc: duckdb.Error) -> PlnError:
        message = first_line(exc)
        if "lock" in message.lower():
            pid = re.search(r"PID (\d+)", message)
            who = f"another process (PID {pid.group(1)})" if pid else "another process"
            return StoreBusy(self.path, who)
        if "different configuration" in message:
            return PlnError(
                f"database {shown_path(self.path)} is already open in this process in another mode; "
                "close it first"
            )
        if "not a valid DuckDB database file" in message:  # a mistyped --db or duckdb path
            return UsageError(f"database {shown_path(self.path)}: not a DuckDB database file")
        return PlnError(f"database {shown_path(self.path)}: cannot open: {message}")

    def _create_schema(self) -> None:
        # Re-running the DDL costs ~20 ms per open; writers that open per poll skip it when the
        # last writer already ran this very DDL.
        if self.meta("ddl_hash") == DDL_HASH:
            return
        # Checked before the DDL runs: it would make a newer pln's store half ours. An older
        # pln's store is brought up to date by the DDL's own migrations.
        found = self.meta("schema_version")
        if found is not None and not (
            found.isascii() and found.isdigit() and int(found) <= SCHEMA_VERSION
        ):
            raise PlnError(
                f"database {shown_path(self.path)} was written by a newer pln (schema version {found}; "
                f"this one knows {SCHEMA_VERSION}): upgrade pln, or use another database file"
            )
        self.con.execute(DDL)
        self.set_meta("schema_version", str(SCHEMA_VERSION))
        self.set_meta("ddl_hash", DDL_HASH)

    def _check_is_store(self) -> None:
        tables = {
            r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        if not {"pln_meta", "items", "decisions"} <= tables:
            raise PlnError(f"database {shown_path(self.path)} is not a PLN Curator database")

    def _stand_in_for_newer_schema(self) -> None:
        """A store an older pln made, read before any writer brought its schema up to date
        (a writable open runs the DDL): in this connection only, empty temporary tables stand in
        for the tables it lacks and today's views replace its own, so reading commands (`pln
        sql`, `pln serve`'s feeds and pages) see the schema they expect. The file is not
        changed. Columns a table lacks are not added: their readers allow for that."""
        if self.meta("ddl_hash") == DDL_HASH:
            return
        tables = {
            r[0]
            for r in self.con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
            ).fetchall()
        }
        for statement in self.con.extract_statements(DDL):
            made = _CREATED.search(statement.query)
            if made is None or (made["kind"] == "TABLE" and made["name"] in tables):
                continue  # migrations (ALTER, UPDATE, INSERT) and the tables it has
            temporary = _CREATED.sub(
                r"CREATE \g<head>TEMP \g<kind> \g<tail>\g<name>", statement.query, count=1
            )
            try:
                self.con.execute(temporary)
            except duckdb.Error:  # a view over a column the store lacks: it keeps its own
                continue


class _Transaction:
    def __init__(self, db: Database):
        self.db = db

    def __enter__(self) -> None:
        if self.db._depth == 0:
            self.db.con.begin()
        self.db._depth += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db._depth -= 1
        if self.db._depth:
            return  # the outermost block commits or rolls back
        if exc_type is None:
            try:
                self.db.con.commit()
            except WRITE_FAILURES as failure:
                self._roll_back()
                raise cannot_write(self.db.path, failure) from None
            return
        self._roll_back()
        # A statement of a writing block that failed for lack of disk or memory; on a
        # read-only handle, or for anything else (a bug), the caller reports it.
        if isinstance(exc, WRITE_FAILURES) and not self.db.read_only:
            raise cannot_write(self.db.path, exc) from None

    def _roll_back(self) -> None:
        with contextlib.suppress(duckdb.Error):  # a failed commit has ended the transaction
            self.db.con.rollback()


def cannot_write(
    path: Path, failure: BaseException, kept: str = "nothing of this write was stored"
) -> PlnError:
    """A full disk, a file size limit or too little memory: the user's to fix, so one line,
    not a traceback."""
    lacking = isinstance(failure, duckdb.OutOfMemoryException)
    what = "out of memory while writing" if lacking else "cannot write"
    return PlnError(f"database {shown_path(path)}: {what}: {one_line(failure)}; {kept}")


def now_utc() -> datetime:
    return datetime.now(UTC)


def one_line(exc: BaseException) -> str:
    """The whole message on one line (DuckDB puts the cause of a failed write on later lines)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
