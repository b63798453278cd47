"""Slack workspace exports (the zip, or its unpacked folder): `type: slack`.

An export holds `channels.json` (also `groups.json`, `mpims.json`, `dms.json`), `users.json` and
one `<channel>/<YYYY-MM-DD>.json` list of messages per channel and day. Threads follow
`thread_ts`; user ids become names; Slack markup (`<@U1>`, `<#C1|name>`, `<http://x|label>`,
`&amp;`) becomes plain text; bot posts keep their attachments' text and links; joins, topic
changes and other notices are left out.

The zip is never extracted: members are read in memory, each capped at `max_file_mb` (default
64 MiB, as for the other chat sources) and all together at `MAX_TOTAL_BYTES`
(however small the zip claims them to be), and members with unsafe names (`../`, absolute paths)
are reported, not read. A folder's JSON files are capped the same way.

Private channels, group and direct messages (`groups.json`, `mpims.json`, `dms.json`) are
skipped unless `include_private: true`: curated feeds are often public.

Options: `path` (export zip or folder), `channels` (names to read; default all public ones),
`include_private` (default false), `gap_minutes` (default 10), `max_file_mb` (the largest JSON
file read, default 64, at most 1024; a bigger one is a dead letter). Times are Slack's own UTC
timestamps, so there is no `timezone` option.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from pln.config import Options
from pln.errors import SourceError
from pln.progress import first_names
from pln.record import CURSOR_LASTING, DeadLetter
from pln.sources.base import Cursor, FetchResult, Source, not_regular, read_capped
from pln.sources.chat import (
    Message,
    chat_items,
    dicts,
    file_stamp,
    mapping,
    max_file_mb_option,
    stamp_of,
)

MAX_TOTAL_BYTES = 1024 * 1024 * 1024
OLDER_EXPORT = "older export"  # a message another folder of its channel holds too
MAX_MEMBERS = 200_000
DAY_FILE_RE = re.compile(r"^(?P<channel>[^/\\]+)/(?P<day>\d{4}-\d{2}-\d{2})\.json$")
CONVERSATION_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
NOTICE_SUBTYPES = frozenset(
    f"{kind}_{event}"
    for kind in ("channel", "group")
    for event in ("join", "leave", "topic", "purpose", "name", "archive", "unarchive")
) | {
    "bot_add",
    "bot_remove",
    "pinned_item",
    "unpinned_item",
    "tombstone",
    "reminder_add",
    "channel_convert_to_private",
    "message_deleted",
}
MARKUP_RE = re.compile(r"<([^<>\n]{1,2000})>")


class SlackSource(Source):
    type = "slack"

    def configure(self, opts: Options) -> None:
        self.path: Path = opts.path("path", required=True)
        self.channels = frozenset(c.lstrip("#") for c in opts.texts("channels"))
        self.include_private = opts.flag("include_private", default=False)
        self.gap = timedelta(minutes=opts.integer("gap_minutes", default=10, min=1))
        self.member_limit = max_file_mb_option(opts) << 20  # the largest member or file read

    @property
    def tells_unchanged(self) -> bool:
        return True

    def unchanged(self, cursor: Cursor | None) -> bool:
        """The export's stamp (`_stamp`) is the cursor: fetch would answer `not_modified`."""
        try:
            return bool(cursor) and stamp_of(cursor) == self._stamp()
        except SourceError:
            return False

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        """The whole export, read again when its stamp changed. A file or folder refused whole
        (too big, unreadable) is a dead letter and a warning, and is named in the cursor
        (`refused`), so the cursor never matches: every run reads the export and says so again,
        as a chat folder does, until it is fixed."""
        stamp = self._stamp()
        if cursor and stamp_of(cursor) == stamp:
            return FetchResult(cursor=cursor, not_modified=True)
        kept = mapping(mapping(cursor).get(CURSOR_LASTING)).get("folders")
        known = {
            folder: cid for folder, cid in mapping(kept).items() if isinstance(cid, str) and cid
        }
        with self._open() as export:
            result = self.read_export(export, known)
            refused = export.refused
        result.warnings += refused.values()
        result.cursor = {**stamp, "refused": sorted(refused)} if refused else dict(stamp)
        if known:  # in the lasting part: pln run --full and config edits keep it
            result.cursor[CURSOR_LASTING] = {"folders": known}
        return result

    def _stamp(self) -> dict[str, Any]:
        """A zip's size and mtime; for a folder, a digest of every JSON file's name, size and
        mtime, so a day file edited to the same size is read again whatever its mtime."""
        try:
            if not self.path.is_dir():
                return file_stamp(self.path.stat())
            files, _ = json_files(self.path)
            stamps = sorted((p.relative_to(self.path).as_posix(), p.stat()) for p in files)
        except FileNotFoundError:
            raise self.error(f"Slack export not found: {self.shown_path(self.path)}") from None
        except OSError as exc:
            raise self.cannot_read(self.path, exc) from None
        digest = hashlib.blake2b(digest_size=16)
        for name, st in stamps:
            digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return {"files": len(stamps), "digest": digest.hexdigest()}

    def _open(self) -> _Export:
        if self.path.is_dir():
            return _FolderExport(self.path, self)
        shown = self.shown_path(self.path)
        try:
            if reason := not_regular(shown, self.path.stat()):
                raise self.error(reason)
            return _ZipExport(zipfile.ZipFile(self.path), self)
        except zipfile.BadZipFile as exc:
            raise self.error(f"{shown} is not a Slack export zip ({exc})") from None
        except OSError as exc:
            raise self.cannot_read(self.path, exc) from None

    def read_export(self, export: _Export, known: dict[str, str] | None = None) -> FetchResult:
        channels, dead = self.read_messages(export, known)
        result = FetchResult(dead_letters=dead)
        for (channel_id, channel), messages in channels.items():
            unique = list({m.id: m for m in messages}.values())  # the last copy of each
            result.drop(OLDER_EXPORT, len(messages) - len(unique))
            result.add(
                chat_items(
                    unique,
                    source=self.name,
                    platform="slack",
                    chat_key=channel_id,
                    label=f"#{channel}",
                    gap=self.gap,
                    thread_key=lambda m: m.id,  # Slack's ts names a message within its channel
                )
            )
        return result

    def read_messages(
        self, export: _Export, known: dict[str, str] | None = None
    ) -> tuple[dict[tuple[str, str], list[Message]], list[DeadLetter]]:
        """Messages per (channel id, channel name), and the records that could not be read.

        `known` maps channel folders to the ids an earlier read of the export found for them
        (it is updated with this read's): a channel renamed since keeps the folder of its old
        name when a newer export is unzipped over the old one, and that folder's messages keep
        their channel's id (keyed by folder name they would all come back as new items). A
        channel's messages come from its other folders first, its current name's last:
        `read_export` reads a message in two folders once, from the last (an `older export`
        drop for the other)."""
        known = {} if known is None else known
        dead: list[DeadLetter] = []
        users = _user_names(export.json("users.json", dead))
        names, private = _conversation_names(export, users, dead)
        days: dict[str, list[str]] = {}
        for member in export.names():
            match = DAY_FILE_RE.match(member)
            if match:
                days.setdefault(match["channel"], []).append(member)
        for name in export.bad_names:
            dead.append(self.dead_letter(name, "unsafe member name (absolute or '..'); not read"))
        dead += export.bad_folders
        if not days and not names:
            raise self.error(
                f"{self.shown_path(self.path)} holds no channels.json and no "
                "<channel>/<day>.json files"
            )
        for folder in set(known) - set(days):
            if f"{folder}/" not in export.refused:  # unreadable now is not gone
                del known[folder]
        known.update((folder, names[folder][0]) for folder in days if folder in names)
        resolved = {
            folder: names.get(folder) or names.get(known.get(folder, "")) or (folder, folder)
            for folder in days
        }
        if self.channels:
            self._check_channels(list(resolved.values()) + list(names.values()), private)
        by_channel: dict[tuple[str, str], list[str]] = {}
        for folder, channel_key in resolved.items():
            by_channel.setdefault(channel_key, []).append(folder)
        channels: dict[tuple[str, str], list[Message]] = {}
        for (channel_id, channel), folders in sorted(by_channel.items()):
            if self.channels and channel not in self.channels:
                continue
            if channel_id in private and not self.include_private:
                continue
            records = []
            for folder in sorted(folders, key=lambda f: (f == channel, f)):  # current name last
                for member in sorted(days[folder]):
                    day = export.json(member, dead)
                    if day is None:
                        continue
                    if not isinstance(day, list):
                        dead.append(self.dead_letter(member, "expected a JSON list of messages"))
                        continue
                    records += [(f"{member}#{i}", record) for i, record in enumerate(day)]
            users_and_bots = users | _bot_names(r for _, r in records)
            messages = [self._message(r, users_and_bots, ref, dead) for ref, r in records]
            channels[(channel_id, channel)] = [m for m in messages if m]
        return channels, dead

    def _check_channels(self, conversations: list[tuple[str, str]], private: set[str]) -> None:
        """Fail on a configured channel the export does not have (a typo, another workspace's
        export) or does not read (private, without `include_private`): the source would
        otherwise pass as a channel where nobody wrote. `conversations`: (id, name) pairs."""
        ids = {name: cid for cid, name in conversations}
        readable = sorted(n for n, cid in ids.items() if self.include_private or cid not in private)
        shown = self.shown_path(self.path)
        unknown = sorted(self.channels - ids.keys())
        named = {cid: name for name, cid in ids.items()}
        if by_id := [f"#{c} is the id of #{named[c]}" for c in unknown if c in named]:
            raise self.error(f"{shown}: {'; '.join(by_id)}: list channels by name")
        if unknown:
            what = "channel" if len(unknown) == 1 else "channels"
            has = first_names(f"#{n}" for n in readable) if readable else "no public channel"
            raise self.error(
                f"{shown} has no {what} {', '.join(f'#{n}' for n in unknown)} (it has {has})"
            )
        hidden = sorted(self.channels - set(readable))
        if hidden:
            are, them = ("is", "it") if len(hidden) == 1 else ("are", "them")
            raise self.error(
                f"{shown}: {', '.join(f'#{n}' for n in hidden)} {are} private; "
                f"set include_private: true to read {them}"
            )

    def _message(
        self, record: Any, users: dict[str, str], ref: str, dead: list[DeadLetter]
    ) -> Message | None:
        if not isinstance(record, dict):
            dead.append(self.dead_letter(ref, "a message must be a JSON object", record))
            return None
        try:
            at = datetime.fromtimestamp(float(record["ts"]), UTC)
        except (KeyError, TypeError, ValueError, OverflowError):
            dead.append(self.dead_letter(ref, "message without a valid 'ts'", json.dumps(record)))
            return None
        ts = str(record["ts"])
        thread_ts = str(record.get("thread_ts") or "")
        text, links = message_text(record, users)
        return Message(
            id=ts,
            author=_author(record, users),
            text=text,
            at=at,
            reply_to=thread_ts if thread_ts and thread_ts != ts else "",
            ref=ref,
            raw=json.dumps(record, ensure_ascii=False),
            links=tuple(links),
            system=record.get("subtype") in NOTICE_SUBTYPES,
        )


