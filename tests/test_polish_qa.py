"""Polish (QA): every source's author names are cleaned when the item is made, without changing
item ids; `pln rescore` prints its counts with thousands separators."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from helpers import db_rows, make_source

from pln.cli import main
from pln.cli_learn import rescore_lines
from pln.learn import FeedChange, RescoreReport
from pln.record import make_item_id

BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")

# A Zoom chat saved on 19 November 2026: the second speaker's display name carries a bidi
# override (it would show "nimdA eht yrallaM" reversed) and odd whitespace.
HOSTILE = "\u202eMallory\u202c  the\u00a0 Admin "
ZOOM_CHAT = (
    "20:00:12\t From  Jane Doe  to  Everyone : Q1 How long should the gap between quizzes be?\n"
    f"20:01:03\t From  {HOSTILE} to  Everyone : A1 we start with two days and double it each "
    "time, spaced practice works\n"
    "20:30:00\t From  Jane Doe  to  Everyone : Next: what do you use for spaced practice "
    "reminders after a workshop?\n"
    f"21:00:00\t From  {HOSTILE} to  Everyone : Q2 Which tools send spaced practice reminders "
    "to learners?\n"
)


def test_a_chat_authors_name_is_stored_clean_and_item_ids_stay(tmp_path):
    """`pln run` on a Zoom chat (a source that reads names as written): the stored author and
    participants are one-line names without bidi controls, and ids are still made of the
    native id, which keeps the name as the file has it, so ids stored before do not change."""
    (tmp_path / "meeting_saved_chat.txt").write_text(ZOOM_CHAT, encoding="utf-8")
    (tmp_path / "pln.yaml").write_text(
        "sources:\n"
        "  - {name: zoom, type: zoom_chat, path: meeting_saved_chat.txt, date: 2026-11-19}\n"
        'topics:\n  - {id: spaced, phrases: ["spaced practice"]}\n'
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    assert main(["run", "-q", "-c", str(tmp_path / "pln.yaml")]) == 0
    rows = db_rows(
        tmp_path / "out" / "pln.duckdb",
        "SELECT id, native_id, author, participants FROM items ORDER BY native_id",
    )
    chat = f"{tmp_path.name}/meeting_saved_chat"
    assert [(native_id, author, list(who)) for _, native_id, author, who in rows] == [
        (f"{chat}:20261119T200012:Jane Doe", "Jane Doe", ["Jane Doe", "Mallory the Admin"]),
        (f"{chat}:20261119T203000:Jane Doe", "Jane Doe", ["Jane Doe"]),
        (f"{chat}:20261119T210000:{HOSTILE.strip()}", "Mallory the Admin", ["Mallory the Admin"]),
    ]
    assert all(item_id == make_item_id("zoom", native_id) for item_id, native_id, *_ in rows)
    # The text quotes the reply as said in the chat (the name is only cleaned as an author).
    [(text,)] = db_rows(
        tmp_path / "out" / "pln.duckdb", "SELECT text FROM items ORDER BY native_id LIMIT 1"
    )
    assert "@\u202eMallory" in text


def test_a_discord_nickname_with_controls_is_a_clean_author(tmp_path):
    """A Discord export read by its source class: the root's nickname (tabs, a line break, an
    isolate) is one clean line; a normal name is unchanged, and so is every id."""
    message = {"type": "Default", "attachments": [], "embeds": []}
    export = {
        "guild": {"id": "1"},
        "channel": {"id": "10", "name": "weekly-chat", "type": "GuildTextChat"},
        "messages": [
            {
                **message,
                "id": "100",
                "timestamp": "2026-11-19T20:00:00+00:00",
                "content": "Q1: How do you space practice after a workshop?",
                "author": {"id": "1", "name": "host", "nickname": "\u2067Ev\til\nHost\u2069"},
            },
            {
                **message,
                "id": "101",
                "timestamp": "2026-11-19T20:01:00+00:00",
                "content": "A1 retrieval quizzes on day 2, 7 and 21",
                "author": {"id": "2", "name": "jane", "nickname": None},
                "reference": {"messageId": "100"},
            },
        ],
    }
    (tmp_path / "chat.json").write_text(json.dumps(export), encoding="utf-8")
    [item] = make_source("discord", tmp_path, "discord", path="chat.json").fetch(None).items
    assert (item.author, item.participants) == ("Ev il Host", ("Ev il Host", "jane"))
    assert (item.native_id, item.id) == ("10:100", make_item_id("discord", "10:100"))
    assert not BIDI.search(item.author + "".join(item.participants))


def report(**change) -> RescoreReport:
    feeds = [Path(f"out/feeds/t{n}.rss.xml") for n in range(1200)]
    return RescoreReport(
        items=12_345,
        seconds=4.2,
        changes=[FeedChange(**change)],
        failed=[f"item {n}: broken" for n in range(2_500)],
        feeds=feeds,
    )


def test_rescore_counts_have_thousands_separators():
    """What `pln rescore` (and the stream after a topic edit) prints: every count with a comma,
    as `pln run`'s summary has them."""
    config = SimpleNamespace(outputs=SimpleNamespace(feeds_dir=Path("out/feeds")))
    change = {
        "topic": "spaced",
        "kept": 12_345,
        "entered": 2_345,
        "left": 1_234,
        "entered_titles": ["Spaced practice at scale"],
        "left_titles": ["Cramming works"],
        "model": "v3",
        "entered_labelled": 1_001,
        "left_labelled": 2,
    }
    lines = rescore_lines(report(**change), config).splitlines()
    assert lines[0] == "rescored 12,345 items in 4.2 s"
    assert lines[1:6] == [
        "  spaced (model v3): 12,345 kept (+2,345 -1,234: unlabelled +1,344 -1,232, "
        "labelled +1,001 -2)",
        "    + Spaced practice at scale",
        "    + … and 2,344 more",
        "    - Cramming works",
        "    - … and 1,233 more",
    ]
    assert lines[6] == "  2,500 items could not be rescored and keep their decisions:"
    assert lines[-1] == "  feeds  out/feeds/ (1,200 files)"
    same = rescore_lines(report(topic="spaced", kept=1_000, entered=0, left=0), config)
    assert "  spaced: 1,000 kept (same)" in same.splitlines()


def test_library_warnings_read_like_the_clis_own(tmp_path):
    """What pln's modules log (a model trained with another pipeline, Kafka retries) says
    "pln: warning: ...", as every other warning line does, not "pln: WARNING: ..."."""
    code = (
        "import logging; from pln.cli import _quiet_library_logs; _quiet_library_logs(); "
        "logging.getLogger('pln.filters.curator').warning('model %s is old', 'm1'); "
        "logging.getLogger('kafka').error('broker gone')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr == "pln: warning: model m1 is old\npln: error: broker gone\n"
