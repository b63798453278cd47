"""Feed QA findings, met as a user meets them (real files, real DuckDB, the real CLI, a real HTTP
server on 127.0.0.1): a feed cut off in transit, a bogus future date, digest grammar, NaN in
`pln sql --format json`, markup and bidi controls in names and titles, docs/sql.md's recipes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from feedsite import feed_config, post
from helpers import db_rows, make_source

from pln.cli import main
from pln.config import load_config
from pln.pipelines.batch import run_batch
from pln.record import Decision
from pln.sinks.feeds import render_feeds
from pln.sinks.store import Store

REPO = Path(__file__).resolve().parents[1]
ATOM = "{http://www.w3.org/2005/Atom}"
ENGINES = ("auto", "feedparser")


def pln(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """`pln ARGV` in a process of its own."""
    command = [sys.executable, "-m", "pln.cli", *argv]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=120)


def visible_text(html: str) -> str:
    """What a browser shows of `html`: its text, without tags or attribute values."""

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return " ".join(parser.parts)


def write_config(tmp_path: Path, source: str, **topic) -> Path:
    """A pln.yaml with one rss source (`source`: "url: …" or "path: …") and a topic that keeps
    every post of these tests."""
    topic = {"id": "practice", "phrases": ["spaced practice", "retrieval practice"], **topic}
    path = tmp_path / "pln.yaml"
    path.write_text(
        f"sources:\n  - {{name: blog, type: rss, {source}}}\n"
        f"topics:\n  - {json.dumps(topic)}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    return path


# -- A. a feed cut off in transit -------------------------------------------------------------

RSS_ENTRY = """    <item>
      <title>Spaced practice, part {n}</title>
      <link>https://blog.example/{n}</link>
      <guid>https://blog.example/{n}</guid>
      <pubDate>Tue, {day:02d} Nov 2026 09:30:00 +0000</pubDate>
      <description>{body}</description>
    </item>
"""
ATOM_ENTRY = """  <entry>
    <title>Spaced practice, part {n}</title>
    <link href="https://blog.example/{n}"/>
    <id>https://blog.example/{n}</id>
    <updated>2026-11-{day:02d}T09:30:00Z</updated>
    <content type="html">{body}</content>
  </entry>
"""


def body(n: int, cdata: bool) -> str:
    """Retrieval practice at days 2, 7 and 21, with non-ASCII words (a cut may split them)."""
    text = f"Part {n}: retrieval practice — quizzes at days 2, 7 and 21, «spaced» for good"
    return f"<![CDATA[<p>{text} &amp; more.</p>]]>" if cdata else f"{text} &amp;amp; more."


def rss(n: int = 8) -> bytes:
    items = "".join(
        RSS_ENTRY.format(n=i, day=i + 1, body=body(i, i % 2 == 1)) for i in range(1, n + 1)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0">\n  <channel>\n'
        "    <title>Blog</title>\n    <link>https://blog.example/</link>\n"
        f"{items}  </channel>\n</rss>\n"
    ).encode()


def atom(n: int = 8) -> bytes:
    entries = "".join(
        ATOM_ENTRY.format(n=i, day=i + 1, body=body(i, i % 2 == 1)) for i in range(1, n + 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
        "  <title>Blog</title>\n  <id>urn:blog</id>\n  <updated>2026-11-20T00:00:00Z</updated>\n"
        f"{entries}</feed>\n"
    ).encode()


def read(data: bytes, engine: str = "auto", tmp_path: Path = REPO):
    return make_source("rss", tmp_path, "blog", path="feed.xml").parse(data, engine=engine)


def fields(items) -> list[tuple]:
    return [(i.title, i.text, i.url, i.published_at) for i in items]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cut_after", ["<description>Part 8: retr", "<title>Spaced prac"])
def test_the_entry_a_document_ends_inside_is_left_out(engine, cut_after):
    """The QA case: the body stops inside the 8th entry's text (or title). Entries 1-7 are kept
    whole; the 8th is left out, and the feed's dead letter says so."""
    whole = rss()
    cut = whole[: whole.rindex(cut_after.encode()) + len(cut_after)]
    result = read(cut, engine)
    assert fields(result.items) == fields(read(whole).items)[:7]
    [dead] = result.dead_letters
    line, column = cut.count(b"\n") + 1, len(cut.rsplit(b"\n", 1)[1]) + 1
    assert (dead.ref, dead.reason) == (
        "feed.xml#feed",
        "ill-formed feed (recovered 7 entries; left out entry 8, which the document ends "
        f"inside): line {line}, column {column}: no element found",
    )
    assert '"title": "Spaced practice, part 8"' in dead.raw or "<title>" in cut_after


