"""Local export files, QA findings: twitter_v2 pointed at something else, UTF-16 and UTF-32
files, and unreadable files named as such (real files; permissions checked as an unprivileged
user, since root reads a file of mode 000)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from helpers import chat_source, make_source

from pln.config import load_config
from pln.errors import SourceError
from pln.pipelines.batch import run_batch

FIXTURES = Path(__file__).parent / "fixtures"
CHAT = FIXTURES / "chat"
TWITTER = FIXTURES / "twitter"
WIDE = ["utf-16", "utf-16-be", "utf-32"]  # each written with its byte order mark


def wide(text: str, encoding: str) -> bytes:
    """`text` in `encoding`, always with a byte order mark (Python's -be codecs write none)."""
    if encoding.endswith("-be"):
        return b"\xfe\xff" + text.encode(encoding)
    return text.encode(encoding)


def zip_of(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.rglob("*.json")):
            zf.write(path, path.relative_to(folder).as_posix())
    return target


# -- defect 7: twitter_v2 pointed at a file that is no X API v2 data ---------------------------

NOT_V2 = {
    "feed.atom": ((FIXTURES / "feeds" / "atom.xml").read_bytes(), "not JSON or JSON Lines:"),
    "discord.json": (
        (CHAT / "discord" / "learning-design.json").read_bytes(),
        "not an X API v2 page or tweet (keys: channel, ",
    ),
    "five.json": (b'{"data": 5}', "page data is a JSON int, not tweets"),
    "numbers.json": (b"[1, 2]", "not an X API v2 page or tweet: a JSON int"),
}


@pytest.mark.parametrize("name", sorted(NOT_V2))
def test_twitter_v2_fails_on_a_file_with_no_v2_record(tmp_path, name):
    data, reason = NOT_V2[name]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(SourceError) as err:
        make_source("twitter_v2", tmp_path, "x", path=name).fetch(None)
    message = err.value.message
    assert message.startswith(f"{name} is not X API v2 JSON (pages or tweets); line 1: ")
    assert reason in message and "\n" not in message


def test_twitter_v2_fails_on_a_slack_zip(tmp_path):
    archive = zip_of(CHAT / "slack" / "export", tmp_path / "slack.json")
    with pytest.raises(SourceError, match="slack.json is not X API v2 JSON"):
        make_source("twitter_v2", tmp_path, "x", path=str(archive)).fetch(None)


def test_twitter_v2_on_an_atom_file_fails_the_run_for_that_source_only(tmp_path):
    shutil.copy(FIXTURES / "feeds" / "atom.xml", tmp_path / "atom.json")
    shutil.copy(FIXTURES / "feeds" / "rss2.xml", tmp_path / "rss2.xml")
    (tmp_path / "pln.yaml").write_text(
        "sources:\n"
        "  - {name: x-on-rss, type: twitter_v2, path: atom.json}\n"
        "  - {name: blog, type: rss, path: rss2.xml}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced repetition]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    stats = run_batch(load_config(tmp_path / "pln.yaml")).stats["sources"]
    assert stats["ok"] == 1
    assert "atom.json is not X API v2 JSON" in stats["errors"]["x-on-rss"]


def test_a_file_with_good_and_bad_records_keeps_the_good_ones(tmp_path):
    lines = (TWITTER / "twarc_pages.jsonl").read_text().splitlines()
    (tmp_path / "mixed.jsonl").write_text(f'{lines[0]}\n<feed>\n{{"hello": 1}}\n')
    result = make_source("twitter_v2", tmp_path, "x", path="mixed.jsonl").fetch(None)
    assert result.items and len(result.dead_letters) == 2


@pytest.mark.parametrize("data", [b"", b"[]", b'{"meta": {"result_count": 0}}\n'])
def test_an_empty_file_or_result_is_no_error(tmp_path, data):
    (tmp_path / "empty.json").write_bytes(data)
    result = make_source("twitter_v2", tmp_path, "x", path="empty.json").fetch(None)
    assert (result.items, result.dead_letters) == ([], [])


@pytest.mark.parametrize("encoding", WIDE)
@pytest.mark.parametrize("name", ["twarc_pages.jsonl", "search_page.json", "twarc.jsonl.gz"])
def test_twitter_v2_reads_utf16_and_utf32_files(tmp_path, encoding, name):
    source_name = name.removesuffix(".gz").replace("twarc.jsonl", "twarc_pages.jsonl")
    text = (TWITTER / source_name).read_text("utf-8")
    data = wide(text, encoding)
    (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    got = make_source("twitter_v2", tmp_path, "x", path=name).fetch(None)
    want = make_source("twitter_v2", TWITTER, "x", path=source_name).fetch(None)
    assert got.items and [(i.id, i.text) for i in got.items] == [(i.id, i.text) for i in want.items]
    assert len(got.dead_letters) == len(want.dead_letters)


# -- defect 9: chat exports in UTF-16 or UTF-32 ------------------------------------------------

CHAT_FILES = [
    ("whatsapp", "whatsapp/android-us.txt"),
    ("whatsapp", "whatsapp/WhatsApp Chat with L&D Circle.txt"),
    ("irc", "irc/weechat-lrnchat.txt"),
    ("discord", "discord/learning-design.json"),
    ("zoom_chat", "zoom/2026-11-21_recording_chat.txt"),
    ("hashtag_chat", "hashtag/lrnchat-2026-11-19.txt"),
]


def chat_texts(type_name: str, path: Path) -> list[tuple[str, str]]:
    options = {"hashtag": "lrnchat"} if type_name == "hashtag_chat" else {}
    result = make_source(type_name, path.parent, "chat", path=path.name, **options).fetch(None)
    return [(i.native_id, i.text) for i in result.items]


@pytest.mark.parametrize("encoding", WIDE)
@pytest.mark.parametrize(("type_name", "name"), CHAT_FILES, ids=[n for _, n in CHAT_FILES])
def test_chat_files_in_utf16_or_utf32_read_as_in_utf8(tmp_path, type_name, name, encoding):
    original = CHAT / name
    copies = {}
    for label, data in (
        ("utf-8", original.read_bytes()),
        (encoding, wide(original.read_text("utf-8-sig"), encoding)),
    ):
        copy = tmp_path / label / original.name  # the same name: ids come from it
        copy.parent.mkdir()
        copy.write_bytes(data)
        os.utime(copy, ns=(original.stat().st_atime_ns, original.stat().st_mtime_ns))
        copies[label] = copy
    utf8 = chat_texts(type_name, copies["utf-8"])
    assert utf8 and chat_texts(type_name, copies[encoding]) == utf8


def test_a_whatsapp_zip_holding_a_utf16_chat_is_read(tmp_path):
    original = CHAT / "whatsapp" / "android-us.txt"
    with zipfile.ZipFile(tmp_path / "android-us.zip", "w") as zf:
        zf.writestr("WhatsApp Chat with android-us.txt", original.read_text().encode("utf-16"))
    shutil.copy(original, tmp_path / "plain.txt")
    got = make_source("whatsapp", tmp_path, "w", path="android-us.zip").fetch(None)
    want = make_source("whatsapp", tmp_path, "w", path="plain.txt").fetch(None)
    assert got.items and [i.text for i in got.items] == [i.text for i in want.items]


def test_binary_data_is_still_refused(tmp_path):
    (tmp_path / "w.txt").write_bytes(b"\xff\xfe" + bytes(range(256)) * 64)  # a BOM, then junk
    with pytest.raises(SourceError, match=r"w.txt is not a WhatsApp chat export"):
        make_source("whatsapp", tmp_path, "w", path="w.txt").fetch(None)


# -- defect 10: unreadable files named as such -------------------------------------------------

FETCH = """
import sys
from pathlib import Path
from pln.config import SourceConfig
from pln.errors import SourceError
from pln.sources.registry import build_source
config = SourceConfig("s", sys.argv[1], {"path": sys.argv[2]}, Path("."), "pln.yaml", "sources[0]")
try:
    build_source(config).fetch(None)
    print("no error")
except SourceError as exc:
    print(exc.message)
"""


@pytest.fixture
def shared_dir():
    """A folder an unprivileged user can enter (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="pln-qa-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def unprivileged(command: list[str]) -> list[str]:
    """`command` run as nobody when we are root (root reads a file of mode 000)."""
    if os.geteuid() != 0:
        return command
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv to drop root")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]


def fetch_error(type_name: str, path: Path) -> str:
    """The one-line error of fetching `path` as a user without root's power to read anything."""
    command = unprivileged([sys.executable, "-c", FETCH, type_name, str(path)])
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=env, cwd=path.parent
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_an_unreadable_slack_zip_says_permission_denied(shared_dir):
    archive = zip_of(CHAT / "slack" / "export", shared_dir / "export.zip")
    archive.chmod(0)
    assert fetch_error("slack", archive) == f"cannot read {archive}: permission denied"


def test_an_unreadable_tweets_js_is_named_not_its_folder(shared_dir):
    archive = shared_dir / "archive"
    shutil.copytree(TWITTER / "archive", archive)
    for path in (archive, archive / "data"):
        path.chmod(0o755)
    (archive / "data" / "manifest.js").chmod(0o644)
    (archive / "data" / "tweets.js").chmod(0)
    assert fetch_error("twitter_archive", archive) == (
        f"cannot read {archive / 'data' / 'tweets.js'}: permission denied"
    )


@pytest.mark.parametrize(
    ("type_name", "name"), [("rss", "feed.xml"), ("whatsapp", "chat.txt"), ("twitter_v2", "x.json")]
)
def test_other_unreadable_files_say_permission_denied(shared_dir, type_name, name):
    path = shared_dir / name
    path.write_text("{}")
    path.chmod(0)
    assert fetch_error(type_name, path) == f"cannot read {path}: permission denied"


def test_an_unreadable_twarc_file_in_a_folder_fails_naming_it(shared_dir):
    (shared_dir / "ok.jsonl").write_text(json.dumps({"data": []}) + "\n")
    (shared_dir / "ok.jsonl").chmod(0o644)
    locked = shared_dir / "locked.jsonl"
    locked.write_text("{}")
    locked.chmod(0)
    assert fetch_error("twitter_v2", shared_dir) == f"cannot read {locked}: permission denied"


FETCH_RESULT = """
import json, sys
from pathlib import Path
from pln.config import SourceConfig
from pln.sources.registry import build_source
type_name, path, cursor = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
config = SourceConfig("s", type_name, {"path": path}, Path("."), "pln.yaml", "sources[0]")
source = build_source(config)
result = source.fetch(cursor)
print(json.dumps({
    "items": len(result.items),
    "dead": [[d.ref, d.reason] for d in result.dead_letters],
    "warnings": result.warnings,
    "unchanged": source.unchanged(result.cursor),
    "cursor": result.cursor,
}))
"""


def fetch_as_nobody(type_name: str, path: Path, cursor: dict | None = None) -> dict:
    """Fetching `path` as a user without root's power to read anything: items (a count), dead
    letters, warnings, whether the probe would call it unchanged, and the new cursor."""
    command = unprivileged([sys.executable, "-c", FETCH_RESULT, type_name, str(path)])
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [*command, json.dumps(cursor)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def fetch_unprivileged(type_name: str, path: Path, cursor: dict | None = None) -> dict:
    """`fetch_as_nobody` without the cursor."""
    got = fetch_as_nobody(type_name, path, cursor)
    del got["cursor"]
    return got


def test_a_slack_channel_folder_unreadable_to_the_user_is_named_and_the_rest_read(shared_dir):
    export = shutil.copytree(CHAT / "slack" / "export", shared_dir / "export")
    for path in export.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    export.chmod(0o755)
    (export / "lrn-ops").mkdir()
    shutil.copy(export / "lrn-design" / "2026-11-19.json", export / "lrn-ops" / "2026-11-19.json")
    (export / "lrn-ops").chmod(0)
    got = fetch_unprivileged("slack", export)
    why = f"cannot read {export}/lrn-ops: permission denied; its files are not read"
    assert got == {
        "items": 2,  # lrn-design's threads, read as before
        "dead": [["lrn-ops/", why]],
        "warnings": [why],
        "unchanged": False,  # read, and named, again on the next run
    }


def test_a_zoom_meeting_folder_unreadable_to_the_user_is_named_not_gone_nor_skipped(shared_dir):
    """QA, 6 December 2026: a meeting folder of Zoom's own folder that the user running pln
    cannot list was said to be gone (`a meeting chat gone from Zoom/`), and a new one was
    skipped without a word, run after run: its chat never read, nothing said."""
    zoom = shared_dir / "Zoom"
    chat = (CHAT / "zoom" / "meeting_saved_chat_2026-11-19.txt").read_text()
    for meeting in ("2026-11-19 20.00.00 Spacing", "2026-11-21 10.00.00 Clinic"):
        (zoom / meeting).mkdir(parents=True)
        (zoom / meeting / "meeting_saved_chat.txt").write_text(chat)
    for path in [zoom, *zoom.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    known = chat_source("zoom_chat", zoom).fetch(None).cursor
    (zoom / "2026-11-21 10.00.00 Clinic").chmod(0o700)  # root's alone from now on
    (zoom / "2026-11-25 09.00.00 New").mkdir(mode=0o700)  # a new meeting, root's alone too
    got = [fetch_unprivileged("zoom_chat", zoom, cursor) for cursor in (known, None)]
    why = [
        f"cannot read {zoom / m}: permission denied"
        for m in ("2026-11-21 10.00.00 Clinic", "2026-11-25 09.00.00 New")
    ]
    assert got[0] == {
        "items": 0,  # the readable meeting did not change
        "dead": [
            [str(zoom / m), w]
            for m, w in zip(
                ["2026-11-21 10.00.00 Clinic", "2026-11-25 09.00.00 New"], why, strict=True
            )
        ],
        "warnings": [f"{w}; not read" for w in why],  # and no meeting 'gone'
        "unchanged": False,  # named again on the next run
    }
    assert got[1]["items"] == 3 and got[1]["warnings"] == got[0]["warnings"]


def test_a_renamed_channels_old_folder_unreadable_for_a_run_keeps_its_channel(shared_dir):
    """A Slack export's folder of a channel's old name (a newer export unzipped over the old
    one) that the user cannot list for a run is not gone: once readable again, its messages
    keep their channel's ids instead of coming back keyed by the folder's name."""
    export = shutil.copytree(CHAT / "slack" / "export", shared_dir / "export")
    for path in [export, *export.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    source = make_source("slack", shared_dir, "team", path=str(export))
    first = source.fetch(None)
    shutil.copytree(export / "lrn-design", export / "learning-design")  # the newer export
    listing = export / "channels.json"
    listing.write_text(listing.read_text().replace('"lrn-design"', '"learning-design"'))
    for path in [export / "learning-design", *(export / "learning-design").iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    renamed = source.fetch(first.cursor).cursor
    (export / "lrn-design").chmod(0o700)  # root's alone for a run
    locked = fetch_as_nobody("slack", export, renamed)["cursor"]
    (export / "lrn-design").chmod(0o755)
    again = source.fetch(locked)
    assert {i.native_id for i in again.items} == {i.native_id for i in first.items}
