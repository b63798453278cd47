"""Load the spaCy pipeline the filters read, and make its tokens match by lower-cased lemma.

`load_nlp(NlpConfig)` understands two kinds of `nlp.pipeline`:

- `blank:<lang>` (default `blank:en`): a tokenizer and `pln_lemma_norm_v1`, which looks lemmas
  up in the table of the installed spacy-lookups-data package (never the network).
- an installed pipeline package or folder (`en_core_web_sm`): loaded with `spacy.load` without
  its parser, followed by `pln_lemma_norm_v1`; its NER fills `Item.entities`.

`pln_lemma_norm_v1` sets `token.norm_` to the lower-cased lemma, so a `PhraseMatcher(attr="NORM")`
finds "Learners" for "learner" and "spaced repetitions" for "spaced repetition". The lookup
table is case-sensitive ("Learners" stays "Learners"), so the component looks up the
lower-cased form itself.

Every pipeline matches by that table, a trained one too. A trained lemmatizer's lemma depends
on the part of speech its tagger guesses, and a phrase has no sentence to guess it from: with
en_core_web_sm, the phrase "spaced repetition" alone lemmatizes to "space repetition" and the
same words in "We push spaced repetition questions" to "spaced repetition", so they never
matched (nor "forgetting curve" in "The forgetting curve is a shape"). Switching to a trained
pipeline for its entities must not change which items a topic keeps.

Typographic hyphens count as "-": the tokenizer splits U+2010 (hyphen), U+2011 (non-breaking
hyphen) and U+2012 (figure dash) between letters as spaCy splits "-" (and the en dash), and
their norm, like the en dash's (U+2013), is "-": `e-learning` finds "e\u2010learning".

`phrase_word_forms` and `noun_forms` say which spellings a phrase word stands for when its
lemma would say too much (the curator checks them on the matches): a phrase word that is an
inflected form of its lemma ("training", lemma "train") means that form, not the lemma.
`is_abbreviation` tells which asides in parentheses a phrase may hold ("(P2P)", not "(not)").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy
import spacy
from spacy.attrs import LOWER, NORM
from spacy.lang.char_classes import ALPHA
from spacy.language import Language
from spacy.lookups import Table
from spacy.strings import StringStore
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span
from spacy.util import (
    compile_infix_regex,
    compile_prefix_regex,
    compile_suffix_regex,
)

from pln.config import NlpConfig
from pln.errors import ConfigError
from pln.filters.lemma_words import lemma_table
from pln.filters.topics import DASHES, regular_plural

LEMMA_NORM = "pln_lemma_norm_v1"  # spaCy forbids "." in factory names
TOKENIZER = "pln.tokenizer.v1"
PIPELINE_KEY = "nlp.pipeline"
_BLANK_META = "pln_blank"  # meta key marking pipelines built by _load_blank
_CACHE_LIMIT = 500_000  # distinct word forms remembered before the cache starts over
# Split like "-" between letters (spaCy's own infixes already split the en dash).
_DASH_INFIX = rf"(?<=[{ALPHA}0-9])[\u2010\u2011\u2012](?=[{ALPHA}])"


class LemmaNorm:
    """Sets `token.norm` to the lower-cased lemma of each token: the lemma of the lower-cased
    word from the `lemma_lookup` table (the pipeline's lemmatizer's, when it has one, else the
    installed spacy-lookups-data's). Words the table does not know keep their lower-cased form;
    the `DASHES` have the norm "-".
    """

    def __init__(self, nlp: Language):
        self.table: Mapping[str, str] | Table | None = None  # word -> lemma
        self._norms: dict[int, int] = {}  # lower hash -> norm hash

    def initialize(self, get_examples=None, *, nlp: Language | None = None) -> None:
        if nlp is None:
            return
        if "lemmatizer" in nlp.pipe_names:
            lookups = nlp.get_pipe("lemmatizer").lookups
            if lookups.has_table("lemma_lookup"):
                self.table = lookups.get_table("lemma_lookup")
                return
        # The installed data as a plain dict: a spaCy Table of it would hash all 41,582 words
        # again (60 ms of every start), and the dict is loaded anyway (lemma_words).
        self.table = lemma_table(nlp.lang) or None

    def __call__(self, doc: Doc) -> Doc:
        if not len(doc):
            return doc
        out = self.lookup_norms(doc.to_array(LOWER).tolist(), doc.vocab.strings)
        # One array write instead of a Python attribute write per token.
        doc.from_array([NORM], numpy.array(out, dtype=numpy.uint64).reshape(-1, 1))
        return doc

    def lookup_norms(self, lowers: list[int], strings: StringStore) -> list[int]:
        """The norms of tokens by their LOWER hashes: what `__call__` sets, for a caller that
        has no doc of those tokens."""
        norms = self._bounded_cache()
        out = list(map(norms.get, lowers))  # most words were seen before
        if None in out:
            out = [
                self._lookup(strings, lower) if norm is None else norm
                for lower, norm in zip(lowers, out, strict=True)
            ]
        return out

    def _bounded_cache(self) -> dict[int, int]:
        if len(self._norms) > _CACHE_LIMIT:
            self._norms.clear()
        return self._norms

    def _lookup(self, strings: StringStore, lower: int) -> int:
        """The norm of a word first seen (by its LOWER hash), remembered."""
        word = strings[lower]
        if word in DASHES:
            word = "-"
        elif self.table is not None:
            word = self.table.get(word, word)
        norm = self._norms[lower] = strings.add(word)
        return norm


@Language.factory(LEMMA_NORM)
def make_lemma_norm(nlp: Language, name: str) -> LemmaNorm:
    return LemmaNorm(nlp)


@spacy.registry.tokenizers(TOKENIZER)
def make_tokenizer() -> Callable[[Language], Tokenizer]:
    """spaCy's default tokenizer for the language, without the whitespace special cases (see
    `_cache_whitespace`). Built so from the start: replacing the rules of a built tokenizer
    loads all of them again (2,700 for English, 0.1 s of every start)."""

    def build(nlp: Language) -> Tokenizer:
        defaults = nlp.Defaults
        rules = {
            text: tokens
            for text, tokens in (defaults.tokenizer_exceptions or {}).items()
            if text.strip()
        }
        prefixes, suffixes = defaults.prefixes, defaults.suffixes
        infixes = [*(defaults.infixes or ()), _DASH_INFIX]
        return Tokenizer(
            nlp.vocab,
            rules=rules,
            prefix_search=compile_prefix_regex(prefixes).search if prefixes else None,
            suffix_search=compile_suffix_regex(suffixes).search if suffixes else None,
            infix_finditer=compile_infix_regex(infixes).finditer if infixes else None,
            token_match=defaults.token_match,
            url_match=defaults.url_match,
        )

    return build


def load_nlp(cfg: NlpConfig | str = "blank:en", *, entities: bool = True) -> Language:
    """The spaCy pipeline named by `nlp.pipeline`, ready for `nlp.pipe` and NORM matching.

    Of an installed pipeline, only what pln reads runs: with `entities`, the components that
    set `doc.ents` and what they need (`_entity_components`); without, none at all (its
    tokenizer and vectors stay), for commands that decide without storing items. Nothing
    pln decides depends on the others, since every pipeline matches by the lookup lemmas.

    Raises ConfigError (one line, naming the pipeline and how to get it) when it is unknown.
    """
    name = (cfg if isinstance(cfg, str) else cfg.pipeline).strip()
    if name.startswith("blank:"):
        return _load_blank(name, name.removeprefix("blank:").strip())
    return _load_installed(name, entities)


def _load_blank(name: str, lang: str) -> Language:
    if not lang:
        raise _error(name, "names no language; use e.g. 'blank:en'")
    try:
        nlp = spacy.blank(lang, config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}})
    except (ImportError, KeyError, ValueError) as exc:
        raise _error(name, f"spaCy cannot build language {lang!r}: {_first_line(exc)}") from None
    # No spaCy lemmatizer: nothing reads token.lemma here; pln_lemma_norm_v1 looks lemmas up
    # in the same table (or keeps lower-cased words for a language without one).
    nlp.add_pipe(LEMMA_NORM)
    nlp.get_pipe(LEMMA_NORM).initialize(nlp=nlp)
    nlp.meta[_BLANK_META] = name
    return nlp


def _cache_whitespace(nlp: Language) -> None:
    """Drop an installed pipeline's special cases for whitespace ("\n", "\t", ...), which
    split exactly as the plain rules do (the blank pipeline is built without them).

    spaCy stops caching a doc's words after its first special case, so every text with a
    newline (title, then body) was tokenized word by word from there on: about 17x slower.
    The cases that set a NORM ("\xa0") stay, since a trained model reads it.
    """
    rules = nlp.tokenizer.rules or {}
    drop = {
        text
        for text, tokens in rules.items()
        if not text.strip() and not any(NORM in t for t in tokens)
    }
    if drop:
        nlp.tokenizer.rules = {k: v for k, v in rules.items() if k not in drop}


def _split_dashes(nlp: Language) -> None:
    """Let an installed pipeline's tokenizer split the typographic hyphens as the blank one
    does (see `_DASH_INFIX`), when its infixes are one regular expression."""
    finditer = nlp.tokenizer.infix_finditer
    pattern = getattr(getattr(finditer, "__self__", None), "pattern", None)
    if isinstance(pattern, str):
        nlp.tokenizer.infix_finditer = re.compile(f"{pattern}|{_DASH_INFIX}").finditer
    elif finditer is None:
        nlp.tokenizer.infix_finditer = re.compile(_DASH_INFIX).finditer


def _load_installed(name: str, entities: bool) -> Language:
    if not name:
        raise _error(name, "is empty; use 'blank:en' or an installed pipeline like en_core_web_sm")
    if not (spacy.util.is_package(name) or Path(_expand(name)).is_dir()):
        if "/" in name or name.startswith((".", "~")):  # meant as a folder
            raise _error(
                name, "is not a folder (a saved pipeline): check the path, or use 'blank:en'"
            )
        raise _error(
            name,
            "is not installed: check the name, install its package (one of spaCy's own: "
            f"python -m spacy download {name}), or use 'blank:en'",
        )
    try:
        nlp = spacy.load(_expand(name), exclude=["parser", *([] if entities else _listed(name))])
    except (OSError, ValueError, ImportError, TypeError, AttributeError) as exc:
        # TypeError, AttributeError: a package that is not a pipeline ("spacy" itself)
        raise _error(name, f"cannot be loaded: {_first_line(exc)}") from None
    needed = _entity_components(nlp) if entities else set()
    for unused in [n for n in nlp.pipe_names if n not in needed]:
        nlp.disable_pipe(unused)
    _cache_whitespace(nlp)
    _split_dashes(nlp)
    nlp.add_pipe(LEMMA_NORM)  # the lookup lemmas, as blank pipelines match (module doc)
    nlp.get_pipe(LEMMA_NORM).initialize(nlp=nlp)
    return nlp


def _listed(name: str) -> list[str]:
    """The components a saved pipeline's meta.json lists, so that none of them is loaded."""
    folder = Path(_expand(name))
    if not folder.is_dir():
        folder = spacy.util.get_package_path(name)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        return [str(n) for n in meta.get("components") or meta.get("pipeline") or ()]
    except (OSError, ValueError, AttributeError):
        return []  # then they are loaded, and disabled