@pytest.mark.parametrize("make", [rss, atom], ids=["rss", "atom"])
def test_wherever_a_document_ends_only_finished_entries_are_kept(make):
    """A cut at every byte of the last two entries (inside tags, CDATA, a UTF-8 character):
    the items are exactly the entries that end before the cut, as the whole feed has them,
    with both parse paths."""
    whole = make()
    items = fields(read(whole).items)
    end_tag = b"</item>" if make is rss else b"</entry>"
    start = whole.index(b"part 7")
    for size in range(start, len(whole) + 1):
        finished = whole[:size].count(end_tag)
        results = [read(whole[:size], engine) for engine in ENGINES]
        assert fields(results[0].items) == items[:finished], size
        assert fields(results[1].items) == items[:finished], size
        assert [d.reason for d in results[0].dead_letters] == [
            d.reason for d in results[1].dead_letters
        ]


def test_a_cut_off_feed_keeps_the_text_stored_before(server, tmp_path):
    """`pln run` reads the whole feed, then the same feed cut off inside the 8th entry's text
    (a complete HTTP response: nothing tells it from a whole one): the stored text of the 8th
    stays, nothing is updated, and the dead letter says why."""
    whole = rss()
    cut = whole[: whole.index(b"<description>Part 8: retr") + 25]
    for data, repeat in ((whole, 1), (cut, None)):
        server.route("/feed.xml", body=data, headers={"Content-Type": "text/xml"}, repeat=repeat)
    config = write_config(tmp_path, f'url: "{server.url("/feed.xml")}"')
    assert main(["run", "-q", "-c", str(config)]) == 0
    db = tmp_path / "out" / "pln.duckdb"
    before = db_rows(db, "SELECT id, title, text, updated_at FROM items ORDER BY id")
    assert main(["run", "-q", "-c", str(config)]) == 0
    assert len(server.requests_log) == 2
    assert db_rows(db, "SELECT id, title, text, updated_at FROM items ORDER BY id") == before
    assert len(before) == 8 and all(text for _, _, text, _ in before)
    [(reason,)] = db_rows(db, "SELECT reason FROM dead_letters")
    assert reason.startswith("ill-formed feed (recovered 7 entries; left out entry 8, ")


# -- B. a bogus future date -------------------------------------------------------------------


def dated_feed(claims: dict[int, datetime]) -> bytes:
    items = "".join(
        f"<item><title>Spaced practice, part {n}</title><link>https://blog.example/{n}</link>"
        f"<pubDate>{format_datetime(at, usegmt=True)}</pubDate>"
        f"<description>Retrieval practice, part {n}.</description></item>"
        for n, at in claims.items()
    )
    return f'<rss version="2.0"><channel><title>Blog</title>{items}</channel></rss>'.encode()


def rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_future_date_shows_as_first_sight_and_no_feed_date_passes_the_clock(tmp_path):
    """Part 1 claims 2035, part 2 six hours ahead (a clock skew: its date is believed), part 3
    yesterday. Every feed dates part 1 when it was first seen, and the feeds' own dates are
    not later than the render; the index page shows no 2035."""
    now = datetime.now(UTC).replace(microsecond=0)
    claims = {
        1: datetime(2035, 1, 1, tzinfo=UTC),
        2: now + timedelta(hours=6),
        3: now - timedelta(days=1),
    }
    (tmp_path / "feed.xml").write_bytes(dated_feed(claims))
    started = datetime.now(UTC).replace(microsecond=0)
    assert main(["run", "-q", "-c", str(write_config(tmp_path, "path: feed.xml"))]) == 0
    ended = datetime.now(UTC)
    feeds = tmp_path / "out" / "feeds"

    def shown(at: datetime, n: int) -> None:
        if n == 1:
            assert started <= at <= ended, at
        else:
            assert at == claims[n], n

    channel = ET.parse(feeds / "practice.rss.xml").getroot().find("channel")
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) <= ended
    for item in channel.iter("item"):
        shown(parsedate_to_datetime(item.findtext("pubDate")), int(item.findtext("title")[-1]))
    feed = ET.parse(feeds / "practice.atom.xml").getroot()
    assert rfc3339(feed.findtext(f"{ATOM}updated")) <= ended
    for entry in feed.iter(f"{ATOM}entry"):
        n = int(entry.findtext(f"{ATOM}title")[-1])
        shown(rfc3339(entry.findtext(f"{ATOM}published")), n)
        shown(rfc3339(entry.findtext(f"{ATOM}updated")), n)
    for item in json.loads((feeds / "practice.json").read_text())["items"]:
        shown(rfc3339(item["date_published"]), int(item["title"][-1]))
        shown(rfc3339(item["date_modified"]), int(item["title"][-1]))
    # Only the page's text: its feedback links carry a Unix expiry whose digits may spell 2035.
    assert "2035" not in visible_text((feeds / "index.html").read_text())


