"""IRC logs from common clients and bots: `type: irc`.

Accepted timestamps at the start of a line:
  `2005-01-08T23:33:54`, `[2009-01-14 10:36:00]`, `2009-01-14 10:36:00<TAB>` (weechat)
  `[14 Jan 10:36]` (dircproxy), `Jan 14 10:36:00` (xchat/hexchat), `[10:36]`, `10:36:12` (irssi,
  mIRC, ZNC)
then `<nick> text` (with `@`/`+` modes or a `nick!user@host` mask, whose dircproxy `+`/`-`
identify flag is dropped), `nick<TAB>text` (weechat), `* nick action`, or a notice (`***`,
`-->`, `<--`, `-!-`, `--`). Dates missing from lines come from `--- Day changed`/`Log opened`/
`BEGIN LOGGING AT` lines, else a `YYYY-MM-DD` in the file name, else the `date` option, else the
file's modification date; a time earlier than the one before it means midnight passed. Each
line is UTF-8, else Windows-1252, else Latin-1 (old logs mix them). IRC replies address people
as `nick: text`, which threads them to that person's last message.

Options: `path` (a log, or a folder of `*.log`/`*.txt`), `date`, `timezone`, `gap_minutes`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

from pln.config import Options
from pln.record import DeadLetter, Item
from pln.sources.chat import ChatFileSource, Message, chat_items, date_option, decode_lines

MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
CLOCK = r"(?P<clock>\d{1,2}:\d{2}(?::\d{2})?)"
STAMPS = [
    re.compile(rf"^\[?(?P<iso>\d{{4}}-\d{{2}}-\d{{2}})[T ]{CLOCK}(?:[.,]\d+)?\]?(?:\s+|(?=\t))"),
    re.compile(rf"^\[(?P<day>\d{{1,2}}) (?P<mon>{MON}) {CLOCK}\]\s*", re.I),
    re.compile(rf"^(?P<mon>{MON}) (?P<day>\d{{1,2}}) {CLOCK}\s*", re.I),
    re.compile(rf"^\[{CLOCK}\]\s*"),
    re.compile(rf"^{CLOCK}\s+"),
]
SAY_RE = re.compile(r"^<[@+%&~! ]?(?P<nick>[^\s>!]+)(?P<mask>![^\s>]*)?>\s?(?P<text>.*)$")
TAB_SAY_RE = re.compile(r"^\t?(?P<nick>[@+%&~]?[^\s\t<>*-][^\s\t]*)\t(?P<text>.*)$")
ACTION_RE = re.compile(r"^\t?\s?\*\t?\s?(?P<nick>[^\s*]+) (?P<text>.+)$")
NOTICE_RE = re.compile(r"^(?:\*\*\*|-->|<--|-!-|--|=!=|\*\*\*\*)(?:\s|\t|$)|^-\S+-\s")
DAY_LINE_RE = re.compile(
    rf"(?:Day changed|Log (?:opened|closed)|(?:BEGIN|ENDING) LOGGING AT|Session (?:Start|Close):)\s+\w+\s+(?P<mon>{MON})\s+"
    r"(?P<day>\d{1,2})(?:\s+[\d:]+)?\s+(?P<year>\d{4})",
    re.I,
)
DATE_IN_NAME_RE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


class IrcLogSource(ChatFileSource):
    type = "irc"
    what = "IRC log"
    pattern = "*.[lt][ox][gt]"  # *.log and *.txt

    def configure_format(self, opts: Options) -> None:
        self.date = date_option(opts)

    def read_chat(self, path: Path, data: bytes) -> tuple[list[Item], list[DeadLetter]]:
        messages, dead = self.parse(path, data)
        items = chat_items(
            messages,
            source=self.name,
            platform="irc",
            chat_key=path.stem,
            label=path.stem,
            gap=self.gap,
        )
        return items, dead

    def parse(self, path: Path, data: bytes) -> tuple[list[Message], list[DeadLetter]]:
        """Messages (notices flagged `system`) and the lines that are not log lines."""
        day = _date_in_name(path) or self.date or date.fromtimestamp(path.stat().st_mtime)
        messages: list[Message] = []
        dead: list[DeadLetter] = []
        previous: datetime | None = None
        for line_no, raw in enumerate(decode_lines(data), start=1):
            if not raw.strip():
                continue
            day_line = DAY_LINE_RE.search(raw)
            if day_line and not _stamp(raw):
                day = _date(day_line["year"], day_line["mon"], day_line["day"]) or day
                continue
            stamp = _stamp(raw)
            if not stamp:
                reason = "not an IRC log line (no timestamp)"
                dead.append(self.dead_letter(f"{path.name}:{line_no}", reason, raw[:2000]))
                continue
            match, rest = stamp
            at = self._time(match, day, previous)
            if at is None:
                reason = f"invalid timestamp {match.group(0).strip()!r}"
                dead.append(self.dead_letter(f"{path.name}:{line_no}", reason, raw[:2000]))
                continue
            day, previous = at.date(), at
            messages.append(self._message(rest, at, raw, f"{path.name}:{line_no}", line_no))
        if dead and (not messages or len(dead) > len(messages)):
            raise self.error(f"{path} is not an {self.what}: most lines have no timestamp")
        return messages, dead

    def _time(self, match: re.Match, day: date, previous: datetime | None) -> datetime | None:
        groups = match.groupdict()
        if groups.get("iso"):
            try:
                day = date.fromisoformat(groups["iso"])
            except ValueError:
                return None
        elif groups.get("mon"):
            found = _date(str(day.year), groups["mon"], groups["day"])
            if found is None:
                return None
            day = found
        parts = [int(x) for x in groups["clock"].split(":")]
        if parts[0] > 23 or parts[1] > 59 or (len(parts) > 2 and parts[2] > 59):
            return None
        at = datetime.combine(day, time(*parts))
        if previous and not groups.get("iso") and at < previous - timedelta(hours=12):
            at += timedelta(days=1)  # a time-only log passed midnight
        return at

    def _message(self, rest: str, at: datetime, raw: str, ref: str, line_no: int) -> Message:
        aware = at.replace(tzinfo=self.tz)
        say = SAY_RE.match(rest)
        if say:
            text = say["text"]
            if say["mask"] and text[:1] in "+-":
                text = text[1:]  # dircproxy's identified (+) / not identified (-) flag
            return Message(str(line_no), say["nick"], text.strip(), aware, ref=ref, raw=raw)
        action = ACTION_RE.match(rest)
        if action and not NOTICE_RE.match(rest):
            text = f"{action['nick']} {action['text'].strip()}"  # "/me waves": "nick waves"
            return Message(str(line_no), action["nick"], text, aware, ref=ref, raw=raw)
        tab = TAB_SAY_RE.match(rest)
        if tab and not NOTICE_RE.match(rest):
            nick = tab["nick"].lstrip("@+%&~")
            return Message(str(line_no), nick, tab["text"].strip(), aware, ref=ref, raw=raw)
        return Message(str(line_no), "", rest.strip(), aware, ref=ref, raw=raw, system=True)


def _stamp(line: str) -> tuple[re.Match, str] | None:
    for pattern in STAMPS:
        match = pattern.match(line)
        if match:
            return match, line[match.end() :]
    return None


def _date(year: str, mon: str, day: str) -> date | None:
    try:
        return date(int(year), MONTHS[mon[:3].lower()], int(day))
    except (KeyError, ValueError):
        return None


def _date_in_name(path: Path) -> date | None:
    match = DATE_IN_NAME_RE.search(path.name)
    if not match:
        return None
    try:
        return date(*(int(g) for g in match.groups()))
    except ValueError:
        return None
