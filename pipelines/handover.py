"""Handing results from a worker process to its parent without hanging once the parent is gone.

A worker blocks in `Queue.put` while the queue is full, and at exit until its queued messages
are in the pipe; both wait forever for a parent that was killed (nobody reads any more), which
left workers of a SIGKILLed `pln stream` running. These helpers wait in short steps and give up
when the worker's parent has changed.
"""

from __future__ import annotations

import os
import queue


def put_while_parent_lives(results, message, parent_pid: int, step: float = 1.0) -> bool:
    """Put message on results; False (message dropped) if the parent died while it was full."""
    while True:
        try:
            results.put(message, timeout=step)
            return True
        except queue.Full:
            if os.getppid() != parent_pid:
                return False


def let_go(results, parent_pid: int) -> None:
    """Before a worker exits: flush results to a living parent, or do not wait for a dead one."""
    if os.getppid() != parent_pid:
        results.cancel_join_thread()
    results.close()
    if os.getppid() == parent_pid:
        results.join_thread()


def flush_within(results, timeout: float) -> None:
    """Close results and wait up to `timeout` s for what was put to reach the pipe (`let_go`
    waits without end; a worker that died holding the queue's lock would keep it waiting)."""
    results.close()
    feeder = getattr(results, "_thread", None)  # the queue's own sender thread
    if feeder is not None:
        feeder.join(timeout)


def get_while_parent_lives(tasks, parent_pid: int, step: float = 1.0, between=None):
    """The next message from the parent; exits the worker if the parent died first. Calls
    `between()`, if given, every `step` seconds while it waits."""
    while True:
        try:
            return tasks.get(timeout=step)
        except queue.Empty:
            if os.getppid() != parent_pid:
                os._exit(1)
            if between is not None:
                between()
