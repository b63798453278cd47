"""`Runs`: a fast `findall` for regexes that match runs of one class of characters.

Python's `re` pays for every character it tries; `str.split` and `str.isalpha` run in C.
For a pattern like `[^\\W\\d_]+` (runs of letters), ASCII characters outside the class become
spaces, the text is split on whitespace, and a token that passes `whole` (e.g. `str.isalpha`,
which must imply that every character is in the class) is one run; only the other tokens
(non-ASCII punctuation, say) go through the regex. The result is `regex.findall(text)`.
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

    def findall(self, text: str, limit: int | None = None) -> list[str]:
        """`self.regex.findall(text)[:limit]`."""
        tokens = text.translate(self._gaps).split()
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
