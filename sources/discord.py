"""Discord channels exported by DiscordChatExporter as JSON: `type: discord`.

A file holds `guild`, `channel` and `messages`; each message has `id`, `type`, `timestamp`,
`content`, `author` (`nickname` preferred over `name`), `attachments`, `embeds` and, for
replies, `reference.messageId`, which threads it to the message it answers. Calls, joins,
renames and pins are notices and never join a thread.

Options: `path` (an export, or a folder of `*.json` exports), `gap_minutes` (default 10).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pln.record import DeadLetter
from pln.sources.base import FetchResult
from pln.sources.chat import ChatFileSource, Message, Thread, chat_items

CONTENT_TYPES = frozenset({"Default", "Reply", "ThreadStarterMessage", "ChatInputCommand"})


class DiscordSource(ChatFileSource):
    type = "discord"
    what = "DiscordChatExporter JSON export"
    pattern = "*.json"

    def read_chat(self, path: Path, data: bytes) -> FetchResult:
        export = self.load(path, data)
        channel = export.get("channel") if isinstance(export.get("channel"), dict) else {}
        guild = export.get("guild") if isinstance(export.get("guild"), dict) else {}
        channel_id = str(channel.get("id") or path.stem)
        guild_id = str(guild.get("id") or "0")
        messages, dead = self.parse_messages(path, export["messages"])

        def url(thread: Thread) -> str:
            where = "@me" if guild_id == "0" else guild_id
            return f"https://discord.com/channels/{where}/{channel_id}/{thread.root.id}"

        name = str(channel.get("name") or path.stem)
        result = chat_items(
            messages,
            source=self.name,
            platform="discord",
            chat_key=channel_id,
            label=name if channel.get("type", "").startswith("Direct") else f"#{name}",
            gap=self.gap,
            thread_key=lambda m: m.id,  # Discord's snowflake ids are unique
            url=url,
        )
        result.dead_letters.extend(dead)
        return result

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
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                reason = f"not a message ({exc.__class__.__name__}: {exc})"
                dead.append(self.dead_letter(ref, reason, json.dumps(record)[:20_000]))
        return messages, dead


def _message(record: dict, ref: str) -> Message:
    author = record.get("author") or {}
    name = author.get("nickname") or author.get("name") or str(author.get("id", "unknown"))
    at = datetime.fromisoformat(record["timestamp"])
    if at.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {record['timestamp']!r}")
    parts = [record.get("content") or ""]
    links = []
    for embed in record.get("embeds") or []:
        parts += [embed.get(k) for k in ("title", "description") if embed.get(k)]
        links += [embed["url"]] if embed.get("url") else []
    for attachment in record.get("attachments") or []:
        links += [attachment["url"]] if attachment.get("url") else []
        if not parts[0] and attachment.get("fileName"):
            parts.append(f"[file: {attachment['fileName']}]")
    reference = record.get("reference") or {}
    return Message(
        id=str(record["id"]),
        author=str(name),
        text="\n".join(p for p in parts if isinstance(p, str) and p).strip(),
        at=at,
        reply_to=str(reference.get("messageId") or ""),
        ref=ref,
        raw=json.dumps(record, ensure_ascii=False),
        links=tuple(links),
        system=record.get("type", "Default") not in CONTENT_TYPES,
    )
