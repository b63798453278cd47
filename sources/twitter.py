"""X/Twitter sources: saved API v2 pages, data-export archives and the live API v2.

All three share one mapping from an API v2 tweet (plus its page's `includes`) to an Item:

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
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from pln.config import Options
from pln.record import Item
from pln.sources.base import Cursor, FetchResult, Source
from pln.sources.http import HttpFetcher, parse_retry_after, redact

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
        return {"repeat or older edit": self.superseded} if self.superseded else {}


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


def _language(value: Any) -> str:
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
        lang=_language(tweet.get("lang")),
        published_at=parse_time(tweet.get("created_at")),
        fetched_at=fetched_at,
        thread_id=thread_id,
        reply_to=reply_to,
        raw=_compact(tweet),
    )


def _compact(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _looks_like_tweet(record: Any) -> bool:
    """A tweet, possibly a broken one; users and lists also have ids but carry names."""
    return (
        isinstance(record, dict)
        and "id" in record
        and not {"username", "name"} & record.keys()
        and bool(_TWEET_KEYS & record.keys())
    )


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

    def document(self, doc: Any, ref: str) -> None:
        if isinstance(doc, list):
            for i, part in enumerate(doc):
                self.document(part, f"{ref}[{i}]")
        elif isinstance(doc, dict) and ({"data", "errors", "includes"} & doc.keys()):
            self.page(doc, ref)
        elif isinstance(doc, dict) and "action" in doc and "id" in doc:
            reason = (
                f"compliance event ({doc.get('action')}: {doc.get('reason', '?')}), not a tweet"
            )
            self.problem(ref, reason, doc)
        elif _looks_like_tweet(doc):
            self.tweet(doc, _Lookup(), ref)
        elif isinstance(doc, dict):
            keys = ", ".join(sorted(doc)[:6]) or "none"
            self.problem(ref, f"not an X API v2 page or tweet (keys: {keys})", doc)
        else:
            self.problem(ref, f"not an X API v2 page or tweet: a JSON {type(doc).__name__}", doc)

    def page(self, page: dict, ref: str) -> None:
        for i, error in enumerate(page.get("errors") or ()):
            self.problem(f"{ref}#errors[{i}]", _api_error(error), error)
        data = page.get("data")
        records = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
        if records and not any(_looks_like_tweet(r) for r in records):
            self.problem(ref, f"page holds {_what_records(records)}, not tweets", "")
            return
        lookup = _Lookup.of_page(page.get("includes"))
        for i, record in enumerate(records):
            self.tweet(record, lookup, ref if isinstance(data, dict) else f"{ref}#data[{i}]")

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
            Problem(ref, reason, raw if isinstance(raw, str) else _compact(raw))
        )


def _api_error(error: Any) -> str:
    if not isinstance(error, dict):
        return f"API error: {error}"
    title = error.get("title") or error.get("type") or "error"
    detail = error.get("detail") or error.get("message") or ""
    return f"API error: {title}: {detail}" if detail else f"API error: {title}"


# --------------------------------------------------------------------------- files and cursors

V2_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")


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


def file_stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"mtime_ns": st.st_mtime_ns, "size": st.st_size}


def _open_text(path: Path) -> io.TextIOWrapper:
    binary = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")  # noqa: SIM115 - the wrapper closes it
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace")


def json_documents(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line, document, None) or (line, raw text, error) from a JSON or JSON Lines file.

    A file whose first non-blank line is a complete JSON value is JSON Lines and is streamed;
    otherwise the whole file is one JSON document. A bad line yields an error and reading goes on.
    """
    with _open_text(path) as fh:
        lines = ((number, line) for number, line in enumerate(fh, 1) if line.strip())
        start, first = next(lines, (0, ""))
        if not first:
            return
        try:
            first_doc = json.loads(first)
        except ValueError:
            try:
                yield start, json.loads(first + fh.read()), None
            except ValueError as exc:
                yield start + exc.lineno - 1, "", f"not JSON or JSON Lines: {exc.msg}"
            return
        yield start, first_doc, None
        for number, line in lines:
            try:
                yield number, json.loads(line), None
            except ValueError as exc:
                yield number, line.rstrip("\n"), f"line is not valid JSON: {exc.msg}"


