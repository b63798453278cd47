"""Chat messages and how they become threads: shared by every chat source.

A chat source parses its format into `Message`s; `group_threads` joins them into `Thread`s, and
`thread_item` turns each thread into one `chat_thread` Item (`chat_items` does both for one
chat), and `ChatFileSource` is the base of the sources that read export files. Threading rules,
in order:

1. explicit reply chains (`Message.reply_to`: Slack `thread_ts`, Discord references);
2. the Q<n>/A<n> convention of hashtag chats: each `A<n>` joins the nearest `Q<n>` by number, even
   when it arrives late, after later questions; a `Q<n>` repeated within `SESSION` is the same
   question (a co-host re-posting it), later it starts a new one (next week's chat);
3. implicit replies: a message that starts with `@name` (or IRC-style `name:`/`name,`) joins the
   thread of that person's latest message if it was at most one `gap` earlier;
4. time gaps: the messages left over are grouped while each follows the previous within `gap`;
   such a conversation ends after `CONVERSATION_SPAN`, `CONVERSATION_MESSAGES` messages or
   `CONVERSATION_CHARS` characters, and the next message opens the next one.

A thread of rules 1-3 stays whole unless its text would pass what an item holds
(`MAX_TEXT_CHARS`): then it goes on in parts, each keyed by its own first message, so no message
is cut from the text that topics are matched against.

System notices (joins, leaves, "messages are end-to-end encrypted") never join a thread.

Nothing is lost silently: every message ends up in exactly one thread item, or is counted in
the fetch's `drops` with its reason ("notice"; "chatter" for a thread of fewer than `MIN_WORDS`
words with no question, answer, reply (explicit or by name) or link; "empty" for one with no
words at all). Thread ids are unique within a chat by construction: a second thread whose key
is taken (two threads opened by one person within the same minute of a minute-resolution log)
gets `.2`, then `.3`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pln.clean import MAX_TEXT_CHARS
from pln.config import Options
from pln.errors import SourceError
from pln.progress import counted, first_names
from pln.record import CURSOR_LASTING, Item
from pln.sources.base import (
    Cursor,
    FetchResult,
    Source,
    bom_encoding,
    not_regular,
    read_capped,
)
from pln.text import HASHTAG_RE

SESSION = timedelta(hours=6)
MAX_ROTATED = 9  # the most rotated files of one log (`a.log.1` to `a.log.9`) read
MAX_FILE_BYTES = 64 * 1024 * 1024  # the default of `max_file_mb`
MAX_FILE_MB = 1024  # the most `max_file_mb` allows: a JSON export takes ~5x its size in memory
MIN_WORDS = 3  # a thread without a question and with fewer words is chatter ("hi", "lol")
# A conversation found by time gaps alone ends after this long, this many messages or this many
# characters, as people take a chat room's talk: a busy day becomes several items, each curated
# whole, instead of one item cut at MAX_TEXT_CHARS.
CONVERSATION_SPAN = timedelta(hours=3)
CONVERSATION_MESSAGES = 200
CONVERSATION_CHARS = 20_000

MENTION_RE = re.compile(r"(?<![\w@./])@([A-Za-z0-9_](?:[\w.\-]*\w)?)")
URL_RE = re.compile(r"https?://[^\s<>\"'`]+")
_LEADING_MENTIONS = r"(?:@[\w.\-]+[:,]?\s+)*"
QA_RE = re.compile(
    rf"^{_LEADING_MENTIONS}(?P<kind>[QqAa])(?P<n>\d{{1,2}})[a-z]?(?=$|[\s.:)\-\u2013\u2014/,])"
)
QA_PREFIX_RE = re.compile(r"^[QqAa]\d{1,2}[a-z]?\s*[.:)\-\u2013\u2014/,]*\s*")
ADDRESSEE_RE = re.compile(r"^@([\w.\-]+)|^([\w.\-\[\]{}|^`]+)[:,](?:\s|$)")


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message, as every chat parser produces it."""

    id: str  # unique within one chat: line number, Slack ts, Discord id
    author: str
    text: str
    at: datetime  # aware
    reply_to: str = ""  # id of the message this one answers (explicit reply chain)
    ref: str = ""  # where it came from, e.g. "data/chats/export.txt:12"
    raw: str = ""  # the original line(s) or JSON record
    links: tuple[str, ...] = ()  # links not written in the text (attachments, files)
    system: bool = False  # a notice from the platform, not a person


@dataclass
class Thread:
    """Messages that belong together, in time order; `root` opens the thread."""

    messages: list[Message]
    root: Message
    how: str  # "reply", "qa" or "gap": which rule formed it
    question: int | None = None  # n when the root is the question Q<n>
    replied: bool = False  # someone answered someone in it (a reply chain or `@name`/`name:`)
    continues: Message | None = None  # a later part of a long thread: the root of its first part

    @property
    def participants(self) -> list[str]:
        return _unique([self.root.author] + [m.author for m in self.messages])

    @property
    def words(self) -> int:
        return sum(_words(m) for m in self.messages)

    @property
    def trivial(self) -> bool:
        """Chatter worth no item: no question, answer, reply or link, and too few words."""
        if self.question is not None or self.replied or self.words >= MIN_WORDS:
            return False
        return not any(
            m.reply_to or m.links or qa_label(m.text) or URL_RE.search(m.text)
            for m in self.messages
        )

    @property
    def drop_reason(self) -> str:
        return "empty" if self.words == 0 else "chatter"


