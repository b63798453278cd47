"""`pln sources`: each source's health, and `pln sources import FILE.opml`."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path

import yaml

from pln.atomic import write_atomic
from pln.progress import counted

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
    from pln.sinks.store import Store
    from pln.table import print_rows

    config = load_config(args.config)
    health: dict[str, tuple] = {}
    notes: dict[str, tuple] = {}
    if config.outputs.duckdb.exists():
        with Store(config.outputs.duckdb, read_only=True) as store:
            _, rows = store.sql(
                "SELECT name, ok, error_count, items_total, last_ok_at, next_poll_at, last_error "
                "FROM source_health"
            )
            notes = _fetch_notes(store)
        health = {row[0]: row for row in rows}
    table = []
    for src in config.sources:
        name, ok, errors, total, last_ok, next_poll, last_error = health.get(
            src.name, (src.name, None, 0, 0, None, None, "")
        )
        state = "never run" if ok is None else ("ok" if ok else f"failing ×{errors}")
        when = f"{last_ok:%Y-%m-%d %H:%M}" if last_ok else "-"
        nxt = f"{next_poll:%Y-%m-%d %H:%M}" if next_poll else "-"
        skipped, warnings = notes.get(src.name, ({}, []))
        why = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items())) or "-"
        said = last_error or "; ".join(f"warning: {w}" for w in warnings)
        table.append((name, src.type, state, total or 0, why, when, nxt, said))
    columns = ["source", "type", "state", "items", "skipped", "last ok", "next poll", "last error"]
    print_rows(columns, table, "table")
    return 0


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
    All or nothing: when the result is not a valid config, both files are left as they were."""
    from pln.config import load_config
    from pln.sources.opml import read_opml
    from pln.sources.registry import load_checked_config
    from pln.topic_edit import with_include

    config_path = Path(args.config)
    config = load_config(config_path)
    target = config_path.resolve().parent / SUBSCRIPTIONS
    existing = yaml.safe_load(target.read_text(encoding="utf-8")) if target.exists() else []
    known_urls = {s.options.get("url") for s in config.sources}
    entries = read_opml(args.opml, taken=[s.name for s in config.sources])
    new = [entry for entry in entries if entry["url"] not in known_urls]
    if new:
        text = yaml.safe_dump((existing or []) + new, sort_keys=False, allow_unicode=True)
        config_text = with_include(config_path, SUBSCRIPTIONS)
        with _restored_on_error(target, config_path):
            _write(target, "# Written by `pln sources import`; edit freely.\n" + text)
            if config_text is not None:
                _write(config_path, config_text)
            load_checked_config(config_path)  # the result must still be a valid config
    skipped = len(entries) - len(new)
    print(
        f"imported {counted(len(new), 'feed')} from {args.opml} into {target.name}"
        + (f" ({skipped} already subscribed)" if skipped else "")
    )
    return 0


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
