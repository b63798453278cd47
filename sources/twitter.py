"""X/Twitter: saved API v2 pages (`twitter_v2`), and what the three X sources share. The
data-export archive is sources/twitter_archive.py, the live API sources/twitter_api.py.

One mapping from an API v2 tweet (plus its page's `includes`) to an Item:

- author is the username (from `includes.users`, or the `author` object twarc2 inlines);
- links come from `entities.urls`, preferring `unwound_url`/`expanded_url` over t.co, and the
  t.co links in the text are replaced by them (links to the tweet's own media are dropped);
- kind: `retweeted` -> "repost", `replied_to` -> "reply", `quoted` -> "quote", else "post"
  (a reply that also quotes is a "reply": the thread matters more than the quote);
- a repost keeps the retweeter as author but carries the original's text and entities, with
  `reply_to` = the original's id and `thread_id` = the original's conversation, so the
  curator can tell it repeats an existing voice rather than adding a new one;
- `native_id` is the first id of `edit_history_tweet_ids`: every edit of a tweet gets a new id,
  and this way the edits of one tweet upsert one item (the latest edit wins within a fetch).
"""

from __future__ import annotations

import gzip
import html
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pln.config import Options
from pln.errors import SourceError
from pln.progress import counted, first_names
from pln.record import Item
from pln.sources.base import Cursor, FetchResult, Source, bom_encoding, not_regular

PLATFORM = "twitter"
WEB = "https://x.com"

# Twitter's pseudo language codes: undetermined, no text, media/hashtags/cashtags only, ...
_NO_LANGUAGE = {"und", "zxx", "art", "qam", "qct", "qht", "qme", "qst"}
_STATUS_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/[^/]+(?:/web)?/status/(\d+)"
)
_TWEET_KEYS = {"text", "note_tweet", "edit_history_tweet_ids", "author_id", "author", "created_at"}


@dataclass(frozen=True)
class Problem:
    """A record that could not become an Item: where it was, why, and the record itself."""

    ref: str
    reason: str
    raw: Any = ""