def _entity_components(nlp: Language) -> set[str]:
    """The components `doc.ents` needs: those that set it, the ones assigning what they
    require, and the embedding layers they listen to (a tagger, a lemmatizer or a tok2vec
    only the tagger listens to is not needed: en_core_web_sm annotated the 434 example items
    in 1.1 s instead of 2.1 s, with the same entities). A rule-based one (an entity ruler) may
    match any token attribute, so everything before it stays."""
    names = nlp.pipe_names
    needed = {n for n in names if "doc.ents" in nlp.get_pipe_meta(n).assigns}
    rulers = [i for i, n in enumerate(names) if n in needed and _is_ruler(nlp, n)]
    if rulers:
        return needed | set(names[: max(rulers)])
    while True:
        more = set(needed)
        for n in needed:
            for attr in nlp.get_pipe_meta(n).requires:
                more |= {m for m in names if attr in nlp.get_pipe_meta(m).assigns}
        for m in names:
            if needed & set(getattr(nlp.get_pipe(m), "listening_components", ()) or ()):
                more.add(m)
        if more == needed:
            return needed
        needed = more


def _is_ruler(nlp: Language, name: str) -> bool:
    return nlp.get_pipe_config(name).get("factory") == "entity_ruler"


def _lookup_table(nlp: Language) -> Mapping[str, str] | Table | None:
    if LEMMA_NORM not in nlp.pipe_names:
        return None
    return nlp.get_pipe(LEMMA_NORM).table


