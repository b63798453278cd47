"""Feed QA, second round, met as a user meets them: a blog re-issuing its guids keeps its feed
guids, search finds emoji, a run kept out by a reader says no more than that it holds the file,
`pln sql` writes lists, intervals, blobs and non-ASCII text portably, `keep_days: 0` keeps all,
the sanitizer keeps `dir` and `lang`."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from feedsite import NOW, build_site, free_port, post
from test_serve import get

from pln.cli import main
from pln.config import load_config
from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.sanitize import sanitize_html
from pln.sinks.store import Store, StoreBusy

# -- 2. a blog re-issues its guids: the posts seen first keep heading their stories -----------


def reissued_feed(guid: str) -> str:
    """Eight posts, their links, titles and texts the same whatever `guid` (+ n) names them."""
    items = "".join(
        f"<item><title>Retrieval practice note {n}</title>"
        f"<link>https://a.example/p/{n}.html</link><guid>{guid.format(n=n)}</guid>"
        f"<pubDate>Mon, 0{n} Nov 2026 09:00:00 +0000</pubDate><description>Day {n}: notes on "
        "retrieval practice and spaced repetition for busy teams</description></item>"
        for n in range(1, 9)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>A</title>'
        f"<link>https://a.example/</link><description>d</description>{items}</channel></rss>"
    )


def feed_guids(path: Path) -> dict[str, str]:
    """title -> guid of each entry of an RSS feed."""
    text = path.read_text()
    entries = re.findall(r"<item>.*?</item>", text, re.S)
    return {
        re.search(r"<title>(.*?)</title>", e).group(1): re.search(r"<guid[^>]*>(.*?)</guid>", e)[1]
        for e in entries
    }


def test_a_blog_reissuing_its_guids_keeps_every_feed_guid(tmp_path, capsys):
    """The QA case: the same eight posts come back under new guids (a CMS migration). They
    join the old ones' stories, and the old items, seen first, stay the heads: no feed guid
    changes, so no reader shows a post as unread again (5 of 8 flipped by id order)."""
    (tmp_path / "feed.xml").write_text(reissued_feed("tag:a.example,2026:post-{n}"))
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n  - {name: a, type: rss, path: feed.xml}\n"
        "topics:\n  - {id: rp, title: RP, phrases: [retrieval practice], threshold: 0.3}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    assert main(["run", "-q", "-c", str(config)]) == 0
    feed = tmp_path / "out" / "feeds" / "rp.rss.xml"
    before = feed_guids(feed)
    assert len(before) == 8

    time.sleep(0.01)  # the new guids are seen later
    (tmp_path / "feed.xml").write_text(reissued_feed("https://a.example/p/{n}.html"))
    assert main(["run", "-q", "-c", str(config)]) == 0
    assert feed_guids(feed) == before
    with Store(tmp_path / "out" / "pln.duckdb", read_only=True) as store:
        _, rows = store.sql(
            """SELECT i.native_id LIKE 'tag:%', s.story_id = i.id
               FROM items i JOIN item_story s ON s.item_id = i.id"""
        )
    assert sorted(rows) == [(False, False)] * 8 + [(True, True)] * 8  # one story per post
    capsys.readouterr()


# -- 3. search finds emoji and symbols --------------------------------------------------------

EMOJI_TITLES = ["Retrieval practice \U0001f680 launch", "Retrieval practice plain", "Five \u2605"]


def test_the_search_page_finds_emoji_and_symbols(tmp_path):
    """ "🚀" found nothing (its term was dropped), and "🚀 retrieval" found every item with
    "retrieval"; "❤️" (with the emoji variation selector) finds "❤" written without it."""
    port = free_port()
    config = build_site(tmp_path, port)
    titles = [*EMOJI_TITLES, "Spaced \u2764 love"]
    items = [post(40 + n, NOW - timedelta(hours=1), title=t) for n, t in enumerate(titles)]
    with Store(config.outputs.duckdb) as s:
        s.write(items, [Decision(i.id, "spaced", 0.9, True, "matched") for i in items], [])
    with FeedServer(config, "127.0.0.1", port) as server:

        def says(words: str) -> str:
            page = get(server, "search?" + urlencode({"q": words}))[2].decode()
            return re.search(r"\d+ kept items? mentions? “[^”]*”", page).group(0)

        assert says("\U0001f680") == "1 kept item mentions “\U0001f680”"
        assert says("\U0001f680 retrieval") == "1 kept item mentions “\U0001f680 retrieval”"
        assert says("retrieval") == "2 kept items mention “retrieval”"
        assert says("\u2605") == "1 kept item mentions “\u2605”"
        assert says("(\U0001f680)!") == "1 kept item mentions “(\U0001f680)!”"
        assert says("\u2764\ufe0f") == "1 kept item mentions “\u2764\ufe0f”"
        assert says("\u2014") == "0 kept items mention “\u2014”"  # punctuation alone: ignored


# -- 4. a run kept out by a reader ------------------------------------------------------------

READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
sys.stdin.read()
"""