@dataclass
class _Components:
    """Union-find over message indexes."""

    parent: list[int] = field(default_factory=list)

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def alone(self, i: int, sizes: dict[int, int]) -> bool:
        return sizes.get(self.find(i), 1) == 1


def qa_label(text: str) -> tuple[str, int] | None:
    """("Q", 1) for "Q1. What...", ("A", 2) for "@host A2: ...", else None."""
    match = QA_RE.match(text.lstrip())
    if not match:
        return None
    return match["kind"].upper(), int(match["n"])


def group_threads(messages: Iterable[Message], gap: timedelta) -> list[Thread]:
    """Group messages into threads by reply chains, Q/A numbers, @-replies, then time gaps."""
    msgs = sorted((m for m in messages if not m.system), key=lambda m: m.at)  # stable
    comps = _Components(list(range(len(msgs))))
    explicit = _link_replies(msgs, comps)
    questions = _link_questions(msgs, comps)
    labelled = {i for i, m in enumerate(msgs) if qa_label(m.text)}
    mentioned = _link_mention_replies(msgs, comps, gap, skip=explicit | labelled)
    _link_gaps(msgs, comps, gap)

    groups: dict[int, list[int]] = {}
    for i in range(len(msgs)):
        groups.setdefault(comps.find(i), []).append(i)
    replied = explicit | set(mentioned)
    threads = []
    for members in groups.values():
        qs = [i for i in members if i in questions]
        how = "qa" if qs else ("reply" if any(i in explicit for i in members) else "gap")
        if how == "gap":
            parts = _conversations(msgs, members)
            threads += [_thread(msgs, part, _opener(msgs, part), how, replied) for part in parts]
            continue
        root = qs[0] if qs else members[0]
        first, *rest = _by_size(msgs, [root] + [i for i in members if i != root])
        threads.append(_thread(msgs, first, root, how, replied, questions.get(root)))
        for part in rest:  # in time order, so the root is the part's first message
            part.sort()
            threads.append(_thread(msgs, part, part[0], how, replied, None, msgs[root]))
    threads.sort(key=lambda t: (t.root.at, t.messages[0].at))
    return threads


def _thread(
    msgs: list[Message],
    members: list[int],
    root: int,
    how: str,
    replied: set[int],
    question: int | None = None,
    continues: Message | None = None,
) -> Thread:
    return Thread(
        messages=[msgs[i] for i in sorted(members)],
        root=msgs[root],
        how=how,
        question=question,
        replied=any(i in replied for i in members),
        continues=continues,
    )


def _opener(msgs: list[Message], members: list[int]) -> int:
    """Open chatter with what was said, not with a "hi"."""
    return next((i for i in members if _words(msgs[i]) >= MIN_WORDS), members[0])


def _conversations(msgs: list[Message], members: list[int]) -> list[list[int]]:
    """`members` (in time order) cut into conversations of bounded span, count and size.

    Each cut depends only on the messages before it, so a growing export keeps its earlier
    conversations, and their ids."""
    parts: list[list[int]] = [[]]
    chars = 0
    for i in members:
        part, size = parts[-1], _line_chars(msgs[i])
        if part and (
            msgs[i].at - msgs[part[0]].at > CONVERSATION_SPAN
            or len(part) >= CONVERSATION_MESSAGES
            or chars + size > CONVERSATION_CHARS
        ):
            part, chars = [], 0
            parts.append(part)
        part.append(i)
        chars += size
    return parts


def _by_size(msgs: list[Message], ordered: list[int]) -> list[list[int]]:
    """`ordered` (root first, as the item's text lists them) in parts whose text fits in an
    item; a single message longer than that is a part of its own."""
    parts: list[list[int]] = [[]]
    chars = 0
    for i in ordered:
        size = _line_chars(msgs[i])
        if parts[-1] and chars + size > MAX_TEXT_CHARS:
            parts.append([])
            chars = 0
        parts[-1].append(i)
        chars += size
    return parts


def _line_chars(message: Message) -> int:
    """At most what `message` adds to its item's text (`@author: text` and a newline)."""
    return len(message.author) + len(message.text) + 4 if message.text else 0


def _link_replies(msgs: list[Message], comps: _Components) -> set[int]:
    index = {m.id: i for i, m in enumerate(msgs)}
    linked: set[int] = set()
    for i, m in enumerate(msgs):
        parent = index.get(m.reply_to) if m.reply_to else None
        if parent is not None and parent != i:
            comps.union(i, parent)
            linked.update((i, parent))
    return linked


def _link_questions(msgs: list[Message], comps: _Components) -> dict[int, int]:
    """Join answers to their questions; returns {index of a question message: n}."""
    labels = {i: qa_label(m.text) for i, m in enumerate(msgs)}
    opened: dict[int, list[int]] = {}  # n -> indexes of the messages opening question n
    questions: dict[int, int] = {}
    for i, label in labels.items():
        if not label or label[0] != "Q":
            continue
        n = label[1]
        same = opened.get(n, [])
        if same and msgs[i].at - msgs[same[-1]].at <= SESSION:
            comps.union(i, same[-1])  # the question again (a repeat or a co-host)
            continue
        opened.setdefault(n, []).append(i)
        questions[i] = n
    for i, label in labels.items():
        if label and label[0] == "A" and label[1] in opened:
            question = _nearest_question(msgs, opened[label[1]], msgs[i].at)
            if question is not None:
                comps.union(i, question)
    return questions


