"""Cue words: which texts may match a topic phrase, decided before (or without) spaCy.

A token's norm is `table.get(lower, lower)` (`pln_lemma_norm_v1`, in every pipeline), so a
phrase can only start at a token whose lower-cased form maps to the norm of the phrase's first
word. Those forms are the cues; a text with none of them cannot match any
phrase, exactly, and needs no lemmatizer or matcher.

Two checks, cheapest first:

- `may_match_text`: on the raw text, without tokenizing. spaCy only splits a run of letters and
  digits (`[^\\W_]+`) in a few places: tokenizer exceptions ("cannot" -> "can", "not") and
  units or currencies after a number ("5km"). Every other token made only of letters and digits
  is a whole run, so the set of runs of the lower-cased text contains it. Cues that are not such
  a run (with an apostrophe, a dot, a hyphen), or that the tokenizer may split out of a longer
  run (found by asking the tokenizer), are looked up as substrings instead. Wrong only towards
  "may match", never the other way.
- `near` (and `to_parse`): on a tokenized doc, by LOWER hashes, exact.

A doc that may match still needs the lemmatizer and the matcher only near its cues: a match
starts at a cue and spans at most `span` tokens (the longest phrase), and the lookup lemmatizer
and norm give each token the same result whatever stands around it. `near` says which tokens
those windows hold; `part` (`to_parse`) cuts them out of a long doc as a small doc of their own.

Tested against spaCy's own tokenization in tests/test_cues.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import compress, islice, pairwise

from spacy.attrs import LOWER
from spacy.language import Language
from spacy.strings import get_string_id
from spacy.symbols import ORTH
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from pln.filters.lemma_words import lemma_table
from pln.filters.nlp import LEMMA_NORM
from pln.filters.runs import ALNUM, SplitText
from pln.filters.topics import DASHES

RUNS = ALNUM  # runs of letters and digits
RUN_RE = RUNS.regex
CHUNK = re.compile(r"\S+")  # what spaCy's tokenizer splits a text into first
_PROBES = ("1", "a", "A", "é")  # what may stand next to a cue inside a longer run


@dataclass(frozen=True, slots=True)
class Part:
    """The part of a doc to parse: `whole` itself, or the tokens near its cues as a doc of their
    own (`near`), whose token i is token `index[i]` of `whole`."""

    whole: Doc
    index: list[int] | None = None
    near: Doc | None = None

    @property
    def doc(self) -> Doc:
        return self.whole if self.near is None else self.near


class Cues:
    """The cue words of a set of phrase patterns; see the module doc."""

    def __init__(
        self,
        hashes: frozenset[int],
        words: frozenset[str] | None,
        risky: tuple[str, ...],
        span: int = 1,
        aside: int = 0,
        tokenizer: Tokenizer | None = None,
    ):
        self.hashes = hashes  # LOWER hashes of every cue
        self.span = span  # tokens of the longest phrase
        self.aside = aside  # tokens an aside in parentheses may add, in a text with a "("
        self.words = words  # cues that are whole runs, or None if their spellings are unknown
        self.substrings = risky  # cues looked up as substrings of the lower-cased text
        self._tokenizer = tokenizer  # whose special cases `joins` reads, when `ranges` needs it
        # A capital sigma lower-cases by what stands after it, which its token does not see
        # ("ΟΔΟΣ's" lower-cased whole holds "οδοσ", its token "ΟΔΟΣ" is "οδος"): a text with one
        # is parsed whenever a cue holds a sigma.
        self.sigma = any("σ" in w or "ς" in w for w in [*(words or ()), *risky])

    @classmethod
    def of(
        cls,
        nlp: Language,
        patterns: Iterable[Doc],
        extra_span: int = 0,
        first_forms: Sequence[frozenset[str] | None] | None = None,
    ) -> Cues | None:
        """The cues of `patterns` for nlp, or None when nlp's norms come from no lookup table
        (a language without one: every text is parsed). `extra_span`: tokens a match may hold
        beyond its pattern (an aside in parentheses). `first_forms`, one per pattern: the
        lower-cased words a match of it may start with, when the matcher takes only some words
        of its first norm (nlp.phrase_word_forms: "training", not "train"); None for every word
        with that norm."""
        if LEMMA_NORM not in nlp.pipe_names:
            return None
        norm = nlp.get_pipe(LEMMA_NORM)
        if norm.table is None:
            return None
        patterns = list(patterns)
        if first_forms is None:
            first_forms = [None] * len(patterns)
        pairs = [(doc, forms) for doc, forms in zip(patterns, first_forms, strict=True) if len(doc)]
        firsts = {doc[0].norm_ for doc, forms in pairs if forms is None}
        fixed = {word for _, forms in pairs if forms is not None for word in forms}
        span = max((len(doc) for doc, _ in pairs), default=1)
        table = norm.table
        own = {n for n in firsts if table.get(n, n) == n}  # words that are their own lemma
        spellings = _spellings(nlp.lang, firsts) | own
        if table is not lemma_table(nlp.lang):  # a pipeline's own Table, keyed by hashes
            hashes = {get_string_id(w) for w in own}
            hashes.update(key for key, lemma in table.items() if lemma in firsts)
            if {get_string_id(w) for w in spellings} != hashes:
                hashes.update(get_string_id(w) for w in fixed | _dashes(firsts))
                return cls(frozenset(hashes), None, (), span, extra_span)  # not the installed data
        spellings |= fixed | _dashes(firsts)  # words a norm of their own does not tell
        hashes = {get_string_id(w) for w in spellings}
        # LOWER is never a mixed-case key of the table ("B's").
        found = {w for w in spellings if w == w.lower()}
        split_out = _split_out(nlp, found)
        words = frozenset(w for w in found if RUN_RE.fullmatch(w) and w not in split_out)
        risky = tuple(sorted(found - words))
        return cls(frozenset(hashes), words, risky, span, extra_span, nlp.tokenizer)

    @cached_property
    def joins(self) -> frozenset[str]:
        """The character pairs a special case of the tokenizer may join across a space
        (`_joins`): read on first use (16-34 ms), since only long texts need them."""
        return frozenset() if self._tokenizer is None else _joins(self._tokenizer)

    def may_match_text(self, text: str) -> bool:
        """False only if no token of text (as nlp would split it) can start a phrase."""
        return self.may_match(SplitText(text))

    def may_match(self, split: SplitText) -> bool:
        """`may_match_text(split.text)`, from the runs already split."""
        if self.words is None or (self.sigma and "Σ" in split.text):
            return True
        if self.words and not self.words.isdisjoint(split.runs):
            return True
        return any(cue in split.lower for cue in self.substrings)

    def ranges(self, split: SplitText, asides: bool = False) -> list[tuple[int, int]] | None:
        """The parts of `split.text` that hold every phrase match, as (start, end) character
        ranges to tokenize instead of the whole text: from the start of each whitespace-separated
        chunk that holds a cue's spelling to the end of the `span` (+ `aside`) chunks after it,
        ranges that meet merged. None when the whole text is to be tokenized: its cues' spellings
        are unknown, lower-casing changed its length or depends on context (a capital sigma),
        or the ranges would hold half of it.

        Exact: spaCy splits a text at whitespace first and tokenizes each chunk alone, so a
        range gives the tokens the whole text gives there; every cue token is in a range with
        at least `span` tokens after it (each chunk gives one or more), so `near` on a range's
        tokens takes whole windows. But for one thing: spaCy then looks for its special cases
        in the tokens of the whole text, where one found across a single space (": )", never
        applied) keeps one inside a chunk next to it from being applied ("x' 'cause-and-effect"
        keeps "'", "cause"; "'cause-and-effect" alone gives "'cause"). So a range starts and
        ends only where no special case can span the space (`joins`)."""
        text, lower = split.text, split.lower
        # A capital sigma: see `sigma` (any cue may sit next to it).
        if self.words is None or len(lower) != len(text) or "Σ" in text:
            return None
        spellings = list(self.words.intersection(split.runs))
        spellings += [w for w in self.substrings if w in lower]
        chunks = self.span + (self.aside if asides else 0)
        joins = self.joins

        def joined(at: int) -> bool:
            """Whether a special case may span the single space before the chunk at `at`: the
            two tokens around it would end and start with these characters."""
            return (
                1 < at < len(text)
                and text[at - 1] == " "
                and not text[at - 2].isspace()
                and text[at - 2] + text[at] in joins
            )

        found: list[tuple[int, int]] = []
        for spelling in spellings:
            at = lower.find(spelling)
            while at >= 0:
                start = at
                while True:  # back to the chunk's start, and past chunks joined to it
                    while start and not text[start - 1].isspace():
                        start -= 1
                    if not joined(start):
                        break
                    start -= 2
                after = list(islice(CHUNK.finditer(text, at), chunks + 1))
                end = after[-1].end() if len(after) > chunks else len(text)
                while end < len(text) and joined(end + 1):  # and the chunk after
                    end = CHUNK.match(text, end + 1).end()
                found.append((start, end))
                # A later cue in the same chunk adds nothing: look past the chunk.
                at = lower.find(spelling, after[0].end() if after else at + 1)
        found.sort()
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                if end > merged[-1][1]:
                    merged[-1] = (merged[-1][0], end)
            else:
                merged.append((start, end))
        if sum(end - start for start, end in merged) * 2 > len(text):
            return None
        return merged

    def to_parse(self, doc: Doc, asides: bool = False) -> Part | None:
        """What of doc the rest of the pipeline needs: None when no token can start a phrase;
        else doc whole, or, when the tokens within `span` of a cue are less than half of doc,
        those tokens as a doc of their own (see `Part`).
        `asides`: the text has a "(", so a match may be `aside` tokens longer."""
        index = self.near(doc.to_array(LOWER).tolist(), asides)
        return None if index is None else self.part(doc, index)

    def near(self, lowers: list[int], asides: bool = False) -> list[int] | None:
        """The tokens (by their LOWER hashes) within `span` of a cue, in order: None when
        there is no cue, and when they are more than half of them, every token.

        Windows are merged where they meet; a match cannot run from one into the next,
        because each window holds the whole longest phrase from every cue inside it."""
        n = len(lowers)
        span = self.span + (self.aside if asides else 0)
        index: list[int] = []
        for at in compress(range(n), map(self.hashes.__contains__, lowers)):
            start = max(at, index[-1] + 1) if index else at
            index.extend(range(start, min(at + span, n)))
        if not index:
            return None
        return list(range(n)) if len(index) * 2 > n else index

    @staticmethod
    def part(doc: Doc, index: list[int]) -> Part:
        """The Part of doc to parse: its tokens `index` (from `near`)."""
        if len(index) == len(doc):
            return Part(doc)
        orths = doc.to_array(ORTH)[index].tolist()  # Doc takes string ids as words
        return Part(doc, index, Doc(doc.vocab, words=orths, spaces=[True] * len(orths)))


def _joins(tokenizer: Tokenizer) -> frozenset[str]:
    """The last and first characters of two tokens next to each other in a special case of
    the tokenizer as it looks for them in a doc (its text split without special cases): the
    only pairs of characters around a space that a special case can span."""
    bare = Tokenizer(
        tokenizer.vocab,
        rules={},
        prefix_search=tokenizer.prefix_search,
        suffix_search=tokenizer.suffix_search,
        infix_finditer=tokenizer.infix_finditer,
        token_match=tokenizer.token_match,
        url_match=tokenizer.url_match,
    )
    joins = set()
    for orth in tokenizer.rules:
        words = [token.text for token in bare(orth)]
        joins.update(a[-1] + b[0] for a, b in pairwise(words))
    return frozenset(joins)


def _dashes(firsts: set[str]) -> set[str]:
    """The typographic hyphens, when a phrase starts with "-" (their norm, see topics.DASHES)."""
    return set(DASHES) if "-" in firsts else set()


def _spellings(lang: str, lemmas: set[str]) -> set[str]:
    """Words the installed lookup data of lang maps to one of lemmas (strings: spaCy's table
    only keeps their hashes)."""
    return {word for word, lemma in lemma_table(lang).items() if lemma in lemmas}


def _split_out(nlp: Language, words: set[str]) -> set[str]:
    """Cues the tokenizer may cut out of a longer run of letters and digits: pieces of its
    special cases ("gonna" -> "gon", "na") and suffixes it splits after a digit ("5km")."""
    pieces = set()
    for orth, tokens in nlp.tokenizer.rules.items():
        if len(tokens) > 1 and RUN_RE.search(orth):
            pieces.update(str(token.get(ORTH, "")).lower() for token in tokens)
    risky = {w for w in words if w in pieces}
    for word in words - risky:
        for form in {word, word.upper(), word.title()}:
            for probe in _PROBES:
                for text in (probe + form, form + probe):
                    if any(t.lower_ == word for t in nlp.tokenizer(text)):
                        risky.add(word)
    return risky
