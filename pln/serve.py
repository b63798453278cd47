"""`pln serve`: the topic feeds over HTTP, and the feedback links that teach the learning filter.

Serves what `pln run` (or the stream) renders into `outputs.feeds_dir`: RSS, Atom and JSON Feed
per topic, `index.opml` and the `index.html` page, under the path of `outputs.base_url` (e.g.
`/feeds/`). Files are re-read only when they change on disk and kept ready in plain and gzip form,
so a reader that polls often costs one `stat` and, with ETag or If-Modified-Since, a 304.

`GET <base>/feedback?item=…&topic=…&label=up|down&sig=…` records a label when the HMAC signature
matches (see `FeedbackKey`). Feed readers only follow links, so recording happens on GET and is
idempotent per (item, topic). Each click is appended to a journal beside the database first and
then written to DuckDB, so a click made while a run holds the database is kept and written later.

The server never holds the DuckDB file while serving feeds: it opens it only to render once at
start-up and for the moment of writing labels.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import html
import json
import os
import re
import signal
import socket
import stat
import sys
import threading
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pln.config import Config
from pln.errors import PlnError

DEFAULT_PORT = 8080
LABEL_WAIT = 2.0  # seconds a feedback click waits for a busy database before it is journaled
RETRY_EVERY = 2.0  # seconds between attempts to write journaled labels
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ITEM_ID = re.compile(r"^[0-9a-f]{8,64}$")
CONTENT_TYPES = {  # only these are served: feeds_dir may sit next to other files
    ".rss.xml": "application/rss+xml; charset=utf-8",
    ".atom.xml": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
CACHE_CONTROL = "max-age=60"
FEEDBACK_WORDS = {"up": "more like this", "down": "less like this"}
GZIP_MIN_BYTES = 256


# -- static files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """A file ready to send: its bytes, gzip bytes, validators and type."""

    body: bytes
    gzipped: bytes | None
    tag: str  # content hash; the ETag is "tag" (plain) or "tag-gz" (gzip)
    mtime: int  # whole seconds, as Last-Modified says
    content_type: str

    @property
    def last_modified(self) -> str:
        return formatdate(self.mtime, usegmt=True)


def content_type(name: str) -> str | None:
    return next((t for ext, t in CONTENT_TYPES.items() if name.endswith(ext)), None)


class StaticFiles:
    """The servable files of one folder, cached until their size, mtime or inode changes
    (`write_if_changed` replaces files by rename, so a new version is a new inode)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._cache: dict[str, tuple[tuple[int, int, int], Representation]] = {}

    def get(self, name: str) -> Representation | None:
        ctype = content_type(name)
        if ctype is None or not FILE_NAME.match(name):
            return None
        path = self.root / name
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                return None
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            cached = self._cache.get(name)
            if cached and cached[0] == stamp:
                return cached[1]
            body = path.read_bytes()
        except OSError:
            return None
        rep = Representation(
            body=body,
            gzipped=gzip.compress(body, 6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None,
            tag=hashlib.blake2b(body, digest_size=10).hexdigest(),
            mtime=int(st.st_mtime),
            content_type=ctype,
        )
        self._cache[name] = (stamp, rep)
        return rep


# -- labels ---------------------------------------------------------------------------------------


class LabelRecorder:
    """Writes feedback labels into the store, through a journal that survives a busy database
    (`<database>.labels-pending.jsonl`) and a restart of the server."""

    def __init__(self, db_path: Path, wait: float = LABEL_WAIT, log=lambda line: None):
        self.db_path, self.wait, self.log = Path(db_path), wait, log
        self.journal = Path(f"{db_path}.labels-pending.jsonl")
        self.retry_every = RETRY_EVERY
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, label) -> tuple[bool, str]:
        """Journal the label and try to write it now. Returns (written to the database, the
        item's title when known)."""
        line = json.dumps({**asdict(label), "at": label.at.isoformat()}) + "\n"
        with self._journal() as journal:
            journal.seek(0, os.SEEK_END)
            journal.write(line)
            journal.flush()
            os.fsync(journal.fileno())
        written, titles = self.flush(self.wait)
        return written, titles.get(label.item_id, "")

    def pending(self) -> int:
        try:
            with self.journal.open(encoding="utf-8") as journal:
                return sum(1 for line in journal if line.strip())
        except FileNotFoundError:
            return 0

    def flush(self, wait: float) -> tuple[bool, dict[str, str]]:
        """Move journaled labels into the store; (False, {}) while the database stays busy."""
        from pln.sinks.feeds import item_title
        from pln.sinks.store import Label, Store, StoreBusy

        with self._journal() as journal:
            journal.seek(0)
            labels = []
            for n, line in enumerate(journal.read().splitlines(), 1):
                try:
                    data = json.loads(line)
                    labels.append(Label(**{**data, "at": datetime.fromisoformat(data["at"])}))
                except (ValueError, TypeError, KeyError):
                    self.log(f"{self.journal}:{n}: not a label, skipped: {line[:80]!r}")
            if not labels:
                journal.truncate(0)
                return True, {}
            try:
                with Store(self.db_path, wait=wait) as store:
                    store.add_labels(labels)
                    items = store.items_by_id({label.item_id for label in labels})
            except StoreBusy:
                return False, {}
            journal.truncate(0)
        return True, {item_id: item_title(item) for item_id, item in items.items()}

    def start(self) -> None:
        """Retry journaled labels in the background (some may be left from a previous run)."""
        self._thread = threading.Thread(target=self._retry_loop, name="pln-labels", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.wait + 5)

    def _retry_loop(self) -> None:
        told = ""  # the last problem reported, so a lasting one is said once
        while not self._stop.is_set():
            if self.pending():
                try:
                    written, _ = self.flush(self.wait)
                except PlnError as exc:
                    if str(exc) != told:
                        self.log(f"feedback labels not written yet: {exc}")
                        told = str(exc)
                else:
                    if written:
                        self.log("feedback labels from the journal written to the database")
                        told = ""
            self._stop.wait(self.retry_every)

    @contextlib.contextmanager
    def _journal(self):
        """The journal file, locked against other threads and processes."""
        fd = os.open(self.journal, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as journal:
            fcntl.flock(journal.fileno(), fcntl.LOCK_EX)
            try:
                yield journal
            finally:
                fcntl.flock(journal.fileno(), fcntl.LOCK_UN)


# -- the server -----------------------------------------------------------------------------------


class FeedServer(ThreadingHTTPServer):
    """`FeedServer(config, host, port)`; `start()` serves in a background thread, or call
    `serve_forever()`; `close()` stops. Port 0 picks a free port (see `url`)."""

    daemon_threads = True

    def __init__(
        self,
        config: Config,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        label_wait: float = LABEL_WAIT,
        log=lambda line: None,
    ):
        from pln.sinks.feeds import FeedbackKey

        self.config, self.log = config, log
        self.prefix = urlsplit(config.outputs.base_url).path.rstrip("/")
        self.files = StaticFiles(config.outputs.feeds_dir)
        self.key = FeedbackKey.beside(config.outputs.duckdb)
        self.labels = LabelRecorder(config.outputs.duckdb, label_wait, log)
        self.topics = {t.id: t for t in config.topics}
        self.statuses: Counter[int] = Counter()  # responses sent, by status code
        self._count_lock = threading.Lock()
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            super().__init__((host, port), FeedHandler)
        except OSError as exc:
            raise PlnError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address of the index page, e.g. http://127.0.0.1:8080/feeds/."""
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{self.prefix}/"

    def start(self) -> FeedServer:
        self.labels.start()
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="pln-serve", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread:
            self.shutdown()
            self._thread.join()
        self.labels.stop()
        self.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def count(self, status: int) -> None:
        with self._count_lock:
            self.statuses[status] += 1

    def traffic(self) -> str:
        """e.g. "served 120 responses: 20 ok, 100 not modified"."""
        names = {200: "ok", 304: "not modified", 403: "refused", 404: "not found"}
        total = sum(self.statuses.values())
        parts = [f"{n:,} {names.get(code, str(code))}" for code, n in sorted(self.statuses.items())]
        return f"served {total:,} responses" + (f": {', '.join(parts)}" if parts else "")

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client hung up; nothing to tell anyone
        super().handle_error(request, client_address)


class FeedHandler(BaseHTTPRequestHandler):
    server: FeedServer
    protocol_version = "HTTP/1.1"  # keep-alive: pollers reuse their connection
    server_version = "PLN-Curator"
    timeout = 30  # seconds an idle keep-alive connection is kept

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and delayed
        # ACKs hold the body back ~40 ms on a keep-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._route(head=False)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_POST(self) -> None:
        self._send_page(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed", "", allow=True)

    do_PUT = do_DELETE = do_PATCH = do_POST

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass  # feed readers poll all day; feedback and errors are logged where they happen

    # -- routing --------------------------------------------------------------------------------

    def _route(self, head: bool) -> None:
        url = urlsplit(self.path)
        prefix = self.server.prefix
        if url.path in ("", "/") and prefix:
            self._redirect(prefix + "/")
            return
        if not url.path.startswith(prefix + "/"):
            self._not_found()
            return
        name = url.path[len(prefix) + 1 :]
        if name == "feedback":
            self._feedback(url.query, head)
            return
        rep = self.server.files.get(name or "index.html")
        if rep is not None:
            self._send_file(rep, head)
        elif not name:
            self._send_page(
                HTTPStatus.OK,
                "No feeds yet",
                "<p>Nothing has been curated yet: run <code>pln run</code>, then reload.</p>",
                head=head,
            )
        else:
            self._not_found(head)

    # -- files ----------------------------------------------------------------------------------

    def _send_file(self, rep: Representation, head: bool) -> None:
        use_gzip = rep.gzipped is not None and accepts_gzip(self.headers.get("Accept-Encoding"))
        etag = f'"{rep.tag}-gz"' if use_gzip else f'"{rep.tag}"'
        validators = {
            "ETag": etag,
            "Last-Modified": rep.last_modified,
            "Cache-Control": CACHE_CONTROL,
            "Vary": "Accept-Encoding",
        }
        if self._not_modified(rep):
            self._send(HTTPStatus.NOT_MODIFIED, validators, b"", head=True)
            return
        headers = {"Content-Type": rep.content_type, **validators}
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        self._send(HTTPStatus.OK, headers, rep.gzipped if use_gzip else rep.body, head)

    def _not_modified(self, rep: Representation) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:  # takes precedence over If-Modified-Since (RFC 9110)
            return any(tag == "*" or tag == rep.tag for tag in etag_values(if_none_match))
        since = self.headers.get("If-Modified-Since")
        if not since:
            return False
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return rep.mtime <= when.timestamp()

    # -- feedback -------------------------------------------------------------------------------

    def _feedback(self, query: str, head: bool) -> None:
        from pln.sinks.store import Label

        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        item, topic_id = params.get("item", ""), params.get("topic", "")
        label, sig = params.get("label", ""), params.get("sig", "")
        topic = self.server.topics.get(topic_id)
        if not (item and topic_id and label and sig):
            status, title = HTTPStatus.BAD_REQUEST, "Incomplete feedback link"
            body = "<p>A feedback link needs item, topic, label and sig: use the feeds' links.</p>"
        elif topic is None or label not in FEEDBACK_WORDS or not ITEM_ID.match(item):
            status, title = HTTPStatus.NOT_FOUND, "Unknown feedback link"
            body = "<p>This link names a topic, label or item this server does not know.</p>"
        elif not self.server.key.verify(item, topic_id, label, sig):
            status, title = HTTPStatus.FORBIDDEN, "Invalid feedback link"
            body = (
                "<p>This feedback link's signature does not match; nothing was recorded. "
                "Use the links in the feeds this server publishes.</p>"
            )
        elif head:  # link checkers and previews: answer as a GET would, record nothing
            status, title, body = HTTPStatus.OK, f"Thanks: {FEEDBACK_WORDS[label]}", ""
        else:
            value = 1 if label == "up" else -1
            try:
                written, item_title = self.server.labels.record(
                    Label(item, topic_id, value, datetime.now(UTC), "feed")
                )
            except PlnError as exc:
                self.server.log(f"feedback not recorded: {exc}")
                status, title = HTTPStatus.SERVICE_UNAVAILABLE, "Feedback not recorded"
                body = f"<p>{html.escape(str(exc))}</p>"
            else:
                busy = "" if written else " (journaled: the database is busy)"
                self.server.log(f"feedback: {FEEDBACK_WORDS[label]} for {item} in {topic_id}{busy}")
                status, title = HTTPStatus.OK, f"Thanks: {FEEDBACK_WORDS[label]}"
                body = self._thanks(item, item_title, topic, label, written)
        self._send_page(status, title, body, head=head)

    def _thanks(self, item: str, item_title: str, topic, label: str, written: bool) -> str:
        """The confirmation: what was recorded, and the link that undoes it."""
        other = "down" if label == "up" else "up"
        undo = "feedback?" + self.server.key.query(item, topic.id, other)
        about = f"“{html.escape(item_title)}”" if item_title else f"item {item}"
        later = (
            ""
            if written
            else "<p>The database is busy right now; your feedback is kept and will be saved "
            "as soon as it is free.</p>"
        )
        return (
            f"<p>Recorded <strong>{FEEDBACK_WORDS[label]}</strong> for {about} in "
            f'<a href="./#{html.escape(topic.id)}">{html.escape(topic.title)}</a>.</p>{later}'
            f'<p>Changed your mind? <a href="{html.escape(undo)}">'
            f"{FEEDBACK_WORDS[other].capitalize()}</a> · "
            '<a href="./">All topics</a></p>'
        )

    # -- responses ------------------------------------------------------------------------------

    def _redirect(self, location: str) -> None:
        headers = {"Location": location, "Content-Type": "text/plain"}
        self._send(HTTPStatus.FOUND, headers, b"", head=False)

    def _not_found(self, head: bool = False) -> None:
        index = self.server.prefix + "/"
        self._send_page(
            HTTPStatus.NOT_FOUND,
            "Not found",
            f'<p>No such page. The feeds are listed at <a href="{html.escape(index)}">'
            f"{html.escape(index)}</a>.</p>",
            head=head,
        )

    def _send_page(
        self, status: HTTPStatus, title: str, body: str, *, head: bool = False, allow=False
    ) -> None:
        page = (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title></head>"
            f'<body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto">'
            f"<h1>{html.escape(title)}</h1>{body}</body></html>\n"
        ).encode()
        headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
        if allow:
            headers["Allow"] = "GET, HEAD"
        self._send(status, headers, page, head)

    def _send(self, status: HTTPStatus, headers: dict[str, str], body: bytes, head: bool) -> None:
        self.server.count(status)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


def accepts_gzip(header: str | None) -> bool:
    """True when an Accept-Encoding header allows gzip (`gzip;q=0` refuses it)."""
    for part in (header or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().lower()
            return not re.fullmatch(r"q=0(\.0*)?", q.replace(" ", ""))
    return False


def etag_values(header: str) -> list[str]:
    """The entity tags of If-None-Match, as bare content hashes (weak prefix, quotes and our
    gzip suffix removed, since both encodings carry the same content)."""
    tags = []
    for raw in header.split(","):
        tag = raw.strip().removeprefix("W/").strip('"')
        tags.append(tag.removesuffix("-gz"))
    return tags


# -- start-up -------------------------------------------------------------------------------------


def refresh_feeds(config: Config, wait: float) -> str:
    """Render the feeds from the store once, so a fresh config (title, base_url, digests) shows
    at once. Returns a note for the start-up summary."""
    from pln.sinks.feeds import render_feeds
    from pln.sinks.store import Store, StoreBusy

    db = config.outputs.duckdb
    if not db.is_file():
        return f"no database yet at {db}: feeds appear after the first `pln run`"
    try:
        with Store(db, read_only=True, wait=wait) as store:
            paths = render_feeds(store, config)
    except StoreBusy as exc:
        return f"serving the feeds as last rendered ({exc})"
    return f"rendered {len(paths)} files from {db}"


def served_urls(server: FeedServer) -> dict:
    from pln.sinks.feeds import FEED_KINDS, feed_filename

    url = server.url
    return {
        "url": url,
        "index": url,
        "opml": url + "index.opml",
        "feeds": {
            t.id: {kind: url + feed_filename(t.id, kind) for kind in FEED_KINDS}
            for t in server.config.topics
        },
    }


def format_startup(server: FeedServer, note: str) -> str:
    urls = served_urls(server)
    config = server.config
    lines = [f"Serving {config.outputs.title} at {urls['url']}", f"  {note}"]
    width = max((len(t) for t in urls["feeds"]), default=0)
    for topic, feeds in urls["feeds"].items():
        lines.append(f"  {topic:<{width}}  {feeds['rss']}  (also .atom.xml, .json)")
    lines.append(f"  {'OPML':<{width}}  {urls['opml']}")
    lines.append(f"  feedback links record labels in {config.outputs.duckdb} (table labels)")
    base = config.outputs.base_url + "/"
    if base != urls["url"]:
        lines.append(f"  note: outputs.base_url is {base}: links inside the feeds point there")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def add_serve_command(subparsers) -> None:
    serve = subparsers.add_parser(
        "serve", help="serve the topic feeds, OPML and an index page over HTTP, with feedback"
    )
    serve.add_argument("-c", "--config", default="pln.yaml", help="config file (default: pln.yaml)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=int,
        help=f"port (default: the port of outputs.base_url, else {DEFAULT_PORT}; 0: any free)",
    )
    serve.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    serve.add_argument("--json", action="store_true", help="print the start-up summary as JSON")
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from pln.config import load_config
    from pln.sinks.store import lock_wait_default

    config = load_config(args.config, check_sources=False)
    port = args.port
    if port is None:
        port = urlsplit(config.outputs.base_url).port or DEFAULT_PORT
    talk = not (args.quiet or args.json)

    def log(line: str) -> None:
        if talk:
            print(f"  {line}", file=sys.stderr, flush=True)

    note = refresh_feeds(config, lock_wait_default())
    server = FeedServer(config, args.host, port, log=log)
    if args.json:
        summary = {**served_urls(server), "note": note, "database": str(config.outputs.duckdb)}
        print(json.dumps(summary, indent=2), flush=True)
    elif talk:
        print(format_startup(server, note), flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    server.labels.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.labels.stop()
        server.server_close()
    if talk:
        print(f"stopped; {server.traffic()}", flush=True)
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
