"""`pln serve`'s default server: the `FeedApp` under granian (a Rust HTTP server) in worker
processes, each loading the app through `pln.web.wsgi.create_app`.

bench/bench_serve.py chose it: on 2 cores it answers about twice the requests of waitress, with
a lower p99, since its workers use both cores while one Python process holds one. Like waitress
it reads request bodies in full (hyper), answers malformed requests with 400, bounds the
threads running the app (`threads` per worker) and listens with a real backlog.

A worker that dies (the out-of-memory killer picks the biggest process, and a worker is one)
is replaced, and `pln serve` says so in one line; one that dies again within seconds of its
restart stops `pln serve` with a one-line error (granian's crash-loop rule). The workers end
when `pln serve` itself is gone, even killed with SIGKILL (parent_watch.py), so that they do not
hold the port against the next `pln serve`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket

from pln.config import Config
from pln.errors import PlnError
from pln.progress import counted

from .defaults import WORKERS
from .journal import LABEL_WAIT, LabelRecorder
from .parent_watch import PARENT_ENV

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
        from granian.constants import Interfaces
        from granian.log import LogLevels

        os.environ["PLN_CONFIG"] = str(self.config.path)
        os.environ["PLN_SERVE_LOG"] = "0" if self.quiet else "1"
        os.environ[PARENT_ENV] = str(os.getpid())  # the workers end when this process is gone
        server = _granian_class()(
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
            # A worker killed (the out-of-memory killer, a crash) is started again; granian
            # stops instead when one dies again within 5.5 s of its restart (a crash loop).
            respawn_failed_workers=True,
        )
        server.pln_log = self.log
        _quiet_unexpected_exit()  # said by pln in one line with the reason (below)
        try:
            server.serve()
        except SystemExit as exc:  # granian's way out of a crash loop: sys.exit(1)
            if exc.code and server.pln_died:
                died = "; ".join(server.pln_died)
                raise PlnError(
                    f"granian {died}, again within seconds of being started: stopped serving"
                ) from None
            raise
        finally:
            os.environ.pop(PARENT_ENV, None)  # for no other process started from this one

    def close(self) -> None:
        self.labels.stop()

    def traffic(self) -> str:
        return f"served by {counted(self.workers, 'granian worker')}"


def _granian_class():
    """granian's server, telling `pln serve`'s log why a worker had to be replaced, and
    remembering the workers that died when granian gives up (`pln_died`). It extends granian
    2.x's `_respawn_workers` and `shutdown` (tests/test_serve_workers.py checks them)."""
    from granian import Granian

    class PlnGranian(Granian):
        pln_log = staticmethod(lambda line: None)
        pln_died: list[str] = []

        def _respawn_workers(self, workers, *args, **kwargs):
            dead = {i: _death(self.wrks[i]) for i in workers if not self.wrks[i].is_alive()}
            result = super()._respawn_workers(workers, *args, **kwargs)
            for i, how in dead.items():  # a worker replaced on purpose (a reload) was alive
                pid = getattr(self.wrks[i], "_id", lambda: None)()
                self.pln_log(f"granian {how}; serving on with a new worker-{i + 1} (pid {pid})")
            return result

        def shutdown(self, *args, **kwargs):
            died = getattr(self, "interrupt_children", [])
            if getattr(self, "interrupt_signal", False):
                # Asked to stop (Ctrl-C reaches the workers too): a worker that ended first
                # did not fail, and `pln serve` exits 0 as usual.
                died.clear()
            else:  # granian gave up on a worker that keeps dying
                self.pln_died = [_death(self.wrks[i]) for i in dict.fromkeys(died)]
            return super().shutdown(*args, **kwargs)

    return PlnGranian


def _death(worker) -> str:
    """e.g. "worker-1 (pid 4242) was killed by SIGKILL (as the out-of-memory killer does)"."""
    process = getattr(worker, "inner", None)
    pid, code = getattr(process, "pid", None), getattr(process, "exitcode", None)
    name = f"worker-{worker.idx + 1} (pid {pid})"
    if code is None:
        return f"{name} stopped"
    if code >= 0:
        return f"{name} exited with code {code}"
    try:
        sig = signal.Signals(-code).name
    except ValueError:
        sig = f"signal {-code}"
    oom = " (as the out-of-memory killer does)" if -code == signal.SIGKILL else ""
    return f"{name} was killed by {sig}{oom}"


class _NoUnexpectedExit(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unexpected exit from worker")


def _quiet_unexpected_exit() -> None:
    """granian's "[error] Unexpected exit from worker-1" would come before pln's line, which
    says the same with the reason and what was done."""
    logger = logging.getLogger("_granian")
    if not any(isinstance(f, _NoUnexpectedExit) for f in logger.filters):
        logger.addFilter(_NoUnexpectedExit())


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
