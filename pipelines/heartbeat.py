"""A stream's heartbeat: a small JSON file beside the database, rewritten about once a second.

`pln health` (and compose's healthcheck) reads it: a stream is unhealthy when the file is
older than `max_age` (the process is gone or stuck), when its workers have not written for
`max_age` seconds although records are waiting (lag > 0), when it says the broker is away, or
at once when the process it names (pid, on this host) is gone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from pln.atomic import write_atomic
from pln.progress import counted

MIN_INTERVAL = 1.0


def heartbeat_path(db_path: str | Path) -> Path:
    path = Path(db_path)
    return path.with_name(path.stem + ".stream.json")


class Heartbeat:
    def __init__(self, db_path: str | Path, **fixed: Any):
        self.path = heartbeat_path(db_path)
        self.fixed = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.time(),
            **fixed,
        }
        self.last = 0.0

    def beat(self, force: bool = False, **state: Any) -> None:
        now = time.time()
        if not force and now - self.last < MIN_INTERVAL:
            return
        self.last = now
        body = {**self.fixed, **state, "updated_at": now}
        write_atomic(self.path, json.dumps(body, indent=1).encode())


def check_health(db_path: str | Path, max_age: float = 30.0) -> tuple[bool, str]:
    """(healthy, one line saying why) from the heartbeat of the stream writing `db_path`."""
    path = heartbeat_path(db_path)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, f"no stream heartbeat at {path} (is `pln stream` running?)"
    except (OSError, ValueError) as exc:
        return False, f"unreadable stream heartbeat {path}: {exc}"
    age = time.time() - float(state.get("updated_at", 0))
    if state.get("state") == "stopped":
        return False, f"the stream stopped {age:.0f} s ago"
    if _gone(state):
        return False, f"stream not running (pid {state['pid']} is gone)"
    if age > max_age:
        return False, f"stream heartbeat is {age:.0f} s old (stuck or gone; pid {state.get('pid')})"
    lag, idle = state.get("lag"), float(state.get("idle_for_s") or 0)
    if lag and idle > max_age:
        return False, f"stream stalled: {lag:,} records waiting, nothing written for {idle:.0f} s"
    broker = state.get("broker") or "ok"
    if broker != "ok":
        return False, f"stream cannot reach Kafka: {broker}"
    rate = state.get("items_per_s") or 0
    return True, (
        f"stream ok: {counted(state.get('items_written', 0), 'item')} written, {rate:,.0f} items/s, "
        f"lag {lag if lag is not None else '?'}"
    )


def _gone(state: dict) -> bool:
    """Whether the heartbeat's process, on this host, no longer runs (killed: no "stopped")."""
    pid = state.get("pid")
    if state.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return False  # another host (or an older heartbeat): its age tells
    return not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs here (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (OverflowError: no pid; the age tells)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc: kill(0) is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
