"""Turn a feed reader's OPML export into `rss` source entries for the config.

`read_opml(path)` returns one dict per feed: {"name": slug, "type": "rss", "url": xmlUrl,
"title": ...}, plus "category" (folder path like "Learning science/Memory", or the outline's own
`category` attribute) when there is one. Names are unique slugs (also unique against `taken`).
Folders may nest to any depth; a feed listed twice is kept once. Documents with a DOCTYPE or
ENTITY declaration are refused before parsing, so entity tricks never reach the XML parser.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pln.errors import ConfigError

MAX_OPML_BYTES = 10 * 1024 * 1024
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)


def read_opml(path: str | Path, *, taken: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Source entries for every feed outline in the OPML file at `path`."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_OPML_BYTES:
            raise ConfigError(str(path), "", f"OPML file larger than {MAX_OPML_BYTES} bytes")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "", "OPML file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read OPML file: {exc.strerror or exc}") from None
    return parse_opml(data, str(path), taken=taken)


def parse_opml(data: bytes, file: str, *, taken: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Like `read_opml` for bytes already read; `file` names the document in errors."""
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
    names = set(taken)
    seen_urls: set[str] = set()
    entries = []
    for outline, folders in _feed_outlines(body, ()):
        entry = _entry(outline, folders, file, names)
        if entry["url"] not in seen_urls:
            seen_urls.add(entry["url"])
            names.add(entry["name"])
            entries.append(entry)
    return entries


def _feed_outlines(parent: ET.Element, folders: tuple[str, ...]):
    """(outline, folder titles) for every outline with an xmlUrl, depth first, in order."""
    for outline in parent:
        if _local(outline.tag) != "outline":
            continue
        attrs = _attributes(outline)
        if attrs.get("xmlurl", "").strip():
            yield outline, folders
        else:
            title = (attrs.get("title") or attrs.get("text") or "").strip()
            yield from _feed_outlines(outline, (*folders, title) if title else folders)


def _entry(outline: ET.Element, folders: tuple[str, ...], file: str, names: set[str]) -> dict:
    attrs = _attributes(outline)
    url = attrs["xmlurl"].strip()
    if url.lower().startswith("feed:"):  # feed://host/path and feed:https://host/path
        url = url[5:].lstrip("/") if url[5:].startswith("http") else "http:" + url[5:]
    parts = urlsplit(url)
    title = (attrs.get("title") or attrs.get("text") or "").strip()
    if parts.scheme not in ("http", "https") or not parts.hostname:
        label = f"outline {title!r}" if title else "an outline"
        raise ConfigError(file, "", f"{label} has xmlUrl {url!r}, which is not an http(s) URL")
    entry: dict[str, Any] = {
        "name": _unique(_slug(title) or _slug(parts.hostname), names),
        "type": "rss",
        "url": url,
        "title": title or parts.hostname,
    }
    # OPML 2.0's category attribute is a comma-separated list of "/"-paths.
    listed = [c.strip().strip("/") for c in attrs.get("category", "").split(",")]
    category = "/".join(folders) or ", ".join(c for c in listed if c)
    if category:
        entry["category"] = category
    return entry


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
