"""A process's descendants from /proc, and stopping processes, for the benches that watch a
process tree."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterable
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """The children of `pid`, theirs, and so on (empty once it is gone)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # a child belongs to the thread forking it
        with contextlib.suppress(OSError):
            kids += [int(k) for k in (task / "children").read_text().split()]
    return kids + [g for k in kids for g in descendants(k)]


def stop(procs: Iterable[subprocess.Popen], timeout: float) -> None:
    """SIGTERM each (how a service is stopped), wait up to `timeout` s for each, then kill
    what is left."""
    procs = list(procs)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
