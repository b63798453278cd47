"""Repair of the commonest fault of real feeds: a bare "&" ("R&D", "L&D", "AT&T", "?a=1&b=2").

`escape_bare_ampersands(data)` writes such an "&" as "&amp;", which is what the publisher
meant, so a feed whose only fault it was becomes well-formed and the fast path reads it as it
would read the correctly escaped feed. feedparser's loose parser would otherwise turn "R&D"
into "R&D;".

An "&" is left as it is when it starts a reference: `&#123;`, `&#x1F;`, `&name;`, and also
the ones feedparser decodes today, so that no feed reads worse than before: `&#X1F;`, and a
bare HTML 4 entity name (`&copy 2024` is "© 2024") unless "=" follows it (`?a=1&lang=en` is a
URL, not "〈=en"). CDATA sections, comments and processing instructions are copied
unchanged: an "&" in them is literal. The work is linear in the size of the document.
"""

from __future__ import annotations

import html.entities
import re

# The bare names feedparser decodes (feedparser.mixin, feedparser.html): HTML 4's, and apos.
_FEEDPARSER_NAMES = frozenset(html.entities.name2codepoint) | {"apos"}


def _trie(words: list[str]) -> str:
    """A regex alternation of `words`, factored by common prefix: it tries one branch per
    character instead of one per word, which keeps a document of a million "&" linear."""
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


_NAME_START = rb":A-Z_a-z\x80-\xff"  # XML name characters, any non-ASCII byte taken as one
_NAME_CHAR = _NAME_START + rb"\-.0-9"
_BARE = re.compile(
    rb"&(?!#[0-9]+;|#[xX][0-9a-fA-F]+;"
    rb"|[" + _NAME_START + rb"][" + _NAME_CHAR + rb"]*;"
    # feedparser reads a name up to the first character outside [-.a-zA-Z0-9]
    rb"|" + _trie(sorted(_FEEDPARSER_NAMES)).encode() + rb"(?![-.0-9A-Za-z=]))"
)
# Where "&" is literal. An unterminated one runs to the end, as a parser would read it (and
# the search never scans the rest of the document twice).
_LITERAL = re.compile(rb"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)", re.S)
_START = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*<[^\x00]")


def escape_bare_ampersands(data: bytes) -> tuple[bytes, int]:
    """`data` with each bare "&" written "&amp;", and how many there were.

    A document in an encoding where the byte "&" may be something else (UTF-16 or UTF-32,
    EBCDIC, ISO-2022's escapes) is returned unchanged.
    """
    if not _BARE.search(data) or not _START.match(data) or b"\x1b" in data:
        return data, 0
    parts: list[bytes] = []
    count = pos = 0
    for literal in _LITERAL.finditer(data):
        text, n = _BARE.subn(b"&amp;", data[pos : literal.start()])
        parts += (text, literal.group())
        count += n
        pos = literal.end()
    text, n = _BARE.subn(b"&amp;", data[pos:])
    parts.append(text)
    return b"".join(parts), count + n
