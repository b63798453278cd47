"""Hashtag chats assembled from microblog posts: the `posts:` form of `type: hashtag_chat`.

A chat source wraps a microblog source (`posts: {type: mastodon, ...}`) and keeps the posts that
belong to the chat: those carrying its hashtag, and replies to them (a reply often drops the
tag), inside the chat's weekly `window` when one is set. Reposts are not messages: they repeat a
voice, they do not add one.

Posts are split into chats by the local date of the window they fall in or, without a window,
of the first post of a run of posts that follow each other within `session_gap`. All posts of
one date form one chat, so thread ids match the transcript form (`lrnchat:2026-11-19:Q1`).

A chat may span two fetches (posts arrive while it runs; a paging source stopped by `max_pages`
delivers the older rest of a busy chat next time), so the posts of chats that may still change
travel in the cursor (compact JSON, whole chats, at most `MAX_OPEN_POSTS` posts) and each fetch
re-emits every chat it added posts to, complete: ids are stable and the store upserts. A chat is
dropped from the cursor by the first fetch that brings it nothing new once it is over: the nested
source has shown a post from after its end (window end, or last post) plus `session_gap`. The
data, not the wall clock, says time has passed, so a replay of an old export behaves like the
live chat did.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pln.config import SOURCE_KEYS, Options, SourceConfig
from pln.record import Item
from pln.sources.base import Source
from pln.sources.chat import HASHTAG_RE, Message
from pln.sources.registry import build_source

MICROBLOG_TYPES = ("bluesky", "mastodon", "twitter_api", "twitter_archive", "twitter_v2")
MAX_OPEN_POSTS = 2000
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
START_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


def posts_source(config: SourceConfig, posts: Options) -> Source:
    """The nested microblog source, named `<chat>.posts`; its errors name `sources[i].posts.*`."""
    type_name = posts.text("type", required=True)
    if type_name not in MICROBLOG_TYPES:
        raise posts.error(
            "type", f"must be a microblog source ({', '.join(MICROBLOG_TYPES)}), got {type_name!r}"
        )
    for key in SOURCE_KEYS:  # but its type: the posts source takes these from its chat
        if key != "type" and posts.data.get(key) is not None:
            raise posts.error(
                key, f"belongs to the chat source, not to its posts (named {config.name}.posts)"
            )
    nested = SourceConfig(
        name=f"{config.name}.posts",
        type=type_name,
        options={k: v for k, v in posts.data.items() if k != "type"},
        base_dir=config.base_dir,
        file=config.file,
        key=posts.at,
        interval=config.interval,
        enabled=config.enabled,
    )
    return build_source(nested)


@dataclass(frozen=True)
class ChatWindow:
    """When the chat runs: `weekday` (None: every day) at `start` local time, for `length`."""

    weekday: int | None
    start: time
    length: timedelta

    @classmethod
    def from_options(cls, opts: Options) -> ChatWindow:
        """Read `{weekday: thu, start: "20:30", minutes: 60}`."""
        if isinstance(opts.data.get("start"), int):  # YAML 1.1 reads 20:30 as 1230
            raise opts.error("start", 'must be quoted, e.g. start: "20:30"')
        start = opts.text("start", required=True).strip()
        match = START_RE.match(start)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise opts.error("start", f"must be a time like 20:30, got {start!r}")
        minutes = opts.integer("minutes", default=60, min=1)
        if minutes > 24 * 60:
            raise opts.error("minutes", f"must be at most 1440 (one day), got {minutes}")
        day = opts.text("weekday").strip().lower()
        weekday = next((i for i, name in enumerate(WEEKDAYS) if day and name.startswith(day)), None)
        if day and (weekday is None or len(day) < 3):
            raise opts.error("weekday", f"must be a day such as thu or thursday, got {day!r}")
        opts.done()
        return cls(weekday, time(int(match[1]), int(match[2])), timedelta(minutes=minutes))

    def opening(self, at: datetime, tz: ZoneInfo) -> datetime | None:
        """The start (aware, local) of the window `at` falls in, or None when it is outside."""
        local_day = at.astimezone(tz).date()
        for back in (0, 1):  # a window may run past midnight
            day = local_day - timedelta(days=back)
            if self.weekday is not None and day.weekday() != self.weekday:
                continue
            start = datetime.combine(day, self.start, tzinfo=tz)
            # compare in UTC: aware datetimes sharing a tzinfo compare by wall time, not instant
            if start.astimezone(UTC) <= at < start.astimezone(UTC) + self.length:
                return start
        return None


@dataclass(frozen=True)
class ChatPost:
    """What a chat needs of one post; small enough to keep open chats in the cursor."""

    id: str  # the post's native id
    author: str
    at: datetime  # aware UTC
    text: str
    reply_to: str = ""
    url: str = ""
    links: tuple[str, ...] = ()  # links not written in the text (cards, attachments)
    alias: str = ""  # another id replies may use for it (a Mastodon status's local id)

    @classmethod
    def from_item(cls, item: Item) -> ChatPost:
        return cls(
            id=item.native_id,
            author=item.author,
            at=item.published_at,
            text=item.text,
            reply_to=item.reply_to if item.kind == "reply" else "",
            url=item.url,
            links=tuple(link for link in item.links if link not in item.text),
            alias=_local_id(item),
        )

    def to_json(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "by": self.author,
            "at": self.at.astimezone(UTC).isoformat(),
            "text": self.text,
            "re": self.reply_to,
            "url": self.url,
            "links": list(self.links),
            "alias": self.alias,
        }
        return {k: v for k, v in data.items() if v}

    @classmethod
    def from_json(cls, data: Any) -> ChatPost | None:
        """The post saved by `to_json`, or None for anything else (a cursor from elsewhere)."""
        try:
            return cls(
                id=str(data["id"]),
                author=str(data.get("by", "")),
                at=datetime.fromisoformat(data["at"]).astimezone(UTC),
                text=str(data.get("text", "")),
                reply_to=str(data.get("re", "")),
                url=str(data.get("url", "")),
                links=tuple(str(link) for link in data.get("links", ())),
                alias=str(data.get("alias", "")),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    def message(self, parent: str) -> Message:
        """The chat message; `parent` is `reply_to` resolved to a post id of this chat."""
        return Message(
            id=self.id,
            author=self.author,
            text=self.text,
            at=self.at,
            reply_to=parent,
            ref=self.url or self.id,
            raw=f"{self.at:%Y-%m-%dT%H:%M:%SZ} @{self.author}: {self.text}",  # a transcript line
            links=self.links,
        )


def _local_id(item: Item) -> str:
    """A Mastodon reply whose parent came in an earlier fetch names it by its local id."""
    if item.platform != "mastodon":
        return ""
    try:
        return str(json.loads(item.raw).get("id") or "")
    except (ValueError, AttributeError):
        return ""


def carries(item: Item, hashtag: str) -> bool:
    tag = hashtag.lower()
    return tag in item.hashtags or tag in (t.lower() for t in HASHTAG_RE.findall(item.text))


@dataclass
class Chat:
    """The posts of one chat date, in time order; `end` is when the chat is over."""

    day: date
    posts: list[ChatPost]
    end: datetime

    def messages(self) -> list[Message]:
        ids = {p.id for p in self.posts}
        aliases = {p.alias: p.id for p in self.posts if p.alias}
        return [
            p.message(p.reply_to if p.reply_to in ids else aliases.get(p.reply_to, ""))
            for p in self.posts
        ]


class ChatSplitter:
    """Splits posts into chats by window (timezone-aware) or by gaps between sessions."""

    def __init__(self, tz: ZoneInfo, window: ChatWindow | None, session_gap: timedelta):
        self.tz, self.window, self.session_gap = tz, window, session_gap

    def in_chat(self, at: datetime) -> bool:
        return self.window is None or self.window.opening(at, self.tz) is not None

    def chats(self, posts: Iterable[ChatPost]) -> list[Chat]:
        ordered = sorted(posts, key=lambda p: (p.at, p.id))
        by_day: dict[date, Chat] = {}
        for day, end, session in self._sessions(ordered):
            chat = by_day.setdefault(day, Chat(day, [], end))
            chat.posts += session
            chat.end = max(chat.end, end)
        for chat in by_day.values():
            chat.posts.sort(key=lambda p: (p.at, p.id))
        return sorted(by_day.values(), key=lambda c: c.day)

    def _sessions(self, ordered: list[ChatPost]) -> Iterable[tuple[date, datetime, list]]:
        if self.window is not None:
            starts: dict[datetime, list[ChatPost]] = {}
            for post in ordered:
                start = self.window.opening(post.at, self.tz)
                if start is not None:
                    starts.setdefault(start, []).append(post)
            for start, session in starts.items():
                yield start.date(), start.astimezone(UTC) + self.window.length, session
            return
        session: list[ChatPost] = []
        for post in ordered:
            if session and post.at - session[-1].at > self.session_gap:
                yield self._day(session[0]), session[-1].at, session
                session = []
            session.append(post)
        if session:
            yield self._day(session[0]), session[-1].at, session

    def _day(self, post: ChatPost) -> date:
        return post.at.astimezone(self.tz).date()

    def still_open(self, chat: Chat, seen_until: datetime | None) -> bool:
        return seen_until is None or chat.end + self.session_gap > seen_until


def posts_to_keep(chats: list[Chat], limit: int = MAX_OPEN_POSTS) -> list[ChatPost]:
    """The posts of `chats` (oldest first) to keep in the cursor: whole chats, newest first,
    at most `limit` posts; only a chat larger than `limit` on its own is cut (to its newest)."""
    kept: list[ChatPost] = []
    for chat in reversed(chats):
        if kept and len(kept) + len(chat.posts) > limit:
            break
        kept = chat.posts + kept
    return kept[-limit:]
