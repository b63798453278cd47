"""How one topic scores one item, with a reason a person can read.

Rules, in the order they apply (cheap first):
1. Scope: an item from a source outside `sources`, or in a known language outside `languages`,
   gets no decision. Items whose language is unknown ("") stay in scope.
2. `none`: any match -> score 0, "excluded by 'x'".
3. `must`: every entry must match, else score 0, "missing required 'x'".
4. `any`: at least one entry must match (when given), else score 0, "needs one of 'a', 'b'".
5. Score from the evidence (below); `boost_authors` add +0.2 when there is evidence.
6. `block_authors` or a quality problem: not kept whatever the score ("blocked author @x").
7. kept = score >= threshold.

Matching: phrases (from `phrases`, `must`, `any`, `none`) match by lower-cased lemma, so
"Spaced Repetitions" matches 'spaced repetition' (marked "(lemma)" in the reason when the words
differ from the phrase as written); a phrase word that is an inflected form keeps its form
('training' matches "trainings", not "train": nlp.phrase_word_forms), a last word the lemma
table does not know matches its regular plural ('microlearning' matches "microlearnings":
`unknown_plurals`), and typographic hyphens count as "-". A multi-word phrase also matches hyphenated
("spaced-repetition"), with an abbreviation in parentheses between its words ("peer-to-peer
(P2P) learning", not "(not)": nlp.is_abbreviation), and in the forms of `variants`
("elearning" for "e-learning", "instructional designers" for "instructional design"; marked
"(variant)"). Entries of must/any/none written "#tag" match hashtags. Hashtags are the item's
tags plus #tags in its text; a topic's hashtags are its `hashtags` plus each phrase written as
one word ('spaced repetition' -> #spacedrepetition). A phrase inside a #tag counts as that
hashtag, not as a phrase mention; words matched by two phrases (a phrase inside a longer one,
or a plural listed beside its singular) count once, for the longer phrase.

Score: with evidence E = sum over matched phrases of their hits' weights + 0.75 per matched
hashtag, where a phrase's hits weigh 1.0 (1.5 in the title) and repeated hits of one phrase
halve each time (sorted heaviest first: w1 + w2/2 + w3/4 ...), so one phrase can add at most 3:

    score = 1 - exp(-E)        (+ 0.2 for a boosted author, capped at 1)

One mention scores 0.63, one hashtag 0.53, a mention plus a hashtag 0.83, a title mention 0.78,
two mentions of one phrase 0.78, two different phrases 0.86.

Model: when a model trained on your labels (`pln train`, classifier.py) covers the topic, the
score after rules 1-5 is the model's calibrated probability p that you would call the item
relevant, and the threshold is a probability too. The model reads the item's words and the
rules score r above, so it can keep an item no phrase matched (when p >= threshold) and sink
a near-miss a phrase matched. `none`, `must`, `any`, scope, blocked authors and quality
problems still rule an item out whatever the model says. The reason shows both parts and the
labelled item the text is most like: "matched 'spaced repetition'; rules 0.63, model 0.91, most
like your + 'Flashcards spread across weeks…' (0.42) (model v3); threshold 0.5".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pln.config import TopicConfig
from pln.filters.lemma_words import lookup_words
from pln.record import Decision, Item

# How evidence is found and scored. v2 (3 December 2026): an inflected phrase word keeps its
# meaning ("training" no longer matches "train"), typographic hyphens, derived forms around
# asides. v3 (3 December, night): plurals the lemma table lacks ("microlearnings"), only
# abbreviations skipped as asides, prefixes split off only before a known word. v4 (6 December):
# a trained pipeline matches by the lookup lemmas too (filters/nlp.py). A store scored by
# another version is due a rescore (pipelines/scoring_state.py).
SCORER_VERSION = "pln-score.v4"
W_PHRASE = 1.0
W_HASHTAG = 0.75
TITLE_FACTOR = 1.5
REPEAT_DECAY = 0.5
AUTHOR_BOOST = 0.2

_NOT_WORD = re.compile(r"[\W_]+")


# Typographic hyphens (U+2010-2012) and the en dash: "-" to phrases and, as norms, to spaCy
# (nlp.py), so that `e-learning` finds "e\u2010learning".
DASHES = frozenset("\u2010\u2011\u2012\u2013")
_HYPHENS = str.maketrans(dict.fromkeys(map(ord, DASHES), "-"))


def phrase_key(phrase: str) -> str:
    """How a phrase is named in matches and reasons: lower case, single spaces (hyphens,
    typographic ones too, are spaces)."""
    return " ".join(phrase.lower().translate(_HYPHENS).replace("-", " ").split())


def is_phrase(text: str, key: str) -> bool:
    """`phrase_key(text) == key`, for a phrase key: most often text is key in some case."""
    return text.lower() == key or phrase_key(text) == key


def as_hashtag(phrase: str) -> str:
    """The phrase written as one hashtag word: 'Spaced repetition' -> 'spacedrepetition'."""
    return _NOT_WORD.sub("", phrase.lower())


@dataclass(frozen=True, slots=True)
class PhraseHit:
    """One place a phrase matched."""

    start: int = 0  # token span, so one span matched by two phrases counts once
    end: int = 0
    in_title: bool = False
    exact: bool = True  # the words as written in the topic (ignoring case and hyphens)
    variant: bool = False  # another spelling or form of the phrase (see `variants`)
    in_hashtag: bool = False  # the phrase is the word of a #tag ("#microlearning")


@dataclass(frozen=True)
class Evidence:
    """What the matching found in one item, shared by all topics."""

    phrase_hits: Mapping[str, Sequence[PhraseHit]] = field(default_factory=dict)
    hashtags: frozenset[str] = frozenset()  # item.hashtags and #tags in the text
    quality: str = ""  # a quality problem ("link-only post"), or ""
    votes: Mapping[str, ClassifierVote] = field(default_factory=dict)  # topic id -> vote


@dataclass(frozen=True, slots=True)
class ClassifierVote:
    """What the trained model says about an item for one topic, before the rules join in."""

    margin: float  # log-odds from everything but the rules score (classifier.py)
    model: str  # the model version, as reasons show it: "v3"
    rule_weights: tuple[float, float] = (4.0, 3.0)  # of (r - threshold if matched, matched)
    why: str = ""  # what the item is most like, for the reason

    def probability(self, rules: float, threshold: float) -> float:
        """Calibrated probability that the item is relevant, given the rules score."""
        margin = self.margin
        if rules > 0:
            margin += self.rule_weights[0] * (rules - threshold) + self.rule_weights[1]
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, margin))))

    def describe(self, probability: float) -> str:
        why = f", {self.why}" if self.why else ""
        return f"model {probability:.2f}{why} (model {self.model})"


@dataclass(frozen=True, slots=True)
class Condition:
    """One entry of must / any / none: a phrase or a #tag."""

    label: str  # as shown in reasons: 'spaced repetition' or #lrnchat
    phrase: str = ""  # phrase key, when a phrase
    tag: str = ""  # the hashtag that also satisfies it
    written: str = ""  # the phrase as the topic wrote it

    @classmethod
    def parse(cls, entry: str) -> Condition:
        entry = entry.strip()
        if entry.startswith("#"):
            tag = entry.lstrip("#").lower()
            return cls(label=f"#{tag}", tag=tag)
        key = phrase_key(entry)
        written = " ".join(entry.lower().split())
        return cls(label=f"'{written}'", phrase=key, tag=as_hashtag(key), written=written)

    def met(self, evidence: Evidence) -> bool:
        if self.phrase and self.phrase in evidence.phrase_hits:
            return True
        return bool(self.tag) and self.tag in evidence.hashtags


