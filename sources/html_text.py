"""HTML post bodies (Mastodon `content`) to plain text and the links they carry.

Paragraphs and line breaks become newlines; links keep their full target even when the server
shortened the visible part (Mastodon hides "https://" and the tail in `invisible` spans, which
are still text here); mentions and hashtag links are text, not links; Mastodon's "RE: <url>"
quote preamble (`quote-inline`) is left out because the quote is recorded separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_BLOCKS = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr"}
_SKIPPED = {"script", "style", "template"}
_VOID = {"br", "img", "hr", "input", "meta", "link", "wbr", "source", "area", "col", "embed"}


@dataclass(frozen=True)
class HtmlText:
    text: str
    links: tuple[str, ...]


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self.open: list[tuple[str, bool]] = []  # (tag, hidden) for every open non-void element

    @property
    def hidden(self) -> bool:
        return any(hidden for _, hidden in self.open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = set(attr.get("class", "").split())
        if tag == "br":
            self.parts.append("\n")
            return
        if tag in _VOID:
            return
        if tag in _BLOCKS:
            self.parts.append("\n\n")
        hidden = tag in _SKIPPED or "quote-inline" in classes
        self.open.append((tag, hidden))
        if tag == "a" and not self.hidden:
            href = attr.get("href", "")
            is_tag_or_mention = "tag" in attr.get("rel", "").split() or classes & {
                "mention",
                "hashtag",
            }
            if href.startswith(("http://", "https://")) and not is_tag_or_mention:
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):  # tolerate unclosed inner elements
            if self.open[i][0] == tag:
                del self.open[i:]
                break
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> HtmlText:
    """Plain text (whitespace tidied, paragraphs separated by a blank line) and the links."""
    parser = _Extractor()
    parser.feed(html or "")
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return HtmlText(text, tuple(dict.fromkeys(parser.links)))
