"""Cheap checks for posts not worth curating: empty, link-only, hashtag-only or hashtag-stuffed.

`scan(text)` counts what the filters look at (words, #tags, links, @mentions);
`quality_problem(item, stats)` names the first problem found, or returns "". An item with a
problem is not kept for any topic; its decisions say why ("quality: link-only post").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pln.record import Item
from pln.text import HASHTAG_RE, URL_RE

MAX_HASHTAGS = 10  # more distinct tags than this is stuffing, however long the text
MAX_HASHTAG_SHARE = 0.5  # ... as is a text where more than half the words are tags
MIN_TAGS_FOR_SHARE = 3  # "A1 #lrnchat" is a chat answer, not stuffing
FEW_WORDS = 3  # up to this many plain words, words are counted exactly
COUNT_CHARS = 2_000  # longer texts have their word count estimated from this many characters

MENTION_RE = re.compile(r"(?<![\w/])@\w+")
WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class TextStats:
    words: int  # words without links, counting the words of #tags and @mentions
    hashtags: tuple[str, ...]  # every #tag occurrence, lower-cased, without '#'
    links: int
    mentions: int

    @property
    def plain_words(self) -> int:
        """Words that are not part of a #tag or an @mention."""
        return self.words - len(self.hashtags) - self.mentions


def scan(text: str, lower: str | None = None) -> TextStats:
    """Count the words, #tags, links and @mentions of text (`lower`: text.lower(), if known).

    Words are counted by whitespace (estimated past the first COUNT_CHARS characters); when
    that leaves few plain words, they are recounted as runs of letters and digits, so
    "https://x.co 👍" is a link-only post. Each regex runs
    only when it can match: most posts have no link, tag or mention.
    """
    links = 0
    if "://" in text or "www." in text:
        found = URL_RE.findall(text)
        if found:
            links = len(found)
            text, lower = URL_RE.sub(" ", text), None
    lowered = text.lower() if lower is None else lower
    hashtags = hashtags_in(lowered) if "#" in text or "＃" in text else ()
    mentions = len(MENTION_RE.findall(text)) if "@" in text else 0
    if len(lowered) <= COUNT_CHARS:
        words = word_count(lowered)
    else:  # long posts: count the start, scale up (only the hashtag share reads it)
        words = word_count(lowered[:COUNT_CHARS]) * len(lowered) // COUNT_CHARS
    if words - len(hashtags) - mentions <= FEW_WORDS:
        words = len(WORD_RE.findall(lowered))
    return TextStats(words, hashtags, links, mentions)


def word_count(text: str) -> int:
    """`len(text.split())`; for ASCII text without making the words: the starts of words."""
    if not text.isascii():
        return len(text.split())
    marks = text.encode().translate(_WORD_MARKS)
    return marks.count(b" x") + marks.startswith(b"x")


_WORD_MARKS = bytes(32 if chr(c).isspace() else ord("x") for c in range(256))  # space or "x"


def hashtags_in(text: str) -> tuple[str, ...]:
    """The #tags of text, without '#' (pln/text.py's HASHTAG_RE says what counts)."""
    return tuple(HASHTAG_RE.findall(text))


def quality_problem(item: Item, stats: TextStats | None = None) -> str:
    """The first reason the item is not worth curating ("link-only post"), or ""."""
    if stats is None:
        stats = scan(item.nlp_text)
    distinct_tags = len(set(stats.hashtags).union(item.hashtags))
    if stats.plain_words == 0 and (stats.links or item.links):
        return "link-only post"
    if distinct_tags > MAX_HASHTAGS:
        return f"hashtag-stuffed post ({distinct_tags} hashtags)"
    if stats.plain_words == 0:
        return "hashtag-only post" if distinct_tags else "empty post"
    tags, words = len(stats.hashtags), stats.words
    if tags >= MIN_TAGS_FOR_SHARE and tags > MAX_HASHTAG_SHARE * words:
        return f"hashtag-stuffed post ({tags} of {words} words are hashtags)"
    return ""
