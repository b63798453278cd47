"""Whether a run's feeds need rendering again: a fingerprint of everything they are made of.

A daily run where every source answers "not modified" writes nothing, yet it rendered every
topic's feeds again: 0.65-0.70 s on a store of 1M items (the example's four topics), more than a
third of such a run. The fingerprint covers what the rendered files depend on: the stored items,
decisions and stories (every write moves a count or a time below), the config's topics and
outputs, the digest periods that `now` has finished, the feedback key, and the rendering code.
It is kept beside the database (`<database>.feeds-state`, not in the feeds folder, which people
publish) with the files that render wrote; when it matches and every file is there, the render
is skipped.

The state names the files relative to the database's folder, so a project moved whole, database
and feeds together, still removes the feeds of a topic it no longer has, and `pln serve` still
answers 410 for them (until 4 December 2026 names were absolute, and a moved project did
neither). A state written before is still read: its absolute names are where they say.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from pln import __version__
from pln.atomic import write_atomic
from pln.config import Config

from .feeds import feed_filename, render_feeds
from .store import Store

STATE_SUFFIX = ".feeds-state"
# Each write of an item sets its last_seen_at; each change of a decision, its decided_at.
STORE_MARKS = """SELECT (SELECT count(*) FROM items), (SELECT max(last_seen_at) FROM items),
                        (SELECT count(*) FROM decisions), (SELECT max(decided_at) FROM decisions),
                        (SELECT count(*) FROM story_members)"""


class Rendered(NamedTuple):
    paths: list[Path]  # the feed files, written now or by the render before
    rendered: bool  # whether this call rendered them
    removed: list[str]  # topics whose feeds were removed: no longer in the config


def render_feeds_if_changed(
    store: Store, config: Config, *, now: datetime | None = None
) -> Rendered:
    """`render_feeds` unless nothing they show changed since the last render (`record_render`
    removes the feeds of topics no longer in the config)."""
    now = now or datetime.now(UTC)
    state = state_path(store.path)
    last = _read(state)
    files = [_located(name, store.path) for name in last.get("files", [])]
    unchanged = last.get("fingerprint") == feeds_fingerprint(store, config, now)
    if unchanged and all(path.is_file() for path in files):
        return Rendered(files, False, [])
    paths = render_feeds(store, config, now=now)
    # Fingerprinted after the render: a first render makes the feedback key it covers.
    removed = record_render(store.path, paths, feeds_fingerprint(store, config, now), last)
    return Rendered(paths, True, removed)


def record_render(
    db_path: Path, paths: list[Path], fingerprint: str | None = None, last: dict | None = None
) -> list[str]:
    """Note the files a render wrote (and its fingerprint; None: render next time anyway), and
    remove the feeds the last render wrote for topics this one no longer has (a topic taken
    out of the config, or renamed), so they are not served stale forever. Only topic feed files
    the last render wrote in this render's folder go; returns their topic ids."""
    state = state_path(db_path)
    last = _read(state) if last is None else last
    written = {_absolute(path) for path in paths}
    folders = {path.parent for path in written}
    # Every removed file is remembered (a few bytes a topic), so `pln serve` can answer 410
    # Gone for it, until a topic of that id is written again.
    removed = {
        _name(path, db_path): gone
        for name, gone in _removed(last).items()
        if (path := _located(name, db_path)) not in written
    }
    today = datetime.now(UTC).date().isoformat()
    gone = []
    for name in last.get("files", []):
        old = _located(name, db_path)
        topic = _topic_of(old.name)
        if old in written or topic is None or old.parent not in folders:
            continue
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
        gone.append(topic)
        removed[_name(old, db_path)] = {"topic": topic, "on": today}
    files = sorted(_name(path, db_path) for path in written)
    done = {"fingerprint": fingerprint, "files": files, "removed": removed}
    with contextlib.suppress(OSError):  # then the next run renders again: slower, never stale
        write_atomic(state, json.dumps(done).encode())
    return sorted(set(gone))


class RemovedFeed(NamedTuple):
    topic: str
    on: str  # the day (UTC, ISO) its render removed it


def removed_feeds(db_path: Path, feeds_dir: Path) -> dict[str, RemovedFeed]:
    """The feed files of topics taken out of the config that renders removed from `feeds_dir`,
    by file name (and not written again since)."""
    folder = _absolute(feeds_dir)
    return {
        path.name: RemovedFeed(gone["topic"], gone["on"])
        for name, gone in _removed(_read(state_path(db_path))).items()
        if (path := _located(name, db_path)).parent == folder
    }


def _name(path: Path, db_path: Path) -> str:
    """How the state names the file at `path` (absolute): relative to the database's folder."""
    try:
        return os.path.relpath(path, _absolute(db_path).parent)
    except ValueError:  # on another drive (Windows): absolute
        return str(path)


def _located(name: str, db_path: Path) -> Path:
    """The file a state's `name` names (absolute), the database being at `db_path`."""
    return _absolute(_absolute(db_path).parent / name)  # an absolute name stays as it is


def _absolute(path: Path) -> Path:
    """`path` absolute and normalized (`..` by name: links are not followed)."""
    return Path(os.path.abspath(path))


def _removed(state: dict) -> dict[str, dict[str, str]]:
    removed = state.get("removed")
    if not isinstance(removed, dict):
        return {}
    return {
        name: gone
        for name, gone in removed.items()
        if isinstance(gone, dict) and {"topic", "on"} <= gone.keys()
    }


def _topic_of(filename: str) -> str | None:
    """The topic id of a topic feed's file name (`feed_filename`), else None."""
    for kind in ("rss", "atom", "json"):
        suffix = feed_filename("", kind)
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename.removesuffix(suffix)
    return None


def state_path(db_path: Path) -> Path:
    return Path(f"{db_path}{STATE_SUFFIX}")


def feeds_fingerprint(store: Store, config: Config, now: datetime) -> str:
    parts = [
        repr(store.con.execute(STORE_MARKS).fetchone()),
        repr(config.topics),
        repr(config.outputs),
        repr(_finished_periods(config, now)),
        _file_mark(Path(f"{store.path}.key")),
        _code_mark(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _finished_periods(config: Config, now: datetime) -> list[str]:
    """Per topic with a digest, the start of the current day or week: a digest shows the
    periods before it, so the feeds change when it moves."""
    local = now.astimezone(ZoneInfo(config.schedule.timezone)).date()
    starts = []
    for topic in config.topics:
        if topic.digest == "daily":
            starts.append(f"{topic.id}:{local}")
        elif topic.digest:
            starts.append(f"{topic.id}:{local - timedelta(days=local.weekday())}")
    return starts


def _file_mark(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return f"{path}: none"
    return f"{path}: {stat.st_size} {stat.st_mtime_ns}"


def _code_mark() -> str:
    """The version and this package's modules, so a new or edited pln renders again."""
    here = Path(__file__).parent
    return __version__ + "".join(_file_mark(module) for module in sorted(here.glob("*.py")))


def _read(path: Path) -> dict:
    """The last render's fingerprint and files ({} when there is none to trust)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable, or not JSON (UnicodeDecodeError too)
        return {}
    return state if isinstance(state, dict) else {}
