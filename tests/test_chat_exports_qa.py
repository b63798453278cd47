"""What weeks of real chat exports showed (QA F3, F4, F8, F10): a busy chat is several items
curated whole, a file refused whole is said on every run, the size limit is an option, crash
padding is not binary, Discord parts thread as one export, and the wording is plain."""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import chat_source, db_rows, make_source

from pln.clean import MAX_TEXT_CHARS
from pln.cli import main
from pln.errors import ConfigError
from pln.sources.chat import looks_binary

T0 = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
TOPICS = """\
topics:
  - {id: microlearning, phrases: [microlearning], threshold: 0.5}
  - {id: onboarding, phrases: [onboarding, buddy program], threshold: 0.5}
nlp: {pipeline: "blank:en"}
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}
"""


def project(tmp_path: Path, *sources: str) -> Path:
    """A pln.yaml with these source lines and two topics; returns its path."""
    config = tmp_path / "pln.yaml"
    config.write_text("sources:\n" + "".join(f"  - {s}\n" for s in sources) + TOPICS)
    return config


def run(config: Path, capsys) -> str:
    assert main(["run", "-c", str(config)]) == 0
    captured = capsys.readouterr()
    return captured.out + captured.err


def irc_lines(count: int, every: timedelta, start: int = 0, special: dict | None = None):
    """`count` IRC log lines, one per `every`, by three people; `special` {k: text}."""
    names = ["anna", "bob", "chen"]
    for k in range(start, start + count):
        text = (special or {}).get(k, f"chatting about weekly plans and random thing {k} today")
        yield f"[{T0 + every * (k + 1):%Y-%m-%d %H:%M:%S}] <{names[k % 3]}> {text}"


