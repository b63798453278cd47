"""Hashtag chat transcripts: one Item per question with its answers, stable ids, cursors."""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import helpers
import pytest

from pln.errors import ConfigError, SourceError

FIXTURES = Path(__file__).parent / "fixtures" / "chat" / "hashtag"
LRNCHAT = FIXTURES / "lrnchat-2026-11-19.txt"


def make_source(**options):
    return helpers.make_source("hashtag_chat", FIXTURES, "lrnchat", **options)


def fetch_lrnchat(**extra):
    options = {"path": str(LRNCHAT), "hashtag": "lrnchat", "timezone": "America/New_York"}
    return make_source(**options | extra).fetch(None)


def by_native_id(result):
    return helpers.by_native_id(result.items)


def test_each_question_with_its_answers_is_one_thread_item():
    items = by_native_id(fetch_lrnchat())
    assert sorted(items) == [
        "lrnchat:2026-11-19:Q1",
        "lrnchat:2026-11-19:Q2",
        "lrnchat:2026-11-19:Q3",
        "lrnchat:2026-11-19:chat-200000",
        "lrnchat:2026-11-19:chat-205900",
    ]
    q1 = items["lrnchat:2026-11-19:Q1"]
    assert q1.platform == "chat" and q1.kind == "chat_thread"
    assert q1.title == "#lrnchat Q1: What does spaced practice look like in your courses?"
    assert q1.author == "lrnchat"
    assert q1.participants == ("lrnchat", "jane_ld", "marc_ux", "pat_k", "cmaddock")
    assert q1.published_at == datetime(2026, 11, 20, 1, 2, 10, tzinfo=UTC)  # 20:02:10 EST
    assert q1.thread_id == q1.native_id


def test_thread_text_holds_the_whole_discussion_for_the_relevance_filter():
    q1 = by_native_id(fetch_lrnchat())["lrnchat:2026-11-19:Q1"]
    lines = q1.text.splitlines()
    assert lines[0] == "Q1. What does spaced practice look like in your courses? #lrnchat"
    assert "@jane_ld: A1. We send short retrieval quizzes 2, 7 and 21 days later #lrnchat" in lines
    # a continuation line stays with its message; an @-reply joins the thread it answers
    assert (
        "We are trying to change that with @cmaddock's nudges: https://example.org/nudges." in lines
    )
    assert "@pat_k: @jane_ld love the 2-7-21 rhythm, do learners opt in?" in lines
    assert "@jane_ld: @pat_k opt out, and almost nobody does" in lines
    # a late answer, posted after Q2, still joins Q1 by its number
    assert (
        lines[-1]
        == "@cmaddock: A1) late to the party: we space microlearning over six weeks #lrnchat"
    )
    assert "spaced practice" in q1.nlp_text and "microlearning" in q1.nlp_text


def test_tags_mentions_and_links_come_from_every_message_of_the_thread():
    items = by_native_id(fetch_lrnchat())
    q1, q2 = items["lrnchat:2026-11-19:Q1"], items["lrnchat:2026-11-19:Q2"]
    assert q1.links == ("https://example.org/nudges",)
    assert q1.hashtags == ("lrnchat",)
    assert set(q1.mentions) == {"cmaddock", "jane_ld", "pat_k"}
    assert q2.hashtags == ("lrnchat", "evidence")
    assert "@jane_ld: @lrnchat A2. Pilot with one team, measure at day 30, then talk." in q2.text
    assert q2.participants == ("lrnchat", "pat_k", "jane_ld")


def test_chatter_is_grouped_by_time_gaps_and_trivial_chatter_dropped():
    items = by_native_id(fetch_lrnchat())
    welcome = items["lrnchat:2026-11-19:chat-200000"]
    assert welcome.title.startswith("#lrnchat chat: Welcome to #lrnchat! Tonight: spaced practice.")
    assert welcome.title.endswith("…") and len(welcome.title) <= len("#lrnchat chat: ") + 80
    assert welcome.participants == ("lrnchat", "jane_ld", "marc_ux")
    assert "@jane_ld: hi" in welcome.text.splitlines()
    closing = items["lrnchat:2026-11-19:chat-205900"]
    assert closing.text.endswith("@marc_ux: thanks!")
    assert not any("night all" in item.text for item in items.values())


def test_a_wider_gap_joins_the_welcome_and_the_goodbyes():
    items = by_native_id(fetch_lrnchat(gap_minutes=60))
    assert [k for k in items if ":chat-" in k] == ["lrnchat:2026-11-19:chat-200000"]


def test_unparseable_lines_become_dead_letters_with_file_and_line():
    dead = fetch_lrnchat().dead_letters
    assert [(d.ref, d.reason) for d in dead] == [
        (
            "lrnchat-2026-11-19.txt:20",
            "starts like a message but is not '<ISO 8601 time> @author: text'",
        ),
        ("lrnchat-2026-11-19.txt:21", "invalid timestamp '2026-11-19T25:14:30'"),
    ]
    assert dead[1].raw == "2026-11-19T25:14:30 @pat_k: A3 Our LMS has release conditions"
    assert all(d.source == "lrnchat" for d in dead)


