"""Property: a chat parser loses nothing and overwrites nothing.

For generated logs and exports, every message ends up in exactly one item (its raw line is in
the item's `raw`), in a dead letter, or in a counted drop; and no two items share an id, even
when one person opens two threads within the minute of a minute-resolution log.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers import chat_source
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NICKS = ("ana", "bob", "cy")
WORDS = ("hi", "ok", "lol", "spacing", "works", "why?", "Q1", "A1", "Q2", "A2", "bob:", "@ana")
WORDS += ("https://example.org/x", "", "retrieval practice helps")
START = datetime(2023, 12, 20, 9, 0)  # runs across New Year and 29 Feb 2024
PROFILE = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: a failure is reproducible
)

message = st.tuples(
    st.sampled_from([0, 0, 0, 1, 2, 5, 30, 60 * 7, 60 * 30, 60 * 24 * 9]),  # minutes since last
    st.sampled_from(NICKS),
    st.lists(st.sampled_from(WORDS), max_size=5).map(" ".join),
    st.sampled_from(["say", "say", "say", "action", "notice"]),
)
chats = st.lists(message, min_size=1, max_size=60)


def times(chat) -> list[datetime]:
    at, out = START, []
    for minutes, *_ in chat:
        at += timedelta(minutes=minutes)
        out.append(at)
    return out


def timed(chat):
    """(at, nick, text, kind) for each generated message."""
    for at, (_, nick, text, kind) in zip(times(chat), chat, strict=True):
        yield at, nick, text, kind


@contextmanager
def written_log(name: str, lines: list[str]):
    """A file `name` holding `lines`, in a folder that is gone after the block (Hypothesis
    runs the test body many times, so tmp_path would be shared)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield path


def check_conservation(result, raws: list[str]) -> None:
    """Messages in == messages in items + dead letters + counted drops; ids unique."""
    sent = Counter(raws)
    in_items = Counter(line for i in result.items for line in i.raw.split("\n") if line in sent)
    assert not in_items - sent  # no message in two items
    assert in_items.total() + len(result.dead_letters) + sum(result.drops.values()) == len(raws)
    assert len({item.id for item in result.items}) == len(result.items)
    assert all(count > 0 for count in result.drops.values())


def dircproxy(chat) -> list[str]:
    lines = []
    for at, nick, text, kind in timed(chat):
        stamp = f"[{at:%d %b %H:%M}]"
        if kind == "notice":
            lines.append(f"{stamp} --> {nick} (n=u@h) joined the channel")
        elif kind == "action":
            lines.append(f"{stamp} * {nick} {text or 'waves'}")
        else:
            lines.append(f"{stamp} <{nick}!n={nick}@host> {text}".rstrip())
    return lines


@PROFILE
@given(chat=chats, by_mtime=st.booleans())
def test_irc_logs_without_years_lose_nothing_and_read_every_date(chat, by_mtime):
    lines = dircproxy(chat)
    with written_log("channel.log", lines) as path:
        if by_mtime:  # the log was last written a few hours after its last line
            written = times(chat)[-1].replace(tzinfo=UTC) + timedelta(hours=5)
            os.utime(path, (written.timestamp(), written.timestamp()))
            source = chat_source("irc", path)
        else:
            source = chat_source("irc", path, year=START.year)
        messages, dead = source.parse(path, path.read_bytes())
        assert dead == []
        assert [m.at.replace(tzinfo=None) for m in messages] == times(chat)
        check_conservation(source.fetch(None), lines)


@PROFILE
@given(chat=chats)
def test_whatsapp_exports_lose_nothing(chat):
    lines = []
    for at, nick, text, kind in timed(chat):
        head = f"{at:%d/%m/%Y, %H:%M} - "
        if kind == "notice":
            lines.append(f"{head}{nick} joined using this group's invite link")
        elif kind == "action":
            lines.append(f"{head}{nick}: <Media omitted>")
        else:
            lines.append(f"{head}{nick}: {text}")
    with written_log("WhatsApp Chat with Circle.txt", lines) as path:
        check_conservation(chat_source("whatsapp", path, date_order="dmy").fetch(None), lines)


