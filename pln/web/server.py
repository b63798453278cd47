"""`FeedServer`: the `FeedApp` under waitress, a production WSGI server (Pylons project).

Why waitress (bench/bench_serve.py measures it against granian and the old http.server one):
it reads every request body in full before the app runs, so a body can never be taken for the
next request; idle keep-alive connections cost no thread (its I/O loop holds them, a bounded
pool of `threads` runs the app); the listen backlog is `backlog`; malformed requests get a
proper 400; TCP_NODELAY is on (its default). It runs in-process, which the feedback journal and tests rely on.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from pln.config import Config
from pln.errors import PlnError

from .app import FeedApp
from .defaults import BACKLOG, DEFAULT_PORT, THREADS
from .journal import LABEL_WAIT

CONNECTIONS = 1000  # open connections at most
IDLE_TIMEOUT = 30  # seconds an idle keep-alive connection is kept


class FeedServer:
    """`FeedServer(config, host, port)`; `start()` serves in a background thread (or `run()`
    in this one); `close()` stops. Port 0 picks a free port (see `url`)."""

    def __init__(
        self,
        config: Config,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        label_wait: float = LABEL_WAIT,
        threads: int = THREADS,
        backlog: int = BACKLOG,
        log=lambda line: None,
    ):
        from waitress.server import create_server

        self.config = config
        self.app = FeedApp(config, label_wait=label_wait, log=log)
        _route_waitress_log(log)
        try:
            self.server = create_server(
                self.app,
                host=host,
                port=port,
                threads=threads,
                backlog=backlog,
                connection_limit=CONNECTIONS,
                channel_timeout=IDLE_TIMEOUT,
                ident="PLN-Curator",
                expose_tracebacks=False,
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            raise PlnError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        except ValueError as exc:  # waitress: a host or port it cannot resolve
            raise PlnError(f"cannot listen on {host}:{port}: {exc}") from None
        self._thread: threading.Thread | None = None

    # the FeedApp's parts that callers use
    @property
    def prefix(self) -> str:
        return self.app.prefix

    @property
    def labels(self):
        return self.app.labels

    @property
    def key(self):
        return self.app.key

    @property
    def statuses(self):
        return self.app.statuses

    @property
    def server_address(self) -> tuple[str, int]:
        return self.server.effective_host, self.server.effective_port

    @property
    def url(self) -> str:
        """The address of the index page, e.g. http://127.0.0.1:8080/feeds/."""
        host, port = self.server_address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{self.prefix}/"

    def run(self) -> None:
        """Serve until `close()` (from another thread) or KeyboardInterrupt."""
        self.server.run()

    def start(self) -> FeedServer:
        self.labels.start()
        self._thread = threading.Thread(target=self.run, name="pln-serve", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening, close open connections, then wait for the workers."""

        def close_all(_=None):
            for channel in list(self.server._map.values()):
                with contextlib.suppress(OSError):  # a descriptor closed already
                    channel.close()  # the listening socket(s), open connections, the trigger

        if self._thread and self._thread.is_alive():
            try:
                self.server.trigger.pull_trigger(close_all)  # in the I/O thread, between polls
            except OSError:
                # The trigger's pipe is closed already (seen once in a full test run: EBADF):
                # close from here; the I/O loop ends when its map is empty.
                close_all()
            self._thread.join(timeout=10)
        else:
            close_all()
        self.server.task_dispatcher.shutdown(timeout=5)
        self.labels.stop()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def traffic(self) -> str:
        """e.g. "served 120 responses: 20 ok, 100 not modified"."""
        names = {200: "ok", 304: "not modified", 403: "refused", 404: "not found"}
        total = sum(self.statuses.values())
        parts = [f"{n:,} {names.get(code, str(code))}" for code, n in sorted(self.statuses.items())]
        return f"served {total:,} responses" + (f": {', '.join(parts)}" if parts else "")


class _ToLog(logging.Handler):
    def __init__(self, log):
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        self.log(f"waitress: {record.getMessage()}")


def _route_waitress_log(log) -> None:
    """waitress warnings (e.g. a deep task queue) go where `pln serve` logs, not to stderr."""
    logger = logging.getLogger("waitress")
    logger.handlers[:] = [_ToLog(log)]
    logger.propagate = False
    logger.setLevel(logging.WARNING)
