"""X/Twitter data-export archives (the .zip, its folder, or `data/tweets.js`): API v1.1-style
tweets, mapped to items as sources/twitter.py maps API v2 tweets.

An export holds every version of an edited tweet. Like the API's, they are one item, under the
id of the first version (so the archive and the API give the same item), showing the latest
edit: its text and its URL. The older versions are counted drops (`repeat or older edit`)."""

from __future__ import annotations

import html
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pln.config import Options
from pln.errors import SourceError
from pln.record import Item
from pln.sources.base import Cursor, FetchResult, Source, bom_encoding
from pln.sources.twitter import (
    PLATFORM,
    Parsed,
    Problem,
    changed_files,
    compact_json,
    language_code,
    max_id,
    parse_time,
    tweet_url,
)

_ARCHIVE_TWEETS = re.compile(r"(?:^|/)(?:data/)?tweets?(?:-part\d+)?\.js$")
_ARCHIVE_ACCOUNT = re.compile(r"(?:^|/)(?:data/)?(?:manifest|account)\.js$")


def archive_text(data: bytes) -> str:
    """An archive file's text, decoded as twitter_v2 files are: UTF-8, or UTF-16/UTF-32 by
    their byte order mark; an undecodable byte becomes U+FFFD, so one stray byte keeps every
    tweet."""
    return data.decode(bom_encoding(data[:4]) or "utf-8-sig", errors="replace")


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


def first_of_edits(tweet: dict, tweet_id: str) -> str:
    """The id of the first version of an edited tweet, which every version is stored under
    (as the API's `edit_history_tweet_ids[0]`), else the tweet's own id.

    An export holds each version: the first with `edit_info.initial.editTweetIds`, each edit
    with `edit_info.edit.initialTweetId` (and `editControlInitial.editTweetIds`)."""
    info = tweet.get("edit_info")
    info = info if isinstance(info, dict) else {}
    edit = info.get("edit") if isinstance(info.get("edit"), dict) else {}
    initial = info.get("initial") if isinstance(info.get("initial"), dict) else {}
    control = edit.get("editControlInitial")
    chains = (
        [edit.get("initialTweetId")],
        (control if isinstance(control, dict) else {}).get("editTweetIds"),
        initial.get("editTweetIds"),
    )
    for chain in chains:
        if isinstance(chain, list) and chain and str(chain[0] or "").isdigit():
            return str(chain[0])
    return tweet_id


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
    native_id = first_of_edits(tweet, tweet_id)
    return Item.create(
        source=source,
        platform=PLATFORM,
        native_id=native_id,
        kind=kind,
        author=username,
        text=html.unescape(text).strip(),
        url=tweet_url(username, tweet_id),
        links=links,
        hashtags=[h.get("text", "") for h in entities.get("hashtags") or ()],
        mentions=mentions,
        lang=language_code(tweet.get("lang")),
        published_at=parse_time(tweet.get("created_at")),
        fetched_at=fetched_at,
        thread_id=native_id if root == tweet_id else root,  # an edit's thread: the first id
        reply_to=reply_to,
        raw=compact_json(tweet),
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

    tells_unchanged = True

    def unchanged(self, cursor: Cursor | None) -> bool:
        """Each file `fetch` stamps has its stamp in the cursor (no file is read)."""
        try:
            return bool(cursor) and changed_files(self._stamped()[1], cursor)[2]
        except (OSError, SourceError):
            return False

    def _stamped(self) -> tuple[bool, list[Path]]:
        """(whether the path is a zip, the files whose stamps make the cursor)."""
        shown = self.shown_path(self.path)
        if not self.path.exists():
            raise self.error(f"path not found: {shown}")
        zipped = self.path.is_file() and _starts_like_zip(self.path)
        if self.path.is_file() and not zipped and not _ARCHIVE_TWEETS.search(self.path.name):
            raise self.error(
                f"{shown} is neither an archive .zip nor its data/tweets.js "
                "(a file named tweet.js, tweets.js or tweets-partN.js)"
            )
        return zipped, self._js_files() if not zipped else [self.path]

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        shown = self.shown_path(self.path)
        try:
            zipped, stamped = self._stamped()
            changed, stamps, unchanged = changed_files(stamped, cursor)
            if unchanged:
                return FetchResult(cursor=dict(cursor or {}), not_modified=True)
            documents = self._read_zip() if zipped else self._read_folder(stamped)
        except OSError as exc:  # names the file that failed: data/tweets.js, not the folder
            raise self.cannot_read(self.path, exc) from None
        except zipfile.BadZipFile as exc:
            raise self.error(f"{shown} is not a readable zip archive: {exc}") from exc
        tweet_files = {k: v for k, v in documents.items() if _ARCHIVE_TWEETS.search(k)}
        if not tweet_files:
            raise self.error(f"no data/tweet.js or data/tweets.js in {shown}")
        username = archive_username(documents)
        parsed = self._parse(tweet_files, username)
        result = FetchResult(
            items=parsed.item_list(),
            dead_letters=[self.dead_letter(p.ref, p.reason, p.raw) for p in parsed.problems],
            drops=parsed.drops,
            cursor={"files": stamps, "since_id": max_id(parsed.max_id or "")},
        )
        if not username and result.items:
            result.warnings.append(
                f"no account.js or manifest.js beside the tweets in {shown}: "
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
        named = {self.shown_path(p): p for p in files}
        return {name: self._decode(name, p.read_bytes()) for name, p in named.items()}

    def _read_zip(self) -> dict[str, Any]:
        with zipfile.ZipFile(self.path) as archive:
            names = [
                n
                for n in archive.namelist()
                if _ARCHIVE_TWEETS.search(n) or _ARCHIVE_ACCOUNT.search(n)
            ]
            shown = self.shown_path(self.path)
            named = {f"{shown}!{n}": n for n in names}
            return {name: self._decode(name, archive.read(n)) for name, n in named.items()}

    def _decode(self, name: str, data: bytes) -> Any:
        try:
            return archive_json(archive_text(data))
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
                parsed.problems.append(
                    Problem(ref, "tweet is not a JSON object", compact_json(tweet))
                )
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
                parsed.problems.append(Problem(ref, str(exc), compact_json(tweet)))
                continue
            parsed.add(str(tweet.get("id_str") or tweet.get("id")), item)
        return parsed


def _starts_like_zip(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(2) == b"PK"
