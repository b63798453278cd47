"""Hashtag chat transcripts (#lrnchat-style Q1/A1 chats): `type: hashtag_chat`.

One message per line, `<ISO 8601 time> @author: text`; lines without a time continue the message
above; blank lines and `# ` comments are skipped (see docs/design.md). Each question with its
answers becomes one `chat_thread` Item titled `#lrnchat Q1: <question>`; the rest of the chat
(welcome, chatter) is grouped by time gaps, and groups under three words are dropped as noise.

Options: `path` (a transcript, or a folder of `*.txt` transcripts, one chat each), `hashtag`,
`timezone` (IANA name for times without an offset; default UTC), `gap_minutes` (default 10).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pln.config import Options
from pln.record import DeadLetter, Item
from pln.sources.chat import (
    ChatFileSource,
    Message,
    Thread,
    decode_lines,
    group_threads,
    question_text,
    shorten,
    thread_item,
)

TIME = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
LINE_RE = re.compile(
    rf"^(?P<time>{TIME})\s+@?(?P<author>[^\s:@][^:]{{0,79}}?):(?:\s+|$)(?P<text>.*)$"
)
TIMESTAMP_START_RE = re.compile(r"^\[?\d{4}-\d{1,2}-\d{1,2}(?!\d)")
COMMENT_RE = re.compile(r"^#(?:\s|$)")
HASHTAG_OPTION_RE = re.compile(r"^\w+$")


class HashtagChatSource(ChatFileSource):
    type = "hashtag_chat"
    what = "transcript"

    def configure_format(self, opts: Options) -> None:
        self.hashtag = opts.str("hashtag").strip().lstrip("#")
        if self.hashtag and not HASHTAG_OPTION_RE.match(self.hashtag):
            raise opts.error("hashtag", f"must be one word such as lrnchat, got {self.hashtag!r}")

    def read_chat(self, path: Path, data: bytes) -> tuple[list[Item], list[DeadLetter]]:
        messages, dead = parse_transcript(data, path.name, self.tz, self.name)
        if dead and not messages:
            raise self.error(
                f"{path} is not a {self.what}: no '<ISO 8601 time> @author: text' lines"
            )
        return self.items_for(messages, chat_key=self.hashtag or path.stem), dead

    def items_for(self, messages: list[Message], chat_key: str) -> list[Item]:
        """One Item per question thread and per non-trivial chatter group of one chat."""
        if not messages:
            return []
        chat_date = min(m.at for m in messages).astimezone(self.tz).date().isoformat()
        chat_id = f"{chat_key}:{chat_date}"
        fetched_at = datetime.now(UTC)
        items, asked = [], {}
        for thread in group_threads(messages, self.gap):
            if thread.trivial:
                continue
            native_id, title = self._name(thread, chat_id, asked)
            items.append(
                thread_item(
                    thread,
                    source=self.name,
                    platform="chat",
                    native_id=native_id,
                    title=title,
                    fetched_at=fetched_at,
                )
            )
        return items

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
