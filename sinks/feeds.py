"""Topic feeds rendered from the store: RSS 2.0, Atom 1.0 and an OPML index.

Every element is built with xml.etree, so text is always escaped. A file is replaced atomically
and only when its bytes change: timestamps in a feed come from the items it holds, never from the
clock, so readers polling with If-Modified-Since / ETag see a change only when there is one.
"""

from __future__ import annotations

import html
import os
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from pln.config import Config, TopicConfig
from pln.errors import PlnError

from .sanitize import safe_url, sanitize_html, text_to_html, xml_text
from .store import FeedEntry, Store

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
ET.register_namespace("atom", ATOM_NS)
ET.register_namespace("dc", DC_NS)

GENERATOR = "PLN Curator"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "last changed" of a feed that never had an item
TITLE_CHARS = 90


def render_feeds(store: Store, config: Config) -> list[Path]:
    """Write `<topic>.rss.xml` and `<topic>.atom.xml` per topic and `index.opml`; returns the
    paths (all of them, whether or not their content changed)."""
    outputs = config.outputs
    feeds_dir = Path(outputs.feeds_dir)
    try:
        feeds_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PlnError(f"feeds folder {feeds_dir}: cannot create it: {exc}") from None
    paths = []
    for topic in config.topics:
        entries = store.feed_entries(topic.id, topic.max_items or outputs.feed_items)
        feed = TopicFeed(topic, entries, outputs.base_url, outputs.title)
        paths.append(write_if_changed(feeds_dir / f"{topic.id}.rss.xml", feed.rss()))
        paths.append(write_if_changed(feeds_dir / f"{topic.id}.atom.xml", feed.atom()))
    opml = render_opml(config.topics, outputs.base_url, outputs.title)
    paths.append(write_if_changed(feeds_dir / "index.opml", opml))
    return paths


def feed_url(base_url: str, topic_id: str, kind: str) -> str:
    return f"{base_url.rstrip('/')}/{topic_id}.{kind}.xml"


class TopicFeed:
    """One topic's entries, rendered as RSS or Atom."""

    def __init__(self, topic: TopicConfig, entries: list[FeedEntry], base_url: str, site: str):
        self.topic, self.entries, self.base_url, self.site = topic, entries, base_url, site
        self.title = f"{site}: {topic.title}"
        self.description = topic.description or f"Items about {topic.title}, curated by {site}."
        self.updated = max((e.updated_at for e in entries), default=EPOCH)

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
        for entry in self.entries:
            item = entry.item
            node = _sub(channel, "item")
            _sub(node, "title", entry_title(entry))
            if link := entry_link(entry):
                _sub(node, "link", link)
            _sub(node, "guid", item.id, isPermaLink="false")
            _sub(node, "pubDate", format_datetime(entry.published_at, usegmt=True))
            if item.author:
                _sub(node, f"{{{DC_NS}}}creator", item.author)
            for tag in item.hashtags:
                _sub(node, "category", tag)
            _sub(node, "description", entry_html(entry))
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
        for entry in self.entries:
            item = entry.item
            node = _sub(feed, "entry")
            _sub(node, "id", f"urn:pln:item:{item.id}")
            _sub(node, "title", entry_title(entry))
            _sub(node, "updated", _rfc3339(entry.updated_at))
            _sub(node, "published", _rfc3339(entry.published_at))
            if link := entry_link(entry):
                _sub(node, "link", href=link, rel="alternate")
            if item.author:
                _sub(_sub(node, "author"), "name", item.author)
            for tag in item.hashtags:
                _sub(node, "category", term=tag)
            _sub(node, "content", entry_html(entry), type="html")
        return _serialize(feed)


def entry_title(entry: FeedEntry) -> str:
    item = entry.item
    title = item.title.strip() or " ".join(item.text.split())
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1].rstrip() + "…"
    return title or f"{item.kind} by {item.author or 'unknown'}"


def entry_link(entry: FeedEntry) -> str:
    item = entry.item
    return safe_url(item.url or item.canonical_url)


def entry_html(entry: FeedEntry) -> str:
    """The item's body (sanitized), why it was kept, and who took part in a chat thread."""
    item = entry.item
    body = sanitize_html(item.html, base_url=item.url) if item.html else text_to_html(item.text)
    parts = [body]
    if item.kind == "chat_thread" and item.participants:
        names = ", ".join(f"@{p.lstrip('@')}" for p in item.participants)
        parts.append(f"<p>Participants: {_escape(names)}</p>")
    parts.append(f"<p>Why: {_escape(entry.reason)} (score {entry.score:.2f})</p>")
    return "".join(p for p in parts if p)


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


def write_if_changed(path: Path, data: bytes) -> Path:
    """Atomically replace `path` with data (temp file + rename), unless it already holds it."""
    try:
        if path.read_bytes() == data:
            return path
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise PlnError(f"feed {path}: cannot read it: {exc}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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


def _rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
