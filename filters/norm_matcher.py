"""`NormMatcher`: what a `PhraseMatcher(attr="NORM")` finds, read from a list of token norms.

With the blank pipeline a token's norm is a lookup of its lower-cased form (`pln_lemma_norm_v1`
in lookup mode), so the curator can match the tokens near a text's cues (cues.py) from their
LOWER hashes alone: no Doc of those tokens to build, no norms to write into it, no matcher to
call. The matches are the matcher's, in its order: by start, shorter first, and at one span in
the order the matcher keeps the ids of patterns with the same norms (read from the matcher at
setup, by matching each pattern).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import compress

from spacy.attrs import NORM
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

Match = tuple[int, int, int]  # (match id, start, end), as the PhraseMatcher gives them


class NormMatcher:
    """The matches of `matcher` (on NORM, holding `patterns`) in a sequence of norms."""

    def __init__(self, matcher: PhraseMatcher, patterns: Iterable[Doc]):
        ids: dict[tuple[int, ...], list[int]] = {}  # a pattern's norms -> its match ids
        for doc in patterns:
            key = tuple(doc.to_array(NORM).tolist())
            if key and key not in ids:
                ids[key] = [m for m, start, end in matcher(doc) if (start, end) == (0, len(key))]
        self._ids = ids
        self._firsts = frozenset(key[0] for key in ids)
        self._prefixes = frozenset(key[:n] for key in ids for n in range(1, len(key)))
        self._longest = max(map(len, ids), default=0)

    def __call__(self, norms: list[int]) -> list[Match]:
        """`matcher(doc)` for a doc whose tokens have these norms."""
        ids, prefixes, n = self._ids, self._prefixes, len(norms)
        found: list[Match] = []
        for start in compress(range(n), map(self._firsts.__contains__, norms)):
            for end in range(start + 1, min(start + self._longest, n) + 1):
                key = tuple(norms[start:end])
                if key in ids:
                    found += [(match, start, end) for match in ids[key]]
                if key not in prefixes:  # no longer pattern starts so
                    break
        return found
