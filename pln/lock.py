"""One batch run at a time per database: an advisory lock file beside the DuckDB file."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from pln.errors import PlnError


class RunInProgress(PlnError):
    exit_code = 75  # EX_TEMPFAIL: try again later
    busy = ""  # who holds the lock on what, e.g. "pln stream (pid 12) is writing out/pln.duckdb"


class RunLock:
    """`with RunLock(db_path, "pln run"):` fails at once with RunInProgress if another run
    holds it; the message names the command that does (written in the lock file)."""

    def __init__(self, db_path: Path, holder: str = ""):
        # Resolved, as the staging folder is: two configs that reach one store through a
        # symlink share its lock, so a run's sweep of `<duckdb>.staging` never meets another.
        self.path = Path(f"{Path(db_path).resolve()}.lock")
        self.holder = holder
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, holder = os.pread(fd, 64, 0).decode(errors="replace").partition(" ")
            os.close(fd)
            who = holder.strip() or "another run"
            busy = f"{who} (pid {pid.strip() or '?'}) is writing {self.path.with_suffix('')}"
            error = RunInProgress(f"{busy}; this one was skipped")
            error.busy = busy
            raise error from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {self.holder}".strip().encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
