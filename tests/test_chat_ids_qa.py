"""Chat ids over weeks of exports (QA F1, F2, F7, F9): an archive transcript, a re-export saved
under another name, a message deleted since, and Zoom's own folder all give the ids (and the
items) the plain weekly files give, so nothing reaches the feeds twice or stays there deleted."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from helpers import chat_source, db_rows

from pln.cli import main

TOPICS = """
topics:
  - {id: onboarding, phrases: [onboarding, buddy program, new hire]}
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}
"""


def run(tmp_path: Path, sources: str, capsys) -> str:
    """`pln run` on a config of `sources` and TOPICS; its summary."""
    (tmp_path / "pln.yaml").write_text(f"sources:\n{sources}{TOPICS}")
    capsys.readouterr()
    assert main(["run", "-c", str(tmp_path / "pln.yaml")]) == 0
    return capsys.readouterr().out


def stored_ids(tmp_path: Path) -> list[str]:
    rows = db_rows(tmp_path / "out" / "pln.duckdb", "SELECT native_id FROM items ORDER BY 1")
    return [native_id for (native_id,) in rows]


def feed(tmp_path: Path) -> str:
    return (tmp_path / "out" / "feeds" / "onboarding.rss.xml").read_text()


# --- F7: a hashtag-chat transcript holding several weekly chats --------------------------------

NY = "America/New_York"


def lrnchat(day: str, late_answer: bool = False) -> str:
    """A #lrnchat transcript of one evening (New York): a welcome, Q1 and Q2 with answers."""
    lines = [f"{day}T20:30:00-05:00 @lrnchat: Welcome to #lrnchat, tonight onboarding for all"]
    for n, minute in ((1, 32), (2, 45)):
        lines.append(f"{day}T20:{minute}:00-05:00 @lrnchat: Q{n}. How does onboarding go? #lrnchat")
        lines.append(f"{day}T20:{minute + 1}:00-05:00 @jane: A{n}. a buddy program, week {day}")
    if late_answer:
        lines.append(f"{day}T21:10:00-05:00 @lee: A2. late: our new hire buddy program")
    return "\n".join(lines) + "\n"


