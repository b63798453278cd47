"""The files `pln run` renders into `outputs.feeds_dir`, ready to send: re-read only when they
change on disk and kept in plain and gzip form, with the validators of conditional GET."""

from __future__ import annotations

import gzip
import hashlib
import re
import stat
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CONTENT_TYPES = {  # only these are served: feeds_dir may sit next to other files
    ".rss.xml": "application/rss+xml; charset=utf-8",
    ".atom.xml": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
GZIP_MIN_BYTES = 256


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


def not_modified(rep: Representation, if_none_match: str | None, since: str | None) -> bool:
    """Whether a conditional GET with these headers may get a 304 for `rep`."""
    if if_none_match is not None:  # takes precedence over If-Modified-Since (RFC 9110)
        return any(tag == "*" or tag == rep.tag for tag in etag_values(if_none_match))
    if not since:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return rep.mtime <= when.timestamp()