@dataclass
class Parsed:
    """Items and problems collected from any number of documents, newest edit of a tweet kept."""

    items: dict[str, tuple[int, Item]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    max_id: int = 0
    superseded: int = 0  # tweets seen again, or older edits of a tweet kept in its latest edit
    unexpanded: int = 0  # page errors about related objects (see is_related_error)

    def add(self, tweet_id: str, item: Item) -> None:
        number = int(tweet_id) if tweet_id.isdigit() else 0
        self.max_id = max(self.max_id, number)
        kept = self.items.get(item.id)
        self.superseded += kept is not None
        if kept is None or number >= kept[0]:
            self.items[item.id] = (number, item)

    def item_list(self) -> list[Item]:
        return [item for _, item in self.items.values()]

    @property
    def drops(self) -> dict[str, int]:
        counts = {
            "repeat or older edit": self.superseded,
            "related object X could not show": self.unexpanded,
        }
        return {reason: n for reason, n in counts.items() if n}


# --------------------------------------------------------------------------- API v2 -> Item


@dataclass
class _Lookup:
    """The expansions a tweet may point at: users and referenced tweets by id."""

    users: dict[str, dict] = field(default_factory=dict)
    tweets: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of_page(cls, includes: Any) -> _Lookup:
        includes = includes if isinstance(includes, dict) else {}
        return cls(
            users=_by_id(includes.get("users")),
            tweets=_by_id(includes.get("tweets")),
        )

    def username(self, tweet: dict) -> str:
        author = tweet.get("author")
        if isinstance(author, dict) and author.get("username"):
            return str(author["username"])
        user = self.users.get(str(tweet.get("author_id", "")))
        return str(user.get("username", "")) if user else ""

    def referenced(self, tweet: dict, tweet_id: str) -> dict | None:
        """The referenced tweet in full, from includes or inlined by twarc2's flattening."""
        for ref in tweet.get("referenced_tweets") or ():
            if isinstance(ref, dict) and str(ref.get("id")) == tweet_id and "text" in ref:
                return ref
        return self.tweets.get(tweet_id)


def _by_id(records: Any) -> dict[str, dict]:
    if not isinstance(records, list):
        return {}
    return {str(r["id"]): r for r in records if isinstance(r, dict) and "id" in r}


def tweet_url(username: str, tweet_id: str) -> str:
    return f"{WEB}/{username or 'i'}/status/{tweet_id}"


def parse_time(value: Any) -> datetime | None:
    """API v2 ISO timestamps ("2021-05-18T19:24:56.000Z") and archive/v1.1 ones."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def language_code(value: Any) -> str:
    lang = str(value or "").lower()
    return "" if lang in _NO_LANGUAGE else lang


def _content(tweet: dict) -> tuple[str, dict]:
    """Text and entities, taking the full text of long tweets (note_tweet) when present."""
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str):
        return note["text"], note.get("entities") or {}
    return tweet.get("text"), tweet.get("entities") or {}


def _expand(text: str, entities: dict, tweet_id: str) -> tuple[str, list[str]]:
    """Replace t.co links by their targets; return the text and the links.

    Links to the tweet itself (its photos and videos, "show more" links of long tweets) are
    dropped from both: they say nothing the item does not.
    """
    links = []
    for entry in entities.get("urls") or ():
        if not isinstance(entry, dict):
            continue
        short = entry.get("url", "")
        target = entry.get("unwound_url") or entry.get("expanded_url") or short
        status = _STATUS_URL.match(target or "")
        itself = "media_key" in entry or (status is not None and status.group(1) == tweet_id)
        if short:
            text = text.replace(short, "" if itself else target)
        if target and not itself:
            links.append(target)
    return html.unescape(text).strip(), links


def _tags(entities: dict, kind: str, key: str) -> list[str]:
    return [str(e[key]) for e in entities.get(kind) or () if isinstance(e, dict) and e.get(key)]


def tweet_item(tweet: dict, lookup: _Lookup, *, source: str, fetched_at: datetime) -> Item:
    """Map one API v2 tweet to an Item. Raises ValueError naming what is missing."""
    tweet_id = str(tweet.get("id") or "")
    if not tweet_id:
        raise ValueError("tweet has no id")
    text, entities = _content(tweet)
    if not isinstance(text, str):
        raise ValueError(f"tweet {tweet_id} has no text")
    refs = {
        r.get("type"): str(r.get("id"))
        for r in tweet.get("referenced_tweets") or ()
        if isinstance(r, dict) and r.get("id")
    }
    author = lookup.username(tweet)
    kind, reply_to = "post", ""
    thread_id = str(tweet.get("conversation_id") or tweet_id)
    mentions = _tags(entities, "mentions", "username")
    if "retweeted" in refs:
        kind, reply_to = "repost", refs["retweeted"]
        original = lookup.referenced(tweet, reply_to)
        if original is not None and isinstance(_content(original)[0], str):
            text, entities = _content(original)
            mentions += [lookup.username(original), *_tags(entities, "mentions", "username")]
            thread_id = str(original.get("conversation_id") or reply_to)
        else:
            thread_id = reply_to
    elif "replied_to" in refs:
        kind, reply_to = "reply", refs["replied_to"]
    elif "quoted" in refs:
        kind = "quote"
    content_id = reply_to if kind == "repost" else tweet_id
    body, links = _expand(text, entities, content_id)
    edits = tweet.get("edit_history_tweet_ids")
    native_id = str(edits[0]) if isinstance(edits, list) and edits else tweet_id
    return Item.create(
        source=source,
        platform=PLATFORM,
        native_id=native_id,
        kind=kind,
        author=author,
        text=body,
        url=tweet_url(author, tweet_id),
        links=links,
        hashtags=_tags(entities, "hashtags", "tag"),
        mentions=mentions,
        lang=language_code(tweet.get("lang")),
        published_at=parse_time(tweet.get("created_at")),
        fetched_at=fetched_at,
        thread_id=thread_id,
        reply_to=reply_to,
        raw=compact_json(tweet),
    )


def compact_json(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _looks_like_tweet(record: Any) -> bool:
    """A tweet, possibly a broken one; users and lists also have ids but carry names."""
    return (
        isinstance(record, dict)
        and "id" in record
        and not {"username", "name"} & record.keys()
        and bool(_TWEET_KEYS & record.keys())
    )


def _is_page(doc: Any) -> bool:
    """An API v2 response: data, errors or includes, or only the meta of an empty result."""
    if not isinstance(doc, dict):
        return False
    meta = doc.get("meta")
    empty = isinstance(meta, dict) and "result_count" in meta
    return empty or bool({"data", "errors", "includes"} & doc.keys())


def _what_records(records: list) -> str:
    sample = next((r for r in records if isinstance(r, dict)), {})
    for key, what in (
        ("username", "users"),
        ("tweet_count", "tweet counts"),
        ("member_count", "lists"),
        ("state", "spaces"),
    ):
        if key in sample:
            return what
    return "records"


class V2Parser:
    """Turns API v2 documents (pages, flattened tweets, lists of either) into a Parsed."""

    def __init__(self, source: str, fetched_at: datetime | None = None):
        self.source = source
        self.fetched_at = fetched_at or datetime.now(UTC)
        self.out = Parsed()
        self.recognized = 0  # documents that are X API v2 data: pages, tweets, compliance events

    def document(self, doc: Any, ref: str) -> None:
        if isinstance(doc, list):
            for i, part in enumerate(doc):
                self.document(part, f"{ref}[{i}]")
        elif _is_page(doc):
            self.recognized += self.page(doc, ref)
        elif isinstance(doc, dict) and "action" in doc and "id" in doc:
            self.recognized += 1
            reason = (
                f"compliance event ({doc.get('action')}: {doc.get('reason', '?')}), not a tweet"
            )
            self.problem(ref, reason, doc)
        elif _looks_like_tweet(doc):
            self.recognized += 1
            self.tweet(doc, _Lookup(), ref)
        elif isinstance(doc, dict):
            keys = ", ".join(sorted(doc)[:6]) or "none"
            self.problem(ref, f"not an X API v2 page or tweet (keys: {keys})", doc)
        else:
            self.problem(ref, f"not an X API v2 page or tweet: a JSON {type(doc).__name__}", doc)

    def page(self, page: dict, ref: str) -> bool:
        """Read a page's errors and tweets; False when its `data` is no object or list."""
        data = page.get("data")
        if not isinstance(data, dict | list | None):
            self.problem(ref, f"page data is a JSON {type(data).__name__}, not tweets", page)
            return False
        for i, error in enumerate(page.get("errors") or ()):
            if is_related_error(error):
                self.out.unexpanded += 1
            else:
                self.problem(f"{ref}#errors[{i}]", api_error(error), error)
        records = [data] if isinstance(data, dict) else data or []
        if records and not any(_looks_like_tweet(r) for r in records):
            self.problem(ref, f"page holds {_what_records(records)}, not tweets", "")
            return True
        lookup = _Lookup.of_page(page.get("includes"))
        for i, record in enumerate(records):
            self.tweet(record, lookup, ref if isinstance(data, dict) else f"{ref}#data[{i}]")
        return True

    def tweet(self, record: Any, lookup: _Lookup, ref: str) -> None:
        if not isinstance(record, dict):
            self.problem(ref, "tweet is not a JSON object", record)
            return
        try:
            item = tweet_item(record, lookup, source=self.source, fetched_at=self.fetched_at)
        except ValueError as exc:
            self.problem(ref, str(exc), record)
            return
        self.out.add(str(record["id"]), item)

    def problem(self, ref: str, reason: str, raw: Any) -> None:
        self.out.problems.append(
            Problem(ref, reason, raw if isinstance(raw, str) else compact_json(raw))
        )


def is_related_error(error: Any) -> bool:
    """Whether an entry of a page's `errors` is about an object a tweet points at, which X
    could not expand (a mentioned user suspended, a quoted tweet deleted): no tweet of the
    page is lost by it."""
    return isinstance(error, dict) and bool({"resource_type", "parameter"} & error.keys())


def api_error(error: Any) -> str:
    if not isinstance(error, dict):
        return f"API error: {error}"
    title = error.get("title") or error.get("type") or "error"
    detail = error.get("detail") or error.get("message") or ""
    return f"API error: {title}: {detail}" if detail else f"API error: {title}"


# --------------------------------------------------------------------------- files and cursors

V2_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
V2_NAMES = "*.json, *.jsonl or *.ndjson"  # as messages name V2_SUFFIXES (each may be .gz)


def data_files(root: Path, suffixes: Iterable[str]) -> list[Path]:
    """The file itself, or the matching non-hidden files under a folder, in name order."""
    if root.is_file():
        return [root]
    suffixes = tuple(suffixes)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name.lower().endswith(suffixes)
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def folder_holds(root: Path) -> str:
    """What a folder without data files holds instead (its hidden files aside), such as
    `it has 2 other files: a.txt, b.csv`, or `it is empty`."""
    others = sorted(p.relative_to(root).as_posix() for p in data_files(root, ("",)))
    if not others:
        return "it is empty"
    return f"it has {counted(len(others), 'other file')}: {first_names(others, 3)}"


def file_stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"mtime_ns": st.st_mtime_ns, "size": st.st_size}


