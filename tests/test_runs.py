"""`Runs.findall` is `regex.findall`, for the run patterns the filters use."""

from __future__ import annotations

import random

import pytest

from pln.filters.cues import RUNS
from pln.filters.language import WORDS
from pln.filters.runs import SplitText

ALPHABET = (
    "ab Cd\u00e9\u00df1_2.,;'-#@\u00bd\u00b2\u0663\u2028\u00a0\t\n\u2019\u00abThe d\u00e9j\u00e0 "
    "\u4e2d\u6587 x\u0301 \U0001f44d\u0130"
)
ASCII = "".join(map(chr, range(128))) + "abc DEF 123 "  # every ASCII character, control ones too


@pytest.mark.parametrize("alphabet", [ALPHABET, ASCII], ids=["any", "ascii"])
@pytest.mark.parametrize("runs", [WORDS, RUNS], ids=["letters", "letters+digits"])
def test_runs_find_what_the_regex_finds(runs, alphabet):
    """Also on ASCII text, which is split as bytes: every ASCII character, control ones too."""
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert runs.findall(text) == runs.regex.findall(text), repr(text)
        assert runs.findall(text, 3) == runs.regex.findall(text)[:3], repr(text)


@pytest.mark.parametrize("alphabet", [ALPHABET, ASCII], ids=["any", "ascii"])
def test_split_text_shares_the_runs_of_both_patterns(alphabet):
    rng = random.Random(11)
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        split = SplitText(text)
        assert split.runs == RUNS.regex.findall(text.lower()), repr(text)
        assert split.letter_runs() == WORDS.regex.findall(text.lower()), repr(text)
        assert split.letter_runs(3) == WORDS.regex.findall(text.lower())[:3], repr(text)
