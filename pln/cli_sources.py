"""`pln sources`: each source's health, and `pln sources import FILE.opml`."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from pln.atomic import write_atomic
from pln.progress import counted

if TYPE_CHECKING:
    from pln.sources.opml import Skipped

SUBSCRIPTIONS = "subscriptions.yaml"


def add_source_commands(sub, config_arg) -> None:
    sources = sub.add_parser("sources", help="show each source's health; import OPML subscriptions")
    config_arg(sources)
    sources.set_defaults(func=cmd_sources)
    actions = sources.add_subparsers(metavar="ACTION")
    imp = actions.add_parser("import", help="add the feeds of a feed reader's OPML export")
    imp.add_argument("opml", help="the OPML file exported from a feed reader")
    config_arg(imp)
    imp.set_defaults(func=cmd_import)


def cmd_sources(args: argparse.Namespace) -> int:
    from pln.config import load_config
    from pln.pipelines.batch import moved_feeds
    from pln.sinks.store import Store
    from pln.table import print_rows

    config = load_config(args.config)
    health: dict[str, tuple] = {}
    notes: dict[str, tuple] = {}
    stored: dict[str, int] = {}
    moved: dict[str, str] = {}
    if config.outputs.duckdb.exists():
        with Store(config.outputs.duckdb, read_only=True) as store:
            _, rows = store.sql(
                "SELECT name, ok, error_count, last_ok_at, next_poll_at, last_error, "
                "last_error_at FROM source_health"
            )
            notes = _fetch_notes(store)
            stored = _stored_items(store)
            moved = moved_feeds(store)
        health = {row[0]: row for row in rows}
    table = []
    for src in config.sources:
        name, ok, errors, last_ok, next_poll, last_error, error_at = health.get(
            src.name, (src.name, None, 0, None, None, "", None)
        )
        if not src.enabled:
            # Not read until `enabled: false` goes: its last run's columns stay as they were.
            state = "disabled"
        else:
            state = "never run" if ok is None else ("ok" if ok else f"failing ×{errors}")
        if name in moved:
            state += ", moved"
        when = f"{last_ok:%Y-%m-%d %H:%M}" if last_ok else "-"
        nxt = f"{next_poll:%Y-%m-%d %H:%M}" if next_poll and src.enabled else "-"
        skipped, warnings = notes.get(src.name, ({}, []))
        why = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items())) or "-"
        said = "; ".join(f"warning: {w}" for w in warnings)
        last_error = (last_error or "").removeprefix(f"source '{name}': ")  # the row names it
        if last_error and not ok:
            said = last_error
        elif last_error and not said:  # a source that recovered: the error is history
            said = f"recovered; {error_at:%Y-%m-%d %H:%M}: {last_error}" if error_at else ""
        table.append((name, src.type, state, stored.get(name, 0), why, when, nxt, said))
    columns = ["source", "type", "state", "items", "skipped", "last ok", "next poll", "last error"]
    print_rows(columns, table, "table")
    # Below the table, whole: a URL cut to fit a column could not be copied into the config.
    if moved:
        from pln.summary import moved_line

        for src in config.sources:
            if src.name in moved:
                print(f"→ {moved_line(src.name, moved[src.name], config)}")
    return 0


def _stored_items(store) -> dict[str, int]:
    """How many items the store holds from each source now: an item that several sources
    delivered counts for each of them; forgotten items do not count."""
    from pln.errors import PlnError

    try:
        _, rows = store.sql("SELECT s, count(*) FROM items, unnest(items.sources) t(s) GROUP BY s")
    except PlnError:  # an older database opened read-only: no items.sources yet
        _, rows = store.sql("SELECT source, count(*) FROM items GROUP BY source")
    return dict(rows)


def _fetch_notes(store) -> dict[str, tuple[dict[str, int], list[str]]]:
    """Each source's drops ({reason: messages}) and warnings of its last fetch that read data;
    none from a database made before they were recorded."""
    import json

    from pln.errors import PlnError

    try:
        _, rows = store.sql("SELECT name, last_drops, last_warnings FROM sources")
    except PlnError:  # an older database opened read-only: no such columns yet
        return {}
    return {name: (json.loads(d or "{}"), json.loads(w or "[]")) for name, d, w in rows}


def cmd_import(args: argparse.Namespace) -> int:
    """Merge the OPML's feeds into subscriptions.yaml beside the config and include that file.
    Outlines that cannot be imported are skipped and named; a file with no usable feed is an
    error. All or nothing: when the result is not a valid config, both files stay as they were."""
    from pln.config import load_config
    from pln.sources.opml import read_opml_feeds

    config_path = Path(args.config)
    config = load_config(config_path)
    target = config_path.resolve().parent / SUBSCRIPTIONS
    subscribed = {s.options["url"]: s.name for s in config.sources if s.options.get("url")}
    feeds = read_opml_feeds(
        args.opml, taken=[s.name for s in config.sources], subscribed=subscribed
    )
    if feeds.entries:
        _add_subscriptions(config_path, target, feeds.entries)
    if feeds.entries:
        done = f"imported {counted(len(feeds.entries), 'feed')} from {args.opml} into {target.name}"
    else:  # no file was written
        done = f"nothing added from {args.opml}: no new feed in it"
    print(done + _skipped_counts(feeds.skipped))
    for line in _skip_warnings(args.opml, feeds.skipped):
        print(f"pln: warning: {line}", file=sys.stderr)
    return 0


def _add_subscriptions(config_path: Path, target: Path, entries: list[dict]) -> None:
    """Append `entries` to `target` and include it in the config; both files or neither."""
    from pln.sources.registry import load_checked_config
    from pln.topic_edit import with_include

    text = yaml.safe_dump(_listed(target) + entries, sort_keys=False, allow_unicode=True)
    config_text = with_include(config_path, SUBSCRIPTIONS)
    with _restored_on_error(target, config_path):
        _write(target, "# Written by `pln sources import`; edit freely.\n" + text)
        if config_text is not None:
            _write(config_path, config_text)
        load_checked_config(config_path)  # the result must still be a valid config


def _listed(target: Path) -> list:
    """The source entries already in `target` (none when it does not exist)."""
    from pln.config import read_yaml
    from pln.errors import ConfigError

    if not target.exists():
        return []
    listed = read_yaml(target.read_text(encoding="utf-8"), str(target))
    if not isinstance(listed, list | None):
        raise ConfigError(str(target), "", "must be a list of source entries")
    return listed or []


SHOWN = 3  # outlines a warning names; it counts the rest


def _skipped_counts(skipped: list[Skipped]) -> str:
    """ "; skipped 2 already subscribed, 1 not http(s)", or "" when none was skipped."""
    from pln.sources import opml

    words = {
        opml.SUBSCRIBED: "already subscribed",
        opml.DUPLICATE: "listed twice in the file",
        opml.NOT_HTTP: "not http(s)",
        opml.NO_URL: "with no xmlUrl",
    }
    counts = Counter(s.reason for s in skipped)
    said = ", ".join(f"{counts[r]} {w}" for r, w in words.items() if counts[r])
    return f"; skipped {said}" if said else ""


def _skip_warnings(file: str, skipped: list[Skipped]) -> list[str]:
    """One line per kind of unusable outline, naming the first few."""
    from pln.sources import opml

    lines = []
    for reason, words in (
        (opml.NOT_HTTP, "whose xmlUrl is not http(s)"),
        (opml.NO_URL, "with no xmlUrl"),
    ):
        these = [s for s in skipped if s.reason == reason]
        if these:
            named = ", ".join(_named(s) for s in these[:SHOWN])
            more = f" and {len(these) - SHOWN} more" if len(these) > SHOWN else ""
            lines.append(f"{file}: skipped {counted(len(these), 'outline')} {words}: {named}{more}")
    return lines


def _named(skipped: Skipped) -> str:
    title = repr(skipped.title) if skipped.title else "an untitled outline"
    return f"{title} ({skipped.url})" if skipped.url else title


@contextmanager
def _restored_on_error(*paths: Path):
    """Put `paths` back as they were (or remove those that did not exist) if the block fails."""
    before = {p: (p.read_bytes(), p.stat().st_mode & 0o777) for p in paths if p.exists()}
    try:
        yield
    except BaseException:
        for path in paths:
            if path in before:
                data, mode = before[path]
                write_atomic(path, data, mode=mode)
            else:
                path.unlink(missing_ok=True)
        raise


def _write(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    write_atomic(path, text.encode("utf-8"), mode=mode)