def _open_text(path: Path) -> io.TextIOWrapper:
    """The file as text: UTF-8, or UTF-16/UTF-32 when it starts with their byte order mark."""
    binary = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")  # noqa: SIM115 - the wrapper closes it
    encoding = bom_encoding(binary.peek(4)[:4]) or "utf-8-sig"
    return io.TextIOWrapper(binary, encoding=encoding, errors="replace")


def json_documents(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line, document, None) or (line, raw text, error) from a JSON or JSON Lines file.

    A file whose first non-blank line is a complete JSON value is JSON Lines and is streamed;
    otherwise the whole file is one JSON document, or, when it is none but a later line is a
    JSON object or list, JSON Lines with a bad first line (`_document_or_lines`). A bad line
    yields an error and reading goes on.
    """
    with _open_text(path) as fh:
        lines = ((number, line) for number, line in enumerate(fh, 1) if line.strip())
        start, first = next(lines, (0, ""))
        if not first:
            return
        try:
            first_doc = json.loads(first)
        except ValueError as exc:
            yield from _document_or_lines(start, first, fh.read(), exc)
            return
        yield start, first_doc, None
        yield from _json_lines(lines)


def _json_lines(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, Any, str | None]]:
    for number, line in lines:
        try:
            doc = json.loads(line)
        except ValueError as exc:
            yield number, line.rstrip("\n"), f"line is not valid JSON: {exc.msg}"
        else:
            yield number, doc, None


def _document_or_lines(
    start: int, first: str, rest: str, first_error: json.JSONDecodeError
) -> Iterator[tuple[int, Any, str | None]]:
    """The file from line `start` on as one JSON document; else, when a later line is a JSON
    object or list, as JSON Lines whose first line is bad (cut short by a crash or a partial
    copy: it alone must not lose the others); else the error of the whole document, as for a
    broken indented document (its first line a lone `{` or `[`)."""
    try:
        doc = json.loads(first + rest)
    except ValueError as exc:
        whole_error = exc
    else:
        yield start, doc, None
        return
    if first.strip() not in ("{", "["):
        later = enumerate(rest.split("\n"), start + 1)
        parsed = _json_lines((number, line) for number, line in later if line.strip())
        held = []  # the bad lines before the first good one, until it shows which case this is
        for entry in parsed:
            held.append(entry)
            if entry[2] is None and isinstance(entry[1], dict | list):
                yield start, first.rstrip("\n"), f"line is not valid JSON: {first_error.msg}"
                yield from held
                yield from parsed
                return
    line = start + whole_error.lineno - 1
    yield line, "", f"not JSON or JSON Lines: {whole_error.msg}"


def changed_files(
    files: list[Path], cursor: Cursor | None
) -> tuple[list[Path], dict[str, dict[str, int]], bool]:
    """Which files changed since the cursor; their new stamps; whether nothing changed at all."""
    before = (cursor or {}).get("files") or {}
    stamps = {str(p): file_stamp(p) for p in files}
    changed = [p for p in files if before.get(str(p)) != stamps[str(p)]]
    unchanged = cursor is not None and not changed and set(before) == set(stamps)
    return changed, stamps, unchanged


def max_id(*ids: Any) -> str:
    numbers = [int(i) for i in ids if isinstance(i, str | int) and str(i).isdigit()]
    return str(max(numbers)) if numbers else ""


class TwitterV2FileSource(Source):
    """X API v2 responses saved to disk: pages (JSON or twarc2 JSONL) or flattened tweets.

    Option: `path`, a file or a folder of `.json`/`.jsonl`/`.ndjson` files (optionally `.gz`).
    Only files whose size or mtime changed since the cursor are read again. A file with some
    bad records keeps the good ones; a file with no X API v2 record at all fails the source
    (one file of a folder: a dead letter).
    """

    type = "twitter_v2"
    suffixes = V2_SUFFIXES

    def configure(self, opts: Options) -> None:
        self.path = opts.path("path", required=True)

    def files(self) -> list[Path]:
        shown = self.shown_path(self.path)
        if not self.path.exists():
            raise self.error(f"path not found: {shown}")
        try:
            if not self.path.is_dir() and (reason := not_regular(shown, self.path.stat())):
                raise self.error(reason)
            files = data_files(self.path, self.suffixes)
            if not files:  # a folder (a file is read even when empty: a log just rotated)
                what = f"{self.type} folder {shown} has no {V2_NAMES} files"
                raise self.error(f"{what} ({folder_holds(self.path)})")
            return files
        except OSError as exc:
            raise self.error(f"cannot list {shown}: {exc.strerror or exc}") from exc

    tells_unchanged = True

    def unchanged(self, cursor: Cursor | None) -> bool:
        try:
            return changed_files(self.files(), cursor)[2]
        except (OSError, SourceError):
            return False  # fetch says what is wrong

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        files = self.files()
        try:
            changed, stamps, unchanged = changed_files(files, cursor)
        except OSError as exc:
            raise self.cannot_read(self.path, exc) from exc
        since_id = (cursor or {}).get("since_id", "")
        if unchanged:
            return FetchResult(cursor=dict(cursor or {}), not_modified=True)
        parser = V2Parser(self.name)
        for path in changed:
            try:
                self.read_file(path, parser)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # keep what it held
                parser.problem(self.shown_path(path), f"broken or cut short .gz file: {exc}", "")
            except OSError as exc:
                raise self.cannot_read(path, exc) from None
            except SourceError as exc:
                if path == self.path:
                    raise
                parser.problem(self.shown_path(path), exc.message, "")
        result = parser.out
        return FetchResult(
            items=result.item_list(),
            dead_letters=[self.dead_letter(p.ref, p.reason, p.raw) for p in result.problems],
            drops=result.drops,
            cursor={"files": stamps, "since_id": max_id(since_id, result.max_id or "")},
        )

    def read_file(self, path: Path, parser: V2Parser) -> None:
        """Add one file's records to `parser`; a SourceError when none of them is X API v2
        data (a feed, a chat export, a bare JSON value): its first problem says why."""
        recognized, problems = parser.recognized, len(parser.out.problems)
        shown = self.shown_path(path)
        for line, doc, error in json_documents(path):
            ref = f"{shown}:{line}"
            if error:
                parser.problem(ref, error, doc)
            else:
                parser.document(doc, ref)
        if parser.recognized == recognized and len(parser.out.problems) > problems:
            first = parser.out.problems[problems]
            del parser.out.problems[problems:]
            line = re.match(r"\d*", first.ref.removeprefix(f"{shown}:")).group()
            raise self.error(
                f"{shown} is not X API v2 JSON (pages or tweets); line {line}: {first.reason}"
            )