def changed_files(
    files: list[Path], cursor: Cursor | None
) -> tuple[list[Path], dict[str, dict[str, int]], bool]:
    """Which files changed since the cursor; their new stamps; whether nothing changed at all."""
    before = (cursor or {}).get("files") or {}
    stamps = {str(p): file_stamp(p) for p in files}
    changed = [p for p in files if before.get(str(p)) != stamps[str(p)]]
    unchanged = cursor is not None and not changed and set(before) == set(stamps)
    return changed, stamps, unchanged


def _max_id(*ids: Any) -> str:
    numbers = [int(i) for i in ids if isinstance(i, str | int) and str(i).isdigit()]
    return str(max(numbers)) if numbers else ""


class TwitterV2FileSource(Source):
    """X API v2 responses saved to disk: pages (JSON or twarc2 JSONL) or flattened tweets.

    Option: `path`, a file or a folder of `.json`/`.jsonl`/`.ndjson` files (optionally `.gz`).
    Only files whose size or mtime changed since the cursor are read again.
    """

    type = "twitter_v2"
    suffixes = V2_SUFFIXES

    def configure(self, opts: Options) -> None:
        self.path = opts.path("path", required=True)

    def files(self) -> list[Path]:
        if not self.path.exists():
            raise self.error(f"path not found: {self.path}")
        try:
            return data_files(self.path, self.suffixes)
        except OSError as exc:
            raise self.error(f"cannot list {self.path}: {exc.strerror or exc}") from exc

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        files = self.files()
        try:
            changed, stamps, unchanged = changed_files(files, cursor)
        except OSError as exc:
            raise self.error(f"cannot read {exc.filename}: {exc.strerror}") from exc
        since_id = (cursor or {}).get("since_id", "")
        if unchanged:
            return FetchResult(cursor=dict(cursor or {}), not_modified=True)
        parser = V2Parser(self.name)
        for path in changed:
            try:
                self.read_file(path, parser)
            except OSError as exc:
                raise self.error(f"cannot read {path}: {exc.strerror or exc}") from exc
        result = parser.out
        return FetchResult(
            items=result.item_list(),
            dead_letters=[self.dead_letter(p.ref, p.reason, p.raw) for p in result.problems],
            drops=result.drops,
            cursor={"files": stamps, "since_id": _max_id(since_id, result.max_id or "")},
        )

    def read_file(self, path: Path, parser: V2Parser) -> None:
        for line, doc, error in json_documents(path):
            ref = f"{path}:{line}"
            if error:
                parser.problem(ref, error, doc)
            else:
                parser.document(doc, ref)


# --------------------------------------------------------------------------- data-export archive

_ARCHIVE_TWEETS = re.compile(r"(?:^|/)(?:data/)?tweets?(?:-part\d+)?\.js$")
_ARCHIVE_ACCOUNT = re.compile(r"(?:^|/)(?:data/)?(?:manifest|account)\.js$")


def archive_json(text: str) -> Any:
    """The JSON after the `window.YTD.tweet.part0 = ` assignment of an archive .js file."""
    start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON value after the `window.YTD... =` assignment")
    return json.loads(text[start:])


def archive_username(documents: dict[str, Any]) -> str:
    """The account's username from manifest.js (userInfo) or account.js."""
    for name, doc in sorted(documents.items()):
        if name.endswith("manifest.js") and isinstance(doc, dict):
            username = (doc.get("userInfo") or {}).get("userName")
            if username:
                return str(username)
        if name.endswith("account.js") and isinstance(doc, list) and doc:
            account = doc[0].get("account", {}) if isinstance(doc[0], dict) else {}
            if account.get("username"):
                return str(account["username"])
    return ""