def write(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def discord_message(i: int, text: str, minute: int = 0, reply: int | None = None, **extra):
    record = {
        "id": str(i),
        "type": "Reply" if reply else "Default",
        "timestamp": (T0 + timedelta(minutes=minute)).isoformat(),
        "content": text,
        "author": {"id": str(i % 3), "name": f"user{i % 3}"},
    }
    if reply:
        record["reference"] = {"messageId": str(reply)}
    return {**record, **extra}


def discord_export(path: Path, messages: list[dict], channel: str = "CH1") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    export = {
        "guild": {"id": "G1", "name": "L&D"},
        "channel": {"id": channel, "type": "GuildTextChat", "name": "general"},
        "messages": messages,
    }
    path.write_text(json.dumps(export, indent=2), encoding="utf-8")
    return path


def touch_later(path: Path) -> None:
    """A new mtime, as a re-export gives, whatever the clock's resolution."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


# --- F3: a busy chat is several items, each curated whole ---------------------------------------

QUESTION = 1400  # the one message about microlearning, far past 50,000 characters of chatter
ABOUT = "has anyone tried microlearning for moderators? five minute lessons worked for us"


def test_a_busy_chat_is_several_items_and_its_late_message_is_curated(tmp_path, capsys):
    log = write(
        tmp_path / "logs" / "mods.log",
        irc_lines(1500, timedelta(minutes=2), special={QUESTION: ABOUT}),
    )
    config = project(tmp_path, "{name: irc, type: irc, path: logs}")
    out = run(config, capsys)
    assert "kept      microlearning 1" in out
    db = tmp_path / "out" / "pln.duckdb"
    [(items, longest, first_id)] = db_rows(
        db, "SELECT count(*), max(length(text)), min(native_id) FROM items"
    )
    assert items == 17  # 1,500 messages, 2 minutes apart: 3 hours each
    assert longest < 20_000
    assert first_id == "mods:20261105T080200:anna"  # the id the whole chat had before
    assert db_rows(db, "SELECT count(*) FROM items WHERE text LIKE '%microlearning%'") == [(1,)]

    # The export grows: the parts read before keep their ids; the last one grows.
    with log.open("a", encoding="utf-8") as file:
        file.write("\n".join(irc_lines(200, timedelta(minutes=2), start=1500)) + "\n")
    out = run(config, capsys)
    # 16 parts read again unchanged, the last one grown, two more
    assert "items     19 read: 2 new, 1 updated, 16 unchanged" in out
    assert db_rows(db, "SELECT count(*) FROM items") == [(19,)]


def test_a_busy_chat_re_read_whole_keeps_every_id(tmp_path):
    """The re-read above counts only what changed; here every id of the first read is kept."""
    log = write(tmp_path / "mods.log", irc_lines(600, timedelta(minutes=1)))
    before = [i.native_id for i in chat_source("irc", log).fetch(None).items]
    with log.open("a", encoding="utf-8") as file:
        file.write("\n".join(irc_lines(300, timedelta(minutes=1), start=600)) + "\n")
    after = [i.native_id for i in chat_source("irc", log).fetch(None).items]
    assert len(before) == 4 and after[: len(before)] == before  # 3 hours (181 messages) a part
    assert len(after) == 5


def test_a_long_reply_thread_goes_on_in_parts_under_the_cap(tmp_path):
    answer = "we pair every new hire with a buddy for onboarding " * 40  # ~2,000 characters
    messages = [discord_message(100, "How do you run onboarding for remote hires?")]
    messages += [discord_message(101 + k, answer, minute=k + 1, reply=100) for k in range(40)]
    path = discord_export(tmp_path / "general.json", messages)
    first, rest = chat_source("discord", path).fetch(None).items
    assert first.native_id == "CH1:100" and first.thread_id == "CH1:100"
    assert rest.native_id == "CH1:125"  # keyed by its own first message
    assert rest.thread_id == "CH1:100"  # and names the thread it continues
    assert rest.title == "#general: How do you run onboarding for remote hires? (continued)"
    assert max(len(first.text), len(rest.text)) <= MAX_TEXT_CHARS
    ids = [json.loads(line)["id"] for item in (first, rest) for line in item.raw.splitlines()]
    assert sorted(ids) == [str(i) for i in range(100, 141)]  # each message once


def test_a_message_longer_than_an_item_holds_is_said(tmp_path):
    path = discord_export(tmp_path / "general.json", [discord_message(100, "onboarding " * 6_000)])
    result = chat_source("discord", path).fetch(None)
    assert result.warnings == [
        "general.json#0: a message over the 50,000 characters an item holds; "
        "only its start is curated"
    ]


# --- F4: a file refused whole, the size limit, crash padding --------------------------------------

GOOD = [discord_message(1, "our onboarding buddy program pairs every new hire")]


def test_a_file_refused_whole_is_said_on_every_run_until_it_is_read(tmp_path, capsys):
    discord_export(tmp_path / "discord" / "general.json", GOOD)
    big = discord_export(
        tmp_path / "discord" / "lounge.json",
        [
            discord_message(i, f"onboarding buddy note {i} " + "x" * 900, minute=i)
            for i in range(1, 1600)
        ],
        channel="CH2",
    )
    assert 1 << 20 < big.stat().st_size < 2 << 20
    config = project(tmp_path, "{name: lounge, type: discord, path: discord, max_file_mb: 1}")
    warning = (
        "    ! lounge: discord/lounge.json is 2 MiB, over the 1 MiB limit "
        "(raise max_file_mb, or export in parts with --partition); not read"
    )
    for _ in range(2):  # said again, though nothing changed
        out = run(config, capsys)
        assert warning in out
        assert "dead      1 record could not be read (lounge 1)" in out
    db = tmp_path / "out" / "pln.duckdb"
    assert db_rows(db, "SELECT ref FROM dead_letters") == [("discord/lounge.json",)]  # one row
    assert db_rows(db, "SELECT native_id FROM items") == [("CH1:1",)]  # the other file counts
    assert main(["sources", "-c", str(config)]) == 0
    assert "warning: discord/lounge.json is 2 MiB" in capsys.readouterr().out

    config.write_text(config.read_text().replace("max_file_mb: 1", "max_file_mb: 2"))
    out = run(config, capsys)
    assert "not read" not in out and "dead      0" in out
    assert db_rows(db, "SELECT count(*) FROM items WHERE native_id LIKE 'CH2:%'") != [(0,)]


def test_one_file_given_as_path_over_the_limit_fails_the_source(tmp_path, capsys):
    discord_export(tmp_path / "lounge.json", [discord_message(1, "x" * (1 << 20))])
    config = project(tmp_path, "{name: lounge, type: discord, path: lounge.json, max_file_mb: 1}")
    out = run(config, capsys)
    assert "✗ lounge: lounge.json is 2 MiB, over the 1 MiB limit (raise max_file_mb" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "max_file_mb: must be at least 1, got 0"),
        (5000, "max_file_mb: must be at most 1024, got 5000"),
        ("64MB", "max_file_mb: must be an integer, got str '64MB'"),
    ],
)
def test_max_file_mb_is_checked_with_the_config(tmp_path, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_source("irc", tmp_path, path="logs", max_file_mb=value)


def test_a_log_with_crash_padding_is_read_line_by_line(tmp_path):
    lines = list(irc_lines(2000, timedelta(minutes=15)))
    data = "\n".join(lines).encode() + b"\n"
    cut = data.index(b"\n", 6000) + 1  # a crash left 512 NUL bytes ~6 KB in
    path = tmp_path / "lrn.log"
    path.write_bytes(data[:cut] + b"\x00" * 512 + data[cut:])
    result = chat_source("irc", path).fetch(None)
    assert result.dead_letters == []
    assert len(result.items) == 2000  # 15 minutes apart: one item each, none lost
    assert not any("\x00" in item.text for item in result.items)


def zip_of_text() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("chat.txt", os.urandom(20_000).hex())
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + os.urandom(30_000)


@pytest.mark.parametrize(
    "data",
    [
        PNG,
        zip_of_text(),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 9000 >>\nstream\n" + os.urandom(9000),
        "[2026-11-05 08:00:00] <anna> utf-16 without a byte order mark\n".encode("utf-16-le") * 50,
        b"\x00" * 4096,
    ],
    ids=["png", "zip", "pdf", "utf-16 without BOM", "only NUL bytes"],
)
def test_binary_files_are_still_binary(data):
    assert looks_binary(data)


LINE = b"[2026-11-05 08:00:00] <anna> hello\n"  # 35 bytes: the bad ones are within 4 KB


@pytest.mark.parametrize(
    "data",
    [
        LINE * 100 + b"\x00" * 4096 + LINE * 300,
        LINE * 100 + os.urandom(64).replace(b"\x00", b"") + b"\x00" + LINE * 300,
        b"\x0304,01colour\x03 and \x02bold\x02 as mIRC writes them, in a longer line\n" * 100,
    ],
    ids=["crash padding", "a few garbled bytes", "mIRC formatting"],
)
def test_text_with_a_few_bad_bytes_is_text(data):
    assert not looks_binary(data)


def test_a_utf16_log_with_a_byte_order_mark_is_read(tmp_path):
    lines = list(irc_lines(3, timedelta(minutes=15)))
    path = tmp_path / "lrn.log"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-16"))
    assert len(chat_source("irc", path).fetch(None).items) == 3


# --- F8: Discord exports in parts --------------------------------------------------------------

THREAD = [
    discord_message(100, "How do you run onboarding for a new hire in a remote community?"),
    discord_message(101, "A buddy program for the first 90 days, with a weekly check-in", 1, 100),
    discord_message(102, "We pair every new hire with a community manager for onboarding", 30, 100),
]


def items_of(result) -> list[tuple[str, str]]:
    return sorted((i.native_id, i.text) for i in result.items)


def test_discord_parts_thread_as_one_export(tmp_path):
    whole = discord_export(tmp_path / "whole" / "general.json", THREAD)
    discord_export(tmp_path / "parts" / "general [part 1].json", THREAD[:2])
    discord_export(tmp_path / "parts" / "general [part 2].json", THREAD[2:])
    discord_export(tmp_path / "parts" / "random.json", GOOD, channel="CH2")
    want = items_of(chat_source("discord", whole).fetch(None))
    got = make_source("discord", tmp_path, path="parts").fetch(None)
    assert [i for i in items_of(got) if i[0].startswith("CH1:")] == want
    assert want[0][0] == "CH1:100" and len(want) == 1


def test_the_whole_export_beside_its_parts_reads_each_message_once(tmp_path):
    discord_export(tmp_path / "d" / "general.json", THREAD)
    edited = {**THREAD[2], "content": "We pair every new hire with a mentor for onboarding"}
    part = discord_export(tmp_path / "d" / "general [part 2].json", [edited])
    touch_later(part)  # the newer export wins
    [item] = make_source("discord", tmp_path, path="d").fetch(None).items
    assert item.text.endswith("@user0: We pair every new hire with a mentor for onboarding")
    assert len(item.raw.splitlines()) == 3


def test_a_changed_part_reads_the_other_parts_of_its_channel(tmp_path, capsys):
    discord_export(tmp_path / "discord" / "general.json", THREAD)
    config = project(tmp_path, "{name: discord, type: discord, path: discord}")
    run(config, capsys)
    db = tmp_path / "out" / "pln.duckdb"
    before = db_rows(db, "SELECT native_id, text FROM items")

    (tmp_path / "discord" / "general.json").unlink()  # next week: exported in parts
    discord_export(tmp_path / "discord" / "general [part 1].json", THREAD[:2])
    part2 = discord_export(tmp_path / "discord" / "general [part 2].json", THREAD[2:])
    out = run(config, capsys)
    assert "items     1 read: 0 new, 0 updated, 1 unchanged" in out
    assert db_rows(db, "SELECT native_id, text FROM items") == before

    late = discord_message(103, "And a buddy checklist for the first week of onboarding", 50, 100)
    discord_export(part2, [*THREAD[2:], late])  # only part 2 changes
    out = run(config, capsys)
    assert "items     1 read: 0 new, 1 updated, 0 unchanged" in out
    [(native_id, text)] = db_rows(db, "SELECT native_id, text FROM items")
    assert native_id == "CH1:100" and text.startswith("How do you run onboarding")
    assert text.endswith("@user1: And a buddy checklist for the first week of onboarding")


# --- F10: plain reasons, a file gone ------------------------------------------------------------


def test_discord_dead_letters_say_what_is_wrong_in_plain_words(tmp_path):
    messages = [
        discord_message(1, "ok message about onboarding"),
        discord_message(2, "x", timestamp="not a time"),
        {k: v for k, v in discord_message(3, "x").items() if k != "id"},
        discord_message(4, "x", timestamp="2026-11-09T18:04:00"),
        discord_message(5, "x", timestamp=1763000000),
        ["not", "an", "object"],
        discord_message(6, "an odd record about onboarding", 60, author="x", embeds="none"),
    ]
    result = chat_source("discord", discord_export(tmp_path / "g.json", messages)).fetch(None)
    assert [(d.ref, d.reason) for d in result.dead_letters] == [
        ("g.json#1", "invalid timestamp 'not a time'"),
        ("g.json#2", "not a message: no 'id'"),
        ("g.json#3", "timestamp without a time zone: '2026-11-09T18:04:00'"),
        ("g.json#4", "invalid timestamp 1763000000"),
        ("g.json#5", "not a message: list ['not', 'an', 'object']"),
    ]
    assert len(result.items) == 2  # an odd author or embeds list does not lose the message


def test_a_file_gone_from_the_folder_is_said_and_its_items_stay(tmp_path, capsys):
    discord_export(tmp_path / "discord" / "general.json", GOOD)
    discord_export(tmp_path / "discord" / "random.json", THREAD, channel="CH2")
    config = project(tmp_path, "{name: discord, type: discord, path: discord}")
    run(config, capsys)
    (tmp_path / "discord" / "random.json").unlink()
    out = run(config, capsys)
    assert "not modified" not in out
    assert (
        "! discord: a file gone from discord/ since the last run (random.json): "
        "its items stay in the store"
    ) in out
    db = tmp_path / "out" / "pln.duckdb"
    assert db_rows(db, "SELECT count(*) FROM items WHERE native_id LIKE 'CH2:%'") == [(1,)]
    assert "✓ discord: not modified" in run(config, capsys)  # said once
