"""A fast parser for well-formed RSS 2.0, RSS 1.0 and Atom 1.0 feeds, on lxml.

`parse_fast(data)` returns the same entry dicts as feedparser (the keys `sources/rss.py`
reads: id, link, title(_detail), summary(_detail), content, published/updated(_parsed),
author, tags, language; a date it reads itself is an aware UTC datetime, not a struct_time)
or None when it has any doubt, and the caller then uses feedparser, the reference. Doubt is:
not well-formed XML, an unknown root or version, an internal DTD subset, a declared charset
that disagrees with the document, markup inside a text element, base64 content or XHTML
outside Atom, an extension element that feedparser maps onto one of those keys (media:title,
itunes:summary, ...), or a date that feedparser cannot read either.

It mirrors feedparser's rules where they decide the keys above: the first non-empty title
wins, a guid or Atom id is the link when no link came before it, the last alternate HTML
link wins, a second description becomes content, RSS text that looks like HTML is typed
HTML, xml:base and xml:lang are inherited. docs/feeds.md lists when it declines.

The XML parser never resolves entities, never loads a DTD or touches the network, and keeps
libxml2's default limits (nesting depth, text node size), so hostile documents stay cheap.

`entries_begun_before_cut` serves the other path: for a document that feedparser read because
it ends too early, whether it ends inside an entry (which sources/rss.py then leaves out).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from xml.parsers import expat
from xml.sax.saxutils import escape

from feedparser.datetimes import _parse_date as feedparser_date  # the reference for odd dates
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import make_safe_absolute_uri
from lxml import etree

from pln.clean import PLAIN_WEB_URL

ATOM = "http://www.w3.org/2005/Atom"
RSS1 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XML_BASE = f"{{{XML_NS}}}base"
XML_LANG = f"{{{XML_NS}}}lang"
RDF_ABOUT = f"{{{RDF}}}about"
XHTML_NS_TAG = "{http://www.w3.org/1999/xhtml}"
XHTML_DIV = XHTML_NS_TAG + "div"
XHTML_TYPE = "application/xhtml+xml"
XML_NS_TAG = f"{{{XML_NS}}}"
QUOTE = {'"': "&quot;"}

# Namespace URI -> the prefix feedparser files its elements under ("" = core RSS/Atom).
PREFIXES: dict[str, str] = {uri.lower(): p for uri, p in _FeedParserMixin.namespaces.items()}
KNOWN_PREFIXES = {p.lower() for p in PREFIXES.values() if p}
_looks_like_html = _FeedParserMixin.looks_like_html
_ENTITY_LIKE = re.compile("&([A-Za-z0-9_]+);")


def looks_like_html(text: str) -> bool:
    """feedparser's guess that RSS text is HTML (it needs a close tag or an entity)."""
    return ("<" in text or "&" in text) and _looks_like_html(text)


TITLE = {"title", "dc:title"}
LINK = {"link"}
GUID = {"guid", "id"}
DESCRIPTION = {"description", "dc:description"}
SUMMARY = {"summary"}
CONTENT = {"content"}
CONTENT_HTML = {"content:encoded"}
PUBLISHED = {"pubdate", "published", "issued", "dcterms:issued"}
UPDATED = {"updated", "modified", "lastbuilddate", "dc:date", "dcterms:modified"}
AUTHOR = {"author", "managingeditor", "dc:creator", "dc:author", "itunes:author"}
CATEGORY = {"category", "keywords", "dc:subject"}
LANGUAGE = {"language", "dc:language"}
ROLES = {
    name: role
    for role, names in (
        ("title", TITLE),
        ("link", LINK),
        ("guid", GUID),
        ("description", DESCRIPTION),
        ("summary", SUMMARY),
        ("content", CONTENT),
        ("content_html", CONTENT_HTML),
        ("published", PUBLISHED),
        ("updated", UPDATED),
        ("author", AUTHOR),
        ("category", CATEGORY),
        ("language", LANGUAGE),
    )
    for name in names
}
ENTRY = {"item", "entry"}
FEED_KEYS = LINK | GUID | AUTHOR | LANGUAGE
# Elements feedparser maps onto the keys above in ways not mirrored here.
DOUBTFUL = {
    "abstract",
    "body",
    "xhtml:body",
    "fullitem",
    "tags",
    "image",
    "textinput",
    "item",
    "entry",
    "channel",
    "feed",
    "rss",
    "info",
    "itunes:summary",
    "itunes:keywords",
    "itunes:category",
    "media:title",
    "media:description",
    "media:keywords",
    "media:category",
    "media:group",
}
XML_ERR_RESOURCE_LIMIT = 114  # libxml2's code for its depth and size limits
MAX_DEPTH = 256  # libxml2's nesting limit without XML_PARSE_HUGE
HTML_TYPES = {"text/html", "application/xhtml+xml"}
LIMITS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,  # keep libxml2's depth (256) and text-node (10 MB) limits
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