def archive_item(
    tweet: dict, *, username: str, parents: dict[str, str], source: str, fetched_at: datetime
) -> Item:
    """Map one archive (API v1.1 style) tweet to an Item. Raises ValueError when unusable."""
    tweet_id = str(tweet.get("id_str") or tweet.get("id") or "")
    if not tweet_id:
        raise ValueError("tweet has no id")
    text = tweet.get("full_text", tweet.get("text"))
    if not isinstance(text, str):
        raise ValueError(f"tweet {tweet_id} has no text")
    entities = tweet.get("entities") or {}
    links = []
    for entry in entities.get("urls") or ():
        target = entry.get("expanded_url") or entry.get("url")
        if entry.get("url") and target:
            text = text.replace(entry["url"], target)
            links.append(target)
    for entry in entities.get("media") or ():
        if entry.get("url"):
            text = text.replace(entry["url"], "")
    mentions = [m.get("screen_name", "") for m in entities.get("user_mentions") or ()]
    reply_to = str(
        tweet.get("in_reply_to_status_id_str") or tweet.get("in_reply_to_status_id") or ""
    )
    kind = "post"
    if text.startswith("RT @"):
        kind = "repost"
        mentions.append(text[4:].split(":", 1)[0])
    elif reply_to:
        kind = "reply"
    elif tweet.get("quoted_status_id_str"):
        kind = "quote"
    root = tweet_id
    while root in parents and parents[root] != root:  # climb the reply chain within the archive
        root = parents[root]
    edits = ((tweet.get("edit_info") or {}).get("initial") or {}).get("editTweetIds")
    return Item.create(
        source=source,
        platform=PLATFORM,
        native_id=str(edits[0]) if isinstance(edits, list) and edits else tweet_id,
        kind=kind,
        author=username,
        text=html.unescape(text).strip(),
        url=tweet_url(username, tweet_id),
        links=links,
        hashtags=[h.get("text", "") for h in entities.get("hashtags") or ()],
        mentions=mentions,
        lang=_language(tweet.get("lang")),
        published_at=parse_time(tweet.get("created_at")),
        fetched_at=fetched_at,
        thread_id=root,
        reply_to=reply_to,
        raw=_compact(tweet),
    )


