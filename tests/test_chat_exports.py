"""Chat exports (Slack, Discord, WhatsApp, Zoom, IRC) become chat_thread Items."""

from __future__ import annotations

import re
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import chat_source

from pln.errors import ConfigError, SourceError
from pln.sources import slack
from tests.corpora import corpus

FIXTURES = Path(__file__).parent / "fixtures" / "chat"
SLACK_EXPORT = FIXTURES / "slack" / "export"


def make_source(type_name: str, path: Path, **options):
    return chat_source(type_name, path, FIXTURES, **options)


def by_title(items):
    return {item.title: item for item in items}


def slack_messages(path: Path, **options):
    source = make_source("slack", path, **options)
    with source._open() as export:
        return source.read_messages(export)


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*.json")):
            zf.write(path, prefix + path.relative_to(folder).as_posix())
    return target


# --- Slack -----------------------------------------------------------------------------------


def test_slack_threads_follow_thread_ts_and_markup_becomes_text():
    result = make_source("slack", SLACK_EXPORT).fetch(None)
    items = {item.native_id: item for item in result.items}
    thread = items["C01LRN:1763579000.000200"]
    assert thread.platform == "slack" and thread.kind == "chat_thread"
    assert thread.title == "#lrn-design: Has anyone measured retention after spaced practice…"
    assert thread.text.splitlines() == [
        "Has anyone measured retention after spaced practice (https://example.org/spacing) "
        "pilots? cc @here",
        "@marc: @jane_ld yes: quiz scores at day 30 were 18% higher & drop-off <5%",
        "@pat_k: Same in #lrn-design last year, write-up in the wiki",  # 3 hours later
    ]
    assert thread.participants == ("jane_ld", "marc", "pat_k")
    assert thread.links == ("https://example.org/spacing",)
    assert thread.published_at == datetime.fromtimestamp(1763579000.0002, UTC)


def test_slack_bot_posts_keep_attachment_text_and_links_and_notices_are_left_out():
    items = make_source("slack", SLACK_EXPORT).fetch(None).items
    bot = next(i for i in items if i.author == "RSS Feed")
    assert "A short review of the spacing effect for #learningdesign teams" in bot.text
    assert "https://blog.example.org/why-spacing-works" in bot.links
    assert "https://files.example/plan.pdf" in bot.links  # pat's upload, same minute
    assert "learningdesign" in bot.hashtags
    assert not any("has joined" in i.text for i in items)


def test_slack_direct_messages_are_read_only_when_asked():
    default = make_source("slack", SLACK_EXPORT).fetch(None)
    assert {i.native_id.split(":")[0] for i in default.items} == {"C01LRN"}
    assert default.dead_letters == []

    private = make_source("slack", SLACK_EXPORT, include_private=True).fetch(None)
    dm = next(i for i in private.items if i.native_id.startswith("D0DM1:"))
    assert dm.title == "#dm-jane_ld-pat_k: Can you share the retention numbers from the pilot?"
    assert [(d.ref, d.reason) for d in private.dead_letters] == [
        ("D0DM1/2026-11-19.json#2", "a message must be a JSON object"),
        ("D0DM1/2026-11-19.json#3", "message without a valid 'ts'"),
    ]


@pytest.mark.parametrize("prefix", ["", "slack-export/"])
def test_a_slack_zip_reads_like_the_folder_and_is_not_modified_when_unchanged(tmp_path, prefix):
    archive = zip_folder(SLACK_EXPORT, tmp_path / "export.zip", prefix)
    source = make_source("slack", archive)
    from_zip = source.fetch(None)
    from_folder = make_source("slack", SLACK_EXPORT).fetch(None)
    assert [i.id for i in from_zip.items] == [i.id for i in from_folder.items]
    assert source.fetch(from_zip.cursor).not_modified