class Refused(ValueError):
    """The document is hostile: no parser should read it."""


class Doubt(Exception):
    """The fast path is not sure it reads this feed as feedparser would.

    `kind` is the class of reason (docs/feeds.md lists them), `detail` the instance.
    """

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


@dataclass
class FastFeed:
    version: str  # "rss20", "rss10" or "atom10"
    feed: dict[str, Any] = field(default_factory=dict)  # link, author, language
    entries: list[dict[str, Any]] = field(default_factory=list)


def parse_fast(data: bytes, location: str = "", charset: str = "") -> FastFeed | None:
    """Parse a well-formed feed, or return None when feedparser should read it instead.

    Raises Refused for a document past libxml2's limits (nesting depth, node size).

    `location` is the URL the document came from (the base of relative URLs) and `charset`
    the charset of its HTTP Content-Type, if any.
    """
    try:
        root = etree.fromstring(data, etree.XMLParser(**LIMITS))
    except etree.XMLSyntaxError as exc:
        if exc.code == XML_ERR_RESOURCE_LIMIT:
            # feedparser would take seconds and hundreds of MB on these (6 s for 100,000
            # nested elements; 420 MB for a 15 MB text node)
            message = str(exc)
            if "depth" in message:
                raise Refused(f"elements nest deeper than {MAX_DEPTH} levels") from None
            if "amplification" in message:
                raise Refused("entities expand past libxml2's amplification limit") from None
            raise Refused("a text or markup node is larger than 10 MB") from None
        return None
    except ValueError:
        return None
    try:
        return Reader(root, location, charset).read()
    except Doubt:
        return None


