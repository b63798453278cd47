"""pln/text.py: the one HTML-to-text path, and the URL and hashtag patterns."""

from __future__ import annotations

import pytest

from pln.filters.quality import hashtags_in
from pln.record import Item
from pln.sinks.cards import item_text
from pln.sources.chat import HASHTAG_RE as CHAT_HASHTAG_RE
from pln.text import HASHTAG_RE, URL_RE, html_text


def test_blocks_separate_words_and_inline_tags_do_not():
    read = html_text("<p>Spaced</p><p>re<em>trie</em>val</p><ul><li>a</li><li>b</li></ul>c<br>d")
    assert read.text == "Spaced retrieval a b c d"


def test_entities_decode_once_as_html_unescape_does():
    read = html_text("<p>It&apos;s &hellip; &amp;amp; &ampfoo &#8217; &NotEqualTilde;</p>")
    assert read.text == "It's … &amp; &foo ’ ≂̸"


def test_hidden_elements_and_their_links_are_left_out():
    read = html_text(
        "<p>Keep <script>var x = '<a href=\"https://s.example\">'</script>this"
        '<noscript><a href="https://n.example/">n</a></noscript>'
        '<iframe src="https://v.example/">fallback</iframe><style>p{}</style></p>'
    )
    assert read.text == "Keep this"
    assert read.links == ()


def test_links_are_absolute_http_in_order_with_fragments_and_other_schemes_out():
    read = html_text(
        '<a href="#top">top</a> <a href="mailto:x@y.example">mail</a> '
        '<a href=" /faq?a=1&amp;b=2 ">faq</a> <a href="javascript:alert(1)">js</a> '
        '<map><area href="https://maps.example/a"></map> <a href="http://[::1">bad</a>',
        "https://blog.example/posts/1",
    )
    assert read.links == ("https://blog.example/faq?a=1&b=2", "https://maps.example/a")
    assert html_text('<a href="/rel">x</a>').links == ()  # no base, no relative links


def test_paragraph_mode_keeps_paragraphs_and_line_breaks():
    read = html_text("<p>one  two<br>three</p>\n<p>four</p>", paragraphs=True)
    assert read.text == "one two\nthree\n\nfour"


def test_mastodon_options_skip_quotes_and_tag_links():
    read = html_text(
        '<p class="quote-inline">RE: <a href="https://q.example/1">q</a></p>'
        '<p>See <a href="https://ex.org/a">x</a> <a href="https://m.example/tags/t" rel="tag">#t'
        '</a> <a class="u-url mention" href="https://m.example/@p">@p</a></p>',
        paragraphs=True,
        hidden_class="quote-inline",
        skip_tag_links=True,
    )
    assert read.text == "See x #t @p"
    assert read.links == ("https://ex.org/a",)


@pytest.mark.parametrize(
    "html", ["", "plain &amp; simple", "<!-- only a comment -->", "a\x00b\x0cc <b>d</b>"]
)
def test_odd_inputs_give_text_not_errors(html):
    expected = {"": "", "plain &amp; simple": "plain & simple", "<!-- only a comment -->": ""}
    assert html_text(html).text == expected.get(html, "ab c d")


def test_cards_read_the_text_of_an_item_stored_with_html_only():
    item = Item.create(
        source="s",
        platform="rss",
        kind="article",
        native_id="n",
        html="<p>Only</p><p>HTML<script>x</script></p>",
    )
    assert item_text(item) == "Only HTML"


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("Join #lrnchat and ＃edtech tonight", ["lrnchat", "edtech"]),
        ("#1 tip: #2024 was #year_2024", ["year_2024"]),  # numbers are not tags
        ("C# and issue#12 are not tags", []),
        ("AT&#38;T, &#8217; and page/#top are not tags", []),
        ("##python is an IRC channel, #python a tag", ["python"]),
        ("(#tag) #tag, #tag.", ["tag", "tag", "tag"]),
    ],
)
def test_one_hashtag_rule_for_chats_and_the_quality_filter(text, tags):
    assert HASHTAG_RE.findall(text) == tags
    assert CHAT_HASHTAG_RE is HASHTAG_RE
    assert list(hashtags_in(text.lower())) == [t.lower() for t in tags]


def test_url_pattern_finds_http_and_www_urls():
    text = "see https://a.example/x?y=1, WWW.b.example and http://c.example"
    assert URL_RE.findall(text) == [
        "https://a.example/x?y=1,",
        "WWW.b.example",
        "http://c.example",
    ]


@pytest.mark.parametrize("depth", [300, 3_000, 50_000])
def test_deeply_nested_html_keeps_its_text(depth):
    html = "<div>" * depth + "deep <b>te</b>xt<script>x()</script>" + "</div>" * depth + " after"
    assert html_text(html).text == "deep text after"


def test_a_huge_text_node_is_read_whole():
    read = html_text("<p>" + "word " * 2_500_000 + '</p><a href="https://e.example/">end</a>')
    assert read.text.endswith("word word end")
    assert read.links == ("https://e.example/",)


@pytest.mark.parametrize(
    "html", ["<p>a b</p>", "<p>a</p><p>b</p>c", "a<br>b<br>", "<p>x</p>\r\n<p>y</p>", "<p>a<p>b"]
)
def test_the_bare_paragraph_shortcut_reads_what_the_parser_reads(html):
    # upper-case tags take the parser's path; the text must not depend on the path
    parsed = html_text(html.replace("p>", "P>").replace("<br>", "<BR>"))
    assert html_text(html) == parsed


@pytest.mark.parametrize(
    "html",
    [
        "<p></p>",
        "<p> a  b\t</p>",
        "<p>a<b>b</b></p>",
        "<p>a</p><p>b</p>",
        "<p>a > b</p>",
        "<p>caf\u00e9 \u3000x</p>",
        "<p>a\x00b</p>",
        "<p>a\ud800b</p>",
        "<p>a &amp; b</p>",
        "<p>a</p>b<br>",
        "<p>" + "word  " * 40 + "</p>",
    ],
)
def test_paragraphs_text_reads_what_the_parser_reads(html, monkeypatch):
    """`_paragraphs_text` (the shortcut) gives what the parse does, or leaves html to it."""
    from pln import text

    shortcut = html_text(html)
    monkeypatch.setattr(text, "_paragraphs_text", lambda _html: None)
    assert shortcut == html_text(html)