def test_a_slack_zip_never_reads_unsafe_member_names(tmp_path):
    archive = zip_folder(SLACK_EXPORT, tmp_path / "export.zip")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("../escape/2026-11-19.json", '[{"ts": "1", "text": "evil"}]')
        zf.writestr("/etc/2026-11-19.json", '[{"ts": "1", "text": "evil"}]')
    result = make_source("slack", archive).fetch(None)
    assert {(d.ref, d.reason) for d in result.dead_letters} == {
        ("../escape/2026-11-19.json", "unsafe member name (absolute or '..'); not read"),
        ("/etc/2026-11-19.json", "unsafe member name (absolute or '..'); not read"),
    }
    assert not any("evil" in i.text for i in result.items)
    assert not (tmp_path.parent / "escape").exists()


def test_a_slack_zip_bomb_member_is_skipped_not_inflated(tmp_path):
    archive = zip_folder(SLACK_EXPORT, tmp_path / "export.zip")
    with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("lrn-design/2026-11-20.json", b"[" + b" " * (8 * 1024 * 1024) + b"]")
    assert archive.stat().st_size < 100_000
    result = make_source("slack", archive, max_file_mb=1).fetch(None)
    assert [(d.ref, d.reason) for d in result.dead_letters] == [
        ("lrn-design/2026-11-20.json", "over 1 MiB uncompressed (raise max_file_mb); skipped")
    ]
    assert len(result.items) == 2  # the rest of the export still counts


def test_a_slack_export_too_big_in_total_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(slack, "MAX_TOTAL_BYTES", 1000)
    archive = zip_folder(SLACK_EXPORT, tmp_path / "export.zip")
    with pytest.raises(SourceError, match=r"unpacks to over 0 MiB; not read"):
        make_source("slack", archive).fetch(None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Slack export not found"),
        (b"\x00garbage\xff" * 100, "is not a Slack export zip"),
        (b"PK\x05\x06" + b"\x00" * 18, "holds no channels.json and no <channel>/<day>.json files"),
    ],
)
def test_unreadable_slack_exports_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "export.zip"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=re.escape(message)) as err:
        make_source("slack", path).fetch(None)
    assert "\n" not in str(err.value)


@pytest.mark.corpora
def test_slack_corpus_zip_ingests_every_message():
    channels, dead = slack_messages(corpus("chat", "slack", "testarchive.zip"))
    assert dead == []
    counts = {name: len(msgs) for (_, name), msgs in channels.items()}
    assert counts == {"enrique": 102, "traveling-sailor": 56}
    messages = [m for msgs in channels.values() for m in msgs]
    assert sum(m.system for m in messages) == 11  # 8 joins, 3 integrations added
    assert {m.author for m in messages} >= {"hamza", "abilinski", "doubledeez", "github"}
    items = make_source("slack", corpus("chat", "slack", "testarchive.zip")).fetch(None).items
    assert items and not any(re.search(r"<[@#!]|<https?:", i.text) for i in items)


# --- Discord ---------------------------------------------------------------------------------


def test_discord_replies_and_qa_numbers_make_threads_with_links_back():
    result = make_source("discord", FIXTURES / "discord" / "learning-design.json").fetch(None)
    q1, slides = result.items
    assert q1.title == "#weekly-chat Q1: How do you space practice after a workshop?"
    assert q1.participants == ("lrnhost", "jane", "pat_k")  # the reply came 29 minutes later
    assert q1.url == (
        "https://discord.com/channels/900000000000000001/900000000000000010/900000000000000101"
    )
    assert "The spacing effect\nA review of 100 years of research" in slides.text
    assert slides.links == ("https://example.org/spacing", "https://cdn.example/slides.pdf")
    assert [(d.ref, d.reason) for d in result.dead_letters] == [
        ("discord/learning-design.json#5", "not a message: no 'timestamp'")
    ]


def test_a_file_that_is_not_a_discord_export_is_one_line_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"guild": {}}')
    with pytest.raises(SourceError, match=r"x.json is not a DiscordChatExporter JSON export"):
        make_source("discord", path).fetch(None)