def test_an_archive_transcript_gives_each_week_the_ids_of_its_weekly_transcript(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for day in ("2026-11-05", "2026-11-12"):
        (data / f"lrnchat-{day}.txt").write_text(lrnchat(day))
    source = (
        "  - {name: lrnchat, type: hashtag_chat, path: data, hashtag: lrnchat,"
        " timezone: America/New_York}\n"
    )
    run(tmp_path, source, capsys)
    weekly = stored_ids(tmp_path)
    archive = [lrnchat("2026-11-05"), lrnchat("2026-11-12", late_answer=True)]
    (data / "archive.txt").write_text("\n".join([*archive, lrnchat("2026-11-19")]))

    summary = run(tmp_path, source, capsys)

    assert "items     9 read: 3 new, 1 updated, 5 unchanged" in summary
    assert stored_ids(tmp_path) == sorted(
        [*weekly, *(f"lrnchat:2026-11-19:{key}" for key in ("Q1", "Q2", "chat-203000"))]
    )
    assert "lrnchat:2026-11-12:Q2" in weekly
    assert feed(tmp_path).count("late: our new hire buddy program") == 1


def test_a_rolling_archive_keeps_each_chats_ids_and_a_chat_past_midnight_its_start_date(
    tmp_path,
):
    def ids(name: str, *days: str) -> set[str]:
        path = tmp_path / name
        path.write_text("".join(lrnchat(day) for day in days))
        return {
            i.native_id
            for i in chat_source("hashtag_chat", path, hashtag="lrnchat", timezone=NY)
            .fetch(None)
            .items
        }

    first = ids("a.txt", "2026-11-05", "2026-11-12", "2026-11-19")
    rolled = ids("b.txt", "2026-11-12", "2026-11-19", "2026-11-26")
    assert first & rolled == ids("c.txt", "2026-11-12", "2026-11-19")
    assert len(first & rolled) == 6

    (tmp_path / "late.txt").write_text(
        "2026-11-19T23:50:00-05:00 @lrnchat: Q1. How does onboarding go? #lrnchat\n"
        "2026-11-20T00:20:00-05:00 @jane: A1. a buddy program for every new hire\n"
        "2026-11-20T08:00:00-05:00 @lee: Late to this: we pair each new hire with a buddy\n"
    )
    late = chat_source("hashtag_chat", tmp_path / "late.txt", hashtag="lrnchat", timezone=NY).fetch(
        None
    )
    assert [i.native_id for i in late.items] == [
        "lrnchat:2026-11-19:Q1",
        "lrnchat:2026-11-19:chat-080000",  # the next morning, within the night: the same chat
    ]


# --- F2: a WhatsApp re-export under another file name ------------------------------------------


def whatsapp(days: range, root: str = "") -> str:
    """An Android export: one thread a day, opened by +49 151 2345678 (`root` replaces the text
    of the first day's opening message)."""
    lines = []
    for day in days:
        text = root if root and day == days[0] else f"day {day}: our onboarding buddy program"
        lines += [
            f"{day:02d}/11/2026, 09:00 - +49 151 2345678: {text}",
            f"{day:02d}/11/2026, 09:02 - Jon: thanks, how long is the buddy program this time?",
            f"{day:02d}/11/2026, 09:04 - +49 151 2345678: first 90 days for each new hire",
        ]
    return "\n".join(lines) + "\n"


WA = "  - {name: wa, type: whatsapp, path: data, timezone: Europe/Berlin}\n"
CHAT = "WhatsApp Chat with Onboarding Circle"


def test_a_whatsapp_reexport_saved_as_a_copy_updates_the_items_of_the_first(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / f"{CHAT}.txt").write_text(whatsapp(range(1, 6)))
    run(tmp_path, WA, capsys)
    first = stored_ids(tmp_path)
    assert first[0] == f"{CHAT}:20261101T080000:+49 151 2345678"  # as before: the file's stem
    (data / f"{CHAT} (1).txt").write_text(whatsapp(range(1, 7)))

    summary = run(tmp_path, WA, capsys)

    assert "items     6 read: 1 new, 0 updated, 5 unchanged" in summary
    assert "older export 15" in summary
    assert stored_ids(tmp_path) == [*first, f"{CHAT}:20261106T080000:+49 151 2345678"]


@pytest.mark.parametrize("newer", [f"{CHAT} (2).txt", f"{CHAT}(1).txt", f"{CHAT}.zip"])
def test_an_old_and_a_new_export_of_one_chat_give_each_thread_once_as_the_new_one_says(
    tmp_path, newer
):
    """Read together (a first run): one item per thread, no `.2`, the newer export's text (the
    message deleted since is gone), even when the older file was modified last."""
    old, new = tmp_path / f"{CHAT}.txt", tmp_path / newer
    if newer.endswith(".zip"):
        with zipfile.ZipFile(new, "w") as zf:
            zf.writestr(f"{CHAT}.txt", whatsapp(range(1, 4), root="This message was deleted"))
    else:
        new.write_text(whatsapp(range(1, 4), root="This message was deleted"))
    old.write_text(whatsapp(range(1, 3), root="call me at +49 151 999, onboarding buddy"))
    os.utime(new, (1_000_000, 1_000_000))  # the older export is the file changed last

    result = chat_source("whatsapp", tmp_path, timezone="Europe/Berlin").fetch(None)

    assert [i.native_id for i in result.items] == [
        f"{CHAT}:2026110{day}T080000:+49 151 2345678" for day in (1, 2, 3)
    ]
    assert not any("+49 151 999" in i.text for i in result.items)
    assert result.drops == {"older export": 6}


# --- F1: a WhatsApp message deleted for everyone -----------------------------------------------


@pytest.mark.parametrize(
    "placeholder",
    ["This message was deleted", "You deleted this message", "Diese Nachricht wurde gelöscht."],
)
def test_a_deleted_root_keeps_its_thread_and_its_text_leaves_the_item_and_feed(
    tmp_path, capsys, placeholder
):
    data = tmp_path / "data"
    data.mkdir()
    export = data / f"{CHAT}.txt"
    export.write_text(whatsapp(range(5, 6), root="call me at +49 151 999, onboarding buddy"))
    run(tmp_path, WA, capsys)
    assert "+49 151 999" in feed(tmp_path)
    export.write_text(whatsapp(range(5, 6), root=placeholder))

    summary = run(tmp_path, WA, capsys)

    assert "items     1 read: 0 new, 1 updated, 0 unchanged" in summary
    assert stored_ids(tmp_path) == [f"{CHAT}:20261105T080000:+49 151 2345678"]
    [(text,)] = db_rows(tmp_path / "out" / "pln.duckdb", "SELECT text FROM items")
    assert text == (
        "\n@Jon: thanks, how long is the buddy program this time?"
        "\n@+49 151 2345678: first 90 days for each new hire"
    )
    assert "+49 151 999" not in feed(tmp_path)
    assert "<title>Onboarding Circle: This message was deleted</title>" in feed(tmp_path)


def test_a_thread_left_with_only_a_deleted_message_is_an_item_without_text(tmp_path):
    """A "hi" and a deleted message are no longer dropped as chatter: the item stored with the
    text that was deleted is replaced by one without it."""
    path = tmp_path / f"{CHAT}.txt"
    path.write_text(
        "05/11/2026, 09:00 - Ana: hi\n05/11/2026, 09:01 - Ana: This message was deleted\n"
    )
    result = chat_source("whatsapp", path, timezone="UTC").fetch(None)
    assert [(i.native_id, i.text) for i in result.items] == [
        (f"{CHAT}:20261105T090100:Ana", "\n@Ana: hi")  # opened by what was said, now deleted
    ]
    assert result.drops == {}


# --- F9: Zoom's own folder ---------------------------------------------------------------------

MEETING = "2026-11-12 18.00.00 Community Call 81234567890"
ZOOM = (
    "18:02:15 From Jane Doe to Everyone:\n"
    "\tWelcome to the onboarding call, share your buddy program tips\n"
    "18:03:01 From Bob Smith to Everyone:\n"
    "\tour new hire onboarding uses a buddy program for the first 90 days\n"
)


def test_a_zoom_source_on_zooms_own_folder_reads_each_meeting_with_the_ids_of_its_file(
    tmp_path, capsys
):
    zoom = tmp_path / "Zoom"
    (zoom / MEETING).mkdir(parents=True)
    (zoom / MEETING / "meeting_saved_chat.txt").write_text(ZOOM)
    one_file = chat_source("zoom_chat", zoom / MEETING / "meeting_saved_chat.txt").fetch(None)
    source = "  - {name: zoom, type: zoom_chat, path: Zoom}\n"

    run(tmp_path, source, capsys)

    assert stored_ids(tmp_path) == [i.native_id for i in one_file.items]
    assert stored_ids(tmp_path) == [f"{MEETING}/meeting_saved_chat:20261112T180215:Jane Doe"]
    assert "sources   1 read (1 unchanged, skipped)" in run(tmp_path, source, capsys)
    later = "2026-11-19 18.00.00 Community Call 81234567890"
    (zoom / later).mkdir()
    (zoom / later / "meeting_saved_chat.txt").write_text(ZOOM)
    assert "items     1 read: 1 new" in run(tmp_path, source, capsys)


def test_an_older_export_from_before_a_contact_was_named_adds_no_second_copy(tmp_path):
    """The newer export names the contact: its messages are read from it, once (the threads'
    ids follow the new name, a limitation docs/design.md names)."""
    old = whatsapp(range(1, 3))
    (tmp_path / f"{CHAT}.txt").write_text(old)
    (tmp_path / f"{CHAT} (1).txt").write_text(old.replace("+49 151 2345678", "Maria Lopez"))
    os.utime(tmp_path / f"{CHAT}.txt", (1_000_000, 1_000_000))

    result = chat_source("whatsapp", tmp_path, timezone="Europe/Berlin").fetch(None)

    assert [i.native_id for i in result.items] == [
        f"{CHAT}:2026110{day}T080000:Maria Lopez" for day in (1, 2)
    ]
    assert [i.text.count("first 90 days") for i in result.items] == [1, 1]
    assert result.drops == {"older export": 6}


def test_a_zoom_meeting_file_refused_whole_is_said_on_every_run(tmp_path, capsys):
    zoom = tmp_path / "Zoom"
    (zoom / MEETING).mkdir(parents=True)
    (zoom / MEETING / "meeting_saved_chat.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(600))
    source = "  - {name: zoom, type: zoom_chat, path: Zoom}\n"
    for _ in range(2):
        said = run(tmp_path, source, capsys)
        assert f"Zoom/{MEETING}/meeting_saved_chat.txt is not a Zoom chat file" in said
        assert "(it holds binary data); not read" in said
    assert db_rows(tmp_path / "out" / "pln.duckdb", "SELECT count(*) FROM dead_letters") == [(1,)]


def test_a_whatsapp_zip_whose_chat_is_over_max_file_mb_names_the_option(tmp_path):
    with zipfile.ZipFile(tmp_path / f"{CHAT}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{CHAT}.txt", whatsapp(range(1, 3)) + "x" * (1 << 20))
    source = chat_source("whatsapp", tmp_path / f"{CHAT}.zip", max_file_mb=1)
    with pytest.raises(Exception) as raised:
        source.fetch(None)
    assert "the chat inside is over the 1 MiB limit (raise max_file_mb" in str(raised.value)


def test_a_refused_meeting_file_leaves_the_stamp_of_a_top_level_file_of_that_name(tmp_path):
    zoom = tmp_path / "Zoom"
    (zoom / MEETING).mkdir(parents=True)
    (zoom / "meeting_saved_chat.txt").write_text(ZOOM)  # saved at the top as well
    (zoom / MEETING / "meeting_saved_chat.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(600))
    result = chat_source("zoom_chat", zoom).fetch(None)
    assert "meeting_saved_chat.txt" in result.cursor["files"]
    assert MEETING not in result.cursor.get("meetings", {})  # tried again next run
