"""`Runs`: a fast `findall` for regexes that match runs of one class of characters.

Python's `re` pays for every character it tries; `str.split` and `str.isalpha` run in C.
For a pattern like `[^\\W\\d_]+` (runs of letters), ASCII characters outside the class become
spaces, the text is split on whitespace, and a token that passes `whole` (e.g. `str.isalpha`,
which must imply that every character is in the class) is one run; only the other tokens
(non-ASCII punctuation, say) go through the regex. The result is `regex.findall(text)`.
ASCII text is translated as bytes (several times faster), and its pieces are its runs.

`SplitText` splits a text into runs of letters and digits once, for every filter that reads
them: the cue check (cues.py) and, by `Runs.within`, language detection (language.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable


class Runs:
    def __init__(self, pattern: str, whole: Callable[[str], bool]):
        self.regex = re.compile(pattern)
        self.whole = whole
        char = re.compile(pattern.removesuffix("+"))
        self._gaps = {c: " " for c in range(128) if not char.fullmatch(chr(c))}
        # The same for ASCII text as bytes, which translate several times faster.
        self._ascii_gaps = bytes(32 if c in self._gaps else c for c in range(256))

    def findall(self, text: str, limit: int | None = None) -> list[str]:
        """`self.regex.findall(text)[:limit]`."""
        pieces = self.pieces(text)
        return pieces[:limit] if text.isascii() else self.within(pieces, limit)

    def pieces(self, text: str) -> list[str]:
        """text split at whitespace and ASCII characters outside the class: runs, or pieces
        with other characters that `within` splits further (none, for ASCII text)."""
        if text.isascii():
            return text.encode().translate(self._ascii_gaps).decode().split()
        return text.translate(self._gaps).split()

    def within(self, tokens: list[str], limit: int | None = None) -> list[str]:
        """`self.findall(" ".join(tokens), limit)` for tokens without whitespace, such as the
        runs of a wider class (those of `ALNUM` hold every run of letters)."""
        if all(map(self.whole, tokens)):
            return tokens[:limit]
        runs: list[str] = []
        for token in tokens:
            if self.whole(token):
                runs.append(token)
            else:
                runs += self.regex.findall(token)
            if limit is not None and len(runs) >= limit:
                break
        return runs[:limit]


ALNUM = Runs(r"[^\W_]+", str.isalnum)  # runs of letters and digits
LETTERS = Runs(r"[^\W\d_]+", str.isalpha)  # runs of letters


class SplitText:
    """A text, lower-cased, and its runs of letters and digits (`ALNUM`), split when first
    read: the cue check and language detection of an item share them."""

    __slots__ = ("text", "lower", "_runs", "_letters")

    def __init__(self, text: str):
        self.text = text
        self.lower = text.lower()
        self._runs: list[str] | None = None
        self._letters = False  # every run is a run of letters

    @property
    def runs(self) -> list[str]:
        """`ALNUM.findall(self.lower)`."""
        if self._runs is None:
            lower = self.lower
            pieces = ALNUM.pieces(lower)
            if lower.isascii():  # the pieces are runs, of letters only when there is no digit
                self._letters = not any(digit in lower for digit in "0123456789")
                self._runs = pieces
            else:
                self._letters = all(map(str.isalpha, pieces))  # one check tells both
                self._runs = pieces if self._letters else ALNUM.within(pieces)
        return self._runs

    def letter_runs(self, limit: int | None = None) -> list[str]:
        """`LETTERS.findall(self.lower, limit)`."""
        runs = self.runs
        if self._letters:
            return runs[:limit]
        if self.lower.isascii():
            return LETTERS.findall(self.lower, limit)
        return LETTERS.within(runs, limit)
