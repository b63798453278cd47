"""Query results as a table, CSV or JSON on stdout (`pln sql`, `pln sources`, `pln eval`).

CSV and JSON write what Python would print as a repr the same portable way (docs/sql.md): a
list or struct as JSON (in CSV, one cell), an INTERVAL as an ISO 8601 duration ("P3DT1H30M"),
a BLOB as base64, and text as it is (JSON escapes no letter outside ASCII)."""

from __future__ import annotations

import base64
import json
import math
import sys
from datetime import timedelta


def print_rows(columns: list[str], rows: list[tuple], fmt: str, out=None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        records = [{c: _json_value(v) for c, v in zip(columns, r, strict=True)} for r in rows]
        json.dump(records, out, indent=2, default=str, allow_nan=False, ensure_ascii=False)
        out.write("\n")
        return
    if fmt == "csv":
        import csv

        writer = csv.writer(out, lineterminator="\n")  # "\r\n" would end ids piped to a shell
        writer.writerow(columns)
        writer.writerows([_csv_value(v) for v in row] for row in rows)
        return
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out.write(line.rstrip() + "\n" + "  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def _cell(value, limit: int = 80) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_value(value):
    """`value` with null for NaN and ±infinity, which JSON cannot write (also inside lists and
    structs)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    return value


def _csv_value(value):
    """`value` as one CSV cell: a list or struct as JSON, the rest as `_json_value` has it."""
    value = _json_value(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return value


def iso_duration(value: timedelta) -> str:
    """`value` as an ISO 8601 duration: "P3D", "PT1H30M", "PT0.25S", "-PT5M" (less than zero),
    "PT0S". DuckDB gives a month of an INTERVAL as 30 days."""
    sign, value = ("-", -value) if value < timedelta(0) else ("", value)
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours}H" if hours else "", f"{minutes}M" if minutes else ""]
    if value.microseconds:  # exactly, to the microsecond DuckDB keeps
        parts.append(f"{seconds}.{value.microseconds:06d}".rstrip("0") + "S")
    elif seconds:
        parts.append(f"{seconds}S")
    time = "".join(parts)
    days = f"{value.days}D" if value.days else ""
    if not (days or time):
        return "PT0S"
    return f"{sign}P{days}{'T' + time if time else ''}"
