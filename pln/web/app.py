"""The WSGI application of `pln serve`: the rendered feeds and index page under the path of
`outputs.base_url` (e.g. `/feeds/`), the pages built from the database (a topic's older items,
search, people), `robots.txt`, and feedback.

Feedback: a link `<base>/_feedback?item=…&topic=…&label=up|down&exp=…&sig=…` (HMAC-signed, valid
until `exp`) only shows the item and a button. The button POSTs the same fields with a token that
must match a SameSite=Strict cookie the page set (double-submit), and a browser's Origin or
Sec-Fetch-Site, when sent, must say the POST came from this site: crawlers, link previews and
other sites' forms cannot record a label.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from pln.atomic import file_version
from pln.config import Config
from pln.errors import PlnError
from pln.sinks.feeds import FEEDBACK_PATH
from pln.sinks.feeds_state import RemovedFeed, removed_feeds, state_path
from pln.sinks.search_words import MAX_CHARS, search_words

from . import pages
from .files import StaticFiles, accepts_gzip, not_modified
from .follow import ConfigFollower
from .journal import LABEL_WAIT, LabelRecorder
from .queries import people, reading
from .teach import Teacher

CACHE_CONTROL = "max-age=60"
PAGE_WAIT = 5.0  # seconds a page waits for a writer to release the database
PAGE_LINK_DAYS = 7  # feedback links on pages built on request work this long
MAX_FORM_BYTES = 4096
MAX_PAGE = 10**6  # higher page numbers ask for this one (past any topic's last page)
CSRF_COOKIE = "pln_feedback"
NOTHING_YET = "Nothing has been curated yet: run pln run, then reload."
SECURITY_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
]
NO_STORE = [("Cache-Control", "no-store")]
HTML = "text/html; charset=utf-8"
ROOT_FILES = ("/robots.txt", "/favicon.ico")  # at the site's root, whatever base_url's path
FAVICON = (  # a feed icon: without one, browsers log each page's /favicon.ico as a 404
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<rect width="16" height="16" rx="3" fill="#e8710a"/>'
    b'<circle cx="4.5" cy="11.5" r="1.5" fill="#fff"/>'
    b'<path d="M3 7a6 6 0 0 1 6 6M3 3a10 10 0 0 1 10 10" stroke="#fff" stroke-width="2" '
    b'fill="none"/></svg>'
)


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: HTTPStatus, headers: list[tuple[str, str]], body: bytes = b""):
        self.status, self.headers, self.body = status, headers, body


class FeedApp:
    """`FeedApp(config)` is a WSGI callable. `statuses` counts the responses sent by status;
    `labels` is the feedback journal (start it to retry journaled labels in the background)."""

    def __init__(self, config: Config, *, label_wait: float = LABEL_WAIT, log=lambda line: None):
        from pln.sinks.feeds import FeedbackKey

        self.log = log
        self._use(config)
        self.follower = ConfigFollower(config)
        self.path_prefix, self.prefix = base_path(config.outputs.base_url)
        self.files = StaticFiles(config.outputs.feeds_dir)
        self.key = FeedbackKey.beside(config.outputs.duckdb)
        self.labels = LabelRecorder(config.outputs.duckdb, label_wait, log)
        self.removed = RemovedFeeds(config.outputs.duckdb, config.outputs.feeds_dir)
        self.statuses: Counter[int] = Counter()
        self._count_lock = threading.Lock()
        self.robots = (f"User-agent: *\nDisallow: {self.prefix}/{FEEDBACK_PATH}\n").encode()

    def _use(self, config: Config) -> None:
        """Serve `config`'s topics and title from now on (each a single assignment)."""
        self.config, self.site = config, config.outputs.title
        self.topics = {t.id: t for t in config.topics}
        self.teacher = Teacher(config)

    # -- WSGI -----------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        try:
            response = self.respond(environ, method)
        except Exception as exc:  # a bug: answer 500 and say it once in the log
            self.log(f"error on {method} {environ.get('PATH_INFO', '')}: {exc!r}")
            response = self._page(HTTPStatus.INTERNAL_SERVER_ERROR, "Server error", str(exc))
        with self._count_lock:
            self.statuses[response.status] += 1
        body = response.body
        headers = response.headers + SECURITY_HEADERS
        if response.status != HTTPStatus.NOT_MODIFIED:
            headers.append(("Content-Length", str(len(body))))
        start_response(f"{response.status.value} {response.status.phrase}", headers)
        return [b""] if method == "HEAD" else [body]

    def respond(self, environ, method: str) -> Response:
        edited = self.follower.edited()
        if edited is not None:
            self._use(edited)
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        if path in ROOT_FILES:
            return self._only_get(method) or self._root_file(path)
        if path != self.path_prefix + "/" and path in ("", "/", self.path_prefix):
            return Response(HTTPStatus.FOUND, [("Location", self.prefix + "/")])
        if not path.startswith(self.path_prefix + "/"):
            return self._not_found()
        name = path[len(self.path_prefix) + 1 :]
        query = environ.get("QUERY_STRING", "")
        if name == "feedback":  # links of feeds rendered before links expired
            return self._page(
                HTTPStatus.GONE,
                "Old feedback link",
                "This feedback link is from an older version of this site; nothing was "
                "recorded. Your feed reader shows working links after its next refresh.",
            )
        if name == FEEDBACK_PATH:
            if method == "POST":
                return self._feedback_post(environ)
            return self._only_get(method, "GET, HEAD, POST") or self._feedback_get(query)
        refused = self._only_get(method)
        if refused:
            return refused
        if name.startswith("topic/"):
            return self._topic(name.removeprefix("topic/"), query)
        if name.startswith("teach/"):
            return self._teach(name.removeprefix("teach/"))
        if name == "search":
            return self._search(query)
        if name == "people":
            return self._people()
        rep = self.files.get(name or "index.html")
        if rep is not None:
            return self._file(rep, environ)
        if not name:
            return self._page(
                HTTPStatus.OK,
                "No feeds yet",
                NOTHING_YET,
            )
        return self._gone(self.removed.feed(name)) or self._not_found()

    # -- files ----------------------------------------------------------------------------------

    def _root_file(self, path: str) -> Response:
        """`/robots.txt`, or the icon browsers ask for at `/favicon.ico`."""
        if path == "/robots.txt":
            return Response(
                HTTPStatus.OK, [("Content-Type", "text/plain; charset=utf-8")], self.robots
            )
        headers = [("Content-Type", "image/svg+xml"), ("Cache-Control", "max-age=86400")]
        return Response(HTTPStatus.OK, headers, FAVICON)

    def _file(self, rep, environ) -> Response:
        use_gzip = rep.gzipped is not None and accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        validators = [
            ("ETag", f'"{rep.tag}-gz"' if use_gzip else f'"{rep.tag}"'),
            ("Last-Modified", rep.last_modified),
            ("Cache-Control", CACHE_CONTROL),
            ("Vary", "Accept-Encoding"),
        ]
        if not_modified(
            rep, environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE")
        ):
            return Response(HTTPStatus.NOT_MODIFIED, validators)
        headers = [("Content-Type", rep.content_type), *validators]
        if use_gzip:
            headers.append(("Content-Encoding", "gzip"))
        return Response(HTTPStatus.OK, headers, rep.gzipped if use_gzip else rep.body)

    # -- pages from the database ----------------------------------------------------------------

    def _topic(self, topic_id: str, query: str) -> Response:
        """`topic/<topic>?page=N`: one page of the topic's kept items, PER_PAGE a page, with the
        page numbers of `_page_number` and `_within_pages`, as search."""
        topic = self.topics.get(topic_id)
        if topic is None:
            return self._gone(self.removed.topic(topic_id), "../") or self._not_found(root="../")
        page = _page_number(_params(query).get("page", "1"))
        with self._database("../") as db:
            if isinstance(db, Response):
                return db

            def fetch(number: int):
                return db.curated_page(
                    topic.id, limit=pages.PER_PAGE, offset=(number - 1) * pages.PER_PAGE
                )

            entries, total, page = _within_pages(fetch, page)
        body = pages.topic_page(self.config, topic, entries, total, page, self._feedback_links)
        return Response(HTTPStatus.OK, [("Content-Type", HTML), *NO_STORE], body)

    def _search(self, query: str) -> Response:
        """`search?q=…&page=N`: one page of `FeedReader.search`, PER_PAGE items, each with
        feedback for every topic it names (`_feedback_each`). Page numbers as on topic pages."""
        params = _params(query)
        typed = " ".join(params.get("q", "").split())
        words = typed[:MAX_CHARS].rstrip()
        page = _page_number(params.get("page", "1"))
        entries, total = [], 0
        if words:
            with self._database("") as db:
                if isinstance(db, Response):
                    return db
                entries, total, page = _within_pages(
                    lambda number: _search_page(db, words, number), page
                )
        ignored = search_words(words).ignored
        found = pages.Found(words, entries, total, page, ignored, len(typed) > MAX_CHARS)
        body = pages.search_page(self.config, found, self._feedback_each)
        return Response(HTTPStatus.OK, [("Content-Type", HTML), *NO_STORE], body)

    def _people(self) -> Response:
        with self._database("") as db:
            if isinstance(db, Response):
                return db
            found = people(db)
        body = pages.people_page(self.config, found)
        return Response(HTTPStatus.OK, [("Content-Type", HTML), *NO_STORE], body)

    def _teach(self, topic_id: str) -> Response:
        topic = self.topics.get(topic_id)
        if topic is None:
            return self._not_found(root="../")
        with self._database("../") as db:
            if isinstance(db, Response):
                return db
            items, labelled = self.teacher.pool(db, topic.id)
        found = self.teacher.suggest(topic.id, items, labelled)
        body = pages.teach_page(self.config, topic, found, self._feedback_for(topic.id))
        return Response(HTTPStatus.OK, [("Content-Type", HTML), *NO_STORE], body)

    def _database(self, root: str):
        return _Reading(self, root)

    def _feedback_links(self, entry, root: str) -> str:
        return self._feedback_html(entry.item.id, entry.topic, root)

    def _feedback_each(self, entry, root: str) -> str:
        """A search card's feedback: the links of its topic when it names one, else a pair for
        each topic it names that this server serves (a label is about an item in a topic; a
        topic taken out of the config takes none)."""
        named = entry.topics or (entry.topic,)
        served = [t for t in named if t in self.topics]
        if len(named) == 1:
            return self._feedback_html(entry.item.id, served[0], root) if served else ""
        pairs = [(self.topics[t].title, *self._links(entry.item.id, t, root)) for t in served]
        return pages.feedback_per_topic(pairs)

    def _feedback_for(self, topic: str):
        return lambda item_id, root: self._feedback_html(item_id, topic, root)

    def _feedback_html(self, item_id: str, topic: str, root: str) -> str:
        return pages.feedback_links(*self._links(item_id, topic, root))

    def _links(self, item_id: str, topic: str, root: str) -> tuple[str, str]:
        """The signed "more like this" and "less like this" links of an item in a topic."""
        expires = datetime.now(UTC) + timedelta(days=PAGE_LINK_DAYS)
        up, down = (
            f"{root}{FEEDBACK_PATH}?{self.key.query(item_id, topic, x, expires)}"
            for x in ("up", "down")
        )
        return up, down

    # -- feedback -------------------------------------------------------------------------------

    def _checked_link(self, params: dict[str, str]) -> Response | None:
        """Why a feedback link's fields are refused (a page to answer with), or None."""
        item, topic_id = params.get("item", ""), params.get("topic", "")
        label, exp, sig = params.get("label", ""), params.get("exp", ""), params.get("sig", "")
        if not (item and topic_id and label and exp and sig):
            return self._page(
                HTTPStatus.BAD_REQUEST,
                "Incomplete feedback link",
                "A feedback link needs item, topic, label, exp and sig: use the feeds' links.",
            )
        if topic_id not in self.topics or label not in pages.WORDS or not _item_id(item):
            return self._page(
                HTTPStatus.NOT_FOUND,
                "Unknown feedback link",
                "This link names a topic, label or item this server does not know.",
            )
        if not (exp.isascii() and self.key.verify(item, topic_id, label, exp, sig)):
            return self._page(
                HTTPStatus.FORBIDDEN,
                "Invalid feedback link",
                "This feedback link's signature does not match; nothing was recorded. "
                "Use the links in the feeds this server publishes.",
            )
        if int(exp) < time.time():
            topic = self.topics[topic_id]
            here = quote(topic_id, safe="")
            return self._page(
                HTTPStatus.GONE,
                "Expired feedback link",
                "This feedback link has expired; nothing was recorded. The topic's pages have "
                "fresh links:",
                links={
                    f"topic/{here}": f"{topic.title}: kept items",
                    f"teach/{here}": f"Teach {topic.title}",
                },
            )
        return None

    def _feedback_get(self, query: str) -> Response:
        params = _params(query)
        refused = self._checked_link(params)
        if refused:
            return refused
        from pln.sinks.store import StoreBusy

        item, looked = None, False
        try:
            with reading(self.config.outputs.duckdb, 0.5) as store:
                item = store.items_by_id([params["item"]]).get(params["item"])
                looked = True
        except (StoreBusy, PlnError):
            pass  # the page still works without the item's title
        if looked and item is None:
            return self._gone_item()
        token = secrets.token_urlsafe(18)
        fields = {k: params[k] for k in ("item", "topic", "label", "exp", "sig")}
        body = pages.confirm_page(
            self.site,
            self.topics[params["topic"]],
            params["label"],
            item,
            {**fields, "token": token},
        )
        cookie = (
            f"{CSRF_COOKIE}={token}; Path={self.prefix}/{FEEDBACK_PATH}; HttpOnly; SameSite=Strict; "
            "Max-Age=3600"
        )
        headers = [("Content-Type", HTML), *NO_STORE, ("Set-Cookie", cookie)]
        headers.append(("X-Robots-Tag", "noindex, nofollow"))
        return Response(HTTPStatus.OK, headers, body)

    def _feedback_post(self, environ) -> Response:
        from pln.sinks.store import Label

        length = environ.get("CONTENT_LENGTH")
        if not length:  # e.g. a chunked body under granian
            return self._page(
                HTTPStatus.LENGTH_REQUIRED,
                "Length required",
                "A feedback form is sent with its length (Content-Length).",
            )
        length = int(length) if length.isascii() and length.isdigit() else 0
        if length > MAX_FORM_BYTES:
            return self._page(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Too large", "Not a feedback form."
            )
        if length == 0:
            return self._page(HTTPStatus.BAD_REQUEST, "No form", "Not a feedback form.")
        form = _params(environ["wsgi.input"].read(length).decode("utf-8", "replace"))
        here = {environ.get("HTTP_HOST", ""), urlsplit(self.config.outputs.base_url).netloc}
        if not _same_site(environ, here) or not _token_matches(environ, form.get("token", "")):
            return self._page(
                HTTPStatus.FORBIDDEN,
                "Feedback not recorded",
                "This form did not come from this site's feedback page: open the feedback "
                "link again and press its button.",
            )
        refused = self._checked_link(form)
        if refused:
            return refused
        item, topic, label = form["item"], self.topics[form["topic"]], form["label"]
        if self._item_gone(item):
            return self._gone_item()
        value = 1 if label == "up" else -1
        try:
            written, title = self.labels.record(
                Label(item, topic.id, value, datetime.now(UTC), "feed")
            )
        except PlnError as exc:
            self.log(f"feedback not recorded: {exc}")
            return self._page(HTTPStatus.SERVICE_UNAVAILABLE, "Feedback not recorded", str(exc))
        busy = "" if written else " (journaled: not yet in the database)"
        self.log(f"feedback: {pages.WORDS[label]} for {item} in {topic.id}{busy}")
        other = "down" if label == "up" else "up"
        expires = datetime.fromtimestamp(int(form["exp"]), UTC)
        undo = f"{FEEDBACK_PATH}?" + self.key.query(item, topic.id, other, expires)
        body = pages.thanks_page(self.site, topic, label, title, written, undo)
        return Response(HTTPStatus.OK, [("Content-Type", HTML), *NO_STORE], body)

    def _item_gone(self, item_id: str) -> bool:
        """True only when the store could be read and no longer holds the item (forgotten by
        `pln forget` or `outputs.keep_days`); a busy store says nothing, and the label is
        journaled."""
        from pln.sinks.store import StoreBusy

        try:
            with reading(self.config.outputs.duckdb, 0.5) as store:
                return not store.items_by_id([item_id])
        except (StoreBusy, PlnError):
            return False

    def _gone_item(self) -> Response:
        return self._page(
            HTTPStatus.GONE,
            "Item no longer kept",
            "This item was forgotten: it is no longer in the database, so there is nothing "
            "to learn from; nothing was recorded.",
        )

    # -- plain responses ------------------------------------------------------------------------

    def _only_get(self, method: str, allow: str = "GET, HEAD") -> Response | None:
        if method in ("GET", "HEAD"):
            return None
        response = self._page(
            HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed", f"This address takes {allow}."
        )
        response.headers.append(("Allow", allow))
        return response

    def _not_found(self, root: str = "") -> Response:
        return self._page(
            HTTPStatus.NOT_FOUND,
            "Not found",
            f"No such page. The feeds are listed at {self.prefix}/.",
            root=root,
        )

    def _gone(self, removed: RemovedFeed | None, root: str = "") -> Response | None:
        """410 Gone for a removed topic's feed or page: feed readers that know the status
        (FreshRSS, SimplePie) stop asking, and a person reads why."""
        if removed is None:
            return None
        return self._page(
            HTTPStatus.GONE,
            "Topic removed",
            f"The topic {removed.topic!r} was taken out of this site's config on "
            f"{removed.on}: nothing more will be published here. The feeds still published "
            f"are listed at {self.prefix}/.",
            root=root,
        )

    def _page(
        self,
        status: HTTPStatus,
        title: str,
        text: str,
        root: str = "",
        links: dict[str, str] | None = None,
    ) -> Response:
        body = pages.message_page(self.site, title, text, root=root, links=links)
        return Response(status, [("Content-Type", HTML), *NO_STORE], body)


