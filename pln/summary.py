"""The closing summary of a run, for people (text) and scripts (JSON).

It stays a dozen lines whatever the number of sources: lists of sources name the first
`NAMES` and say how many more (`pln sources` has them all).
"""

from __future__ import annotations

from pathlib import Path

from pln.config import Config
from pln.errors import shown_path
from pln.progress import counted, first_names

NAMES = 5  # sources named in one summary line
ERROR_LINES = 5  # failing sources shown with their error


def failed_sources_line(errors: dict[str, str], total: int) -> str:
    """ "2 of 9 sources failed: a, b (pln sources says why)", for stderr."""
    return (
        f"{len(errors):,} of {total:,} sources failed: {first_names(sorted(errors))} "
        "(`pln sources` says why)"
    )


def moved_line(name: str, url: str, config: Config) -> str:
    """ "blog-x: moved to URL (permanent redirect); update its url in pln.yaml"."""
    files = {src.name: src.file for src in config.sources}
    where = shown_path(Path(files[name])) if files.get(name) else "the config"
    return f"{name}: moved to {url} (permanent redirect); update its url in {where}"


def moved_lines(moved: dict[str, str], config: Config) -> list[str]:
    """One line per feed that moved for good (its url answers with a permanent redirect),
    the first `NAMES` of them: pln never edits the config, the user does."""
    names = sorted(moved)
    lines = [f"    → {moved_line(name, moved[name], config)}" for name in names[:NAMES]]
    if len(names) > NAMES:
        lines.append(f"    → … and {len(names) - NAMES:,} more moved (`pln sources` says where)")
    return lines


def format_run_summary(summary, config: Config) -> str:
    s = summary.stats
    items, sources = s["items"], s["sources"]
    read = items["written"]
    lines = [f"PLN Curator run {summary.run_id}: {summary.seconds:.1f} s"]
    failed = sources["failed"]
    src_line = f"  sources   {sources['ok']:,} read"
    if sources["not_modified"]:
        src_line += f" ({sources['not_modified']:,} unchanged, skipped)"
    if failed:
        src_line += f", {failed:,} failed"
    waiting = sources.get("backing_off", {})
    if waiting:
        src_line += f", {len(waiting):,} backing off ({first_names(waiting)}; --full to retry now)"
    if disabled := sources.get("disabled"):
        src_line += f", {len(disabled):,} disabled ({first_names(disabled)})"
    lines.append(src_line)
    errors = sorted(sources["errors"].items())
    for name, error in errors[:ERROR_LINES]:
        lines.append(f"    ✗ {name}: {error.removeprefix(f'source {name!r}: ')}")
    if len(errors) > ERROR_LINES:
        lines.append(f"    ✗ … and {len(errors) - ERROR_LINES:,} more (`pln sources`)")
    lines += moved_lines(sources.get("moved", {}), config)
    items_line = (
        f"  items     {read:,} read: {items['new']:,} new, {items['updated']:,} updated, "
        f"{items['unchanged']:,} unchanged"
    )
    if s.get("forgotten_earlier"):
        items_line += f"; {s['forgotten_earlier']:,} forgotten earlier, left out"
    lines.append(items_line)
    per_topic = s["topics"]
    kept_parts = [f"{t.id} {per_topic.get(t.id, {}).get('kept', 0):,}" for t in config.topics]
    lines.append(f"  kept      {' · '.join(kept_parts)}")
    lines.append(f"  dropped   {counted(s.get('dropped', 0), 'item')} matched no topic")
    lines += _left_out_lines(s.get("drops_by_source", {}), s.get("warnings", {}))
    dead = s["dead_letters"]
    if dead:
        # The sources with the most dead letters first.
        by_source = sorted(s["dead_letters_by_source"].items(), key=lambda kv: (-kv[1], kv[0]))
        shown = first_names(f"{k} {v:,}" for k, v in by_source)
        lines.append(f"  dead      {counted(dead, 'record')} could not be read ({shown})")
    else:
        lines.append("  dead      0")
    if "forgotten" in s:
        from pln.sinks.store_forget import forgotten_line

        lines.append(f"  forgot    {forgotten_line(s['forgotten'])}")
    lines.append(f"  database  {shown_path(summary.db_path)}")
    lines.append(
        f"  feeds     {shown_path(summary.feeds_dir)}/ "
        f"({counted(len(summary.feeds), 'file')}, index.opml)"
    )
    if removed := s.get("feeds_removed"):
        lines.append(
            f"            removed the feeds of {', '.join(removed)}: no longer in the config"
        )
    if s.get("rescore_due"):
        lines.append(
            "  rescore   the topics, the model or pln's matching changed since the stored items "
            "were scored: `pln rescore` applies them"
        )
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