def _nearest_question(msgs: list[Message], candidates: list[int], at: datetime) -> int | None:
    """The latest question asked before `at`, else the first one asked soon after it."""
    before = [i for i in candidates if msgs[i].at <= at and at - msgs[i].at <= SESSION]
    if before:
        return before[-1]
    after = [i for i in candidates if msgs[i].at > at and msgs[i].at - at <= SESSION]
    return after[0] if after else None


def _link_mention_replies(
    msgs: list[Message], comps: _Components, gap: timedelta, skip: set[int]
) -> set[int]:
    """Join `@name ...`/`name: ...` to that person's latest message; returns the replies."""
    latest_by_author: dict[str, int] = {}
    replies: set[int] = set()
    for i, m in enumerate(msgs):
        match = ADDRESSEE_RE.match(m.text.lstrip()) if i not in skip else None
        if match:  # only people who spoke count, so "Note: ..." addresses nobody
            target = latest_by_author.get(_norm(match[1] or match[2]))
            if target is not None and m.at - msgs[target].at <= gap:
                comps.union(i, target)
                replies.add(i)
        latest_by_author[_norm(m.author)] = i
    return replies


def _link_gaps(msgs: list[Message], comps: _Components, gap: timedelta) -> None:
    sizes: dict[int, int] = {}
    for i in range(len(msgs)):
        root = comps.find(i)
        sizes[root] = sizes.get(root, 0) + 1
    previous = None
    for i in range(len(msgs)):
        if not comps.alone(i, sizes):
            continue
        if previous is not None and msgs[i].at - msgs[previous].at <= gap:
            comps.union(i, previous)
        previous = i


def thread_item(
    thread: Thread,
    *,
    source: str,
    platform: str,
    native_id: str,
    title: str,
    url: str = "",
    fetched_at: datetime | None = None,
    thread_id: str = "",
) -> Item:
    """One `chat_thread` Item: the root's text, then each other message as `@author: text`.
    `thread_id` (default `native_id`) names the whole thread when this is a later part."""
    root = thread.root
    lines = [root.text]
    lines += [f"@{m.author}: {m.text}" for m in thread.messages if m is not root and m.text]
    texts = [m.text for m in thread.messages]
    return Item.create(
        source=source,
        platform=platform,
        kind="chat_thread",
        native_id=native_id,
        author=root.author,
        title=title,
        text="\n".join(lines),
        url=url,
        links=[link for m in thread.messages for link in (*extract_links(m.text), *m.links)],
        hashtags=[tag for t in texts for tag in HASHTAG_RE.findall(t)],
        mentions=[name for t in texts for name in MENTION_RE.findall(t)],
        published_at=root.at,
        fetched_at=fetched_at or datetime.now(UTC),
        thread_id=thread_id or native_id,
        participants=thread.participants,
        raw="\n".join(m.raw for m in thread.messages),
    )


def extract_links(text: str) -> list[str]:
    return [u.rstrip(".,;:!?)]}'\"") for u in URL_RE.findall(text)]


