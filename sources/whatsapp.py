"""WhatsApp "Export chat" text files: `type: whatsapp`.

Accepted line headers (each starts a message; other lines continue the message above):
  Android  `31/12/2020, 23:59 - Name: text`, `12/31/20, 11:59 PM - Name: text`, `31.12.20, 23:59 - …`
  iOS      `[31/12/2020, 23:59:59] Name: text`, `[12/31/20, 11:59:59 PM] Name: text`
  ISO      `2020-12-31, 23:59 - Name: text`
Day-first or month-first dates are told apart per file (a day above 12, else the order that keeps
the messages in time order, else month-first with AM/PM clocks and day-first without, with a
warning); the `date_order` option (`dmy`, `mdy`, `ymd`) settles it. `<Media omitted>`, `image
omitted` and `<attached: …>` become messages without text; lines without `Name:` (joins, subject changes)
and "end-to-end encrypted" banners are notices.

A message deleted for everyone ("This message was deleted", "You deleted this message", and
their German, Spanish, French, Portuguese, Italian and Dutch forms) keeps its place in its
thread, so the thread keeps its id, but adds no text: the re-export updates the stored item and
the deleted text leaves it. A thread holding one is never dropped as chatter, for that reason.

The export may be the `.txt` or the `.zip` the phone shares (iOS: `_chat.txt` with the media;
Android: `WhatsApp Chat with <name>.txt`); the zip is read in memory, never extracted. The chat
is named by the file's stem without a browser's copy number, so `WhatsApp Chat with X.txt`,
`… (1).txt` and `….zip` are one chat. In a folder, the exports of one chat are read together,
as one chat, whenever one of them changes: a message the newest export (by its last message)
also holds is read from it, and counted as `older export` in the others, so a thread is one
item and shows what the newest export says.

Options: `path` (an export, or a folder of `*.txt`/`*.zip` exports), `timezone`, `gap_minutes`,
`date_order`.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pln.config import Options
from pln.errors import SourceError
from pln.record import DeadLetter, Item
from pln.sources.base import Cursor, FetchResult
from pln.sources.chat import (
    ChatFileSource,
    Message,
    chat_items,
    decode_lines,
)

INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u2066\u2067\u2068\u2069"))
DATE = r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
TIME = r"\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:\s?[AaPp]\.?\s?[Mm]\.?)?"
HEADER_RE = re.compile(
    rf"^(?:\[(?P<d1>{DATE}),?\s(?P<t1>{TIME})\]\s|(?P<d2>{DATE}),?\s(?P<t2>{TIME})\s[-\u2013]\s)(?P<body>.*)$"
)
AUTHOR_RE = re.compile(r"^(?P<author>[^:\n]{1,80}?):\s(?P<text>.*)$", re.DOTALL)
MEDIA_RE = re.compile(
    r"^(?:<?(?:media|image|video|audio|sticker|gif|document|contact card|file) omitted>?"
    r"|<attached: [^>]+>|.+ \(file attached\))$",
    re.IGNORECASE,
)
NOTICE_TEXT_RE = re.compile(
    r"^(?:waiting for this message"
    r"|messages (?:and calls )?(?:to this (?:group|chat) )?are (?:now secured with )?end-to-end"
    r"|your security code with )",
    re.I,
)
NOTICE_IN_AUTHOR_RE = re.compile(
    r"\b(?:changed the (?:subject|group)|created group|added|removed|left|joined)\b", re.I
)
DELETED_RE = re.compile(
    r"^(?:this message was deleted|you deleted this message"
    r"|diese nachricht wurde gelöscht|du hast diese nachricht gelöscht"
    r"|se eliminó este mensaje|este mensaje fue eliminado|eliminaste este mensaje"
    r"|ce message a été supprimé|vous avez supprimé ce message"
    r"|(?:esta|essa) mensagem foi apagada|mensagem apagada|você apagou esta mensagem"
    r"|questo messaggio è stato eliminato|hai eliminato questo messaggio"
    r"|dit bericht is verwijderd|je hebt dit bericht verwijderd)(?:\.|\s+by\s.+)?$",
    re.I,
)
# Every deletion reads so: enough words to open its thread, as the deleted text did.
DELETED = "This message was deleted"
DELETED_LINE_RE = re.compile(rf"^@[^:\n]*: {DELETED}$")  # one in an item's text
OLDER_EXPORT = "older export"
COPY_NUMBER_RE = re.compile(r"\s?\(\d{1,3}\)$")  # "X (1)" (Chrome, Edge), "X(1)" (Firefox)
ORDERS = ("dmy", "mdy", "ymd")
ORDER_NAMES = {"dmy": "day/month/year", "mdy": "month/day/year", "ymd": "year/month/day"}
CHAT_MEMBER_RE = re.compile(r"(?:^|/)(?:_chat|WhatsApp Chat[^/]*)\.txt$", re.I)


class WhatsAppSource(ChatFileSource):
    type = "whatsapp"
    what = "WhatsApp chat export"
    suffixes = (".txt", ".zip")
    follows_renames = False  # a chat is named by its file's stem (chat_key), whatever it had

    def configure_format(self, opts: Options) -> None:
        self.date_order = opts.text("date_order", default="auto", choices=("auto", *ORDERS))
        self.notes: list[str] = []  # warnings of the export being read

    def chat_key(self, path: Path) -> str:
        """The chat a file holds: its stem without a browser's copy number, so a re-export saved
        as `… (1).txt`, or as the `.zip`, updates the same items."""
        return COPY_NUMBER_RE.sub("", path.stem) or path.stem

    def read_bytes(self, path: Path, *, text: bool = True) -> bytes:
        """The chat text: the file itself, or the chat `.txt` inside an export `.zip`."""
        data = super().read_bytes(path, text=False)
        if data.startswith(b"PK\x03\x04"):
            data = self._chat_in_zip(path, data)
        return self.text_of(path, data) if text else data

    def _chat_in_zip(self, path: Path, data: bytes) -> bytes:
        """iOS zips hold `_chat.txt`, Android ones `WhatsApp Chat with <name>.txt`, with media."""
        shown = self.shown_path(path)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                texts = [i for i in zf.infolist() if i.filename.lower().endswith(".txt")]
                chats = [i for i in texts if CHAT_MEMBER_RE.search(i.filename)] or texts
                if len(chats) != 1:
                    found = ", ".join(i.filename for i in chats) or "no .txt file"
                    raise self.error(
                        f"{shown} is a zip but not one WhatsApp chat export "
                        f"(expected _chat.txt or one 'WhatsApp Chat ….txt'; found {found})"
                    )
                with zf.open(chats[0]) as member:
                    text = member.read(self.max_bytes + 1)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError) as exc:
            raise self.error(f"{shown} is not a readable zip archive: {exc}") from None
        if len(text) > self.max_bytes:
            raise self.too_big(f"{shown}: the chat inside", "is over")
        return text

    def read_chat(self, path: Path, data: bytes) -> FetchResult:
        """Items of the one export `path` (a source naming a file)."""
        export = self.read_export(path, data, self.stat(path).st_mtime_ns)
        return self.chat_result(self.chat_key(path), [export])

    def read_files(self, names: list[str], cursor: Cursor, result: FetchResult) -> None:
        """Each chat with a changed export, from all of its exports in the folder (those that
        cannot be read are left out; a changed one is refused on its own turn)."""
        files = result.cursor["files"]
        done: set[str] = set()
        for name in names:
            if name in done:
                continue
            path = self.path / name
            with self.one_file(path, result):
                exports = [self._export(name, files)]
                done.add(name)
                key = self.chat_key(path)
                for other in files:
                    if other in done or self.chat_key(self.path / other) != key:
                        continue
                    try:
                        exports.append(self._export(other, files))
                    except SourceError:
                        continue
                    done.add(other)
                result.add(self.chat_result(key, exports))

    def _export(self, name: str, files: dict[str, dict[str, int]]) -> Export:
        path = self.path / name
        return self.read_export(path, self.read_bytes(path), files[name]["mtime_ns"])

    def chat_result(self, key: str, exports: list[Export]) -> FetchResult:
        """Items of one chat from its exports: the newest export's copy of a message wins."""
        messages, older = merge_exports(exports)
        result = chat_items(
            messages,
            source=self.name,
            platform="whatsapp",
            chat_key=key,
            label=re.sub(r"^WhatsApp Chat (?:with|-) ", "", key),
            gap=self.gap,
        )
        result.items = [_without_deleted(item) for item in result.items]
        result.dead_letters.extend(d for e in exports for d in e.dead)
        result.warnings.extend(note for e in exports for note in e.notes)
        result.drop(OLDER_EXPORT, older)
        return result

    def read_export(self, path: Path, data: bytes, mtime_ns: int) -> Export:
        self.notes = []
        messages, dead = self.parse(path, data)
        newest = max((m.at for m in messages), default=datetime.min.replace(tzinfo=UTC))
        return Export(path, messages, dead, (newest, mtime_ns, path.name), self.notes)

    def _date_order(self, path: Path, dates: list[str], entries: list[dict]) -> str:
        """The export's date order: told by its dates or their time order, else guessed from
        its clock, and then said, since `date_order` settles it. The order is kept in the
        cursor, so a later read of the same file, grown, says when its new lines change it."""
        order, sure = guess_date_order(dates, [e["time"] for e in entries])
        if not dates:
            return order
        was = self.recall(path, "date_order")
        self.remember(path, "date_order", order)
        shown = self.shown_path(path)
        if was in ORDERS and was != order:
            self.notes.append(
                f"{shown}: its dates are {ORDER_NAMES[order]}, as its new lines show, not "
                f"{ORDER_NAMES[was]} as read before: its threads are read again with the "
                "right dates, and the ones stored under the wrong dates stay in the store"
            )
        elif not sure:
            other = "mdy" if order == "dmy" else "dmy"
            self.notes.append(
                f"{shown}: its dates ({dates[0]} to {dates[-1]}) could be day/month or "
                f"month/day; read as {ORDER_NAMES[order]} (set date_order: {other} if wrong)"
            )
        return order

    def parse(self, path: Path, data: bytes) -> tuple[list[Message], list[DeadLetter]]:
        """Messages of one export (notices flagged `system`) and its unreadable lines."""
        entries: list[dict] = []  # header fields and text lines, before dates are decided
        dead: list[DeadLetter] = []
        shown = self.shown_path(path)
        for line_no, raw in enumerate(decode_lines(data), start=1):
            line = raw.translate(INVISIBLE).replace("\u202f", " ").replace("\xa0", " ")
            match = HEADER_RE.match(line)
            if match:
                entries.append(
                    {
                        "line": line_no,
                        "date": match["d1"] or match["d2"],
                        "time": match["t1"] or match["t2"],
                        "lines": [match["body"]],
                        "raw": [raw],
                    }
                )
            elif entries:
                entries[-1]["lines"].append(line)
                entries[-1]["raw"].append(raw)
            elif line.strip():
                dead.append(
                    self.dead_letter(
                        f"{shown}:{line_no}", "not a WhatsApp message line", raw[:2000]
                    )
                )
        if dead and (not entries or len(dead) > len(entries)):
            raise self.error(f"{shown} is not a {self.what}: most lines are not messages")
        order = self.date_order
        if order == "auto":
            order = self._date_order(path, [e["date"] for e in entries], entries)
        messages = []
        for entry in entries:
            ref = f"{shown}:{entry['line']}"
            at = _datetime(entry["date"], entry["time"], order)
            if at is None:
                reason = f"invalid date {entry['date']} {entry['time']} (read as {order})"
                dead.append(self.dead_letter(ref, reason, "\n".join(entry["raw"])))
                continue
            messages.append(_message(entry, at.replace(tzinfo=self.tz), ref))
        return messages, dead


