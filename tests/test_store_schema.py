"""The store's tables have the shape their SCHEMA_VERSION names.

A pln refuses a store whose schema version is higher than its own, in one line, rather than
failing in the middle of a write (an older pln writing rows without a newer column stops at
DuckDB's "table sources has 18 columns but 16 values were supplied", after part of its run).
That holds only while every change to a table's columns comes with a new version: this test
keeps the columns of each version in tests/fixtures/store_schema.txt and fails when they change
but the version does not.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pln.sinks.schema import SCHEMA_VERSION
from pln.sinks.store import Store

SHAPE = Path(__file__).parent / "fixtures" / "store_schema.txt"


def table_columns(db: Path) -> list[str]:
    """`table.column type` of every table of the store at `db`, in order."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            """SELECT c.table_name, c.column_name, c.data_type FROM duckdb_columns() c
               JOIN duckdb_tables() t USING (database_name, schema_name, table_name)
               ORDER BY c.table_name, c.column_index"""
        ).fetchall()
    return [f"{table}.{column} {kind}" for table, column, kind in rows]


def test_the_tables_have_the_shape_of_their_schema_version(tmp_path):
    db = tmp_path / "pln.duckdb"
    with Store(db):
        pass
    shape = [f"schema version {SCHEMA_VERSION}", *table_columns(db)]
    recorded = SHAPE.read_text().splitlines()
    assert shape[1:] == recorded[1:] or shape[0] != recorded[0], (
        "the store's tables changed: raise SCHEMA_VERSION in sinks/schema.py (so an older pln "
        f"refuses the store) and write these lines to {SHAPE.name}:\n" + "\n".join(shape)
    )
    assert shape == recorded, (
        f"SCHEMA_VERSION is {SCHEMA_VERSION}: write these lines to {SHAPE.name}:\n"
        + "\n".join(shape)
    )
