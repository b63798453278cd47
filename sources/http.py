"""A small, strict HTTP GET client for sources (stdlib only).

`HttpFetcher(source).get(url, headers)` returns a `Response` for 2xx and 304 and raises
`SourceError` with a one-line reason for everything else:

- timeouts: `timeout` bounds connecting and each read; `deadline` bounds the whole fetch,
  redirects and a slowly dripping body included;
- size: the body is read in chunks and the fetch stops once it passes `max_bytes`, counted
  after gzip/deflate decoding too, so a compression bomb never inflates in memory;
- redirects: up to `max_redirects`; when the chain starts with permanent ones (301/308) the
  URL they lead to is `Response.permanent_url`, so a caller can update its config;
- 429/503 with Retry-After (seconds or an HTTP date) set `SourceError.retry_after`;
- a body shorter than its Content-Length is an error, never a silently cut feed.

Messages name the URL with credentials and secret-looking query values masked; request headers
(which may carry tokens) are never put in a message, and `Authorization` is not forwarded when a
redirect leaves the original host.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from pln.errors import SourceError

DEFAULT_USER_AGENT = "PLN-Curator/0.1 (+https://github.com/pln-curator)"
DEFAULT_TIMEOUT = 20.0
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
CHUNK = 64 * 1024
REDIRECTS = {301, 302, 303, 307, 308}
PERMANENT_REDIRECTS = {301, 308}
SECRET_PARAMS = ("token", "key", "secret", "password", "passwd", "auth", "sig", "session")


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
    """GET with timeouts, a size cap, redirects and content decoding. Holds no connection."""

    def __init__(
        self,
        source: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        user_agent: str = DEFAULT_USER_AGENT,
        max_redirects: int = 5,
    ):
        self.source = source
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else 3 * timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.max_redirects = max_redirects

    def error(self, message: str, **kw) -> SourceError:
        return SourceError(self.source, message, **kw)

    def get(self, url: str, headers: dict[str, str] | None = None) -> Response:
        """Fetch `url`; see the module docstring for what raises."""
        ends_at = time.monotonic() + self.deadline
        request_headers = {
            "User-Agent": self.user_agent,
            "Accept-Encoding": "gzip, deflate",
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
            response = self._request(url, request_headers, ends_at)
            if response.status not in REDIRECTS:
                return Response(
                    response.status, url, response.headers, response.body, permanent_url
                )
            location = response.headers.get("location", "").strip()
            if not location:
                raise self.error(f"HTTP {response.status} without a Location from {redact(url)}")
            url = urljoin(url, location)
            if permanent_chain and response.status in PERMANENT_REDIRECTS:
                permanent_url = url
            else:
                permanent_chain = False
        raise self.error(f"more than {self.max_redirects} redirects from {redact(url)}")

    def _check_scheme(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(f"only http(s) URLs can be fetched, got {redact(url)!r}")

    def _request(self, url: str, headers: dict[str, str], ends_at: float) -> Response:
        parts = urlsplit(url)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        conn = _connection(parts, self._wait(ends_at, url))
        try:
            try:
                conn.request("GET", target, headers={**headers, "Connection": "close"})
                sock = conn.sock  # the connection lets go of it once the response arrives
                sock.settimeout(self._wait(ends_at, url))
                raw = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise self.error(describe_failure(exc, url, self.timeout)) from None
            status = raw.status
            response_headers = {k.lower(): v for k, v in raw.getheaders()}
            if status in REDIRECTS or status == 304:
                return Response(status, url, response_headers)
            if status >= 400:
                raise self._status_error(status, response_headers, url)
            body = self._read_body(sock, raw, response_headers, url, ends_at)
            return Response(status, url, response_headers, body)
        finally:
            conn.close()

    def _wait(self, ends_at: float, url: str) -> float:
        """Seconds the next socket operation may block: the timeout, within the deadline."""
        left = ends_at - time.monotonic()
        if left <= 0:
            raise self.error(f"gave up on {redact(url)} after {self.deadline:g} s (deadline)")
        return min(self.timeout, left)

    def _read_body(self, sock, raw, headers: dict[str, str], url: str, ends_at: float) -> bytes:
        decoder = _Decoder(headers.get("content-encoding", ""), self.max_bytes)
        declared = _content_length(headers)
        if declared is not None and declared > self.max_bytes and not decoder.active:
            raise self._too_large(url)
        received = 0
        try:
            while True:
                sock.settimeout(self._wait(ends_at, url))
                chunk = raw.read1(CHUNK)
                if not chunk:
                    break
                received += len(chunk)
                if received > self.max_bytes or not decoder.feed(chunk):
                    raise self._too_large(url)
            if not decoder.finish():
                raise self._too_large(url)
        except http.client.IncompleteRead:
            raise self.error(
                f"response from {redact(url)} was cut off (connection closed)"
            ) from None
        except zlib.error as exc:
            raise self.error(f"bad compressed body from {redact(url)}: {exc}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise self.error(describe_failure(exc, url, self.timeout)) from None
        if declared is not None and received < declared:
            raise self.error(
                f"response from {redact(url)} was cut off: got {received} of {declared} bytes"
            )
        return decoder.output()

    def _too_large(self, url: str) -> SourceError:
        return self.error(f"response larger than {self.max_bytes} bytes from {redact(url)}")

    def _status_error(self, status: int, headers: dict[str, str], url: str) -> SourceError:
        retry_after = parse_retry_after(headers.get("retry-after", ""))
        if status in (429, 503) and retry_after is not None:
            return self.error(
                f"HTTP {status} from {redact(url)}; retry after {retry_after:g} s",
                retry_after=retry_after,
            )
        return self.error(f"HTTP {status} from {redact(url)}")


class _Decoder:
    """Undo Content-Encoding while enforcing the size cap on the decoded bytes."""

    def __init__(self, encoding: str, max_bytes: int):
        encoding = encoding.strip().lower()
        self.max_bytes = max_bytes
        self.parts: list[bytes] = []
        self.size = 0
        self.active = encoding in ("gzip", "x-gzip", "deflate")
        # 47 = 32 + 15: zlib or gzip header, detected; deflate is sometimes sent raw (-15).
        self.zlib = zlib.decompressobj(47) if self.active else None
        self.raw_deflate = encoding == "deflate"

    def feed(self, data: bytes) -> bool:
        """Add received bytes; False once the decoded size passes the cap."""
        if self.zlib is None:
            return self._keep(data)
        try:
            return self._inflate(data)
        except zlib.error:
            if not (self.raw_deflate and self.size == 0):
                raise
            self.zlib, self.raw_deflate = zlib.decompressobj(-15), False
            return self._inflate(data)

    def _inflate(self, data: bytes) -> bool:
        while data:
            out = self.zlib.decompress(data, self.max_bytes - self.size + 1)
            if not self._keep(out):
                return False
            data = self.zlib.unconsumed_tail
        return True

    def finish(self) -> bool:
        return self.zlib is None or self._keep(self.zlib.flush())

    def _keep(self, data: bytes) -> bool:
        self.size += len(data)
        if self.size > self.max_bytes:
            return False
        self.parts.append(data)
        return True

    def output(self) -> bytes:
        return b"".join(self.parts)


def _connection(parts, timeout: float) -> http.client.HTTPConnection:
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _content_length(headers: dict[str, str]) -> int | None:
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta seconds or an HTTP date); None if absent."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def describe_failure(exc: BaseException, url: str, timeout: float) -> str:
    """A one-line reason for a network failure, naming the (redacted) URL."""
    where = redact(url)
    host = urlsplit(url).hostname or where
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {host} ({where})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out after {timeout:g} s waiting for {where}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {host} ({where})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate of {host} not trusted: {exc.verify_message} ({where})"
    if isinstance(exc, ConnectionError | http.client.RemoteDisconnected):
        return f"connection to {host} closed unexpectedly ({where})"
    reason = str(exc).strip() or type(exc).__name__
    return f"cannot fetch {where}: {reason.splitlines()[0]}"


def redact(url: str) -> str:
    """The URL without user:password and with secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, "***" if any(s in k.lower() for s in SECRET_PARAMS) else v) for k, v in pairs]
        if masked != pairs:
            query = urlencode(masked, safe="*/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
