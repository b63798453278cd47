"""Chat sources account for every message, read the years logs leave out, and accept the files
people have (WhatsApp zips, a bare tweets.js); what they leave out shows in the run summary and
in `pln sources`, also for a database made before those were recorded."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from helpers import chat_source, db_rows

from pln.cli import main
from pln.errors import SourceError
from pln.sinks.store import Store
from tests.corpora import corpus

FIXTURES = Path(__file__).parent / "fixtures"
WHATSAPP = FIXTURES / "chat" / "whatsapp" / "WhatsApp Chat with L&D Circle.txt"
ARCHIVE = FIXTURES / "twitter" / "archive"


def write_log(path: Path, text: str, mtime: datetime | None = None) -> Path:
    path.write_text(text, encoding="utf-8")
    if mtime:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def stamps(source, path: Path) -> list[datetime]:
    messages, dead = source.parse(path, path.read_bytes())
    assert dead == []
    return [m.at.replace(tzinfo=None) for m in messages]


# --- IRC: the year of a year-less log ---------------------------------------------------------

NEW_YEAR = """\
[30 Dec 23:50] <ana!n=a@h> anyone around for the retrieval practice chat?
[31 Dec 23:59] <bob!n=b@h> happy new year from the spacing crowd
[01 Jan 00:01] <ana!n=a@h> and to you, first quiz of the year done
[29 Feb 12:00] <cy!n=c@h> leap day, and still doing retrieval practice
"""


def test_a_year_less_log_last_written_in_march_rolls_into_the_new_leap_year(tmp_path):
    path = write_log(tmp_path / "chan.log", NEW_YEAR, mtime=datetime(2024, 3, 1, 9, tzinfo=UTC))
    assert stamps(chat_source("irc", path), path) == [
        datetime(2023, 12, 30, 23, 50),  # before: 2024-12-30, in the future
        datetime(2023, 12, 31, 23, 59),
        datetime(2024, 1, 1, 0, 1),  # before: 2024-01-01, a year before the start
        datetime(2024, 2, 29, 12, 0),  # before: dead-lettered as "invalid timestamp"
    ]


def test_the_year_and_date_options_win_and_still_roll_over(tmp_path):
    path = write_log(tmp_path / "chan.log", NEW_YEAR, mtime=datetime(2026, 5, 1, tzinfo=UTC))
    assert stamps(chat_source("irc", path, year=2015), path)[2:] == [
        datetime(2016, 1, 1, 0, 1),
        datetime(2016, 2, 29, 12, 0),
    ]
    by_date = chat_source("irc", path, date="2011-12-30")
    assert stamps(by_date, path)[::3] == [
        datetime(2011, 12, 30, 23, 50),
        datetime(2012, 2, 29, 12, 0),  # 2012 is a leap year
    ]
    as_yaml_reads_it = chat_source("irc", path, date=date(2011, 12, 30))  # unquoted in YAML
    assert stamps(as_yaml_reads_it, path) == stamps(by_date, path)
    not_leap = chat_source("irc", path, date="2012-12-30")  # Feb 2013 has no 29th
    _, dead = not_leap.parse(path, path.read_bytes())
    assert [(d.ref, d.reason) for d in dead] == [
        ("chan.log:4", "invalid date 29 Feb 2013 (not a leap year)")
    ]


def test_a_clock_only_log_ends_no_later_than_it_was_written(tmp_path):
    text = "[23:50] <ana> retrieval practice tonight?\n[00:10] <bob> yes, after midnight\n"
    path = write_log(tmp_path / "chan.log", text, mtime=datetime(2026, 3, 2, 0, 30, tzinfo=UTC))
    assert stamps(chat_source("irc", path), path) == [
        datetime(2026, 3, 1, 23, 50),
        datetime(2026, 3, 2, 0, 10),  # before: 2026-03-03, a day in the future
    ]


@pytest.mark.corpora
def test_dircproxy_corpus_logs_read_the_same_without_their_dated_names(tmp_path):
    for name in ("2009-01-14-dircproxy.log", "2009-01-15-dircproxy.log"):
        original = corpus("chat", "irc", name)
        path = tmp_path / "dircproxy.log"
        shutil.copy(original, path)
        os.utime(path, (datetime(2009, 2, 1, tzinfo=UTC).timestamp(),) * 2)
        named = chat_source("irc", original)
        assert stamps(chat_source("irc", path), path) == stamps(named, original)


# --- IRC and friends: unique ids, counted drops ------------------------------------------------


@pytest.mark.corpora
def test_every_line_of_the_irc_corpus_is_in_one_item_or_a_counted_drop():
    folder = corpus("chat", "irc")
    for path in sorted(folder.glob("*.log")):
        result = chat_source("irc", path).fetch(None)
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        in_items = sum(len(item.raw.splitlines()) for item in result.items)
        assert in_items + sum(result.drops.values()) + len(result.dead_letters) == len(lines)
        assert len({item.id for item in result.items}) == len(result.items), path.name
    busy = chat_source("irc", folder / "2009-01-15-dircproxy.log").fetch(None)
    second = [i for i in busy.items if re.search(r"\.\d+$", i.native_id)]
    assert len(second) == 2  # threads opened in the minute of another by the same person
    assert sum(len(i.raw.splitlines()) for i in second) == 6  # messages once overwritten


def test_two_threads_opened_by_one_person_in_one_minute_keep_both(tmp_path):
    text = (
        "[14 Jan 10:00] <ana!n=a@h> Q1 how do you space retrieval practice?\n"
        "[14 Jan 10:00] <ana!n=a@h> Q2 and how do you measure what sticks?\n"
        "[14 Jan 10:01] <bob!n=b@h> A1 weekly quizzes, then monthly\n"
        "[14 Jan 10:01] <cy!n=c@h> A2 a delayed test at day 30\n"
    )
    path = write_log(tmp_path / "chan.log", text)
    result = chat_source("irc", path, year=2009).fetch(None)
    assert [i.native_id for i in result.items] == [
        "chan:20090114T100000:ana",
        "chan:20090114T100000:ana.2",  # before: the same id, and Q1 was overwritten
    ]
    assert [len(i.raw.splitlines()) for i in result.items] == [2, 2]


def test_two_logs_of_one_folder_with_the_same_stem_keep_their_threads_apart(tmp_path):
    line = "[14 Jan 10:00] <ana!n=a@h> Q1 how do you space retrieval practice?\n"
    write_log(tmp_path / "chan.log", line)
    write_log(tmp_path / "chan.txt", line)
    write_log(tmp_path / "other.log", line)
    result = chat_source("irc", tmp_path, year=2009).fetch(None)
    assert sorted(i.native_id for i in result.items) == [
        "chan.log:20090114T100000:ana",
        "chan.txt:20090114T100000:ana",
        "other:20090114T100000:ana",  # a stem of its own keeps the id it always had
    ]


def test_short_messages_are_counted_and_replies_and_links_are_never_chatter(tmp_path):
    text = (
        "[14 Jan 10:00] --> ana (n=a@h) joined the channel\n"
        "[14 Jan 10:00] <ana!n=a@h> hi all\n"
        "[14 Jan 11:00] <bob!n=b@h> https://example.org/spacing\n"
        "[14 Jan 12:00] <cy!n=c@h> A1 yes\n"
        "[14 Jan 13:00] <ana!n=a@h> <Media omitted>\n"
        "[14 Jan 14:00] <dee!n=d@h>\n"
        "[14 Jan 15:00] <ed!n=e@h> thanks\n"
        "[14 Jan 15:01] <fay!n=f@h> ed: sure\n"  # a reply by name: kept with what it answers
    )
    path = write_log(tmp_path / "chan.log", text)
    result = chat_source("irc", path, year=2009).fetch(None)
    assert sorted(i.text for i in result.items) == [
        "A1 yes",
        "https://example.org/spacing",
        "thanks\n@fay: ed: sure",
    ]
    assert result.drops == {"notice": 1, "chatter": 2, "empty": 1}


def test_a_slack_reply_whose_parent_is_not_in_the_export_is_kept(tmp_path):
    root = tmp_path / "export"
    (root / "general").mkdir(parents=True)
    (root / "channels.json").write_text('[{"id": "C1", "name": "general"}]')
    (root / "general" / "2026-11-19.json").write_text(
        '[{"type": "message", "ts": "1763579000.000100", "user": "U1", "text": "ok thanks",'
        ' "thread_ts": "1763500000.000100"},'
        ' {"type": "message", "ts": "1763589000.000100", "user": "U2", "text": "lol"}]'
    )
    result = chat_source("slack", root).fetch(None)
    assert [i.text for i in result.items] == ["ok thanks"]
    assert result.drops == {"chatter": 1}


# --- WhatsApp zips -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zip_name", "member"),
    [
        ("WhatsApp Chat - L&D Circle.zip", "_chat.txt"),  # iOS
        ("WhatsApp Chat with L&D Circle.zip", "WhatsApp Chat with L&D Circle.txt"),  # Android
    ],
)
def test_whatsapp_export_zips_read_like_their_text(tmp_path, zip_name, member):
    path = tmp_path / zip_name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(WHATSAPP, member)
        zf.writestr("00000012-PHOTO-2026-11-19-20-02-00.jpg", bytes(range(256)) * 40)
    from_zip = chat_source("whatsapp", path, timezone="Europe/Paris").fetch(None)
    from_text = chat_source("whatsapp", WHATSAPP, timezone="Europe/Paris").fetch(None)
    assert [i.title for i in from_zip.items] == [i.title for i in from_text.items]
    assert [i.text for i in from_zip.items] == [i.text for i in from_text.items]
    assert from_zip.drops == from_text.drops and from_zip.items


def test_a_whatsapp_zip_without_a_chat_is_one_line_error(tmp_path):
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("IMG_0001.jpg", b"\xff\xd8\xff")
    with pytest.raises(SourceError, match=re.escape("found no .txt file")) as err:
        chat_source("whatsapp", path).fetch(None)
    assert "\n" not in str(err.value)


# --- X/Twitter: a bare tweets.js ---------------------------------------------------------------


def test_tweets_js_given_directly_reads_the_account_beside_it():
    result = chat_source("twitter_archive", ARCHIVE / "data" / "tweets.js").fetch(None)
    assert result.items and {i.author for i in result.items} == {"lrnchat"}
    assert result.warnings == []


def test_tweets_js_alone_is_read_with_a_warning_that_authors_are_empty(tmp_path):
    shutil.copy(ARCHIVE / "data" / "tweets.js", tmp_path / "tweets.js")
    result = chat_source("twitter_archive", tmp_path / "tweets.js").fetch(None)
    assert result.items and {i.author for i in result.items} == {""}
    [warning] = result.warnings
    assert warning.startswith("no account.js or manifest.js beside the tweets in")


# --- what users see: the run summary, `pln sources`, an older database -----------------------

CONFIG = """
sources:
  - {name: irc-log, type: irc, path: chan.log, year: 2009}
  - {name: tweets, type: twitter_archive, path: tweets.js}
