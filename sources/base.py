"""The source contract: poll with a cursor, never sleep.

A source turns one config entry into Items. `fetch(cursor)` reads whatever is new since the
cursor and returns the items, the records it could not parse (dead letters) and the next cursor.
Scheduling belongs to the runner, so the same class serves a batch run and a streaming poll.

A source that cannot be read at all raises `SourceError` with a one-line reason; a single bad
record becomes a `DeadLetter` and the rest of the source still counts.
Sources are plain Python (no Beam) and must be picklable: no open handles in `__init__`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
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

    def error(self, message: str, **kw: Any) -> SourceError:
        return SourceError(self.name, message, **kw)

    def dead_letter(self, ref: str, reason: str, raw: Any = "") -> DeadLetter:
        return DeadLetter(source=self.name, ref=ref, reason=reason, raw=_clip(raw))


def _clip(raw: Any, limit: int = 20_000) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= limit else text[:limit] + "…"