class RemovedFeeds:
    """The feed files that renders removed with their topic (sinks/feeds_state.py), read again
    only when the render state changes."""

    def __init__(self, db_path: Path, feeds_dir: Path):
        self.state, self.db_path, self.feeds_dir = state_path(db_path), db_path, feeds_dir
        self._known: tuple[tuple[int, int, int] | None, dict[str, RemovedFeed]] = (None, {})

    def feed(self, name: str) -> RemovedFeed | None:
        return self._current().get(name)

    def topic(self, topic_id: str) -> RemovedFeed | None:
        return next((f for f in self._current().values() if f.topic == topic_id), None)

    def _current(self) -> dict[str, RemovedFeed]:
        stamp = file_version(self.state)
        if stamp is None:
            return {}
        known_stamp, feeds = self._known
        if stamp != known_stamp:
            feeds = removed_feeds(self.db_path, self.feeds_dir)
            self._known = (stamp, feeds)  # one assignment: threads see the old or the new
        return feeds


class _Reading:
    """`with app._database(root) as db`: a read-only Store, else a page (check
    `isinstance(db, Response)`): "nothing curated yet" before the first run, 503 while the
    database stays busy or cannot be read."""

    def __init__(self, app: FeedApp, root: str):
        self.app, self.root, self._ctx = app, root, None

    def __enter__(self):
        from pln.sinks.store import StoreBusy

        if not self.app.config.outputs.duckdb.is_file():  # before the first `pln run`
            return self.app._page(HTTPStatus.OK, "Nothing curated yet", NOTHING_YET, self.root)
        self._ctx = reading(self.app.config.outputs.duckdb, PAGE_WAIT)
        try:
            return self._ctx.__enter__()
        except (StoreBusy, PlnError) as exc:
            self._ctx = None
            self.app.log(f"page not served: {exc}")  # the file and the writer, for the admin
            text = (
                "The database is being written; try again in a moment."
                if isinstance(exc, StoreBusy)
                else "The database cannot be read right now; the server's log says why."
            )
            response = self.app._page(
                HTTPStatus.SERVICE_UNAVAILABLE, "Try again in a moment", text, self.root
            )
            response.headers.append(("Retry-After", "5"))
            return response

    def __exit__(self, *exc):
        if self._ctx is not None:
            return self._ctx.__exit__(*exc)
        return False