def _expected_ts_messages(ts_file: Path) -> list[dict]:
    """The `messages: [...]` entries of a chat-analytics expected-parse .ts file."""
    block = ts_file.read_text().split("messages: [", 1)[1].split("\n    ],", 1)[0]
    out = []
    for entry in re.findall(r"\{(.*?)\n        \}", block, re.S):
        fields = dict(re.findall(r'(\w+): "((?:[^"\\]|\\.)*)"', entry))
        fields["attachment"] = "attachments:" in entry
        out.append(fields)
    return out


@pytest.mark.corpora
@pytest.mark.parametrize("name", ["DM_2A_2M.json", "GC_3A_5M.json"])
def test_discord_corpus_matches_its_expected_parse(name):
    path = corpus("chat", "discord", name)
    source = make_source("discord", path)
    messages, dead = source.parse_messages(path, source.load(path, path.read_bytes())["messages"])
    expected = _expected_ts_messages(path.with_name(name + ".ts"))
    got = [m for m in messages if not m.system]
    assert dead == []
    assert [(m.id, m.text, m.reply_to) for m in got] == [
        (e["id"], e["textContent"], e.get("replyTo", "")) for e in expected
    ]
    source.fetch(None)  # and the whole file ingests


# --- WhatsApp --------------------------------------------------------------------------------


def test_whatsapp_ios_export_day_first_multiline_media_and_notices():
    path = FIXTURES / "whatsapp" / "WhatsApp Chat with L&D Circle.txt"
    source = make_source("whatsapp", path, timezone="Europe/Paris")
    messages, dead = source.parse(path, path.read_bytes())
    assert dead == []
    assert [(m.author, m.system) for m in messages if m.system] == [
        ("L&D Circle", True),  # end-to-end encryption banner
        ("", True),  # "Jane Doe added Ana"
    ]  # a deleted message is not a notice: it keeps its place in its thread (without text)
    media = next(m for m in messages if m.author == "Pat K" and not m.text)
    assert media.at == datetime(2026, 11, 19, 19, 2, tzinfo=UTC)  # 20:02 in Paris
    items = by_title(source.fetch(None).items)
    q1 = items["L&D Circle Q1: What does spaced practice look like in your team?"]
    assert "@Marc: A1 We run a workshop, then\nthree short quizzes over a month." in q1.text
    assert q1.participants == ("Jane Doe", "Marc", "Pat K")
    assert q1.links == ("https://example.org/cards",)
    deleted = items["L&D Circle: This message was deleted"]
    assert deleted.author == "Ana" and deleted.text == ""
    assert len(items) == 3


def test_whatsapp_android_us_export_is_read_month_first_with_am_pm():
    path = FIXTURES / "whatsapp" / "android-us.txt"
    source = make_source("whatsapp", path)
    messages, dead = source.parse(path, path.read_bytes())
    assert dead == [] and len(messages) == 6
    assert [m.system for m in messages] == [True, True, False, False, False, False]
    assert messages[-1].at == datetime(2026, 11, 19, 23, 59, tzinfo=UTC)
    assert messages[-1].text.endswith("\nnot a message line? no: continuation of the line above")


def test_whatsapp_date_order_option_overrides_the_guess():
    path = FIXTURES / "whatsapp" / "WhatsApp Chat with L&D Circle.txt"
    messages, dead = make_source("whatsapp", path, date_order="mdy").parse(path, path.read_bytes())
    assert messages == [] and len(dead) == 9  # every message, none lost silently
    assert dead[0].reason == "invalid date 19/11/2026 20:00:01 (read as mdy)"
    with pytest.raises(ConfigError, match="date_order: must be one of auto, dmy, mdy, ymd"):
        make_source("whatsapp", path, date_order="dd/mm")


@pytest.mark.corpora
def test_whatsapp_corpus_matches_its_expected_parse():
    path = corpus("chat", "whatsapp", "2A_5M.txt")
    source = make_source("whatsapp", path)
    messages, dead = source.parse(path, path.read_bytes())
    expected = _expected_ts_messages(path.with_name("2A_5M.txt.ts"))
    assert dead == []
    in_time_order = sorted(messages, key=lambda m: m.at)  # stable, as the expected parse
    assert [(m.author, m.text) for m in in_time_order] == [
        (e["authorId"], e.get("textContent", "")) for e in expected
    ]
    assert source.fetch(None).items