def shorten(text: str, limit: int = 90) -> str:
    """One line of at most `limit` characters, cut at a word boundary with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line[: limit - 1]
    if line[limit - 1] != " " and " " in cut:  # do not end on half a word
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "…"


def question_text(text: str, hashtag: str = "") -> str:
    """The question without its leading @mentions, `Q1.` label and the chat's own hashtag."""
    text = re.sub(rf"^{_LEADING_MENTIONS}", "", text.strip())
    text = QA_PREFIX_RE.sub("", text, count=1)
    if hashtag:
        text = re.sub(rf"(?<!\w)#{re.escape(hashtag)}\b", "", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def as_utf8(data: bytes) -> bytes:
    """`data` re-encoded as UTF-8 when a byte order mark says it is UTF-16 or UTF-32 (Windows
    tools save chats so), else as it is. A stray odd byte at the end becomes U+FFFD."""
    encoding = bom_encoding(data[:4])
    return data.decode(encoding, errors="replace").encode("utf-8") if encoding else data


def decode_lines(data: bytes) -> Iterator[str]:
    """Lines of a text file; each line is UTF-8, else Windows-1252, else Latin-1 (a file with
    a UTF-16 or UTF-32 byte order mark is read as that).

    Old logs mix encodings line by line, so decoding per line keeps every line readable.
    """
    data = as_utf8(data)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for raw in data.split(b"\n"):
        raw = raw.rstrip(b"\r")
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                yield raw.decode("cp1252")
            except UnicodeDecodeError:
                yield raw.decode("latin-1")


def looks_binary(data: bytes) -> bool:
    """True for data no chat export holds, judged by shares of its first MiB once runs of NUL
    bytes (the padding a crash leaves in a log) are set aside: nothing but such runs, NUL bytes
    scattered (over 1 in 1,000: UTF-16 without a byte order mark, images, archives) or over
    10% control bytes. A log with crash padding or a few garbled bytes is text."""
    sample = data[:BINARY_SAMPLE]
    text = _NUL_RUN.sub(b"", sample)
    if len(text) < len(sample) / 2:
        return True
    controls = len(text.translate(None, _NOT_CONTROL))  # what is left once the rest is deleted
    return text.count(b"\x00") > len(text) / 1000 or controls > len(text) / 10


BINARY_SAMPLE = 1 << 20
_NUL_RUN = re.compile(rb"\x00{16,}")
_NOT_CONTROL = bytes([9, 10, 12, 13, 27, *range(32, 256)])


def _words(message: Message) -> int:
    return len(message.text.split())


def _norm(name: str) -> str:
    return name.lstrip("@").lower()


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def chat_items(
    messages: list[Message],
    *,
    source: str,
    platform: str,
    chat_key: str,
    label: str,
    gap: timedelta,
    thread_key: Callable[[Message], str] | None = None,
    url: Callable[[Thread], str] | None = None,
) -> FetchResult:
    """Items for one chat (a channel, a file): one per thread worth curating, and the drops.

    `native_id` is `<chat_key>:<thread key of the root>`; the thread key defaults to the root's
    time and author, which survive re-exports (line numbers and export order do not); a key
    already taken in this chat gets `.2`, `.3`, ... in time order (see `UniqueKeys`).
    """
    thread_key = thread_key or _time_and_author
    fetched_at = datetime.now(UTC)
    result = FetchResult()
    result.drop("notice", sum(m.system for m in messages))
    keys = UniqueKeys()
    first_parts: dict[int, tuple[str, str]] = {}  # id() of a root -> (native id, title)
    for thread in group_threads(messages, gap):
        if thread.trivial:
            result.drop(thread.drop_reason, len(thread.messages))
            continue
        native_id = keys.take(f"{chat_key}:{thread_key(thread.root)}")
        title = _title(thread, label)
        first_id, first_title = first_parts.get(id(thread.continues), (native_id, title))
        if thread.continues is None:
            first_parts[id(thread.root)] = (native_id, title)
        else:
            title = f"{first_title} (continued)"
        result.items.append(
            thread_item(
                thread,
                source=source,
                platform=platform,
                native_id=native_id,
                title=title,
                url=url(thread) if url else "",
                fetched_at=fetched_at,
                thread_id=first_id,
            )
        )
    if warning := oversize_warning(messages):
        result.warnings.append(warning)
    return result


def _title(thread: Thread, label: str) -> str:
    root = thread.root
    if thread.question is not None:
        return f"{label} Q{thread.question}: {shorten(question_text(root.text), 90)}"
    return f"{label}: {shorten(root.text, 80) or '(attachment)'}"


def oversize_warning(messages: Iterable[Message]) -> str:
    """One line about messages too long for an item (their text is cut), or empty."""
    long = [m for m in messages if not m.system and _line_chars(m) > MAX_TEXT_CHARS]
    if not long:
        return ""
    first = long[0]
    more = f" and {len(long) - 1:,} more" if len(long) > 1 else ""
    return (
        f"{first.ref or first.id}{more}: a message over the {MAX_TEXT_CHARS:,} characters an "
        "item holds; only its start is curated"
    )


class UniqueKeys:
    """Hands out each key once: a key seen before comes back as `key.2`, `key.3`, ..."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def take(self, key: str) -> str:
        unique, n = key, 1
        while unique in self.seen:
            n += 1
            unique = f"{key}.{n}"
        self.seen.add(unique)
        return unique


def _time_and_author(message: Message) -> str:
    return f"{message.at.astimezone(UTC):%Y%m%dT%H%M%S}:{message.author}"


def zone_option(opts: Options, name: str = "timezone") -> ZoneInfo:
    """An IANA time zone option (default UTC), checked when the config is loaded."""
    value = opts.text(name, default="UTC")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise opts.error(
            name, f"unknown time zone {value!r} (use an IANA name such as America/New_York)"
        ) from None


def date_option(opts: Options, name: str = "date") -> date | None:
    """An optional ISO date option (the day of a log that only has clock times).

    The config loader keeps dates as text (pln.config.read_yaml); a date object, as a
    caller building options in Python may pass, is accepted too."""
    value = opts._get(name, (str, date), False, "", "a date like 2026-11-19")
    if isinstance(value, datetime):
        raise opts.error(name, f"must be a date like 2026-11-19, got {value!r}")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise opts.error(name, f"must be a date like 2026-11-19, got {value!r}") from None


class ChatFileSource(Source):
    """A chat export in a file, or a folder of such files (one chat each, named by `suffixes`).

    Options every chat file source reads: `path`, `timezone` (for times without an offset),
    `gap_minutes` and `max_file_mb`. The cursor is the file's `{"mtime_ns", "size"}` (for a
    folder, one per file under `files`), so an unchanged export is `not_modified` and a changed
    one is read again (ids are stable). A file of a folder refused whole (too big, binary, not
    the format) is a dead letter and a warning, and stays out of the cursor: every run says so
    again until it changes. A folder without a file ending in one of `suffixes` (in any case:
    `CHAT.TXT`) fails the source: a wrong path would otherwise pass as a chat with nothing new.
    """

    suffixes: ClassVar[tuple[str, ...]] = (".txt",)  # the folder's files end so, in any case
    stamp_keys: ClassVar[tuple[str, ...]] = ("files",)  # the cursor's stamps of a folder
    what: ClassVar[str] = "chat export"  # how error messages name one file
    too_big_hint: ClassVar[str] = "raise max_file_mb, or split the file"
    reads_rotated: ClassVar[bool] = False  # a log rotated since the last run: read `name.1` too
    follows_renames: ClassVar[bool] = True  # a renamed file keeps its key (`chat_key` reads it)
    max_bytes: int = MAX_FILE_BYTES

    def configure(self, opts: Options) -> None:
        self.path: Path = opts.path("path", required=True)
        self.tz = zone_option(opts)
        self.gap = timedelta(minutes=opts.integer("gap_minutes", default=10, min=1))
        self.max_bytes = max_file_mb_option(opts) << 20
        self.configure_format(opts)
        self._start_read()

    def configure_format(self, opts: Options) -> None:
        """Read the options of one format (none by default)."""

    @abstractmethod
    def read_chat(self, path: Path, data: bytes) -> FetchResult:
        """Items, dead letters and drops of one file; raise `self.error(...)` if it is not
        this format."""

    @property
    def tells_unchanged(self) -> bool:
        """A file, or a folder of them: both are stamped in the cursor."""
        return True

    def unchanged(self, cursor: Cursor | None) -> bool:
        """The file's stamp is the cursor; or each of the folder's files has its stamp in the
        cursor and no other file has one (a file refused whole stays out of the cursor, so a
        folder holding one is read, and names it again, every run)."""
        if not (self.tells_unchanged and cursor):
            return False
        try:
            if self.path.is_dir():
                stamps = self.folder_stamps()
                kept = {key: mapping(cursor.get(key)) for key in self.stamp_keys if key in cursor}
                return stamps is not None and stamps == kept
            return stamp_of(cursor) == self._file_stamp(self.stat(self.path))
        except (OSError, SourceError):
            return False

    def folder_stamps(self) -> dict[str, dict] | None:
        """The stamps `fetch` would keep in the cursor of the folder, without reading a file;
        None when it holds no file of its type (fetch then says what is wrong)."""
        files = self.folder_files()
        if not self.holds_chats(files):
            return None
        return {"files": {p.name: folder_file_stamp(self.stat(p)) for p in files}}

    def holds_chats(self, files: list[Path]) -> bool:
        """Whether the folder holds what its type reads, given its files that end in `suffixes`."""
        return bool(files)

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """Read the file or folder, unless unchanged since `cursor`. How items are named is
        kept in the cursor's lasting part (`CURSOR_LASTING`, kept by `pln run --full` and
        config edits too), so they keep their ids: each file's chat key (`keys`, where it is
        not the file's stem), and what a read decided about a file and must decide alike next
        time (`memo`: a date guessed from its mtime, say; `remember`, `recall`)."""
        self._start_read(cursor)
        if self.path.is_dir():
            result = self._fetch_folder(cursor or {})
            names = {"keys": {n: k for n, k in self._keys.items() if k != Path(n).stem}}
        else:
            stamp = self._file_stamp(self.stat(self.path))
            if cursor and stamp_of(cursor) == stamp:
                return FetchResult(cursor=cursor, not_modified=True)
            result = FetchResult()
            before = stamp_of(cursor)
            if self.reads_rotated and _replaced(before, stamp):
                self._read_rotated(self.path, before, stamp, result)
            result.add(self.read_chat(self.path, self.read_bytes(self.path)))
            result.cursor, names = stamp, {}
        if memo := self._kept_memo():
            names["memo"] = memo
        if names and result.cursor is not None:
            result.cursor[CURSOR_LASTING] = names
        return result

    def _fetch_folder(self, cursor: Cursor) -> FetchResult:
        seen = mapping(cursor.get("files"))
        paths = self.folder_files()
        if not self.holds_chats(paths):
            raise self.no_files()
        result = FetchResult(cursor={"files": {}})
        stamps = result.cursor["files"]
        for path in paths:
            with self.one_file(path, result):
                stamps[path.name] = folder_file_stamp(self.stat(path))
        renamed = _renamed(seen, stamps) if self.follows_renames else {}
        for new, old in renamed.items():  # what was remembered of the file goes with it
            if old in self._recalled:
                self._recalled[new] = self._recalled.pop(old)
        self._keys = self._chat_keys(paths, cursor, renamed)
        changed = [name for name, stamp in stamps.items() if seen.get(name) != stamp]
        gone = sorted(set(seen) - {p.name for p in paths} - set(renamed.values()))
        if self.reads_rotated:
            for name in changed:
                if _replaced(seen.get(name), stamps[name]) and name not in renamed.values():
                    self._read_rotated(self.path / name, seen[name], stamps[name], result)
            # a log rotated away, and no new one begun yet, is not gone
            gone = [n for n in gone if not self._read_rotated(self.path / n, seen[n], None, result)]
        self.read_files(changed, cursor, result)
        if gone:
            result.warnings.append(self._gone_warning(gone))
        result.not_modified = bool(cursor) and not (changed or gone or result.warnings)
        return result

    def _chat_keys(
        self, paths: list[Path], cursor: Cursor, renamed: dict[str, str]
    ) -> dict[str, str]:
        """Each file's chat key (the part of its thread ids naming the file): the key it had
        before, also under a new name (`renamed`: new name -> old); for a new file its stem, or
        its name when another file has that stem (`a.log` beside `a.txt`), so ids never collide
        and a file added later changes no other file's ids. (A cursor saved before keys were
        kept means: twins had their names.)"""
        seen, names = mapping(cursor.get("files")), mapping(cursor.get(CURSOR_LASTING))
        kept = {n: k for n, k in mapping(names.get("keys")).items() if isinstance(k, str) and k}
        before_keys = bool(seen) and "keys" not in names
        moved_away = set(renamed.values())  # the names now hold other files, if any
        keys = {new: kept.get(old) or Path(old).stem for new, old in renamed.items()}
        keys |= {n: k for n, k in kept.items() if n not in moved_away and n not in keys}
        known = [p for p in paths if p.name in seen and p.name not in moved_away]
        twins = {s for s, n in Counter(p.stem for p in known).items() if n > 1 and before_keys}
        for p in known:
            keys.setdefault(p.name, p.name if p.stem in twins else p.stem)
        keys = {n: k for n, k in keys.items() if n in {p.name for p in paths}}
        new = [p for p in paths if p.name not in keys]
        shared = {s for s, n in Counter(p.stem for p in new).items() if n > 1}
        taken = set(keys.values())
        for path in new:
            clash = path.stem in taken or path.stem in shared
            key, n = (path.name if clash else path.stem), 1
            while key in taken:  # a renamed file took this name's key before
                n += 1
                key = f"{path.name}.{n}"
            keys[path.name] = key
            taken.add(key)
        return keys

    def _read_rotated(
        self, log: Path, before: object, now: dict | None, result: FetchResult
    ) -> bool:
        """Read what the log `log` held before it was rotated since the last run (`a.log`
        moved to `a.log.1` and a new `a.log` begun, or not yet: `now` None), into `result`.
        `before`, `now`: its stamps then and now. The lines are in `a.log.1` (rotated more
        than once: `a.log.2`, ... down to the file read last time, told by its inode), read as
        `a.log`, so the lines read before keep their ids. A log cut short with no such file
        says what may be missing; one replaced whole by a longer one (a sync tool's copy,
        another inode) lost nothing. False only for a log gone (`now` None) that no rotated
        file holds: it is gone, not rotated."""
        before = mapping(before)
        shown = self.shown_path(log)
        older = self._rotated_since(log, before)
        moved = now is None or _replaced_whole(before, now)
        if now is None and not (older and _holds_last_read(older[-1], before, moved=True)):
            return False
        if not older:
            if now["size"] < before.get("size", 0):
                result.warnings.append(
                    f"{shown} was replaced or cut short since the last run, and no "
                    f"{log.name}.1 beside it holds its older lines: lines written to it after "
                    "the last run and before that are not read"
                )
            return True
        if not _holds_last_read(older[-1], before, moved=moved):
            result.warnings.append(
                f"{shown} was replaced or cut short since the last run, and none of "
                f"{first_names([p.name for p in older], 3)} beside it is the file read "
                "last time: lines written to it after the last run may be missing"
            )
        for path in reversed(older):  # the oldest first
            self._read_as[path.name] = log
            with self.one_file(path, result):
                result.add(self.read_chat(path, self.read_bytes(path)))
        return True

    def _rotated_since(self, log: Path, before: dict) -> list[Path]:
        """`a.log.1`, `a.log.2`, ... up to the one holding the inode `log` had (`before`);
        just `a.log.1` when none does (cut short in place, as copytruncate does, or no inode
        known). None at all when the log was moved away and no file holds its inode."""
        ino, rotated = before.get("ino"), []
        for n in range(1, MAX_ROTATED + 1):
            path = log.with_name(f"{log.name}.{n}")
            try:
                if not path.is_file():
                    break
                rotated.append(path)
                if not isinstance(ino, int) or path.stat().st_ino == ino:
                    return rotated
            except OSError:
                break
        return rotated[:1]

    def _start_read(self, cursor: Cursor | None = None) -> None:
        self._recalled = mapping(mapping(mapping(cursor).get(CURSOR_LASTING)).get("memo"))
        self._remembered: dict[str, dict] = {}
        self._keys: dict[str, str] = {}
        self._read_as: dict[str, Path] = {}

    def read_as(self, path: Path) -> Path:
        """The file `path` is read as: itself, or for a rotated log's `a.log.1`, `a.log`."""
        folder = self.path if self.path.is_dir() else self.path.parent
        return self._read_as.get(path.name, path) if path.parent == folder else path

    def _file_stamp(self, st: os.stat_result) -> dict[str, int]:
        """A single file's cursor stamp: with its inode for a log that is rotated."""
        return folder_file_stamp(st) if self.reads_rotated else file_stamp(st)

    def remember(self, path: Path, fact: str, value: object) -> None:
        """Keep `fact` of the file `path` (as read: `read_as`) in the cursor, for `recall`."""
        name, st = self._memo_name(self.read_as(path)), self.stat(path)
        memo = self._remembered.get(name)
        if memo is None or memo["ino"] != st.st_ino:  # a rotated log's older file came first
            memo = self._remembered[name] = {
                "ino": st.st_ino,
                "size": st.st_size,
                "head": _head_digest(path, st.st_size),
            }
        memo[fact] = value

    def recall(self, path: Path, fact: str) -> object:
        """What an earlier read of this same file decided (`remember`); None for a file not
        read before, or replaced since (shorter, or its first bytes changed: rewritten in
        place, as `cp new.txt chat.txt` or a shell's `>` do). A copy of it grown, as a sync
        tool writes under the same name, is the same file."""
        memo = mapping(self._recalled.get(self._memo_name(self.read_as(path))))
        size = memo.get("size")
        if not isinstance(size, int) or size > self.stat(path).st_size:
            return None
        head = memo.get("head")
        if not isinstance(head, str) or head != _head_digest(path, size):
            return None
        return memo.get(fact)

    def remembered_date(self, path: Path, fact: str, decide: Callable[[], date]) -> date:
        """The date `fact` an earlier read of this same file took (`recall`), else the one
        `decide` gives, remembered for the next read."""
        known = self.recall(path, fact)
        if isinstance(known, str):
            with contextlib.suppress(ValueError):
                return date.fromisoformat(known)
        day = decide()
        self.remember(path, fact, day.isoformat())
        return day

    def _kept_memo(self) -> dict[str, dict]:
        """This read's memo: what it remembered, and what the last one did of files it did not
        read again and that are still there."""
        kept = {
            name: memo
            for name, memo in self._recalled.items()
            if name not in self._remembered and isinstance(memo, dict) and self._still_there(name)
        }
        return {**kept, **self._remembered}

    def _still_there(self, name: str) -> bool:
        return (self.path / name).is_file() if self.path.is_dir() else name == self.path.name

    def _memo_name(self, path: Path) -> str:
        if self.path.is_dir() and path.is_relative_to(self.path):
            return path.relative_to(self.path).as_posix()
        return path.name

    def folder_files(self) -> list[Path]:
        """The files of the folder whose names end in one of `suffixes`, in any case, in name
        order."""
        try:
            return sorted(
                p
                for p in self.path.iterdir()
                if p.name.lower().endswith(self.suffixes) and p.is_file()
            )
        except OSError as exc:
            raise self.cannot_read(self.path, exc) from None

    def no_files(self) -> SourceError:
        """`irc folder data/irc has no *.log or *.txt files (it has 1 other file: a.log.1)`."""
        shown = self.shown_path(self.path)
        try:
            entries = [p for p in self.path.iterdir() if not p.name.startswith(".")]
            files = sorted(p.name for p in entries if p.is_file())
            broken = sorted(p.name for p in entries if p.is_symlink() and not p.exists())
        except OSError as exc:
            raise self.cannot_read(self.path, exc) from None
        folders = sorted(p.name for p in entries if p.is_dir())
        if broken:
            holds = f"it has {counted(len(broken), 'broken link')}: {first_names(broken, 3)}"
        elif files:
            holds = f"it has {counted(len(files), 'other file')}: {first_names(files, 3)}"
        elif folders:
            only = counted(len(folders), "folder")
            holds = f"it has no other file, only {only}: {first_names(folders, 3)}"
        else:
            holds = "it is empty"
        return self.error(f"{self.type} folder {shown} has no {self.files_named()} ({holds})")

    def files_named(self) -> str:
        """What the folder should hold, as messages name it: `*.log or *.txt files`."""
        return " or ".join(f"*{suffix}" for suffix in self.suffixes) + " files"

    def read_files(self, names: list[str], cursor: Cursor, result: FetchResult) -> None:
        """Read the changed files `names` of the folder into `result`, each on its own."""
        for name in names:
            path = self.path / name
            with self.one_file(path, result):
                result.add(self.read_chat(path, self.read_bytes(path)))

    @contextmanager
    def one_file(self, path: Path, result: FetchResult) -> Iterator[None]:
        """Read one file of a folder; if it is refused whole, say so (a dead letter and a
        warning) and leave it out of the cursor, so the next run reads it again. The other
        files always count."""
        try:
            yield
        except SourceError as exc:
            self._refuse(path, exc.message, result)
        except Exception as exc:  # a bug or an unforeseen input in one file
            reason = f"{self.shown_path(path)}: unexpected {type(exc).__name__}: {exc}"
            self._refuse(path, reason, result)

    def _refuse(self, path: Path, reason: str, result: FetchResult) -> None:
        result.dead_letters.append(self.dead_letter(self.shown_path(path), reason))
        result.warnings.append(f"{reason}; not read")
        if result.cursor and path.parent == self.path:  # a file the folder's stamps name
            result.cursor["files"].pop(path.name, None)

    def _gone_warning(self, gone: list[str], what: str = "file") -> str:
        """`a file gone from irc/ since the last run (a.log): its items stay in the store`."""
        shown = first_names(gone, 3)
        many, their = (
            ("a " + what, "its") if len(gone) == 1 else (counted(len(gone), what), "their")
        )
        return (
            f"{many} gone from {self.shown_path(self.path)}/ since the last run ({shown}): "
            f"{their} items stay in the store"
        )

    def chat_key(self, path: Path) -> str:
        """The part of thread ids naming one file (`_chat_keys`): its stem, or its name when
        another file of the folder had the stem first."""
        path = self.read_as(path)
        return self._keys.get(path.name, path.stem) if path.parent == self.path else path.stem

    def stat(self, path: Path) -> os.stat_result:
        try:
            return path.stat()
        except FileNotFoundError:
            raise self.error(f"{self.what} not found: {self.shown_path(path)}") from None
        except OSError as exc:
            raise self.cannot_read(path, exc) from None

    def read_bytes(self, path: Path, *, text: bool = True) -> bytes:
        """The file's bytes (at most `max_file_mb`); with `text`, as UTF-8 (`text_of`) and
        refused when binary."""
        st, shown = self.stat(path), self.shown_path(path)
        if reason := not_regular(shown, st):
            raise self.error(reason)
        if st.st_size > self.max_bytes:
            raise self.too_big(shown, f"is {-(-st.st_size >> 20)} MiB, over")
        try:
            data = read_capped(path, self.max_bytes)
        except OSError as exc:
            raise self.cannot_read(path, exc) from None
        if len(data) > self.max_bytes:
            raise self.too_big(shown, "is over")  # it grew while read
        return self.text_of(path, data) if text else data

    def too_big(self, shown: str, what: str) -> SourceError:
        limit = self.max_bytes >> 20
        return self.error(f"{shown} {what} the {limit} MiB limit ({self.too_big_hint})")

    def text_of(self, path: Path, data: bytes) -> bytes:
        """`data` as UTF-8 (`as_utf8`) without NUL bytes (a crash's padding, never text); a
        SourceError when it is binary, not text."""
        data = as_utf8(data)
        if looks_binary(data):
            article = "an" if self.what[0] in "AEIOU" else "a"  # "an IRC log"
            shown = self.shown_path(path)
            raise self.error(f"{shown} is not {article} {self.what} (it holds binary data)")
        return data.replace(b"\x00", b"") if b"\x00" in data else data


