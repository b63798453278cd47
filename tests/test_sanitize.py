"""The allow-list HTML sanitizer used for feed content (nh3, with pln/clean.py's allow-list)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from pln.clean import MAX_TITLE_CHARS, clean_url, plain_title
from pln.sinks.sanitize import safe_url, sanitize_html, text_to_html


def well_formed(fragment: str) -> ET.Element:
    """The fragment as XML (HTML void elements closed): every other tag is balanced."""
    xml = re.sub(r"<(br|hr|img)\b([^>]*?)/?>", r"<\1\2 />", fragment)
    assert sanitize_html(fragment) == fragment  # a fixed point: nothing left to remove
    return ET.fromstring(f"<div>{xml}</div>")


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p>Hi <script>alert(1)</script>there</p>", "<p>Hi there</p>"),
        ("<style>p{color:red}</style><p>x</p>", "<p>x</p>"),
        ("<iframe src='https://evil.example'><p>inside</p></iframe>after", "after"),
        ("<object><embed src=x></object>ok", "ok"),
        (
            '<img src="https://a.example/x.png" onerror="alert(1)" alt="x">',
            '<img src="https://a.example/x.png" alt="x">',
        ),
        ('<p onclick="steal()" style="position:fixed">text</p>', "<p>text</p>"),
        ('<a href="javascript:alert(1)">click</a>', "<a>click</a>"),
        ('<a href=" JaVaScRiPt:alert(1)">click</a>', "<a>click</a>"),
        ('<a href="java&#x09;script:alert(1)">click</a>', "<a>click</a>"),
        ('<a href="javascript&colon;alert(1)">click</a>', "<a>click</a>"),
        ('<img src="data:image/png;base64,AAAA">', ""),
        ('<a href="vbscript:msgbox(1)">x</a>', "<a>x</a>"),
        (
            '<a href="mailto:jane@example.org">mail</a>',
            '<a href="mailto:jane@example.org">mail</a>',
        ),
        ("<div><font color=red>kept text</font></div>", "<div>kept text</div>"),
        ("<p>unclosed <em>emphasis", "<p>unclosed <em>emphasis</em></p>"),
        ("<ul><li>one<li>two</ul>", "<ul><li>one</li><li>two</li></ul>"),
        ("<p>a</em>b</p>", "<p>ab</p>"),
        ("<!-- secret --><p>x</p>", "<p>x</p>"),
        ("5 &lt; 6 &amp; <b>7 > 6</b>", "5 &lt; 6 &amp; <b>7 &gt; 6</b>"),
        ("line<br>break", "line<br>break"),
        (
            '<a href="https://ex.example/p/95">">x</a>',
            '<a href="https://ex.example/p/95">"&gt;x</a>',
        ),
        (
            '<a href="https://ex.example/p/95&quot;&gt;">x</a>',
            '<a href="https://ex.example/p/95%22%3E">x</a>',
        ),
        ('<a href="https://ex.example/a b">x</a>', '<a href="https://ex.example/a%20b">x</a>'),
        ("<div>" * 65 + "deep" + "</div>" * 65, ""),  # deeper than MAX_HTML_DEPTH: dropped
        ("<div>" * 64 + "deep" + "</div>" * 64, "<div>" * 64 + "deep" + "</div>" * 64),
        ("bad\x00\x0bchars", "badchars"),
        (
            "<h2>Title</h2><pre><code>x = 1</code></pre>",
            "<h2>Title</h2><pre><code>x = 1</code></pre>",
        ),
        ("<svg><script>alert(1)</script><circle/></svg>shown", "shown"),
    ],
)
def test_sanitize(dirty, clean):
    out = sanitize_html(dirty)
    assert out == clean
    well_formed(out)


def test_relative_urls_resolve_against_the_item_url():
    out = sanitize_html(
        '<a href="/about">About</a><img src="pic.png" alt="">', "https://blog.example/posts/1"
    )
    assert (
        out
        == '<a href="https://blog.example/about">About</a><img src="https://blog.example/posts/pic.png" alt="">'
    )


def test_relative_urls_without_a_base_are_dropped():
    assert sanitize_html('<a href="/about">About</a>') == "<a>About</a>"


def test_attribute_values_are_escaped():
    out = sanitize_html('<a href="https://x.example/?a=1&b=&quot;2&quot;" title="a<b">x</a>')
    assert out == '<a href="https://x.example/?a=1&amp;b=%222%22" title="a&lt;b">x</a>'
    assert well_formed(out).find("a").get("href") == "https://x.example/?a=1&b=%222%22"


def test_safe_url():
    assert safe_url("https://example.org/a") == "https://example.org/a"
    assert safe_url("javascript:alert(1)") == ""
    assert safe_url("mailto:a@b.example", attr="src") == ""
    assert (
        safe_url("//cdn.example/x.png", "src", "https://blog.example/")
        == "https://cdn.example/x.png"
    )


def test_text_to_html_escapes_links_and_keeps_paragraphs():
    out = text_to_html(
        "Q1. Is <spacing> useful? See https://ex.example/a?b=1&c=2.\n\nA1. Yes\nreally"
    )
    assert out == (
        "<p>Q1. Is &lt;spacing&gt; useful? See "
        '<a href="https://ex.example/a?b=1&amp;c=2">https://ex.example/a?b=1&amp;c=2</a>.</p>'
        "<p>A1. Yes<br>really</p>"
    )
    well_formed(out)


@pytest.mark.corpora
def test_real_mastodon_statuses_sanitize_to_well_formed_html(corpora):
    folder = corpora / "mastodon" / "status-json"
    contents = []
    for path in sorted(folder.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8")).get("body")
        statuses = body if isinstance(body, list) else [body]
        contents += [s["content"] for s in statuses if isinstance(s, dict) and s.get("content")]
    if not contents:
        pytest.skip("no Mastodon statuses with content in the corpora")
    for content in contents:
        out = sanitize_html(content, "https://mastodon.example/")
        tree = well_formed(out)
        assert all(
            a.get("href", "https:").startswith(("https:", "http:", "mailto:"))
            for a in tree.iter("a")
        )


@pytest.mark.parametrize(
    ("title", "plain"),
    [
        # a title is plain text: nothing decoded or removed, a "<" that could open a tag
        # is written "‹" (with its ">" "›"), so a reader inserting titles as HTML shows words
        ("<script>alert(1)</script>Spaced", "‹script›alert(1)‹/script›Spaced"),
        ("Using std::vector<int> in C++", "Using std::vector‹int› in C++"),
        ("Map<String, List<T>> & <T extends X<T>>", "Map‹String, List‹T›› & ‹T extends X‹T››"),
        ("&lt;b&gt; AT&amp;T", "&lt;b&gt; AT&amp;T"),  # decoded by the source, not again
        ("x<y & 1 < 2, <3", "x‹y & 1 < 2, <3"),
        ("a <!-- b --> <?c?> </d", "a ‹!-- b --› ‹?c?› ‹/d"),
        ("  many \n\t spaces\x00 ", "many spaces"),
    ],
)
def test_plain_title(title, plain):
    assert plain_title(title) == plain


def test_long_titles_are_cut_at_a_word():
    title = plain_title("word " * 200)
    assert len(title) <= MAX_TITLE_CHARS and title.endswith("word…")


@pytest.mark.parametrize(
    ("url", "base", "clean"),
    [
        ('https://ex.example/p/95">', "", "https://ex.example/p/95%22%3E"),
        ("https://ex.example/a b?q=a b#x#y", "", "https://ex.example/a%20b?q=a%20b#x%23y"),
        ("https://ex.example/100%", "", "https://ex.example/100%25"),
        ("https://ex.example/%C3%A4", "", "https://ex.example/%C3%A4"),  # already encoded
        ("https://bücher.example/ä", "", "https://xn--bcher-kva.example/%C3%A4"),
        ("HTTPS://EX.example/A", "", "HTTPS://EX.example/A"),
        ("javascript:alert(1)", "", ""),
        ("data:text/html,x", "", ""),
        ("ftp://ex.example/f", "", ""),
        ("http://[::1", "", ""),
        ("/rel", "", ""),
        ("/rel", "https://ex.example/a/b?q#f", "https://ex.example/rel"),
        ("pic.png", "https://ex.example/a/b", "https://ex.example/a/pic.png"),
        ("../up", "https://ex.example/a/b", "https://ex.example/up"),
        ("https://ex.example/" + "a" * 5000, "", ""),
    ],
)
def test_clean_url(url, base, clean):
    assert clean_url(url, base) == clean


def test_plain_paragraphs_are_what_nh3_gives_back():
    """clean_html returns paragraphs of plain text as they are (`_plain_paragraphs`): for every
    code point it lets through, nh3 gives the same back, and it turns down what nh3 rewrites."""
    from pln.clean import _cleaner, _plain_paragraphs, xml_text

    rewritten = "&<>\r\xa0"
    kept = "".join(c for c in map(chr, range(0x110000)) if c not in rewritten and xml_text(c) == c)
    for fragment in (f"<p>{kept}</p>", f"<p>{kept}</p><p></p><p> {kept[:500]}\n</p>"):
        assert _plain_paragraphs(fragment)
        assert _cleaner().clean(fragment) == fragment
    for char in rewritten:
        assert not _plain_paragraphs(f"<p>a{char}b</p>")
    for other in ("<p>a<p>b</p></p>", "<p>a</p> <p>b</p>", "<p>a</p>b", "<b>a</b>", "<p>a<br></p>"):
        assert not _plain_paragraphs(other)


@pytest.mark.parametrize("text", ["", " ", "a  b", " a", "a ", "a\tb", "a\x1cb", "plain words"])
def test_collapsed_is_split_and_join(text):
    from pln.clean import collapsed

    for variant in (text, text + "é", text + "\u3000x", *(f"a{chr(c)}b" for c in range(128))):
        assert collapsed(variant) == " ".join(variant.split())


def test_xml_text_ascii_fast_path():
    from pln.clean import xml_text

    ascii_chars = "".join(map(chr, range(128)))
    assert xml_text(ascii_chars) == "\t\n\r" + ascii_chars[32:]
    assert xml_text("plain\ttext\n") == "plain\ttext\n"
    assert xml_text("caf\u00e9\x01\ufffe") == "caf\u00e9"


@pytest.mark.parametrize(
    "fragment",
    [
        "<p>plain words</p>",
        "<p>a</p><p>b</p>",
        "<\x01p>a<\x02/p>",  # plain paragraphs once xml_text has removed the controls
        "<p>a\x0bb</p>",
        "<p>a</p> <p>b</p>",
        "<p>a<b>b</b></p>",
        "<p>a > b</p>",
        "<p>x</p>" * 70,
        "<div>" * 70 + "deep" + "</div>" * 70,
        "<p>" + "x" * 200_001 + "</p>",
    ],
)
def test_clean_html_shortcut_is_what_nh3_gives(fragment, monkeypatch):
    """Plain paragraphs skip nh3 and the nesting check: the same HTML as through both."""
    from pln import clean

    shortcut = clean.clean_html(fragment)
    monkeypatch.setattr(clean, "_plain_paragraphs", lambda _fragment: False)
    assert shortcut == clean.clean_html(fragment)


def test_plain_name_is_its_steps():
    """`plain_name`'s one-scan ASCII path gives what its three steps give."""
    from pln.clean import _BIDI_CONTROLS, plain_name, xml_text

    def steps(text: str) -> str:
        return " ".join(_BIDI_CONTROLS.sub("", xml_text(text)).split())

    chars = [chr(c) for c in range(128)] + ["\u202e", "\u3000", "\ufffe", "é"]
    for char in chars:
        for text in (f"a{char}b", f"{char}a  b", f"a {char}", char * 3, f"Title {char}" * 30):
            assert plain_name(text) == steps(text), repr(text)


