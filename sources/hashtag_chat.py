"""Hashtag chats (#lrnchat-style Q1/A1 chats): `type: hashtag_chat`, from a transcript or posts.

A transcript (`path`) has one message per line, `<ISO 8601 time> @author: text`; lines without a time continue the message
above; blank lines and `# ` comments are skipped (see docs/design.md). Each question with its
answers becomes one `chat_thread` Item titled `#lrnchat Q1: <question>`; the rest of the chat
(welcome, chatter) is grouped by time gaps, and groups under three words are dropped as noise.
A transcript may hold several chats (an archive page): a silence of more than `CHAT_BREAK` ends
one, each is dated by the local date of its first message and chats of one date are one chat,
so ids are those of one transcript per chat (`lrnchat:2026-11-19:Q1`).

Options: `path` (a transcript, or a folder of `*.txt` transcripts, one chat each), `hashtag`,
`timezone` (IANA name for times without an offset; default UTC), `gap_minutes` (default 10).

Instead of `path`, `posts` assembles the chat from a nested microblog source (see
`sources/chat_posts.py`); then `hashtag` is required, `window: {weekday, start, minutes}` limits
the chat to its weekly slot and `session_gap_minutes` (default 180) splits sessions without one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pln.config import Options
from pln.errors import SourceError
from pln.record import DeadLetter, Item
from pln.sources.base import Cursor, FetchResult
from pln.sources.chat import (
    ChatFileSource,
    Message,
    Thread,
    UniqueKeys,
    decode_lines,
    group_threads,
    question_text,
    shorten,
    thread_item,
    zone_option,
)
from pln.sources.chat_posts import (
    MAX_OPEN_POSTS,
    ChatPost,
    ChatSplitter,
    ChatWindow,
    carries,
    posts_source,
    posts_to_keep,
)

TIME = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
LINE_RE = re.compile(
    rf"^(?P<time>{TIME})\s+@?(?P<author>[^\s:@][^:]{{0,79}}?):(?:\s+|$)(?P<text>.*)$"
)
TIMESTAMP_START_RE = re.compile(r"^\[?\d{4}-\d{1,2}-\d{1,2}(?!\d)")
COMMENT_RE = re.compile(r"^#(?:\s|$)")
HASHTAG_OPTION_RE = re.compile(r"^\w+$")
# Shorter than any gap between weekly (or daily) chats, longer than the night after an evening
# chat, so late answers the next morning keep the chat's date (and their ids from before).
CHAT_BREAK = timedelta(hours=12)


class HashtagChatSource(ChatFileSource):
    type = "hashtag_chat"
    what = "transcript"
    posts = None  # the nested microblog source of the `posts` form

    def configure(self, opts: Options) -> None:
        has_path, has_posts = (opts.data.get(k) is not None for k in ("path", "posts"))
        if has_path and has_posts:
            raise opts.error("posts", "set either path (a transcript) or posts, not both")
        if not has_posts:
            if not has_path:
                raise opts.error("path", "is required (a transcript), or set posts (a source)")
            for key in ("window", "session_gap_minutes"):
                if key in opts.data:
                    raise opts.error(key, "only applies with posts; a transcript is one chat")
            super().configure(opts)
            return
        self.path = None
        self.tz = zone_option(opts)
        self.gap = timedelta(minutes=opts.integer("gap_minutes", default=10, min=1))
        self.configure_format(opts)
        if not self.hashtag:
            raise opts.error("hashtag", "is required with posts: the chat's tag, e.g. lrnchat")
        window_opts = opts.mapping("window")
        window = ChatWindow.from_options(window_opts) if window_opts.data else None
        gap = timedelta(minutes=opts.integer("session_gap_minutes", default=180, min=1))
        self.splitter = ChatSplitter(self.tz, window, gap)
        self.posts = posts_source(self.config, opts.mapping("posts"))

    def configure_format(self, opts: Options) -> None:
        self.hashtag = opts.text("hashtag").strip().lstrip("#")
        if self.hashtag and not HASHTAG_OPTION_RE.match(self.hashtag):
            raise opts.error("hashtag", f"must be one word such as lrnchat, got {self.hashtag!r}")

    @property
    def tells_unchanged(self) -> bool:
        return self.posts is None and super().tells_unchanged  # posts: chats stay open

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        return super().fetch(cursor) if self.posts is None else self._fetch_posts(cursor or {})

    def _fetch_posts(self, cursor: Cursor) -> FetchResult:
        """Chats from the nested source's new posts plus the open chats kept in the cursor."""
        nested_cursor = cursor.get("posts") if isinstance(cursor.get("posts"), dict) else None
        try:
            result = self.posts.fetch(nested_cursor)
        except SourceError as exc:
            raise self.error(
                f"posts source '{self.posts.name}' ({self.posts.type}): {exc.message}",
                retry_after=exc.retry_after,
            ) from None
        dead = [
            replace(d, source=self.name, ref=f"{d.source}:{d.ref}") for d in result.dead_letters
        ]
        if result.not_modified:
            kept = {**cursor, "posts": result.cursor or nested_cursor}
            return FetchResult(dead_letters=dead, cursor=kept, not_modified=True)

        held = [p for p in map(ChatPost.from_json, _list(cursor.get("open"))) if p]
        fresh = self._chat_posts(result.items, held, dead)
        times = [i.published_at for i in result.items if i.published_at]
        seen_until = max([*times, *_times(cursor.get("seen_until"))], default=None)
        fresh_ids = {p.id for p in fresh}
        out, keep = FetchResult(dead_letters=dead), []
        for chat in self.splitter.chats({p.id: p for p in (*held, *fresh)}.values()):
            touched = bool(fresh_ids.intersection(p.id for p in chat.posts))
            if touched:
                out.add(self.items_for(chat.messages(), self.hashtag, chat.day, _root_url))
            if touched or self.splitter.still_open(chat, seen_until):
                keep.append(chat)
        held_next = posts_to_keep(keep, MAX_OPEN_POSTS)
        out.cursor = {"posts": result.cursor, "open": [p.to_json() for p in held_next]}
        let_go = sum(len(c.posts) for c in keep) - len(held_next)
        if let_go:  # a later post of those chats re-emits their threads without these posts
            out.warnings.append(
                f"{let_go} posts of chats still open are over the {MAX_OPEN_POSTS} the cursor "
                "holds: threads that get later replies may lose their oldest posts"
            )
        if seen_until:
            out.cursor["seen_until"] = seen_until.isoformat()
        out.warnings.extend(result.warnings)
        out.not_modified = not (out.items or out.dead_letters)
        return out

    def _chat_posts(
        self, items: list[Item], held: list[ChatPost], dead: list[DeadLetter]
    ) -> list[ChatPost]:
        """Posts of the chat: its hashtag, or a reply to one of its posts, inside the window."""
        known = {p.id for p in held} | {p.alias for p in held if p.alias}
        fresh = []
        latest = datetime.max.replace(tzinfo=UTC)
        for item in sorted(items, key=lambda i: i.published_at or latest):
            tagged = carries(item, self.hashtag)
            if item.kind == "repost" or not (tagged or item.reply_to in known):
                continue
            if item.published_at is None:
                dead.append(self.dead_letter(item.url or item.native_id, "post has no time"))
                continue
            if self.splitter.in_chat(item.published_at):
                post = ChatPost.from_item(item)
                fresh.append(post)
                known.update(filter(None, (post.id, post.alias)))
        return fresh

    def read_chat(self, path: Path, data: bytes) -> FetchResult:
        shown = self.shown_path(path)
        messages, dead = parse_transcript(data, shown, self.tz, self.name)
        if dead and not messages:
            raise self.error(
                f"{shown} is not a {self.what}: no '<ISO 8601 time> @author: text' lines"
            )
        result = FetchResult(dead_letters=dead)
        chat_key = self.hashtag or self.chat_key(path)
        for day, chat in chats_by_date(messages, self.tz):
            result.add(self.items_for(chat, chat_key, day))
        return result

    def items_for(
        self,
        messages: list[Message],
        chat_key: str,
        chat_date: date | None = None,
        url: Callable[[Thread], str] | None = None,
    ) -> FetchResult:
        """One Item per question thread and per non-trivial chatter group of one chat, and the
        messages left out (counted per reason in `drops`).

        The chat's date defaults to the local date of its first message.
        """
        result = FetchResult()
        if not messages:
            return result
        chat_date = chat_date or min(m.at for m in messages).astimezone(self.tz).date()
        chat_id = f"{chat_key}:{chat_date.isoformat()}"
        fetched_at = datetime.now(UTC)
        asked: dict[int, int] = {}
        keys = UniqueKeys()
        result.drop("notice", sum(m.system for m in messages))
        for thread in group_threads(messages, self.gap):
            if thread.trivial:
                result.drop(thread.drop_reason, len(thread.messages))
                continue
            native_id, title = self._name(thread, chat_id, asked)
            result.items.append(
                thread_item(
                    thread,
                    source=self.name,
                    platform="chat",
                    native_id=keys.take(native_id),
                    title=title,
                    url=url(thread) if url else "",
                    fetched_at=fetched_at,
                )
            )
        return result

    def _name(self, thread: Thread, chat_id: str, asked: dict[int, int]) -> tuple[str, str]:
        prefix = f"#{self.hashtag} " if self.hashtag else ""
        if thread.question is None:
            local = thread.root.at.astimezone(self.tz)
            native_id = f"{chat_id}:chat-{local:%H%M%S}"
            return native_id, f"{prefix}chat: {shorten(thread.root.text, 80)}"
        n = thread.question
        asked[n] = asked.get(n, 0) + 1  # Q1 asked again in a later session of the same file
        suffix = f".{asked[n]}" if asked[n] > 1 else ""
        question = question_text(thread.root.text, self.hashtag) or thread.root.text
        return f"{chat_id}:Q{n}{suffix}", f"{prefix}Q{n}: {shorten(question, 90)}"


