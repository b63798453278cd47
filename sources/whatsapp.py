"""WhatsApp "Export chat" text files: `type: whatsapp`.

Accepted line headers (each starts a message; other lines continue the message above):
  Android  `31/12/2020, 23:59 - Name: text`, `12/31/20, 11:59 PM - Name: text`, `31.12.20, 23:59 - …`
  iOS      `[31/12/2020, 23:59:59] Name: text`, `[12/31/20, 11:59:59 PM] Name: text`
  ISO      `2020-12-31, 23:59 - Name: text`
Day-first or month-first dates are told apart per file (a day above 12, else the order that keeps
the messages in time order, else month-first with AM/PM clocks and day-first without); the
`date_order` option (`dmy`, `mdy`, `ymd`) settles it. `<Media omitted>`, `image omitted` and
`<attached: …>` become messages without text; lines without `Name:` (joins, subject changes),
"end-to-end encrypted" banners and deleted messages are notices.

The export may be the `.txt` or the `.zip` the phone shares (iOS: `_chat.txt` with the media;
Android: `WhatsApp Chat with <name>.txt`); the zip is read in memory, never extracted.

Options: `path` (an export, or a folder of `*.txt`/`*.zip` exports), `timezone`, `gap_minutes`,
`date_order`.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from datetime import datetime, timedelta
from pathlib import Path

from pln.config import Options
from pln.record import DeadLetter
from pln.sources.base import FetchResult
from pln.sources.chat import (
    MAX_FILE_BYTES,
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
    r"^(?:this message was deleted|you deleted this message|waiting for this message"
    r"|messages (?:and calls )?(?:to this (?:group|chat) )?are (?:now secured with )?end-to-end"
    r"|your security code with )",
    re.I,
)
NOTICE_IN_AUTHOR_RE = re.compile(
    r"\b(?:changed the (?:subject|group)|created group|added|removed|left|joined)\b", re.I
)
ORDERS = ("dmy", "mdy", "ymd")
CHAT_MEMBER_RE = re.compile(r"(?:^|/)(?:_chat|WhatsApp Chat[^/]*)\.txt$", re.I)


class WhatsAppSource(ChatFileSource):
    type = "whatsapp"
    what = "WhatsApp chat export"
    pattern = "*.[tz][xi][tp]"  # *.txt and *.zip

    def configure_format(self, opts: Options) -> None:
        self.date_order = opts.text("date_order", default="auto", choices=("auto", *ORDERS))

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
                    text = member.read(MAX_FILE_BYTES + 1)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError) as exc:
            raise self.error(f"{shown} is not a readable zip archive: {exc}") from None
        if len(text) > MAX_FILE_BYTES:
            raise self.error(f"{shown}: the chat inside is over {MAX_FILE_BYTES >> 20} MiB")
        return text

    def read_chat(self, path: Path, data: bytes) -> FetchResult:
        messages, dead = self.parse(path, data)
        chat = re.sub(r"^WhatsApp Chat (?:with|-) ", "", path.stem)
        result = chat_items(
            messages,
            source=self.name,
            platform="whatsapp",
            chat_key=self.chat_key(path),
            label=chat,
            gap=self.gap,
        )
        result.dead_letters.extend(dead)
        return result

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
            order = guess_date_order([e["date"] for e in entries], [e["time"] for e in entries])
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
    if NOTICE_TEXT_RE.match(text):  # iOS posts notices under the group's name
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


def guess_date_order(dates: list[str], times: list[str]) -> str:
    """ "dmy", "mdy" or "ymd" for the dates of one export (see the module docstring)."""
    parts = [_split(d) for d in dates]
    if any(len(p[0]) == 4 for p in parts):
        return "ymd"
    if any(int(p[0]) > 12 for p in parts):
        return "dmy"
    if any(int(p[1]) > 12 for p in parts):
        return "mdy"
    backwards = {}
    for order in ("dmy", "mdy"):
        stamps = [_datetime(d, t, order) for d, t in zip(dates, times, strict=True)]
        stamps = [s for s in stamps if s]
        backwards[order] = sum(a > b for a, b in zip(stamps, stamps[1:], strict=False))
    if backwards["dmy"] != backwards["mdy"]:
        return min(backwards, key=backwards.get)
    twelve_hour = any(re.search(r"[AaPp]\.?\s?[Mm]", t) for t in times)
    return "mdy" if twelve_hour else "dmy"


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
