"""Phrases and hashtags a topic lacks, from the items you want against the rest of the store.

Each word, two-word phrase (by lower-cased lemma, stop words left out) and hashtag is counted
once per item, in the wanted items (labelled + or kept for the topic, not labelled -) and in
the rest. Terms are ranked by the z-score of their log-odds ratio with an informative
Dirichlet prior (Monroe, Colaresi & Quinn 2008): frequent in the wanted items, rare elsewhere,
not already a phrase or hashtag of the topic, and not made only of everyday English words. A thin
topic grows by adding the best ones.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import math
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from spacy.language import Language

from pln.filters.quality import scan
from pln.filters.topics import TopicRule
from pln.record import Item

MIN_COUNT = 2  # wanted items a term must appear in
PRIOR = 10.0  # strength of the Dirichlet prior, in pseudo-items


@dataclass(frozen=True, slots=True)
class TermSuggestion:
    term: str  # as people write it: "flashcards", "#edtech"
    in_topic: int  # wanted items with the term
    elsewhere: int  # other items with it
    z: float  # log-odds z-score
    # The other topic whose kept items have the term most often, and in how many: a word
    # typical of two topics puts texts in the wrong one when added to either.
    also: tuple[str, int] | None = None


@dataclass
class PhraseSuggestions:
    topic: str
    wanted: int  # items the suggestions come from
    rest: int
    phrases: list[TermSuggestion] = field(default_factory=list)
    hashtags: list[TermSuggestion] = field(default_factory=list)
    # For `none`: terms of items you labelled - that no wanted item has. Here `in_topic`
    # counts those - items and `elsewhere` is 0.
    exclusions: list[TermSuggestion] = field(default_factory=list)
    unwanted: int = 0  # items labelled - the exclusions come from


def _terms(nlp: Language, items: Sequence[Item], forms: dict[str, Counter]) -> list[set[str]]:
    """Per item: its set of terms (norm unigrams and bigrams, "#tag"s); `forms` collects how
    each term is written."""
    out = []
    for item, doc in zip(items, nlp.pipe(it.nlp_text for it in items), strict=True):
        words = [t for t in doc if t.is_alpha and not t.is_stop]
        terms = set()
        for i, tok in enumerate(words):
            terms.add(tok.norm_)
            forms.setdefault(tok.norm_, Counter())[tok.lower_] += 1
            if i + 1 < len(words) and words[i + 1].i == tok.i + 1:
                key = f"{tok.norm_} {words[i + 1].norm_}"
                terms.add(key)
                forms.setdefault(key, Counter())[f"{tok.lower_} {words[i + 1].lower_}"] += 1
        tags = set(scan(item.nlp_text).hashtags) | set(item.hashtags)
        terms.update(f"#{t.lower()}" for t in tags)
        out.append(terms)
    return out


def suggest_phrases(
    nlp: Language,
    wanted: Sequence[Item],
    rest: Sequence[Item],
    rule: TopicRule,
    n: int = 15,
    others: Mapping[str, Collection[str]] | None = None,
    unwanted: Collection[str] = frozenset(),
) -> PhraseSuggestions:
    """The topic's best `n` phrases and hashtags; `others`: the ids of the items each other
    topic keeps, to say which other topic a suggestion is also typical of (`also`);
    `unwanted`: the ids of the items of `rest` labelled - for the topic, for `exclusions`."""
    forms: dict[str, Counter] = {}
    wanted_terms, rest_terms = _terms(nlp, wanted, forms), _terms(nlp, rest, forms)
    mine = Counter(t for terms in wanted_terms for t in terms)
    other = Counter(t for terms in rest_terms for t in terms)
    covered = {" ".join(t.norm_ for t in doc) for doc in nlp.pipe(rule.phrases)}
    tags = {f"#{t}" for t in rule.hashtags}
    n_mine, n_other = max(len(wanted), 1), max(len(rest), 1)
    out = PhraseSuggestions(rule.id, len(wanted), len(rest))
    # Everyday English words are no phrase on their own: "week", "people", "new" are in a
    # topic's items more often than elsewhere in a small store, and match everything once
    # added. A two-word phrase stays when one of its words is not everyday English.
    common = common_words()
    for term, y in mine.items():
        if y < MIN_COUNT or term in tags or _overlaps(term, covered):
            continue
        if _everyday(term, forms, common):
            continue
        r = other.get(term, 0)
        z = _log_odds_z(y, r, n_mine, n_other)
        if z <= 1.0:
            continue
        (out.hashtags if term.startswith("#") else out.phrases).append(
            TermSuggestion(term, y, r, round(z, 2))
        )
    ids = [it.id for it in (*wanted, *rest)]
    terms_of = dict(zip(ids, (*wanted_terms, *rest_terms), strict=True))
    out.hashtags = [_finish(s, forms, terms_of, others or {}) for s in _best(out.hashtags, n)]
    # A phrase that is a hashtag of the topic, or one suggested here, says nothing new
    # ("lrnchat" beside #lrnchat; "spacedrepetition" when the topic has #SpacedRepetition).
    tagged = {t.lstrip("#") for t in tags} | {s.term.lstrip("#") for s in out.hashtags}
    phrases = [s for s in out.phrases if not {s.term, _written(s.term, forms)} & tagged]
    out.phrases = [_finish(s, forms, terms_of, others or {}) for s in _best(phrases, n)]
    bad = [terms_of[it.id] for it in rest if it.id in unwanted]
    out.unwanted = len(bad)
    words = [e for e in rule.topic.none if not e.startswith("#")]
    excluded = {" ".join(t.norm_ for t in doc) for doc in nlp.pipe(words)}
    excluded |= {e.lower() for e in rule.topic.none if e.startswith("#")}
    out.exclusions = _exclusions(bad, mine, len(wanted), covered | tags | excluded, forms, n)
    return out


def _exclusions(bad: list[set[str]], good: Counter, n_good: int, covered, forms, n: int):
    """Terms for the topic's `none`: in at least MIN_COUNT of the items labelled - for it
    (`bad`: near-misses that reuse its words) and in none of the wanted ones (`good`), so
    adding one keeps out such items without losing one you want; not a phrase or hashtag of
    the topic or in its `none` (`covered`), not only everyday English; "#tag"s too (`none`
    takes them). Ranked by the same log-odds z, the - items against the wanted ones."""
    counts = Counter(t for terms in bad for t in terms)
    common = common_words()
    found = []
    for term, y in counts.items():
        if y < MIN_COUNT or good.get(term) or _overlaps(term, covered):
            continue
        if _everyday(term, forms, common):
            continue
        z = _log_odds_z(y, 0, max(len(bad), 1), max(n_good, 1))
        if z > 1.0:
            found.append(TermSuggestion(term, y, 0, round(z, 2)))
    return [dataclasses.replace(s, term=_written(s.term, forms)) for s in _best(found, n)]


def _everyday(term: str, forms: dict[str, Counter], common: frozenset[str]) -> bool:
    """A word or phrase made only of everyday English words (never a "#tag")."""
    return not term.startswith("#") and all(w in common for w in _written(term, forms).split())


def _best(found: list[TermSuggestion], n: int) -> list[TermSuggestion]:
    """The `n` highest z, ties by term."""
    return sorted(found, key=lambda s: (-s.z, s.term))[:n]


def _log_odds_z(y: int, r: int, n_mine: int, n_other: int) -> float:
    """The z-score of a term's log-odds ratio, in y of n_mine items against r of n_other,
    with an informative Dirichlet prior of PRIOR pseudo-items (Monroe et al. 2008). A term in
    every item (a feed's footer) carries no signal: 0, where the formula divides by zero."""
    if y + r >= n_mine + n_other:
        return 0.0
    alpha = PRIOR * (y + r) / (n_mine + n_other)
    delta = math.log((y + alpha) / (n_mine + PRIOR - y - alpha)) - math.log(
        (r + alpha) / (n_other + PRIOR - r - alpha)
    )
    return delta / math.sqrt(1 / (y + alpha) + 1 / (r + alpha))


def _finish(found: TermSuggestion, forms, terms_of, others) -> TermSuggestion:
    """The suggestion as people write it, with the other topic it is also typical of."""
    term = found.term
    counts = {
        topic: sum(term in terms_of.get(item_id, ()) for item_id in ids)
        for topic, ids in others.items()
    }
    topic = max(counts, key=lambda t: (counts[t], t), default=None)
    also = (topic, counts[topic]) if topic is not None and counts[topic] >= MIN_COUNT else None
    return TermSuggestion(_written(term, forms), found.in_topic, found.elsewhere, found.z, also)


def _written(term: str, forms: dict[str, Counter]) -> str:
    """A term as people write it most often ("flashcards" for the norm "flashcard")."""
    return term if term.startswith("#") else forms[term].most_common(1)[0][0]


def _overlaps(term: str, covered: set[str]) -> bool:
    """term is a phrase of the topic, a part of one, or one with more words around it."""
    padded = f" {term} "
    return any(padded in f" {c} " or f" {c} " in padded for c in covered)


@functools.cache
def common_words() -> frozenset[str]:
    """The lower-case words of everyday English: those with a log probability above -10 in
    spacy-lookups-data's English `lexeme_prob` (empty without the table). The table's 1M entries
    are scanned as bytes for values of one digit before the point, which is 0.2 s and 60 MB
    against 0.8 s and 170 MB to load it as JSON."""
    try:
        import spacy_lookups_data

        path = spacy_lookups_data.__path__[0] + "/data/en_lexeme_prob.json.gz"
        with gzip.open(path) as table:
            data = table.read()
    except (ImportError, OSError, EOFError):
        return frozenset()
    return frozenset(w.decode() for w in _EVERYDAY.findall(data))


_EVERYDAY = re.compile(rb'"([a-z]+)": ?-\d\.')
