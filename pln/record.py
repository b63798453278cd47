"""The records every family shares: Item, Decision, DeadLetter, SourceStatus.

This module imports nothing from the project but the core helper pln/clean.py, so sources,
filters, sinks and pipelines can all depend on it without depending on each other.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Iterable
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
        cls,
        *,
        source: str,
        platform: str,
        kind: str,
        native_id: str,
        html_base: str | None = None,
        author: str = "",
        title: str = "",
        text: str = "",
        html: str = "",
        url: str = "",
        canonical_url: str = "",
        links: Iterable[str] = (),
        hashtags: Iterable[str] = (),
        mentions: Iterable[str] = (),
        lang: str = "",
        published_at: datetime | None = None,
        fetched_at: datetime | None = None,
        thread_id: str = "",
        reply_to: str = "",
        participants: Iterable[str] = (),
        entities: Iterable[str] = (),
        raw: str = "",
    ) -> Item:
        """Build an item, deriving its id and normalizing datetimes and tags, and making what
        came from outside safe to store and publish (pln/clean.py): a plain-text title,
        one-line author and participant names without bidi controls, bounded text, sanitized
        and bounded HTML, percent-encoded http(s) links. The id is made of platform and
        native_id only: cleaning a name never changes it.

        Relative URLs in the HTML are resolved against `html_base` (default: the item's url).
        The keywords are Item's fields but `id`, with its defaults (a default needs no cleaning)."""
        if title:
            title = plain_title(title)
        if author:
            author = plain_name(author)
        if text:
            text = bounded_text(text)
        if url:
            url = clean_url(url)
        if canonical_url:
            canonical_url = clean_url(canonical_url)
        if html:
            html = clean_html(html, base_url=url if html_base is None else html_base)
        # each value once, cleaned; empty, the tuple (None raises, as iterating it would)
        links = _unique(map(clean_url, links)) if links else tuple(links)
        hashtags = _tags(hashtags) if hashtags else tuple(hashtags)
        mentions = _tags(mentions) if mentions else tuple(mentions)
        if participants:
            participants = _unique(map(plain_name, participants))
        participants = tuple(participants)
        entities = _unique(entities) if entities else tuple(entities)
        item = _new_item if cls is Item else cls
        return item(
            make_item_id(platform, native_id),
            source,
            platform,
            kind,
            native_id,
            author,
            title,
            text,
            html,
            url,
            canonical_url,
            links,
            hashtags,
            mentions,
            lang,
            utc(published_at),
            utc(fetched_at),
            thread_id,
            reply_to,
            participants,
            entities,
            raw,
        )

    def replaced(self, **changes: Any) -> Item:
        """A copy with `changes` (fields by name), as `dataclasses.replace` but without
        running `__init__` again: several times faster, and the curator copies every item."""
        values = list(_item_values(self))
        for name, value in changes.items():
            at = _FIELD_AT.get(name)
            if at is None:
                raise TypeError(f"Item has no field {name!r}")
            values[at] = value
        return _new_item(*values)

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


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    """The non-empty values, each once, in order."""
    return tuple(dict.fromkeys(x for x in values if x))


def _tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Hashtags or mentions: lower-case, without "#" or "@", each once, in order."""
    return tuple(dict.fromkeys(t.lower().lstrip("#@") for t in tags if t))


_ITEM_FIELDS = tuple(f.name for f in fields(Item))
_FIELD_AT = {name: at for at, name in enumerate(_ITEM_FIELDS)}
_item_values = operator.attrgetter(*_ITEM_FIELDS)


def _item_maker() -> Callable[..., Item]:
    """`Item(...)` by position, at half the cost: the frozen dataclass's `__init__` looks up
    `object.__setattr__` for each of its 22 fields, this sets the slots through their
    descriptors (what that `__setattr__` does for a slot)."""
    names = ", ".join(_ITEM_FIELDS)
    body = "".join(f"    _set_{name}(item, {name})\n" for name in _ITEM_FIELDS)
    source = f"def new_item({names}):\n    item = _new(Item)\n{body}    return item\n"
    scope: dict[str, Any] = {"_new": object.__new__, "Item": Item}
    scope |= {f"_set_{name}": getattr(Item, name).__set__ for name in _ITEM_FIELDS}
    exec(source, scope)  # noqa: S102 (made of the field names only)
    return scope["new_item"]


_new_item = _item_maker()


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