topics:
  - {id: practice, phrases: [retrieval practice]}
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}
"""


def test_drops_and_warnings_show_in_the_summary_and_in_pln_sources(tmp_path, capsys):
    (tmp_path / "pln.yaml").write_text(CONFIG)
    write_log(
        tmp_path / "chan.log",
        "[14 Jan 10:00] --> ana (n=a@h) joined the channel\n"
        "[14 Jan 10:00] <ana!n=a@h> hi\n"
        "[14 Jan 12:00] <bob!n=b@h> retrieval practice works for our onboarding\n",
    )
    shutil.copy(ARCHIVE / "data" / "tweets.js", tmp_path / "tweets.js")
    assert main(["run", "-c", str(tmp_path / "pln.yaml")]) == 0
    out = capsys.readouterr().out
    assert "skipped   2 read and left out: chatter 1, notice 1 (irc-log 2)" in out
    assert "    ! tweets: no account.js or manifest.js beside the tweets in" in out

    assert main(["sources", "-c", str(tmp_path / "pln.yaml")]) == 0
    rows = capsys.readouterr().out.splitlines()
    irc = next(line for line in rows if line.startswith("irc-log"))
    tweets = next(line for line in rows if line.startswith("tweets"))
    assert "chatter 1, notice 1" in irc
    assert "warning: no account.js or manifest.js" in tweets


def test_a_database_made_before_drops_were_recorded_still_opens(tmp_path, capsys):
    (tmp_path / "pln.yaml").write_text(CONFIG.replace("  - {name: tweets, t", "  # {t"))
    write_log(tmp_path / "chan.log", "[14 Jan 10:00] <ana!n=a@h> hi\n")
    db = tmp_path / "out" / "pln.duckdb"
    with Store(db):
        pass
    with duckdb.connect(str(db)) as con:  # the sources table as it was before
        con.execute("ALTER TABLE sources DROP COLUMN last_drops")
        con.execute("ALTER TABLE sources DROP COLUMN last_warnings")
        con.execute("DELETE FROM pln_meta WHERE key = 'ddl_hash'")
    assert main(["sources", "-c", str(tmp_path / "pln.yaml")]) == 0  # read-only: no columns
    assert "never run" in capsys.readouterr().out
    assert main(["run", "-q", "-c", str(tmp_path / "pln.yaml")]) == 0  # the writer adds them
    assert db_rows(db, "SELECT last_drops FROM sources") == [('{"chatter": 1}',)]