def max_file_mb_option(opts: Options) -> int:
    """The `max_file_mb` option: the largest file read, in MiB (default 64)."""
    value = opts.integer("max_file_mb", default=MAX_FILE_BYTES >> 20, min=1)
    if value > MAX_FILE_MB:
        raise opts.error("max_file_mb", f"must be at most {MAX_FILE_MB}, got {value}")
    return value


def mapping(value: object) -> dict:
    """`value` if it is a JSON object (a dict), else {}: for export records and cursors."""
    return value if isinstance(value, dict) else {}


def dicts(value: object) -> list[dict]:
    """The objects (dicts) of `value` if it is a JSON list, else []."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def file_stamp(stat: os.stat_result) -> dict[str, int]:
    return {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size}


def folder_file_stamp(stat: os.stat_result) -> dict[str, int]:
    """A folder's file as its cursor stamps it: with its inode, which tells a log rotated
    (`a.log` moved away, a new `a.log` begun) from one that grew."""
    return {**file_stamp(stat), "ino": stat.st_ino}


def _replaced(before: object, now: dict[str, int]) -> bool:
    """Whether the file stamped `now` is not the one stamped `before` grown: another inode,
    or shorter. A file new to the cursor, or a stamp without an inode, is judged by size."""
    if not isinstance(before, dict) or not isinstance(before.get("size"), int):
        return False
    return _replaced_whole(before, now) or now["size"] < before["size"]


def _replaced_whole(before: dict, now: dict[str, int]) -> bool:
    """Whether the file stamped `now` is another inode than the one stamped `before`."""
    return isinstance(before.get("ino"), int) and before["ino"] != now["ino"]


def _holds_last_read(path: Path, before: dict, *, moved: bool) -> bool:
    """Whether the rotated file `path` holds what was read of its log last time (`before`):
    the same inode when the log was moved away, else (cut short in place: a copy) at least
    as many bytes."""
    try:
        st = path.stat()
    except OSError:
        return False
    if moved:
        return st.st_ino == before.get("ino")
    size = before.get("size")
    return not isinstance(size, int) or st.st_size >= size


def _renamed(seen: dict, stamps: dict[str, dict[str, int]]) -> dict[str, str]:
    """Files renamed since the last run, new name -> old: a name new to the cursor holding the
    inode that another name had, at no smaller size (the same file, grown or not), where that
    name is gone or holds another file now (`a.log` moved to `a-2026-11.log`, a new `a.log`
    begun). A name the cursor knows is never taken for a renamed file: files replaced whole
    (a sync tool writes each to a temporary file and renames it over the old one) free their
    inodes, which the next ones take, and would else trade their keys and ids."""
    inodes = {
        stamp["ino"]: name
        for name, stamp in seen.items()
        if isinstance(stamp, dict) and isinstance(stamp.get("ino"), int)
    }
    renamed = {}
    for name, stamp in stamps.items():
        old = inodes.get(stamp["ino"])
        if old is None or name in seen or stamps.get(old, {}).get("ino") == stamp["ino"]:
            continue
        size = seen[old].get("size")
        if isinstance(size, int) and stamp["size"] >= size:
            renamed[name] = old
    return renamed


def _head_digest(path: Path, size: int) -> str:
    """A digest of the first `size` bytes of `path` (what an earlier read saw of a file that
    has grown since); empty when it cannot be read."""
    digest, left = hashlib.blake2b(digest_size=16), size
    try:
        with path.open("rb") as file:
            while left > 0 and (chunk := file.read(min(left, 1 << 20))):
                digest.update(chunk)
                left -= len(chunk)
    except OSError:
        return ""
    return digest.hexdigest() if left <= 0 else ""


def stamp_of(cursor: Cursor) -> Cursor:
    """A cursor without its lasting part (`CURSOR_LASTING`): the stamp alone."""
    return {key: value for key, value in mapping(cursor).items() if key != CURSOR_LASTING}
