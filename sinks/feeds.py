"""Topic feeds rendered from the store: RSS 2.0, Atom 1.0, JSON Feed 1.1, an OPML index and an
HTML index page.

Every XML element is built with xml.etree and every HTML or JSON string is escaped by its
serializer, so item text can never break a document. A file is replaced atomically and only when
its bytes change: timestamps in a feed come from the items it holds, never from the clock, so
readers polling with If-Modified-Since / ETag see a change only when there is one. (A digest item
appears when its day or week is over: that is the one place the clock decides, besides a feed's
own date, which never passes the clock.) An item shows the date it claims unless that is more
than a day after it was first seen (`entry_text.shown_date`): a bogus future date shows as
first sight, as it sorts.

Each item carries signed "more like this / less like this" links to `<base_url>/_feedback`
(`pln serve` shows the item and a button that records a label); the signing key lives beside the database.

A story (a blog post and the posts sharing it, the same text posted again: see
`pln.sinks.stories`) appears once per feed, saying who in the PLN shared it; the number of people
sharing it raises its rank where a feed ranks (digests; items of the same day on the index page).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import secrets
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from pln.atomic import write_atomic
from pln.clean import plain_name
from pln.config import Config, TopicConfig
from pln.errors import PlnError

from .cards import PAGE_CSS, PAGE_JS, item_card, page_html, subscribe_box
from .entry_text import item_title, people, shared_by, shown_date
from .sanitize import safe_url, sanitize_html, text_to_html, xml_text
from .store import FeedEntry, Store

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
ET.register_namespace("atom", ATOM_NS)
ET.register_namespace("dc", DC_NS)

GENERATOR = "PLN Curator"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "last changed" of a feed that never had an item
FEED_KINDS = ("rss", "atom", "json")
INDEX_ITEMS = 10  # latest items per topic on the HTML index page
DIGEST_PERIODS = 4  # finished days or weeks that a feed carries a digest of
DIGEST_ITEMS = 10  # items per digest
FEEDBACK_LABELS = {"up": 1, "down": -1}
# Feedback pages live at <base_url>/_feedback: a topic id starts with a letter or digit, so no
# topic's feed file shares the prefix that robots.txt disallows.
FEEDBACK_PATH = "_feedback"
FEEDBACK_DAYS = 90  # a feedback link works this long after its item appeared


def render_feeds(store: Store, config: Config, *, now: datetime | None = None) -> list[Path]:
    """Write per topic `<topic>.rss.xml`, `<topic>.atom.xml` and `<topic>.json`, then
    `index.opml`, `index.html` and its `pln.css` and `pln.js`; returns the paths (all of them, changed or not).

    `now` (default: the clock) decides which digest periods are over."""
    outputs = config.outputs
    feeds_dir = Path(outputs.feeds_dir)
    try:
        feeds_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlnError(f"feeds folder {feeds_dir}: cannot create it: {exc}") from None
    key = FeedbackKey.beside(store.path)
    now = now or datetime.now(UTC)
    paths, feeds = [], []
    latest = store.feed_entries_by_topic(
        {topic.id: topic.max_items or outputs.feed_items for topic in config.topics}
    )
    for topic in config.topics:
        entries = latest[topic.id]
        digests = topic_digests(store, topic, config.schedule.timezone, now)
        feed = TopicFeed(
            topic, entries, outputs.base_url, outputs.title, key=key, digests=digests, now=now
        )
        feeds.append(feed)
        paths.append(write_if_changed(feeds_dir / feed_filename(topic.id, "rss"), feed.rss()))
        paths.append(write_if_changed(feeds_dir / feed_filename(topic.id, "atom"), feed.atom()))
        paths.append(write_if_changed(feeds_dir / feed_filename(topic.id, "json"), feed.json()))
    opml = render_opml(config.topics, outputs.base_url, outputs.title)
    paths.append(write_if_changed(feeds_dir / "index.opml", opml))
    paths.append(write_if_changed(feeds_dir / "index.html", render_index(feeds, outputs.title)))
    paths.append(write_if_changed(feeds_dir / "pln.css", PAGE_CSS.encode()))
    paths.append(write_if_changed(feeds_dir / "pln.js", PAGE_JS.encode()))
    return paths


def feed_filename(topic_id: str, kind: str) -> str:
    return f"{topic_id}.json" if kind == "json" else f"{topic_id}.{kind}.xml"


def feed_url(base_url: str, topic_id: str, kind: str) -> str:
    return f"{base_url.rstrip('/')}/{feed_filename(topic_id, kind)}"


# -- feedback links -------------------------------------------------------------------------------


class FeedbackKey:
    """Signs feedback links, so only links we rendered can record labels.

    The secret is made once, on first use, in `<database>.key` (mode 0600).
    """

    def __init__(self, secret: bytes):
        self.secret = secret

    @classmethod
    def beside(cls, db_path: str | Path) -> FeedbackKey:
        path = Path(f"{db_path}.key")
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = _create_secret(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise PlnError(f"feedback key {path}: cannot read it: {exc}") from None
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) < 16:
            raise PlnError(
                f"feedback key {path} is damaged; delete it to make a new one "
                "(feedback links in feeds already read stop working)"
            )
        return cls(secret)

    def sign(self, item_id: str, topic: str, label: str, expires: int) -> str:
        message = "\x1f".join((item_id, topic, label, str(expires))).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def verify(self, item_id: str, topic: str, label: str, expires: str, sig: str) -> bool:
        """True when `sig` signs these values (whether the link has expired is separate)."""
        if not expires.isdigit() or len(expires) > 12:
            return False
        return hmac.compare_digest(self.sign(item_id, topic, label, int(expires)), sig)

    def query(self, item_id: str, topic: str, label: str, expires: datetime) -> str:
        """`item=…&topic=…&label=…&exp=…&sig=…`, the query of a feedback link that works until
        `expires`."""
        exp = int(expires.timestamp())
        sig = self.sign(item_id, topic, label, exp)
        return urlencode({"item": item_id, "topic": topic, "label": label, "exp": exp, "sig": sig})

    def url(self, base_url: str, item_id: str, topic: str, label: str, expires: datetime) -> str:
        query = self.query(item_id, topic, label, expires)
        return f"{base_url.rstrip('/')}/{FEEDBACK_PATH}?{query}"


def feedback_expiry(entry: FeedEntry) -> datetime:
    """When an entry's feedback links stop working: FEEDBACK_DAYS after the item was first seen
    or published (as shown: `shown_date`), whichever is later. Derived from the item, never the
    clock, so a feed's bytes (and its ETag) stay the same until its items change."""
    return max(entry.first_seen_at, shown_date(entry)) + timedelta(days=FEEDBACK_DAYS)


