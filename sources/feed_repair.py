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

When the repaired document is still ill-formed, `locate_fault` says where its first fault is
in the user's file: feedparser's own report counts the "amp;" the repair added (4 characters
each), and a line it adds itself when the document has no XML declaration.
"""

from __future__ import annotations

import html.entities
import io
import re
import xml.sax

from pln.clean import word_trie

# The bare names feedparser decodes (feedparser.mixin, feedparser.html): HTML 4's, and apos.
_FEEDPARSER_NAMES = frozenset(html.entities.name2codepoint) | {"apos"}


_NAME_START = rb":A-Z_a-z\x80-\xff"  # XML name characters, any non-ASCII byte taken as one
_NAME_CHAR = _NAME_START + rb"\-.0-9"
_BARE = re.compile(
    rb"&(?!#[0-9]+;|#[xX][0-9a-fA-F]+;"
    rb"|[" + _NAME_START + rb"][" + _NAME_CHAR + rb"]*;"
    # feedparser reads a name up to the first character outside [-.a-zA-Z0-9]
    rb"|" + word_trie(sorted(_FEEDPARSER_NAMES)).encode() + rb"(?![-.0-9A-Za-z=]))"
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


# -- where the fault left is, in the user's file -----------------------------------------------

_LINE_BREAK = re.compile(r"\r\n?|\n")  # what expat counts as one
# What a fault's message names, found where the parser reports it.
_ENTITY_AT = re.compile(r"&[^\s&;<>]{1,64};")
_END_TAG_AT = re.compile(r"</[^\s&<>/]{1,64}>?")


class Fault(ValueError):
    """The first fault of an ill-formed document, where it is in the user's file: `line` and
    `column` count from 1, in characters."""

    def __init__(self, line: int, column: int, message: str):
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.message = message


def locate_fault(data: bytes, encoding: str) -> Fault | None:
    """The first fault that feedparser's strict parser (expat) finds in `data` once its bare
    "&" are escaped, at its place in `data`; None when `data` is not in `encoding` or is
    well-formed after all.

    `data` is the document as its publisher wrote it, with what feedparser removes before its
    parser runs (a DOCTYPE) blanked out, line breaks kept. `encoding` is the one feedparser
    read it in. The message is expat's, with the entity or end tag it is about
    ("undefined entity &nbsp;", "mismatched tag </description>").
    """
    repaired, escaped = escape_bare_ampersands(data)
    try:
        text = repaired.decode(encoding).removeprefix("\ufeff")
        original = data.decode(encoding).removeprefix("\ufeff") if escaped else text
    except (LookupError, UnicodeDecodeError):
        return None
    from feedparser.api import PREFERRED_XML_PARSERS

    parser = xml.sax.make_parser(PREFERRED_XML_PARSERS)  # as feedparser sets it up
    parser.setFeature(xml.sax.handler.feature_namespaces, 1)
    parser.setFeature(xml.sax.handler.feature_external_ges, 0)
    source = xml.sax.xmlreader.InputSource()
    source.setByteStream(io.BytesIO(text.encode("utf-8")))
    source.setEncoding("utf-8")  # over the declaration's: the text is decoded already
    try:
        parser.parse(source)
    except xml.sax.SAXParseException as exc:
        line, column, message = exc.getLineNumber(), exc.getColumnNumber(), exc.getMessage()
    else:
        return None
    if line is None or column is None:
        return None
    lines = _LINE_BREAK.split(original)
    if not 1 <= line <= len(lines):
        return None
    at = lines[line - 1]
    if escaped:
        column = _column_before_repair(at, _LINE_BREAK.split(text)[line - 1], column)
    if message == "undefined entity" and (found := _ENTITY_AT.match(at, column)):
        message = f"{message} {found.group()}"
    elif message == "mismatched tag" and column >= 2 and at.startswith("</", column - 2):
        column -= 2  # expat points at the name
        message = f"{message} {_END_TAG_AT.match(at, column).group()}"
    return Fault(line, column + 1, message)


def _column_before_repair(original: str, repaired: str, column: int) -> int:
    """The column in `original` (a line) of `column` in `repaired` (the same line with "amp;"
    written after some of its "&")."""
    i = j = 0  # the same place in original and in repaired
    while True:
        amp = original.find("&", i)
        if amp < 0 or j + (amp - i) >= column:
            return i + (column - j)
        j += amp - i
        i = amp
        if repaired.startswith("&amp;", j) and not original.startswith("&amp;", i):
            if column < j + 5:  # inside the "&amp;" the repair wrote: its "&"
                return i
            j += 5
        else:
            j += 1
        i += 1