def message_text(record: dict, users: dict[str, str]) -> tuple[str, list[str]]:
    """Plain text of a message with its attachments and files, and the links they carry."""
    parts = [record.get("text") or ""]
    links: list[str] = []
    for att in dicts(record.get("attachments")):
        body = [att.get("pretext"), att.get("title"), att.get("text")]
        if not any(body):
            body = [att.get("fallback")]
        parts += [b for b in body if isinstance(b, str) and b]
        links += [u for u in (att.get("title_link"), att.get("from_url")) if isinstance(u, str)]
    for file in dicts(record.get("files")) + dicts([record.get("file")]):
        title = file.get("title") or file.get("name")
        if title and title not in parts[0]:
            parts.append(f"[file: {title}]")
        link = file.get("permalink") or file.get("url_private")
        if isinstance(link, str):
            links.append(link)
    text = "\n".join(slack_markup_to_text(p, users) for p in parts if isinstance(p, str) and p)
    return text.strip(), links


def slack_markup_to_text(text: str, users: dict[str, str]) -> str:
    """`<@U1>` -> `@name`, `<#C1|general>` -> `#general`, `<http://x|label>` -> `label (http://x)`."""

    def replace(match: re.Match) -> str:
        target, _, label = match[1].partition("|")
        if target.startswith("@"):
            return "@" + (users.get(target[1:]) or label.lstrip("@") or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            command = target[1:].split("^")[0]
            if command in ("here", "channel", "everyone"):
                return f"@{command}"
            return label or f"@{command}"
        if target.startswith(("mailto:", "tel:")):
            return label or target.split(":", 1)[1]
        if label and label != target:
            return f"{label} ({target})"
        return target

    return html.unescape(MARKUP_RE.sub(replace, text))


def _author(record: dict, users: dict[str, str]) -> str:
    user = record.get("user")
    if isinstance(user, str) and user in users:
        return users[user]
    profile = record.get("user_profile") if isinstance(record.get("user_profile"), dict) else {}
    bot = record.get("bot_profile") if isinstance(record.get("bot_profile"), dict) else {}
    for name in (
        profile.get("display_name"),
        profile.get("name"),
        record.get("username"),
        bot.get("name"),
    ):
        if isinstance(name, str) and name:
            return name
    if record.get("bot_id"):
        bot_id = f"bot:{record['bot_id']}"
        return users.get(bot_id, bot_id)
    return str(user or "unknown")


def _bot_names(records: Iterator[Any]) -> dict[str, str]:
    """Bot id -> integration name, from "added an integration: <https://…/B0JL6|github>"."""
    names = {}
    for record in records:
        if isinstance(record, dict) and record.get("subtype") == "bot_add" and record.get("bot_id"):
            match = re.search(r"\|([^|>]+)>", str(record.get("text", "")))
            if match:
                names[f"bot:{record['bot_id']}"] = match[1]
    return names


def _user_names(users: Any) -> dict[str, str]:
    names = {}
    for user in dicts(users):
        profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
        name = profile.get("display_name") or user.get("name") or user.get("real_name")
        if isinstance(user.get("id"), str) and name:
            names[user["id"]] = str(name)
    return names


def _conversation_names(
    export: _Export, users: dict[str, str], dead: list[DeadLetter]
) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """Folder name -> (conversation id, readable name), and the ids of private conversations.

    Folders are named by channel name, or by id for direct messages.
    """
    names: dict[str, tuple[str, str]] = {}
    private: set[str] = set()
    for listing in CONVERSATION_LISTS:
        for conv in export.listing(listing):
            cid = str(conv.get("id") or "")
            members = [users.get(m, m) for m in conv.get("members") or [] if isinstance(m, str)]
            name = str(conv.get("name") or ("dm-" + "-".join(members) if members else cid))
            if cid:
                names[name] = names[cid] = (cid, name)
                if listing != "channels.json":
                    private.add(cid)
    return names, private


class _Export:
    """Read-only access to the JSON members of an export, with size caps and safe names.
    `refused`: the members (or folders) refused whole, and the warning that says why."""

    def __init__(self, source: SlackSource):
        self.source = source
        self.read_total = 0
        self.bad_names: list[str] = []
        self.bad_folders: list[DeadLetter] = []  # folders that could not be listed
        self.refused: dict[str, str] = {}
        self._names: list[str] | None = None

    def __enter__(self) -> _Export:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def names(self) -> list[str]:
        if self._names is None:
            self._names = list(self._list())
        return self._names

    def json(self, name: str, dead: list[DeadLetter]) -> Any:
        """The parsed member; None when absent, or with a dead letter when unreadable."""
        if name not in self.names():
            return None
        try:
            data = self._read(name)
        except _Skip as exc:
            dead.append(self.source.dead_letter(name, str(exc)))
            self.refused[name] = f"{self.source.shown_path(self.source.path)}/{name}: {exc}"
            return None
        self.read_total += len(data)
        if self.read_total > MAX_TOTAL_BYTES:
            raise self.source.error(
                f"{self.source.shown_path(self.source.path)} unpacks to over {MAX_TOTAL_BYTES >> 20} MiB; not read"
            )
        try:
            return json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            dead.append(self.source.dead_letter(name, f"not valid JSON: {exc}", data[:2000]))
            return None

    def listing(self, name: str) -> list[dict]:
        """The conversations a list member (`channels.json`, ...) names; [] when absent. One
        that cannot be read stops the export: its channels would be keyed by folder name, and
        every thread come back under a new id (QA saw a truncated channels.json duplicate a
        workspace), so the run keeps what it has and reads the export again next time."""
        dead: list[DeadLetter] = []
        value = self.json(name, dead)
        if dead or (value is not None and not isinstance(value, list)):
            why = dead[0].reason if dead else "not a JSON list of conversations"
            shown = self.source.shown_path(self.source.path)
            raise self.source.error(
                f"{shown}/{name}: {why}; the export is read once it is fixed "
                "(without it, its channels would get new ids)"
            )
        return dicts(value)

    def _list(self) -> Iterator[str]:
        raise NotImplementedError

    def _read(self, name: str) -> bytes:
        raise NotImplementedError


class _Skip(Exception):
    """One member cannot be read; the rest of the export still counts."""


class _ZipExport(_Export):
    def __init__(self, zf: zipfile.ZipFile, source: SlackSource):
        super().__init__(source)
        self.zf = zf
        self.prefix = ""

    def close(self) -> None:
        self.zf.close()

    def _list(self) -> Iterator[str]:
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            shown = self.source.shown_path(self.source.path)
            raise self.source.error(f"{shown} has {len(infos)} members; not read")
        names = [i.filename for i in infos if not i.is_dir()]
        # some tools zip the export folder itself: "export/channels.json"
        tops = sorted((n for n in names if n.endswith("channels.json")), key=len)
        if tops and "/" in tops[0] and _safe(tops[0]):
            self.prefix = tops[0].rsplit("/", 1)[0] + "/"
        for name in names:
            if not _safe(name):
                self.bad_names.append(name)
            elif name.startswith(self.prefix):
                yield name[len(self.prefix) :]

    def _read(self, name: str) -> bytes:
        try:
            with self.zf.open(self.prefix + name) as member:
                data = member.read(self.source.member_limit + 1)
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError) as exc:
            raise _Skip(f"cannot read this zip member: {exc}") from None
        if len(data) > self.source.member_limit:
            limit = self.source.member_limit >> 20
            raise _Skip(f"over {limit} MiB uncompressed (raise max_file_mb); skipped")
        return data


