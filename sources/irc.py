"""IRC logs from common clients and bots: `type: irc`.

Accepted timestamps at the start of a line:
  `2005-01-08T23:33:54`, `[2009-01-14 10:36:00]`, `2009-01-14 10:36:00<TAB>` (weechat)
  `[14 Jan 10:36]` (dircproxy), `Jan 14 10:36:00` (xchat/hexchat), `[10:36]`, `10:36:12` (irssi,
  mIRC, ZNC)
then `<nick> text` (with `@`/`+` modes or a `nick!user@host` mask, whose dircproxy `+`/`-`
identify flag is dropped), `nick<TAB>text` (weechat), `* nick action`, or a notice (`***`,
`-->`, `<--`, `-!-`, `--`). Dates missing from lines come from `--- Day changed`/`Log opened`/
`BEGIN LOGGING AT` lines, else the `year` or `date` option, else a `YYYY-MM-DD` in the file name,
else the file's modification time (the log ends no later than it: `[31 Dec]` lines of a log
last written in January belong to the year before). A time earlier than the one before it means
midnight passed; `[01 Jan]` after `[31 Dec]` means a new year; `[29 Feb]` is read in a leap
year. Each
line is UTF-8, else Windows-1252, else Latin-1 (old logs mix them). IRC replies address people
as `nick: text`, which threads them to that person's last message.

Options: `path` (a log, or a folder of `*.log`/`*.txt`), `date` (the day the log starts), `year`
(the year of its first line), `timezone`, `gap_minutes`.
"""

from __future__ import annotations

import re
from calendar import isleap, monthrange
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pln.config import Options
from pln.record import DeadLetter
from pln.sources.base import FetchResult
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
# A log's clock may run ahead of the file's modification time by up to a time zone's offset
# (the `timezone` option left at UTC for a log written in local time).
CLOCK_SLACK = timedelta(hours=14)


