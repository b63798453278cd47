"""The fast feed path: what it reads, when it leaves a feed to feedparser, hostile input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import billion_laughs, make_source

from pln.errors import SourceError
from pln.record import Item
from pln.sources.feed_parse import Refused, parse_fast
from pln.sources.rss import FeedSource, read_feed

FEEDS = Path(__file__).parent / "fixtures" / "feeds"


def source(base_dir: Path, path: str = "feed.xml", **options) -> FeedSource:
    return make_source("rss", base_dir, "blog", path=path, **options)


def fast_and_reference(data: bytes) -> tuple[Item, Item]:
    """The one item of a feed as the fast path reads it and as feedparser reads it; the fast
    path must have taken it."""
    assert read_feed(data, {}).fast
    blog = source(Path("."))
    (fast,) = blog.parse(data).items
    (ref,) = blog.parse(data, engine="feedparser").items
    return fast, ref


def rss(items: str, head: str = "") -> bytes:
    return (
        f"<?xml version='1.0' encoding='utf-8'?>{head}<rss version='2.0'><channel>"
        f"<title>L&amp;D</title><link>https://blog.example/</link>{items}</channel></rss>"
    ).encode()


# -- the fast path and the fallback, per feed -------------------------------------------------


def test_well_formed_feeds_take_the_fast_path_with_the_same_items():
    for name in ("rss2.xml", "rdf.xml", "atom.xml"):  # atom.xml has XHTML content
        data = (FEEDS / name).read_bytes()
        assert read_feed(data, {}).fast, name
        blog = source(FEEDS, name)
        fast = [
            (i.native_id, i.title, i.url, i.published_at, i.text, i.html)
            for i in blog.parse(data).items
        ]
        ref = blog.parse(data, engine="feedparser").items
        assert fast == [(i.native_id, i.title, i.url, i.published_at, i.text, i.html) for i in ref]


def test_fallback_is_per_feed(tmp_path):
    good = rss("<item><title>Spacing works</title><link>https://blog.example/1</link></item>")
    broken = good.replace(b"</channel>", b"")  # not well-formed: feedparser recovers it
    (tmp_path / "good.xml").write_bytes(good)
    (tmp_path / "broken.xml").write_bytes(broken)
    assert read_feed(good, {}).fast and not read_feed(broken, {}).fast
    for name in ("good.xml", "broken.xml"):
        (item,) = source(tmp_path, name).fetch(None).items
        assert (item.title, item.url) == ("Spacing works", "https://blog.example/1")


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (
            rss(
                "<item><title>a</title><media:title xmlns:media='http://search.yahoo.com/mrss/'>"
                "b</media:title></item>"
            ),
            "media:title is a title to feedparser",
        ),
        (rss("<item><title>a <b>bold</b></title></item>"), "markup inside a title"),
        (rss("<item><title>a</title><pubDate>someday</pubDate></item>"), "an unreadable date"),
        (rss("<item><title>&nbsp;a</title></item>"), "an HTML entity XML does not define"),
        (
            b"<feed xmlns='http://purl.org/atom/ns#' version='0.3'><title>a</title></feed>",
            "Atom 0.3",
        ),
    ],
    ids=["extension", "markup", "date", "entity", "atom03"],
)
def test_doubt_leaves_the_feed_to_feedparser(document, why):
    assert parse_fast(document) is None, why
    assert not read_feed(document, {}).fast


def test_fast_path_mirrors_feedparser_rules():
    document = (
        b"<feed xmlns='http://www.w3.org/2005/Atom' xml:lang='en-GB' "
        b"xml:base='https://ld.example/blog/'><title>Lab</title>"
        b"<author><name>Priya</name></author>"
        b"<entry><id>tag:ld.example,2026:1</id><title type='html'>A &amp;lt;b&amp;gt;</title>"
        b"<link rel='self' href='/api/1'/><link href='posts/1'/>"
        b"<updated>2026-11-20T10:00:00+01:00</updated>"
        b"<category term='Spaced Repetition'/>"
        b"<content type='html'>&lt;p&gt;See &lt;a href='more'&gt;more&lt;/a&gt;&lt;/p&gt;</content>"
        b"</entry></feed>"
    )
    fast, ref = fast_and_reference(document)
    assert fast.url == "https://ld.example/blog/posts/1"  # xml:base, the alternate link
    assert fast.published_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert (fast.author, fast.lang, fast.hashtags) == ("Priya", "en", ("spacedrepetition",))
    assert fast.links == ("https://ld.example/blog/more",)  # xml:base wins in the body
    for name in ("native_id", "title", "url", "published_at", "text", "author", "links", "lang"):
        assert getattr(fast, name) == getattr(ref, name), name


# -- hostile input on the fast path -----------------------------------------------------------


def test_hostile_documents_stay_within_a_memory_cap():
    """Each hostile document parsed in a child process capped at 1 GB of address space."""
    script = textwrap.dedent(
        """
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from pln.sources.feed_parse import Refused, parse_fast
        out = {}
        for name, data in json.loads(sys.stdin.read()).items():
            try:
                feed = parse_fast(data.encode())
                out[name] = None if feed is None else [e.get("summary", "")[:20] for e in feed.entries]
            except Refused as exc:
                out[name] = "refused"
        print(json.dumps(out))
        """
    )
    deep = "<div>" * 100_000 + "x" + "</div>" * 100_000
    documents = {
        "billion laughs": billion_laughs().decode(),
        "quadratic blowup": rss(
            "<item><title>a</title><description>" + "&a;" * 50_000 + "</description></item>",
            head=f'<!DOCTYPE rss [<!ENTITY a "{"x" * 50_000}">]>',
        ).decode(),
        "deep xml nest": "<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>t</title>"
        f"<content type='xhtml'>{deep}</content></entry></feed>",
        "deep escaped nest": rss(
            "<item><title>t</title><description>"
            + "&lt;div&gt;" * 100_000
            + "x"
            + "&lt;/div&gt;" * 100_000
            + "</description></item>"
        ).decode(),
        "12 MB text node": rss(
            "<item><title>t</title><description>" + "ab " * 4_000_000 + "</description></item>"
        ).decode(),
        "a million entity references": rss(
            "<item><title>t</title><description>" + "&amp;" * 1_000_000 + "</description></item>"
        ).decode(),
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(documents),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    out = json.loads(done.stdout)
    assert out["billion laughs"] == "refused"  # libxml2's amplification limit
    assert out["quadratic blowup"] in (None, "refused")  # an internal subset is never read
    assert out["deep xml nest"] == "refused"
    assert out["deep escaped nest"] == ["<div><div><div><div>"]  # text: read, linear
    assert out["12 MB text node"] == "refused"  # over libxml2's 10 MB text node limit
    assert out["a million entity references"] == ["&" * 20]


def test_deep_nest_is_refused_with_a_clear_error(tmp_path):
    deep = "<div>" * 100_000 + "x" + "</div>" * 100_000
    (tmp_path / "feed.xml").write_text(
        "<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>t</title><id>urn:a</id>"
        f"<content type='xhtml'>{deep}</content></entry></feed>"
    )
    with pytest.raises(SourceError, match="feed.xml: refused, elements nest deeper than 256"):
        source(tmp_path).fetch(None)
    with pytest.raises(Refused):
        parse_fast((tmp_path / "feed.xml").read_bytes())


def test_entity_bombs_never_expand_on_either_path(tmp_path):
    (tmp_path / "feed.xml").write_bytes(billion_laughs())
    result = source(tmp_path).fetch(None)
    assert all("lollol" not in item.title + item.text for item in result.items)


def test_external_entities_and_dtds_are_never_fetched(server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    server.route("/evil.dtd", body=b'<!ENTITY xxe "FROM-THE-NETWORK">')
    documents = [
        rss(
            "<item><title>a &xxe;</title><description>&xxe;</description></item>",
            head=f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>',
        ),
        rss(
            "<item><title>a &xxe;</title></item>",
            head=f'<!DOCTYPE rss SYSTEM "{server.url("/evil.dtd")}">',
        ),
        rss(
            "<item><title>a</title></item>",
            head=f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{server.url("/evil.dtd")}"> %p;]>',
        ),
    ]
    for document in documents:
        fast = parse_fast(document)
        assert fast is None or "TOPSECRET" not in repr(fast.entries)
        (tmp_path / "feed.xml").write_bytes(document)
        try:
            result = source(tmp_path).fetch(None)
        except SourceError:
            continue
        seen = repr(result.items) + repr(result.dead_letters)
        assert "TOPSECRET" not in seen and "FROM-THE-NETWORK" not in seen
    assert server.requests_log == []


WORDPRESS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:wfw="http://wellformedweb.org/CommentAPI/" xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:atom="http://www.w3.org/2005/Atom" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
  xmlns:slash="http://purl.org/rss/1.0/modules/slash/" xmlns:media="http://search.yahoo.com/mrss/">
<channel><title>Learning Loop</title>
<atom:link href="https://learningloop.example/feed/" rel="self" type="application/rss+xml" />
<link>https://learningloop.example</link><description>L&amp;D notes</description>
<lastBuildDate>Tue, 17 Nov 2026 09:30:00 +0000</lastBuildDate><language>en-US</language>
<sy:updatePeriod>hourly</sy:updatePeriod><generator>https://wordpress.org/?v=6.7</generator>
<image><url>https://learningloop.example/icon.png</url><title>Learning Loop</title>
<link>https://learningloop.example</link></image>
<item><title>Spacing &#8211; why it works</title>
<link>https://learningloop.example/2026/11/spacing/</link>
<comments>https://learningloop.example/2026/11/spacing/#respond</comments>
<dc:creator><![CDATA[Maya Okafor]]></dc:creator><pubDate>Tue, 17 Nov 2026 09:30:00 +0000</pubDate>
<category><![CDATA[Spaced Repetition]]></category><category><![CDATA[Compliance]]></category>
<guid isPermaLink="false">https://learningloop.example/?p=412</guid>
<description><![CDATA[Annual modules are forgotten. [&#8230;]]]></description>
<content:encoded><![CDATA[<p>Annual modules are <em>forgotten</em>. See <a href="/2025/03/curve/">the curve</a>.</p>]]></content:encoded>
<wfw:commentRss>https://learningloop.example/2026/11/spacing/feed/</wfw:commentRss>
<slash:comments>3</slash:comments>
<media:content url="https://learningloop.example/img.png" medium="image" />
</item></channel></rss>"""

