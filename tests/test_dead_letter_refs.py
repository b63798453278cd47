"""Dead letters name a file relative to the config's folder (`data/x/a.jsonl:2`), so moving the
project folder keeps one row per bad record; rows an older pln stored under the absolute path
(or, for chat lines, the bare file name) are replaced by the next run that meets the record."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from helpers import db_rows

from pln.cli import main
from pln.record import DeadLetter
from pln.sinks.store import Store

GOOD_PAGE = (
    '{"data": [{"id": "1", "text": "spaced repetition works", "author_id": "u1", '
    '"created_at": "2026-11-19T20:00:00Z"}], "includes": {"users": [{"id": "u1", '
    '"username": "jane"}]}}'
)
BAD_LINE = '{"data": [ broken'
STRAY = "this line has no timestamp"
SOURCES = """
  - {name: x, type: twitter_v2, path: data/x/timeline.jsonl}
  - {name: x-folder, type: twitter_v2, path: data/x/more}
  - {name: irc, type: irc, path: data/chats, date: 2026-11-19}
"""
EXPECTED = {  # (source, ref, reason) of each bad record, whatever folder the project is in
    ("x", "data/x/timeline.jsonl:2", "line is not valid JSON: Expecting value"),
    (
        "x-folder",
        "data/x/more/other.json",
        "data/x/more/other.json is not X API v2 JSON (pages or tweets); "
        "line 1: not an X API v2 page or tweet (keys: hello)",
    ),
    ("irc", "data/chats/2026-11-19.log:3", "not an IRC log line (no timestamp)"),
    (
        "irc",
        "data/chats/binary.log",
        "data/chats/binary.log is not an IRC log (it holds binary data)",
    ),
}


def project(root: Path) -> Path:
    """A project with one bad record in each kind of file; returns its config."""
    (root / "data" / "x" / "more").mkdir(parents=True)
    (root / "data" / "chats").mkdir()
    (root / "data" / "x" / "timeline.jsonl").write_text(f"{GOOD_PAGE}\n{BAD_LINE}\n")
    (root / "data" / "x" / "more" / "other.json").write_text('{"hello": "world"}')
    (root / "data" / "chats" / "2026-11-19.log").write_text(
        "20:01 < jane> Q1 what does spaced practice look like in your courses?\n"
        "20:02 <@marc> A1 quizzes on day 2, 7 and 21, works well\n"
        f"{STRAY}\n"
    )
    (root / "data" / "chats" / "binary.log").write_bytes(b"\x00\x01binary\x00" * 20)
    return write_config(root, SOURCES)


def write_config(root: Path, sources: str, out: str = "out") -> Path:
    config = root / "pln.yaml"
    config.write_text(
        f"sources:{sources}"
        "topics:\n  - {id: practice, phrases: [spaced repetition, spaced practice]}\n"
        f"outputs: {{duckdb: {out}/pln.duckdb, feeds_dir: {out}/feeds}}\n"
    )
    return config


def dead_letters(config: Path) -> set[tuple[str, str, str]]:
    return set(
        db_rows(
            config.parent / "out" / "pln.duckdb", "SELECT source, ref, reason FROM dead_letters"
        )
    )


def test_a_moved_project_keeps_one_dead_letter_per_bad_record_named_from_its_folder(tmp_path):
    config = project(tmp_path / "before")
    assert main(["run", "-q", "-c", str(config)]) == 0
    assert dead_letters(config) == EXPECTED

    shutil.move(tmp_path / "before", tmp_path / "after")
    moved = tmp_path / "after" / "pln.yaml"
    assert main(["run", "-q", "-c", str(moved)]) == 0  # base_dir changed: every source re-read
    assert dead_letters(moved) == EXPECTED
    rows = db_rows(moved.parent / "out" / "pln.duckdb", "SELECT count(*) FROM dead_letters")
    assert rows == [(len(EXPECTED),)]


def test_dead_letters_an_older_pln_stored_by_absolute_path_or_file_name_are_replaced(tmp_path):
    config = project(tmp_path)
    data = tmp_path / "data"
    older = [  # as an older pln wrote them: the same records by their absolute or bare names
        DeadLetter("x", f"{data}/x/timeline.jsonl:2", "line is not valid JSON: ...", BAD_LINE),
        DeadLetter("irc", "2026-11-19.log:3", "not an IRC log line (no timestamp)", STRAY),
    ]
    others = [  # not those records: another source, other raw text, a name that only ends alike
        DeadLetter("x-old", f"{data}/x/timeline.jsonl:2", "line is not valid JSON", BAD_LINE),
        DeadLetter("x", f"{data}/x/timeline.jsonl:2", "line is not valid JSON", "other text"),
        DeadLetter("x", f"{data}/x/old-timeline.jsonl:2", "line is not valid JSON", BAD_LINE),
        DeadLetter("irc", "9-2026-11-19.log:3", "not an IRC log line (no timestamp)", STRAY),
    ]
    with Store(tmp_path / "out" / "pln.duckdb") as store:
        store.write([], [], older + others)

    assert main(["run", "-q", "-c", str(config)]) == 0
    assert dead_letters(config) == EXPECTED | {(d.source, d.ref, d.reason) for d in others}


def test_a_record_read_with_another_reason_keeps_one_row(tmp_path):
    """An older pln's wording of the same record (same source, ref and raw text), or a refused
    file's reason that names its size, is replaced, not kept beside the new one."""
    config = project(tmp_path)
    older = [
        DeadLetter("x", "data/x/timeline.jsonl:2", "not a tweet (JSONDecodeError: ...)", BAD_LINE),
        DeadLetter("irc", "data/chats/binary.log", "data/chats/binary.log is 1 MiB, over"),
    ]
    other = DeadLetter("x", "data/x/timeline.jsonl:2", "an older wording", "other raw text")
    with Store(tmp_path / "out" / "pln.duckdb") as store:
        store.write([], [], [*older, other])

    assert main(["run", "-q", "-c", str(config)]) == 0
    assert dead_letters(config) == EXPECTED | {(other.source, other.ref, other.reason)}