class Reader:
    def __init__(self, root: etree._Element, location: str, charset: str):
        info = root.getroottree().docinfo
        if info.internalDTD is not None:
            raise Doubt("internal DTD subset")
        encoding = (info.encoding or "utf-8").lower()
        if charset and _codec(charset) != _codec(encoding):
            raise Doubt("HTTP charset disagrees with the document")
        self.root = root
        self.utf8 = _codec(encoding) == "utf-8"
        self.location = location
        self.atom = False

    def read(self) -> FastFeed:
        root, tag = self.root, self.root.tag
        base = _child_base(self.location, root)
        lang = _child_lang(None, root)
        if tag == f"{{{ATOM}}}feed":
            self.atom = True
            out = FastFeed("atom10")
            channel, items = root, _entries(root)
            parent = root
        elif tag == "rss":
            out = FastFeed("rss20")
            channels = [c for c in root if c.tag == "channel"]
            if len(channels) != 1 or any(_name(c) in ENTRY for c in root):
                raise Doubt("rss without exactly one channel")
            channel = channels[0]
            items = _entries(channel)
            parent = channel
        elif tag == f"{{{RDF}}}RDF":
            out = FastFeed("rss10")
            channels = [c for c in root if c.tag == f"{{{RSS1}}}channel"]
            if len(channels) != 1:
                raise Doubt("RDF without exactly one RSS 1.0 channel")
            channel = channels[0]
            items = _entries(root)
            parent = root
        else:
            raise Doubt("not RSS 2.0, RSS 1.0 or Atom 1.0", etree.QName(root).text)
        if lang:
            out.feed["language"] = lang
        scope = {root: (base, lang)}  # xml:base and xml:lang of each entry's parent
        if channel is not root:
            scope[channel] = (_child_base(base, channel), _child_lang(lang, channel))
        self._fill_feed(out.feed, channel, scope[channel][0])
        parent_base, parent_lang = scope[parent]
        for item in items:
            entry: dict[str, Any] = {}
            if item.attrib:
                if item.get(RDF_ABOUT):
                    entry["id"] = item.get(RDF_ABOUT)
                base, lang = _child_base(parent_base, item), _child_lang(parent_lang, item)
            else:  # neither an rdf:about nor an xml:base or xml:lang of its own
                base, lang = parent_base, parent_lang
            self._fill(entry, item, base, lang)
            out.entries.append(entry)
        return out

    def _fill_feed(self, ctx: dict[str, Any], channel: etree._Element, base: str) -> None:
        """Read the children of a channel/feed into `ctx`, in order (FEED_KEYS only)."""
        for el in channel:
            if not isinstance(el.tag, str):
                raise Doubt("entity reference")
            name = _name(el)
            if name in FEED_KEYS:
                self._feed_key(ctx, el, name, base)

    def _fill(
        self, ctx: dict[str, Any], parent: etree._Element, base: str, lang: str | None
    ) -> None:
        """Read the children of an item/entry into `ctx`, in order (`base` and `lang`: its
        xml:base and xml:lang, which an element's own replace where they count)."""
        titled = False
        has_content = False
        for el in parent:
            tag = el.tag
            if not isinstance(tag, str):
                raise Doubt("entity reference")
            role = _ROLE_BY_TAG.get(tag)
            if role is None:
                role = _role(el)
            if not role:
                continue
            if role == "published" or role == "updated":
                ctx[role] = value = self._text(el)
                ctx[_PARSED[role]] = _date(value)
            elif role == "link":
                self._link(ctx, el, base)
            elif role == "guid":
                self._guid(ctx, el, base)
            elif role == "author":
                self._author(ctx, el)
            elif role == "category":
                self._category(ctx, el)
            elif role == "language":
                ctx["language"] = self._text(el)
            elif role == "title":
                detail = self._text_construct(el, "text/plain", base, lang)
                if not titled:
                    titled = bool(detail["value"])
                    ctx["title"], ctx["title_detail"] = detail["value"], detail
            elif role == "description" or role == "summary":
                if "summary" in ctx and not has_content:  # a second one is content
                    has_content = True
                    detail = self._text_construct(el, "text/plain", base, lang)
                    ctx.setdefault("content", []).append(detail)
                else:
                    default = "text/html" if role == "description" else "text/plain"
                    detail = self._text_construct(el, default, base, lang)
                    ctx["summary"], ctx["summary_detail"] = detail["value"], detail
            else:  # content, content_html
                has_content = True
                default = "text/html" if role == "content_html" else "text/plain"
                if el.get("src"):
                    raise Doubt("out-of-line content (src)")
                detail = self._text_construct(el, default, base, lang)
                ctx.setdefault("content", []).append(detail)
                ctx.setdefault("summary", detail["value"])

    def _feed_key(self, ctx: dict[str, Any], el: etree._Element, name: str, base: str) -> None:
        """The keys read at both levels: link, id (a link until one comes), author, language.
        (`base`, here and below: the parent's xml:base, which the element's own replaces.)"""
        if name in LINK:
            self._link(ctx, el, base)
        elif name in GUID:
            self._guid(ctx, el, base)
        elif name in AUTHOR:
            self._author(ctx, el)
        elif name in LANGUAGE:
            ctx["language"] = self._text(el)

    def _guid(self, ctx: dict[str, Any], el: etree._Element, base: str) -> None:
        """A guid or Atom id: the id, and the link until one comes (unless not a permalink)."""
        permalink = True
        if el.attrib:
            base = _child_base(base, el)
            given = el.get("isPermaLink")
            permalink = (el.get("ispermalink", "true") if given is None else given) == "true"
        value = self._text(el)
        if value and permalink:
            value = _urljoin(base, value)
        ctx["id"] = value
        if permalink and "link" not in ctx:
            ctx["link"] = value

    def _text(self, el: etree._Element) -> str:
        """The text of a leaf element, as feedparser stores it (stripped, repaired)."""
        if len(el):
            raise Doubt("markup inside a text element", _name(el))
        text = (el.text or "").strip()
        return text if text.isascii() else self._repaired(text)

    def _repaired(self, text: str) -> str:
        if not text.isascii():
            if self.utf8:
                # feedparser repairs UTF-8 that was decoded as Latin-1
                with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                    text = text.encode("iso-8859-1").decode("utf-8")
            text = text.translate(_cp1252)
        return text

    def _text_construct(
        self, el: etree._Element, default: str, base: str, lang: str | None
    ) -> dict[str, Any]:
        if el.attrib:
            base, lang = _child_base(base, el), _child_lang(lang, el)
            kind = _content_type(el.get("type", default))
            if el.get("mode") == "base64" or (kind == XHTML_TYPE and not self.atom):
                raise Doubt("base64 content, or XHTML outside Atom")
            if not (kind.startswith("text/") or kind.endswith("xml")):
                raise Doubt("content of a non-text type", kind)
        else:
            kind = default  # "text/plain" or "text/html": what _content_type gives for it
        value = self._xhtml(el) if kind == XHTML_TYPE else self._text(el)
        if not self.atom and kind == "text/plain" and looks_like_html(value):
            kind = "text/html"
        return {
            "type": kind,
            "language": lang.replace("_", "-") if lang else lang,
            "base": base,
            "value": value,
        }

    def _xhtml(self, el: etree._Element) -> str:
        """Inline XHTML as feedparser writes it: one enclosing <div> dropped, tags lower-case,
        text escaped, every element closed by an end tag (`<br></br>`)."""
        children = list(el)
        outside = (el.text or "").strip() or any((c.tail or "").strip() for c in children)
        parts: list[str] = []
        if len(children) == 1 and children[0].tag == XHTML_DIV and not outside:
            _inner_xhtml(children[0], parts)
        else:
            _inner_xhtml(el, parts)
        return self._repaired("".join(parts).strip())

    def _link(self, ctx: dict[str, Any], el: etree._Element, base: str) -> None:
        if el.attrib:
            base = _child_base(base, el)
            href = el.get("url") or el.get("uri") or el.get("href")
            if href:
                rel = (el.get("rel") or "alternate").lower()
                kind = el.get("type") or ("application/atom+xml" if rel == "self" else "text/html")
                if rel == "alternate" and _content_type(kind.lower()) in HTML_TYPES:
                    ctx["link"] = _urljoin(base, href)
                return
        value = self._text(el)
        if value:
            value = _urljoin(base, value)
        if "&" in value:
            value = _ENTITY_LIKE.sub(r"&\g<1>", value.replace("&amp;", "&"))
        ctx["link"] = value

    def _author(self, ctx: dict[str, Any], el: etree._Element) -> None:
        if not len(el):
            ctx["author"] = self._text(el)
            return
        parts: dict[str, str] = {}
        for child in el:
            if not isinstance(child.tag, str):
                raise Doubt("entity reference")
            part = _name(child)
            if part in ("name", "email"):
                parts[part] = self._text(child)
            elif part in ("uri", "url", "homepage"):
                continue
            elif ":" not in part or part.split(":", 1)[0] in KNOWN_PREFIXES:
                raise Doubt("unknown element in an author", part)
            # else an extension feedparser files apart (Blogger's gd:image): no effect
        if (el.text or "").strip():
            raise Doubt("unknown element in an author", "text")
        name, email = parts.get("name"), parts.get("email")
        if name and email:
            ctx["author"] = f"{name} ({email})"
        elif name or email:
            ctx["author"] = name or email
        else:
            ctx["author"] = ""

    def _category(self, ctx: dict[str, Any], el: etree._Element) -> None:
        tags = ctx.setdefault("tags", [])
        scheme = el.get("scheme", el.get("domain"))
        _add_tag(tags, el.get("term"), scheme, el.get("label"))
        value = self._text(el)
        if not value:
            return
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            _add_tag(tags, value, None, None)