def _message(entry: dict, at: datetime, ref: str) -> Message:
    body = "\n".join(entry["lines"]).strip()
    match = AUTHOR_RE.match(body)
    system = not match or bool(NOTICE_IN_AUTHOR_RE.search(match["author"]))
    author, text = (match["author"].strip(), match["text"].strip()) if match else ("", body)
    if MEDIA_RE.match(text):
        text = ""
    if DELETED_RE.match(text):
        text = DELETED
    elif NOTICE_TEXT_RE.match(text):  # iOS posts notices under the group's name
        system = True
    return Message(
        id=str(entry["line"]),
        author=author,
        text=text,
        at=at,
        ref=ref,
        raw="\n".join(entry["raw"]),
        system=system,
    )


@dataclass
class Export:
    """One export file of a chat: its messages, unreadable lines, and age among the chat's
    exports."""

    path: Path
    messages: list[Message]
    dead: list[DeadLetter]
    age: tuple  # (last message time, modification time, name): the newest sorts last
    notes: list[str] = field(default_factory=list)  # warnings of its reading


def merge_exports(exports: list[Export]) -> tuple[list[Message], int]:
    """The messages of one chat's exports, and how many were left out as `older export`.

    The newest export's messages all count; an older one's count unless a newer export has a
    message at that time by the same author (a deletion or an edit since) or with the same text
    (a contact named since)."""
    kept: list[Message] = []
    unmatched: dict[datetime, list[Message]] = {}  # kept messages no older one has matched
    older = 0
    for export in sorted(exports, key=lambda e: e.age, reverse=True):
        fresh = []
        for message in export.messages:
            same = unmatched.get(message.at, [])
            match = next((m for m in same if _same_message(m, message)), None)
            if match is None:
                fresh.append(message)
            else:
                same.remove(match)
                older += 1
        for message in fresh:
            unmatched.setdefault(message.at, []).append(message)
        kept += fresh
    return kept, older