@pytest.mark.parametrize("text", ["a b", "a  b", " a b", "a b ", "a\tb", "ab"])
def test_collapsed_long_texts(text):
    from pln.clean import collapsed

    for long_text in (text + " x" * 100, "x " * 100 + text, "y" * 300 + text):
        assert collapsed(long_text) == " ".join(long_text.split())


def test_item_create_takes_every_field_with_its_default():
    """`Item.create` names Item's fields (but id) with their defaults, and its item is the
    one Item(...) makes of the cleaned values."""
    import inspect
    from dataclasses import MISSING, fields
    from datetime import UTC, datetime

    from pln.record import Item, make_item_id, stable_id

    params = inspect.signature(Item.create).parameters
    for f in fields(Item):
        if f.name != "id":
            assert params[f.name].default == (
                inspect.Parameter.empty if f.default is MISSING else f.default
            )
    now = datetime(2026, 1, 2, tzinfo=UTC)
    values = {
        "source": "s",
        "platform": "rss",
        "kind": "article",
        "native_id": "n",
        "author": "A",
        "title": "T",
        "text": "x",
        "html": "<p>h</p>",
        "url": "https://e.example/a",
        "canonical_url": "https://e.example/c",
        "links": ["https://e.example/l", "https://e.example/l"],
        "hashtags": ["#Tag"],
        "mentions": ["@Who"],
        "lang": "en",
        "published_at": now,
        "fetched_at": now,
        "thread_id": "t",
        "reply_to": "r",
        "participants": ["P", "P"],
        "entities": ["E:x"],
        "raw": "{}",
    }
    cleaned = values | {
        "links": ("https://e.example/l",),
        "hashtags": ("tag",),
        "mentions": ("who",),
        "participants": ("P",),
        "entities": ("E:x",),
    }
    assert Item.create(**values) == Item(id=make_item_id("rss", "n"), **cleaned)
    assert make_item_id("rss", "n") == stable_id("rss", "n")


def test_item_replaced_copies_every_field_but_the_changed_ones():
    from dataclasses import fields, replace

    from pln.record import Item

    item = Item.create(
        source="s", platform="rss", kind="article", native_id="n", title="T", text="x"
    )
    item = replace(item, **{f.name: f"v-{f.name}" for f in fields(Item)})  # each field its own
    copy = item.replaced(lang="en", title="New")
    assert copy == replace(item, lang="en", title="New")
    assert item.lang == "v-lang" and item.replaced() == item
    with pytest.raises(TypeError, match="Item has no field 'nope'"):
        item.replaced(nope=1)
