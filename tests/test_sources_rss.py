"""FeedSource: files and URLs, item mapping, cursors, ill-formed and hostile feeds."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import helpers
import pytest
from helpers import billion_laughs, make_source

from pln.errors import ConfigError, SourceError
from pln.sources.rss import FeedSource, without_internal_subset

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def source(base_dir: Path = FEEDS, name: str = "blog", **options) -> FeedSource:
    return make_source("rss", base_dir, name, **options)


def by_title(result) -> dict:
    return helpers.by_title(result.items)


# -- mapping entries to items --------------------------------------------------------------------


def test_rss2_file_items():
    result = source(path="rss2.xml").fetch(None)
    assert not result.dead_letters and not result.not_modified
    items = by_title(result)
    assert len(items) == 3
    spaced = items["Spaced repetition for compliance training that people actually remember"]
    assert spaced.platform == "rss" and spaced.kind == "article" and spaced.source == "blog"
    assert spaced.native_id == "https://learningloop.example/?p=412"
    assert spaced.url == "https://learningloop.example/2026/11/spaced-repetition-compliance/"
    assert spaced.author == "Maya Okafor"
    assert spaced.lang == "en"
    assert spaced.published_at == datetime(2026, 11, 17, 9, 30, tzinfo=UTC)
    assert spaced.hashtags == ("spacedrepetition", "compliance")
    # full content wins over the excerpt; tags stripped, entities decoded, words kept whole
    assert spaced.text.startswith("Annual compliance modules are forgotten within weeks. We ")
    assert "showed 31 % fewer policy errors." in spaced.text and "<" not in spaced.text
    # relative URLs in the body are resolved against the post page
    assert spaced.links == (
        "https://learningloop.example/2025/03/forgetting-curve/",
        "https://doi.example/10.1000/spacing",
    )
    assert 'src="https://learningloop.example/img/spacing-schedule.png"' in spaced.html
    assert spaced.fetched_at is not None and spaced.fetched_at.tzinfo is UTC
    assert '"title": "Spaced repetition' in spaced.raw


def test_guid_that_is_not_a_url_is_prefixed_with_the_feed():
    onboarding = by_title(source(path="rss2.xml").fetch(None))[
        "Onboarding week one: fewer slides, more shadowing"
    ]
    assert onboarding.native_id == "rss2.xml#413"
    assert onboarding.text == (
        "New hires told us the first week felt like drinking from a fire hose. "
        "We cut the slide decks by half & paired everyone with a buddy."
    )


def test_same_short_guid_in_two_feeds_does_not_collide(tmp_path):
    feed = "<rss version='2.0'><channel><title>{0}</title><item><guid>1</guid><title>Post {0}</title></item></channel></rss>"
    (tmp_path / "a.xml").write_text(feed.format("a"))
    (tmp_path / "b.xml").write_text(feed.format("b"))
    (a,) = source(tmp_path, path="a.xml").fetch(None).items
    (b,) = source(tmp_path, path="b.xml").fetch(None).items
    assert a.id != b.id
    assert (a.native_id, b.native_id) == ("a.xml#1", "b.xml#1")


def test_entry_without_id_or_link_gets_a_stable_hashed_id(tmp_path):
    feed = "<rss version='2.0'><channel><title>x</title><item><title>Buddy systems</title><pubDate>Mon, 09 Nov 2026 08:15:00 GMT</pubDate></item></channel></rss>"
    (tmp_path / "f.xml").write_text(feed)
    first = source(tmp_path, path="f.xml").fetch(None).items[0]
    again = source(tmp_path, path="f.xml").fetch(None).items[0]
    assert first.native_id.startswith("f.xml#sha1:") and first.id == again.id
    assert first.url == ""


def test_atom_file_items():
    items = by_title(source(path="atom.xml").fetch(None))
    retrieval = items["Retrieval practice before the workshop"]  # type="html" title, tags stripped
    assert retrieval.native_id == "tag:ldlab.example,2026:post-77"
    assert retrieval.url == "https://ldlab.example/posts/retrieval-before-workshop"
    assert retrieval.author == "Priya Raman"  # from the feed
    assert retrieval.lang == "en"
    assert retrieval.published_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert retrieval.hashtags == ("retrievalpractice", "workshops")
    # xml:base wins for relative links in the body; script text is not article text
    assert retrieval.links[0] == "https://ldlab.example/posts/pre-questions-evidence"
    assert "track()" not in retrieval.text
    assert retrieval.text.endswith("See our evidence round-up and the 2023 paper.")
    transfer = items["Measuring transfer: what happens 30 days after training"]
    assert transfer.author == "Tom Becker"
    assert transfer.published_at == datetime(2026, 11, 13, 16, 45, tzinfo=UTC)  # updated only
    assert transfer.html.startswith("<p>Smile sheets") and "liked the course" in transfer.text


def test_rdf_file_in_latin1():
    items = by_title(source(path="rdf.xml").fetch(None))
    assert len(items) == 2
    item = items["Verteilte Wiederholung im Vertriebstraining"]
    assert item.text.endswith("Über Grüße und Maße.")
    assert item.author == "Jörg Müller" and item.lang == "de"
    assert item.native_id == "https://elearningnotes.example/notes/wiederholung"
    assert item.published_at == datetime(2026, 9, 28, 7, 0, tzinfo=UTC)


def test_ill_formed_feed_keeps_recovered_entries_and_says_why():
    result = source(path="broken.xml").fetch(None)
    assert sorted(by_title(result)) == [
        "Feedback conversations & the SBI model",
        "Peer coaching circles for first-time leads",
    ]
    reasons = {d.ref: d.reason for d in result.dead_letters}
    assert reasons["broken.xml#entry-3"] == "entry has no title and no text"
    assert reasons["broken.xml#feed"].startswith("ill-formed feed (recovered 3 entries): ")
    assert "mismatched tag" in reasons["broken.xml#feed"]  # the bare "&" before it is repaired


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ((FEEDS / "not-a-feed.html").read_bytes(), "it is an HTML page"),
        (b"", "the document is empty"),
        (bytes(range(256)) * 4, ""),
    ],
    ids=["html", "empty", "binary"],
)
def test_a_document_that_is_no_feed_is_a_source_error(tmp_path, content, why):
    (tmp_path / "page.xml").write_bytes(content)
    with pytest.raises(SourceError, match="not an RSS/Atom feed: page.xml") as info:
        source(tmp_path, path="page.xml").fetch(None)
    assert why in str(info.value) and "\n" not in str(info.value)


def test_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="file not found: .*gone.xml"):
        source(tmp_path, path="gone.xml").fetch(None)


# -- config --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give exactly one of url"),
        ({"url": "https://a.example/feed", "path": "f.xml"}, "give exactly one of url"),
        ({"url": "ftp://a.example/feed"}, "must be an http\\(s\\) URL"),
        ({"url": "https://a.example/feed", "timeout": "fast"}, "timeout: must be a number"),
        ({"url": "https://a.example/feed", "max_bytes": 0}, "max_bytes: must be at least 1"),
        ({"url": "https://a.example/feed", "interval_s": 5}, "interval_s: unknown key"),
    ],
)
def test_config_mistakes_name_the_key(options, message):
    with pytest.raises(ConfigError, match=message) as info:
        source(**options)
    assert str(info.value).startswith("pln.yaml: sources[0]")


def test_opml_style_entries_are_valid_config():
    feed = source(url="https://a.example/feed", title="A blog", category="Learning science")
    assert (feed.title, feed.category) == ("A blog", "Learning science")


# -- file cursor ---------------------------------------------------------------------------------


def test_unchanged_file_is_not_read_again(tmp_path):
    path = tmp_path / "feed.xml"
    shutil.copy(FEEDS / "rss2.xml", path)
    feed = source(tmp_path, path="feed.xml")
    first = feed.fetch(None)
    assert len(first.items) == 3
    assert set(first.cursor) == {"mtime_ns", "size", "sha256", "ids"}
    # Same size and mtime but garbage inside: proves the second fetch does not read or parse.
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = feed.fetch(first.cursor)
    assert second.not_modified and not second.items and second.cursor == first.cursor


def test_touched_file_with_same_content_is_not_modified(tmp_path):
    path = tmp_path / "feed.xml"
    shutil.copy(FEEDS / "rss2.xml", path)
    feed = source(tmp_path, path="feed.xml")
    first = feed.fetch(None)
    os.utime(path, ns=(0, first.cursor["mtime_ns"] + 5_000_000_000))
    second = feed.fetch(first.cursor)
    assert second.not_modified and not second.items
    assert second.cursor["mtime_ns"] != first.cursor["mtime_ns"]
    assert second.cursor["sha256"] == first.cursor["sha256"]


def test_changed_file_is_parsed_again(tmp_path):
    path = tmp_path / "feed.xml"
    shutil.copy(FEEDS / "rss2.xml", path)
    feed = source(tmp_path, path="feed.xml")
    first = feed.fetch(None)
    path.write_bytes(path.read_bytes().replace(b"Microlearning is not", b"Microlearning: not"))
    second = feed.fetch(first.cursor)
    assert not second.not_modified and "Microlearning: not just short videos" in by_title(second)


def test_file_over_max_bytes_is_refused(tmp_path):
    shutil.copy(FEEDS / "rss2.xml", tmp_path / "feed.xml")
    with pytest.raises(SourceError, match="larger than 1000 bytes"):
        source(tmp_path, path="feed.xml", max_bytes=1000).fetch(None)


# -- over HTTP -----------------------------------------------------------------------------------

RSS2 = (FEEDS / "rss2.xml").read_bytes()
ATOM = (FEEDS / "atom.xml").read_bytes()


def test_url_fetch_then_conditional_get_gets_304(server):
    validators = {"ETag": '"abc"', "Last-Modified": "Tue, 17 Nov 2026 09:30:00 GMT"}
    server.route(
        "/feed/", headers={"Content-Type": "application/rss+xml", **validators}, body=RSS2, repeat=1
    )
    server.route("/feed/", status=304, headers={"ETag": '"abc"'})
    feed = source(url=server.url("/feed/"), timeout=2)
    first = feed.fetch(None)
    assert len(first.items) == 3 and not first.dead_letters
    assert first.cursor["etag"] == '"abc"'
    assert first.cursor["last_modified"] == "Tue, 17 Nov 2026 09:30:00 GMT"
    second = feed.fetch(first.cursor)
    assert second.not_modified and not second.items
    assert second.cursor == first.cursor
    sent = server.requests_log[1].headers
    assert sent["if-none-match"] == '"abc"'
    assert sent["if-modified-since"] == "Tue, 17 Nov 2026 09:30:00 GMT"
    assert "if-none-match" not in server.requests_log[0].headers


def test_url_200_with_the_same_body_is_not_modified(server):
    server.route("/feed/", body=RSS2)  # a server without validators
    feed = source(url=server.url("/feed/"), timeout=2)
    first = feed.fetch(None)
    second = feed.fetch(first.cursor)
    assert len(first.items) == 3
    assert second.not_modified and not second.items
    assert second.cursor["sha256"] == first.cursor["sha256"]


def test_url_relative_links_resolve_against_the_post(server):
    server.route("/feed/", body=RSS2)
    items = by_title(source(url=server.url("/feed/"), timeout=2).fetch(None))
    spaced = items["Spaced repetition for compliance training that people actually remember"]
    assert spaced.links[0] == "https://learningloop.example/2025/03/forgetting-curve/"


def test_url_guid_prefix_is_the_feed_url(server):
    server.route("/feed/", body=RSS2)
    items = by_title(source(url=server.url("/feed/"), timeout=2).fetch(None))
    onboarding = items["Onboarding week one: fewer slides, more shadowing"]
    assert onboarding.native_id == server.url("/feed/") + "#413"


def test_permanent_redirect_is_put_in_the_cursor(server):
    server.route("/atom", status=301, headers={"Location": "/blog/atom.xml"})
    server.route("/blog/atom.xml", body=ATOM)
    result = source(url=server.url("/atom"), timeout=2).fetch(None)
    assert len(result.items) == 2
    assert result.cursor["permanent_url"] == server.url("/blog/atom.xml")


def test_rate_limit_carries_retry_after(server):
    server.route("/feed/", status=429, headers={"Retry-After": "300"})
    with pytest.raises(SourceError, match="HTTP 429") as info:
        source(url=server.url("/feed/"), timeout=2).fetch(None)
    assert info.value.retry_after == 300


def test_html_page_at_the_feed_url(server):
    server.route(
        "/feed/",
        headers={"Content-Type": "text/html"},
        body=(FEEDS / "not-a-feed.html").read_bytes(),
    )
    with pytest.raises(
        SourceError,
        match=r"not an RSS/Atom feed: http://127.0.0.1:\d+/feed/ \(it is an HTML page\)",
    ):
        source(url=server.url("/feed/"), timeout=2).fetch(None)


def test_slow_feed_times_out(server):
    server.route("/feed/", body=RSS2, delay=2)
    with pytest.raises(SourceError, match="timed out"):
        source(url=server.url("/feed/"), timeout=0.3).fetch(None)


# -- hostile XML ---------------------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\n", " "], ids=["multi-line", "one-line"])
def test_entity_expansion_bomb_does_not_expand(tmp_path, separator):
    (tmp_path / "bomb.xml").write_bytes(billion_laughs(separator))
    tracemalloc.start()
    result = source(tmp_path, path="bomb.xml").fetch(None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Expanded, the item would hold about 3 GB of "lol"; its time is in bench_http_deadlines.py.
    assert peak < 5_000_000
    assert all("lollol" not in item.text + item.title for item in result.items)


XXE = {
    "same line": ' <!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}">]>',
    "general entity": '<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{uri}">\n]>',
    "one-line": '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}">]>',
    "parameter entity": '<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{uri}">\n%p;\n]>',
    "external dtd": '<!DOCTYPE rss SYSTEM "{uri}">',
    "after a comment": '<!-- " --><!DOCTYPE rss [<!-- ] > \' --><!ENTITY xxe SYSTEM "{uri}">]>',
}


@pytest.mark.parametrize("doctype", XXE.values(), ids=XXE.keys())
def test_external_entities_are_never_read(tmp_path, doctype):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-passwd-line")
    document = (
        '<?xml version="1.0"?>' + doctype.format(uri=secret.as_uri()) + "\n"
        "<rss version='2.0'><channel><title>t</title><item><title>Spacing &xxe;</title>"
        "<link>https://a.example/1</link><description>a &xxe; b</description></item>"
        "</channel></rss>"
    )
    (tmp_path / "feed.xml").write_text(document)
    try:
        result = source(tmp_path, path="feed.xml").fetch(None)
    except SourceError:
        return  # refusing the document is fine too
    dumped = repr(result.items) + repr(result.dead_letters)
    assert "TOPSECRET" not in dumped


def test_internal_subset_is_removed_but_the_rest_is_kept():
    document = b'<?xml version="1.0"?>\n<!-- c --><!DOCTYPE rss [<!ENTITY a "x">]>\n<rss/>'
    assert without_internal_subset(document) == b'<?xml version="1.0"?>\n<!-- c -->\n<rss/>'
    netscape = b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "x.dtd"><rss/>'
    assert without_internal_subset(netscape) == netscape


def test_entry_html_links_resolve_against_the_entry_base(tmp_path):
    (tmp_path / "f.xml").write_text(
        "<rss version='2.0'><channel><title>B</title><link>https://blog.example/</link><item>"
        "<title>T</title><link>https://blog.example/posts/1</link><description>"
        "&lt;p&gt;See &lt;a href='#top'&gt;top&lt;/a&gt;, "
        "&lt;a href='mailto:x@y.example'&gt;mail&lt;/a&gt; or "
        "&lt;a href='/faq?a=1&amp;amp;b=2'&gt;the FAQ&lt;/a&gt; "
        "&lt;img src='pic.png'&gt;.&lt;/p&gt;</description></item></channel></rss>"
    )
    (item,) = source(tmp_path, path="f.xml").fetch(None).items
    assert item.links == ("https://blog.example/faq?a=1&b=2",)
    assert item.text == "See top, mail or the FAQ ."
    assert 'href="https://blog.example/faq?a=1&amp;b=2"' in item.html
    assert 'src="https://blog.example/posts/pic.png"' in item.html
    assert 'href="#top"' in item.html


# -- forms users have (issue 12) -----------------------------------------------------------------


def test_item_with_only_a_description_is_accepted(tmp_path):
    feed = (
        "<rss version='2.0'><channel><title>Notes</title><link>https://notes.example/</link>"
        "<item><description>Retrieval practice beats re-reading.</description></item>"
        "<item><description>Spacing beats cramming.</description>"
        "<pubDate>Mon, 09 Nov 2026 08:15:00 GMT</pubDate></item></channel></rss>"
    )
    (tmp_path / "f.xml").write_text(feed)
    result = source(tmp_path, path="f.xml").fetch(None)
    again = source(tmp_path, path="f.xml").fetch(None)
    assert not result.dead_letters
    assert [i.text for i in result.items] == [
        "Retrieval practice beats re-reading.",
        "Spacing beats cramming.",
    ]
    assert all(i.title == "" and i.native_id.startswith("f.xml#sha1:") for i in result.items)
    assert [i.id for i in result.items] == [i.id for i in again.items]  # stable across reads
    assert len({i.id for i in result.items}) == 2


def test_gzip_body_without_content_encoding_is_decompressed(server):
    server.route(
        "/feed/", headers={"Content-Type": "application/rss+xml"}, body=gzip.compress(RSS2)
    )
    result = source(url=server.url("/feed/"), timeout=2).fetch(None)
    assert len(result.items) == 3 and not result.dead_letters


def test_gzip_file_is_read_by_content(tmp_path):
    (tmp_path / "feed.xml.gz").write_bytes(gzip.compress(RSS2))
    assert len(source(tmp_path, path="feed.xml.gz").fetch(None).items) == 3


def test_gzip_that_expands_past_max_bytes_is_refused(server):
    bomb = gzip.compress(RSS2.replace(b"</channel>", b" " * 5_000_000 + b"</channel>"))
    assert len(bomb) < 100_000
    server.route("/feed/", body=bomb)
    with pytest.raises(SourceError, match="gzip-compressed body expands beyond 1000000 bytes"):
        source(url=server.url("/feed/"), timeout=2, max_bytes=1_000_000).fetch(None)


def test_corrupt_gzip_body_says_so(tmp_path):
    (tmp_path / "feed.xml").write_bytes(gzip.compress(RSS2)[:200] + b"garbage" * 10)
    with pytest.raises(SourceError, match="gzip-compressed body is corrupt") as info:
        source(tmp_path, path="feed.xml").fetch(None)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("&lt;script&gt;alert(1)&lt;/script&gt;Spacing &lt;b&gt;works&lt;/b&gt;", "Spacing works"),
        ("<![CDATA[<script>alert(1)</script>Spacing <em>works</em>]]>", "Spacing works"),
        ("AT&amp;amp;T training", "AT&T training"),
        ("Q&amp;A: 5 &lt; 7", "Q&A: 5 < 7"),
        # angle brackets that are words, not HTML, keep them ("<" written "‹": no tag opens)
        ("Using std::vector&lt;int&gt; in C++", "Using std::vector‹int› in C++"),
        ("<![CDATA[x &lt; y for all &lt;T&gt;]]>", "x < y for all ‹T›"),
    ],
    ids=["escaped-tags", "cdata-tags", "double-escaped-entity", "plain-lt", "code", "cdata-lt"],
)
@pytest.mark.parametrize("engine", ["auto", "feedparser"])
def test_rss_titles_are_plain_text(tmp_path, title, expected, engine):
    feed = (
        f"<rss version='2.0'><channel><title>t</title><item><title>{title}</title>"
        "<link>https://a.example/1</link></item></channel></rss>"
    ).encode()
    (item,) = source(tmp_path, path="f.xml").parse(feed, engine=engine).items
    assert item.title == expected


@pytest.mark.parametrize("engine", ["auto", "feedparser"])
def test_atom_html_title_with_escaped_brackets_keeps_its_words(tmp_path, engine):
    feed = (
        b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><id>urn:a</id>"
        b"<title type='html'>Why &amp;lt;div&amp;gt; soup hurts</title></entry>"
        b"<entry><id>urn:b</id><title type='text'>vector&lt;int&gt;</title></entry></feed>"
    )
    items = source(tmp_path, path="f.xml").parse(feed, engine=engine).items
    assert [i.title for i in items] == ["Why ‹div› soup hurts", "vector‹int›"]


@pytest.mark.parametrize("engine", ["auto", "feedparser"])
def test_atom_text_title_with_html_tags_is_stripped_and_not_decoded(tmp_path, engine):
    feed = (
        b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><id>urn:a</id>"
        b"<title type='text'>&lt;script&gt;x()&lt;/script&gt;Tom &amp;amp; Jerry</title>"
        b"</entry></feed>"
    )
    (item,) = source(tmp_path, path="f.xml").parse(feed, engine=engine).items
    # HTML elements in a text title are markup all the same: out; its text is not decoded
    assert item.title == "Tom &amp; Jerry"


def test_plain_url_shortcut_gives_what_urljoin_gives():
    """_web_url skips urljoin for plain absolute URLs; random URLs must come out the same."""
    from urllib.parse import urljoin, urlsplit

    from pln.clean import PLAIN_WEB_URL
    from pln.sources.rss import _web_url

    def by_urljoin(url: str, base: str) -> str:
        url = url.strip()
        absolute = urljoin(base, url) if base and url else url
        return absolute if urlsplit(absolute).scheme in ("http", "https") else ""

    rng = random.Random(7)
    alphabet = "ab/.:?#;=&%@-_~!$'()*+,[] \t\nHTPS019"
    prefixes = ["http://", "https://", "HTTP://", "http:/", "https://a.example", "http://h:80", ""]
    bases = ["", "https://blog.example.org/x/", "http://a.example/", "ftp://x/"]
    shortcut = 0
    for _ in range(20_000):
        url = rng.choice(prefixes) + "".join(rng.choices(alphabet, k=rng.randint(0, 14)))
        shortcut += bool(PLAIN_WEB_URL.match(url.strip()))
        for base in bases:
            try:
                expected = by_urljoin(url, base)
            except ValueError:
                expected = "ValueError"
            try:
                got = _web_url(url, base)
            except ValueError:
                got = "ValueError"
            assert got == expected, (url, base)
    assert shortcut > 500  # the shortcut was really taken


@pytest.mark.parametrize("engine", ["auto", "feedparser"])
def test_an_entry_with_the_id_of_an_earlier_one_is_kept_as_a_dead_letter(tmp_path, engine):
    def entry(title: str, guid: str, link: str) -> str:
        return (
            f"<item><title>{title}</title><guid isPermaLink='false'>{guid}</guid>"
            f"<link>{link}</link><description>{title} text</description></item>"
        )

    feed = (
        "<rss version='2.0'><channel><title>t</title>"
        + entry("First", "dup-1", "https://a.example/1")
        + entry("Second", "dup-1", "https://a.example/2")  # another post, the same guid
        + entry("First", "dup-1", "https://a.example/1")  # the first again, word for word
        + "</channel></rss>"
    ).encode()
    result = source(tmp_path, path="f.xml").parse(feed, engine=engine)
    assert [i.title for i in result.items] == ["First"]
    (dead,) = result.dead_letters  # the word-for-word repeat loses nothing: no dead letter
    assert dead.reason == "an earlier entry has the same id (f.xml#dup-1); the first is kept"
    assert json.loads(dead.raw)["title"] == "Second"
    assert json.loads(dead.raw)["url"] == "https://a.example/2"
