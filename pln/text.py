"""Plain text out of HTML, and the patterns every family uses to find URLs and hashtags in text.

`html_text` is the one HTML-to-text path: feed entries (sources/rss.py), Mastodon posts
(sources/html_text.py) and item cards (sinks/cards.py) all read HTML through it. It parses with
lxml's HTML parser (libxml2 2.14, whose tokenizer follows HTML5, so entities decode as
`html.unescape` does, except that a legacy name without ";" that a letter, digit or "=" follows
stays as written, as HTML5 leaves it in an attribute: "?lang=en&region=us" is a query string;
`pln.clean.literal_ampersands`), drops what a reader never sees (script, style, template,
noscript, iframe; optionally elements of a given class), and returns the text with words kept
apart at block boundaries, and the http(s) links of `<a>`/`<area>`, made absolute against a
base.
It does not sanitize: the HTML an item keeps goes through nh3 in `Item.create` (pln/clean.py).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from html import unescape

from lxml import etree

from pln.clean import clean_url, collapsed, literal_ampersands

# An http(s) or www. URL up to the next space (for removing URLs from text before comparing it).
URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# A hashtag: '#' (or the full-width '＃') then a word with at least one letter or '_'. Not one
# when inside a word ("C#", "issue#12"), after '&' (entities: "AT&#38;T"), after another '#'
# (IRC channels: "##python") or after '/' (URL fragments: "page/#top"); "#1" and "#2024" are
# numbers. Group 1 is the tag without '#'.
HASHTAG_RE = re.compile(r"(?<![\w&#＃/])[#＃](\w*[^\W\d]\w*)")

# Dropped with their content: a reader never sees them as text.
HIDDEN_TAGS = ("script", "style", "template", "noscript", "iframe")
# Elements that separate words: "<p>a</p><p>b</p>" reads "a b", while "<em>wee</em>ks" stays
# one word. In paragraph mode BLOCKS become blank lines and <br> a line break.
BLOCKS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    ]
)
WORD_BREAKS = frozenset({"br", "img", "td", "th"}) | BLOCKS
LINK_TAGS = frozenset({"a", "area"})
# What goes before an element's content and after its end, in each mode.
_WORD_BREAKS = dict.fromkeys(WORD_BREAKS, (" ", " "))
_PARAGRAPH_BREAKS = _WORD_BREAKS | dict.fromkeys(BLOCKS, ("\n\n", "\n\n")) | {"br": ("", "\n")}
_PARAGRAPH_TAG = re.compile(r"</?p>|<br>")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DEPTH = 2_048  # libxml2's nesting limit with huge_tree
_HIDDEN_ELEMENT = re.compile(
    r"<(" + "|".join(HIDDEN_TAGS) + r")\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_ANY_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)[^>]*>|<![^>]*>|<\?[^>]*>")


@dataclass(frozen=True)
class HtmlText:
    text: str  # entities decoded; whitespace collapsed (or paragraphs kept, see html_text)
    links: tuple[str, ...]  # hrefs of <a>/<area> as clean_url makes them (absolute http(s))


def html_text(
    html: str,
    base: str = "",
    *,
    paragraphs: bool = False,
    hidden_class: str = "",
    skip_tag_links: bool = False,
) -> HtmlText:
    """The text of an HTML fragment and the links it carries, from one parse.

    `base` makes relative hrefs absolute (without it they are left out). `paragraphs` keeps
    paragraphs apart by a blank line and <br> as a line break (else all whitespace collapses to
    single spaces). Elements whose class includes `hidden_class` are left out with their links.
    `skip_tag_links` leaves out hashtag and mention links (rel="tag", class mention/hashtag).
    """
    if "&" in html:  # "?lang=en&region=us" is a query string, not "?lang=en®ion=us"
        html = literal_ampersands(html)
    if "<" not in html:  # many summaries are plain text sent as HTML
        return HtmlText(_tidy(unescape(html), paragraphs), ())
    if not paragraphs and (text := _paragraphs_text(html)) is not None:  # "<p>text</p>"
        return HtmlText(text, ())
    root = _parse(html)
    if root is None:
        return HtmlText(_without_tags(html, paragraphs), ())
    # A walk of the tree in C, cheaper than a case-blind search of html for the tags first.
    etree.strip_elements(root, *HIDDEN_TAGS, with_tail=False)
    if hidden_class and hidden_class in html:
        for el in root.xpath(f'//*[contains(concat(" ", @class, " "), " {hidden_class} ")]'):
            _remove_keeping_tail(el)
    parts: list[str] = []
    links: list[str] = []
    add = parts.append
    breaks = _PARAGRAPH_BREAKS if paragraphs else _WORD_BREAKS
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag
        if event == "start":
            if tag in breaks:
                add(breaks[tag][0])
            elif tag in LINK_TAGS:
                href = el.get("href")
                if href and not (skip_tag_links and _is_tag_link(el)):
                    link = _link(href, base)
                    if link:
                        links.append(link)
            text = el.text
            if text:
                add(text)
        else:
            if tag in breaks:
                add(breaks[tag][1])
            tail = el.tail
            if tail:
                add(tail)
    return HtmlText(_tidy("".join(parts), paragraphs), tuple(links))


class _Parsers(threading.local):
    """One lxml HTML parser per thread (a parser must not serve two threads at once)."""

    def __init__(self) -> None:
        self.html = etree.HTMLParser(
            encoding="utf-8",
            remove_comments=True,
            remove_pis=True,
            no_network=True,
            default_doctype=False,
            huge_tree=True,  # text nodes past 10 MB, nesting to 2,048 (HTML has no entity bombs)
        )


_PARSERS = _Parsers()


def _parse(html: str) -> etree._Element | None:
    """The parsed fragment, or None when there is nothing to read or libxml2 gave up."""
    # libxml2 would turn NUL into U+FFFD and stop at a lone surrogate; neither may reach a
    # feed (pln/clean.py drops them), so they go here and the words around them stay whole.
    data = html.encode("utf-8", "ignore")  # "ignore": lone surrogates
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    parser = _PARSERS.html
    try:
        root = etree.fromstring(data, parser)
    except (ValueError, etree.ParserError):  # "Document is empty": only comments, say
        return None
    if len(data) > _MAX_DEPTH and data.count(b"<") > _MAX_DEPTH and _fatal(parser):
        return None  # nested past libxml2's limit: a hostile document
    return root


def _paragraphs_text(html: str) -> str | None:
    """What a parse would read of html made of text in bare <p>, </p> and <br> tags (the
    common one-paragraph summary) without entities or characters libxml2 would change: the
    tags made spaces, whitespace collapsed. None for any other html. By C-speed scans."""
    if "&" in html or "\x00" in html:
        return None
    if html.startswith("<p>") and html.endswith("</p>") and "<" not in (inner := html[3:-4]):
        text = inner  # "<p>text</p>": the same, without a regex pass
    else:
        tags = html.count("<")
        if tags > 8 or tags != len(_PARAGRAPH_TAG.findall(html)):
            return None
        text = _PARAGRAPH_TAG.sub(" ", html).strip()
    if not html.isascii() and _SURROGATE.search(html):
        return None
    return collapsed(text)


def _fatal(parser: etree.HTMLParser) -> bool:
    return any(e.level == etree.ErrorLevels.FATAL for e in parser.error_log)


def _without_tags(html: str, paragraphs: bool) -> str:
    """The text of HTML libxml2 would not read (nested 2,048 deep), by a linear scan: hidden
    elements dropped, word-breaking tags made spaces, other tags removed; no links."""
    html = _HIDDEN_ELEMENT.sub(" ", html)
    html = _ANY_TAG.sub(lambda m: " " if (m.group(1) or "").lower() in WORD_BREAKS else "", html)
    return _tidy(unescape(html), paragraphs)


def _remove_keeping_tail(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        previous = el.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def _is_tag_link(el: etree._Element) -> bool:
    classes = (el.get("class") or "").split()
    return "tag" in (el.get("rel") or "").split() or "mention" in classes or "hashtag" in classes


def _link(href: str, base: str) -> str:
    """`href` made absolute against `base` and percent-encoded; "" unless it is http(s)."""
    href = href.strip()
    if href.startswith("#") or (not base and "://" not in href[:12]):
        return ""
    return clean_url(href, base)


_RUNS_OF_SPACE = re.compile(r"[ \t\r\f\v]+")
_SPACE_AROUND_NEWLINE = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str, paragraphs: bool) -> str:
    if not paragraphs:
        return collapsed(text)
    text = _RUNS_OF_SPACE.sub(" ", text)
    text = _SPACE_AROUND_NEWLINE.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()