@PROFILE
@given(chat=chats, replies=st.lists(st.integers(min_value=0, max_value=59), max_size=10))
def test_slack_exports_lose_nothing(chat, replies):
    records = []
    for i, (at, nick, text, kind) in enumerate(timed(chat)):
        ts = f"{at.replace(tzinfo=UTC).timestamp():.0f}.{i:06d}"
        record = {"type": "message", "ts": ts, "user": nick, "text": text}
        if kind == "notice":
            record["subtype"] = "channel_join"
        records.append(record)
    for i in replies:  # some messages answer an earlier one (or one not in the export)
        if 0 < i < len(records):
            records[i]["thread_ts"] = records[i // 2]["ts"] if i % 3 else "1.000000"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "export"
        (root / "general").mkdir(parents=True)
        (root / "channels.json").write_text(json.dumps([{"id": "C1", "name": "general"}]))
        (root / "general" / "2023-12-20.json").write_text(json.dumps(records))
        result = chat_source("slack", root).fetch(None)
        raws = [json.dumps(r, ensure_ascii=False) for r in records]
        check_conservation(result, raws)
        replied = {r["ts"] for r in records if r.get("thread_ts") and r.get("subtype") is None}
        kept = {json.loads(line)["ts"] for i in result.items for line in i.raw.split("\n")}
        assert replied <= kept  # a reply is never dropped as chatter


@PROFILE
@given(chat=chats)
def test_hashtag_transcripts_lose_nothing(chat):
    lines = [
        f"{at:%Y-%m-%dT%H:%M:%S}Z @{nick}: {text}".rstrip() for at, nick, text, _ in timed(chat)
    ]
    with written_log("chat.txt", lines) as path:
        check_conservation(chat_source("hashtag_chat", path, hashtag="lrnchat").fetch(None), lines)


meeting = st.lists(
    st.tuples(
        st.sampled_from([0, 0, 1, 2, 5, 30]),
        st.sampled_from(NICKS),
        st.lists(st.sampled_from(WORDS), max_size=5).map(" ".join),
        st.sampled_from(["say", "say", "say", "private", "notice"]),
    ),
    min_size=1,
    max_size=60,
)


@PROFILE
@given(chat=meeting)
def test_zoom_chats_lose_nothing(chat):
    lines = []
    for at, nick, text, kind in timed(chat):
        to = "Bob(Direct Message)" if kind == "private" else "Everyone"
        said = f'Reacted to "{text}" with 👍' if kind == "notice" else text
        lines.append(f"{at:%H:%M:%S} From {nick} to {to}: {said}".rstrip())
    with written_log("meeting_saved_chat.txt", lines) as path:
        result = chat_source("zoom_chat", path, date=f"{START:%Y-%m-%d}").fetch(None)
        check_conservation(result, lines)
        assert result.drops.get("private", 0) == sum(kind == "private" for *_, kind in chat)


@PROFILE
@given(chat=chats, replies=st.lists(st.integers(min_value=1, max_value=59), max_size=10))
def test_discord_exports_lose_nothing(chat, replies):
    records = []
    for i, (at, nick, text, kind) in enumerate(timed(chat)):
        record = {
            "id": str(900 + i),
            "type": "GuildMemberJoin" if kind == "notice" else "Default",
            "timestamp": at.replace(tzinfo=UTC).isoformat(),
            "content": text,
            "author": {"id": nick, "name": nick},
        }
        records.append(record)
    for i in replies:
        if i < len(records):
            records[i]["type"] = "Reply"
            records[i]["reference"] = {"messageId": str(900 + i // 2) if i % 3 else "1"}
    export = {"guild": {"id": "1"}, "channel": {"id": "2", "name": "c"}, "messages": records}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "channel.json"
        path.write_text(json.dumps(export), encoding="utf-8")
        result = chat_source("discord", path).fetch(None)
        check_conservation(result, [json.dumps(r, ensure_ascii=False) for r in records])
        replied = {r["id"] for r in records if r.get("reference") and r["type"] == "Reply"}
        kept = {json.loads(line)["id"] for i in result.items for line in i.raw.split("\n")}
        assert replied <= kept  # a reply is never dropped as chatter
