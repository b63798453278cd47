"""The source contract: poll with a cursor, never sleep.

A source turns one config entry into Items. `fetch(cursor)` reads whatever is new since the
cursor and returns the items, the records it could not parse (dead letters) and the next cursor.
Scheduling belongs to the runner, so the same class serves a batch run and a streaming poll.

A source that cannot be read at all raises `SourceError` with a one-line reason; a single bad
record becomes a `DeadLetter` and the rest of the source still counts.
Sources are plain Python (no Beam) and must be picklable: no open handles in `__init__`.
"""

from __future__ import annotations

import codecs
import os
import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pln.config import Options, SourceConfig
from pln.errors import SourceError
from pln.record import DeadLetter, Item

Cursor = dict[str, Any]


@dataclass
class FetchResult:
    """What one fetch read. Every record read ends up in exactly one of `items` (a chat thread
    holds many messages), `dead_letters` (could not be read) or `drops` (read, and left out on
    purpose: a join notice, one-word chatter), counted per reason."""

    items: list[Item] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    cursor: Cursor | None = None  # persisted and handed to the next fetch
    not_modified: bool = False  # nothing changed since the cursor (HTTP 304, same file)
    drops: dict[str, int] = field(default_factory=dict)  # reason -> records left out
    warnings: list[str] = field(default_factory=list)  # one line each, shown in the summary

    def drop(self, reason: str, count: int = 1) -> None:
        if count:
            self.drops[reason] = self.drops.get(reason, 0) + count

    def add(self, other: FetchResult) -> None:
        """Take in the items, dead letters, drops and warnings of another result."""
        self.items.extend(other.items)
        self.dead_letters.extend(other.dead_letters)
        for reason, count in other.drops.items():
            self.drop(reason, count)
        self.warnings.extend(w for w in other.warnings if w not in self.warnings)


class Source(ABC):
    """Base class of every source. Subclasses set `type` and read their options in `configure`."""

    type: ClassVar[str]

    def __init__(self, config: SourceConfig):
        self.config = config
        self.name = config.name
        opts = config.opts()
        self.configure(opts)
        opts.done()

    @abstractmethod
    def configure(self, opts: Options) -> None:
        """Read and validate type-specific options (raise via `opts`). No I/O here."""

    @abstractmethod
    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Read what is new since `cursor`. Raise SourceError when the source is unreadable."""

    @property
    def tells_unchanged(self) -> bool:
        """Whether `unchanged` can ever say True for this source (decided from its options)."""
        return False

    def unchanged(self, cursor: Cursor | None) -> bool:
        """True when a look at its files' size and mtime (no reading) shows that `fetch` would
        find nothing new since `cursor` and answer `not_modified`: a run then settles the source
        without starting the curating workers (pipelines/probe.py). False when it cannot tell
        this way, which is always safe: the source is read."""
        return False

    def error(self, message: str, **kw: Any) -> SourceError:
        return SourceError(self.name, message, **kw)

    def dead_letter(self, ref: str, reason: str, raw: Any = "") -> DeadLetter:
        return DeadLetter(source=self.name, ref=ref, reason=reason, raw=_clip(raw))

    def shown_path(self, path: Path | str) -> str:
        """A file as the user knows it, in refs and messages: relative to the config's folder
        when under it (`data/x/a.jsonl`, the same wherever the project folder moves), else
        absolute. Never part of an item id."""
        try:
            return str(Path(path).relative_to(self.config.base_dir))
        except ValueError:
            return str(path)

    def cannot_read(self, path: Path | str, exc: OSError) -> SourceError:
        """`cannot read data/x/a.jsonl: permission denied`, naming the file that failed (the
        OSError's, such as data/tweets.js of an archive folder, else `path`)."""
        reason = exc.strerror or str(exc) or type(exc).__name__
        if reason[1:2].islower():  # "Permission denied", not "I/O error"
            reason = reason[0].lower() + reason[1:]
        return self.error(f"cannot read {self.shown_path(exc.filename or path)}: {reason}")


def _clip(raw: Any, limit: int = 20_000) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= limit else text[:limit] + "…"


# -- reading local files -------------------------------------------------------------------------

_CHUNK = 1 << 20
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(shown: str, st: os.stat_result) -> str:
    """Why the file `shown` is not read (a folder, `/dev/zero`, a FIFO); empty for a regular
    file."""
    if stat.S_ISREG(st.st_mode):
        return ""
    kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
    return f"{shown} is {kind}, not a regular file"


def read_capped(path: Path, max_bytes: int) -> bytes:
    """At most `max_bytes + 1` bytes of `path`: more than `max_bytes` means it is too large,
    whatever its size said (a file still growing, /proc's files that say 0)."""
    parts, left = [], max_bytes + 1
    with path.open("rb") as file:
        want = min(os.fstat(file.fileno()).st_size + 1, left)  # the whole file at once
        while left > 0 and (chunk := file.read(want)):
            parts.append(chunk)
            left -= len(chunk)
            want = min(_CHUNK, left)
    return b"".join(parts) if len(parts) != 1 else parts[0]


# Longest first: UTF-32 LE's mark starts with UTF-16 LE's. These codecs drop the mark.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def bom_encoding(head: bytes) -> str:
    """`utf-16` or `utf-32` when `head` starts with that byte order mark, else empty."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), "")