def test_a_writer_kept_out_by_a_reader_does_not_say_it_is_being_written(tmp_path):
    """A plain read-only client keeps a run out; the run's error said the file "is being
    written by" it and advised querying a copy. It says the reader holds the file open."""
    db = tmp_path / "pln.duckdb"
    Store(db).close()
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline() == "open\n"
        with pytest.raises(StoreBusy) as busy:
            Store(db, wait=0)
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert str(busy.value) == (
        f"database {db}: another process (PID {reader.pid}) holds the file open; "
        "try again when it closes it"
    )
    assert busy.value.exit_code == 75


# -- 5. keep_days: 0 keeps everything ---------------------------------------------------------


def test_keep_days_0_is_valid_and_pln_forget_says_it_keeps_everything(tmp_path, capsys):
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n  - {name: a, type: rss, path: feed.xml}\n"
        "topics:\n  - {id: rp, phrases: [retrieval practice]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds, keep_days: 0}\n"
    )
    assert load_config(config).outputs.keep_days == 0
    (tmp_path / "out").mkdir()
    with Store(tmp_path / "out/pln.duckdb"):
        pass
    assert main(["forget", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "outputs.keep_days is not set (or 0)" in err and "which keeps everything" in err


# -- 6. `pln sql` CSV and JSON ----------------------------------------------------------------

QUERY = (
    "SELECT ['plain', 'it''s', 'say \"hi\"'] AS l, {'w': 'caf\u00e9'} AS s, "
    "INTERVAL 3 DAY AS iv, INTERVAL '1 hour 30 minutes' AS iv2, INTERVAL '-5 minutes' AS neg, "
    "INTERVAL '0.25 seconds' AS frac, 'x'::BLOB AS b, 'caf\u00e9 \u0645\u0631\u062d\u0628\u0627 "
    "\U0001f680' AS t"
)


def sql(tmp_path: Path, fmt: str) -> str:
    db = tmp_path / "pln.duckdb"
    if not db.exists():
        Store(db).close()
    command = [sys.executable, "-m", "pln.cli", "sql", "--db", str(db), "--format", fmt, QUERY]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sql_csv_writes_lists_and_structs_as_json(tmp_path):
    out = sql(tmp_path, "csv")
    [header, row] = list(csv.reader(io.StringIO(out)))
    cells = dict(zip(header, row, strict=True))
    assert json.loads(cells["l"]) == ["plain", "it's", 'say "hi"']
    assert cells["l"] == '["plain", "it\'s", "say \\"hi\\""]'
    assert cells["s"] == '{"w": "caf\u00e9"}'
    assert (cells["iv"], cells["iv2"], cells["neg"], cells["frac"]) == (
        "P3D",
        "PT1H30M",
        "-PT5M",
        "PT0.25S",
    )
    assert base64.b64decode(cells["b"]) == b"x"


def test_sql_json_writes_intervals_blobs_and_text_as_they_are(tmp_path):
    out = sql(tmp_path, "json")
    assert "\\u" not in out  # caf\u00e9 was "caf\\u00e9"
    assert json.loads(out) == [
        {
            "l": ["plain", "it's", 'say "hi"'],
            "s": {"w": "caf\u00e9"},
            "iv": "P3D",
            "iv2": "PT1H30M",
            "neg": "-PT5M",
            "frac": "PT0.25S",
            "b": "eA==",
            "t": "caf\u00e9 \u0645\u0631\u062d\u0628\u0627 \U0001f680",
        }
    ]


# -- 7. the sanitizer keeps the direction and language of text, not absurd image sizes ---------

RTL = (
    '<p dir="rtl" lang="ar">\u0645\u0631\u062d\u0628\u0627 retrieval practice</p>'
    '<bdo dir="rtl">abc</bdo><p dir="RTL" lang="he-IL">\u05e9\u05dc\u05d5\u05dd</p>'
    '<span dir="sideways" lang="not a tag">x</span>'
    '<img src="https://f.example/a.png" width="99999" height="99999">'
    '<img src="https://f.example/b.png" width="640" height="50%">'
)
RTL_SANITIZED = (
    '<p dir="rtl" lang="ar">\u0645\u0631\u062d\u0628\u0627 retrieval practice</p>'
    '<bdo dir="rtl">abc</bdo><p dir="rtl" lang="he-IL">\u05e9\u05dc\u05d5\u05dd</p>'
    "<span>x</span>"
    '<img src="https://f.example/a.png">'
    '<img src="https://f.example/b.png" width="640">'
)


def test_the_sanitizer_keeps_dir_and_lang_and_drops_absurd_image_sizes():
    """Arabic and Hebrew paragraphs lost their direction in readers (dir and lang were
    stripped, <bdo> dropped), and a 99999x99999 image box passed."""
    assert sanitize_html(RTL) == RTL_SANITIZED
    item = post(60, NOW, html=RTL)  # as items are made (Item.create), before any feed
    assert item.html == RTL_SANITIZED
