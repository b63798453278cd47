"""Untrusted text, HTML and links made safe where Items are made (`Item.create`).

Every source benefits: titles become plain text (entities decoded once, tags stripped), text is
bounded in size, HTML is sanitized by nh3 (the Python binding of Ammonia, on the html5ever
parser) after a linear nesting check, and links are percent-encoded http(s) URLs.
Limits are per item; what exceeds them is cut (text, titles) or dropped (HTML, whose text
stays in `Item.text`).
"""

from __future__ import annotations

import functools
import html.entities
import re
import threading
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import nh3

MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 50_000
MAX_HTML_CHARS = 200_000  # sanitized; longer HTML is dropped and the text is shown instead
MAX_HTML_DEPTH = 64  # open elements; deeper HTML is dropped (html5ever is quadratic in depth)
MAX_RUN_CHARS = 2_048  # characters without a space (a long URL fits; an expanded entity not)
MAX_URL_CHARS = 4_096

# An absolute http(s) URL that urljoin and urlsplit leave exactly as it is: lower-case scheme,
# a plain host, no params (;), no empty query, no fragment, no spaces or controls. Feeds are
# full of them; matching this costs a tenth of urljoin.
PLAIN_WEB_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~!$&'()*+,=:@%/-]*)?"
    r"(?:\?[A-Za-z0-9._~!$&'()*+,=:@%/?-]+)?\Z"
)
ALLOWED_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "dd",
        "del",
        "dfn",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "mark",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
)
# Dropped together with everything inside them (other tags are dropped, their text kept).
DROP_WITH_CONTENT = frozenset(
    [
        "script",
        "style",
        "iframe",
        "frameset",
        "object",
        "applet",
        "noscript",
        "template",
        "svg",
        "math",
        "head",
        "title",
        "textarea",
        "select",
        "button",
        "canvas",
        "audio",
        "video",
    ]
)
ALLOWED_ATTRS = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
    "abbr": {"title"},
}
# On every allowed tag, checked by `_UrlFilter`: the direction and language of right-to-left
# text (`<p dir="rtl" lang="ar">`, `<bdo dir="rtl">`), which readers need to show it right.
GLOBAL_ATTRS = frozenset({"dir", "lang"})
DIRECTIONS = frozenset({"ltr", "rtl", "auto"})
# A BCP 47 language tag, as far as a reader needs one: "ar", "he-IL", "zh-Hant-TW", "x-klingon".
LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8}){0,7}\Z")
MAX_IMG_SIZE = 4_096  # width or height of an image in pixels; a bigger (or odd) one is dropped
URL_ATTRS = frozenset({"href", "src", "cite"})
LINK_SCHEMES = frozenset({"http", "https"})

# Characters XML 1.0 forbids; they make a whole feed unreadable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_XML_INVALID_ASCII = bytes(c for c in range(0x20) if c not in b"\t\n\r")  # the same, in ASCII
_ASCII_SPACE_NOT_BLANK = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"  # str.split's ASCII whitespace but " "
_DOUBLE_SPACE = re.compile("  ")
# Tried only where a run starts: without the look-behind, every character of a run tried and
# failed again (a run of 2,048 characters cost 7.5 ms, so 500 of them 4 s).
_LONG_RUN = re.compile(rf"(?<!\S)\S{{{MAX_RUN_CHARS + 1},}}")
# Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): in a title or a name
# they reorder the text around them (a title "RTL <U+202E>evil<U+202C> widget" reads reversed).
# The marks U+200E and U+200F reorder nothing and stay.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")
_TAG_OPENER = re.compile(r"<(?=[A-Za-z/!?])")
# Start and end tags, for the nesting check ("<div/>" opens a div in HTML, like "<div>").
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
# Elements that never nest: void, or closed by the parser when the next one starts.
_FLAT = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "rt",
        "rp",
    ]
)
# A start tag of an element that can nest (not in _FLAT).
_NESTING_START = re.compile(
    r"<(?!(?:" + "|".join(sorted(_FLAT)) + r")(?![A-Za-z0-9:-]))[A-Za-z]", re.IGNORECASE
)
# What an http(s) URL may carry as is (RFC 3986 reserved and unreserved characters, and '%';
# brackets, legal only around an IPv6 host, take the slow path that checks them).
_URL_OK = re.compile(r"[A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]*")


