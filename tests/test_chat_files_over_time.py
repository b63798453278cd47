"""Chat folders left running: what real life does to a folder between two runs (a log rotated,
a twin file added, a file touched) must not lose lines or bring threads back under new ids."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

from helpers import chat_source

from pln.record import lasting

FIXTURES = Path(__file__).parent / "fixtures" / "chat"
IRSSI = (FIXTURES / "irc" / "irssi-lrnchat.log").read_bytes()  # one line in Latin-1
ZOOM = (FIXTURES / "zoom" / "meeting_saved_chat_2026-11-19.txt").read_text()
LATER = (
    b"23:59 < gus> Q2 who tried retrieval practice with new managers this month?\n"
    b"23:59 <@marc> gus: we did, quizzes at the start of every onboarding session\n"
)


def irc_folder(tmp_path: Path):
    """A folder `irc` holding the log `lrn.log`, and an IRC source reading the folder."""
    folder = tmp_path / "irc"
    folder.mkdir()
    log = folder / "lrn.log"
    log.write_bytes(IRSSI)
    return folder, log, chat_source("irc", folder, tmp_path)


def ids(result) -> set[str]:
    return {item.native_id for item in result.items}


def test_a_log_rotated_since_the_last_run_loses_none_of_its_last_lines(tmp_path):
    folder, log, source = irc_folder(tmp_path)
    first = source.fetch(None)
    with log.open("ab") as file:  # written after the last run...
        file.write(LATER)
    log.rename(folder / "lrn.log.1")  # ...then rotated
    log.write_text("--- Log opened Fri Nov 20 20:00:00 2026\n20:01 < ana> A1 flashcards again\n")
    after = source.fetch(first.cursor)
    texts = " ".join(item.text for item in after.items)
    assert "who tried retrieval practice with new managers" in texts
    assert ids(first) <= ids(after)  # the lines read before come back under their own ids
    assert not after.warnings
    assert source.unchanged(after.cursor) and source.fetch(after.cursor).not_modified


def test_a_log_cut_short_without_its_rotated_file_says_what_may_be_missing(tmp_path):
    folder, log, source = irc_folder(tmp_path)
    first = source.fetch(None)
    log.rename(folder / "lrn.log.1.gz")  # compressed at once: not read
    log.write_text("--- Log opened Fri Nov 20 20:00:00 2026\n20:01 < ana> A1 flashcards again\n")
    after = source.fetch(first.cursor)
    assert after.warnings == [
        "irc/lrn.log was replaced or cut short since the last run, and no lrn.log.1 beside it "
        "holds its older lines: lines written to it after the last run and before that are "
        "not read"
    ]
    assert after.items  # the new log is read all the same


def test_a_file_added_beside_one_of_the_same_stem_changes_none_of_its_ids(tmp_path):
    folder = tmp_path / "irc"
    folder.mkdir()
    (folder / "lrn.log").write_bytes(IRSSI)
    source = chat_source("irc", folder, tmp_path)
    first = source.fetch(None)
    shutil.copy(FIXTURES / "irc" / "weechat-lrnchat.txt", folder / "lrn.txt")
    second = source.fetch(first.cursor)
    with (folder / "lrn.log").open("ab") as file:
        file.write(LATER)
    third = source.fetch(second.cursor)
    assert ids(first) < ids(third)  # lrn.log read again: its old threads keep their ids
    assert {i.native_id.split(":")[0] for i in second.items} == {"lrn.txt"}
    (folder / "lrn.txt").unlink()
    (folder / "lrn.log").touch()
    fourth = source.fetch(third.cursor)
    assert ids(fourth) == ids(third) - {i.native_id for i in second.items}


def test_twins_read_together_or_known_to_an_older_cursor_keep_the_keys_they_had(tmp_path):
    folder = tmp_path / "irc"
    folder.mkdir()
    (folder / "lrn.log").write_bytes(IRSSI)
    shutil.copy(FIXTURES / "irc" / "weechat-lrnchat.txt", folder / "lrn.txt")
    source = chat_source("irc", folder, tmp_path)

    def keys(result) -> set[str]:
        return {i.native_id.split(":")[0] for i in result.items}

    first = source.fetch(None)
    assert keys(first) == {"lrn.log", "lrn.txt"}  # read together: both by name, as always
    assert source.fetch(first.cursor).not_modified
    stale = {"mtime_ns": 1, "size": 1}
    both_known = {"files": {"lrn.log": stale, "lrn.txt": stale}}  # saved before keys were kept
    assert keys(source.fetch(both_known)) == {"lrn.log", "lrn.txt"}
    one_known = {"files": {"lrn.log": stale}}  # lrn.log was alone then: keyed by its stem
    assert keys(source.fetch(one_known)) == {"lrn", "lrn.txt"}


def touched(path: Path, days: int) -> None:
    later = path.stat().st_mtime + days * 86400
    os.utime(path, (later, later))


def test_a_log_without_dates_keeps_its_ids_when_touched_or_grown_the_next_day(tmp_path):
    folder = tmp_path / "irc"
    folder.mkdir()
    log = folder / "lrn.log"
    clock_only = [line for line in IRSSI.splitlines(keepends=True) if line[:3] != b"---"]
    log.write_bytes(b"".join(clock_only))  # no date in it: dated by its mtime
    source = chat_source("irc", folder, tmp_path)
    first = source.fetch(None)
    touched(log, 1)  # copied in place, or a backup restored
    second = source.fetch(first.cursor)
    assert ids(second) == ids(first)
    with log.open("ab") as file:
        file.write(b"00:30 < gus> Q3 retrieval practice in every onboarding week, who else?\n")
    touched(log, 2)
    third = source.fetch(second.cursor)
    assert ids(first) < ids(third)
    day = datetime.fromisoformat(min(ids(first)).split(":")[1][:8]).date()
    assert all(i.published_at.date() >= day for i in third.items)


def test_a_zoom_chat_dated_by_its_mtime_keeps_its_ids_when_touched(tmp_path):
    meeting = tmp_path / "Zoom" / "Weekly clinic"  # no date in the folder's name
    meeting.mkdir(parents=True)
    chat = meeting / "meeting_saved_chat.txt"
    chat.write_text(ZOOM)
    source = chat_source("zoom_chat", tmp_path / "Zoom", tmp_path)
    first = source.fetch(None)
    touched(chat, 3)
    second = source.fetch(first.cursor)
    assert ids(first) and ids(second) == ids(first)
    single = chat_source("zoom_chat", chat, tmp_path)
    alone = single.fetch(None)
    touched(chat, 3)
    assert ids(single.fetch(alone.cursor)) == ids(alone)


def whatsapp(path: Path, *lines: str) -> None:
    with path.open("a") as file:
        file.writelines(f"{line}\n" for line in lines)


def test_whatsapp_dates_that_could_be_either_order_are_read_with_a_warning(tmp_path):
    chat = tmp_path / "circle.txt"
    whatsapp(
        chat,
        "11/05/2026, 09:00 - Jane: Q1 who runs retrieval practice for new managers?",
        "11/06/2026, 10:00 - Marc: A1 we do, short quizzes every week of onboarding",
    )
    source = chat_source("whatsapp", chat)
    first = source.fetch(None)
    assert first.warnings == [
        "circle.txt: its dates (11/05/2026 to 11/06/2026) could be day/month or month/day; "
        "read as day/month/year (set date_order: mdy if wrong)"
    ]
    assert {i.published_at.month for i in first.items} == {5, 6}
    whatsapp(chat, "11/13/2026, 18:00 - Marc: Q2 anyone tried spaced repetition apps for sales?")
    second = source.fetch(first.cursor)
    assert second.warnings == [
        "circle.txt: its dates are month/day/year, as its new lines show, not day/month/year "
        "as read before: its threads are read again with the right dates, and the ones stored "
        "under the wrong dates stay in the store"
    ]
    assert {i.published_at.month for i in second.items} == {11}
    whatsapp(chat, "11/14/2026, 08:00 - Jane: A2 yes, for product training")
    assert source.fetch(second.cursor).warnings == []  # settled: nothing more to say
    told = chat_source("whatsapp", chat, date_order="mdy")
    assert told.fetch(None).warnings == []


def test_a_log_renamed_keeps_its_ids_and_a_new_log_under_the_old_name_gets_its_own(tmp_path):
    folder, log, source = irc_folder(tmp_path)
    first = source.fetch(None)
    log.rename(folder / "lrn-2026-11.log")  # archived: the same file under another name
    second = source.fetch(first.cursor)
    assert ids(second) == ids(first) and not second.warnings  # not "gone", nothing new
    log.write_text("--- Log opened Tue Dec 01 20:00:00 2026\n20:01 < ana> A1 flashcards\n")
    third = source.fetch(second.cursor)  # a new lrn.log: new ids of its own
    assert not third.warnings and ids(third).isdisjoint(ids(first))
    log.rename(folder / "lrn-2026-12.log")  # archived in turn, and another begun
    log.write_text("--- Log opened Fri Jan 01 20:00:00 2027\n20:01 < gus> Q1 goals?\n")
    fourth = source.fetch(third.cursor)
    assert not fourth.warnings and ids(third) < ids(fourth)  # renamed: read again, same ids
    assert (ids(fourth) - ids(third)).isdisjoint(ids(first))
    every = source.fetch(lasting(fourth.cursor))  # read whole again (pln run --full)
    assert sorted(ids(every)) == sorted(ids(first) | ids(third) | ids(fourth))
    assert len(every.items) == len(ids(every))


def test_logs_a_sync_tool_replaces_whole_keep_their_keys_when_their_inodes_trade(tmp_path):
    """rsync writes each changed log to a temporary file renamed over the old one: the old
    inodes are freed and the next files take them (ext4 does at once), so `lrn.log` holds
    the inode `ops.log` had. Neither was renamed: each keeps its key and ids."""
    folder = tmp_path / "irc"
    folder.mkdir()
    (folder / "lrn.log").write_bytes(IRSSI)
    (folder / "ops.log").write_bytes(IRSSI.replace(b"jane", b"olga"))
    source = chat_source("irc", folder, tmp_path)
    first = source.fetch(None)
    cursor = first.cursor
    cursor["files"]["ops.log"]["ino"] = (folder / "lrn.log").stat().st_ino  # traded
    cursor["files"]["lrn.log"]["ino"] += 1_000_000
    with (folder / "lrn.log").open("ab") as file:
        file.write(LATER)
    second = source.fetch(cursor)
    assert ids(first) < ids(second)
    assert {i.native_id.split(":")[0] for i in second.items} == {"lrn", "ops"}
    assert "lrn" not in second.cursor["ids"]["keys"].values()


def test_a_chat_file_saved_over_in_place_is_dated_by_its_own_mtime(tmp_path):
    """`cp next.txt standup.txt` keeps the inode, and the next meeting is no smaller: it is
    another chat, not the one read before grown, so the day remembered is not its day."""
    chat = tmp_path / "zoom" / "standup.txt"
    chat.parent.mkdir()
    chat.write_text("10:00:05\t From  Alice : Good morning, today we plan the sprint\n")
    os.utime(chat, (1763546400, 1763546400))  # 19 Nov 2025
    source = chat_source("zoom_chat", chat.parent, tmp_path)
    first = source.fetch(None)
    with chat.open("w") as file:  # the same inode, rewritten
        file.write("10:00:05\t From  Alice : Good morning, the retro comes first, then demos\n")
    os.utime(chat, (1763546400 + 86400, 1763546400 + 86400))
    second = source.fetch(first.cursor)
    assert [i.published_at.day for i in second.items] == [20]
    assert ids(second).isdisjoint(ids(first))  # the first meeting's thread is not overwritten
    touched(chat, 3)  # touched, or grown: still the day read before
    assert ids(source.fetch(second.cursor)) == ids(second)


def test_a_log_rotated_twice_since_the_last_run_keeps_the_lines_of_both(tmp_path):
    folder, log, source = irc_folder(tmp_path)
    first = source.fetch(None)
    with log.open("ab") as file:
        file.write(LATER)  # written after the last run
    log.rename(folder / "lrn.log.1")
    log.write_text("--- Log opened Fri Nov 20 20:00:00 2026\n20:01 < ana> A1 flashcards again\n")
    (folder / "lrn.log.1").rename(folder / "lrn.log.2")  # rotated again before the next run
    log.rename(folder / "lrn.log.1")
    log.write_text("--- Log opened Sat Nov 21 20:00:00 2026\n20:01 < bo> A1 spaced quizzes\n")
    after = source.fetch(first.cursor)
    texts = " ".join(item.text for item in after.items)
    assert "who tried retrieval practice with new managers" in texts
    assert "flashcards again" in texts and "spaced quizzes" in texts
    assert ids(first) <= ids(after) and not after.warnings

    gone = tmp_path / "gone"  # the file read last time compressed away: said
    gone.mkdir()
    (gone / "lrn.log").write_bytes(IRSSI)
    moved = chat_source("irc", gone, tmp_path)
    kept = moved.fetch(None).cursor
    (gone / "lrn.log").rename(gone / "lrn.log.1")
    (gone / "lrn.log").write_text("--- Log opened Sun Nov 22 20:00:00 2026\n20:01 < cy> hi\n")
    (gone / "lrn.log.1").rename(gone / "lrn.log.2.gz")
    (gone / "lrn.log").rename(gone / "lrn.log.1")
    (gone / "lrn.log").write_text("--- Log opened Mon Nov 23 20:00:00 2026\n20:01 < di> hi\n")
    warned = moved.fetch(kept).warnings
    assert warned == [
        "gone/lrn.log was replaced or cut short since the last run, and none of lrn.log.1 "
        "beside it is the file read last time: lines written to it after the last run may "
        "be missing"
    ]


def test_a_cursor_with_odd_stamps_is_read_as_one_that_knows_nothing(tmp_path):
    folder = tmp_path / "irc"
    folder.mkdir()
    (folder / "lrn.log").write_bytes(IRSSI)
    source = chat_source("irc", folder, tmp_path)
    want = ids(source.fetch(None))
    ino = (folder / "lrn.log").stat().st_ino
    for stamp in (
        {"mtime_ns": 1, "size": 1, "ino": [ino]},
        {"mtime_ns": 1, "size": "1", "ino": ino},
    ):
        assert ids(source.fetch({"files": {"old.log": stamp}})) == want


def test_a_log_rotated_away_before_a_new_one_is_begun_is_read_not_gone(tmp_path):
    """logrotate's `nocreate`: the logger begins the new file at its next line."""
    folder, log, source = irc_folder(tmp_path)
    (folder / "ops.log").write_text("--- Log opened Fri Nov 20 20:00:00 2026\n")  # another one
    first = source.fetch(None)
    with log.open("ab") as file:
        file.write(LATER)
    log.rename(folder / "lrn.log.1")
    between = source.fetch(first.cursor)
    assert "who tried retrieval practice with new managers" in " ".join(
        i.text for i in between.items
    )
    assert not between.warnings  # not "gone": rotated
    log.write_text("--- Log opened Fri Nov 20 21:00:00 2026\n21:01 < ana> A1 flashcards\n")
    after = source.fetch(between.cursor)
    assert not after.warnings and {i.native_id for i in after.items} == {"lrn:20261120T210100:ana"}