class _FolderExport(_Export):
    def __init__(self, root: Path, source: SlackSource):
        super().__init__(source)
        self.root = root

    def _list(self) -> Iterator[str]:
        files, unreadable = json_files(self.root)
        for folder, error in unreadable:
            name = folder.relative_to(self.root).as_posix()
            why = f"{self.source.cannot_read(folder, error).message}; its files are not read"
            self.refused[name + "/"] = why
            self.bad_folders.append(self.source.dead_letter(name + "/", why))
        for path in sorted(files):
            yield path.relative_to(self.root).as_posix()

    def _read(self, name: str) -> bytes:
        path = self.root / name
        try:
            data = read_capped(path, self.source.member_limit)
        except OSError as exc:
            raise _Skip(f"cannot read: {exc.strerror}") from None
        if len(data) > self.source.member_limit:
            limit = self.source.member_limit >> 20
            raise _Skip(f"over {limit} MiB (raise max_file_mb); skipped")
        return data


def json_files(root: Path) -> tuple[list[Path], list[tuple[Path, OSError]]]:
    """The JSON files below `root`, and the folders that could not be listed (with why): a
    channel folder unreadable to the user running pln is named, not skipped silently."""
    files: list[Path] = []
    unreadable: list[tuple[Path, OSError]] = []

    def failed(error: OSError) -> None:
        if error.filename is None or Path(error.filename) == root:
            raise error
        unreadable.append((Path(error.filename), error))

    for folder, _, names in os.walk(root, onerror=failed):
        files += [Path(folder, n) for n in names if n.endswith(".json")]
    return files, unreadable


def _safe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return not path.is_absolute() and ".." not in path.parts and ":" not in name