def _inner_xhtml(el: etree._Element, parts: list[str]) -> None:
    """Append the escaped text and the child elements of `el` to `parts`."""
    parts.append(escape(el.text or ""))
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or not tag.startswith(XHTML_NS_TAG):
            raise Doubt("non-XHTML element in XHTML content")
        if child.nsmap != el.nsmap:
            raise Doubt("namespace declared inside XHTML content")
        name = tag[len(XHTML_NS_TAG) :].lower()
        attrs = []
        for key, value in child.attrib.items():
            if key.startswith("{"):
                if not key.startswith(XML_NS_TAG):
                    raise Doubt("namespaced attribute in XHTML content")
                key = "xml:" + key[len(XML_NS_TAG) :]
            attrs.append(f' {key.lower()}="{escape(value, QUOTE)}"')
        parts.append(f"<{name}{''.join(attrs)}>")
        _inner_xhtml(child, parts)
        parts.append(f"</{name}>")
        parts.append(escape(child.tail or ""))


def _add_tag(tags: list[dict[str, Any]], term: Any, scheme: Any, label: Any) -> None:
    if not (term or scheme or label):
        return
    tag = {"term": term, "scheme": scheme, "label": label}
    if tag not in tags:
        tags.append(tag)


# By tag when the name does not depend on the prefix, else by (tag, prefix).
_NAMES: dict[str | tuple[str, str | None], str] = {}
_ROLE_BY_TAG: dict[str, str] = {}  # the roles of the tags in _NAMES
_PARSED = {"published": "published_parsed", "updated": "updated_parsed"}


