"""Zoom meeting chat files (`meeting_saved_chat.txt`, recording chat files): `type: zoom_chat`.

Accepted message headers:
  classic   `10:02:15\t From  Jane Doe : text`, `10:02:15 From  Jane Doe  to  Everyone : text`
  newer     `10:02:15 From Jane Doe to Everyone:` with the text on the following (tab-indented)
            lines; a first line `Replying to "…"` threads the message to the one it quotes
  tab       `10:02:15\tJane Doe:\ttext` (cloud recording chat)
Private messages (`to  Bob(Direct Message)`, `(privately)`) are never read; reactions
(`Reacted to "…" with 👍`) are notices. Zoom writes clock times only: the date comes from the
`date` option, else a `YYYY-MM-DD` or `GMTYYYYMMDD` in the file or folder name, else the file's
modification date; a time earlier than the one before it means the meeting passed midnight.

Options: `path` (a chat file, a folder of `*.txt`, or Zoom's own folder, which holds one
subfolder per meeting with its `meeting_saved_chat.txt`), `date`, `timezone`, `gap_minutes`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

from pln.config import Options
from pln.record import DeadLetter
from pln.sources.base import Cursor, FetchResult
from pln.sources.chat import (
    ChatFileSource,
    Message,
    chat_items,
    date_option,
    decode_lines,
    file_stamp,
    mapping,
)

CLOCK = r"(?P<time>\d{1,2}:\d{2}(?::\d{2})?)"
FROM_RE = re.compile(rf"^{CLOCK}\s+From\s+(?P<who>.+?)\s?:(?:\s(?P<text>.*))?$")
TAB_RE = re.compile(rf"^{CLOCK}\t\s*(?P<who>[^\t]+?):\t(?P<text>.*)$")
RECIPIENT_RE = re.compile(r"^(?P<sender>.+?)\s+to\s+(?P<to>.+)$")
REPLYING_RE = re.compile(r'^Replying to "(?P<quote>.*?)(?:\.\.\.|…)?"\s*:?$', re.S)
REACTION_RE = re.compile(r'^(?:Reacted to|Removed a .+ reaction from) ".*"', re.S)
DATE_IN_NAME_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})|GMT(\d{4})(\d{2})(\d{2})")
MEETING_CHAT = "meeting_saved_chat.txt"  # Zoom/<date time topic>/meeting_saved_chat.txt


class ZoomChatSource(ChatFileSource):
    type = "zoom_chat"
    what = "Zoom chat file"

    def configure_format(self, opts: Options) -> None:
        self.date = date_option(opts)

    def _fetch_folder(self, cursor: Cursor) -> FetchResult:
        """The folder's chat files, then Zoom's layout below it: one subfolder per meeting, each
        stamped in the cursor's `meetings` by subfolder name. A meeting's file refused whole is
        left out of the stamps, so every run says so again (`one_file`)."""
        result = super()._fetch_folder(cursor)
        seen = mapping(cursor.get("meetings"))
        stamps: dict[str, dict[str, int]] = {}
        warned = len(result.warnings)
        chats, unreadable = self._meeting_chats(self._meeting_folders())
        for folder, exc in unreadable:  # not gone: said on every run until it can be read
            self._refuse(folder, self.cannot_read(folder, exc).message, result)
        for path in chats:
            with self.one_file(path, result):
                stamp = file_stamp(self.stat(path))
                if seen.get(path.parent.name) != stamp:
                    result.add(self.read_chat(path, self.read_bytes(path)))
                    result.not_modified = False
                stamps[path.parent.name] = stamp
        here = {path.parent.name for path in chats} | {folder.name for folder, _ in unreadable}
        gone = sorted(set(seen) - here)
        if gone:
            result.warnings.append(self._gone_warning(gone, "meeting chat"))
        if len(result.warnings) > warned:
            result.not_modified = False
        if stamps or seen:
            result.cursor = {**(result.cursor or {}), "meetings": stamps}
        return result

    stamp_keys = ("files", "meetings")

    def holds_chats(self, files: list[Path]) -> bool:
        """Chat files, or meeting folders: a meeting without a saved chat is no mistake."""
        return bool(files) or bool(self._meeting_folders())

    def folder_stamps(self) -> dict[str, dict] | None:
        """Also None while a meeting folder cannot be read: fetch names it on every run."""
        stamps = super().folder_stamps()
        chats, unreadable = self._meeting_chats(self._meeting_folders())
        if unreadable:
            return None
        if stamps is not None and chats:
            stamps["meetings"] = {p.parent.name: file_stamp(self.stat(p)) for p in chats}
        return stamps

    def _meeting_folders(self) -> list[Path]:
        try:
            return sorted(
                p for p in self.path.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        except OSError as exc:
            raise self.cannot_read(self.path, exc) from None

    @staticmethod
    def _meeting_chats(meetings: list[Path]) -> tuple[list[Path], list[tuple[Path, OSError]]]:
        """Each meeting folder's saved chat file, its name in any case; one a meeting (the
        cursor stamps it under the meeting's name): Zoom's own spelling first. Also the meeting
        folders that cannot be listed, with why: such a folder is neither gone nor empty."""
        chats, unreadable = [], []
        for folder in meetings:
            try:
                named = [p for p in folder.iterdir() if p.name.lower() == MEETING_CHAT]
            except OSError as exc:
                unreadable.append((folder, exc))
                continue
            files = [p for p in named if p.is_file()]
            if files:
                chats.append(min(files, key=lambda p: (p.name != MEETING_CHAT, p.name)))
        return sorted(chats), unreadable

    def files_named(self) -> str:
        return f"*.txt files and no meeting folders (of {MEETING_CHAT})"

    def read_chat(self, path: Path, data: bytes) -> FetchResult:
        messages, dead, private = self.parse(path, data)
        day = messages[0].at.date().isoformat() if messages else ""
        result = chat_items(
            messages,
            source=self.name,
            platform="zoom",
            chat_key=f"{path.parent.name}/{path.stem}"
            if path.stem.startswith("meeting")
            else self.chat_key(path),
            label=f"Zoom chat {day}",
            gap=self.gap,
        )
        result.drop("private", private)  # direct messages are never read
        result.dead_letters.extend(dead)
        return result

    def _day_from_mtime(self, path: Path) -> date:
        """The file's modification date, or the one an earlier read of this same file took: a
        chat file touched since keeps its dates and ids."""
        return self.remembered_date(path, "day", lambda: date.fromtimestamp(path.stat().st_mtime))

    def parse(self, path: Path, data: bytes) -> tuple[list[Message], list[DeadLetter], int]:
        """Messages to everyone, unreadable lines, and how many private messages were skipped."""
        day = self.date or _date_in_name(path) or self._day_from_mtime(path)
        entries: list[dict] = []
        dead: list[DeadLetter] = []
        shown = self.shown_path(path)
        for line_no, raw in enumerate(decode_lines(data), start=1):
            match = FROM_RE.match(raw) or TAB_RE.match(raw)
            if match:
                sender, private = _sender(match["who"], tab=match.re is TAB_RE)
                entries.append(
                    {
                        "line": line_no,
                        "time": match["time"],
                        "sender": sender,
                        "private": private,
                        "lines": [match["text"] or ""],
                        "raw": [raw],
                    }
                )
            elif entries:
                entries[-1]["lines"].append(raw.strip())
                entries[-1]["raw"].append(raw)
            elif raw.strip():
                ref = f"{shown}:{line_no}"
                dead.append(self.dead_letter(ref, "not a Zoom chat message line", raw[:2000]))
        if not entries and dead:
            raise self.error(f"{shown} is not a {self.what}: no 'HH:MM:SS From …' lines")
        messages: list[Message] = []
        skipped = 0
        base = datetime.combine(day, datetime.min.time())
        previous = None
        for entry in entries:
            at = base + _clock(entry["time"])
            if previous and at < previous - timedelta(hours=12):
                base += timedelta(days=1)  # past midnight
                at += timedelta(days=1)
            previous = at
            if entry["private"]:
                skipped += 1
                continue
            messages.append(self._message(entry, at, shown, messages))
        return messages, dead, skipped

    def _message(self, entry: dict, at: datetime, shown: str, earlier: list[Message]) -> Message:
        lines = [line for line in entry["lines"] if line]
        reply_to = ""
        if lines:
            quoted = REPLYING_RE.match(lines[0])
            if quoted:
                lines = lines[1:]
                reply_to = _quoted_message(quoted["quote"], earlier)
        text = "\n".join(lines).strip()
        return Message(
            id=str(entry["line"]),
            author=entry["sender"],
            text=text,
            at=at.replace(tzinfo=self.tz),
            reply_to=reply_to,
            ref=f"{shown}:{entry['line']}",
            raw="\n".join(entry["raw"]),
            system=bool(REACTION_RE.match(text)),
        )


def _sender(who: str, tab: bool) -> tuple[str, bool]:
    """The sender's name, and whether the message went to one person only."""
    who = who.strip()
    if tab:
        return who, False
    split = re.match(r"^(?P<sender>.+?)\s{2}to\s{2}(?P<to>.+)$", who) or RECIPIENT_RE.match(who)
    if not split:
        return who, False
    # "Everyone" is public; "Bob(Direct Message)", "Bob(privately)" and any one person are not
    return split["sender"].strip(), not split["to"].strip().lower().startswith("everyone")


def _quoted_message(quote: str, earlier: list[Message]) -> str:
    """The id of the latest earlier message whose text starts with the quoted words."""
    quote = " ".join(quote.split())
    for message in reversed(earlier):
        if quote and " ".join(message.text.split()).startswith(quote):
            return message.id
    return ""


def _clock(value: str) -> timedelta:
    hours, minutes, *seconds = (int(x) for x in value.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds[0] if seconds else 0)


def _date_in_name(path: Path) -> date | None:
    for name in (path.name, path.parent.name):
        match = DATE_IN_NAME_RE.search(name)
        if match:
            y, m, d = (int(g) for g in match.groups() if g)
            try:
                return date(y, m, d)
            except ValueError:
                continue
    return None
