"""A granian worker of `pln serve` ends when the `pln serve` process is gone.

Killed abruptly (SIGKILL, a crash), the `pln serve` process cannot stop its workers: they
would be re-parented to init (or a subreaper) and go on listening, serving and recording
labels, holding the port, so that a new `pln serve` could not listen on it. So each worker
watches its parent: `pln serve` names itself in $PLN_SERVE_PARENT, and when the worker's parent
is no longer that process (checked every `EVERY` seconds, and at start, in case it died while
the worker started) the worker stops as when `pln serve` stops it: SIGTERM to its main
thread, on which granian stops accepting connections and finishes the requests in flight, so
a feedback click being recorded is answered and its label is in the journal
(`<database>.labels-pending.jsonl`, which the next `pln serve` writes to the database).
Should granian hang in its shutdown (granian issue #875), the worker ends itself after
`GRACE` seconds, as `pln serve` would have killed it, but only between two labels: it takes
the journal's lock first, so no label is left half-written.

Why a thread asking `os.getppid()`, not Linux's parent-death signal (prctl PR_SET_PDEATHSIG):
it works wherever granian runs (macOS too); the death signal is sent when the *thread* that
forked the worker ends, not the process; it would need the same start-up check, and the
fallback above needs a thread anyway. It costs one wake-up per `EVERY` seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
import time
from pathlib import Path

PARENT_ENV = "PLN_SERVE_PARENT"  # the pid of the `pln serve` process, set for its workers
EVERY = 0.5  # seconds between looks at the parent
GRACE = 5.0  # seconds granian gets to stop before the worker ends itself (WORKERS_KILL_TIMEOUT)
LOCK_WAIT = 10.0  # seconds the worker waits for the journal's lock before it ends regardless


def watch_parent(journal: Path, log=lambda line: None) -> threading.Thread | None:
    """In a granian worker of `pln serve` ($PLN_SERVE_PARENT set): a daemon thread that stops
    this process once `pln serve` is gone. Elsewhere (granian or gunicorn run by hand) None."""
    try:
        parent = int(os.environ.get(PARENT_ENV, ""))
    except ValueError:
        return None
    thread = threading.Thread(
        target=_watch, args=(parent, journal, log), name="pln-parent-watch", daemon=True
    )
    thread.start()
    return thread


def _watch(parent: int, journal: Path, log) -> None:
    while os.getppid() == parent:
        time.sleep(EVERY)
    log(f"pln serve (pid {parent}) is gone: its worker (pid {os.getpid()}) stops")
    signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)  # granian's own stop
    time.sleep(GRACE)
    log(f"worker (pid {os.getpid()}) did not stop within {GRACE:g} s: ending it")
    with _journal_locked(journal, LOCK_WAIT):
        os._exit(1)  # the lock goes with the process


@contextlib.contextmanager
def _journal_locked(path: Path, wait: float):
    """The feedback journal's lock (as sinks/label_journal.py takes it), or nothing after
    `wait` seconds (another process may hold it for long)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    yield