BLOGGER = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns='http://www.w3.org/2005/Atom' xmlns:openSearch='http://a9.com/-/spec/opensearchrss/1.0/'
  xmlns:blogger='http://schemas.google.com/blogger/2008' xmlns:gd='http://schemas.google.com/g/2005'
  xmlns:thr='http://purl.org/syndication/thread/1.0'>
<id>tag:blogger.com,1999:blog-1</id><updated>2026-11-20T10:00:00.001-08:00</updated>
<title type='text'>Coaching Notes</title>
<link rel='alternate' type='text/html' href='https://coaching.example/'/>
<author><name>Sam</name><uri>https://www.blogger.com/profile/1</uri>
<email>noreply@blogger.com</email><gd:image rel='http://schemas.google.com/g/2005#thumbnail'
 width='16' height='16' src='https://img.example/b16.png'/></author>
<openSearch:totalResults>1</openSearch:totalResults>
<entry><id>tag:blogger.com,1999:blog-1.post-9</id>
<published>2026-11-20T08:00:00.001-08:00</published><updated>2026-11-20T09:00:00.001-08:00</updated>
<category scheme='http://www.blogger.com/atom/ns#' term='peer coaching'/>
<title type='text'>Peer coaching circles</title>
<content type='html'>&lt;p&gt;Four leads, one hour, &lt;b&gt;every&lt;/b&gt; week.&lt;/p&gt;</content>
<link rel='replies' type='text/html' href='https://coaching.example/2026/11/circles.html#comments' title='0 Comments'/>
<link rel='edit' type='application/atom+xml' href='https://www.blogger.com/feeds/1/posts/default/9'/>
<link rel='alternate' type='text/html' href='https://coaching.example/2026/11/circles.html' title='Peer coaching circles'/>
<author><name>Sam</name><uri>https://www.blogger.com/profile/1</uri><email>noreply@blogger.com</email>
<gd:image rel='http://schemas.google.com/g/2005#thumbnail' width='16' height='16' src='https://img.example/b16.png'/></author>
<thr:total>0</thr:total></entry></feed>"""


@pytest.mark.parametrize("document", [WORDPRESS, BLOGGER], ids=["wordpress", "blogger"])
def test_common_blog_platforms_take_the_fast_path(document):
    data = document.encode()
    fast, ref = fast_and_reference(data)
    for name in (
        "native_id",
        "title",
        "url",
        "published_at",
        "text",
        "html",
        "author",
        "hashtags",
        "lang",
        "links",
    ):
        assert getattr(fast, name) == getattr(ref, name), name
    assert fast.title in ("Spacing – why it works", "Peer coaching circles")


def test_items_inherit_the_channels_xml_base_and_lang():
    data = (
        b"<rss version='2.0'><channel xml:base='https://blog.example/sub/' xml:lang='de'>"
        b"<title>t</title><item><title>a</title><link>post/1</link>"
        b"<description>&lt;a href='x'&gt;mehr&lt;/a&gt;</description></item></channel></rss>"
    )
    fast, ref = fast_and_reference(data)
    assert (fast.url, fast.lang) == ("https://blog.example/sub/post/1", "de")
    assert (fast.url, fast.lang, fast.links) == (ref.url, ref.lang, ref.links)


def test_plain_absolute_links_resolve_as_urljoin_resolves_them():
    """The fast path skips urljoin for plain absolute URLs (most links and guids of a feed
    fetched over HTTP, which has a base); random URLs must come out the same."""
    import random
    from urllib.parse import urljoin

    from pln.clean import PLAIN_WEB_URL
    from pln.sources.feed_parse import _urljoin

    rng = random.Random(11)
    alphabet = "ab/.:?#;=&%@-_~!$'()*+,[] HTPS019"
    prefixes = ["http://", "https://", "HTTP://", "http:/", "https://a.example", "http://h:80"]
    bases = ["https://blog.example.org/x/", "http://a.example/", "ftp://x/", "https://h/?q#f"]
    shortcut = 0
    for _ in range(20_000):
        url = rng.choice(prefixes) + "".join(rng.choices(alphabet, k=rng.randint(0, 14)))
        shortcut += bool(PLAIN_WEB_URL.match(url)) and ":///" not in url
        for base in bases:
            try:
                expected = urljoin(base, url)
            except ValueError:
                expected = ""
            if ":///" not in url:  # _urljoin first folds "http:///x" as feedparser does
                assert _urljoin(base, url) == expected, (url, base)
    assert shortcut > 500  # the shortcut was really taken


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 01 Nov 2026 17:05:09 +0000", datetime(2026, 11, 1, 17, 5, 9, tzinfo=UTC)),
        ("1 Nov 2026 17:05:09 GMT", datetime(2026, 11, 1, 17, 5, 9, tzinfo=UTC)),
        ("Mon, 02 Mar 2026 08:00:00 -0830", datetime(2026, 3, 2, 16, 30, tzinfo=UTC)),
        ("2026-11-01T17:05:09.123+05:30", datetime(2026, 11, 1, 11, 35, 9, tzinfo=UTC)),
        ("30 Feb 2026 10:00:00 GMT", datetime(2026, 3, 2, 10, tzinfo=UTC)),  # as timegm sums
        ("31 Dec 2026 23:59:60 GMT", datetime(2027, 1, 1, tzinfo=UTC)),
        ("\u0660\u0661 Nov 2026 17:05:09 GMT", datetime(2026, 11, 1, 17, 5, 9, tzinfo=UTC)),
        ("31 Dec 9999 23:00:00 -0100", None),  # past datetime's range once at UTC
        ("01 Jan 0001 00:30:00 +0100", None),
    ],
)
def test_fast_dates_are_the_instants_feedparsers_struct_times_give(value, expected):
    """The fast path's dates (datetimes, read without a struct_time) are what sources/rss.py
    made of the struct_time: calendar.timegm's sum, made UTC."""
    import calendar
    import time

    from pln.sources.feed_parse import _date, _fast_seconds
    from pln.sources.rss import _utc

    parsed = _date(value)
    assert parsed  # out of range too: it stands in for the entry's other date
    assert _utc(parsed) == expected
    assert _utc(time.gmtime(_fast_seconds(value))) == expected  # the struct_time of before
    if expected is not None:
        assert calendar.timegm(expected.timetuple()) == _fast_seconds(value)