def _plurals(word: str) -> tuple[str, ...]:
    """Regular English plurals word may have (the lookup table tells which it has)."""
    out = [word + "s", word + "es"]
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        out.append(word[:-1] + "ies")
    if word.endswith("is"):
        out.append(word[:-2] + "es")  # analysis -> analyses
    return tuple(out)


def _number_forms(table: Mapping[str, str] | Table, word: str) -> set[str]:
    """word and the plurals the lookup table gives it (trainings -> training)."""
    return {word, *(p for p in _plurals(word) if table.get(p, p) == word)}


def phrase_word_forms(nlp: Language, word: str) -> frozenset[str] | None:
    """The lower-cased spellings a phrase word matches, or None when it matches every word
    of its lemma.

    A word that is its own lemma ("mentor", "design", "podcast") names the whole family:
    it matches every form the lookup table gives that lemma ("mentors", "mentoring",
    "designed"), since those share its sense. A word that is an inflected form of another
    ("training" of "train", "learning" of "learn", "spaced" of "space") is the form the
    topic chose, often a noun of its own: it matches itself and its plural ("trainings"),
    never "train" or "trained". A regular plural ("communities", "days") is its singular's
    number too: it matches the singular and its plurals as well. (A last word the table does
    not know has its regular plural as a pattern of its own: `topics.unknown_plurals`.)

    None as well for a language the lookup data has no table for (every word its own lemma).
    """
    table = _lookup_table(nlp)
    word = word.lower()
    if table is None or not word.isalpha():
        return None
    lemma = table.get(word, word)
    if lemma == word:
        return None
    forms = _number_forms(table, word)
    if word in _plurals(lemma):
        forms |= _number_forms(table, lemma)
    return frozenset(forms)


