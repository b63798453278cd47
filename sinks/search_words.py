"""The words of `pln serve`'s search box as RE2 patterns (docs/serve.md, "Search words").

`search_words` turns what a visitor typed into one case-insensitive pattern per term, every
typed character escaped, for `FeedReader.search` to pass as query parameters, and says what it
left out to bound the cost of a search.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import groupby

# Bounds on what one search costs (100k items, 20k kept: a term of 13+ word parts took 0.8 s,
# against 35 ms for 8). Beyond them the words are ignored, and `SearchWords.ignored` says so.
MAX_CHARS = 200  # of the words
MAX_TERMS = 8  # terms (words or "quoted phrases"), the first ones typed
MAX_PARTS = 8  # word parts of a term: "a-b-c-…" is cut after the 8th, which need not end a word

# Search words (docs/serve.md). RE2 classes: letters, digits and combining marks make words.
_BETWEEN = r"[^\pL\pN\pM]*"  # between two word parts: any run of non-letters, or none
_BETWEEN_DIGITS = r"[^\pL\pN\pM]+"  # "3.5" is not "35"
_BETWEEN_AND = r"(?:[\s\pZ]*[&\x{ff06}][\s\pZ]*|[\s\pZ]+and[\s\pZ]+)"  # "R&D": "R and D", not "RD"
_STARTS = r"(?:^|[^\pL\pN\pM])"  # "e-learning" is not in "online learning"
_ENDS = r"s?(?:$|[^\pL\pN\pM])"  # "AT&T" is not in "attention" ("Q&As" is "Q&A")
_SHORT = 2  # a last word part this long ends a word
_SHORT_WORD = 3  # a word of this many letters or digits is a whole word ("AI" is not in "said")
_JOIN_AND = re.compile(r"(?<=\S)\s*&\s*(?=\S)")  # the query "R & D" is "R&D"
_QUOTES = str.maketrans(dict.fromkeys("\u201c\u201d\u201e\u201f\u00ab\u00bb", '"'))
_TERMS = re.compile(r'"([^"]*)"|([^"]+)')
_SPLIT = re.compile(r"\s+|(?<!\d)[,;]|[,;](?!\d)")  # "a,b" is "a b"; "1,000" stays
# Dropped at a word's start or end (sentence punctuation, brackets, quotes, dashes, spaces);
# the rest is kept as typed: c++, c#, .net, #lrnchat, @jane, <int>.
_LEAD = "'\"([{\u2018\u201a\u201b\u00a1\u00bf"
_TRAIL = ".,;:!?'\")]}\u2019\u2026"
_ANGLES = {"<": "[<\u2039]", "\u2039": "[<\u2039]", ">": "[>\u203a]", "\u203a": "[>\u203a]"}
# Emoji and other symbols (So: 🚀 ★ ©; Sc: € $) make a term of their own; punctuation and math
# signs alone do not. A variation selector (U+FE0F: "❤️" is "❤" drawn as emoji) may follow one.
_SYMBOLS = ("So", "Sc")
_VARIANTS = re.compile("[\ufe00-\ufe0f]")
_VARIANT = r"[\x{fe0e}\x{fe0f}]?"


@dataclass(frozen=True, slots=True)
class SearchWords:
    """What a search looks for: one pattern per term, and what of the words it left out."""

    patterns: tuple[str, ...]
    ignored: tuple[str, ...] = ()  # terms past MAX_TERMS, ends of terms past MAX_PARTS parts


def search_patterns(words: str) -> list[str]:
    """The patterns of `search_words(words)`."""
    return list(search_words(words).patterns)


def search_words(words: str) -> SearchWords:
    """Case-insensitive RE2 patterns, one per search term, that an item must all match.

    Terms are split on spaces (and on "," or ";" not between digits); a "quoted phrase" is one.
    Within a term, a run of punctuation or spaces between two word parts matches any run of
    non-letters or none ("e-learning": "e learning", "e–learning", "elearning"), at least one
    between two digits, "&" (or " and ") for one with "&" in it ("R&D", "R & D": "R and D", not
    "RD"), and the first part starts a word; a last part of 1-2 characters ends one ("AT&T" is
    not in "attention", "A.I." not in "aim"; a plural "s" may follow). Everything typed is
    escaped; a letter with an accent also finds it decomposed (NFD: "e" + U+0301). A term
    without a letter or digit is searched as typed if it has an emoji or other symbol ("🚀",
    "★", "€"; edge punctuation dropped, with or without variation selectors), else dropped
    (punctuation alone: "-", "..."), as are repeats; past MAX_CHARS, MAX_TERMS or MAX_PARTS, the
    rest is `ignored`."""
    words = unicodedata.normalize("NFC", words[:MAX_CHARS]).translate(_QUOTES)
    words = _VARIANTS.sub("", words)
    found: dict[str, str] = {}  # any case -> pattern
    ignored = []
    for term in _terms(words):
        pattern, cut = _term_pattern(term)
        if not pattern or pattern.lower() in found:
            continue
        if len(found) == MAX_TERMS:
            ignored.append(term)
            continue
        found[pattern.lower()] = pattern
        if cut:
            ignored.append(cut)
    return SearchWords(tuple(found.values()), tuple(ignored))


def _terms(words: str) -> list[str]:
    """The terms of the words: each "quoted phrase", and the words between them."""
    chunks = []
    for phrase, loose in _TERMS.findall(words):
        chunks += _SPLIT.split(_JOIN_AND.sub("&", loose)) if loose else [phrase]
    return chunks


def _term_pattern(term: str) -> tuple[str, str]:
    """The pattern of one term ("" if it has no word part nor symbol), and what of it was cut
    off (past MAX_PARTS word parts)."""
    runs = [["".join(g), w] for w, g in groupby(term, _is_word)]
    parts = sum(w for _, w in runs)
    if not parts:
        symbols = _strip(_strip(term, _LEAD, lead=True), _TRAIL, lead=False)
        if any(unicodedata.category(c) in _SYMBOLS for c in symbols):
            return _literal(symbols), ""
        return "", ""
    runs, cut = _first_parts(runs)
    if not runs[0][1]:  # the punctuation before the first word part
        runs[0][0] = _strip(runs[0][0], _LEAD, lead=True)
    if not runs[-1][1]:
        runs[-1][0] = _strip(runs[-1][0], _TRAIL, lead=False)
    if parts == 1:
        return _word_pattern(runs), ""
    return _parts_pattern(runs, ends=not cut), cut


def _first_parts(runs: list[list]) -> tuple[list[list], str]:
    """`runs` up to their MAX_PARTS-th word part, and the text of the rest ("" if it has no
    word part: "a-b-c-d-e-f-g-h." is whole)."""
    parts = 0
    for i, (_, word) in enumerate(runs):
        parts += word
        if parts == MAX_PARTS and any(w for _, w in runs[i + 1 :]):
            return runs[: i + 1], "".join(text for text, _ in runs[i + 1 :])
    return runs, ""


def _parts_pattern(runs: list[list], ends: bool) -> str:
    """The pattern of a term of several word parts: the first starts a word, and a short last
    one ends it when `ends` (the term was not cut short)."""
    out = [_STARTS] if runs[0][1] or not runs[0][0] else []
    for i, (text, word) in enumerate(runs):
        if word:
            out.append(_letters(text))
        elif 0 < i < len(runs) - 1:
            digits = runs[i - 1][0][-1].isdigit() and runs[i + 1][0][0].isdigit()
            if "&" in text or "\uff06" in text:
                out.append(_BETWEEN_AND)
            else:
                out.append(_BETWEEN_DIGITS if digits else _BETWEEN)
        else:
            out.append(_literal(text))
    last = runs[-1] if runs[-1][1] or runs[-1][0] else runs[-2]  # its last word part, if it ends
    if ends and last[1] and len(last[0]) <= _SHORT:
        out.append(_ENDS)
    return "".join(out)


def _word_pattern(runs: list[list]) -> str:
    """The pattern of a term with one word part: anywhere in a word, or a whole short word."""
    texts = [_letters(text) if word else _literal(text) for text, word in runs]
    word = next(text for text, is_word in runs if is_word)
    if len(word) <= _SHORT_WORD:
        if runs[0][1] or not runs[0][0]:
            texts.insert(0, _STARTS)
        if runs[-1][1] or not runs[-1][0]:
            texts.append(_ENDS)
    return "".join(texts)


def _letters(text: str) -> str:
    """A word part as typed (NFC), each accented letter also as its decomposed form."""
    return "".join(map(_letter, text))


def _letter(c: str) -> str:
    nfd = unicodedata.normalize("NFD", c)
    return c if nfd == c else f"(?:{c}|{nfd})"


def _literal(text: str) -> str:
    return "".join(map(_literal_char, text))


def _literal_char(c: str) -> str:
    """`c` escaped; an emoji (So) also with the variation selector texts may store after it."""
    escaped = _ANGLES.get(c) or f"\\x{{{ord(c):x}}}"
    return escaped + _VARIANT if unicodedata.category(c) == "So" else escaped


def _is_word(c: str) -> bool:
    return unicodedata.category(c)[0] in "LNM"


def _strip(edge: str, drop: str, lead: bool) -> str:
    """`edge` without the `drop` characters, dashes and spaces at its outer end."""
    chars = list(edge if lead else reversed(edge))
    while chars and (
        chars[0] in drop or chars[0].isspace() or unicodedata.category(chars[0]) == "Pd"
    ):
        del chars[0]
    return "".join(chars if lead else reversed(chars))
