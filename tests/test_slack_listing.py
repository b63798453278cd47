"""A Slack export whose conversation list (`channels.json`, ...) cannot be read is not read at
all: its channels would be keyed by folder name, and every thread come back under a new id (QA,
4 December 2026: a truncated channels.json duplicated a whole workspace)."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import db_rows, make_source

from pln.cli import main
from pln.record import lasting

EXPORT = Path(__file__).parent / "fixtures" / "chat" / "slack" / "export"


def slack_project(tmp_path: Path) -> Path:
    """A copy of the export fixture in slack/ and a config reading it; returns the config."""
    shutil.copytree(EXPORT, tmp_path / "slack")
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n  - {name: team, type: slack, path: slack}\n"
        "topics:\n  - {id: onboarding, phrases: [onboarding]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return config


def test_an_unreadable_channels_json_fails_the_source_and_changes_no_id(tmp_path, capsys):
    config = slack_project(tmp_path)
    db = tmp_path / "out" / "pln.duckdb"
    assert main(["run", "-q", "-c", str(config)]) == 0
    ids = db_rows(db, "SELECT id FROM items ORDER BY id")
    assert ids

    listing = tmp_path / "slack" / "channels.json"
    whole = listing.read_bytes()
    listing.write_bytes(whole[:-5])  # an interrupted unzip
    capsys.readouterr()
    assert main(["run", "-c", str(config)]) == 0
    said = capsys.readouterr()
    failed = [line for line in said.out.splitlines() if "✗ team:" in line]
    assert len(failed) == 1 and "slack/channels.json: not valid JSON" in failed[0]
    assert "1 of 1 sources failed: team" in said.err
    assert db_rows(db, "SELECT id FROM items ORDER BY id") == ids
    assert db_rows(db, "SELECT count(*) FROM dead_letters") == [(0,)]

    listing.write_bytes(whole)
    assert main(["run", "-q", "--full", "-c", str(config)]) == 0  # --full: past the backoff
    assert db_rows(db, "SELECT id FROM items ORDER BY id") == ids


def test_a_conversation_list_that_is_not_a_list_fails_the_source_in_one_line(tmp_path, capsys):
    config = slack_project(tmp_path)
    (tmp_path / "slack" / "channels.json").write_text('{"error": "not_authed"}')
    assert main(["run", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "✗ team: slack/channels.json: not a JSON list of conversations;" in out
    assert db_rows(tmp_path / "out" / "pln.duckdb", "SELECT count(*) FROM items") == [(0,)]


def test_a_channel_renamed_in_a_newer_export_unzipped_over_the_old_one_keeps_its_ids(
    tmp_path, capsys
):
    """QA, 6 December 2026: Slack names a channel's folder by its current name, so a newer
    export unzipped over the old one leaves the old name's folder beside the new one. The old
    folder, no longer in channels.json, was keyed by its name: every thread of the channel came
    back as a new item beside the one stored."""
    config = slack_project(tmp_path)
    db = tmp_path / "out" / "pln.duckdb"
    assert main(["run", "-q", "-c", str(config)]) == 0
    before = db_rows(db, "SELECT id, native_id FROM items ORDER BY id")
    assert before

    export = tmp_path / "slack"
    shutil.copytree(export / "lrn-design", export / "learning-design")  # the newer export
    listing = export / "channels.json"
    listing.write_text(listing.read_text().replace('"lrn-design"', '"learning-design"'))
    (export / "learning-design" / "2026-11-20.json").write_text(
        '[{"type": "message", "user": "U01JANE", "ts": "1763650000.000100",'
        ' "text": "Follow-up: a retrieval practice pilot for onboarding next month"}]'
    )
    assert main(["run", "-q", "-c", str(config)]) == 0
    after = db_rows(db, "SELECT id, native_id FROM items ORDER BY id")
    new = sorted(set(after) - set(before))
    assert [native for _, native in new] == ["C01LRN:1763650000.000100"]
    titles = db_rows(db, "SELECT DISTINCT title LIKE '#learning-design%' FROM items")
    assert titles == [(True,)]

    assert main(["run", "-c", str(config)]) == 0  # nothing changed since
    assert "1 read (1 unchanged, skipped)" in capsys.readouterr().out
    assert db_rows(db, "SELECT id, native_id FROM items ORDER BY id") == after


def test_a_renamed_channels_old_folder_keeps_its_ids_when_read_whole_again(tmp_path):
    """`pln run --full` and config edits keep only the cursor's lasting part (`lasting`): the
    folders' channel ids must be in it, or the old name's folder comes back keyed by name."""
    export = tmp_path / "slack"
    shutil.copytree(EXPORT, export)
    source = make_source("slack", tmp_path, "team", path=str(export))
    first = source.fetch(None)
    shutil.copytree(export / "lrn-design", export / "learning-design")  # the newer export
    listing = export / "channels.json"
    listing.write_text(listing.read_text().replace('"lrn-design"', '"learning-design"'))
    second = source.fetch(first.cursor)
    whole = source.fetch(lasting(second.cursor))
    assert {i.native_id for i in whole.items} == {i.native_id for i in first.items}
    assert source.unchanged(whole.cursor) and source.fetch(whole.cursor).not_modified
