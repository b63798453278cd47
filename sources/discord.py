"""Discord channels exported by DiscordChatExporter as JSON: `type: discord`.

A file holds `guild`, `channel` and `messages`; each message has `id`, `type`, `timestamp`,
`content`, `author` (`nickname` preferred over `name`), `attachments`, `embeds` and, for
replies, `reference.messageId`, which threads it to the message it answers. Calls, joins,
renames and pins are notices and never join a thread.

Options: `path` (an export, or a folder of `*.json` exports), `gap_minutes` (default 10),
`max_file_mb` (default 64).

In a folder, the files of one channel (`--partition` parts, or overlapping exports) are
threaded as one export: a reply in part 2 joins its question in part 1, and ids are those of
one unsplit file. A message in several files is read once, from the newest file. When one
file of a channel changes, the channel's other files are read with it; the cursor remembers
each file's channel (`channels`) so that the unchanged ones need not be opened to find them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pln.record import DeadLetter
from pln.sources.base import Cursor, FetchResult
from pln.sources.chat import (
    ChatFileSource,
    Message,
    Thread,
    as_utf8,
    chat_items,
    dicts,
    mapping,
)

CONTENT_TYPES = frozenset({"Default", "Reply", "ThreadStarterMessage", "ChatInputCommand"})
HEAD_BYTES = 64 * 1024  # DiscordChatExporter writes `guild` and `channel` before `messages`
CHANNEL_ID_RE = re.compile(rb'"channel"\s*:\s*\{[^{}]*?"id"\s*:\s*"?([\w-]{1,64})')


class NotAMessage(ValueError):
    """A record that is not a message; its text is the dead letter's reason."""


@dataclass(frozen=True)
class Channel:
    """What ids, labels and links of one channel's threads are made of."""

    id: str
    guild: str
    label: str  # "#general", or a direct chat's name

    @classmethod
    def of(cls, export: dict[str, Any], path: Path) -> Channel:
        channel, guild = mapping(export.get("channel")), mapping(export.get("guild"))
        name = str(channel.get("name") or path.stem)
        direct = str(channel.get("type") or "").startswith("Direct")
        return cls(
            id=str(channel.get("id") or path.stem),
            guild=str(guild.get("id") or "0"),
            label=name if direct else f"#{name}",
        )


@dataclass
class _Part:
    """One file of a channel, read: its channel, messages and unreadable records."""

    channel: Channel
    messages: list[Message]
    dead: list[DeadLetter]