# -- C. "The top 1 items" ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digest", "one", "two"),
    [
        (
            "weekly",
            "The top item of the week of 5 January 2026",
            "The top 2 items of the week of 12 January 2026",
        ),
        (
            "daily",
            "The top item of Monday 5 January 2026",
            "The top 2 items of Tuesday 13 January 2026",
        ),
    ],
)
def test_a_digest_of_one_item_says_the_top_item(tmp_path, digest, one, two):
    topic = {"id": "spaced", "title": "Spaced", "phrases": ["spaced practice"], "digest": digest}
    config = feed_config(tmp_path, [topic], "https://pln.example/feeds")
    posts = [
        post(1, datetime(2026, 1, 5, 9, tzinfo=UTC)),
        post(2, datetime(2026, 1, 13, 9, tzinfo=UTC)),
        post(3, datetime(2026, 1, 13, 10, tzinfo=UTC)),
    ]
    with Store(config.outputs.duckdb) as store:
        store.write(posts, [Decision(p.id, "spaced", 0.9, True, "matched it") for p in posts], [])
        render_feeds(store, config, now=datetime(2026, 1, 21, 12, tzinfo=UTC))
    text = (config.outputs.feeds_dir / "spaced.json").read_text()
    digests = [i for i in json.loads(text)["items"] if "digest" in i["_pln"]]
    assert [d["content_html"].split(":</p>")[0] for d in digests] == [f"<p>{two}", f"<p>{one}"]


# -- D. NaN in JSON ---------------------------------------------------------------------------


def test_sql_json_writes_null_for_nan_and_infinity(tmp_path):
    db = tmp_path / "pln.duckdb"
    Store(db).close()
    query = (
        "SELECT corr(x, x) AS c, 'inf'::DOUBLE AS i, ['-inf'::DOUBLE, 1.5] AS l, "
        "{'a': 'nan'::FLOAT} AS s, 2.5::DOUBLE AS f FROM (VALUES (1.0)) t(x)"
    )
    result = pln("sql", "--db", str(db), "--format", "json", query, cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")  # what JSON.parse does with NaN

    rows = json.loads(result.stdout, parse_constant=refuse)
    assert rows == [{"c": None, "i": None, "l": [None, 1.5], "s": {"a": None}, "f": 2.5}]


# -- E. author names and bidi controls --------------------------------------------------------

NAMES_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Blog{fault}</title>
<item><title>RTL \u202eevil\u202c widget, spaced practice</title><link>https://b.example/1</link>
  <dc:creator>Evil &lt;b&gt;Author&lt;/b&gt; &amp; Co</dc:creator>
  <description>Spaced practice.</description></item>
<item><title>\u2067Isolated\u2069 \u202aembedded\u202c \u200fmarked\u200e, spaced practice</title>
  <link>https://b.example/2</link><author>bob@example.com (Bob &amp;amp;
     Ann \u202eCo\u202c)</author><description>Spaced practice.</description></item>
<item><title>Plain, spaced practice</title><link>https://b.example/3</link>
  <dc:creator>Jane Doe &lt;jane@example.com&gt;</dc:creator>
  <description>Spaced practice.</description></item>
