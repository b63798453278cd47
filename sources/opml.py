"""Turn a feed reader's OPML export into `rss` source entries for the config.

`read_opml(path)` returns one dict per feed: {"name": slug, "type": "rss", "url": xmlUrl,
"title": ...}, plus "category" (folder path like "Learning science/Memory", or the outline's own
`category` attribute) when there is one. Names are unique slugs (also unique against `taken`).
Folders may nest to any depth. `read_opml_feeds` also says which outlines it left out and why
(`Skipped`): an xmlUrl that is not http(s), no xmlUrl, a feed listed earlier in the file, or one
already subscribed; only a file with no usable feed at all is an error, as in feed readers.
Documents with a DOCTYPE or ENTITY declaration are refused before parsing, so entity tricks never
reach the XML parser.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pln.errors import ConfigError
from pln.progress import counted

MAX_OPML_BYTES = 10 * 1024 * 1024
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)


# Why an outline was left out (Skipped.reason).
NOT_HTTP = "not http(s)"
NO_URL = "no xmlUrl"
DUPLICATE = "listed twice"
SUBSCRIBED = "subscribed"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An outline left out: `reason` is one of the constants above, `title` its title (may be
    empty), `url` its xmlUrl as written, `source` the subscribed source it matches."""

    reason: str
    title: str
    url: str = ""
    source: str = ""

    def describe(self) -> str:
        """Why, in words: "outline 'X' has no xmlUrl" and the like."""
        label = f"outline {self.title!r}" if self.title else "an untitled outline"
        return {
            NOT_HTTP: f"{label} has xmlUrl {self.url!r}, which is not an http(s) URL",
            NO_URL: f"{label} has no xmlUrl",
            DUPLICATE: f"{label} has the xmlUrl of an outline before it: {self.url}",
            SUBSCRIBED: f"{label} is already subscribed as source {self.source!r}",
        }[self.reason]


@dataclass
class OpmlFeeds:
    """The source entries an OPML file adds, and the outlines left out."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def read_opml(path: str | Path, *, taken: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Source entries for every usable feed outline in the OPML file at `path`."""
    return read_opml_feeds(path, taken=taken).entries


def read_opml_feeds(
    path: str | Path, *, taken: Iterable[str] = (), subscribed: Mapping[str, str] | None = None
) -> OpmlFeeds:
    """The feeds of the OPML file at `path` that no source in `subscribed` (url -> name) has,
    and the outlines left out. ConfigError when the file has no usable feed."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_OPML_BYTES:
            raise ConfigError(str(path), "", f"OPML file larger than {MAX_OPML_BYTES} bytes")
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(str(path), "", "OPML file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "", "is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read OPML file: {exc.strerror or exc}") from None
    return parse_opml(data, str(path), taken=taken, subscribed=subscribed)


def parse_opml(
    data: bytes,
    file: str,
    *,
    taken: Iterable[str] = (),
    subscribed: Mapping[str, str] | None = None,
) -> OpmlFeeds:
    """Like `read_opml_feeds` for bytes already read; `file` names the document in errors."""
    feeds = OpmlFeeds()
    names, seen = set(taken), set()
    for outline, folders in _leaf_outlines(_body(data, file), ()):
        found = _feed(outline, folders, names, seen, subscribed or {})
        if isinstance(found, Skipped):
            feeds.skipped.append(found)
        else:
            feeds.entries.append(found)
    if not feeds.entries and not any(s.reason == SUBSCRIBED for s in feeds.skipped):
        raise _nothing_usable(file, feeds.skipped)
    return feeds


def _body(data: bytes, file: str) -> ET.Element:
    """The <body> of a well-formed OPML document without declarations."""
    if _DECLARATION.search(data):
        raise ConfigError(file, "", "not accepted: OPML with a DOCTYPE or ENTITY declaration")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(file, "", f"invalid OPML: {exc}") from None
    if _local(root.tag) != "opml":
        raise ConfigError(file, "", f"invalid OPML: root element is <{_local(root.tag)}>")
    body = next((child for child in root if _local(child.tag) == "body"), None)
    if body is None:
        raise ConfigError(file, "", "invalid OPML: no <body> element")
    return body


def _nothing_usable(file: str, skipped: list[Skipped]) -> ConfigError:
    if not skipped:
        return ConfigError(file, "", "no feed to import: the OPML lists no outline")
    first = skipped[0].describe()
    if len(skipped) > 1:
        first = f"{counted(len(skipped), 'outline')}, none with an http(s) xmlUrl; first: {first}"
    return ConfigError(file, "", f"no feed to import: {first}")


def _leaf_outlines(parent: ET.Element, folders: tuple[str, ...]):
    """(outline, folder titles) for every outline that has an xmlUrl or no outline inside it,
    depth first, in order; the others are folders."""
    for outline in parent:
        if _local(outline.tag) != "outline":
            continue
        inner = [child for child in outline if _local(child.tag) == "outline"]
        if _attributes(outline).get("xmlurl", "").strip() or not inner:
            yield outline, folders
        else:
            title = _title(_attributes(outline))
            yield from _leaf_outlines(outline, (*folders, title) if title else folders)


def _feed(
    outline: ET.Element,
    folders: tuple[str, ...],
    names: set[str],
    seen: set[str],
    subscribed: Mapping[str, str],
) -> dict[str, Any] | Skipped:
    """The source entry of a feed outline (its name and URL then taken), or why it is left out."""
    attrs = _attributes(outline)
    title, written = _title(attrs), attrs.get("xmlurl", "").strip()
    if not written:
        return Skipped(NO_URL, title)
    url = _http_url(written)
    if url is None:
        return Skipped(NOT_HTTP, title, written)
    if url in subscribed:
        return Skipped(SUBSCRIBED, title, url, subscribed[url])
    if url in seen:
        return Skipped(DUPLICATE, title, url)
    entry = _entry(attrs, folders, url, names)
    seen.add(url)
    names.add(entry["name"])
    return entry


def _http_url(url: str) -> str | None:
    """The http(s) URL an xmlUrl stands for (feed:// and feed:https:// too), else None."""
    if url.lower().startswith("feed:"):  # feed://host/path and feed:https://host/path
        url = url[5:].lstrip("/") if url[5:].startswith("http") else "http:" + url[5:]
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 address
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def _entry(attrs: dict[str, str], folders: tuple[str, ...], url: str, names: set[str]) -> dict:
    title, host = _title(attrs), urlsplit(url).hostname or ""
    entry: dict[str, Any] = {
        "name": _unique(_slug(title) or _slug(host), names),
        "type": "rss",
        "url": url,
        "title": title or host,
    }
    # OPML 2.0's category attribute is a comma-separated list of "/"-paths.
    listed = [c.strip().strip("/") for c in attrs.get("category", "").split(",")]
    category = "/".join(folders) or ", ".join(c for c in listed if c)
    if category:
        entry["category"] = category
    return entry


def _title(attrs: dict[str, str]) -> str:
    return (attrs.get("title") or attrs.get("text") or "").strip()


def _attributes(element: ET.Element) -> dict[str, str]:
    # Exporters disagree on case: xmlUrl, xmlurl, XMLURL.
    return {_local(k).lower(): v for k, v in element.attrib.items()}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    ascii_text = text.encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:60].rstrip("-")


def _unique(slug: str, names: set[str]) -> str:
    slug = slug or "feed"
    if slug not in names:
        return slug
    n = 2
    while f"{slug}-{n}" in names:
        n += 1
    return f"{slug}-{n}"