def chats_by_date(messages: list[Message], tz: ZoneInfo) -> list[tuple[date, list[Message]]]:
    """The chats of one transcript, oldest first: a silence of more than `CHAT_BREAK` ends a
    chat, a chat is dated by its first message (local date) and chats of one date are one."""
    chats: dict[date, list[Message]] = {}
    previous: datetime | None = None
    for message in sorted(messages, key=lambda m: m.at):
        if previous is None or message.at - previous > CHAT_BREAK:
            day = message.at.astimezone(tz).date()
        chats.setdefault(day, []).append(message)
        previous = message.at
    return list(chats.items())


def _root_url(thread: Thread) -> str:
    return thread.root.ref if thread.root.ref.startswith(("http://", "https://")) else ""


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _times(value: object) -> list[datetime]:
    """The aware time saved in a cursor, as a list of zero or one."""
    try:
        return [datetime.fromisoformat(value)] if isinstance(value, str) else []
    except ValueError:
        return []


def parse_transcript(
    data: bytes, file_name: str, tz: ZoneInfo, source: str
) -> tuple[list[Message], list[DeadLetter]]:
    """Messages of one transcript, and a dead letter for each line that is not one."""
    messages: list[Message] = []
    dead: list[DeadLetter] = []
    current: dict | None = None

    def flush() -> None:
        if current:
            messages.append(_message(current, file_name))

    for line_no, line in enumerate(decode_lines(data), start=1):
        stripped = line.strip()
        if not stripped or COMMENT_RE.match(stripped):
            continue
        match = LINE_RE.match(stripped)
        at = _parse_time(match["time"], tz) if match else None
        if at is not None:
            flush()
            current = {
                "line": line_no,
                "at": at,
                "author": match["author"].strip(),
                "text": [match["text"].strip()],
                "raw": [line],
            }
            continue
        reason = _why_not_a_message(stripped, match, current)
        if reason:
            dead.append(
                DeadLetter(
                    source=source, ref=f"{file_name}:{line_no}", reason=reason, raw=line[:2000]
                )
            )
        else:
            current["text"].append(stripped)
            current["raw"].append(line)
    flush()
    return messages, dead


def _why_not_a_message(line: str, match: re.Match | None, current: dict | None) -> str:
    """Why a line without a valid timestamp cannot continue the message above ('' if it can)."""
    if match:
        return f"invalid timestamp {match['time']!r}"
    if TIMESTAMP_START_RE.match(line):
        return "starts like a message but is not '<ISO 8601 time> @author: text'"
    if current is None:
        return "text before the first message (expected '<ISO 8601 time> @author: text')"
    return ""


def _message(parts: dict, file_name: str) -> Message:
    return Message(
        id=str(parts["line"]),
        author=parts["author"].lstrip("@"),
        text="\n".join(t for t in parts["text"] if t),
        at=parts["at"],
        ref=f"{file_name}:{parts['line']}",
        raw="\n".join(parts["raw"]),
    )


def _parse_time(value: str, tz: ZoneInfo) -> datetime | None:
    try:
        at = datetime.fromisoformat(value.replace(",", "."))
    except ValueError:
        return None
    return at.replace(tzinfo=tz) if at.tzinfo is None else at