def _same_message(newer: Message, older: Message) -> bool:
    return newer.system == older.system and (
        newer.author == older.author or newer.text == older.text
    )


def _without_deleted(item: Item) -> Item:
    """The item without the lines of its deleted messages (a deleted root leaves its first line
    blank, as an attachment does)."""
    lines = item.text.split("\n")
    kept = [line for line in lines[1:] if not DELETED_LINE_RE.match(line)]
    first = "" if lines[0] == DELETED else lines[0]
    if len(kept) == len(lines) - 1 and first == lines[0]:
        return item
    return item.replaced(text="\n".join([first, *kept]))


def guess_date_order(dates: list[str], times: list[str]) -> tuple[str, bool]:
    """ "dmy", "mdy" or "ymd" for the dates of one export (see the module docstring), and
    whether the dates told it (a year first, a day above 12, or the order that keeps the
    messages in time order) rather than the clock's style alone."""
    parts = [_split(d) for d in dates]
    if any(len(p[0]) == 4 for p in parts):
        return "ymd", True
    if any(int(p[0]) > 12 for p in parts):
        return "dmy", True
    if any(int(p[1]) > 12 for p in parts):
        return "mdy", True
    backwards = {}
    for order in ("dmy", "mdy"):
        stamps = [_datetime(d, t, order) for d, t in zip(dates, times, strict=True)]
        stamps = [s for s in stamps if s]
        backwards[order] = sum(a > b for a, b in zip(stamps, stamps[1:], strict=False))
    if backwards["dmy"] != backwards["mdy"]:
        return min(backwards, key=backwards.get), True
    twelve_hour = any(re.search(r"[AaPp]\.?\s?[Mm]", t) for t in times)
    return ("mdy" if twelve_hour else "dmy"), False


def _split(date: str) -> list[str]:
    return re.split(r"[./-]", date)


def _datetime(date: str, time: str, order: str) -> datetime | None:
    a, b, c = _split(date)
    year, month, day = {"dmy": (c, b, a), "mdy": (c, a, b), "ymd": (a, b, c)}[order]
    clock = re.match(r"(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?\s?(?:([AaPp])\.?\s?[Mm]\.?)?", time)
    hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
    if clock[4]:
        if hour > 12:
            return None
        hour = hour % 12 + (12 if clock[4].lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    try:
        year_n = int(year) + (2000 if len(year) <= 2 else 0)
        return datetime(year_n, int(month), int(day)) + timedelta(
            hours=hour, minutes=minute, seconds=second
        )
    except ValueError:
        return None
