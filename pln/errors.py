"""Errors a user can act on. Each prints as one line naming the file or source and the problem.

Exit codes of `pln`: 0 ok; 1 a failure (the job could not finish: disk, database, a bug);
2 a user mistake (config, arguments, SQL); 3 `pln run --strict` finished but some sources
failed; 75 the database or the run lock is busy, try again later; 130 interrupted.
"""

from __future__ import annotations

import os
from pathlib import Path


def shown_path(path: str | Path) -> str:
    """A path as messages show it: relative to the working folder when it lies inside it
    (`examples/out/pln.duckdb`), else as given. A service started in `/` shows it whole."""
    try:
        here = os.getcwd()
        if here == os.sep:
            return str(path)
        return str(Path(os.path.abspath(path)).relative_to(here))
    except (ValueError, OSError):
        return str(path)


class PlnError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""

    exit_code = 1


class UsageError(PlnError):
    """The command was asked for something it cannot do (a bad query, a missing database)."""

    exit_code = 2


class ConfigError(PlnError):
    """The config file is wrong: names the file, the key path and what is wrong."""

    exit_code = 2

    def __init__(self, file: str, key: str, message: str):
        self.file, self.key, self.message = file, key, message
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {message}")


class SourceError(PlnError):
    """A source could not be read at all (missing file, HTTP failure, not a feed)."""

    http_status: int = 0  # an HTTP error's status (sources/http.py), else 0
    http_body: bytes = b""  # the start of its body, when the fetcher was asked to read it

    def __init__(self, source: str, message: str, *, retry_after: float | None = None):
        self.source, self.message, self.retry_after = source, message, retry_after
        super().__init__(f"source '{source}': {message}")