class TopicRule:
    """One topic, compiled for scoring. Plain Python: picklable, no spaCy."""

    def __init__(self, topic: TopicConfig):
        self.topic = topic
        self.id = topic.id
        self.version = topic.version
        self.must = tuple(Condition.parse(e) for e in topic.must)
        self.any = tuple(Condition.parse(e) for e in topic.any)
        self.none = tuple(Condition.parse(e) for e in topic.none)
        written = [*topic.phrases, *(c.written for c in self.must + self.any + self.none)]
        self.forms: dict[str, set[str]] = {}  # phrase key -> the ways the topic wrote it
        self.labels: dict[str, str] = {}  # phrase key -> how reasons quote it ('micro-learning')
        for phrase in filter(None, written):
            form = " ".join(phrase.lower().split())
            self.forms.setdefault(phrase_key(phrase), set()).add(form)
            self.labels.setdefault(phrase_key(phrase), form)
        scoring = [phrase_key(p) for p in topic.phrases]
        scoring += [c.phrase for c in self.must + self.any if c.phrase]
        self.phrases = tuple(dict.fromkeys(p for p in scoring if p))
        tags = [t.lstrip("#").lower() for t in topic.hashtags]
        tags += [c.tag for c in self.must + self.any if c.tag and not c.phrase]
        tags += [as_hashtag(p) for p in self.phrases]
        self.hashtags = tuple(dict.fromkeys(t for t in tags if t))
        self._phrase_set, self._tag_set = frozenset(self.phrases), frozenset(self.hashtags)
        self.boost_authors = frozenset(_handle(a) for a in topic.boost_authors)
        self.block_authors = frozenset(_handle(a) for a in topic.block_authors)
        self.sources = frozenset(topic.sources)
        self.languages = frozenset(_primary_language(x) for x in topic.languages)

    @property
    def matcher_phrases(self) -> dict[str, set[str]]:
        """Every phrase key this topic needs the matcher to find, with the ways to write it:
        as written in the topic, with spaces, with hyphens, and in the plural when the lemma
        table does not know the last word (`unknown_plurals`)."""
        out = {}
        for key, forms in self.forms.items():
            written = forms | {key, key.replace(" ", "-")}
            out[key] = written | unknown_plurals(written)
        return out

    @property
    def matcher_variants(self) -> dict[str, set[str]]:
        """Every phrase key with its variants (see `variants`; in the plural too, as in
        `matcher_phrases`), which reasons mark as such."""
        out = {}
        for key, forms in self.forms.items():
            other = variants(key, forms)
            out[key] = other | unknown_plurals(other)
        return out

    @property
    def matcher_derived(self) -> dict[str, set[str]]:
        """The variants of `matcher_variants` whose last word is a derived noun (`derived`):
        the matcher takes that word as the noun only ("learning design", not "designed")."""
        return {
            key: derived(key, forms) & variants(key, forms) for key, forms in self.forms.items()
        }

    def scope_problem(self, source: str, lang: str, *, check_source: bool = True) -> str:
        """Why an item is outside this topic's scope, or ""."""
        if check_source and self.sources and source not in self.sources:
            return f"source {source!r} is not one of this topic's sources"
        lang = _primary_language(lang)
        if self.languages and lang and lang not in self.languages:
            return f"language {lang!r} is not one of {', '.join(sorted(self.languages))}"
        return ""

    def in_scope(self, source: str, lang: str) -> bool:
        if self.sources and source not in self.sources:
            return False
        return not (self.languages and lang) or _primary_language(lang) in self.languages

    def could_score(self, phrase_hits: Mapping[str, object], hashtags: frozenset[str]) -> bool:
        """False when none of this topic's phrases or tags is in the evidence (score 0)."""
        return not (self._phrase_set.isdisjoint(phrase_hits) and self._tag_set.isdisjoint(hashtags))

    def decide(
        self, item: Item, evidence: Evidence, model_version: str = "", source: str = ""
    ) -> Decision:
        """This topic's decision about item (score 0 when a rule rules it out); `source`:
        Decision.source."""
        reason = self._ruled_out(evidence)
        if reason:
            score = 0.0
        else:
            score, reason = self._score(item, evidence)
            vote = evidence.votes.get(self.id)
            if vote is not None:
                score, reason = _with_vote(score, reason, vote, self.topic.threshold)
        kept = False
        if score > 0:
            if self._blocks(item.author):
                reason = f"blocked author @{_handle(item.author)}; {reason}"
            elif evidence.quality:
                reason = f"quality: {evidence.quality}; {reason}"
            else:
                kept = score >= self.topic.threshold
                verdict = "threshold" if kept else "below threshold"
                reason = f"{reason}; {verdict} {self.topic.threshold:g}"
        return Decision(
            item_id=item.id,
            topic=self.id,
            score=score,
            kept=kept,
            reason=reason,
            topic_version=self.version,
            model_version=model_version,
            source=source,
        )

    def decide_lifted(
        self, item: Item, evidence: Evidence, relevance: float, why: str, model_version: str
    ) -> Decision | None:
        """Keep item for this topic on the model's lift (classifier.py: no topic kept it, and
        this is the topic it is most like), unless none / must / any, a blocked author or a
        quality problem rules it out. The score is the model's relevance."""
        if self._ruled_out(evidence) or self._blocks(item.author) or evidence.quality:
            return None
        rules, reason = self._score(item, evidence)
        vote = evidence.votes.get(self.id)
        if vote is not None:
            _, reason = _with_vote(rules, reason, vote, self.topic.threshold)
        return Decision(
            item_id=item.id,
            topic=self.id,
            score=relevance,
            kept=True,
            reason=f"{reason}; {why}; kept: no topic kept it",
            topic_version=self.version,
            model_version=model_version,
        )

    def _blocks(self, author: str) -> bool:
        return bool(self.block_authors) and _handle(author) in self.block_authors

    def _ruled_out(self, evidence: Evidence) -> str:
        """Why none / must / any rule the item out, or ""."""
        if self.none:
            excluded = [c.label for c in self.none if c.met(evidence)]
            if excluded:
                return f"excluded by {', '.join(excluded)}"
        if self.must:
            missing = [c.label for c in self.must if not c.met(evidence)]
            if missing:
                return f"missing required {', '.join(missing)}"
        if self.any and not any(c.met(evidence) for c in self.any):
            return f"needs one of {', '.join(c.label for c in self.any)}"
        return ""

    def _score(self, item: Item, evidence: Evidence) -> tuple[float, str]:
        """The rules score of the phrase and hashtag evidence, with its reason."""
        total, parts = 0.0, []
        for phrase, hits in self._counted_hits(evidence):
            total += _phrase_weight(hits)
            parts.append(_describe(self.labels[phrase], hits))
        if evidence.hashtags and not self._tag_set.isdisjoint(evidence.hashtags):
            for tag in self.hashtags:
                if tag in evidence.hashtags:
                    total += W_HASHTAG
                    parts.append(f"#{tag}")
        if total == 0.0:
            return 0.0, "no match"
        score = 1.0 - math.exp(-total)
        reason = f"matched {', '.join(parts)}"
        author = _handle(item.author) if self.boost_authors else ""
        if author and author in self.boost_authors:
            score = min(1.0, score + AUTHOR_BOOST)
            reason += f"; author @{author} in your PLN +{AUTHOR_BOOST:g}"
        return round(score, 3), reason

    def _counted_hits(self, evidence: Evidence) -> list[tuple[str, list[PhraseHit]]]:
        """This topic's phrase hits, in topic order, without hits inside #tags and without a
        hit whose span lies within a longer (or earlier) phrase's hit: 'practice' inside
        'retrieval practice', or 'communities of practice' listed beside its lemma."""
        matched = self._phrase_set.intersection(evidence.phrase_hits)
        if not matched:
            return []
        candidates = [
            (phrase, hit)
            for phrase in self.phrases
            if phrase in matched
            for hit in evidence.phrase_hits[phrase]
            if not hit.in_hashtag
        ]
        candidates.sort(key=lambda ph: ph[1].start - ph[1].end)  # longest first, stable
        taken: list[tuple[int, int]] = []
        counted: dict[str, list[PhraseHit]] = {}
        for phrase, hit in candidates:
            if any(s <= hit.start and hit.end <= e for s, e in taken):
                continue
            taken.append((hit.start, hit.end))
            counted.setdefault(phrase, []).append(hit)
        return [(p, counted[p]) for p in self.phrases if p in counted]