def noun_forms(nlp: Language, word: str) -> frozenset[str]:
    """The spellings a derived noun of a variant matches ("design" of `learning designer`):
    the noun and its plural, never the verb forms of its lemma ("designed")."""
    word = word.lower()
    table = _lookup_table(nlp)
    forms = _number_forms(table, word) if table is not None else {word}
    if len(forms) == 1 and word.isalpha():  # the table does not know it: the regular plural
        forms.add(regular_plural(word))
    return frozenset(forms)


_JOINERS = str.maketrans(dict.fromkeys("&/+-.", ""))


def is_abbreviation(aside: Span) -> bool:
    """Whether the words of an aside in parentheses look like an abbreviation, which a phrase
    may hold between two of its words ("peer-to-peer (P2P) learning"): one word, or words
    joined by "&", "/", "+", "-" or "." ("L&D", "AI/ML", "K-12"), with two capitals or more
    (or a capital and a digit), no more small letters than capitals ("MOOCs", "PhD") and no
    stop word ("NOT", "IT"). Asides in small letters ("(not)", "(and other)", "(e-learning)")
    are words that may change what the phrase says."""
    upper = lower = digits = 0
    after_word = False
    for token in aside:
        core = token.text.translate(_JOINERS)
        if not core:
            after_word = False
            continue
        if after_word or token.is_stop or not core.isalnum():
            return False
        after_word = True
        upper += sum(c.isupper() for c in core)
        lower += sum(c.islower() for c in core)
        digits += sum(c.isdigit() for c in core)
    return (upper >= 2 or (upper >= 1 and digits >= 1)) and lower <= upper


def vector_width(nlp: Language) -> int:
    """The width of nlp's word vectors; 0 when it has none."""
    vectors = nlp.vocab.vectors
    return int(vectors.shape[1]) if vectors.shape[0] else 0


def pipeline_version(nlp: Language) -> str:
    """What produced the annotations, for Decision.model_version: 'en_core_web_sm 3.8.0'."""
    meta = nlp.meta
    if meta.get(_BLANK_META):
        return f"{meta[_BLANK_META]} (spacy {spacy.__version__})"
    return f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')} {meta.get('version', '')}"


def _expand(name: str) -> str:
    return str(Path(name).expanduser()) if name.startswith("~") else name


def _error(name: str, message: str) -> ConfigError:
    return ConfigError("config", PIPELINE_KEY, f"spaCy pipeline {name!r} {message}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
