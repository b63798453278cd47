"""The hand-written html.parser sanitizer of sinks/sanitize.py as of commit fef91a5, kept only so
bench/bench_sanitize.py can compare it with nh3. Not used by pln."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

ALLOWED_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
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
VOID_TAGS = frozenset({"br", "hr", "img"})
# Dropped together with everything inside them. (Void elements such as embed have no content:
# they are dropped like any tag not allowed.)
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
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "title", "width", "height"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
    "ol": frozenset({"start"}),
    "abbr": frozenset({"title"}),
}
URL_ATTRS = frozenset({"href", "src", "cite"})
URL_SCHEMES = {"href": ("http", "https", "mailto"), "src": ("http", "https")}
# Characters XML 1.0 forbids; they make a whole feed unreadable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Whitespace and controls browsers ignore inside a URL scheme ("java\tscript:").
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]+")
_URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def xml_text(text: str) -> str:
    """Text with the characters XML cannot carry removed."""
    return _XML_INVALID.sub("", text)


def sanitize_html(fragment: str, base_url: str = "") -> str:
    """Return a safe, well-formed HTML fragment from untrusted HTML."""
    if not fragment:
        return ""
    parser = _Sanitizer(base_url)
    parser.feed(xml_text(fragment))
    parser.close()
    return "".join(parser.out).strip()


def text_to_html(text: str) -> str:
    """Plain text as HTML paragraphs, with line breaks kept and http(s) URLs linked."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", xml_text(text)) if p.strip()]
    return "".join(f"<p>{_linkify(p).replace(chr(10), '<br />')}</p>" for p in paragraphs)


def safe_url(value: str, attr: str = "href", base_url: str = "") -> str:
    """The URL if it is safe to put in `attr`, resolved against base_url; otherwise ''."""
    url = value.strip()
    if not url:
        return ""
    scheme = urlsplit(_URL_IGNORED.sub("", url)).scheme.lower()
    if not scheme:
        if not base_url or url.startswith("#"):
            return url if url.startswith("#") else ""
        url = urljoin(base_url, url)
        scheme = urlsplit(url).scheme.lower()
    return url if scheme in URL_SCHEMES.get(attr, ("http", "https")) else ""


def _linkify(text: str) -> str:
    out, last = [], 0
    for match in _URL_RE.finditer(text):
        url = match.group(0)
        out.append(html.escape(text[last : match.start()], quote=False))
        out.append(f'<a href="{html.escape(url)}">{html.escape(url, quote=False)}</a>')
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


class _Sanitizer(HTMLParser):
    def __init__(self, base_url: str):
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.out: list[str] = []
        self.open: list[str] = []  # allowed tags emitted and not yet closed
        self.skipping: list[str] = []  # dropped elements we are inside of

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            if tag in DROP_WITH_CONTENT:
                self.skipping.append(tag)
            return
        if tag in DROP_WITH_CONTENT:
            self.skipping.append(tag)
            return
        if tag not in ALLOWED_TAGS:
            return
        kept = self._attributes(tag, attrs)
        if tag in VOID_TAGS:
            if tag == "img" and "src" not in dict(kept):
                return
            self.out.append(f"<{tag}{_format_attrs(kept)} />")
            return
        self.out.append(f"<{tag}{_format_attrs(kept)}>")
        self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag in self.skipping:
                while self.skipping.pop() != tag:
                    pass
            return
        if tag in self.open:
            # Close anything left open inside it, so the output stays well-formed.
            while self.open:
                inner = self.open.pop()
                self.out.append(f"</{inner}>")
                if inner == tag:
                    break

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(html.escape(data, quote=False))

    def close(self) -> None:
        super().close()
        while self.open:
            self.out.append(f"</{self.open.pop()}>")

    def _attributes(self, tag: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
        allowed = ALLOWED_ATTRS.get(tag, frozenset())
        kept = []
        for name, value in attrs:
            if name not in allowed or value is None:
                continue
            if name in URL_ATTRS:
                value = safe_url(value, "src" if name == "src" else "href", self.base_url)
                if not value:
                    continue
            kept.append((name, value))
        return kept


def _format_attrs(attrs: list[tuple[str, str]]) -> str:
    return "".join(f' {name}="{html.escape(value)}"' for name, value in attrs)