# One-word phrases that are a known prefix glued to a word: "elearning" <-> "e-learning".
PREFIXES = ("e", "m", "micro", "nano", "pre", "self")
MIN_REST = 4  # letters after the prefix ("self" + "ie" is no split of "selfie")


def variants(key: str, forms: set[str] = frozenset()) -> set[str]:
    """Other ways people write the phrase `key` (written as `forms`), matched by lemma too:

    - hyphenated words joined ("e-learning" -> "elearning") and a known prefix split off a
      one-word phrase ("elearning" -> "e-learning", "e learning") when the rest is a word
      (`prefixed`);
    - a multi-word phrase whose last word is its agent noun or back ("instructional design"
      -> "instructional designer(s)", "learning designer" -> "learning design",
      "facilitate learning" is left alone: only the last word changes). One-word phrases keep
      their meaning narrow: "trainer" alone would catch sports.
    """
    out: set[str] = set()
    for form in forms | {key}:
        if "-" in form:
            out.add(form.replace("-", ""))
    words = key.split()
    if len(words) == 1 and "-" not in next(iter(forms), key):
        prefix = max((p for p in PREFIXES if key.startswith(p)), key=len, default="")
        rest = key[len(prefix) :]
        if prefix and prefixed(key, rest):
            out.update({f"{prefix}-{rest}", f"{prefix} {rest}"})
    out |= derived(key, forms)
    return out - forms - {key, key.replace(" ", "-")}