def word_trie(words: list[str]) -> str:
    """A regex alternation of `words`, factored by common prefix: it tries one branch per
    character instead of one per word (linear over a document full of candidates)."""
    tree: dict = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict) -> str:
        branches = [re.escape(char) + emit(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here and longer ones continue
            return f"(?:{body})?"
        return body

    return emit(tree)


# HTML's legacy entity names, the ones a parser decodes without ";" ("&copy 2024" is "© 2024"),
# and the names with ";" that extend one of them ("&notin;" is "∉", not "¬in;").
_LEGACY_NAMES = [n for n in html.entities.html5 if not n.endswith(";")]
_LEGACY_SET = frozenset(_LEGACY_NAMES)
_LONGER_NAMES = [  # a legacy name is a shorter start of the name: at import, so by set lookups
    n[:-1]
    for n in html.entities.html5
    if n.endswith(";") and any(n[:k] in _LEGACY_SET for k in range(1, len(n) - 1))
]
# An "&" that starts a legacy name with no ";" that a letter, a digit or "=" follows: HTML5
# leaves it as written in an attribute, and so does pln in text ("?lang=en&region=us"). An
# "&amp" before a letter or digit is an "&amp;" that lost its ";" ("AT&ampT"): it decodes.
# (No legacy name is the start of another, so the trie finds the one there is.)
_LEGACY_REF_IN_WORD = re.compile(
    "&(?=" + word_trie(_LEGACY_NAMES) + "[A-Za-z0-9=])"
    "(?!" + word_trie(_LONGER_NAMES) + ";|(?:amp|AMP)[A-Za-z0-9])"
)
_EMPTY_IMG = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")  # an image whose source was unsafe
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def literal_ampersands(fragment: str) -> str:
    """HTML with each "&" written "&amp;" where it starts a legacy entity name without ";"
    ("&reg", "&para", "&copy") that a letter, a digit or "=" follows.

    HTML5 decodes such a name in text but not in an attribute, where it is taken for what it
    mostly is: a query string. Text carries URLs too ("?lang=en&region=us&section=2" would read
    "?lang=en®ion=us§ion=2"), so here the attribute rule holds everywhere: "&region" and
    "&copy2" stay as written, while "&copy 2024", "&reg;" and "&notin;" decode as before, and
    so does "&amp" before a letter or digit ("AT&ampT" is an "&amp;" that lost its ";"); but
    "&amp=1" is a query string too.
    Both readers of HTML (pln/text.py for text, nh3 for the HTML kept) apply it first."""
    if "&" not in fragment:
        return fragment
    return _LEGACY_REF_IN_WORD.sub("&amp;", fragment)


def xml_text(text: str) -> str:
    """Text with the characters XML cannot carry removed."""
    if text.isascii():  # bytes.translate finds the ASCII ones at a third of the regex's cost
        data = text.encode("ascii")
        if len(data.translate(None, _XML_INVALID_ASCII)) == len(data):
            return text
    return _XML_INVALID.sub("", text)


def plain_title(title: str) -> str:
    """A plain-text title made safe to publish: characters XML cannot carry removed,
    whitespace collapsed, at most MAX_TITLE_CHARS characters, and every "<" that could open a
    tag (before a letter, "/", "!" or "?") written "‹", with the ">" that closes it "›".

    Sources give titles as plain text (feed titles are read as HTML there when they are HTML),
    so nothing is decoded or removed here: "std::vector<int>" keeps its "<int>", as
    "std::vector‹int›". A "<" that cannot open a tag ("x < y", "<3") stays. Feed readers
    that insert titles into their pages as HTML then show them as words, not as markup.
    Bidi embedding, override and isolate controls are removed (`plain_name`)."""
    if not title:
        return ""
    title = plain_name(title)
    if len(title) > MAX_RUN_CHARS:
        title = _LONG_RUN.sub(_cut_run, title)
    title = _cut(title, MAX_TITLE_CHARS)  # first: each pass below is over at most this much
    while "<" in title:  # innermost first: "Map<K, List<T>>" is "Map‹K, List‹T››"
        title, found = _TAG.subn(_defused_tag, title)
        if not found:
            return _TAG_OPENER.sub("‹", title)
    return title


def plain_name(text: str) -> str:
    """A one-line name (a title, an author) as plain text: characters XML cannot carry and
    bidi controls that reorder the text around them removed, whitespace collapsed."""
    text = xml_text(text)
    if not text.isascii():  # bidi controls are not ASCII
        text = _BIDI_CONTROLS.sub("", text)
    return collapsed(text)


def collapsed(text: str) -> str:
    """`" ".join(text.split())`: each run of whitespace one space, none at either end."""
    if text.isascii() and _single_spaced(text):
        # no run to collapse unless there is whitespace other than " " (found by C scans)
        data = text.encode("ascii")
        if len(data.translate(None, _ASCII_SPACE_NOT_BLANK)) == len(data):
            return text
    return " ".join(text.split())


def _single_spaced(text: str) -> bool:
    """Whether no " " in text is next to another, or at either end."""
    if text[:1] == " " or text[-1:] == " ":
        return False
    if len(text) < 128:
        return "  " not in text
    return _DOUBLE_SPACE.search(text) is None  # in a long text, two thirds of the cost of `in`


def _defused_tag(match: re.Match) -> str:
    return f"‹{match.group()[1:-1]}›"


def bounded_text(text: str) -> str:
    """Plain text without XML-invalid characters, runs of MAX_RUN_CHARS characters without a
    space cut, and at most MAX_TEXT_CHARS characters."""
    if not text:
        return ""
    text = xml_text(text)
    if len(text) > MAX_RUN_CHARS and _may_hold_long_run(text):
        text = _LONG_RUN.sub(_cut_run, text)
    return _cut(text, MAX_TEXT_CHARS)


_RUN_BLOCK = (MAX_RUN_CHARS + 1) // 2


def _may_hold_long_run(text: str) -> bool:
    """False when text surely holds no run of more than MAX_RUN_CHARS non-space characters:
    such a run covers a whole block of `_RUN_BLOCK` characters aligned at a multiple of it, so
    a space in every such block rules it out (a few C scans, where the regex tries every
    character)."""
    step = _RUN_BLOCK
    return any(" " not in text[at : at + step] for at in range(0, len(text) - step + 1, step))


def nests_deeper_than(fragment: str, limit: int) -> bool:
    """Whether elements nest more than `limit` deep in fragment, counted in one pass over its
    tags (an unclosed element stays open to the end)."""
    if fragment.count("<") <= limit or len(_NESTING_START.findall(fragment)) <= limit:
        return False  # fewer elements that can nest than the limit: no need to follow them
    open_tags: list[str] = []
    for closing, name in _TAG_TOKEN.findall(fragment):
        name = name.lower()
        if name in _FLAT:
            continue
        if not closing:
            open_tags.append(name)
            if len(open_tags) > limit:
                return True
        elif name in open_tags:
            while open_tags.pop() != name:
                pass
    return False


def clean_html(fragment: str, base_url: str = "") -> str:
    """Sanitized HTML (an allow-list of tags and attributes; links http(s), mailto or
    fragment, resolved against base_url and percent-encoded), or "" when it is nested deeper
    than MAX_HTML_DEPTH or longer than MAX_HTML_CHARS once sanitized."""
    if not fragment or fragment.isspace():
        return ""
    if len(fragment) > 4 * MAX_HTML_CHARS:
        return ""
    text = xml_text(fragment)
    if _plain_paragraphs(text):
        # What nh3 gives back for it (see _plain_paragraphs). Nothing nests in it, nor in
        # `fragment`: each "<" there opens "<p>" or "</p>" once the characters xml_text
        # removes are gone, and those cannot start a nesting tag.
        return text if len(text) <= MAX_HTML_CHARS else ""
    if nests_deeper_than(fragment, MAX_HTML_DEPTH):
        return ""
    _URL_FILTER.base = base_url
    out = _cleaner().clean(literal_ampersands(text))
    if "<img" in out:
        out = _EMPTY_IMG.sub("", out)
    out = out.strip()
    return out if len(out) <= MAX_HTML_CHARS else ""


def _plain_paragraphs(fragment: str) -> bool:
    """Whether `fragment` is paragraphs of text ("<p>a</p><p>b</p>") that nh3 gives back as
    they are: no other tag, and none of the characters html5ever rewrites ("&", "<" and ">"
    escaped, CR made LF, NBSP written "&nbsp;"; NUL and surrogates are gone by `xml_text`).
    Checked for every code point in tests/test_sanitize.py."""
    if not (fragment.startswith("<p>") and fragment.endswith("</p>")):
        return False
    if "&" in fragment or "\r" in fragment or "\xa0" in fragment:
        return False
    inner = fragment[3:-4]
    if "<" not in inner and ">" not in inner:  # one paragraph (single-character scans)
        return True
    tags = fragment.count("<")
    return tags == 2 + 2 * fragment.count("</p><p>") and tags == fragment.count(">")


class _UrlFilter(threading.local):
    """nh3 attribute filter: URL attributes resolved against `base` (the item's URL, set per
    call; per thread, since one Cleaner serves them all) and encoded; unsafe ones removed
    (nh3 checks the scheme again). `dir` must be ltr, rtl or auto, `lang` a language tag, an
    image's width and height a whole number of pixels up to MAX_IMG_SIZE; else they go."""

    base = ""

    def __call__(self, tag: str, attr: str, value: str) -> str | None:
        if attr == "dir":
            value = value.strip().lower()
            return value if value in DIRECTIONS else None
        if attr == "lang":
            value = value.strip()
            return value if LANGUAGE_TAG.match(value) else None
        if attr in ("width", "height"):
            value = value.strip()
            small = value.isascii() and value.isdigit() and int(value) <= MAX_IMG_SIZE
            return value if small else None
        if attr not in URL_ATTRS:
            return value
        value = value.strip()
        if attr == "href" and (value.startswith("#") or value[:7].lower() == "mailto:"):
            return value
        return clean_url(value, self.base) or None


_URL_FILTER = _UrlFilter()


@functools.cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROP_WITH_CONTENT),
        attributes={"*": set(GLOBAL_ATTRS)}
        | {tag: set(attrs) for tag, attrs in ALLOWED_ATTRS.items()},
        attribute_filter=_URL_FILTER,
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        strip_comments=True,
    )


