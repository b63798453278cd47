"""One batch run at a time per database: an advisory lock file beside the DuckDB file."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pln.errors import PlnError


class RunInProgress(PlnError):
    exit_code = 75  # EX_TEMPFAIL: try again later
    busy = ""  # who holds the lock on what, e.g. "another run (pid 12) is writing out/pln.duckdb"


class RunLock:
    """`with RunLock(db_path):` fails at once with RunInProgress if another run holds it."""

    def __init__(self, db_path: Path):
        self.path = Path(f"{db_path}.lock")
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            busy = f"another run (pid {holder}) is writing {self.path.with_suffix('')}"
            error = RunInProgress(f"{busy}; this one was skipped")
            error.busy = busy
            raise error from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
