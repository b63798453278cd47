"""Feeds with faults the reader repairs: a bare "&" (R&D, L&D, AT&T), and entries that repeat
an earlier entry's id, whose dead letter must stay the same record from one fetch to the next."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import db_rows, make_source
from lxml import html as lxml_html

from pln.cli import main
from pln.sources.feed_repair import escape_bare_ampersands
from pln.sources.rss import FeedSource, read_feed

FIELDS = ("id", "native_id", "title", "url", "text", "html", "links", "published_at")


def source(tmp_path: Path) -> FeedSource:
    return make_source("rss", tmp_path, "blog", path="feed.xml")


def rss(items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>L&amp;D '
        f"notes</title><link>https://ld.example/</link>{items}</channel></rss>"
    ).encode()


def fields(result) -> list[tuple]:
    return [tuple(getattr(item, f) for f in FIELDS) for item in result.items]


# -- bare ampersands ---------------------------------------------------------------------------


def test_a_bare_ampersand_is_an_ampersand_not_an_entity():
    broken = rss(
        "<item><title>R&D budgets &amp; plans</title><guid>a1</guid>"
        "<description>Our R&D team &lt;b&gt;grew&lt;/b&gt; &copy; x</description></item>"
    )
    for engine in ("auto", "feedparser"):
        (entry,) = read_feed(broken, {}, engine).entries
        assert entry["title"] == "R&D budgets & plans", engine
        assert entry["summary"] == "Our R&D team <b>grew</b> © x", engine


def test_a_feed_whose_only_fault_is_bare_ampersands_reads_as_its_escaped_twin(tmp_path):
    """The fast path reads it, and every item is the one the correctly escaped feed gives."""
    # "{&}" is an ampersand its publisher forgot to escape; the twin has it escaped
    template = (
        "<item><title>Q{&}A: what L{&}D teams learnt from AT{&}T</title>"
        "<guid isPermaLink='false'>q{&}a-1</guid><link>https://ld.example/?p=1{&}lang=en</link>"
        "<description>&lt;p&gt;P{&}L owners &amp;amp; L{&}D &amp;copy 2024 &#169; &#xA9;"
        "&lt;a href='https://ld.example/?a=1&amp;amp;b=2'&gt;more&lt;/a&gt;&lt;/p&gt;"
        " {&} <![CDATA[ R&D &amp; CDATA ]]> <!-- A&B --></description>"
        "<pubDate>Tue, 01 Dec 2026 09:00:00 GMT</pubDate></item>"
        "<item><title>Five-minute lessons {&} spaced practice</title>"
        "<link>https://ld.example/?p=2&amp;x=y{&}z</link>"
        "<description>Plain text: R{&}D, S{&}P 500, a {&}{&} b, a &amp; b.</description></item>"
    )
    broken, twin = rss(template.replace("{&}", "&")), rss(template.replace("{&}", "&amp;"))

    parsed = read_feed(broken, {})
    assert parsed.fast and parsed.problem is None
    got = source(tmp_path).parse(broken)
    expected = source(tmp_path).parse(twin)
    assert not got.dead_letters and not expected.dead_letters
    assert (
        fields(got) == fields(expected) == fields(source(tmp_path).parse(twin, engine="feedparser"))
    )
    first, second = got.items
    assert first.title == "Q&A: what L&D teams learnt from AT&T"
    assert first.native_id == "feed.xml#q&a-1" and first.url == "https://ld.example/?p=1&lang=en"
    # the HTML's own "&amp;" is decoded once, as HTML; CDATA is left as written
    assert first.text == "P&L owners & L&D © 2024 © ©more & R&D & CDATA"
    assert second.url == "https://ld.example/?p=2&x=y&z"
    assert second.text == "Plain text: R&D, S&P 500, a && b, a & b."


def test_an_ampersand_in_cdata_stays_literal(tmp_path):
    atom = (
        "<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><id>urn:a:1</id>"
        "<title type='text'><![CDATA[R&D, Q&amp;A]]></title>"
        "<link href='https://ld.example/?a=1{&}b=2'/><summary>L{&}D</summary></entry></feed>"
    )
    broken, twin = atom.replace("{&}", "&").encode(), atom.replace("{&}", "&amp;").encode()
    assert read_feed(broken, {}).fast
    (item,) = source(tmp_path).parse(broken).items
    assert fields(source(tmp_path).parse(twin)) == [tuple(getattr(item, f) for f in FIELDS)]
    assert (item.title, item.url, item.text) == (
        "R&D, Q&amp;A",
        "https://ld.example/?a=1&b=2",
        "L&D",
    )


def test_an_ampersand_that_starts_a_reference_is_left_to_feedparser_as_before(tmp_path):
    """`&copy 2024` and `&#X41;` are not XML, but feedparser decodes them: they stay, and the
    feed goes to feedparser, which now also sees "R&D" escaped."""
    broken = rss(
        "<item><title>R&D &copy 2024</title><link>https://ld.example/?a=1&copy=2&lang=en</link>"
        "<description>AT&T &not; &notin; &#X41; &nbsp;x</description></item>"
    )
    parsed = read_feed(broken, {})
    assert not parsed.fast
    (item,) = source(tmp_path).parse(broken).items
    assert item.title == "R&D © 2024"
    assert item.url == "https://ld.example/?a=1&copy=2&lang=en"  # "=" follows: a query string
    assert item.text == "AT&T ¬ ∉ A x"


def test_escaping_keeps_references_literal_sections_and_other_encodings():
    cases = {
        b"<a>R&D</a>": b"<a>R&amp;D</a>",
        b"<a>&amp; &lt; &#38; &#x26; &#X26; &nbsp; &x; &copy 2 &copy- &copyx</a>": (
            b"<a>&amp; &lt; &#38; &#x26; &#X26; &nbsp; &x; &copy 2 &amp;copy- &amp;copyx</a>"
        ),
        b"<a>&amp;copy 2024 &#12 &#x; & &</a>": b"<a>&amp;copy 2024 &amp;#12 &amp;#x; &amp; &amp;</a>",
        b"<a><![CDATA[R&D]]>&<!-- R&D --><?pi R&D?></a>": (
            b"<a><![CDATA[R&D]]>&amp;<!-- R&D --><?pi R&D?></a>"
        ),
        b"<a>&<![CDATA[ R&D never closed": b"<a>&amp;<![CDATA[ R&D never closed",
        b"\xef\xbb\xbf<a href='?a=1&b=2'>\xc3\xa9&\xc3\xa9</a>": (
            b"\xef\xbb\xbf<a href='?a=1&amp;b=2'>\xc3\xa9&amp;\xc3\xa9</a>"
        ),
    }
    for before, after in cases.items():
        assert escape_bare_ampersands(before) == (
            after,
            after.count(b"&amp;") - before.count(b"&amp;"),
        )
    # where the byte "&" may not be an ampersand, nothing is touched
    for text in ("<a>R&D</a>", "<?xml version='1.0'?><a>R&D</a>"):
        for encoding in ("utf-16", "utf-16-le", "utf-32", "cp500"):
            assert escape_bare_ampersands(text.encode(encoding)) == (text.encode(encoding), 0)
    jis = "<?xml version='1.0' encoding='iso-2022-jp'?><a>R&D 研修</a>".encode("iso-2022-jp")
    assert escape_bare_ampersands(jis) == (jis, 0)


@pytest.mark.parametrize("unit", ["&", "&a", "&not ", "&#1", "<!---->&"])
def test_megabytes_of_ampersands_are_read_in_linear_time(tmp_path, unit):
    body = "R&D " + unit * (2_000_000 // len(unit))
    data = rss(f"<item><title>R&D</title><guid>h</guid><description>{body}</description></item>")
    start = time.process_time()
    result = source(tmp_path).parse(data)
    elapsed = time.process_time() - start
    assert [i.title for i in result.items] == ["R&D"]
    assert escape_bare_ampersands(data)[1] >= 2
    assert elapsed < 60  # 1-2 s here; a scan that is quadratic in 2 MB takes hours


# -- entries that repeat an id -----------------------------------------------------------------


def entry(title: str, guid: str) -> str:
    return (
        f"<item><title>{title}</title><guid isPermaLink='false'>{guid}</guid>"
        f"<link>https://ld.example/{title.lower().replace(' ', '-')}</link>"
        f"<description>{title}: notes from the L&amp;D team.</description></item>"
    )


def test_the_dead_letter_of_a_repeated_id_is_the_same_record_when_posts_arrive(tmp_path):
    """Two runs of `pln run`, the second with three new posts on top: one dead letter."""
    feed = tmp_path / "feed.xml"
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n  - {name: blog, type: rss, path: feed.xml}\n"
        "topics:\n  - {id: practice, phrases: [spaced practice]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    older = entry("Spaced practice", "p-1") + entry("Onboarding week", "p-2")
    older += entry("Retrieval practice", "p-2")  # another post that reuses the guid p-2
    feed.write_bytes(rss(older))
    assert main(["run", "-q", "-c", str(config)]) == 0
    newer = entry("Microlearning", "p-5") + entry("Coaching", "p-4") + entry("Feedback", "p-3")
    feed.write_bytes(rss(newer + older))
    assert main(["run", "-q", "-c", str(config)]) == 0

    db = tmp_path / "out" / "pln.duckdb"
    assert db_rows(db, "SELECT count(*) FROM items") == [(5,)]
    dead = db_rows(db, "SELECT ref, reason, raw FROM dead_letters")
    assert len(dead) == 1
    ref, reason, raw = dead[0]
    assert ref.startswith("feed.xml#p-2#repeat-")
    assert reason == "an earlier entry has the same id (feed.xml#p-2); the first is kept"
    assert '"title": "Retrieval practice"' in raw and '"position": 6' in raw


def test_a_repeated_id_with_other_content_is_another_dead_letter(tmp_path):
    first = entry("Onboarding week", "p-2") + entry("Retrieval practice", "p-2")
    edited = entry("Onboarding week", "p-2") + entry("Retrieval practice, revised", "p-2")
    twice = first + entry("Retrieval practice", "p-2")  # the same repeat, word for word
    dead = [source(tmp_path).parse(rss(f)).dead_letters for f in (first, edited, twice)]
    assert [len(d) for d in dead] == [1, 1, 1]
    assert dead[0][0].id != dead[1][0].id and dead[0][0].id == dead[2][0].id


# -- "&" in query strings, ids and links; where a fault left after the repair is ---------------

FIXTURES = Path(__file__).parent / "fixtures" / "feeds_repair"
QUERY = "https://q.example.com/r?lang=en&region=us&currency=USD&section=2&notify=1&parameter=x"


def run_pln(tmp_path: Path, feed: str, data: bytes) -> Path:
    """`pln run` on one rss source reading `data` as `feed`; the store's path."""
    (tmp_path / feed).write_bytes(data)
    config = tmp_path / "pln.yaml"
    config.write_text(
        f"sources:\n  - {{name: blog, type: rss, path: {feed}}}\n"
        "topics:\n  - {id: practice, phrases: [retrieval practice, spaced practice]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    assert main(["run", "-q", "-c", str(config)]) == 0
    return tmp_path / "out" / "pln.duckdb"


def test_a_query_string_in_an_entry_stays_a_query_string(tmp_path):
    """ "&region", "&para", "&not" in "?lang=en&region=us" are not "®ion", "¶meter",
    "¬ify" (HTML5 keeps them in an attribute, and so does pln in text), in the text stored and
    in the HTML published; "&copy 2024", "&reg;" and "&notin;" still decode."""
    db = run_pln(tmp_path, "feed.xml", (FIXTURES / "query_strings.xml").read_bytes())
    stored = dict(db_rows(db, "SELECT native_id, text FROM items"))
    decoded = "© 2024 ® ∉"
    assert stored == {
        "feed.xml#q-1": f"Report: {QUERY} {decoded}",
        "feed.xml#q-2": f"Report: {QUERY} {decoded}",
        "feed.xml#q-3": f"Report: {QUERY} {decoded}",
    }
    published = json.loads((tmp_path / "out" / "feeds" / "practice.json").read_text())
    shown = {}
    for entry in published["items"]:
        root = lxml_html.fragment_fromstring(entry["content_html"], create_parent="div")
        shown[entry["title"].split(":")[0]] = " ".join(root.text_content().split())
    assert set(shown) == {"Plain text", "Escaped HTML", "CDATA HTML"}
    for text in shown.values():  # what a feed reader shows
        assert f"Report: {QUERY}" in text and decoded in text, text
    links = db_rows(db, "SELECT links FROM items WHERE native_id = 'feed.xml#q-3'")
    assert links == [(["https://q.example.com/r?lang=en&region=us&section=2"],)]


AMP_FIELDS = FIELDS + ("author", "hashtags")
# An undefined entity in the feed's own title: no entry changes, but the feed is no longer
# well-formed, so feedparser reads it.
FAULT = (b"</title>", b"&nbsp;</title>", 1)


@pytest.mark.parametrize("name", ["ampersand_ids.xml", "ampersand_ids.atom"])
def test_ids_and_links_with_ampersands_are_the_same_whichever_parser_reads_them(tmp_path, name):
    well_formed = (FIXTURES / name).read_bytes()
    faulty = well_formed.replace(*FAULT)
    assert read_feed(well_formed, {}).fast and not read_feed(faulty, {}).fast
    fast, fallback = source(tmp_path).parse(well_formed), source(tmp_path).parse(faulty)
    assert [d.reason.split(":")[0] for d in fallback.dead_letters] == [
        f"ill-formed feed (recovered {len(fast.items)} {'entries' if len(fast.items) > 1 else 'entry'})"
    ]
    read = [[tuple(getattr(i, f) for f in AMP_FIELDS) for i in r.items] for r in (fast, fallback)]
    assert read[0] == read[1]
    by_title = {i.title: i for i in fallback.items}
    if name.endswith(".atom"):
        (item,) = fallback.items
        assert item.native_id == "https://g.example.com/e?id=1&lang=en&k=<1>"
        assert item.url == "https://g.example.com/e?id=1&lang=en&copy=1"
        assert item.author == "N & M (n&m@g.example.com)" and item.hashtags == ("l&d",)
        return
    assert [(i.native_id, i.url) for i in fallback.items] == [
        ("https://g.example.com/p?id=1&lang=en&b=2", "https://g.example.com/p?id=1&lang=en&b=2"),
        (
            'tag:g.example.com,2026:post?id=2&kind=<note>&q="a"',
            "https://g.example.com/p?id=2&lang=en&copy=1",
        ),
        # CDATA is literal: this id says "&amp;" (and its link is relative to the blog)
        ("https://g.example.com/p?id=4&amp;lang=en", "https://g.example.com/p?id=4&lang=en"),
        ("feed.xml#g-5", "https://g.example.com/blog/?lang=en&b=2#latest"),
    ]
    second = by_title["A guid that is not the link: spaced practice"]
    assert second.author == "AT&T Learning" and second.hashtags == ("l&d",)


def test_a_feed_that_gains_an_unrelated_fault_stores_no_entry_again(tmp_path):
    """`pln run` on the well-formed feed, then on the same feed with a fault elsewhere: the
    same items (ids), no new ones."""
    well_formed = (FIXTURES / "ampersand_ids.xml").read_bytes()
    db = run_pln(tmp_path, "feed.xml", well_formed)
    query = "SELECT id, native_id, url, title FROM items ORDER BY id"
    before = db_rows(db, query)
    assert len(before) == 4
    run_pln(tmp_path, "feed.xml", well_formed.replace(*FAULT))
    assert db_rows(db, query) == before
    assert db_rows(db, "SELECT ref FROM dead_letters") == [("feed.xml#feed",)]


@pytest.mark.parametrize("declaration", [True, False])
def test_the_fault_left_after_the_repair_is_named_where_it_is_in_the_file(tmp_path, declaration):
    """A line with bare "&" (escaped by the repair, 4 characters more each) and then an
    `&nbsp;`: the dead letter gives the line and column of `&nbsp;` in the user's file (also
    when the file has no XML declaration, which feedparser adds as a line of its own)."""
    data = (FIXTURES / "fault_after_bare_amp.xml").read_bytes()
    if not declaration:
        data = data.split(b"\n", 1)[1]
    line_no, line = next((n, t) for n, t in enumerate(data.split(b"\n"), 1) if b"&nbsp;" in t)
    assert line.index(b"&nbsp;") > line.index(b"R&D") > 0  # bare "&" before it on its line
    column = len(line[: line.index(b"&nbsp;")].decode()) + 1
    result = source(tmp_path).parse(data)
    assert [i.title for i in result.items] == [
        "Q&A: what L&D teams learnt from AT&T's R&D, retrieval practice and S&P reports"
    ]
    (dead,) = result.dead_letters
    assert dead.reason == (
        f"ill-formed feed (recovered 1 entry): line {line_no}, column {column}: "
        "undefined entity &nbsp;"
    )