def test_ids_are_stable_across_runs():
    first, second = fetch_lrnchat(), fetch_lrnchat()
    assert [i.id for i in first.items] == [i.id for i in second.items]


def test_naive_times_default_to_utc_and_without_hashtag_the_file_names_the_chat():
    items = make_source(path=str(LRNCHAT)).fetch(None).items
    q1 = next(i for i in items if i.native_id.endswith(":Q1"))
    assert q1.native_id == "lrnchat-2026-11-19:2026-11-19:Q1"
    assert q1.title == "Q1: What does spaced practice look like in your courses? #lrnchat"
    assert q1.published_at == datetime(2026, 11, 19, 20, 2, 10, tzinfo=UTC)


def test_unchanged_file_is_not_modified_and_an_appended_line_is_read(tmp_path):
    path = tmp_path / "chat.txt"
    shutil.copy(LRNCHAT, path)
    source = make_source(path=str(path), hashtag="lrnchat")
    first = source.fetch(None)
    assert first.cursor == {"mtime_ns": path.stat().st_mtime_ns, "size": path.stat().st_size}
    again = source.fetch(first.cursor)
    assert again.not_modified and again.items == [] and again.cursor == first.cursor

    with path.open("a") as f:
        f.write("2026-11-19T20:16:00 @ana: A3 Spreadsheet plus calendar invites, low tech\n")
    changed = source.fetch(again.cursor)
    assert not changed.not_modified
    q3 = next(i for i in changed.items if i.native_id == "lrnchat:2026-11-19:Q3")
    assert "ana" in q3.participants


def test_a_folder_holds_one_chat_per_transcript_and_rereads_only_changed_files(tmp_path):
    for path in FIXTURES.glob("*.txt"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "notes.md").write_text("not a transcript")
    source = make_source(path=str(tmp_path))
    first = source.fetch(None)
    native_ids = {i.native_id for i in first.items}
    assert "edchat-2026-11-20:2026-11-20:Q1" in native_ids
    assert "lrnchat-2026-11-19:2026-11-19:Q1" in native_ids
    assert set(first.cursor["files"]) == {"edchat-2026-11-20.txt", "lrnchat-2026-11-19.txt"}

    assert source.fetch(first.cursor).not_modified
    edchat = tmp_path / "edchat-2026-11-20.txt"
    os.utime(edchat, ns=(edchat.stat().st_atime_ns, edchat.stat().st_mtime_ns + 10**9))
    second = source.fetch(first.cursor)
    assert not second.not_modified
    assert {i.native_id.split(":")[0] for i in second.items} == {"edchat-2026-11-20"}


def test_a_binary_file_in_a_folder_is_a_dead_letter_and_the_others_still_count(tmp_path):
    shutil.copy(FIXTURES / "edchat-2026-11-20.txt", tmp_path)
    (tmp_path / "garbage.txt").write_bytes(bytes(range(256)) * 4)
    result = make_source(path=str(tmp_path)).fetch(None)
    assert [i.native_id for i in result.items] == ["edchat-2026-11-20:2026-11-20:Q1"]
    assert len(result.dead_letters) == 1
    assert result.dead_letters[0].ref.endswith("garbage.txt")
    assert "is not a transcript" in result.dead_letters[0].reason


def test_invalid_utf8_is_read_as_windows_1252_not_lost(tmp_path):
    path = tmp_path / "chat.txt"
    path.write_bytes(
        "2026-11-19T20:02:10Z @lrnchat: Q1 Qu'est-ce qu'un café pédagogique ?\n".encode()
        + "2026-11-19T20:03:00Z @rené: A1 Un échange informel entre collègues\n".encode("cp1252")
    )
    item = make_source(path=str(path)).fetch(None).items[0]
    assert item.participants == ("lrnchat", "rené")
    assert "@rené: A1 Un échange informel entre collègues" in item.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "transcript not found"),
        (b"\x00\x01PK\x03\x04" * 100, "is not a transcript (it holds binary data)"),
        (
            b"Notes\nnot a chat at all\n",
            "is not a transcript: no '<ISO 8601 time> @author: text' lines",
        ),
    ],
)
def test_an_unreadable_transcript_is_one_clear_source_error(tmp_path, content, message):
    path = tmp_path / "chat.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=re.escape(message)) as err:
        make_source(path=str(path)).fetch(None)
    assert str(err.value).startswith("source 'lrnchat': ")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "sources[0].path: is required"),
        ({"path": "x.txt", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"path": "x.txt", "gap_minutes": 0}, "gap_minutes: must be at least 1"),
        ({"path": "x.txt", "hashtag": "lrn chat"}, "hashtag: must be one word"),
        ({"path": "x.txt", "hashtags": "lrnchat"}, "hashtags: unknown key"),
    ],
)
def test_config_mistakes_are_reported_before_anything_runs(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_source(**options)
