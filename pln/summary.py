"""The closing summary of a run, for people (text) and scripts (JSON)."""

from __future__ import annotations

import os
from pathlib import Path

from pln.config import Config


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def format_run_summary(summary, config: Config) -> str:
    s = summary.stats
    items, sources = s["items"], s["sources"]
    read = items["written"]
    lines = [f"PLN Curator run {summary.run_id}: {summary.seconds:.1f} s"]
    failed = sources["failed"]
    src_line = f"  sources   {sources['ok']} read"
    if sources["not_modified"]:
        src_line += f" ({sources['not_modified']} unchanged, skipped)"
    if failed:
        src_line += f", {failed} failed"
    waiting = sources.get("backing_off", {})
    if waiting:
        src_line += f", {len(waiting)} backing off ({', '.join(waiting)}; --full to retry now)"
    lines.append(src_line)
    for name, error in sources["errors"].items():
        lines.append(f"    ✗ {name}: {error.removeprefix(f'source {name!r}: ')}")
    lines.append(
        f"  items     {read:,} read: {items['new']:,} new, {items['updated']:,} updated, "
        f"{items['unchanged']:,} unchanged"
    )
    per_topic = s["topics"]
    kept_parts = [f"{t.id} {per_topic.get(t.id, {}).get('kept', 0):,}" for t in config.topics]
    lines.append(f"  kept      {' · '.join(kept_parts)}")
    lines.append(f"  dropped   {s.get('dropped', 0):,} items matched no topic")
    lines += _left_out_lines(s.get("drops_by_source", {}), s.get("warnings", {}))
    dead = s["dead_letters"]
    if dead:
        by_source = ", ".join(f"{k} {v}" for k, v in s["dead_letters_by_source"].items())
        lines.append(f"  dead      {dead:,} records could not be read ({by_source})")
    else:
        lines.append("  dead      0")
    lines.append(f"  database  {_rel(summary.db_path)}")
    lines.append(f"  feeds     {_rel(summary.feeds_dir)}/ ({len(summary.feeds)} files, index.opml)")
    return "\n".join(lines)


SHOWN_SOURCES = 5  # the summary stays short with a thousand sources


def _left_out_lines(drops: dict[str, dict[str, int]], warnings: dict[str, list[str]]) -> list:
    """`skipped` (records left out on purpose, per reason) and one `!` line per warning."""
    lines = []
    if drops:
        total = sum(sum(by_reason.values()) for by_reason in drops.values())
        reasons: dict[str, int] = {}
        for by_reason in drops.values():
            for reason, count in by_reason.items():
                reasons[reason] = reasons.get(reason, 0) + count
        why = ", ".join(f"{reason} {count:,}" for reason, count in sorted(reasons.items()))
        busiest = sorted(drops, key=lambda name: -sum(drops[name].values()))
        where = ", ".join(f"{n} {sum(drops[n].values()):,}" for n in busiest[:SHOWN_SOURCES])
        if len(busiest) > SHOWN_SOURCES:
            where += f", {len(busiest) - SHOWN_SOURCES} more"
        lines.append(f"  skipped   {total:,} read and left out: {why} ({where})")
    shown = [(name, w) for name, ws in sorted(warnings.items()) for w in ws]
    for name, warning in shown[:SHOWN_SOURCES]:
        lines.append(f"    ! {name}: {warning}")
    if len(shown) > SHOWN_SOURCES:
        lines.append(f"    ! {len(shown) - SHOWN_SOURCES} more warnings: see `pln sources`")
    return lines