class DiscordSource(ChatFileSource):
    type = "discord"
    what = "DiscordChatExporter JSON export"
    suffixes = (".json",)
    too_big_hint = "raise max_file_mb, or export in parts with --partition"

    def read_chat(self, path: Path, data: bytes) -> FetchResult:
        part = self.read_part(path, data)
        return self.channel_items(part.channel, part.messages, part.dead)

    def read_part(self, path: Path, data: bytes) -> _Part:
        export = self.load(path, data)
        messages, dead = self.parse_messages(path, export["messages"])
        return _Part(Channel.of(export, path), messages, dead)

    def channel_items(
        self, channel: Channel, messages: list[Message], dead: list[DeadLetter]
    ) -> FetchResult:
        def url(thread: Thread) -> str:
            where = "@me" if channel.guild == "0" else channel.guild
            return f"https://discord.com/channels/{where}/{channel.id}/{thread.root.id}"

        result = chat_items(
            messages,
            source=self.name,
            platform="discord",
            chat_key=channel.id,
            label=channel.label,
            gap=self.gap,
            thread_key=lambda m: m.id,  # Discord's snowflake ids are unique
            url=url,
        )
        result.dead_letters.extend(dead)
        return result

    def read_files(self, names: list[str], cursor: Cursor, result: FetchResult) -> None:
        """Each channel with a changed file, from all of its files."""
        files = result.cursor["files"]
        known = mapping(cursor.get("channels"))
        if not names:  # nothing to read: no file need be opened to find its channel
            result.cursor["channels"] = {
                n: c for n, c in known.items() if n in files and isinstance(c, str) and c
            }
            return
        changed = set(names)
        channel_of: dict[str, str] = {}
        for name in files:
            was = known.get(name) if name not in changed else None
            channel_of[name] = was if isinstance(was, str) else self.sniff_channel(name)
        groups: dict[str, list[str]] = {}
        for name in files:  # a file whose channel is unknown is read on its own
            groups.setdefault(channel_of[name] or f"file:{name}", []).append(name)
        for key in dict.fromkeys(channel_of[n] or f"file:{n}" for n in names):
            self.read_channel(groups[key], result)
        result.cursor["channels"] = {n: c for n, c in channel_of.items() if c and n in files}

    def sniff_channel(self, name: str) -> str:
        """The channel id in the head of an export, without parsing it all; empty if none."""
        try:
            with (self.path / name).open("rb") as file:
                head = as_utf8(file.read(HEAD_BYTES))
        except OSError:
            return ""  # reading it whole says why
        match = CHANNEL_ID_RE.search(head.split(b'"messages"', 1)[0])
        return match[1].decode() if match else ""

    def read_channel(self, names: list[str], result: FetchResult) -> None:
        """The files `names` of one channel, threaded together; oldest file first, so the
        newest one's copy of a message, and its channel name, win."""
        files = result.cursor["files"]
        parts: list[_Part] = []
        for name in sorted(names, key=lambda n: (files[n]["mtime_ns"], n)):
            path = self.path / name
            with self.one_file(path, result):
                parts.append(self.read_part(path, self.read_bytes(path)))
        channels: dict[str, list[_Part]] = {}
        for part in parts:  # one channel, unless a head said otherwise than the whole file
            channels.setdefault(part.channel.id, []).append(part)
        for same in channels.values():
            messages = {m.id: m for part in same for m in part.messages}
            dead = [d for part in same for d in part.dead]
            result.add(self.channel_items(same[-1].channel, list(messages.values()), dead))

    def load(self, path: Path, data: bytes) -> dict[str, Any]:
        """The export as a dict; a SourceError when the file is not one."""
        try:
            export = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.error(f"{self.shown_path(path)} is not a {self.what}: {exc}") from None
        if not isinstance(export, dict) or not isinstance(export.get("messages"), list):
            raise self.error(f"{self.shown_path(path)} is not a {self.what}: no 'messages' list")
        return export

    def parse_messages(
        self, path: Path, records: list[Any]
    ) -> tuple[list[Message], list[DeadLetter]]:
        messages, dead, shown = [], [], self.shown_path(path)
        for i, record in enumerate(records):
            ref = f"{shown}#{i}"
            try:
                messages.append(_message(record, ref))
            except NotAMessage as exc:
                dead.append(self.dead_letter(ref, str(exc), json.dumps(record)[:20_000]))
        return messages, dead


def _message(record: Any, ref: str) -> Message:
    if not isinstance(record, dict):
        raise NotAMessage(f"not a message: {type(record).__name__} {record!r:.60}")
    for key in ("id", "timestamp"):
        if record.get(key) in (None, ""):
            raise NotAMessage(f"not a message: no {key!r}")
    author = mapping(record.get("author"))
    name = author.get("nickname") or author.get("name") or str(author.get("id", "unknown"))
    parts = [record.get("content") or ""]
    links = []
    for embed in dicts(record.get("embeds")):
        parts += [embed.get(k) for k in ("title", "description") if embed.get(k)]
        links += [embed["url"]] if isinstance(embed.get("url"), str) else []
    for attachment in dicts(record.get("attachments")):
        links += [attachment["url"]] if isinstance(attachment.get("url"), str) else []
        if not parts[0] and attachment.get("fileName"):
            parts.append(f"[file: {attachment['fileName']}]")
    reference = mapping(record.get("reference"))
    kind = record.get("type", "Default")
    return Message(
        id=str(record["id"]),
        author=str(name),
        text="\n".join(p for p in parts if isinstance(p, str) and p).strip(),
        at=_time(record["timestamp"]),
        reply_to=str(reference.get("messageId") or ""),
        ref=ref,
        raw=json.dumps(record, ensure_ascii=False),
        links=tuple(links),
        system=not isinstance(kind, str) or kind not in CONTENT_TYPES,
    )


def _time(value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise NotAMessage(f"invalid timestamp {value!r:.60}") from None
    if at.tzinfo is None:
        raise NotAMessage(f"timestamp without a time zone: {value!r}")
    return at