def _entries(parent: etree._Element) -> list[etree._Element]:
    """The items or entries among the children of `parent`."""
    # _NAMES first: a call of _name for each of them costs as much as the rest of the scan
    return [c for c in parent if (_NAMES.get(c.tag) or _name(c)) in ENTRY]


def _role(el: etree._Element) -> str:
    """What an entry reads from an element: a value of ROLES, "" for nothing. Raises Doubt
    for one that feedparser maps in ways not mirrored."""
    name = _name(el)
    if name in DOUBTFUL:
        raise Doubt("element feedparser maps in ways not mirrored", name)
    role = ROLES.get(name, "")
    if el.tag in _NAMES:  # its name, so its role, does not depend on its prefix
        _ROLE_BY_TAG[el.tag] = role
    return role


def _name(el: etree._Element) -> str:
    """The element's name as feedparser files it: "title", "dc:creator", "content:encoded"."""
    name = _NAMES.get(el.tag)
    if name is None:
        name = _NAMES.get((el.tag, el.prefix))
    if name is None:
        qname = etree.QName(el)
        local = qname.localname.lower()
        uri = (qname.namespace or "").lower()
        if "backend.userland.com/rss" in uri:
            uri = "http://backend.userland.com/rss"
        known = uri in PREFIXES or not uri  # the prefix as written is not used
        prefix = PREFIXES.get(uri, el.prefix)
        name = f"{prefix.lower()}:{local}" if prefix else local
        if len(_NAMES) < 10_000:  # names come from documents: keep the cache bounded
            _NAMES[el.tag if known else (el.tag, el.prefix)] = name
    return name


_CONTENT_TYPES = {
    "text": "text/plain",
    "plain": "text/plain",
    "html": "text/html",
    "xhtml": "application/xhtml+xml",
}


def _content_type(kind: str) -> str:
    kind = kind.lower()
    return _CONTENT_TYPES.get(kind, kind)


def _child_base(base: str, el: etree._Element) -> str:
    given = el.get(XML_BASE) or el.get("base")
    if not given:
        return base
    if base:
        return make_safe_absolute_uri(base, given) or base
    return _urljoin("", given)


def _child_lang(lang: str | None, el: etree._Element) -> str | None:
    given = el.get(XML_LANG, el.get("lang"))
    if given is None:
        return lang
    return given or None


_SCHEME_SLASHES = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")


def _urljoin(base: str, uri: str) -> str:
    if ":///" in uri:
        uri = _SCHEME_SLASHES.sub(r"\1\3", uri)
    if not base or PLAIN_WEB_URL.match(uri):
        return uri  # an absolute URL urljoin would give back as it is
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