def _create_secret(path: Path) -> str:
    """Make the key file atomically: a complete file appears, or the one another process made
    first is used."""
    text = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(text + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.link(tmp, path)  # fails if it exists: never replaces a key in use
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise PlnError(f"feedback key {path}: cannot create it: {exc}") from None
    return text


# -- digests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    """The top items of one finished day or week of a topic."""

    topic: TopicConfig
    period: str  # "day" or "week"
    start: datetime  # local midnight that began the period
    entries: list[FeedEntry]

    @property
    def end(self) -> datetime:
        days = 1 if self.period == "day" else 7
        return (self.start + timedelta(days=days)).astimezone(UTC)  # wall-clock midnight

    @property
    def key(self) -> str:
        if self.period == "day":
            return f"{self.start:%Y-%m-%d}"
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def title(self) -> str:
        if self.period == "day":
            return f"Daily digest: {self.topic.title}, {self.start:%a %-d %b %Y}"
        return f"Weekly digest: {self.topic.title}, week of {self.start:%-d %b %Y}"

    def html(self) -> str:
        when = (
            f"{self.start:%A %-d %B %Y}"
            if self.period == "day"
            else f"the week of {self.start:%-d %B %Y}"
        )
        items = []
        for entry in self.entries:
            title = _escape(entry_title(entry))
            link = entry_link(entry)
            head = f'<a href="{_escape_attr(link)}">{title}</a>' if link else title
            author = plain_name(entry.item.author)
            by = f" by {_escape(author)}" if author else ""
            shared = f", shared by {people(entry.people)}" if entry.people > 1 else ""
            why = f"Why: {_escape(entry.reason)} (score {entry.score:.2f}{shared})"
            items.append(f"<li>{head}{by}<br />{why}</li>")
        return f"<p>{_top(len(self.entries))} of {when}:</p><ol>{''.join(items)}</ol>"


def _top(n: int) -> str:
    """'The top item', or 'The top 3 items'."""
    return "The top item" if n == 1 else f"The top {n} items"


def topic_digests(store: Store, topic: TopicConfig, timezone: str, now: datetime) -> list[Digest]:
    """The topic's digests (none unless its config says `digest: daily|weekly`)."""
    if not topic.digest:
        return []
    period = "day" if topic.digest == "daily" else "week"
    found = store.digest_entries(
        topic.id, period, timezone, now, periods=DIGEST_PERIODS, per_period=DIGEST_ITEMS
    )
    return [Digest(topic, period, start, entries) for start, entries in found]


# -- topic feeds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedRow:
    """One item of a rendered feed: a curated item or a digest."""

    guid: str
    urn: str  # the Atom id
    title: str
    link: str
    published: datetime
    updated: datetime
    html: str
    sort_at: datetime
    author: str = ""
    tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # JSON Feed "_pln" extension


class TopicFeed:
    """One topic's entries (and digests), rendered as RSS, Atom or JSON Feed."""

    def __init__(
        self,
        topic: TopicConfig,
        entries: list[FeedEntry],
        base_url: str,
        site: str,
        *,
        key: FeedbackKey | None = None,
        digests: list[Digest] | tuple[Digest, ...] = (),
        now: datetime | None = None,
    ):
        """`now` (default: the clock) bounds the feed's own date (`updated`)."""
        self.topic, self.entries, self.base_url, self.site = topic, entries, base_url, site
        self.key = key
        self.title = f"{site}: {topic.title}"
        self.description = topic.description or f"Items about {topic.title}, curated by {site}."
        rows = [self._entry_row(e) for e in entries] + [self._digest_row(d) for d in digests]
        self.rows = sorted(rows, key=lambda r: r.sort_at, reverse=True)  # stable: ties keep order
        latest = max((r.updated for r in self.rows), default=EPOCH)
        self.updated = min(latest, now or datetime.now(UTC))  # an item within CLOCK_SKEW ahead

    def feedback_links(self, entry: FeedEntry, *, relative: bool = False) -> str:
        """The "more like this / less like this" paragraph of an entry ('' without a key).
        Feeds need absolute links; the index page uses relative ones."""
        if self.key is None:
            return ""
        item_id, topic, expires = entry.item.id, self.topic.id, feedback_expiry(entry)
        if relative:
            up, down = (
                f"{FEEDBACK_PATH}?{self.key.query(item_id, topic, x, expires)}"
                for x in ("up", "down")
            )
        else:
            up, down = (
                self.key.url(self.base_url, item_id, topic, x, expires) for x in ("up", "down")
            )
        # nofollow: crawlers and link previewers stay away (the page they reach records
        # nothing anyway: only its POST button does).
        return (
            f'<p class="feedback">Feedback: <a rel="nofollow" href="{_escape_attr(up)}">'
            f'More like this</a> · <a rel="nofollow" href="{_escape_attr(down)}">'
            "Less like this</a></p>"
        )

    def _entry_row(self, entry: FeedEntry) -> FeedRow:
        item = entry.item
        return FeedRow(
            guid=entry_guid(self.topic.id, item.id),
            urn=f"urn:pln:topic:{self.topic.id}:item:{item.id}",
            title=entry_title(entry),
            link=entry_link(entry),
            published=shown_date(entry),
            updated=shown_date(entry),
            html=entry_html(entry) + self.feedback_links(entry),
            sort_at=entry.sort_at,
            author=plain_name(item.author),
            tags=item.hashtags,
            extra={
                "topic": entry.topic,
                "score": entry.score,
                "reason": entry.reason,
                "kind": item.kind,
                "platform": item.platform,
                "source": item.source,
                **_story_extra(entry),
            },
        )

    def _digest_row(self, digest: Digest) -> FeedRow:
        guid = f"digest:{self.topic.id}:{digest.key}"
        return FeedRow(
            guid=guid,
            urn=f"urn:pln:{guid}",
            title=digest.title,
            link=f"{self.base_url}/#{self.topic.id}",
            published=digest.end,
            updated=digest.end,
            html=digest.html(),
            sort_at=digest.end,
            extra={
                "topic": self.topic.id,
                "digest": self.topic.digest,
                "period_start": digest.start.isoformat(),
                "items": [e.item.id for e in digest.entries],
            },
        )

    def rss(self) -> bytes:
        rss = ET.Element("rss", {"version": "2.0"})
        channel = _sub(rss, "channel")
        _sub(channel, "title", self.title)
        _sub(channel, "link", self.base_url + "/")
        _sub(channel, "description", self.description)
        _sub(
            channel,
            f"{{{ATOM_NS}}}link",
            href=feed_url(self.base_url, self.topic.id, "rss"),
            rel="self",
            type="application/rss+xml",
        )
        _sub(channel, "lastBuildDate", format_datetime(self.updated, usegmt=True))
        _sub(channel, "generator", GENERATOR)
        for row in self.rows:
            node = _sub(channel, "item")
            _sub(node, "title", row.title)
            if row.link:
                _sub(node, "link", row.link)
            _sub(node, "guid", row.guid, isPermaLink="false")
            _sub(node, "pubDate", format_datetime(row.published, usegmt=True))
            if row.author:
                _sub(node, f"{{{DC_NS}}}creator", row.author)
            for tag in row.tags:
                _sub(node, "category", tag)
            _sub(node, "description", row.html)
        return _serialize(rss)

    def atom(self) -> bytes:
        # Plain tag names plus an xmlns attribute give the usual prefix-free Atom document.
        feed = ET.Element("feed", xmlns=ATOM_NS)
        _sub(feed, "id", f"urn:pln:topic:{self.topic.id}")
        _sub(feed, "title", self.title)
        _sub(feed, "subtitle", self.description)
        _sub(feed, "updated", _rfc3339(self.updated))
        _sub(
            feed,
            "link",
            href=feed_url(self.base_url, self.topic.id, "atom"),
            rel="self",
            type="application/atom+xml",
        )
        _sub(feed, "link", href=self.base_url + "/", rel="alternate", type="text/html")
        # Atom wants an author for every entry; the feed-level one covers those without.
        _sub(_sub(feed, "author"), "name", self.site)
        _sub(feed, "generator", GENERATOR)
        for row in self.rows:
            node = _sub(feed, "entry")
            _sub(node, "id", row.urn)
            _sub(node, "title", row.title)
            _sub(node, "updated", _rfc3339(row.updated))
            _sub(node, "published", _rfc3339(row.published))
            if row.link:
                _sub(node, "link", href=row.link, rel="alternate")
            if row.author:
                _sub(_sub(node, "author"), "name", row.author)
            for tag in row.tags:
                _sub(node, "category", term=tag)
            _sub(node, "content", row.html, type="html")
        return _serialize(feed)

    def json(self) -> bytes:
        """JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
        items = []
        for row in self.rows:
            item: dict[str, Any] = {"id": row.guid}
            if row.link:
                item["url"] = row.link
            item["title"] = xml_text(row.title)
            item["content_html"] = row.html
            item["date_published"] = _rfc3339(row.published)
            item["date_modified"] = _rfc3339(row.updated)
            if row.author:
                item["authors"] = [{"name": xml_text(row.author)}]
            if row.tags:
                item["tags"] = [xml_text(t) for t in row.tags]
            item["_pln"] = row.extra
            items.append(item)
        feed = {
            "version": JSON_FEED_VERSION,
            "title": xml_text(self.title),
            "home_page_url": self.base_url + "/",
            "feed_url": feed_url(self.base_url, self.topic.id, "json"),
            "description": xml_text(self.description),
            "authors": [{"name": xml_text(self.site)}],
            "items": items,
        }
        return json.dumps(feed, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def entry_guid(topic_id: str, item_id: str) -> str:
    """The RSS guid and JSON Feed id of an item in one topic's feed. It names the topic: an item
    kept by two topics is two entries, and readers that de-duplicate by guid across feeds (e.g.
    newsboat) must show both, each with its own topic's feedback links."""
    return f"{topic_id}:{item_id}"


def entry_title(entry: FeedEntry) -> str:
    return item_title(entry.item)


def _story_extra(entry: FeedEntry) -> dict[str, Any]:
    """The JSON Feed `_pln.story` of an entry that stands for a story of several items."""
    if not entry.story_id:
        return {}
    story = {"id": entry.story_id, "items": entry.story_items, "people": entry.people}
    if entry.sharers:
        story["shared_by"] = list(entry.sharers)
    return {"story": story}


def entry_link(entry: FeedEntry) -> str:
    item = entry.item
    return safe_url(item.url or item.canonical_url)


def entry_html(entry: FeedEntry) -> str:
    """The item's body (sanitized), who took part in a chat thread, who in the PLN shared the
    story, and why it was kept."""
    item = entry.item
    body = sanitize_html(item.html, base_url=item.url) if item.html else text_to_html(item.text)
    parts = [body]
    if item.kind == "chat_thread" and item.participants:
        names = ", ".join(f"@{p.lstrip('@')}" for p in item.participants)
        parts.append(f"<p>Participants: {_escape(names)}</p>")
    if entry.people:
        parts.append(f'<p class="shared">{_escape(shared_by(entry))}</p>')
    parts.append(f"<p>Why: {_escape(entry.reason)} (score {entry.score:.2f})</p>")
    return "".join(p for p in parts if p)


# -- indexes --------------------------------------------------------------------------------------


def render_opml(topics: tuple[TopicConfig, ...], base_url: str, site: str) -> bytes:
    opml = ET.Element("opml", {"version": "2.0"})
    head = _sub(opml, "head")
    _sub(head, "title", f"{site} topic feeds")
    body = _sub(opml, "body")
    for topic in topics:
        _sub(
            body,
            "outline",
            type="rss",
            text=topic.title,
            title=topic.title,
            xmlUrl=feed_url(base_url, topic.id, "rss"),
            htmlUrl=base_url + "/",
            description=topic.description,
        )
    return _serialize(opml)


FEED_LABELS = {"rss": ("RSS", "application/rss+xml"), "atom": ("Atom", "application/atom+xml")}
FEED_LABELS["json"] = ("JSON Feed", "application/feed+json")


def render_index(feeds: list[TopicFeed], site: str) -> bytes:
    """The HTML page `pln serve` shows at the feeds' address: every topic with its feed address
    (relative links, so they work whatever host name the page was reached by), its latest items
    and a link to its older ones."""
    head_links = "".join(
        f'<link rel="alternate" type="{mime}" title="{_escape_attr(f.title)} ({label})" '
        f'href="{_escape_attr(feed_filename(f.topic.id, kind))}">'
        for f in feeds
        for kind, (label, mime) in FEED_LABELS.items()
    )
    nav = " · ".join(
        f'<a href="#{_escape_attr(f.topic.id)}">{_escape(f.topic.title)}</a>' for f in feeds
    )
    sections = "".join(_index_section(f) for f in feeds)
    updated = max((f.updated for f in feeds), default=EPOCH)
    changed = f"last change {updated:%-d %b %Y %H:%M} UTC" if updated > EPOCH else "no items yet"
    body = (
        f'<p class="meta">{len(feeds)} topic feeds: {nav}. All of them at once: '
        '<a class="subscribe" href="index.opml" type="text/x-opml">the OPML file</a> '
        "(import it in your feed reader).</p>\n"
        f"{sections}<footer><p>{GENERATOR}, {changed}.</p></footer>"
    )
    return page_html(site, site, body, head=head_links)


def index_order(entries: list[FeedEntry]) -> list[FeedEntry]:
    """Newest day first (UTC); within a day, by rank: the story shared by more people first."""
    return sorted(entries, key=lambda e: (e.sort_at.date(), e.rank, e.sort_at), reverse=True)


def topic_page_href(topic_id: str) -> str:
    """The relative address of a topic's page, with its older items (`pln serve` builds it)."""
    return f"topic/{quote(topic_id, safe='')}"


def _index_section(feed: TopicFeed) -> str:
    topic = feed.topic
    subscribe = subscribe_box(topic.id, topic.title, feed_url(feed.base_url, topic.id, "rss"))
    others = " · ".join(
        f'<a class="subscribe" type="{mime}" href="{_escape_attr(feed_filename(topic.id, kind))}">'
        f"{label}</a>"
        for kind, (label, mime) in FEED_LABELS.items()
    )
    items = [
        item_card(entry, feedback=feed.feedback_links(entry, relative=True))
        for entry in index_order(feed.entries[:INDEX_ITEMS])
    ]
    listing = f'<ol class="items">{"".join(items)}</ol>' if items else "<p>No items yet.</p>"
    more = (
        f'<p><a href="{_escape_attr(topic_page_href(topic.id))}">All items of '
        f"{_escape(topic.title)}, older ones too</a></p>"
    )
    return (
        f'<section id="{_escape_attr(topic.id)}"><h2>{_escape(topic.title)}</h2>'
        f"<p>{_escape(feed.description)}</p>{subscribe}"
        f'<p class="meta">Feeds: {others}</p>{listing}{more}</section>\n'
    )


# -- files and helpers ----------------------------------------------------------------------------


def write_if_changed(path: Path, data: bytes) -> Path:
    """Atomically replace `path` with data (temp file + rename), unless it already holds it.

    A replacement's mtime is always a later whole second than the file it replaces: HTTP dates
    have one-second resolution, and clients such as libcurl drop a 200 response whose
    Last-Modified is not newer than their If-Modified-Since.
    """
    try:
        old = path.read_bytes()
        if old == data:
            return path
        old_second = int(path.stat().st_mtime)
    except FileNotFoundError:
        old_second = None
    except OSError as exc:
        raise PlnError(f"feed {path}: cannot read it: {exc}") from None
    try:
        write_atomic(path, data, min_mtime=0 if old_second is None else old_second + 1)
    except OSError as exc:
        raise PlnError(f"feed {path}: cannot write it: {exc}") from None
    return path


def _sub(parent: ET.Element, tag: str, text: str | None = None, /, **attrs: str) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        node.text = xml_text(text)
    return node


def _serialize(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _escape(text: str) -> str:
    return html.escape(xml_text(text), quote=False)


def _escape_attr(text: str) -> str:
    return html.escape(xml_text(text), quote=True)


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
