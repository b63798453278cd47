"""Running the bundled example in a folder of its own and reading back what it wrote, for tests
that compare engines and runners (rows per table, feed files with the run's times masked)."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import duckdb

from pln.config import load_config
from pln.pipelines.batch import run_batch

REPO = Path(__file__).resolve().parents[1]

# What a run wrote, without the columns that say when or in which run it was written.
QUERIES = {
    "items": "SELECT * EXCLUDE (fetched_at, first_seen_at, last_seen_at, updated_at, run_id, "
    "last_run_id, updated_run_id) FROM items ORDER BY id",
    "decisions": "SELECT item_id, topic, round(score, 9), kept, reason, topic_version, "
    "model_version FROM decisions ORDER BY 1, 2",
    # A dead letter's ref (and so its id) and a cursor name files, which are in each run's folder.
    "dead_letters": "SELECT source, replace(ref, $work, ''), reason, raw FROM dead_letters "
    "ORDER BY ALL",
    "sources": "SELECT name, type, ok, error, error_count, items_total, last_items, "
    "last_dead_letters, not_modified, replace(cursor, $work, '') FROM sources ORDER BY name",
    "stories": "SELECT item_id, story_id FROM story_members ORDER BY 1",
}


def run_example(work: Path, feed_key: Path | None = None, **runner) -> tuple[dict, dict]:
    """Runs the bundled example in `work`, with `runner` settings (engine, workers,
    beam_args); returns its rows per table and its feed files.

    `feed_key`: the secret that signs the feeds' feedback links, so two runs sign alike."""
    shutil.copytree(REPO / "examples", work, ignore=shutil.ignore_patterns("out"))
    config = load_config(work / "pln.yaml")
    if feed_key:
        config.outputs.duckdb.parent.mkdir(parents=True)
        shutil.copy(feed_key, f"{config.outputs.duckdb}.key")
    config = dataclasses.replace(config, runner=dataclasses.replace(config.runner, **runner))
    started = datetime.now(UTC)
    summary = run_batch(config)
    print(f"{work.name}: {summary.seconds:.1f} s")
    run_times = (started - timedelta(seconds=1), datetime.now(UTC) + timedelta(seconds=1))
    assert summary.stats["sources"]["failed"] == 1  # the deliberately broken feed
    with duckdb.connect(str(config.outputs.duckdb), read_only=True) as con:
        rows = {
            table: con.execute(query, {"work": str(work)} if "$work" in query else None).fetchall()
            for table, query in QUERIES.items()
        }
    feeds_dir = config.outputs.feeds_dir
    feeds = {p.name: mask_run_times(p.read_text(), *run_times) for p in sorted(feeds_dir.iterdir())}
    return rows, feeds


RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
RFC822 = r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d (?:GMT|[+-]\d{4})"
PAGE = r"\d{1,2} \w{3} \d{4} \d\d:\d\d UTC"  # index.html, to the minute


def mask_run_times(text: str, start: datetime, end: datetime) -> str:
    """Feeds date what was first seen in this run (and their build) with the run's clock."""

    def mask(match: re.Match) -> str:
        stamp = match.group()
        if stamp.endswith(" UTC"):
            at = datetime.strptime(stamp, "%d %b %Y %H:%M UTC").replace(tzinfo=UTC)
            in_run = start.replace(second=0, microsecond=0) <= at <= end
        else:
            parse = parsedate_to_datetime if "," in stamp else datetime.fromisoformat
            in_run = start <= parse(stamp) <= end
        return "<run time>" if in_run else stamp

    text = re.sub(f"{RFC3339}|{RFC822}|{PAGE}", mask, text)
    # Feedback links expire 90 days after an item was first seen, and are signed with that.
    return re.sub(r"exp=\d+(&(?:amp;)*)sig=[0-9a-f]+", r"exp=<run time>\1sig=<signed>", text)