def prefixed(word: str, rest: str) -> bool:
    """Whether word is a prefix glued to the word rest ("microlearning": "micro" +
    "learning"): rest has MIN_REST letters or more and is a word of the English lemma lookup
    table (lemma_words.lookup_words; no split without that data), and word is not one itself.
    "mentor", "education", "email" and "prerequisite" are words of their own, not "m" +
    "entor" or "e" + "mail"."""
    if len(rest) < MIN_REST or not rest.isalpha():
        return False
    words = lookup_words("en")
    return rest in words and word not in words


_LAST_WORD = re.compile(r"[^\W\d_]+$")


def regular_plural(word: str) -> str:
    """The plural of a noun by the regular rule: learners, coaches, communities."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def unknown_plurals(texts: Iterable[str]) -> set[str]:
    """The texts whose last word the English lemma table knows neither as a form nor as a
    lemma (nor its plural), with that word in the regular plural: "microlearning" ->
    "microlearnings", "customer onboarding" -> "customer onboardings". The table maps no
    plural to such a word, so matching by lemma would miss it. Words of fewer than 3 letters
    ("e", "ai") and words ending in "s" are left alone."""
    out = set()
    for text in texts:
        found = _LAST_WORD.search(text)
        word = found.group() if found else ""
        if len(word) < 3 or word.endswith("s"):
            continue
        plural, known = regular_plural(word), lookup_words("en")
        if word not in known and plural not in known:
            out.add(text[: found.start()] + plural)
    return out


def derived(key: str, forms: set[str] = frozenset()) -> set[str]:
    """A multi-word phrase with its last word as its agent noun or back (see `variants`), in
    each way the phrase is written, hyphens joined too: "peer-to-peer learning" ->
    "peer-to-peer learner", "peer to peer learner", "peertopeer learner"."""
    if len(key.split()) < 2:
        return set()
    out = set()
    written = forms | {key}
    for form in written | {form.replace("-", "") for form in written}:
        head, _, last = form.rpartition(" ")
        if head:
            out.update(f"{head} {word}" for word in _derivations(last))
    return out


def _derivations(word: str) -> set[str]:
    """The agent noun of a verb or noun and back: design <-> designer, facilitate <->
    facilitator, learning -> learner (the lemma 'learn' + 'er'). A participle ("paced",
    "blended") has none: "self paceder" is no word."""
    if not word.isalpha() or len(word) < 4 or word.endswith("ed"):
        return set()
    out = set()
    stem = word[:-3] if word.endswith("ing") and len(word) > 6 else word
    if stem.endswith("er") and len(stem) > 5:
        out.add(stem[:-2])
    elif stem.endswith("ator"):
        out.add(stem[:-2] + "e")
    elif stem.endswith("ate"):
        out.add(stem[:-1] + "or")
    elif stem.endswith("e"):
        out.add(stem + "r")
    else:
        out.add(stem + "er")
    return out - {word}


def _with_vote(
    rules: float, reason: str, vote: ClassifierVote, threshold: float
) -> tuple[float, str]:
    """The model's calibrated probability becomes the score (module docstring)."""
    p = round(vote.probability(rules, threshold), 3)
    said = vote.describe(p)
    if rules > 0:
        return p, f"{reason}; rules {rules:.2f}, {said}"
    if p < threshold:
        return 0.0, f"{reason}; {said}"
    return p, f"no phrase matched; {said}"


def _phrase_weight(hits: Sequence[PhraseHit]) -> float:
    weights = sorted((W_PHRASE * (TITLE_FACTOR if h.in_title else 1.0) for h in hits), reverse=True)
    return sum(w * REPEAT_DECAY**i for i, w in enumerate(weights))


def _describe(phrase: str, hits: Sequence[PhraseHit]) -> str:
    title = variant = False
    exact = True
    for hit in hits:  # one loop, not three: most phrases have one hit
        title = title or hit.in_title
        variant = variant or hit.variant
        exact = exact and hit.exact
    text = f"'{phrase}' ×{len(hits)}" if len(hits) > 1 else f"'{phrase}'"
    flags = ["title"] if title else []
    if variant:
        flags.append("variant")
    elif not exact:
        flags.append("lemma")
    return f"{text} ({', '.join(flags)})" if flags else text


def _handle(author: str) -> str:
    return author.strip().lstrip("@").lower()


def _primary_language(lang: str) -> str:
    return lang.strip().lower().replace("_", "-").split("-")[0]
