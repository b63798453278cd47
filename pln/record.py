"""The records every family shares: Item, Decision, DeadLetter, SourceStatus.

This module imports nothing from the project but the core helper pln/clean.py, so sources,
filters, sinks and pipelines can all depend on it without depending on each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from pln.clean import bounded_text, clean_html, clean_url, plain_name, plain_title


def stable_id(*parts: str) -> str:
    """A short stable hex id of the given parts (order matters)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=10)
    return digest.hexdigest()


def make_item_id(platform: str, native_id: str) -> str:
    """Id of an item: the same post seen through two sources gets the same id."""
    return stable_id(platform, native_id)


def utc(dt: datetime | None) -> datetime | None:
    """Return dt as an aware UTC datetime (naive values are taken to be UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Item:
    """One normalized piece of content: a blog post, a microblog post or a chat thread.

    `id` is `make_item_id(platform, native_id)`, so re-reading a source upserts rather than
    duplicates. Datetimes are aware UTC. Sequences are tuples so the record stays hashable.
    """

    id: str
    source: str  # the config name of the source that produced it
    platform: str  # rss, twitter, mastodon, bluesky, chat, slack, discord, whatsapp, zoom, irc
    kind: str  # article, post, repost, quote, reply, chat_thread
    native_id: str
    author: str = ""
    title: str = ""
    text: str = ""  # plain text used for NLP
    html: str = ""  # the HTML body, if any, sanitized (the original is in `raw`)
    url: str = ""
    canonical_url: str = ""
    links: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()  # lower-case, without '#'
    mentions: tuple[str, ...] = ()  # lower-case, without '@'
    lang: str = ""
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    thread_id: str = ""
    reply_to: str = ""
    participants: tuple[str, ...] = ()  # chat threads: everyone who spoke
    entities: tuple[str, ...] = ()  # "LABEL:text", filled when an NER pipeline is configured
    # What the source gave for this record, for audits and re-parsing: the post's JSON, a chat
    # line, or for a feed entry a JSON summary of its parsed fields (feeds have no record format).
    raw: str = ""

    @classmethod
    def create(
        cls, *, source: str, platform: str, native_id: str, html_base: str | None = None, **kw: Any
    ) -> Item:
        """Build an item, deriving its id and normalizing datetimes and tags, and making what
        came from outside safe to store and publish (pln/clean.py): a plain-text title,
        one-line author and participant names without bidi controls, bounded text, sanitized
        and bounded HTML, percent-encoded http(s) links. The id is made of platform and
        native_id only: cleaning a name never changes it.

        Relative URLs in the HTML are resolved against `html_base` (default: the item's url)."""
        get = kw.get
        if title := get("title"):
            kw["title"] = plain_title(title)
        if author := get("author"):
            kw["author"] = plain_name(author)
        if text := get("text"):
            kw["text"] = bounded_text(text)
        if url := get("url"):
            kw["url"] = clean_url(url)
        if canonical_url := get("canonical_url"):
            kw["canonical_url"] = clean_url(canonical_url)
        if html := get("html"):
            base = get("url", "") if html_base is None else html_base
            kw["html"] = clean_html(html, base_url=base)
        if "links" in kw:
            kw["links"] = _unique(map(clean_url, kw["links"]) if kw["links"] else kw["links"])
        for key in ("published_at", "fetched_at"):
            if key in kw:
                kw[key] = utc(kw[key])
        for key in ("hashtags", "mentions"):
            if tags := get(key):
                kw[key] = tuple(dict.fromkeys(t.lower().lstrip("#@") for t in tags if t))
            elif key in kw:
                kw[key] = tuple(tags)  # () (None raises, as iterating it would)
        if "participants" in kw:
            names = kw["participants"]
            kw["participants"] = _unique(map(plain_name, names) if names else names)
        if "entities" in kw:
            kw["entities"] = _unique(kw["entities"])
        return cls(
            id=make_item_id(platform, native_id),
            source=source,
            platform=platform,
            native_id=native_id,
            **kw,
        )

    def replaced(self, **changes: Any) -> Item:
        """A copy with `changes` (fields by name), as `dataclasses.replace` but without
        running `__init__` again: several times faster, and the curator copies every item."""
        copy = object.__new__(Item)
        for name in _ITEM_FIELDS:
            _set(copy, name, getattr(self, name))
        for name, value in changes.items():
            if name not in _ITEM_FIELDS:
                raise TypeError(f"Item has no field {name!r}")
            _set(copy, name, value)
        return copy

    @property
    def nlp_text(self) -> str:
        """The text the NLP stage reads: title and body."""
        if self.title and not self.text.startswith(self.title):
            return f"{self.title}\n{self.text}" if self.text else self.title
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (datetimes as ISO 8601 strings, tuples as lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        kw = dict(data)
        for key in ("published_at", "fetched_at"):
            if kw.get(key):
                kw[key] = utc(datetime.fromisoformat(kw[key]))
        for key in ("links", "hashtags", "mentions", "participants", "entities"):
            if key in kw:
                kw[key] = tuple(kw[key] or ())
        return cls(**kw)


def _unique(values: Any) -> tuple:
    """The non-empty values, each once, in order."""
    return tuple(dict.fromkeys(x for x in values if x)) if values else tuple(values)


_ITEM_FIELDS = tuple(f.name for f in fields(Item))
_set = object.__setattr__  # Item is frozen


@dataclass(frozen=True, slots=True)
class Decision:
    """What one topic decided about one item, with a reason a person can read."""

    item_id: str
    topic: str
    score: float
    kept: bool
    reason: str
    topic_version: str = ""
    model_version: str = ""
    source: str = ""  # the source whose copy of the item was scored ("": the item's source)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be turned into an Item, kept with the reason."""

    source: str
    ref: str  # where it was: file:line, URL#entry, message id
    reason: str
    raw: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def id(self) -> str:
        return stable_id(self.source, self.ref, self.reason)


CURSOR_LASTING = "ids"  # the part of a source's cursor that outlives config edits and --full


def lasting(cursor: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a source keeps of its cursor when its config changes or a run reads it whole
    (`pln run --full`): how it names its items (`CURSOR_LASTING`; sources/rss.py), so that
    their ids stay. None when it keeps nothing."""
    if isinstance(cursor, dict) and isinstance(cursor.get(CURSOR_LASTING), dict):
        return {CURSOR_LASTING: cursor[CURSOR_LASTING]}
    return None


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """The outcome of one fetch of one source: its new cursor, counts and error."""

    source: str
    type: str
    ok: bool
    items: int = 0
    dead_letters: int = 0
    not_modified: bool = False
    error: str = ""
    cursor: dict[str, Any] | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    retry_after: float | None = None  # seconds the source asked us to wait (HTTP Retry-After)
    drops: dict[str, int] = field(default_factory=dict)  # records left out on purpose, by reason
    warnings: tuple[str, ...] = ()  # one line each: read, but something is off (no authors)

    def __post_init__(self) -> None:
        if not isinstance(self.warnings, tuple):  # a list, back from JSON
            object.__setattr__(self, "warnings", tuple(self.warnings))