</channel></rss>"""
NAMES = {
    "RTL evil widget, spaced practice": "Evil Author & Co",
    "Isolated embedded \u200fmarked\u200e, spaced practice": "bob@example.com (Bob & Ann Co)",
    "Plain, spaced practice": "Jane Doe <jane@example.com>",
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fault", ["", "&nbsp;"], ids=["well-formed", "ill-formed"])
def test_author_names_are_plain_text_and_bidi_controls_go(engine, fault):
    """Markup is removed from names and entities decoded once, as in titles; bidi embeddings,
    overrides and isolates go from both (the marks U+200E and U+200F stay). Well-formed (the
    fast path) or not (feedparser), the same."""
    result = read(NAMES_FEED.format(fault=fault).encode(), engine)
    assert {i.title: i.author for i in result.items} == NAMES


def test_an_atom_name_is_text_with_tags_stripped():
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title><id>urn:b</id>'
        "<entry><title>Spaced practice</title><id>urn:b:1</id><updated>2026-11-20T00:00:00Z"
        "</updated><author><name>Evil &lt;b&gt;Author&lt;/b&gt; &amp;amp; \u202eCo</name>"
        "</author><content>Spaced practice.</content></entry></feed>"
    )
    [item] = read(feed.encode()).items
    assert item.author == "Evil Author &amp; Co"  # a text construct: "&amp;" is what it says


def test_a_cleaned_author_name_finds_its_items_and_feeds_carry_no_bidi(tmp_path):
    """Stored as plain text, the People page's link (a search for the name) finds the items;
    the RSS a feed reader shows has no bidi override."""
    (tmp_path / "feed.xml").write_text(NAMES_FEED.format(fault=""), encoding="utf-8")
    assert main(["run", "-q", "-c", str(write_config(tmp_path, "path: feed.xml"))]) == 0
    db = tmp_path / "out" / "pln.duckdb"
    assert dict(db_rows(db, "SELECT title, author FROM items")) == NAMES
    with Store(db, read_only=True) as store:
        found, total = store.reader.search("Evil Author & Co", limit=10)
    assert total == 1 and found[0].item.title == "RTL evil widget, spaced practice"
    rss_text = (tmp_path / "out" / "feeds" / "practice.rss.xml").read_text()
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", rss_text)
    assert "<dc:creator>Evil Author &amp; Co</dc:creator>" in rss_text


def test_feeds_and_pages_show_names_without_bidi_controls_whatever_the_source(tmp_path):
    """A name stored with bidi controls (another source, or before the fix) is shown without."""
    topic = {"id": "spaced", "title": "Spaced", "phrases": ["spaced practice"]}
    config = feed_config(tmp_path, [topic], "https://pln.example/feeds")
    shown = post(1, datetime(2026, 1, 5, 9, tzinfo=UTC), author="\u202eJane\u202c  Doe")
    with Store(config.outputs.duckdb) as store:
        store.write([shown], [Decision(shown.id, "spaced", 0.9, True, "matched it")], [])
        render_feeds(store, config)
    for name in ("spaced.rss.xml", "spaced.atom.xml", "spaced.json", "index.html"):
        text = (config.outputs.feeds_dir / name).read_text()
        assert "Jane Doe" in text and not re.search("[\u202a-\u202e\u2066-\u2069]", text), name


# -- F. docs/sql.md's recipes -----------------------------------------------------------------


def recipes() -> dict[str, str]:
    """docs/sql.md's "More recipes": the comment line of each, and its SQL."""
    text = (REPO / "docs" / "sql.md").read_text()
    block = text.split("More recipes:\n\n```sql\n", 1)[1].split("```", 1)[0]
    found = {}
    for chunk in block.strip().split("\n\n"):
        comments = [line for line in chunk.splitlines() if line.startswith("--")]
        sql = "\n".join(line for line in chunk.splitlines() if not line.startswith("--"))
        found[comments[0].removeprefix("-- ")] = sql.strip().rstrip(";")
    return found


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    """The bundled example, run once (`make demo`) in a folder of its own."""
    work = tmp_path_factory.mktemp("example")
    shutil.copytree(
        REPO / "examples", work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("out")
    )
    run_batch(load_config(work / "pln.yaml"))
    return work


def sql(example: Path, query: str, fmt: str = "json") -> list[dict]:
    result = pln("sql", "-c", "pln.yaml", "--format", fmt, query, cwd=example)
    assert result.returncode == 0, f"{query}\n{result.stderr}"
    return json.loads(result.stdout)


def test_every_recipe_runs_on_the_example_and_quotes_at(example):
    found = recipes()
    assert len(found) >= 5
    for title, query in found.items():
        sql(example, query)
        unquoted = re.findall(r'(?<!")\bat\b(?!")', query, re.IGNORECASE)
        assert not unquoted, f"{title}: quote the column at"
    labels = (REPO / "docs" / "sql.md").read_text().split("**`labels`**", 1)[1]
    assert '`"at"`' in labels.split("\n\n", 1)[0]


def digests_in_feeds(example: Path) -> dict[tuple[str, str], list[str]]:
    """(topic, first day of the week) -> the titles a weekly digest of the feeds lists."""
    config = load_config(example / "pln.yaml")
    found = {}
    for topic in config.topics:
        if topic.digest != "weekly":
            continue
        feed = json.loads((config.outputs.feeds_dir / f"{topic.id}.json").read_text())
        for item in feed["items"]:
            if "digest" in item["_pln"]:
                listing = ET.fromstring(f"<div>{item['content_html']}</div>").iter("li")
                week = (topic.id, item["_pln"]["period_start"][:10])
                found[week] = [words(listed_title(li)) for li in listing]
    return found


def listed_title(li: ET.Element) -> str:
    """The title of an item a digest lists: its link's text, or what comes before " by"."""
    link = li.find("a")
    return "".join(link.itertext()) if link is not None else (li.text or "").split(" by ")[0]


def words(text: str) -> str:
    """The first 40 characters of `text`, its whitespace collapsed."""
    return " ".join(text.split())[:40]


def test_the_digest_recipe_lists_what_the_digests_list(example):
    [query] = [q for title, q in recipes().items() if "weekly digest" in title]
    rows = sql(example, query)
    listed: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        listed.setdefault((row["topic"], row["week"]), []).append(words(row["item"]))
    digests = digests_in_feeds(example)
    assert len(digests) == 4  # the example's one topic with weekly digests: 4 finished weeks
    assert {key: titles for key, titles in listed.items() if key[0] == "retrieval-practice"} == (
        digests
    )
