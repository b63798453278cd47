"""`pln serve`'s default server: the `FeedApp` under granian (a Rust HTTP server) in worker
processes, each loading the app through `pln.web.wsgi.create_app`.

bench/bench_serve.py chose it: on 2 cores it answers about twice the requests of waitress, with
a lower p99, since its workers use both cores while one Python process holds one. Like waitress
it reads request bodies in full (hyper), answers malformed requests with 400, bounds the
threads running the app (`threads` per worker) and listens with a real backlog.
"""

from __future__ import annotations

import os
import socket

from pln.config import Config
from pln.errors import PlnError
from pln.progress import counted

from .defaults import WORKERS
from .journal import LABEL_WAIT, LabelRecorder

WORKERS_KILL_TIMEOUT = 5  # seconds a stopping worker gets before it is killed


class GranianServer:
    """`run()` serves until SIGINT or SIGTERM (granian handles both); `labels` retries the
    feedback journal from this process while workers record new clicks."""

    def __init__(
        self,
        config: Config,
        host: str,
        port: int,
        *,
        workers: int = WORKERS,
        threads: int | None = None,
        backlog: int = 1024,
        quiet: bool = False,
        log=lambda line: None,
    ):
        from .app import base_path

        self.config, self.host, self.log = config, host, log
        self.port = _free_port(host, port)
        _, self.prefix = base_path(config.outputs.base_url)  # as an address says it
        # granian's advice: at most 2 threads per core (+1) per worker
        self.threads = threads or min(8, 2 * (os.cpu_count() or 1) + 1)
        self.workers, self.backlog = workers, backlog
        self.labels = LabelRecorder(config.outputs.duckdb, LABEL_WAIT, log)
        self.quiet = quiet

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.prefix}/"

    def run(self) -> None:
        from granian import Granian
        from granian.constants import Interfaces
        from granian.log import LogLevels

        os.environ["PLN_CONFIG"] = str(self.config.path)
        os.environ["PLN_SERVE_LOG"] = "0" if self.quiet else "1"
        Granian(
            "pln.web.wsgi:create_app",
            factory=True,
            interface=Interfaces.WSGI,
            address=self.host,
            port=self.port,
            workers=self.workers,
            blocking_threads=self.threads,
            backlog=self.backlog,
            websockets=False,
            log_enabled=not self.quiet,
            log_level=LogLevels.warning,
            # A worker can hang in its runtime's shutdown (granian issue #875; seen here when
            # SIGTERM came while a worker was still starting): stop waiting for it after 5 s.
            workers_kill_timeout=WORKERS_KILL_TIMEOUT,
        ).serve()

    def close(self) -> None:
        self.labels.stop()

    def traffic(self) -> str:
        return f"served by {counted(self.workers, 'granian worker')}"


def _free_port(host: str, port: int) -> int:
    """`port`, checked free (one-line error when it is not), or a free one for port 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PlnError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        return probe.getsockname()[1]
