"""A small, strict HTTP GET client for sources, on urllib3.

`HttpFetcher(source).get(url, headers)` returns a `Response` for 2xx and 304 and raises
`SourceError` with a one-line reason for everything else:

- timeouts: `timeout` bounds connecting and each read; `deadline` bounds the whole fetch,
  redirects, a slowly dripping body and slowly dripping headers included (`_SocketWatch`),
  and its message says which one struck;
- size: the body is read as it arrives and the fetch stops once it passes `max_bytes`, counted
  as received and after gzip/deflate decoding (every gzip member), so a compression bomb never
  inflates in memory and compressed padding that inflates to nothing ends too;
- redirects: up to `max_redirects`; when the chain starts with permanent ones (301/308) the
  URL they lead to is `Response.permanent_url`, so a caller can update its config;
- 429/503 with Retry-After (seconds or an HTTP date) set `SourceError.retry_after`, bounded
  by `pln.backoff.MAX_RETRY_AFTER`;
- with `error_body_bytes`, an error status's body (up to that size) is read and the reason an
  API gives in it (`explain`: JSON `title`, `detail`, `message`, `errors[0].message`) ends the
  message, shortened; the error carries `http_status` and `http_body` for the caller. Without
  it (the default) the body is not read;
- with `show_query=False` messages name the endpoint without its query (`endpoint`), for APIs
  whose query strings run to hundreds of characters;
- a body shorter than its Content-Length is an error, never a silently cut feed;
- a 304 to a request that sent no validator (If-None-Match, If-Modified-Since) is an error,
  so a server that answers 304 to everything never passes for a feed with nothing new;
- Accept-Encoding offers gzip and deflate only, what `_Decoder` undoes; a body in any other
  compression (br, zstd, compress, or codings stacked) is refused by name;
- proxies come from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), as with curl;
  NO_PROXY takes names, domain suffixes, `*` and IP addresses or networks (`10.0.0.0/8`).

Messages name the URL with credentials and secret-looking query values masked; request headers
(which may carry tokens) are never put in a message, and `Authorization` is not forwarded when a
redirect leaves the original host.

urllib3 was chosen over httpx by measurement: 500 GETs of a 60 KB body from 127.0.0.1 cost
0.23-0.32 s of client CPU with urllib3, 0.51-0.57 s with httpx (and the stdlib 0.16-0.20 s);
importing urllib3 takes 0.18 s, httpx 0.41 s. Connections are pooled per process and reused.
"""

from __future__ import annotations

import base64
import functools
import http.client
import ipaddress
import json
import logging
import math
import os
import socket
import ssl
import threading
import time
import urllib.request
import zlib
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    IncompleteRead,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    SSLError,
)
from urllib3.exceptions import (
    TimeoutError as Urllib3Timeout,
)

from pln.backoff import bounded_retry_after
from pln.errors import SourceError

DEFAULT_USER_AGENT = "PLN-Curator/0.1 (+https://github.com/pln-curator)"
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
CHUNK = 64 * 1024
REDIRECTS = {301, 302, 303, 307, 308}
PERMANENT_REDIRECTS = {301, 308}
GONE_RETRY = 86_400.0  # seconds until a feed that answered 410 Gone is asked again
DECODED = ("gzip", "x-gzip", "deflate")  # what _Decoder undoes, and Accept-Encoding offers
ACCEPT_ENCODING = "gzip, deflate"
COMPRESSIONS = frozenset({"br", "zstd", "compress", "x-compress", "x-bzip2", "bzip2"})
VALIDATORS = ("if-none-match", "if-modified-since")
SECRET_PARAMS = ("token", "key", "secret", "password", "passwd", "auth", "sig", "session")
POOL_SIZE = 8  # kept-alive connections per host and process