def test_a_record_written_in_the_same_run_is_never_taken_for_an_old_name(tmp_path):
    """`a.jsonl:2` and `sub/a.jsonl:2` with the same raw text are two records, run after run."""
    for folder in (tmp_path, tmp_path / "sub"):
        folder.mkdir(exist_ok=True)
        (folder / "a.jsonl").write_text(f"{GOOD_PAGE}\n{BAD_LINE}\n")
    sources = "\n  - {name: x, type: twitter_v2, path: .}\n"  # hidden .out is not read
    config = write_config(tmp_path, sources, out=".out")
    db = tmp_path / ".out" / "pln.duckdb"
    query = 'SELECT ref, "at" FROM dead_letters ORDER BY ref'
    assert main(["run", "-q", "-c", str(config)]) == 0
    first = db_rows(db, query)
    assert [ref for ref, _ in first] == ["a.jsonl:2", "sub/a.jsonl:2"]
    for path in (tmp_path / "a.jsonl", tmp_path / "sub" / "a.jsonl"):
        os.utime(path, ns=(1, 1))  # both files read again
    assert main(["run", "-q", "-c", str(config)]) == 0
    assert db_rows(db, query) == first  # the same rows, first recorded at the first run
    os.utime(tmp_path / "a.jsonl", ns=(2, 2))  # only a.jsonl read again: sub/a.jsonl's stays
    assert main(["run", "-q", "-c", str(config)]) == 0
    assert db_rows(db, query) == first


def test_a_hashtag_chats_post_stored_by_its_absolute_path_is_replaced(tmp_path):
    # Its refs name the nested source first: `chat.posts:data/x/chat.jsonl:2`.
    (tmp_path / "data" / "x").mkdir(parents=True)
    (tmp_path / "data" / "x" / "chat.jsonl").write_text(f"{GOOD_PAGE}\n{BAD_LINE}\n")
    config = write_config(
        tmp_path,
        "\n  - {name: chat, type: hashtag_chat, hashtag: lrnchat,"
        " posts: {type: twitter_v2, path: data/x/chat.jsonl}}\n",
    )
    old = f"chat.posts:{tmp_path}/data/x/chat.jsonl:2"
    with Store(tmp_path / "out" / "pln.duckdb") as store:
        store.write([], [], [DeadLetter("chat", old, "line is not valid JSON", BAD_LINE)])
    assert main(["run", "-q", "-c", str(config)]) == 0
    refs = db_rows(tmp_path / "out" / "pln.duckdb", "SELECT ref FROM dead_letters")
    assert refs == [("chat.posts:data/x/chat.jsonl:2",)]
