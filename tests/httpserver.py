"""A real HTTP server on 127.0.0.1 that replays recorded responses, for client tests.

    with RecordedServer() as server:
        server.route("/feed.xml", body=FEED, headers={"ETag": '"v1"'}, repeat=1)
        server.route("/feed.xml", status=304)        # served after the first one is used up
        fetch(server.url("/feed.xml"))
        server.requests_log[-1].headers["if-none-match"]

Each path has a queue of responses; a response with `repeat=n` is served n times before the
next one, the last one is served forever. Unknown paths get 404. Options per response:
`delay` (seconds before the status line), `chunk_delay` (seconds between 64-byte pieces of the
body), `truncate` (send only that many body bytes while Content-Length announces all of them,
then close), `chunked` (Transfer-Encoding: chunked instead of Content-Length).

`AnsweringServer(answer)` serves what a function returns instead, for servers with a state of
their own (a feed that hangs until an Event is set, answers 304 the second time, ...).
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import ssl
import threading
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    chunk_delay: float = 0.0
    truncate: int | None = None
    chunked: bool = False
    repeat: int | None = None  # None: serve forever


@dataclass(frozen=True)
class RecordedRequest:
    """What a client sent. `headers` has lower-case names."""

    method: str
    path: str
    headers: dict[str, str]


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def gzip_of_nothing(pieces: int) -> bytes:
    """A valid gzip stream that never yields a byte: the header, then `pieces` empty stored
    blocks of 5 bytes each (what a hostile server can send forever)."""
    packer = zlib.compressobj(wbits=31)
    header = packer.compress(b"") + packer.flush(zlib.Z_SYNC_FLUSH)
    return header + b"\x00\x00\x00\xff\xff" * pieces


class RecordedServer:
    """Threaded http.server on 127.0.0.1 (free port) serving `route`d responses."""

    def __init__(self) -> None:
        self.requests_log: list[RecordedRequest] = []
        self._routes: dict[str, deque[Recorded]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(
        self,
        path: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes | str = b"",
        *,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        truncate: int | None = None,
        chunked: bool = False,
        repeat: int | None = None,
    ) -> RecordedServer:
        if isinstance(body, str):
            body = body.encode("utf-8")
        response = Recorded(
            status, dict(headers or {}), body, delay, chunk_delay, truncate, chunked, repeat
        )
        with self._lock:
            self._routes.setdefault(path, deque()).append(response)
        return self

    def url(self, path: str = "/") -> str:
        assert self._httpd is not None, "use RecordedServer as a context manager"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests_log if r.path == path]

    def _next(self, path: str) -> Recorded | None:
        with self._lock:
            queue = self._routes.get(path)
            if not queue:
                return None
            response = queue[0]
            if response.repeat is not None:
                response.repeat -= 1
                if response.repeat <= 0 and len(queue) > 1:
                    queue.popleft()
            return response

    def __enter__(self) -> RecordedServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # do not wait for handlers still sleeping in a delay
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._closing.set()
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: RecordedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # as web servers: no ~40 ms stall on kept-alive answers

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.requests_log.append(RecordedRequest(self.command, self.path, headers))
            response = server._next(path) or Recorded(404, body=b"not found")
            if response.delay and server._closing.wait(response.delay):
                return
            # The client may have given up already (timeout tests): nothing to report then.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._send(response)

        def _send(self, r: Recorded) -> None:
            self.send_response_only(r.status)
            names = {k.lower() for k in r.headers}
            for name, value in r.headers.items():
                self.send_header(name, value)
            if r.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif "content-length" not in names:
                self.send_header("Content-Length", str(len(r.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            body = r.body if r.truncate is None else r.body[: r.truncate]
            step = 64 if r.chunk_delay else max(len(body), 1)
            for start in range(0, len(body), step):
                piece = body[start : start + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if r.chunked else piece)
                self.wfile.flush()
                if r.chunk_delay and server._closing.wait(r.chunk_delay):
                    return
            if r.chunked and r.truncate is None:
                self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True

        def log_message(self, format: str, *args) -> None:
            pass  # keep test output clean

    return Handler


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; leaving the block drops them all."""

    def __enter__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.listener.accept()[0])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"

    def __exit__(self, *exc):
        self.listener.close()
        for conn in self.accepted:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


Answer = tuple[int, dict[str, str], bytes]


class AnsweringServer:
    """A threading server on 127.0.0.1 whose GETs are answered by `answer(path)`, which returns
    (status, headers, body) and may block (a hung source); HTTPS with a `tls` server context.
    `close()` stops it."""

    def __init__(self, answer: Callable[[str], Answer], tls: ssl.SSLContext | None = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = answer(self.path)
                # The client may have given up already (deadline tests): nothing to report.
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        scheme = "https" if tls else "http"
        self.base = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