# --- Zoom ------------------------------------------------------------------------------------


def test_zoom_classic_chat_skips_private_messages_and_passes_midnight():
    path = FIXTURES / "zoom" / "meeting_saved_chat_2026-11-19.txt"
    messages, dead, private = make_source("zoom_chat", path).parse(path, path.read_bytes())
    assert dead == [] and private == 1
    assert not any("private" in m.text for m in messages)
    assert [m.author for m in messages] == [
        "Jane Doe",
        "Marc Blanc",
        "Ana",
        "Pat K",
        "Jane Doe",
        "Marc Blanc",
    ]
    assert messages[-1].at == datetime(2026, 11, 20, 0, 0, 10, tzinfo=UTC)
    titles = by_title(make_source("zoom_chat", path).fetch(None).items)
    q1 = titles["Zoom chat 2026-11-19 Q1: How long should the gap between quizzes be?"]
    assert q1.participants == ("Marc Blanc", "Ana", "Pat K")


def test_zoom_newer_chat_threads_replies_and_ignores_reactions():
    path = FIXTURES / "zoom" / "GMT20261120-100000_Recording.txt"
    source = make_source("zoom_chat", path, timezone="Europe/Paris")
    messages, dead, private = source.parse(path, path.read_bytes())
    assert dead == [] and private == 1
    reply = next(m for m in messages if m.author == "Marc Blanc")
    assert reply.reply_to == messages[0].id
    assert reply.text == "A buddy, a checklist and a retrieval quiz at the end of week one"
    assert [m.system for m in messages] == [False, False, True, False]
    assert messages[0].at == datetime(2026, 11, 20, 9, 0, 5, tzinfo=UTC)


def test_zoom_tab_format_and_the_date_option():
    path = FIXTURES / "zoom" / "2026-11-21_recording_chat.txt"
    source = make_source("zoom_chat", path, date="2026-12-01")
    messages, dead, _ = source.parse(path, path.read_bytes())
    assert dead == [] and [m.author for m in messages] == ["Jane Doe", "Marc Blanc", "Jane Doe"]
    assert messages[0].at == datetime(2026, 12, 1, 0, 1, 16, tzinfo=UTC)
    with pytest.raises(ConfigError, match="date: must be a date like 2026-11-19"):
        make_source("zoom_chat", path, date="yesterday")


# --- IRC -------------------------------------------------------------------------------------


def test_irssi_log_with_day_changes_modes_actions_and_a_cp1252_line():
    path = FIXTURES / "irc" / "irssi-lrnchat.log"
    source = make_source("irc", path)
    messages, dead = source.parse(path, path.read_bytes())
    assert [(d.ref, d.reason) for d in dead] == [
        ("irc/irssi-lrnchat.log:12", "not an IRC log line (no timestamp)")
    ]
    said = [m for m in messages if not m.system]
    assert [m.author for m in said] == ["jane", "marc", "pat", "marc", "ana", "jane", "pat", "rené"]
    assert said[4].text == "ana waves from Lyon, late as usual"
    assert said[-1].text == "merci, très intéressant ce soir"
    assert said[-1].at == datetime(2026, 11, 20, 0, 2, tzinfo=UTC)
    q1 = by_title(source.fetch(None).items)[
        "irssi-lrnchat Q1: what does spaced practice look like in your courses?"
    ]
    assert "@pat: marc: do learners get reminders?" in q1.text  # "nick:" addresses marc


def test_weechat_log_with_tabs():
    path = FIXTURES / "irc" / "weechat-lrnchat.txt"
    messages, dead = make_source("irc", path).parse(path, path.read_bytes())
    assert dead == []
    assert [(m.author, m.system) for m in messages] == [
        ("", True),
        ("jane", False),
        ("marc", False),
        ("pat", False),
        ("", True),
    ]