class TwitterArchiveSource(Source):
    """A Twitter/X data export: the .zip or its unpacked folder (or its `data` folder).

    Reads `data/tweet.js` or `data/tweets.js` (and `-partN` splits); the author comes from
    `manifest.js` or `account.js`. `path` may also name a tweets.js itself: the account files
    beside it are read too, and without them the fetch warns that authors are empty.
    """

    type = "twitter_archive"

    def configure(self, opts: Options) -> None:
        self.path = opts.path("path", required=True)

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        if not self.path.exists():
            raise self.error(f"path not found: {self.path}")
        try:
            zipped = self.path.is_file() and _starts_like_zip(self.path)
            stamped = self._js_files() if not zipped else [self.path]
            changed, stamps, unchanged = changed_files(stamped, cursor)
            if unchanged:
                return FetchResult(cursor=dict(cursor or {}), not_modified=True)
            documents = self._read_zip() if zipped else self._read_folder(stamped)
        except OSError as exc:
            raise self.error(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        except zipfile.BadZipFile as exc:
            raise self.error(f"{self.path} is not a readable zip archive: {exc}") from exc
        tweet_files = {k: v for k, v in documents.items() if _ARCHIVE_TWEETS.search(k)}
        if not tweet_files:
            if self.path.is_file() and not zipped:
                raise self.error(
                    f"{self.path} is neither an archive .zip nor its data/tweets.js "
                    "(a file named tweet.js, tweets.js or tweets-partN.js)"
                )
            raise self.error(f"no data/tweet.js or data/tweets.js in {self.path}")
        username = archive_username(documents)
        parsed = self._parse(tweet_files, username)
        result = FetchResult(
            items=parsed.item_list(),
            dead_letters=[self.dead_letter(p.ref, p.reason, p.raw) for p in parsed.problems],
            drops=parsed.drops,
            cursor={"files": stamps, "since_id": _max_id(parsed.max_id or "")},
        )
        if not username and result.items:
            result.warnings.append(
                f"no account.js or manifest.js beside the tweets in {self.path}: "
                "tweets have no author; point path at the whole archive"
            )
        return result

    def _js_files(self) -> list[Path]:
        """The data files to read: a folder's, or a tweets.js given directly with the account
        files beside it (in `data/`, or the archive folder above it)."""
        if self.path.is_file():
            here = self.path.parent
            folders = [here, here.parent] if here.name == "data" else [here, here / "data"]
            extra = [
                p
                for folder in folders
                if folder.is_dir()
                for p in folder.glob("*.js")
                if _ARCHIVE_ACCOUNT.search(p.name)
            ]
            return sorted({self.path, *extra})
        folders = [self.path / "data", self.path]
        return sorted(
            p
            for folder in folders
            if folder.is_dir()
            for p in folder.glob("*.js")
            if _ARCHIVE_TWEETS.search(p.name) or _ARCHIVE_ACCOUNT.search(p.name)
        )

    def _read_folder(self, files: list[Path]) -> dict[str, Any]:
        return {str(p): self._decode(str(p), p.read_text("utf-8-sig")) for p in files}

    def _read_zip(self) -> dict[str, Any]:
        with zipfile.ZipFile(self.path) as archive:
            names = [
                n
                for n in archive.namelist()
                if _ARCHIVE_TWEETS.search(n) or _ARCHIVE_ACCOUNT.search(n)
            ]
            return {
                f"{self.path}!{n}": self._decode(n, archive.read(n).decode("utf-8-sig"))
                for n in names
            }

    def _decode(self, name: str, text: str) -> Any:
        try:
            return archive_json(text)
        except ValueError as exc:
            raise self.error(f"{name} is not a Twitter archive data file: {exc}") from None

    def _parse(self, tweet_files: dict[str, Any], username: str) -> Parsed:
        parsed, fetched_at = Parsed(), datetime.now(UTC)
        entries = []
        for name, doc in sorted(tweet_files.items()):
            if not isinstance(doc, list):
                parsed.problems.append(Problem(name, "expected a list of tweets", ""))
                continue
            for i, entry in enumerate(doc):
                tweet = entry.get("tweet", entry) if isinstance(entry, dict) else entry
                entries.append((f"{name}[{i}]", tweet))
        parents = {
            str(t.get("id_str")): str(t.get("in_reply_to_status_id_str"))
            for _, t in entries
            if isinstance(t, dict) and t.get("in_reply_to_status_id_str")
        }
        for ref, tweet in entries:
            if not isinstance(tweet, dict):
                parsed.problems.append(Problem(ref, "tweet is not a JSON object", _compact(tweet)))
                continue
            try:
                item = archive_item(
                    tweet,
                    username=username,
                    parents=parents,
                    source=self.name,
                    fetched_at=fetched_at,
                )
            except ValueError as exc:
                parsed.problems.append(Problem(ref, str(exc), _compact(tweet)))
                continue
            parsed.add(str(tweet.get("id_str") or tweet.get("id")), item)
        return parsed


def _starts_like_zip(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(2) == b"PK"


# --------------------------------------------------------------------------- live API v2

TWEET_FIELDS = (
    "created_at,lang,conversation_id,entities,referenced_tweets,author_id,"
    "in_reply_to_user_id,note_tweet,edit_history_tweet_ids"
)
EXPANSIONS = "author_id,referenced_tweets.id,referenced_tweets.id.author_id"


class _XFetcher(HttpFetcher):
    """HttpFetcher that reads X's rate-limit headers and says what a 401/403 means."""

    def _status_error(self, status, headers, url):
        if status == 429:
            wait = parse_retry_after(headers.get("retry-after", ""))
            reset = headers.get("x-rate-limit-reset", "").strip()
            if wait is None and reset.isdigit():
                wait = max(0.0, int(reset) - datetime.now(UTC).timestamp())
            if wait is not None:
                return self.error(
                    f"rate limited by {redact(url)}; retry after {wait:.0f} s", retry_after=wait
                )
        if status in (401, 403):
            return self.error(f"HTTP {status} from {redact(url)}: the bearer token was refused")
        return super()._status_error(status, headers, url)


class TwitterApiSource(Source):
    """X API v2: recent search, a user's timeline or a list's timeline, newest first.

    Options: one of `query` (recent search, e.g. "#lrnchat -is:retweet"), `username`,
    `user_id` or `list_id`; `bearer_token_env` (default X_BEARER_TOKEN: the name of the
    environment variable holding the token, never the token itself); `base_url` (default
    https://api.x.com); `max_pages` per fetch (default 5); `max_results` per page (default 100);
    `timeout` seconds (default 20).

    The cursor keeps `since_id`, so each run asks only for newer tweets. When a run stops at
    `max_pages` with older pages left, the cursor keeps the pagination token and the next run
    continues down to the old `since_id` before moving it forward: nothing in between is skipped.
    """

    type = "twitter_api"

    def configure(self, opts: Options) -> None:
        self.query = opts.text("query")
        self.username = opts.text("username").lstrip("@")
        self.user_id = opts.text("user_id")
        self.list_id = opts.text("list_id")
        chosen = [k for k in ("query", "username", "user_id", "list_id") if getattr(self, k)]
        if len(chosen) != 1:
            raise opts.error(
                "query",
                "set exactly one of query, username, user_id, list_id"
                + (f" (got {', '.join(chosen)})" if chosen else ""),
            )
        self.token_env = opts.text("bearer_token_env", default="X_BEARER_TOKEN")
        self.base_url = opts.text("base_url", default="https://api.x.com").rstrip("/")
        self.max_pages = opts.integer("max_pages", default=5, min=1)
        self.max_results = opts.integer("max_results", default=100, min=10)
        if self.max_results > 100:
            raise opts.error("max_results", f"must be at most 100, got {self.max_results}")
        self.timeout = opts.number("timeout", default=20.0, min=1.0)

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        cursor = dict(cursor or {})
        token = os.environ.get(self.token_env, "").strip()
        if not token:
            raise self.error(f"no bearer token: set the environment variable {self.token_env}")
        fetcher = _XFetcher(self.name, timeout=self.timeout)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        path, uses_since_id, user_id = self._timeline(fetcher, headers, cursor)
        since_id = cursor.get("since_id", "")
        token_param = "next_token" if self.query else "pagination_token"
        page_token = cursor.get("next_token", "")
        parser = V2Parser(self.name)
        newest = cursor.get("newest_id", "")
        for _ in range(self.max_pages):
            params = {
                "max_results": self.max_results,
                "tweet.fields": TWEET_FIELDS,
                "expansions": EXPANSIONS,
                "user.fields": "username,name",
            }
            if self.query:
                params["query"] = self.query
            if since_id and uses_since_id:
                params["since_id"] = since_id
            if page_token:
                params[token_param] = page_token
            url = f"{self.base_url}{path}?{urlencode(params)}"
            page = self._get_json(fetcher, url, headers)
            older = self._drop_seen(page, since_id)
            parser.page(page, redact(url))
            meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
            newest = _max_id(newest, meta.get("newest_id", ""), parser.out.max_id or "")
            page_token = "" if older else str(meta.get("next_token") or "")
            if not page_token:
                break
        next_cursor = {"since_id": _max_id(since_id, newest)}
        if self.username:  # saves the lookup next time
            next_cursor["user_id"] = user_id
        if page_token:  # stopped at max_pages: finish this window before moving since_id on
            next_cursor.update(since_id=since_id, next_token=page_token, newest_id=newest)
        result = parser.out
        return FetchResult(
            items=result.item_list(),
            dead_letters=[self.dead_letter(p.ref, p.reason, p.raw) for p in result.problems],
            drops=result.drops,
            cursor=next_cursor,
        )

    def _timeline(
        self, fetcher: HttpFetcher, headers: dict, cursor: Cursor
    ) -> tuple[str, bool, str]:
        """The endpoint path, whether it takes since_id (list timelines do not), the user id."""
        if self.query:
            return "/2/tweets/search/recent", True, ""
        if self.list_id:
            return f"/2/lists/{quote(self.list_id)}/tweets", False, ""
        user_id = self.user_id or cursor.get("user_id") or self._lookup_user(fetcher, headers)
        return f"/2/users/{quote(user_id)}/tweets", True, user_id

    def _lookup_user(self, fetcher: HttpFetcher, headers: dict) -> str:
        url = f"{self.base_url}/2/users/by/username/{quote(self.username)}"
        data = self._get_json(fetcher, url, headers).get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise self.error(f"no user id for @{self.username} in {url}")
        return str(data["id"])

    def _get_json(self, fetcher: HttpFetcher, url: str, headers: dict) -> dict:
        body = fetcher.get(url, headers).body
        try:
            page = json.loads(body)
        except ValueError:
            raise self.error(f"response from {redact(url)} is not JSON") from None
        if not isinstance(page, dict):
            raise self.error(f"response from {redact(url)} is not an API v2 object")
        if "data" not in page and page.get("errors"):
            raise self.error(f"{_api_error(page['errors'][0])} ({redact(url)})")
        return page

    @staticmethod
    def _drop_seen(page: dict, since_id: str) -> bool:
        """Remove tweets at or below since_id (list timelines); True when any were there."""
        data = page.get("data")
        if not since_id.isdigit() or not isinstance(data, list):
            return False
        fresh = [
            t for t in data if not (isinstance(t, dict) and 0 < _id_number(t) <= int(since_id))
        ]
        page["data"] = fresh
        return len(fresh) < len(data)


def _id_number(tweet: dict) -> int:
    value = str(tweet.get("id", ""))
    return int(value) if value.isdigit() else 0
