"""Blog feeds (RSS 0.9x/1.0/2.0, Atom) from a local file or an http(s) URL: type `rss`.

Options: exactly one of `url` or `path`; `timeout` (seconds per connect/read, the whole fetch
gets three times that; default 20), `max_bytes` (default 20 MB), `user_agent`; `title` and
`category` are descriptive (written by the OPML importer) and do not change what is read.
A URL's user:password and secret-looking query values (`key=`, `token=`) never reach an item:
relative ids and links are resolved against the URL without them (`http.public_url`). A
`path` must be a regular file (not a device or a pipe), read up to `max_bytes`.

Cursor: a file is {"mtime_ns", "size", "sha256"}, a URL {"etag", "last_modified", "sha256"}
(plus "permanent_url" after a 301/308). An unchanged file, an HTTP 304 or a body with the same
hash is `not_modified` and is not parsed.

The bytes are parsed once: a gzip body is detected by its magic bytes and decompressed (up to
`max_bytes`), a DOCTYPE internal subset is removed (so entity declarations never expand), then
the fast path (feed_parse.py, lxml) reads a well-formed RSS 2.0/1.0 or Atom 1.0 feed, and
feedparser, with its HTML sanitizer and URI resolver off, reads any feed the fast path doubts
(docs/feeds.md). A refused feed first has its bare "&" escaped (feed_repair.py), and goes back
to the fast path when that was its only fault. What feedparser's loose parser (ill-formed XML)
leaves escaped in ids, links, authors and tags is read as the other parsers read it, so an
item's id does not depend on the path, and its parse error is placed in the user's file
(`feed_repair.locate_fault`). When the document ends inside an entry (cut off in transit),
that entry is left out, and the "ill-formed feed" dead letter says so: what the loose parser
read of it (a title without its text) would replace the whole entry stored before. An entry's
HTML is read once, by pln/text.py (its text and links); its relative URLs are made absolute
once, against the entry's base, when `Item.create` sanitizes it.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.sax import SAXException, SAXParseException
from xml.sax.saxutils import unescape as unescape_xml

from lxml.html import defs as html_defs

from pln.clean import PLAIN_WEB_URL, collapsed, plain_name
from pln.config import Options
from pln.errors import SourceError
from pln.record import CURSOR_LASTING, DeadLetter, Item, lasting, stable_id
from pln.sources.base import (
    Cursor,
    FetchResult,
    Source,
    not_regular,
    read_capped,
)
from pln.sources.http import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
    HttpFetcher,
    public_url,
    redact,
)
from pln.text import HtmlText, html_text

GLOBAL_ID_SCHEMES = ("http", "https", "tag", "urn")
GZIP_MAGIC = b"\x1f\x8b"
# A start or end tag of an HTML element (lxml's list): in a title declared as text it is
# markup all the same; "<int>" or "<T>" is not, and stays as written.
_HTML_TAG = re.compile(
    r"</?(?:" + "|".join(sorted(html_defs.tags, key=len, reverse=True)) + r")(?=[\s/>])",
    re.IGNORECASE,
)
WEB_SCHEMES = ("http", "https")
_SPACES = re.compile(r"\s+")
_RAW_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False), made once
_RAW_KEYS = ("id", "link", "title", "author", "published", "updated")
_json_string = json.encoder.encode_basestring  # a JSON string, as _RAW_JSON writes one


class FeedSource(Source):
    type = "rss"

    def configure(self, opts: Options) -> None:
        self.url = opts.text("url")
        self.path = opts.path("path")
        if bool(self.url) == bool(self.path):
            raise opts.error("url", "give exactly one of url (http/https) or path (a local file)")
        if self.url and urlsplit(self.url).scheme not in WEB_SCHEMES:
            raise opts.error("url", f"must be an http(s) URL, got {self.url!r}")
        self.timeout = opts.number("timeout", default=DEFAULT_TIMEOUT, min=0.001)
        self.max_bytes = opts.integer("max_bytes", default=DEFAULT_MAX_BYTES, min=1)
        self.user_agent = opts.text("user_agent", default=DEFAULT_USER_AGENT)
        self.title = opts.text("title")
        self.category = opts.text("category")
        # Prefix of native ids that are not globally unique: the URL, or the path as written
        # in the config (stable when the project folder moves).
        self.ref = redact(self.url) if self.url else str(opts.data["path"])

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        cursor = cursor or {}
        return self._fetch_url(cursor) if self.url else self._fetch_file(cursor)

    def _fetch_file(self, cursor: Cursor) -> FetchResult:
        try:
            stat = self.path.stat()
            if reason := not_regular(self.shown_path(self.path), stat):
                raise self.error(reason)
            if stat.st_mtime_ns == cursor.get("mtime_ns") and stat.st_size == cursor.get("size"):
                return FetchResult(cursor=dict(cursor), not_modified=True)
            if stat.st_size > self.max_bytes:
                raise self._too_large()
            data = read_capped(self.path, self.max_bytes)
        except FileNotFoundError:
            raise self.error(f"file not found: {self.shown_path(self.path)}") from None
        except OSError as exc:
            raise self.cannot_read(self.path, exc) from None
        if len(data) > self.max_bytes:
            raise self._too_large()
        digest = hashlib.sha256(data).hexdigest()
        new_cursor = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "sha256": digest}
        if digest == cursor.get("sha256"):
            return FetchResult(cursor=new_cursor | (lasting(cursor) or {}), not_modified=True)
        result = self.parse(data, ids=cursor.get(CURSOR_LASTING))
        result.cursor = new_cursor | (result.cursor or {})
        return result

    def _too_large(self) -> SourceError:
        return self.error(f"{self.shown_path(self.path)} is larger than {self.max_bytes} bytes")

    def _fetch_url(self, cursor: Cursor) -> FetchResult:
        headers = {}
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = cursor["last_modified"]
        fetcher = HttpFetcher(
            self.name,
            timeout=self.timeout,
            max_bytes=self.max_bytes,
            user_agent=self.user_agent,
        )
        response = fetcher.get(self.url, headers)
        new_cursor = {
            "etag": response.headers.get("etag") or cursor.get("etag", ""),
            "last_modified": response.headers.get("last-modified")
            or cursor.get("last_modified", ""),
            "sha256": cursor.get("sha256", ""),
        }
        if response.permanent_url:
            new_cursor["permanent_url"] = response.permanent_url
        if response.not_modified:
            return FetchResult(cursor=new_cursor | (lasting(cursor) or {}), not_modified=True)
        new_cursor["sha256"] = hashlib.sha256(response.body).hexdigest()
        if new_cursor["sha256"] == cursor.get("sha256"):
            return FetchResult(cursor=new_cursor | (lasting(cursor) or {}), not_modified=True)
        result = self.parse(
            response.body,
            {
                "content-type": response.headers.get("content-type", ""),
                "content-location": response.url,
            },
            ids=cursor.get(CURSOR_LASTING),
        )
        result.cursor = new_cursor | (result.cursor or {})
        return result

    def parse(
        self,
        data: bytes,
        headers: dict[str, str] | None = None,
        *,
        engine: str = "auto",
        ids: dict | None = None,
    ) -> FetchResult:
        """Turn feed bytes into items and dead letters. Raises if not a feed.

        `engine` "auto" tries the fast path and falls back to feedparser on any doubt;
        "feedparser" uses feedparser only (the reference, for tests and benchmarks).
        `ids`: how the last read named this feed's items (the cursor's `CURSOR_LASTING` part, which
        the result's cursor holds anew; see `id_scope`).
        """
        try:
            data = gunzip_by_content(data, self.max_bytes)
        except ValueError as exc:
            raise self.error(f"{self.ref}: {exc}") from None
        from pln.sources.feed_parse import Refused

        headers = _without_credentials(headers or {})
        try:
            parsed = read_feed(data, headers, engine)
        except Refused as exc:
            raise self.error(f"{self.ref}: refused, {exc}") from None
        if not parsed.version and not parsed.entries:
            raise self.error(f"not an RSS/Atom feed: {self.ref} ({_what_it_is(data, parsed)})")
        location = headers.get("content-location", "")
        atom = parsed.version.startswith("atom")
        feed = _FeedContext(self.ref, parsed.feed, location, datetime.now(UTC), atom)
        feed.scope = id_scope(ids, self.ref, feed.identity)
        result = FetchResult(cursor={CURSOR_LASTING: {"scope": feed.scope, "feed": feed.identity}})
        first: dict[str, tuple[int, Item]] = {}  # item id -> the first entry with it
        repeats: set[str] = set()  # ids of the dead letters of repeated entries
        for index, entry in enumerate(parsed.entries):
            made = self._entry(entry, index, feed)
            if isinstance(made, Item) and made.id in first:
                made = self._repeated(made, index, *first[made.id], feed.scope)
                if made is None or made.id in repeats:
                    continue
                repeats.add(made.id)
            elif isinstance(made, Item):
                first[made.id] = (index, made)
            (result.items if isinstance(made, Item) else result.dead_letters).append(made)
        problem = parsed.problem
        if problem is not None and not _benign(problem):
            result.dead_letters.append(self._ill_formed(parsed))
        return result

    def _ill_formed(self, parsed: ParsedFeed) -> DeadLetter:
        """The dead letter of a feed read by feedparser's loose parser: what it recovered,
        the entry the document ends inside (left out, its fields as raw) and the first fault."""
        n = len(parsed.entries)
        recovered = f"recovered {n:,} {'entry' if n == 1 else 'entries'}"
        raw = ""
        if parsed.cut_off is not None:
            left_out = n + 1
            recovered += f"; left out entry {left_out}, which the document ends inside"
            raw = _raw_entry(parsed.cut_off)
        reason = f"ill-formed feed ({recovered}): {parsed.problem}"
        return self.dead_letter(f"{self.ref}#feed", reason, raw)

    def _repeated(
        self, item: Item, index: int, first_index: int, first: Item, scope: str
    ) -> DeadLetter | None:
        """An entry with the id of an earlier one: None when it says the same, else a dead
        letter that keeps it (the first entry is the item).

        The dead letter is keyed by the id and a hash of what the entry says, not by its
        position, so the next fetch, with new entries on top, gives the same one again.
        """
        said = (item.title, item.text, item.url)
        if said == (first.title, first.text, first.url):
            return None
        entry_ref = f"{self.ref}#{item.native_id.removeprefix(f'{scope}#')}"
        return self.dead_letter(
            f"{entry_ref}#repeat-{stable_id(*said)[:12]}",
            f"an earlier entry has the same id ({item.native_id}); the first is kept",
            _RAW_JSON.encode(
                {
                    "entry": item.raw,
                    "title": item.title,
                    "url": item.url,
                    "text": item.text,
                    "position": index + 1,
                    "first_position": first_index + 1,
                }
            ),
        )

    def _entry(self, entry: Any, index: int, feed: _FeedContext) -> Item | DeadLetter:
        guid = (entry.get("id") or "").strip()
        link = _web_url(entry.get("link", ""), feed.site)
        title = _plain(entry.get("title", ""), entry.get("title_detail"))
        body = _body(entry)
        base = _content_base(body, feed.location, link or feed.site)
        if _is_html(body):
            html, read = body["value"], html_text(body["value"], base)
        else:
            html, read = "", HtmlText(collapsed(body.get("value", "")), ())
        raw = _raw_entry(entry)
        if not title and not read.text:
            ref = f"{feed.ref}#{guid or link or f'entry-{index + 1}'}"
            return self.dead_letter(ref, "entry has no title and no text", raw)
        # dict.get: feedparser's own get() maps a missing "updated" to "published", with a warning
        published = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
        if guid:
            native_id = guid
        elif link:
            native_id = link
        else:  # RSS 2.0 requires only a title or a description
            date = dict.get(entry, "published") or dict.get(entry, "updated") or ""
            key = f"{title}\x1f{date}" if title else f"\x1f{date}\x1f{read.text}"
            native_id = "sha1:" + hashlib.sha1(key.encode()).hexdigest()
        if not PLAIN_WEB_URL.match(native_id) and (
            urlsplit(native_id).scheme not in GLOBAL_ID_SCHEMES
        ):
            native_id = f"{feed.scope}#{native_id}"
        return Item.create(
            source=self.name,
            platform="rss",
            kind="article",
            native_id=native_id,
            author=_name(entry.get("author") or "", feed.atom) or feed.author,
            title=title,
            text=read.text,
            html=html,
            html_base=_html_base(base, link),
            url=link,
            links=read.links,
            hashtags=_hashtags(entry),
            lang=_language(entry, body, feed.language),
            published_at=_utc(published),
            fetched_at=feed.fetched_at,
            raw=raw,
        )


@dataclass(frozen=True)
class ParsedFeed:
    """What both parse paths give `FeedSource`: feedparser-shaped feed and entry dicts."""

    version: str
    feed: Any
    entries: list[Any]
    problem: Exception | None  # feedparser's bozo exception, if any
    fast: bool  # read by the fast path (feed_parse), not by feedparser
    cut_off: Any = None  # the entry the document ends inside, left out of `entries`


def read_feed(data: bytes, headers: dict[str, str], engine: str = "auto") -> ParsedFeed:
    """Parse feed bytes: the fast path for a well-formed feed, feedparser for anything else.

    A refused document first has its bare "&" escaped (feed_repair.py); when that was its
    only fault, the fast path reads it after all.
    """
    # Imported on the first parse: a run where every feed answers 304 never needs them.
    import feedparser

    from pln.sources.feed_parse import parse_fast
    from pln.sources.feed_repair import escape_bare_ampersands

    original, data = data, without_internal_subset(data)
    location = headers.get("content-location", "")
    charset = _charset(headers.get("content-type", ""))
    if engine == "auto":
        fast = parse_fast(data, location, charset)
        if fast is not None:
            return ParsedFeed(fast.version, fast.feed, fast.entries, None, True)
    # Only a document the fast path refused gets here: a well-formed one is never scanned.
    data, escaped = escape_bare_ampersands(_without_cut_character(data))
    if escaped and engine == "auto":
        fast = parse_fast(data, location, charset)
        if fast is not None:
            return ParsedFeed(fast.version, fast.feed, fast.entries, None, True)
    parsed = feedparser.parse(
        data, sanitize_html=False, resolve_relative_uris=False, response_headers=headers
    )
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if isinstance(problem, SAXException) or not parsed.get("encoding"):
        _unescape_loose(parsed)
    entries, cut_off = parsed.entries, None
    if isinstance(problem, SAXParseException):
        problem = _in_users_file(problem, original, parsed.get("encoding", ""))
        entries, cut_off = _without_cut_entry(entries, data, parsed.get("encoding", ""))
    return ParsedFeed(parsed.get("version", ""), parsed.feed, entries, problem, False, cut_off)


def _without_cut_character(data: bytes) -> bytes:
    """`data` without the start of a UTF-8 character it ends with (a document cut off in
    transit): feedparser would read the whole document as windows-1252 ("â€”" for "—")."""
    if not data or data[-1] < 0x80:
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:  # the first fault: all before it is UTF-8
        if exc.reason == "unexpected end of data":
            return data[: exc.start]
    return data


def _without_cut_entry(entries: list[Any], data: bytes, encoding: str) -> tuple[list[Any], Any]:
    """`entries` without the last one when the document (`data`, as feedparser read it) ends
    inside it, and that entry (else None).

    The loose parser keeps what it read of such an entry: a title without its text, a text
    cut short. Kept, it would replace the whole entry stored from an earlier read.
    """
    from pln.sources.feed_parse import entries_begun_before_cut

    found = entries_begun_before_cut(data, encoding)
    if found is None or not found[1] or found[0] != len(entries):
        return entries, None
    return entries[:-1], entries[-1]


def _in_users_file(problem: SAXParseException, data: bytes, encoding: str) -> Exception:
    """feedparser's parse error, at its place in the user's file (`data`).

    feedparser reports the line and column (from 0) of the text its parser read: with the
    "amp;" the repair added, a line of its own on top when the document has no XML
    declaration, and no DOCTYPE. `locate_fault` finds the same fault again and places it in
    `data`: "line 3, column 193: undefined entity &nbsp;".
    """
    from pln.sources.feed_repair import locate_fault

    fault = locate_fault(_blank_doctype(data), encoding)
    if fault is None or not fault.message.startswith(problem.getMessage()):
        return problem  # expat saw something else this time: feedparser's word stands
    return fault


def _unescape_loose(parsed: Any) -> None:
    """Undo what feedparser's loose parser (the one for ill-formed XML) leaves escaped, so that
    an entry reads the same whichever parser read it: its strict parser, like the fast path,
    gives the text the XML says.

    The loose parser keeps "&amp;", "&lt;", "&gt;", "&quot;" and "&apos;" as written in ids,
    authors and tags (and in a link taken from a guid), and makes "?a=1&amp;b=2" in the
    feed's own link "?a=1&ampb=2". An id "https://x/p?id=1&amp;lang=en" would otherwise be
    another item than the well-formed feed's "https://x/p?id=1&lang=en".
    """
    for entry in parsed.entries:
        escaped_id = dict.get(entry, "id")
        if escaped_id and "&" in escaped_id:
            entry["id"] = _xml_unescaped(escaped_id)
            if dict.get(entry, "link") == escaped_id:  # the guid was the link
                entry["link"] = entry["id"]
        for key in ("author", "author_detail", "authors", "tags"):
            value = dict.get(entry, key)
            if value:
                entry[key] = _xml_unescaped(value)
    feed = parsed.feed
    link = dict.get(feed, "link")
    if link and "&amp" in link:  # "&amp;" there became "&amp" ("?a=1&ampb=2")
        feed["link"] = link.replace("&amp", "&")
    if author := dict.get(feed, "author"):
        feed["author"] = _xml_unescaped(author)


_XML_ENTITIES = {"&quot;": '"', "&apos;": "'"}


def _xml_unescaped(value: Any) -> Any:
    """`value` (a string, or feedparser's dicts and lists of them) with XML's escapes read."""
    if isinstance(value, str):
        return unescape_xml(value, _XML_ENTITIES) if "&" in value else value
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _xml_unescaped(item)
        return value
    if isinstance(value, list):
        return [_xml_unescaped(item) for item in value]
    return value


def _benign(problem: Exception) -> bool:
    """Parse problems that say nothing about the feed itself (a missing or generic
    Content-Type, a declared charset that was overridden): not worth a dead letter on every
    poll."""
    import feedparser

    return isinstance(problem, (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride))


def _without_credentials(headers: dict[str, str]) -> dict[str, str]:
    """`headers` with a Content-Location (the base of the entries' relative URLs) that carries
    no user:password and no secret query value, so neither ever reaches an item."""
    location = headers.get("content-location", "")
    if not location:
        return headers
    return {**headers, "content-location": public_url(location)}


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return ""


def gunzip_by_content(data: bytes, max_bytes: int) -> bytes:
    """`data` decompressed if it is gzip (by its magic bytes), at most `max_bytes` of it.

    Servers send gzip files without Content-Encoding, and feeds are stored as .xml.gz.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise ValueError(f"gzip-compressed body is corrupt ({exc})") from None
    if len(out) > max_bytes:
        raise ValueError(f"gzip-compressed body expands beyond {max_bytes} bytes")
    return out


@dataclass
class _FeedContext:
    ref: str
    meta: Any  # feedparser's feed-level dict
    location: str  # the URL the document came from ("" for files)
    fetched_at: datetime
    atom: bool = False  # an Atom feed: names are text, never HTML
    scope: str = ""  # what native ids that are not globally unique start with (id_scope)

    @cached_property
    def site(self) -> str:
        return _web_url(self.meta.get("link", ""), self.location) or self.location

    @cached_property
    def identity(self) -> str:
        """What makes it the same feed wherever it is read from: its site's link (without
        scheme, "www." or a trailing "/"), else its title; "" when it has neither."""
        link = _web_url(self.meta.get("link", ""), self.location)
        if link:
            _, _, rest = link.partition("://")
            return rest.removeprefix("www.").rstrip("/").lower()
        return " ".join(str(self.meta.get("title") or "").split())

    @cached_property
    def author(self) -> str:
        return _name(self.meta.get("author", ""), self.atom)

    @cached_property
    def language(self) -> str:
        return self.meta.get("language", "")


def id_scope(ids: Any, ref: str, identity: str) -> str:
    """What the native ids of entries whose guid is not globally unique ("1001") start with:
    the feed's URL or path (`ref`), or the one its items were named by before, when the
    source now reads the same feed (the same `identity`) elsewhere: a feed that moved, whose
    url the user updated, or a file swapped for its URL. Its items then keep their ids."""
    scope = ids.get("scope") if isinstance(ids, dict) else None
    if isinstance(scope, str) and scope and identity and ids.get("feed") == identity:
        return scope
    return ref


def _body(entry: Any) -> dict[str, Any]:
    """The fullest body of an entry: its content if any, else its summary."""
    for content in entry.get("content") or ():
        if content.get("value"):
            return content
    return entry.get("summary_detail") or {}


def _is_html(detail: dict[str, Any]) -> bool:
    return "html" in (detail.get("type") or "")


def _content_base(body: dict[str, Any], location: str, fallback: str) -> str:
    # feedparser reports xml:base, or else the document location, as `base`. Relative URLs in
    # a post body without an xml:base are written for the post page, not for the feed URL.
    base = body.get("base") or ""
    return base if base and base != location else fallback


def _html_base(base: str, link: str) -> str:
    """The base of the entry HTML's relative URLs: `base`, itself made absolute against the
    entry's link when it is relative (an xml:base such as "/blog/")."""
    if not base or not link or PLAIN_WEB_URL.match(base):
        return base
    return urljoin(link, base)


def _plain(value: str, detail: dict[str, Any] | None) -> str:
    """A title as plain text: tags stripped, entities decoded once (per its declared type)."""
    if detail and _is_html(detail):
        return html_text(value).text
    if "<" in value and _HTML_TAG.search(value):  # markup in text: strip tags, keep "&" literal
        return html_text(value.replace("&", "&amp;")).text
    return collapsed(value)


def _name(value: str, atom: bool) -> str:
    """An author's name as plain text, read as a title of the feed is: as HTML when it looks
    like HTML (not in Atom, where a name is text), else tags stripped; bidi controls removed."""
    if not value:
        return ""
    from pln.sources.feed_parse import looks_like_html

    html = not atom and looks_like_html(value)
    return plain_name(_plain(value, {"type": "text/html"} if html else None))


def _hashtags(entry: Any) -> list[str]:
    """The terms (else labels) of an entry's tags, lower-case and without whitespace."""
    tags = entry.get("tags")
    if not tags:
        return []
    return [_SPACES.sub("", (t.get("term") or t.get("label") or "").lower()) for t in tags]


def _language(entry: Any, body: dict[str, Any], feed_language: str) -> str:
    title = entry.get("title_detail") or {}
    tag = entry.get("language") or body.get("language") or title.get("language") or feed_language
    return (tag or "").strip().lower().replace("_", "-").partition("-")[0]


def _utc(parsed_time: Any) -> datetime | None:
    """An entry's date (feedparser's struct_time) as an aware UTC datetime, or None."""
    if not parsed_time:
        return None
    if type(parsed_time) is datetime:  # the fast path's (feed_parse._date): already one
        return parsed_time
    try:  # what fromtimestamp(timegm()) gives for a time in range, at half the cost
        return datetime(*parsed_time[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed_time), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _web_url(url: str, base: str) -> str:
    """`url` made absolute against `base`; "" unless the result is http(s)."""
    url = (url or "").strip()
    if not url:
        return ""
    if PLAIN_WEB_URL.match(url):
        return url  # what urljoin and urlsplit would give, without their cost
    absolute = urljoin(base, url) if base else url
    return absolute if urlsplit(absolute).scheme in WEB_SCHEMES else ""


def _raw_entry(entry: Any) -> str:
    """The JSON of an entry's fields that say which post it is, as `_RAW_JSON` writes them
    (by hand when they are strings: 2.5 times faster)."""
    parts = []
    for key in _RAW_KEYS:
        value = dict.get(entry, key)
        if value:
            if type(value) is not str:
                return _RAW_JSON.encode(_raw_fields(entry))
            parts.append(f'"{key}": {_json_string(value)}')  # the encoder's own separators
    if entry.get("tags"):
        parts.append('"tags": ' + _RAW_JSON.encode([t.get("term") for t in entry["tags"]]))
    return "{" + ", ".join(parts) + "}"


def _raw_fields(entry: Any) -> dict[str, Any]:
    small = {k: dict.get(entry, k) for k in _RAW_KEYS if dict.get(entry, k)}
    if entry.get("tags"):
        small["tags"] = [t.get("term") for t in entry["tags"]]
    return small


def _what_it_is(data: bytes, parsed: ParsedFeed) -> str:
    head = data[:2048].lstrip().lower()
    if not head:
        return "the document is empty"
    if head.startswith(b"<!doctype html") or b"<html" in head:
        return "it is an HTML page"
    problem = parsed.problem
    return str(problem).splitlines()[0] if problem else "no feed element found"


# -- Hostile XML -------------------------------------------------------------------------------

_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)


def without_internal_subset(data: bytes) -> bytes:
    """`data` without a DOCTYPE's internal subset `[...]`, where entities are declared.

    Feeds have no use for entity declarations, and dropping them before any XML parser runs
    keeps entity expansion bombs and external entities (file:///etc/passwd) out, whatever the
    parser's own defences. An unterminated DOCTYPE is cut to the end of the document.
    """
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while (match := _PROLOG_ITEM.match(data, pos)) and match.end() > pos:
        pos = match.end()
    if not _DOCTYPE.match(data, pos):
        return data
    end = _doctype_end(data, pos)
    if b"[" not in data[pos:end]:
        return data  # an external DTD reference only: expat does not load it
    return data[:pos] + data[end:]


def _blank_doctype(data: bytes) -> bytes:
    """`data` with spaces for the DOCTYPE that no parser of it sees (line breaks kept, so
    every other byte stays at its line and column): one with an internal subset, which
    `without_internal_subset` removes, or one that starts a line, which feedparser removes."""
    first = pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while (match := _PROLOG_ITEM.match(data, pos)) and match.end() > pos:
        pos = match.end()
    if not _DOCTYPE.match(data, pos):
        return data
    end = _doctype_end(data, pos)
    line_start = max(first, data.rfind(b"\n", 0, pos) + 1, data.rfind(b"\r", 0, pos) + 1)
    seen_by_feedparser = not data.startswith(b"<!DOCTYPE", pos) or data[line_start:pos].strip()
    if b"[" not in data[pos:end] and seen_by_feedparser:
        return data
    return data[:pos] + re.sub(rb"[^\r\n]", b" ", data[pos:end]) + data[end:]


def _doctype_end(data: bytes, start: int) -> int:
    """Index just past the DOCTYPE at `start`, skipping quoted strings, comments and `[...]`."""
    depth, i = 0, start + len(b"<!DOCTYPE")
    while i < len(data):
        if data.startswith(b"<!--", i):
            i = _index_after(data, b"-->", i + 4)
            continue
        byte = data[i : i + 1]
        if byte in (b'"', b"'"):
            i = _index_after(data, byte, i + 1)
            continue
        if byte == b"[":
            depth += 1
        elif byte == b"]":
            depth = max(0, depth - 1)
        elif byte == b">" and depth == 0:
            return i + 1
        i += 1
    return len(data)


def _index_after(data: bytes, token: bytes, start: int) -> int:
    found = data.find(token, start)
    return len(data) if found < 0 else found + len(token)