@pytest.mark.corpora
@pytest.mark.parametrize(
    ("name", "notices"),
    [
        ("2005-01-08-test1.log", 2),
        ("2005-01-09-test2.log", 7),
        ("2009-01-14-dircproxy.log", 16),
        ("2009-01-15-dircproxy.log", 4),
        ("2009-01-16-dircproxy.log", 17),
        ("2011-01-16-hybrid-charset.log", 0),
    ],
)
def test_irc_corpus_logs_ingest_every_line(name, notices):
    path = corpus("chat", "irc", name)
    source = make_source("irc", path)
    messages, dead = source.parse(path, path.read_bytes())
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    assert dead == [] and len(messages) == len(lines)
    assert sum(m.system for m in messages) == notices
    source.fetch(None)


@pytest.mark.corpora
def test_irc_corpus_mixed_charsets_and_dircproxy_masks():
    hybrid = corpus("chat", "irc", "2011-01-16-hybrid-charset.log")
    messages, _ = make_source("irc", hybrid).parse(hybrid, hybrid.read_bytes())
    assert messages[0].text == "aišku :)"  # Windows-1252
    assert "lietuviškai" in messages[1].text  # UTF-8
    dircproxy = corpus("chat", "irc", "2009-01-14-dircproxy.log")
    messages, _ = make_source("irc", dircproxy).parse(dircproxy, dircproxy.read_bytes())
    first = next(m for m in messages if not m.system)
    assert first.author == "nombyte" and first.text.startswith("hey doesn't anyone know")
    assert first.at == datetime(2009, 1, 14, 12, 36, tzinfo=UTC)


# --- hostile input, all text formats ---------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "what"),
    [
        ("whatsapp", "WhatsApp chat export"),
        ("zoom_chat", "Zoom chat file"),
        ("irc", "IRC log"),
        ("discord", "DiscordChatExporter JSON export"),
    ],
)
def test_binary_garbage_is_refused_in_one_line(tmp_path, type_name, what):
    path = tmp_path / "chat.txt"
    path.write_bytes(bytes(range(256)) * 64)
    article = "an" if what[0] in "AEIOU" else "a"  # "an IRC log"
    with pytest.raises(SourceError, match=re.escape(f"is not {article} {what} (it holds binary")):
        make_source(type_name, path).fetch(None)


@pytest.mark.parametrize(
    ("type_name", "message"),
    [
        ("whatsapp", "is not a WhatsApp chat export: most lines are not messages"),
        ("zoom_chat", "is not a Zoom chat file: no 'HH:MM:SS From …' lines"),
        ("irc", "is not an IRC log: most lines have no timestamp"),
    ],
)
def test_a_text_file_of_another_kind_is_refused_in_one_line(tmp_path, type_name, message):
    path = tmp_path / "README.txt"
    path.write_text("# Notes\n\nThis is a README,\nnot a chat.\nIt has lines.\nMany lines.\n")
    with pytest.raises(SourceError, match=re.escape(message)):
        make_source(type_name, path).fetch(None)


def test_a_folder_of_exports_reads_each_file_once(tmp_path):
    for path in (FIXTURES / "zoom").glob("*.txt"):
        shutil.copy(path, tmp_path)
    (tmp_path / "broken.txt").write_bytes(b"\x00" * 100)
    source = make_source("zoom_chat", tmp_path)
    first = source.fetch(None)
    assert len(first.items) == 6
    assert [d.reason for d in first.dead_letters] == [
        f"{tmp_path / 'broken.txt'} is not a Zoom chat file (it holds binary data)"
    ]
    second = source.fetch(first.cursor)  # the refused file is said again, the others not read
    assert second.items == [] and [d.reason for d in second.dead_letters] == [
        d.reason for d in first.dead_letters
    ]
    (tmp_path / "broken.txt").unlink()
    assert source.fetch(second.cursor).not_modified