def test_a_single_log_file_rotated_since_the_last_run_keeps_its_last_lines(tmp_path):
    log = tmp_path / "lrn.log"
    log.write_bytes(IRSSI)
    source = chat_source("irc", log)
    first = source.fetch(None)
    with log.open("ab") as file:
        file.write(LATER)
    log.rename(tmp_path / "lrn.log.1")
    log.write_text("--- Log opened Fri Nov 20 20:00:00 2026\n20:01 < ana> A1 flashcards again\n")
    after = source.fetch(first.cursor)
    assert "who tried retrieval practice with new managers" in " ".join(i.text for i in after.items)
    assert ids(first) <= ids(after) and not after.warnings


def test_a_log_a_sync_tool_replaces_with_a_longer_copy_is_no_rotation(tmp_path):
    folder, log, source = irc_folder(tmp_path)
    clock_only = [line for line in IRSSI.splitlines(keepends=True) if line[:3] != b"---"]
    log.write_bytes(b"".join(clock_only))  # dated by its mtime
    first = source.fetch(None)
    copy = folder / ".lrn.log.tmp"  # rsync: a temporary file renamed over the old one
    copy.write_bytes(log.read_bytes() + b"00:30 < gus> Q9 anyone for spaced practice?\n")
    os.utime(copy, (log.stat().st_mtime + 86400,) * 2)
    copy.rename(log)
    after = source.fetch(first.cursor)
    assert not after.warnings  # nothing was cut: no "lines may be missing"
    assert ids(first) < ids(after)  # the day guessed before still holds: the same ids


def test_a_renamed_whatsapp_export_is_still_said_to_be_gone(tmp_path):
    folder = tmp_path / "wa"
    folder.mkdir()
    shutil.copy(FIXTURES / "whatsapp" / "android-us.txt", folder / "circle.txt")
    source = chat_source("whatsapp", folder, tmp_path)
    first = source.fetch(None)
    (folder / "circle.txt").rename(folder / "circle-2026.txt")  # named by its stem: a new chat
    after = source.fetch(first.cursor)
    assert after.warnings == [
        "a file gone from wa/ since the last run (circle.txt): its items stay in the store"
    ]