# urllib3 logs malformed headers from a server as warnings with a traceback; a source's
# problems are reported once, as its one-line error, so keep them out of the user's terminal.
for _name in ("urllib3.connection", "urllib3.response", "urllib3.connectionpool"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass(frozen=True)
class Response:
    """A finished response: `headers` has lower-case names; `body` is decoded (no gzip)."""

    status: int
    url: str  # the final URL, after redirects
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    permanent_url: str | None = None  # where permanent redirects from the requested URL lead

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class HttpFetcher:
    """GET with timeouts, a deadline, a size cap, redirects and content decoding."""

    def __init__(
        self,
        source: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        user_agent: str = DEFAULT_USER_AGENT,
        max_redirects: int = 5,
        error_body_bytes: int = 0,
        show_query: bool = True,
    ):
        self.source = source
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else 3 * timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self.error_body_bytes = error_body_bytes  # read this much of a 4xx/5xx body: its reason
        self.show_query = show_query  # False: messages name the URL without its query

    def shown(self, url: str) -> str:
        """`url` as messages show it: `redact(url)`, or `endpoint(url)` without `show_query`."""
        return redact(url) if self.show_query else endpoint(url)

    def error(self, message: str, **kw) -> SourceError:
        return SourceError(self.source, message, **kw)

    def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """Fetch `url`; see the module docstring for what raises."""
        answer = _answers().pop(url, None)
        if isinstance(answer, SourceError):
            raise answer
        if answer is not None:
            return answer
        due = self._due()
        url, login = _without_login(url)
        request_headers = {
            "User-Agent": self.user_agent,
            "Accept-Encoding": ACCEPT_ENCODING,
            **login,
            **(headers or {}),
        }
        first_host = urlsplit(url).netloc
        permanent_url: str | None = None
        permanent_chain = True
        for _hop in range(self.max_redirects + 1):
            self._check_scheme(url)
            if urlsplit(url).netloc != first_host:
                request_headers = {
                    k: v for k, v in request_headers.items() if k.lower() != "authorization"
                }
            response = self._request(url, request_headers, due)
            if response.not_modified and not _validated(request_headers):
                raise self.error(
                    f"HTTP 304 Not Modified from {self.shown(url)} to a request without "
                    "If-None-Match or If-Modified-Since"
                )
            if response.status not in REDIRECTS:
                return Response(
                    response.status, url, response.headers, response.body, permanent_url
                )
            location = response.headers.get("location", "").strip()
            if not location:
                raise self.error(
                    f"HTTP {response.status} without a Location from {self.shown(url)}"
                )
            try:
                url = urljoin(url, location)
            except ValueError:
                raise self.error(
                    f"HTTP {response.status} with a bad Location from {self.shown(url)}"
                ) from None
            if permanent_chain and response.status in PERMANENT_REDIRECTS:
                permanent_url = url
            else:
                permanent_chain = False
        raise self.error(f"more than {self.max_redirects} redirects from {self.shown(url)}")

    def _check_scheme(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            ok = False
        if not ok:
            raise self.error(f"only http(s) URLs can be fetched, got {self.shown(url)!r}")

    def _due(self) -> _Due:
        """When this GET must end: at the client's own deadline, or sooner when its caller
        gave the source up sooner (`bounded_by`)."""
        own = _Due(time.monotonic() + self.deadline, f"after {self.deadline:g} s (deadline)")
        caller = getattr(_bound, "due", None)
        return caller if caller is not None and caller.at < own.at else own

    def _request(self, url: str, headers: dict[str, str], due: _Due) -> Response:
        wait = self._wait(due, url)
        watch = _SocketWatch(due.at)
        try:
            with watch:  # until the headers are in; `_read_body` keeps the deadline after
                raw = pool_for(url).request(
                    "GET",
                    url,
                    headers=headers,
                    timeout=urllib3.Timeout(connect=wait, read=wait),
                    retries=False,
                    redirect=False,
                    preload_content=False,
                    decode_content=False,
                )
        except (HTTPError, OSError, ValueError) as exc:
            if watch.shut:
                raise self._deadline_error(url, due) from None
            proxy = proxy_for(url)
            if proxy and isinstance(exc, NewConnectionError | ConnectTimeoutError | ProxyError):
                reason = describe_proxy_failure(exc, proxy, self.timeout)
                raise self.error(
                    f"proxy {redact(proxy)} failed for {self.shown(url)}: {reason}"
                ) from None
            raise self.error(self._describe(exc, url, due)) from None
        if watch.shut:  # headers cut short at the deadline read as complete: not an answer
            raw.close()
            raw.release_conn()
            raise self._deadline_error(url, due)
        reusable = False
        try:
            status = raw.status
            response_headers = {k.lower(): v for k, v in raw.headers.items()}
            if status == 304:  # no body: the connection stays usable
                reusable = True
                return Response(status, url, response_headers)
            if status in REDIRECTS:
                return Response(status, url, response_headers)
            if status == 407 and (proxy := proxy_for(url)):
                # Plain HTTP goes to the proxy as an ordinary request, so its refusal comes
                # back as this response (over HTTPS it fails the tunnel, above).
                reason = f"HTTP {status} {raw.reason or 'Proxy Authentication Required'}"
                raise self.error(f"proxy {redact(proxy)} failed for {self.shown(url)}: {reason}")
            if status >= 400:
                body = self._error_body(raw, response_headers, url, due)
                reusable = body is not None
                raise self._http_error(status, response_headers, url, body or b"")
            if not 200 <= status < 300:
                raise self.error(f"HTTP {status} from {self.shown(url)}")
            body = self._read_body(raw, response_headers, url, due)
            reusable = True
            return Response(status, url, response_headers, body)
        finally:
            # Only a connection whose body was read to its end goes back to the pool.
            if not reusable:
                raw.close()
            raw.release_conn()

    def _wait(self, due: _Due, url: str) -> float:
        """Seconds the next socket operation may block: the timeout, within the deadline."""
        left = due.at - time.monotonic()
        if left <= 0:
            raise self._deadline_error(url, due)
        return min(self.timeout, left)

    def _deadline_error(self, url: str, due: _Due) -> SourceError:
        return self.error(f"gave up on {self.shown(url)} {due.why}")

    def _describe(self, exc: BaseException, url: str, due: _Due) -> str:
        if _is_timeout(exc) and time.monotonic() >= due.at - 0.01:
            return str(self._deadline_error(url, due).message)
        return describe_failure(exc, url if self.show_query else endpoint(url), self.timeout)

    def _error_body(self, raw, headers: dict[str, str], url: str, due: _Due) -> bytes | None:
        """An error response's body, read within the deadline when it is at most
        `error_body_bytes` (decoded); None when not asked for, or when it cannot be read whole
        (longer, cut off, bad gzip): the error is then the status alone."""
        if self.error_body_bytes <= 0:
            return None
        try:
            return self._read_body(raw, headers, url, due, cap=self.error_body_bytes)
        except SourceError:
            return None

    def _read_body(
        self, raw, headers: dict[str, str], url: str, due: _Due, cap: int | None = None
    ) -> bytes:
        max_bytes = cap or self.max_bytes
        decoder = _Decoder(headers.get("content-encoding", ""), max_bytes)
        if decoder.unsupported:
            raise self.error(
                f"unsupported Content-Encoding: {decoder.name} from {self.shown(url)} "
                f"(asked for {ACCEPT_ENCODING})"
            )
        declared = _content_length(headers)
        if declared is not None and declared > max_bytes and not decoder.active:
            raise self._too_large(url)
        received = 0
        try:
            while True:
                _set_read_timeout(raw, self._wait(due, url))
                chunk = raw.read1(CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if received > max_bytes or not decoder.feed(chunk):
                    raise self._too_large(url)
            if not decoder.finish():
                raise self._too_large(url)
        except zlib.error as exc:
            raise self.error(
                f"{decoder.name} body from {self.shown(url)} could not be decoded: {exc}"
            ) from None
        except (HTTPError, OSError, ValueError) as exc:
            if _is_cut_off(exc):
                if declared is not None:
                    raise self._cut_off(url, received, declared) from None
                raise self.error(
                    f"response from {self.shown(url)} was cut off (connection closed)"
                ) from None
            raise self.error(self._describe(exc, url, due)) from None
        if declared is not None and received < declared:
            raise self._cut_off(url, received, declared)
        return decoder.output()

    def _cut_off(self, url: str, received: int, declared: int) -> SourceError:
        return self.error(
            f"response from {self.shown(url)} was cut off: got {received} of {declared} bytes"
        )

    def _too_large(self, url: str) -> SourceError:
        return self.error(f"response larger than {self.max_bytes} bytes from {self.shown(url)}")

    def _http_error(
        self, status: int, headers: dict[str, str], url: str, body: bytes
    ) -> SourceError:
        """The error for an HTTP error status (`_explained_error`), carrying `http_status` and
        `http_body` for a caller that acts on the reason (a refused parameter, say)."""
        error = self._explained_error(status, headers, url, body)
        error.http_status, error.http_body = status, body
        return error

    def _explained_error(
        self, status: int, headers: dict[str, str], url: str, body: bytes
    ) -> SourceError:
        """`_status_error`'s error, followed by the reason the server gave in its body
        (`explain`) when `error_body_bytes` asked for the body."""
        error = self._status_error(status, headers, url)
        why = explain(body)
        if why and why not in error.message:
            error = self.error(f"{error.message}: {why}", retry_after=error.retry_after)
        return error

    def _status_error(self, status: int, headers: dict[str, str], url: str) -> SourceError:
        retry_after = parse_retry_after(headers.get("retry-after", ""))
        if status in (429, 503) and retry_after is not None:
            return self.error(
                f"HTTP {status} from {self.shown(url)}; retry after {retry_after:g} s",
                retry_after=retry_after,
            )
        if status == 410:  # the publisher took the feed down for good: asked again once a day
            return self.error(
                f"HTTP 410 Gone from {self.shown(url)}: the feed was taken down for good; "
                "remove the source or set `enabled: false`",
                retry_after=GONE_RETRY,
            )
        return self.error(f"HTTP {status} from {self.shown(url)}")


class _Decoder:
    """Undo Content-Encoding while enforcing the size cap on the decoded bytes.

    Not urllib3's decoding: its `read`/`read1(amt, decode_content=True)` bound the output, but
    one call keeps reading the socket until some output appears, so a body that inflates to
    nothing (empty deflate blocks) escapes the deadline and the cap on received bytes: dripped,
    it is read to its end; sent without end, it is read for ever. bench/bench_http_deadlines.py
    measures both ways side by side; decoding CPU is the same."""

    def __init__(self, header: str, max_bytes: int):
        codings = [c for c in _codings(header) if c != "identity"]
        encoding = codings[0] if len(codings) == 1 else ""
        self.name = "gzip" if encoding == "x-gzip" else encoding or ", ".join(codings)
        # Stacked codings, or a compression it cannot undo. A single unknown label ("utf-8",
        # "none") is a server's mistake over a plain body: that body is kept as sent.
        self.unsupported = len(codings) > 1 or encoding in COMPRESSIONS
        self.max_bytes = max_bytes
        self.parts: list[bytes] = []
        self.size = 0
        self.active = encoding in DECODED
        # 47 = 32 + 15: zlib or gzip header, detected; deflate is sometimes sent raw (-15).
        self.zlib = zlib.decompressobj(47) if self.active else None
        self.raw_deflate = encoding == "deflate"
        self.ended = False  # a stream ended and junk followed
        self.started = False  # bytes were fed
        self.members = 0  # streams decoded to their end

    def feed(self, data: bytes) -> bool:
        """Add received bytes; False once the decoded size passes the cap."""
        if self.zlib is None:
            return self._keep(data)
        self.started = self.started or bool(data)
        try:
            return self._inflate(data)
        except zlib.error:
            if not (self.raw_deflate and self.size == 0):
                raise
            self.zlib, self.raw_deflate = zlib.decompressobj(-15), False
            return self._inflate(data)

    def _inflate(self, data: bytes) -> bool:
        while data and not self.ended:
            out = self.zlib.decompress(data, self.max_bytes - self.size + 1)
            if not self._keep(out):
                return False
            data = self.zlib.unconsumed_tail
            if self.zlib.eof and self.zlib.unused_data:
                self.members += 1
                data = self._next_member(self.zlib.unused_data)
        return True

    def _next_member(self, data: bytes) -> bytes:
        """Bytes after a finished stream: another gzip member (RFC 1952 allows several), or
        junk some servers append, ignored when no gzip or zlib header starts it."""
        following = zlib.decompressobj(47)
        try:
            following.decompress(data[:2])  # gzip and zlib headers are checkable in 2 bytes
        except zlib.error:
            self.ended = True
            return b""
        self.zlib = following
        return data[2:]

    def finish(self) -> bool:
        """False when the decoded size passes the cap; raises zlib.error when the body ends
        before its first compressed stream does (garbage after a header, or a cut stream):
        that is no feed, and an empty or cut document would only blame the parser. A later
        member cut short counts as the junk some servers append."""
        if self.zlib is None:
            return True
        kept = self._keep(self.zlib.flush())
        if self.started and not self.members and not self.zlib.eof:
            raise zlib.error("the body ends before the compressed data does")
        return kept

    def _keep(self, data: bytes) -> bool:
        self.size += len(data)
        if self.size > self.max_bytes:
            return False
        self.parts.append(data)
        return True

    def output(self) -> bytes:
        return b"".join(self.parts)


def _codings(header: str) -> list[str]:
    """The content codings a Content-Encoding header lists, lower-case, in order applied."""
    return [c.strip().lower() for c in header.split(",") if c.strip()]


def _without_login(url: str) -> tuple[str, dict[str, str]]:
    """`https://user:pass@host/feed` as the URL without them and a Basic Authorization header
    (as curl and feed readers send it; it goes to that host only, see `get`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, {}
    if "@" not in parts.netloc:
        return url, {}
    login, _, host = parts.netloc.rpartition("@")
    user, _, password = login.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), {"Authorization": f"Basic {token}"}


def _validated(headers: dict[str, str]) -> bool:
    """Whether a request carries a validator, so that a 304 answers something."""
    return any(k.lower() in VALIDATORS and v for k, v in headers.items())


# -- answers fetched earlier (the batch job's probe), handed to the source that asks -------------

_answered = threading.local()


def _answers() -> dict[str, Response | SourceError]:
    answers = getattr(_answered, "answers", None)
    if answers is None:
        answers = _answered.answers = {}
    return answers


@contextmanager
def answering_from(answers: dict[str, Response | SourceError]):
    """Within this block (on this thread), the first GET of a URL in `answers` gets that
    response, or raises that error, without touching the network. The batch job fetches
    every feed once with its conditional headers to learn which changed; the source then
    parses what was already fetched instead of asking the server again."""
    saved = dict(_answers())
    _answers().update(answers)
    try:
        yield
    finally:
        _answered.answers = saved


# -- a sooner end set by the caller (the fetch pool), for every GET on this thread ----------------


@dataclass(frozen=True)
class _Due:
    at: float  # time.monotonic()
    why: str  # how the message says it: "after 60 s (deadline)"


_bound = threading.local()


@contextmanager
def bounded_by(at: float, why: str):
    """Within this block (on this thread), no GET runs past `at` (time.monotonic()); one that
    would fails "gave up on URL {why}". The fetch pool gives a source up at its deadline and
    leaves the thread to end on its own: this ends that thread's GET, and frees its socket, at
    the source's deadline instead of the client's own (3 x timeout, 60 s by default)."""
    saved = getattr(_bound, "due", None)
    _bound.due = _Due(at, why)
    try:
        yield
    finally:
        _bound.due = saved


# -- connection pools: one per proxy, per process, made on first use ---------------------------

_pools: dict[str, urllib3.PoolManager] = {}
_pools_lock = threading.Lock()


def pool_for(url: str) -> urllib3.PoolManager:
    """The pool that reaches `url`: direct, or through the proxy the environment names for it."""
    proxy = proxy_for(url)
    pool = _pools.get(proxy)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(proxy)
            if pool is None:
                pool = _new_pool(proxy)
                _pools[proxy] = pool
    return pool


def _new_pool(proxy: str) -> urllib3.PoolManager:
    context = ssl.create_default_context()
    if proxy:
        auth = urlsplit(proxy).netloc.rpartition("@")[0]
        headers = urllib3.make_headers(proxy_basic_auth=unquote(auth)) if auth else None
        manager = urllib3.ProxyManager(
            proxy, num_pools=64, maxsize=POOL_SIZE, ssl_context=context, proxy_headers=headers
        )
    else:
        manager = urllib3.PoolManager(num_pools=256, maxsize=POOL_SIZE, ssl_context=context)
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


# -- the deadline while the status line and headers come ----------------------------------------
#
# urllib3's read timeout bounds each read from the socket, and http.client reads the status line
# and headers with as many reads as it takes: a server that sends them a byte a second meets
# every read timeout, so a fetch went on for hours past its deadline, and so did the thread a
# FetchPool had given up on with it (one more thread and socket for every run of a long-lived
# `pln schedule`). So a socket is shut down at the fetch's deadline while its headers come.
# (Connecting is bounded by the connect timeout, a TLS handshake by it as a whole, the body by
# `_read_body`.)

_watching = threading.local()  # the `_SocketWatch` of the request on this thread


class _SocketWatch:
    """`with _SocketWatch(ends_at):` the socket the request on this thread awaits its status
    line and headers on is shut down at `ends_at` (monotonic) if the block has not ended by
    then; `shut` tells whether that happened."""

    def __init__(self, ends_at: float):
        self.ends_at = ends_at
        self.shut = False
        self._keys: list[int] = []

    def add(self, sock) -> None:
        self._keys.append(_shutter.add(self, sock))

    def __enter__(self) -> _SocketWatch:
        _watching.watch = self
        return self

    def __exit__(self, *exc_info) -> None:
        _watching.watch = None
        for key in self._keys:
            _shutter.remove(key)


def _watch_socket(sock) -> None:
    watch = getattr(_watching, "watch", None)
    if watch is not None and sock is not None:
        watch.add(sock)


class _Shutter:
    """One daemon thread per process that shuts down watched sockets at their deadlines."""

    def __init__(self) -> None:
        """Also called in a forked child: its parent's thread and locks do not carry over."""
        self._due: dict[int, tuple[_SocketWatch, object]] = {}
        self._changed = threading.Condition()
        self._next_key = 0
        self._thread: threading.Thread | None = None
        self._wakes_at = math.inf  # when the thread looks next (it sleeps on meanwhile)

    def add(self, watch: _SocketWatch, sock) -> int:
        with self._changed:
            key = self._next_key
            self._next_key += 1
            self._due[key] = (watch, sock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pln-http-deadlines")
                self._thread.daemon = True
                self._thread.start()
            elif watch.ends_at < self._wakes_at:  # rarely: deadlines mostly come in order
                self._changed.notify()
        return key

    def remove(self, key: int) -> None:
        with self._changed:
            self._due.pop(key, None)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for key, (watch, sock) in list(self._due.items()):
                    if watch.ends_at <= now:
                        del self._due[key]
                        watch.shut = True
                        _shut_down(sock)
                self._wakes_at = min((w.ends_at for w, _ in self._due.values()), default=math.inf)
                self._changed.wait(None if self._wakes_at == math.inf else self._wakes_at - now)


def _shut_down(sock) -> None:
    """Shut a socket down, which ends a read waiting on it in another thread. A TLS socket
    too, as a plain socket: its own `shutdown` would drop the TLS state under that read."""
    if not isinstance(sock, socket.socket):  # urllib3's SSLTransport (TLS within TLS)
        sock = getattr(sock, "socket", None)
    if isinstance(sock, socket.socket):
        with suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_shutter = _Shutter()
if hasattr(os, "register_at_fork"):  # a forked child (the batch job's workers) starts its own
    os.register_at_fork(after_in_child=_shutter.__init__)


class _WatchedConnection:
    """Mixed into urllib3's connections: the socket is watched (`_SocketWatch`) while the
    response's status line and headers are awaited."""

    def getresponse(self):
        _watch_socket(self.sock)
        return super().getresponse()


class _HTTPConnection(_WatchedConnection, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


PROXY_VARIABLES = tuple(
    name
    for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for name in (base, base.upper())
)


def proxy_for(url: str) -> str:
    """The proxy URL for `url` from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY; '' if none."""
    proxies = _proxies(tuple(os.environ.get(name) for name in PROXY_VARIABLES))
    parts = urlsplit(url)
    proxy = proxies.get(parts.scheme) or proxies.get("all") or ""
    if not proxy or urllib.request.proxy_bypass_environment(parts.netloc, proxies):
        return ""
    if _bypassed_by_address(parts.hostname or "", proxies.get("no", "")):
        return ""
    return proxy if "://" in proxy else f"http://{proxy}"


def _bypassed_by_address(host: str, no_proxy: str) -> bool:
    """Whether `host`, an IP address, is in a NO_PROXY network (`10.0.0.0/8`, `fd00::/8`,
    `[::1]`), as curl reads it. The stdlib matches host names and suffixes only. Names are not
    resolved for this (neither does curl)."""
    networks = _no_proxy_networks(no_proxy)
    if not networks or not host:
        return False
    try:
        address = ipaddress.ip_address(host.partition("%")[0])  # no IPv6 zone
    except ValueError:
        return False
    return any(address in network for network in networks)


@functools.lru_cache(maxsize=8)
def _no_proxy_networks(no_proxy: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for entry in no_proxy.split(","):
        entry = entry.strip().removeprefix("[").replace("]", "")  # [::1] or [::1]/128
        with suppress(ValueError):  # a name, a suffix, `*`: the stdlib's part
            networks.append(ipaddress.ip_network(entry, strict=False))
    return tuple(networks)


@functools.lru_cache(maxsize=8)
def _proxies(_settings: tuple[str | None, ...]) -> dict[str, str]:
    """The environment's proxies, read again only when one of the variables changed (reading
    them scans the whole environment: 0.4 ms, as much as a 304 from a local server)."""
    return urllib.request.getproxies_environment()


def _set_read_timeout(raw, seconds: float) -> None:
    """Shorten the socket timeout for the next read, so the deadline holds within a body."""
    conn = getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, NewConnectionError):  # urllib3 derives it from its timeout error
        return isinstance(_root_cause(exc), TimeoutError | socket.timeout)
    return isinstance(exc, TimeoutError | socket.timeout | Urllib3Timeout) or isinstance(
        getattr(exc, "reason", None), TimeoutError | socket.timeout | Urllib3Timeout
    )


def _is_cut_off(exc: BaseException) -> bool:
    seen = exc
    for _ in range(4):
        if isinstance(seen, IncompleteRead) or type(seen).__name__ == "IncompleteRead":
            return True
        if isinstance(seen, ProtocolError) and "IncompleteRead" in str(seen):
            return True
        nested = seen.args[1] if len(getattr(seen, "args", ())) > 1 else None
        if not isinstance(nested, BaseException):
            return False
        seen = nested
    return False


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() and len(value) < 19 else None


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta seconds or an HTTP date), bounded to
    [0, MAX_RETRY_AFTER]; None if absent or unreadable."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return bounded_retry_after(float(value[:20]) if len(value) <= 20 else float("inf"))
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return bounded_retry_after(seconds)


def describe_failure(exc: BaseException, url: str, timeout: float) -> str:
    """A one-line reason for a network failure, naming the (redacted) URL."""
    where = redact(url)
    host = urlsplit(url).hostname or where
    cause = _root_cause(exc)
    if isinstance(exc, NameResolutionError) or isinstance(cause, socket.gaierror):
        return f"cannot resolve host {host} ({where})"
    if _is_timeout(exc) or isinstance(cause, TimeoutError | socket.timeout):
        return f"timed out after {timeout:g} s waiting for {where}"
    if _refused(exc, cause):
        return f"connection refused by {host} ({where})"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"TLS certificate of {host} not trusted: {cause.verify_message} ({where})"
    if _wraps(exc, http.client.BadStatusLine, http.client.LineTooLong):
        return f"not a valid HTTP response from {where}"
    if isinstance(exc, ProxyError):
        return f"proxy refused or failed for {where}: {_first_line(cause or exc)}"
    if isinstance(exc, SSLError):
        return f"TLS failure with {host}: {_first_line(cause or exc)} ({where})"
    if isinstance(exc, ProtocolError | ConnectionError) or isinstance(cause, ConnectionError):
        return f"connection to {host} closed unexpectedly ({where})"
    return f"cannot fetch {where}: {_first_line(exc)}"


def describe_proxy_failure(exc: BaseException, proxy: str, timeout: float) -> str:
    """Why a connection to the proxy failed, saying it is the proxy that refused or cannot be
    found (`connection refused by proxy 10.0.0.1:3128`), never its credentials."""
    parts = urlsplit(proxy)
    host = parts.hostname or redact(proxy)
    address = f"[{host}]" if ":" in host else host
    with suppress(ValueError):  # a port out of range: the host alone
        address += f":{parts.port}" if parts.port else ""
    cause = _root_cause(exc)
    if isinstance(exc, NameResolutionError) or isinstance(cause, socket.gaierror):
        return f"cannot resolve proxy host {host}"
    if _refused(exc, cause):
        return f"connection refused by proxy {address}"
    return describe_failure(exc, proxy, timeout).split(" (")[0]


def _refused(exc: BaseException, cause: BaseException | None) -> bool:
    return isinstance(cause, ConnectionRefusedError) or (
        isinstance(exc, NewConnectionError) and "refused" in str(exc).lower()
    )


def _wraps(exc: BaseException, *types: type[BaseException]) -> bool:
    """True when `exc` or an error it wraps (urllib3 nests them in `args`) is one of `types`."""
    for _ in range(4):
        if isinstance(exc, types):
            return True
        exc = next((a for a in exc.args if isinstance(a, BaseException)), None)
        if exc is None:
            return False
    return False


def _root_cause(exc: BaseException) -> BaseException | None:
    """The OS-level error urllib3 wraps (in `reason`, `args` or the exception chain)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and not isinstance(current, HTTPError):
            return current
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            nested = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = nested or current.__cause__ or current.__context__
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def endpoint(url: str) -> str:
    """`redact(url)` without its query and fragment: where a request went, in a short line
    (an API's query strings run to hundreds of characters)."""
    return redact(url, query=False)


EXPLAIN_CHARS = 200  # the longest reason `explain` gives


def explain(body: bytes, limit: int = EXPLAIN_CHARS) -> str:
    """The reason a JSON error body gives, in one line of at most `limit` characters:
    `title: detail`, taking the first of `errors[]`'s messages over a general `detail`
    (X API v2, RFC 7807 problems, Bluesky's `error`/`message`, Mastodon's `error`,
    OAuth's `error_description`); "" for a body that is not JSON or gives none."""
    doc = json_object(body)
    errors = doc.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else {}
    first = first if isinstance(first, dict) else {"message": first}
    head = _text(doc.get("title")) or _text(doc.get("error"))
    said = next(
        (
            text
            for text in (
                _text(first.get("message")),
                _text(first.get("detail")),
                _text(doc.get("detail")),
                _text(doc.get("message")),
                _text(doc.get("error_description")),
            )
            if text
        ),
        "",
    )
    if not head or said.lower().startswith(head.lower()):
        line = said or head
    elif not said or head.lower().startswith(said.lower()):
        line = head
    else:
        line = f"{head}: {said}"
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def json_object(body: bytes) -> dict:
    """An error body as a JSON object; {} when it is none (not JSON, a list, empty)."""
    try:
        doc = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _text(value: object) -> str:
    """A JSON value as one line of plain text: strings and numbers only, whitespace folded."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())


def redact(url: str, *, query: bool = True) -> str:
    """The URL without user:password and with secret-looking query values masked; without
    its query and fragment when not `query`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if not query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return urlunsplit(
        (parts.scheme, netloc, parts.path, _masked_query(parts.query), parts.fragment)
    )


def public_url(url: str) -> str:
    """`url` as it may be shown or stored: itself, or `redact(url)` when it carries
    user:password or a secret-looking query value ("" when it is not a URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if "@" not in parts.netloc and _masked_query(parts.query) == parts.query:
        return url  # unchanged, even where urlunsplit would rewrite it ("?" with no query)
    return redact(url)


def _masked_query(query: str) -> str:
    """`query` with the values of secret-looking keys ("key", "token", ...) as "***"."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    masked = [(k, "***" if any(s in k.lower() for s in SECRET_PARAMS) else v) for k, v in pairs]
    return urlencode(masked, safe="*/:") if masked != pairs else query