def _codec(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


# -- a document that stops too early ----------------------------------------------------------


def entries_begun_before_cut(data: bytes, encoding: str) -> tuple[int, bool] | None:
    """For a document that is well-formed up to where it stops too early (a feed cut off in
    transit): how many entries (RSS items, Atom entries) began, and whether the last one was
    still open at the end. None when it is whole, or has a fault before its end.

    `data` is what feedparser read, in `encoding`. Its strict parser (expat) runs once more:
    given the whole text, expat stops at a fault inside it, while a document that merely ends
    too early ("no element found", "unclosed token") fails only when told that nothing follows.
    """
    try:
        text = data.decode(encoding or "utf-8").removeprefix("\ufeff").encode("utf-8")
    except (LookupError, UnicodeError):
        return None
    parser = expat.ParserCreate("utf-8", " ")  # over the declared encoding: text is UTF-8
    open_entries: list[bool] = []  # per open element: whether it is an entry
    begun = 0

    def start(name: str, _attrs: Any) -> None:
        nonlocal begun
        entry = _is_entry(name)
        begun += entry
        open_entries.append(entry)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda _name: open_entries.pop()
    try:
        parser.Parse(text, False)
    except expat.ExpatError:
        return None  # a fault inside the document: the loose parser decides
    try:
        parser.Parse(b"", True)
    except expat.ExpatError:
        return begun, any(open_entries)
    return None


def _is_entry(name: str) -> bool:
    """Whether an expat name ("uri local" or "local") is an RSS item or an Atom entry."""
    uri, _, local = name.rpartition(" ")
    return local.lower() in ENTRY and PREFIXES.get(uri.lower()) == ""


# -- dates: the two common forms here, anything else through feedparser's own reader ---------

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# Groups: the day ("1 Nov 2026", "2026-11-01"), the clock ("08:30:00") and the zone.
_RFC822 = re.compile(
    r"(?:[A-Za-z]{3}, )?(\d{1,2} [A-Za-z]{3} \d{4}) (\d\d:\d\d:\d\d) (GMT|UTC|UT|Z|[+-]\d{4})$"
)
_W3C = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _date(value: str) -> datetime | time.struct_time | None:
    """The instant a date element gives: an aware UTC datetime for the two common forms (what
    sources/rss.py makes of the struct_time feedparser gives for them, without the round
    trip), feedparser's struct_time for any other form or out of datetime's range."""
    if not value:
        return None
    seconds = _fast_seconds(value)
    if seconds is not None:
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, ValueError, OSError):  # year 0 or 10000 once at UTC
            return time.gmtime(seconds)  # as feedparser gives it (sources/rss.py: no date)
    parsed = feedparser_date(value)
    if parsed is None:
        raise Doubt("date feedparser cannot read either", value[:40])
    return parsed


def _fast_seconds(value: str) -> int | None:
    """Seconds since the epoch of an RFC 822 or W3C date (None for any other form, or a
    month, day, hour, minute or second out of range)."""
    if m := _RFC822.match(value):
        day, clock, zone = m.groups()
        days = _rfc822_days(day)
    elif m := _W3C.match(value):
        day, clock, zone = m.groups()
        days = _w3c_days(day)
    else:
        return None
    hhmmss = int(clock.replace(":", ""))  # one int() for the three two-digit numbers
    hour, minute, second = hhmmss // 10000, hhmmss // 100 % 100, hhmmss % 100
    if days is None or hour >= 24 or minute >= 60 or second >= 61:
        return None
    # calendar.timegm's sum, with the days cached
    return days * 86400 + hour * 3600 + minute * 60 + second - _zone_offset(zone)


@functools.lru_cache(maxsize=1024)
def _rfc822_days(day: str) -> int | None:
    """Days from 1970-01-01 to an RFC 822 day ("1 Nov 2026"), None when it is none."""
    number, month, year = day.split(" ")
    return _days(int(year), _MONTHS.get(month.lower(), 0), int(number))


@functools.lru_cache(maxsize=1024)
def _w3c_days(day: str) -> int | None:
    """Days from 1970-01-01 to a W3C day ("2026-11-01"), None when it is none."""
    year, month, number = day.split("-")
    return _days(int(year), int(month), int(number))


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _days(year: int, month: int, day: int) -> int | None:
    """Days from 1970-01-01 to the day, None for a month or day out of range (the day only
    up to 31: as for calendar.timegm, 30 February is 2 March)."""
    if not (month and 1 <= day <= 31):
        return None
    try:
        return date(year, month, 1).toordinal() - _EPOCH_ORDINAL + day - 1
    except ValueError:  # year 0, month 13
        return None


@functools.lru_cache(maxsize=256)
def _zone_offset(zone: str) -> int:
    """Seconds east of UTC of a zone as the two date forms write it: "GMT", "Z", "+0530" or
    "-08:00" (the last two digits are the minutes)."""
    if zone in ("GMT", "UTC", "UT", "Z"):
        return 0
    seconds = int(zone[1:3]) * 3600 + int(zone[-2:]) * 60
    return -seconds if zone[0] == "-" else seconds