def clean_url(url: str, base_url: str = "") -> str:
    """An absolute http(s) URL, percent-encoded where RFC 3986 asks for it, or "" when url is
    not one (another scheme, malformed, longer than MAX_URL_CHARS). Relative URLs are resolved
    against base_url."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL_CHARS:
        return ""
    if base_url and "://" not in url[:12]:
        url = _resolve(url, base_url)
    if _URL_OK.fullmatch(url) and not ("%" in url and _BAD_PERCENT.search(url)):
        lowered = url[:8].lower()
        if lowered.startswith(("http://", "https://")) and url.count("#") <= 1:
            return url
    try:
        parts = urlsplit(re.sub(r"[\x00-\x20\x7f]", _percent, url))
        host = parts.hostname or ""
    except ValueError:
        return ""
    if parts.scheme.lower() not in LINK_SCHEMES or not host:
        return ""
    netloc = parts.netloc
    if not host.isascii():
        try:
            netloc = netloc.replace(parts.hostname, host.encode("idna").decode("ascii"))
        except UnicodeError:
            return ""
    path = _encode(parts.path, "/:@!$&'()*+,;=")
    query = _encode(parts.query, "/:@!$&'()*+,;=?")
    fragment = _encode(parts.fragment, "/:@!$&'()*+,;=?")
    return urlunsplit(
        (parts.scheme.lower(), _encode(netloc, ":@[]!$&'()*+,;="), path, query, fragment)
    )


def _resolve(url: str, base_url: str) -> str:
    """url resolved against base_url: urljoin, with shortcuts for "/path" and "name.png"."""
    scheme, sep, rest = base_url.partition("://")
    if sep and "./" not in url and not url.startswith(("//", "?", "#", ".")):
        rest = rest.split("#", 1)[0].split("?", 1)[0]
        if url.startswith("/"):
            return f"{scheme}://{rest.split('/', 1)[0]}{url}"
        if ":" not in url.split("/", 1)[0]:
            folder = rest.rsplit("/", 1)[0] if "/" in rest else rest
            return f"{scheme}://{folder}/{url}"
    try:
        return urljoin(base_url, url)
    except ValueError:
        return ""


def _encode(part: str, safe: str) -> str:
    return quote(_BAD_PERCENT.sub("%25", part), safe=safe + "%-._~")


def _percent(match: re.Match) -> str:
    return f"%{ord(match.group(0)):02X}"


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", limit - 200)
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def _cut_run(match: re.Match) -> str:
    return match.group(0)[:MAX_RUN_CHARS] + "…"