def base_path(base_url: str) -> tuple[str, str]:
    """The path of `base_url` without its last `/`: decoded (to match PATH_INFO, which the
    server decodes) and percent-encoded (for Location, cookies and robots.txt)."""
    path = urlsplit(base_url).path.rstrip("/")
    return unquote(path), quote(path, safe="/%!$&'()*+,;=:@~")


def _params(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}


def _page_number(text: str) -> int:
    """The page `?page=` asks for, as a browser's user expects: a whole number from 1 (capped
    at MAX_PAGE, past any last page); anything else (missing, empty, 0, -3, abc, 1.5, ²) is
    page 1. Never an error, and never a number DuckDB cannot take as an OFFSET."""
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit()) or not digits:
        return 1
    if len(digits) > len(str(MAX_PAGE)):  # before int(): Python refuses 4,300 digits and more
        return MAX_PAGE
    return min(int(digits), MAX_PAGE)


def _within_pages(fetch, page: int):
    """(entries, total, page) of page `page` from `fetch(page) -> (entries, total)`, or of the
    last page when `page` is past it (asked for so, or items were forgotten meanwhile)."""
    entries, total = fetch(page)
    last = max(1, -(-total // pages.PER_PAGE))
    if page > last:
        page = last
        entries, total = fetch(page)
    return entries, total, page


def _search_page(db, words: str, page: int):
    """Page `page` of the kept items `words` find (each item once) and their total."""
    return db.reader.search(words, limit=pages.PER_PAGE, offset=(page - 1) * pages.PER_PAGE)


def _item_id(text: str) -> bool:
    return 8 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


def _same_site(environ, here: set[str]) -> bool:
    """False when the browser says the POST came from another site than `here` (the Host
    header and base_url's host: behind a proxy they may differ)."""
    fetch_site = environ.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True
    return urlsplit(origin).netloc in here


def _token_matches(environ, token: str) -> bool:
    try:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return False
    morsel = cookie.get(CSRF_COOKIE)
    return bool(token and morsel) and hmac.compare_digest(morsel.value, token)