class IrcLogSource(ChatFileSource):
    type = "irc"
    what = "IRC log"
    suffixes = (".log", ".txt")
    reads_rotated = True

    def configure_format(self, opts: Options) -> None:
        self.date = date_option(opts)
        self.year = opts.integer("year", default=0, min=1970)
        if self.year and self.year > 2200:
            raise opts.error("year", f"must be a year like 2009, got {self.year}")

    def read_chat(self, path: Path, data: bytes) -> FetchResult:
        messages, dead = self.parse(path, data)
        result = chat_items(
            messages,
            source=self.name,
            platform="irc",
            chat_key=self.chat_key(path),
            label=self.read_as(path).stem,
            gap=self.gap,
        )
        result.dead_letters.extend(dead)
        return result

    def parse(self, path: Path, data: bytes) -> tuple[list[Message], list[DeadLetter]]:
        """Messages (notices flagged `system`) and the lines that are not log lines.

        Where the log does not say the year, the `year` or `date` option says it, else a date
        in the file name, else the file's modification time: the log ends before it was last
        written, so the latest start that keeps the last line no later than that day (and every
        `29 Feb` in a leap year) is taken.
        """
        lines = [  # matched once, however many times the year search walks them
            (line_no, raw, _stamp(raw))
            for line_no, raw in enumerate(decode_lines(data), start=1)
            if raw.strip()
        ]
        if self.year:
            walk = _Walk(self, path, date(self.year, 1, 1), exact_year=True).run(lines)
        elif self.date or _date_in_name(path):
            walk = _Walk(self, path, self.date or _date_in_name(path)).run(lines)
        else:
            walk = self._from_mtime(path, lines)
        if walk.dead and (not walk.messages or len(walk.dead) > len(walk.messages)):
            shown = self.shown_path(path)
            raise self.error(f"{shown} is not an {self.what}: most lines have no timestamp")
        return walk.messages, walk.dead

    def _from_mtime(self, path: Path, lines: list[Line]) -> _Walk:
        """The walk from the start the mtime gives (below), or the start an earlier read of
        this same file took: a file touched, or grown past midnight, keeps its dates and ids."""
        start = self.remembered_date(path, "start", lambda: self._start_from_mtime(path, lines))
        return _Walk(self, path, start, exact_year=True).run(lines)

    def _start_from_mtime(self, path: Path, lines: list[Line]) -> date:
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        limit = written + CLOCK_SLACK
        start = written.astimezone(self.tz).date()
        chosen = fallback = None
        for _ in range(9):  # years back: 8 cover every leap-year cycle
            walk = _Walk(self, path, start, exact_year=True, dates_only=True).run(lines)
            chosen = chosen or start
            over = walk.end.replace(tzinfo=self.tz) - limit if walk.end else timedelta(0)
            late = over > timedelta(0)
            if not late and not walk.leap_errors:
                chosen = fallback = start
                break
            if not late and fallback is None:
                fallback = start
            if walk.month_days:  # the log names days: try the year before
                start = start.replace(year=start.year - 1, day=min(start.day, 28))
            elif late:  # clock times only: start as many days earlier as it ran over
                start -= timedelta(days=-(-over // timedelta(days=1)))
            else:
                break
        return fallback or chosen


class _Walk:
    """One pass over a log's lines from a start date; `exact_year` fixes the year of the first
    `[14 Jan ...]` line, else the year that puts it nearest to the start date is taken. A day
    or month earlier than the line before means the log passed midnight or New Year."""

    def __init__(
        self,
        source: IrcLogSource,
        path: Path,
        start: date,
        exact_year: bool = False,
        dates_only: bool = False,  # a trial walk: dates and errors, no messages
    ):
        self.source, self.path, self.start, self.exact_year = source, path, start, exact_year
        self.dates_only = dates_only
        self.messages: list[Message] = []
        self.dead: list[DeadLetter] = []
        self.leap_errors = 0
        self.month_days = False  # saw a `[14 Jan ...]`/`Jan 14 ...` stamp
        self.end: datetime | None = None
        self.day = start
        self.year: int | None = None  # the year of the last month-day stamp
        self.previous: datetime | None = None

    def run(self, lines: list[Line]) -> _Walk:
        name = self.source.shown_path(self.path)
        for line_no, raw, stamp in lines:
            day_line = DAY_LINE_RE.search(raw) if not stamp else None
            if day_line:
                found = _date(day_line["year"], day_line["mon"], day_line["day"])
                if found:
                    self.day, self.year = found, found.year
                continue
            if not stamp:
                reason = "not an IRC log line (no timestamp)"
                self.dead.append(self.source.dead_letter(f"{name}:{line_no}", reason, raw[:2000]))
                continue
            match, rest = stamp
            at, problem = self._time(match)
            if at is None:
                reason = problem or f"invalid timestamp {match.group(0).strip()!r}"
                self.dead.append(self.source.dead_letter(f"{name}:{line_no}", reason, raw[:2000]))
                continue
            self.day, self.previous, self.end = at.date(), at, at
            if not self.dates_only:
                self.messages.append(self._message(rest, at, raw, f"{name}:{line_no}", line_no))
        return self

    def _time(self, match: re.Match) -> tuple[datetime | None, str]:
        groups = match.groupdict()
        day = self.day
        if groups.get("iso"):
            try:
                day = date.fromisoformat(groups["iso"])
            except ValueError:
                return None, ""
            self.year = day.year
        elif groups.get("mon"):
            self.month_days = True
            month, dom = MONTHS[groups["mon"][:3].lower()], int(groups["day"])
            if not _valid_month_day(month, dom):
                return None, ""
            year = self._year_of(month, dom)
            self.year = year
            try:
                day = date(year, month, dom)
            except ValueError:  # 29 Feb in a year that is not a leap year
                self.leap_errors += 1
                return None, f"invalid date {dom} {groups['mon'][:3]} {year} (not a leap year)"
        parts = [int(x) for x in groups["clock"].split(":")]
        if parts[0] > 23 or parts[1] > 59 or (len(parts) > 2 and parts[2] > 59):
            return None, ""
        at = datetime.combine(day, time(*parts))
        clock_only = not (groups.get("iso") or groups.get("mon"))
        if clock_only and self.previous and at < self.previous - timedelta(hours=12):
            at += timedelta(days=1)  # a time-only log passed midnight
        return at, ""

    def _year_of(self, month: int, dom: int) -> int:
        """The year of a month-day stamp: the running year, one more after New Year."""
        if self.year is None:
            if self.exact_year:
                return self.start.year
            years = (self.start.year - 1, self.start.year, self.start.year + 1)
            return min(years, key=lambda y: abs(_ordinal(y, month, dom) - self.start.toordinal()))
        if _ordinal(self.year, month, dom) < self.day.toordinal() - 183:
            return self.year + 1  # [31 Dec] then [01 Jan]: a new year
        return self.year

    def _message(self, rest: str, at: datetime, raw: str, ref: str, line_no: int) -> Message:
        aware = at.replace(tzinfo=self.source.tz)
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


DAYS_IN_MONTH = {month: monthrange(2000, month)[1] for month in range(1, 13)}  # a leap year
Line = tuple[int, str, "tuple[re.Match, str] | None"]  # number, text, timestamp and the rest


def _valid_month_day(month: int, dom: int) -> bool:
    return 1 <= dom <= DAYS_IN_MONTH[month]


def _ordinal(year: int, month: int, dom: int) -> int:
    """Day number of a date; 29 Feb of a common year counts as 1 March."""
    if month == 2 and dom == 29 and not isleap(year):
        return date(year, 3, 1).toordinal()
    return date(year, month, dom).toordinal()


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
