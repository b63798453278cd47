"""Export files with a mistake in them, found running `pln run` on copies of examples/pln.yaml:
a JSON Lines file whose first line was cut short, an X archive with one byte that is not UTF-8,
a folder holding no file its source reads, and a Slack channel the export does not have. Each
is one clear line, and costs no record that could be read."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from helpers import chat_source, db_rows, make_source

from pln.cli import main
from pln.errors import SourceError
from pln.sources.zoom import MEETING_CHAT

FIXTURES = Path(__file__).parent / "fixtures"
TWITTER = FIXTURES / "twitter"
CHAT = FIXTURES / "chat"


def fetch_error(source) -> str:
    with pytest.raises(SourceError) as err:
        source.fetch(None)
    assert "\n" not in err.value.message
    return err.value.message


# -- twitter_v2: a first line cut short ----------------------------------------------------------

CUT = '{"data": [{"id": "1", "text": "cut sho\n'


def test_a_first_jsonl_line_cut_short_is_a_dead_letter_and_the_rest_is_read(tmp_path):
    pages = (TWITTER / "twarc_pages.jsonl").read_text()
    (tmp_path / "cut.jsonl").write_text(CUT + pages)
    got = make_source("twitter_v2", tmp_path, "x", path="cut.jsonl").fetch(None)
    whole = make_source("twitter_v2", TWITTER, "x", path="twarc_pages.jsonl").fetch(None)
    assert got.items and [i.id for i in got.items] == [i.id for i in whole.items]
    first = got.dead_letters[0]
    assert (first.ref, first.raw) == ("cut.jsonl:1", CUT.rstrip("\n"))
    assert first.reason.startswith("line is not valid JSON: ")
    assert len(got.dead_letters) == len(whole.dead_letters) + 1


def test_a_gz_page_file_cut_short_keeps_its_pages_and_the_folders_other_files(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    packed = gzip.compress((TWITTER / "twarc_pages.jsonl").read_bytes())
    (folder / "a.jsonl.gz").write_bytes(packed[: len(packed) * 2 // 3])  # a copy cut short
    shutil.copy(TWITTER / "search_page.json", folder / "b.json")
    got = make_source("twitter_v2", tmp_path, "x", path="x").fetch(None)
    whole = make_source("twitter_v2", TWITTER, "x", path="twarc_pages.jsonl").fetch(None)
    alone = make_source("twitter_v2", TWITTER, "x", path="search_page.json").fetch(None)
    got_ids = {i.id for i in got.items}
    assert {i.id for i in alone.items} <= got_ids  # the other file of the folder
    assert got_ids - {i.id for i in alone.items} <= {i.id for i in whole.items}
    assert len(got_ids) > len(alone.items)  # and what the cut file held before its cut
    cut = [d for d in got.dead_letters if d.ref == "x/a.jsonl.gz"]
    assert len(cut) == 1 and cut[0].reason.startswith("broken or cut short .gz file: ")


def test_a_file_without_one_good_line_still_fails_in_one_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text(CUT + "<feed>\nnot json either\n")
    message = fetch_error(make_source("twitter_v2", tmp_path, "x", path="bad.jsonl"))
    assert message.startswith("bad.jsonl is not X API v2 JSON (pages or tweets); line 1: ")


def test_a_broken_indented_document_names_the_line_of_its_mistake(tmp_path):
    (tmp_path / "page.json").write_text(
        '{\n  "data": [\n    {"id": "1", "text": "a"}\n    {"id": "2", "text": "b"}\n  ]\n}\n'
    )
    message = fetch_error(make_source("twitter_v2", tmp_path, "x", path="page.json"))
    assert "line 4: not JSON or JSON Lines: Expecting ',' delimiter" in message


# -- twitter_archive: a byte that is not UTF-8, a file that is no archive ----------------------


def archive_with_stray_byte(tmp_path: Path) -> Path:
    """A copy of the archive fixture whose first tweet says `café` in Latin-1."""
    archive = tmp_path / "archive"
    shutil.copytree(TWITTER / "archive", archive)
    tweets = archive / "data" / "tweets.js"
    tweets.write_bytes(tweets.read_bytes().replace(b"Tonight:", b"Tonight caf\xe9:", 1))
    return archive


@pytest.mark.parametrize("packed", ["folder", "zip"])
def test_a_stray_byte_in_an_archive_keeps_every_tweet(tmp_path, packed):
    archive = archive_with_stray_byte(tmp_path)
    if packed == "zip":
        with zipfile.ZipFile(tmp_path / "archive.zip", "w") as zf:
            for path in sorted(archive.rglob("*.js")):
                zf.write(path, path.relative_to(archive).as_posix())
        archive = tmp_path / "archive.zip"
    got = make_source("twitter_archive", tmp_path, "x", path=archive.name).fetch(None)
    clean = make_source("twitter_archive", TWITTER, "x", path="archive").fetch(None)
    assert [i.id for i in got.items] == [i.id for i in clean.items]
    assert any(i.text.startswith("Tonight caf\ufffd: spaced practice") for i in got.items)
    assert len(got.dead_letters) == len(clean.dead_letters)


def test_a_binary_file_given_as_the_archive_fails_in_one_line_naming_it(tmp_path):
    (tmp_path / "export.bin").write_bytes(bytes(range(256)) * 16)
    assert fetch_error(make_source("twitter_archive", tmp_path, "x", path="export.bin")) == (
        "export.bin is neither an archive .zip nor its data/tweets.js "
        "(a file named tweet.js, tweets.js or tweets-partN.js)"
    )


def test_a_binary_tweets_js_fails_in_one_line_naming_it(tmp_path):
    (tmp_path / "tweets.js").write_bytes(b"\xff\xfe\x00" + bytes(range(256)) * 16)
    message = fetch_error(make_source("twitter_archive", tmp_path, "x", path="tweets.js"))
    assert message.startswith("tweets.js is not a Twitter archive data file: ")


# -- folders holding no file their source reads ---------------------------------------------

CHAT_FILES = {  # a file of each chat type, and the options it needs
    "irc": ("irc/irssi-lrnchat.log", {}),
    "whatsapp": ("whatsapp/android-us.txt", {}),
    "discord": ("discord/learning-design.json", {}),
    "zoom_chat": ("zoom/2026-11-21_recording_chat.txt", {}),
    "hashtag_chat": ("hashtag/lrnchat-2026-11-19.txt", {"hashtag": "lrnchat"}),
}


@pytest.mark.parametrize(
    ("type_name", "names"),
    [
        ("irc", "*.log or *.txt files"),
        ("whatsapp", "*.txt or *.zip files"),
        ("discord", "*.json files"),
        ("zoom_chat", "*.txt files and no meeting folders (of meeting_saved_chat.txt)"),
        ("hashtag_chat", "*.txt files"),
    ],
)
def test_a_chat_folder_without_a_chat_file_fails_naming_what_it_holds(tmp_path, type_name, names):
    folder = tmp_path / "chats"
    folder.mkdir()
    options = CHAT_FILES[type_name][1]
    source = chat_source(type_name, folder, tmp_path, **options)
    assert fetch_error(source) == f"{type_name} folder chats has no {names} (it is empty)"
    (folder / "chat.log").symlink_to(tmp_path / "gone.log")  # a link whose file was moved
    assert fetch_error(source) == (
        f"{type_name} folder chats has no {names} (it has 1 broken link: chat.log)"
    )
    (folder / "chat.log").unlink()
    (folder / "chat.log.1").write_text("rotated\n")
    other = f"{type_name} folder chats has no {names} (it has 1 other file: chat.log.1)"
    assert fetch_error(source) == other
    (folder / "chat.log.1").unlink()
    look_alikes = ["chat.lot", "chat.tip", "chat.txz"]  # what a glob like *.[lt][ox][gt] takes
    for name in look_alikes:
        (folder / name).write_text("not a chat\n")
    others = f"it has 3 other files: {', '.join(look_alikes)}"
    assert fetch_error(source) == f"{type_name} folder chats has no {names} ({others})"


def test_zooms_own_folder_of_meeting_folders_is_read(tmp_path):
    zoom = tmp_path / "Zoom"
    recorded = zoom / "2026-11-18 10.00.00 Standup"  # a meeting nobody wrote in: no mistake
    recorded.mkdir(parents=True)
    (recorded / "recording.m4a").write_bytes(b"\0" * 16)
    assert chat_source("zoom_chat", zoom, tmp_path).fetch(None).items == []
    meeting = zoom / "2026-11-19 10.00.00 Webinar"
    meeting.mkdir()
    shutil.copy(
        CHAT / "zoom" / "meeting_saved_chat_2026-11-19.txt", meeting / "Meeting_Saved_Chat.txt"
    )
    first = chat_source("zoom_chat", zoom, tmp_path).fetch(None)
    assert first.items
    # a second spelling beside it (a copy): one chat a meeting, so the cursor tells it unchanged
    shutil.copy(meeting / "Meeting_Saved_Chat.txt", meeting / "meeting_saved_chat.txt")
    source = chat_source("zoom_chat", zoom, tmp_path)
    again = source.fetch(first.cursor)
    assert len(again.items) == len(first.items) and source.unchanged(again.cursor)
    assert source.fetch(again.cursor).not_modified


def test_a_zoom_meeting_folder_gone_since_the_last_run_is_named_once(tmp_path):
    zoom = tmp_path / "Zoom"
    for topic in ("Webinar", "Q&A"):
        meeting = zoom / f"2026-11-19 10.00.00 {topic}"
        meeting.mkdir(parents=True)
        shutil.copy(CHAT / "zoom" / "meeting_saved_chat_2026-11-19.txt", meeting / MEETING_CHAT)
    first = chat_source("zoom_chat", zoom, tmp_path).fetch(None)
    shutil.rmtree(zoom / "2026-11-19 10.00.00 Q&A")
    source = chat_source("zoom_chat", zoom, tmp_path)
    assert not source.unchanged(first.cursor)
    after = source.fetch(first.cursor)
    assert after.warnings == [
        "a meeting chat gone from Zoom/ since the last run (2026-11-19 10.00.00 Q&A): "
        "its items stay in the store"
    ]
    assert not after.not_modified and after.items == []
    assert source.unchanged(after.cursor) and source.fetch(after.cursor).not_modified


def test_an_irc_folder_of_rotated_logs_fails_the_run_for_that_source_only(tmp_path, capsys):
    (tmp_path / "irc").mkdir()
    shutil.copy(CHAT / "irc" / "irssi-lrnchat.log", tmp_path / "irc" / "lrnchat.log.1")
    shutil.copy(CHAT / "whatsapp" / "android-us.txt", tmp_path / "family.txt")
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n"
        "  - {name: lrn-irc, type: irc, path: irc}\n"
        "  - {name: family, type: whatsapp, path: family.txt}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice]}\n"
        'nlp: {pipeline: "blank:en"}\n'
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    assert main(["run", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert (
        "✗ lrn-irc: irc folder irc has no *.log or *.txt files (it has 1 other file: lrnchat.log.1)"
    ) in out
    assert "sources   1 read, 1 failed" in out
    db = tmp_path / "out" / "pln.duckdb"
    assert db_rows(db, "SELECT count(*) FROM items WHERE source = 'family'")[0][0] > 0


@pytest.mark.parametrize("type_name", sorted(CHAT_FILES))
def test_chat_file_names_match_in_any_case(tmp_path, type_name):
    fixture, options = CHAT_FILES[type_name]
    folder = tmp_path / "chats"
    folder.mkdir()
    shutil.copy(CHAT / fixture, folder / f"CHAT{Path(fixture).suffix.upper()}")  # CHAT.LOG
    got = chat_source(type_name, folder, tmp_path, **options).fetch(None)
    want = chat_source(type_name, CHAT / fixture, **options).fetch(None)
    assert got.items and [i.text for i in got.items] == [i.text for i in want.items]


@pytest.mark.parametrize("type_name", sorted(set(CHAT_FILES) - {"discord"}))  # JSON: refused
def test_an_empty_chat_file_is_no_error(tmp_path, type_name):
    """A log may just have been rotated."""
    (tmp_path / "chat.txt").write_bytes(b"")
    source = chat_source(type_name, tmp_path / "chat.txt", **CHAT_FILES[type_name][1])
    result = source.fetch(None)
    assert (result.items, result.dead_letters) == ([], [])


def test_a_twitter_v2_folder_without_pages_fails_and_is_never_taken_as_unchanged(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    shutil.copy(TWITTER / "search_page.json", folder / "PAGE.JSON")
    source = make_source("twitter_v2", tmp_path, "x", path="x")
    first = source.fetch(None)
    assert first.items
    (folder / "PAGE.JSON").rename(folder / "page.json.bak")
    # the cursor a run of the empty folder saved before: the probe leaves it to fetch, which
    # says what is wrong, instead of settling it as unchanged on every run
    assert not source.unchanged({"files": {}, "since_id": ""})
    assert fetch_error(source) == (
        "twitter_v2 folder x has no *.json, *.jsonl or *.ndjson files "
        "(it has 1 other file: page.json.bak)"
    )


# -- slack: a channel the export does not have ---------------------------------------------------


@pytest.mark.parametrize("packed", ["folder", "zip"])
def test_a_slack_channel_the_export_does_not_have_fails_naming_the_ones_it_has(tmp_path, packed):
    export = CHAT / "slack" / "export"
    path = tmp_path / "export.zip"
    if packed == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            for file in sorted(export.rglob("*.json")):
                zf.write(file, file.relative_to(export).as_posix())
    else:
        path = shutil.copytree(export, tmp_path / "export")
    source = make_source("slack", tmp_path, "team", path=path.name, channels=["no-such-channel"])
    assert (
        fetch_error(source) == f"{path.name} has no channel #no-such-channel (it has #lrn-design)"
    )
    both = make_source("slack", tmp_path, "team", path=path.name, channels=["#lrn-design", "x"])
    assert fetch_error(both) == f"{path.name} has no channel #x (it has #lrn-design)"
    named = make_source("slack", tmp_path, "team", path=path.name, channels=["#lrn-design"])
    assert len(named.fetch(None).items) == 2


def test_a_slack_channel_given_by_its_id_says_to_name_it(tmp_path):
    source = make_source("slack", CHAT / "slack", "team", path="export", channels=["C01LRN"])
    assert fetch_error(source) == "export: #C01LRN is the id of #lrn-design: list channels by name"


def test_a_private_slack_channel_asked_for_says_how_to_read_it(tmp_path):
    export = CHAT / "slack" / "export"
    dm = {"channels": ["dm-jane_ld-pat_k"]}
    assert fetch_error(make_source("slack", export.parent, "team", path="export", **dm)) == (
        "export: #dm-jane_ld-pat_k is private; set include_private: true to read it"
    )
    both = make_source("slack", export.parent, "team", path="export", include_private=True, **dm)
    assert [i.native_id.split(":")[0] for i in both.fetch(None).items] == ["D0DM1"]


# -- slack: edits the export's stamp must see, and files it must keep naming -------------------


def test_a_slack_day_file_edited_to_the_same_size_and_an_older_mtime_is_read_again(tmp_path):
    export = shutil.copytree(CHAT / "slack" / "export", tmp_path / "export")
    day = export / "lrn-design" / "2026-11-19.json"
    source = make_source("slack", tmp_path, "team", path="export")
    first = source.fetch(None)
    before = day.stat()
    day.write_text(day.read_text().replace("workshop plan", "WORKSHOP PLAN"))  # same size
    os.utime(day, ns=(before.st_atime_ns, before.st_mtime_ns - 10**9))  # restored from a backup
    assert day.stat().st_size == before.st_size
    assert not source.unchanged(first.cursor)
    again = source.fetch(first.cursor)
    assert "Uploaded the WORKSHOP PLAN" in " ".join(i.text for i in again.items)
    assert source.unchanged(again.cursor) and source.fetch(again.cursor).not_modified


@pytest.mark.parametrize("packed", ["folder", "zip"])
def test_a_slack_day_file_too_big_is_named_on_every_run_until_it_fits(tmp_path, packed):
    export = shutil.copytree(CHAT / "slack" / "export", tmp_path / "export")
    message = {"type": "message", "user": "U01JANE", "ts": "1763660000.000100"}
    message["text"] = "Our retrieval practice pilot raised quiz scores at day 30: notes in the wiki"
    padded = "[" + json.dumps(message) + " " * 2**20 + "]"  # over 1 MiB, one short message
    (export / "lrn-design" / "2026-11-20.json").write_text(padded)
    path = export
    if packed == "zip":
        path = tmp_path / "export.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for file in sorted(export.rglob("*.json")):
                zf.write(file, file.relative_to(export).as_posix())
    source = make_source("slack", tmp_path, "team", path=path.name, max_file_mb=1)
    cursor = None
    for _ in range(2):  # the second run as the first: the export is read again, and says why
        result = source.fetch(cursor)
        assert not result.not_modified and len(result.items) == 2
        assert [d.ref for d in result.dead_letters] == ["lrn-design/2026-11-20.json"]
        assert result.warnings == [
            f"{path.name}/lrn-design/2026-11-20.json: {result.dead_letters[0].reason}"
        ]
        assert not source.unchanged(result.cursor)
        cursor = result.cursor
    fits = make_source("slack", tmp_path, "team", path=path.name, max_file_mb=2)
    read = fits.fetch(cursor)
    assert len(read.items) == 3 and not read.warnings
    assert fits.unchanged(read.cursor)
