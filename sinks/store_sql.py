"""SQL on the store: statements of our own code, and the one statement a person typed."""

from __future__ import annotations

import duckdb

from pln.errors import PlnError, UsageError

from .store_db import first_line

# What `pln sql` runs first: the query can read the open database and nothing else, and cannot
# undo these (lock_configuration). See https://duckdb.org/docs/operations_manual/securing_duckdb
LOCKED_DOWN = (
    "SET enable_external_access = false",
    "SET allow_community_extensions = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


def run_sql(con: duckdb.DuckDBPyConnection, query: str) -> tuple[list[str], list[tuple]]:
    """Run one SQL statement; returns column names and rows."""
    try:
        return _columns_and_rows(con, query)
    except duckdb.Error as exc:
        raise PlnError(f"SQL error: {first_line(exc)}") from None


def run_user_sql(con: duckdb.DuckDBPyConnection, query: str) -> tuple[list[str], list[tuple]]:
    """Run one statement a person typed (`pln sql`) on a read-only connection, so that it can
    only read this database.

    The connection is locked down first (DuckDB settings, which the query cannot change
    back): no files, no network, no extensions, no other databases. Mistakes and refusals
    raise UsageError (exit code 2); failures of DuckDB itself PlnError (1).
    """
    for setting in LOCKED_DOWN:
        con.execute(setting)
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise UsageError(f"SQL error: {first_line(exc)}") from None
    if not statements:
        raise UsageError('no SQL statement given, e.g. "SELECT count(*) FROM items"')
    if len(statements) > 1:
        raise UsageError(f"one statement at a time, got {len(statements)}")
    try:
        return _columns_and_rows(con, query)
    except duckdb.PermissionException as exc:
        raise UsageError(
            "refused: `pln sql` only reads the database (no files, network, extensions or "
            f"other databases): {first_line(exc).removeprefix('Permission Error: ')}"
        ) from None
    except (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.InternalException) as exc:
        raise PlnError(f"SQL failed: {first_line(exc)}") from None
    except duckdb.Error as exc:
        raise UsageError(f"SQL error: {first_line(exc)}") from None


def _columns_and_rows(con: duckdb.DuckDBPyConnection, query: str) -> tuple[list[str], list]:
    cursor = con.execute(query)
    if cursor is None or cursor.description is None:
        return [], []
    return [d[0] for d in cursor.description], cursor.fetchall()
