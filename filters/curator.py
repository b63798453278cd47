"""The filter chain: annotate a batch of items and decide, per topic, what to keep.

For each batch, cheap steps first:
1. drop in-batch duplicates (same id from the same source; the first one stays);
2. per item, without spaCy: count words, #tags and links; fill `canonical_url`; keep the topics
   whose scope includes the item (sources; languages when the item's language is known);
   note quality problems (quality.py);
3. cue check (cues.py): with no model and no NER (the default blank pipeline), a text none
   of whose words can be the first word of a topic phrase (by lemma table) skips spaCy: most
   are told apart on the raw text, the rest once tokenized; the rest of spaCy runs on the texts
   that may match (on typical streams most texts cannot), and in a long text only on the
   tokens after each cue that a phrase can span. With nothing but the tokenizer and the lookup
   norms in the pipeline, not even that: the matches are read from those tokens' norms
   (norm_matcher.py), as the phrase matcher would find them;
4. one `nlp.pipe` over the texts some topic needs (none for items without words), with one
   PhraseMatcher holding every topic's phrases, matched on NORM (lower-cased lemma; a phrase
   word that is an inflected form, "training", is then checked to be that form or its plural,
   `nlp.phrase_word_forms`; asides in parentheses are matched on the doc without them). From each
   doc: the item's language when it had none (stopwords, language.py), after which topics
   limited to other languages drop out; the phrase hits; entities when the pipeline has NER;
   the text margins of the trained model (classifier.py) for each topic it covers;
5. each remaining topic scores the evidence (topics.py); decisions with score 0 are left out.

`Curator` is cheap to build and to pickle; `setup()` loads spaCy and the models once per worker.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from spacy.attrs import LOWER, NORM
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.strings import get_string_id
from spacy.tokens import Doc

from pln.config import Config, NlpConfig, TopicConfig
from pln.errors import ConfigError
from pln.filters.classifier import Lift, ModelRef, Scorer, current_model, models_dir
from pln.filters.cues import Cues, Part
from pln.filters.dedup import canonical_url, text_fingerprint
from pln.filters.entities import entity_strings
from pln.filters.language import (
    MAX_WORDS,
    detect_language_split,
    detect_language_words,
    stopword_weights,
)
from pln.filters.nlp import (
    LEMMA_NORM,
    LemmaNorm,
    is_abbreviation,
    load_nlp,
    noun_forms,
    phrase_word_forms,
    pipeline_version,
    vector_width,
)
from pln.filters.norm_matcher import Match, NormMatcher
from pln.filters.quality import TextStats, quality_problem, scan
from pln.filters.runs import SplitText
from pln.filters.topics import (
    SCORER_VERSION,
    ClassifierVote,
    Evidence,
    PhraseHit,
    TopicRule,
    is_phrase,
)
from pln.record import Decision, Item

_MATCH_PREFIX = "pln-phrase:"
_VARIANT_PREFIX = "pln-variant:"
_ASIDE_PREFIX = "pln-aside:"
_OPEN, _CLOSE, _HYPHEN = get_string_id("("), get_string_id(")"), get_string_id("-")
ASIDE_TOKENS = 3  # at most this many tokens in a "(P2P)" aside inside a phrase
# New strings spaCy may gather before the pipeline is built again (`_keep_vocab_bounded`).
VOCAB_GROWTH = 100_000
# Texts longer than this (characters) have only the ranges around their cues tokenized
# (`Cues.ranges`); a shorter one costs less to tokenize whole than to cut.
RANGES_FROM = 1_000
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Judgement:
    """One topic's decision about one item, with its parts (see `Curator.judge`)."""

    decision: Decision
    rules: float  # the rules score, 0 when nothing matched or a rule ruled the item out
    probability: float | None  # the model's calibrated probability, when it covers the topic
    ruled_out: bool  # out of scope, or none / must / any said no: no model can keep it


@dataclass
class CurateResult:
    items: list[Item]  # the input items, annotated, without in-batch duplicates (id, source)
    decisions: list[Decision]  # one per (item, source, topic) with score > 0


@dataclass(slots=True)
class _Prepared:
    item: Item
    split: SplitText  # item.nlp_text, lower-cased and split once for the cue check and language
    stats: TextStats
    rules: tuple[TopicRule, ...]  # topics whose scope includes the item, as far as known
    quality: str
    changes: dict[str, Any] = field(default_factory=dict)  # annotations to apply to item
    hits: dict[str, list[PhraseHit]] = field(default_factory=dict)
    votes: dict[str, ClassifierVote] = field(default_factory=dict)
    lift: Lift | None = None  # the model's offer to keep it when no topic does

    @property
    def lang(self) -> str:
        return self.changes.get("lang") or self.item.lang

    @property
    def text(self) -> str:
        return self.split.text


def _vectors(dims: int) -> str:
    return f"{dims}-wide word vectors" if dims else "no word vectors"


class Curator:
    """Scores items against topics. Build anywhere; call `setup()` in the worker.

    `model` is the trained model to use (see `Curator.for_config`): only its reference travels
    with the Curator, the model loads in `setup()`. `entities=False` for a Curator whose items
    are not stored (`pln topics test`, training): an installed pipeline's components then do
    not run (nlp.load_nlp), and its decisions are the same.
    """

    vocab_growth = VOCAB_GROWTH  # see `_keep_vocab_bounded`
    rebuilds = 0  # pipelines built again to bound the vocabulary

    def __init__(
        self,
        topics: tuple[TopicConfig, ...],
        nlp: NlpConfig | None = None,
        model: ModelRef | None = None,
        *,
        entities: bool = True,
    ):
        self.topics = tuple(topics)
        self.nlp_config = nlp or NlpConfig()
        self.entities = entities
        self.rules = tuple(TopicRule(t) for t in self.topics)
        self.model = model
        self._reset()

    @classmethod
    def for_config(
        cls, config: Config, *, use_models: bool = True, entities: bool = True
    ) -> Curator:
        """A Curator for config's topics with the current model, if any (beside the database,
        see classifier.py); `use_models=False`: rules only."""
        model = current_model(models_dir(config.outputs.duckdb)) if use_models else None
        return cls(config.topics, config.nlp, model, entities=entities)

    def _reset(self) -> None:
        self._nlp: Language | None = None
        self._matcher: PhraseMatcher | None = None
        self._phrase_of: dict[int, str] = {}  # match id -> phrase key
        self._variant_ids: frozenset[int] = frozenset()  # match ids of variants and asides
        # match id -> the norms of a pattern -> which words each position may be (`_Check`)
        self._checks: dict[int, dict[tuple[int, ...], list[_Check | None]]] = {}
        # match id of a multi-word phrase (or variant) -> its id when matched around a "(...)"
        self._aside_of: dict[int, int] = {}
        self._lang_weights: dict = {}  # stopword hash -> languages, for docs
        self._has_ner = False
        self._cues: Cues | None = None  # words that can start a phrase match (cues.py)
        # With nothing but the lookup norms: matches read from the tokens' norms, without a Doc.
        self._by_norms: tuple[LemmaNorm, NormMatcher] | None = None
        self._scope_cache: dict[tuple[str, str], tuple[TopicRule, ...]] = {}
        self._scorer: Scorer | None = None  # the model, once loaded
        self._versions: dict[str, str] = {}  # topic id -> Decision.model_version, if not the base
        self._model_version = ""  # Decision.model_version of what the model decides (and lifts)
        self.model_version = ""
        self._strings_at_setup = 0

    def __getstate__(self) -> dict:
        keys = ("topics", "nlp_config", "rules", "model", "entities")
        return {k: self.__dict__[k] for k in keys}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    @property
    def nlp(self) -> Language:
        self.setup()
        return self._nlp

    def setup(self) -> None:
        """Load spaCy, build the phrase matcher and add the classifiers (once)."""
        if self._nlp is not None:
            return
        nlp = load_nlp(self.nlp_config, entities=self.entities)
        matcher = PhraseMatcher(nlp.vocab, attr="NORM")
        phrase_of: dict[int, str] = {}
        forms: dict[str, set[str]] = {}
        other: dict[str, set[str]] = {}
        derived: dict[str, set[str]] = {}
        for rule in self.rules:
            for phrase, written in rule.matcher_phrases.items():
                forms.setdefault(phrase, set()).update(written)
            for phrase, written in rule.matcher_variants.items():
                other.setdefault(phrase, set()).update(written)
        for rule in self.rules:
            for phrase, written in rule.matcher_derived.items():
                derived.setdefault(phrase, set()).update(written)
        patterns: list[Doc] = []
        first_forms: list[frozenset[str] | None] = []  # the words each pattern may start with
        aside_of: dict[int, int] = {}  # match id -> its id when matched around an aside
        variant_ids = set()
        checks: dict[int, dict[tuple[int, ...], list[_Check | None]]] = {}
        norm_of: dict[str, int] = {}
        for phrase in sorted(forms):
            written = sorted(forms[phrase])
            shaped = _shaped(nlp, written, nlp.pipe(written))
            written = sorted(other.get(phrase, ()))
            shaped_variants = _shaped(nlp, written, nlp.pipe(written), derived.get(phrase, ()))
            aside = nlp.vocab.strings.add(_ASIDE_PREFIX + phrase)
            for prefix, group in ((_MATCH_PREFIX, shaped), (_VARIANT_PREFIX, shaped_variants)):
                if not group:
                    continue
                name = prefix + phrase
                key = nlp.vocab.strings.add(name)
                docs, firsts, check = _with_forms(nlp, group, norm_of)
                matcher.add(name, docs)
                if check is not None:
                    checks[key] = check
                phrase_of[key] = phrase
                patterns += docs
                first_forms += firsts
                if prefix == _VARIANT_PREFIX:
                    variant_ids.add(key)
                if _aside_patterns(docs):
                    aside_of[key] = aside
                    phrase_of[aside] = phrase
                    variant_ids.add(aside)
        self._checks = checks
        self._aside_of = aside_of
        self._variant_ids = frozenset(variant_ids)
        self._lang_weights = stopword_weights(key=nlp.vocab.strings.add)
        self._has_ner = any("doc.ents" in nlp.get_pipe_meta(n).assigns for n in nlp.pipe_names)
        self.model_version = f"{SCORER_VERSION}; {pipeline_version(nlp)}"
        ref = self.model
        if ref is not None:
            shared = ref.load()
            trained_with = ref.meta.get("pipeline")
            dims = vector_width(nlp)
            other = bool(trained_with) and trained_with != self.nlp_config.pipeline
            if other and not self.rebuilds:
                self._warn_other_pipeline(ref, trained_with, shared.dims, nlp.lang, dims)
            self._scorer = Scorer(shared, ref.label, vectors=not other)
            self._model_version = f"{self.model_version}; model {ref.label}"
            self._versions = dict.fromkeys(self._scorer.index, self._model_version)
        if not (self._has_ner or self._scorer):
            aside = ASIDE_TOKENS + 2 if aside_of else 0
            self._cues = Cues.of(nlp, patterns, extra_span=aside, first_forms=first_forms)
            if self._cues is not None and nlp.pipe_names == [LEMMA_NORM]:
                self._by_norms = (nlp.get_pipe(LEMMA_NORM), NormMatcher(matcher, patterns))
        self._matcher, self._phrase_of, self._nlp = matcher, phrase_of, nlp
        self._strings_at_setup = len(nlp.vocab.strings)

    def _warn_other_pipeline(
        self, ref: ModelRef, trained_with: str, trained_dims: int, lang: str, dims: int
    ) -> None:
        """Say so when the model was trained with another pipeline and that matters. Pipelines
        of one language tokenize and match alike (nlp.py), so only word vectors can differ;
        of another language (or one a model from before 6 December does not record), the
        words themselves do."""
        trained_lang = ref.meta.get("lang") or (
            trained_with.removeprefix("blank:").strip() if trained_with.startswith("blank:") else ""
        )
        now = self.nlp_config.pipeline
        if trained_lang != lang:
            log.warning(
                "model %s was trained with nlp.pipeline %r, now %r%s; run `pln train` again",
                ref.path,
                trained_with,
                now,
                " (another language)" if trained_lang else "",
            )
        elif dims or trained_dims:
            log.warning(
                "model %s was trained with nlp.pipeline %r (%s), now %r (%s): it is used, "
                "without word vectors; run `pln train` again to use them",
                ref.path,
                trained_with,
                _vectors(trained_dims),
                now,
                _vectors(dims),
            )

    def _keep_vocab_bounded(self) -> None:
        """Build the pipeline again (between two batches) once spaCy gathered `vocab_growth`
        new strings since it was built.

        spaCy keeps every word form it meets, for the life of the pipeline: a string, a lexeme
        and a tokenizer cache entry, about 370 bytes each. A stream meets new forms for ever
        (names, numbers, links, typos); with eight new words a post, one process grew to 401
        MB over 100,000 posts (bench/bench_vocab.py). spaCy's own remedy, `nlp.memory_zone()`,
        turns the tokenizer's cache off inside the zone: curating took 2.5x as long. A new
        pipeline costs a `setup()` (0.2 s for blank:en) every ten thousand posts or more."""
        nlp = self._nlp
        if nlp is not None and len(nlp.vocab.strings) - self._strings_at_setup > self.vocab_growth:
            rebuilds = self.rebuilds
            self._reset()
            self.rebuilds = rebuilds + 1
        self.setup()

    def version_for(self, topic_id: str) -> str:
        """What Decision.model_version says for topic_id: scorer, pipeline and model."""
        return self._versions.get(topic_id, self.model_version)

    def curate(self, items: list[Item]) -> CurateResult:
        """Annotate items and decide for every topic; see the module docstring for the order."""
        self._keep_vocab_bounded()
        unique = _unique(items)
        out: list[Item] = list(unique)  # replaced by the annotated items, in input order
        decisions: list[Decision] = []

        def to_parse():
            """(what spaCy parses, (index, prepared item, its part)) for the items that need
            it; the others are finished on the way."""
            for i, item in enumerate(unique):
                p = self._prepare(item)
                part = self._part_to_parse(p)
                if part is None:
                    out[i] = self._finish(p, decisions)
                else:
                    yield part if isinstance(part, str) else part.doc, (i, p, part)

        # One streaming nlp.pipe: items are prepared as spaCy asks for texts and finished as
        # their docs come back, so only a batch or two is in flight (and docs are not kept).
        batch = self.nlp_config.batch_size
        for doc, (i, p, part) in self._nlp.pipe(to_parse(), as_tuples=True, batch_size=batch):
            self._read_doc(p, doc, part if isinstance(part, Part) else None)
            out[i] = self._finish(p, decisions)
        return CurateResult(out, decisions)

    def _part_to_parse(self, p: _Prepared) -> str | Part | None:
        """What of p's text spaCy must parse: the text itself, a `Part` of the tokenized text
        (see cues.py: with a blank pipeline only texts with a cue are parsed, near the cues),
        or None when nothing is left to parse: no topic needs it (the language is then read
        here, if needed), or the phrase hits were read from the tokens' norms (`_norm_hits`).
        With cues, the language is read from the text's words (as for a text without a cue),
        so a cue in a text never changes the language it is given."""
        if not self._needs_nlp(p):
            return None
        text, cues = p.text, self._cues
        if cues is None:
            return text
        self._read_language(p, None)
        if not p.rules or not cues.may_match(p.split):
            return None
        asides = "(" in text
        by_norms = self._by_norms is not None and not (asides and self._aside_of)
        if by_norms and len(text) > RANGES_FROM:
            ranges = cues.ranges(p.split, asides)
            if ranges is not None:
                p.hits = self._range_hits(p, ranges, asides)
                return None
        doc = self._nlp.make_doc(text)
        lowers = doc.to_array(LOWER).tolist()
        index = cues.near(lowers, asides)
        if index is None:
            return None
        if not by_norms:
            return cues.part(doc, index)
        p.hits = self._norm_hits(p, doc, [lowers[i] for i in index], index)
        return None

    def _range_hits(
        self, p: _Prepared, ranges: list[tuple[int, int]], asides: bool
    ) -> dict[str, list[PhraseHit]]:
        """The phrase hits of p's item, from its text's `ranges` (`Cues.ranges`) tokenized
        alone: what the whole text tokenized would give."""
        hits: dict[str, list[PhraseHit]] = {}
        for start, end in ranges:
            doc = self._nlp.make_doc(p.text[start:end])
            lowers = doc.to_array(LOWER).tolist()
            index = self._cues.near(lowers, asides)
            if index is None:
                continue
            found = self._norm_hits(p, doc, [lowers[i] for i in index], index, start)
            for phrase, more in found.items():
                hits.setdefault(phrase, []).extend(more)
        return hits

    def _finish(self, p: _Prepared, decisions: list[Decision]) -> Item:
        """Annotate p's item and append its decisions (score > 0) for the topics in scope."""
        item = p.item.replaced(**p.changes) if p.changes else p.item
        tags = _tags(p.stats.hashtags, item.hashtags)
        if p.hits or tags or p.votes or p.lift:
            evidence = Evidence(p.hits, tags, p.quality, p.votes)
            mine: dict[str, Decision] = {}
            for rule in p.rules:
                if rule.could_score(p.hits, tags) or rule.id in p.votes:
                    version = self.version_for(rule.id)
                    decision = rule.decide(item, evidence, version, item.source)
                    if decision.score > 0:
                        mine[rule.id] = decision
            lifted = self._lifted(p, item, evidence, mine.values())
            if lifted is not None:
                mine[lifted.topic] = replace(lifted, source=item.source)
            decisions += mine.values()
        return item

    def _lifted(
        self, p: _Prepared, item: Item, evidence: Evidence, decided: Iterable[Decision]
    ) -> Decision | None:
        """The model's lift of p's item (classifier.py), when no topic keeps it."""
        if p.lift is None or any(d.kept for d in decided):
            return None
        rule = next((r for r in p.rules if r.id == p.lift.topic), None)
        if rule is None:
            return None
        why = p.lift.describe(self._scorer.label)
        return rule.decide_lifted(item, evidence, p.lift.relevance, why, self._model_version)

    def explain(self, text: str, topic_id: str, *, title: str = "", author: str = "") -> Decision:
        """How topic_id would judge this text (for `pln topics test`); score 0 says why not."""
        item = Item.create(
            source="explain",
            platform="text",
            kind="post",
            native_id=text_fingerprint(f"{title}\n{text}"),
            title=title,
            text=text,
            author=author,
        )
        return self.explain_item(item, topic_id, check_source=False)

    def explain_item(self, item: Item, topic_id: str, *, check_source: bool = True) -> Decision:
        """How topic_id judges item (a stored one, for `pln topics test --item`)."""
        return self.judge([item], [topic_id], check_source=check_source)[0][topic_id].decision

    def judge(
        self,
        items: Sequence[Item],
        topic_ids: Sequence[str] | None = None,
        *,
        check_source: bool = True,
    ) -> list[dict[str, Judgement]]:
        """Per item, how each topic (default: all) judges it, with the parts of the score and
        a decision even when the score is 0 (which `curate` leaves out). Batched: for
        `pln topics test --file`, training, and label suggestions."""
        asked = self._rules_named(topic_ids)
        self._keep_vocab_bounded()
        # A lift depends on what every topic says, so with a lifting model all are judged.
        rules = self.rules if self._scorer is not None and self._scorer.lifts else asked
        prepared = [self._prepare(item, rules) for item in items]
        texts = ((p.text, p) for p in prepared if p.stats.plain_words)
        batch = self.nlp_config.batch_size
        for doc, p in self._nlp.pipe(texts, as_tuples=True, batch_size=batch):
            self._read_doc(p, doc)
        out = [self._judgements(p, rules, check_source) for p in prepared]
        if rules is not asked:
            out = [{r.id: judged[r.id] for r in asked} for judged in out]
        return out

    def _rules_named(self, topic_ids: Sequence[str] | None) -> tuple[TopicRule, ...]:
        if topic_ids is None:
            return self.rules
        by_id = {r.id: r for r in self.rules}
        missing = [t for t in topic_ids if t not in by_id]
        if missing:
            known = ", ".join(by_id) or "none"
            raise ConfigError("config", "topics", f"no topic named {missing[0]!r} (known: {known})")
        return tuple(by_id[t] for t in topic_ids)

    def _judgements(
        self, p: _Prepared, rules: tuple[TopicRule, ...], check_source: bool
    ) -> dict[str, Judgement]:
        item = p.item.replaced(**p.changes) if p.changes else p.item
        tags = _tags(p.stats.hashtags, item.hashtags)
        evidence = Evidence(p.hits, tags, p.quality, p.votes)
        out = {}
        for rule in rules:
            version = self.version_for(rule.id)
            problem = rule.scope_problem(item.source, item.lang, check_source=check_source)
            if problem:
                decision = Decision(item.id, rule.id, 0.0, False, problem, rule.version, version)
                out[rule.id] = Judgement(decision, 0.0, None, True)
                continue
            ruled_out = bool(rule._ruled_out(evidence))
            score = 0.0 if ruled_out else rule._score(item, evidence)[0]
            vote = p.votes.get(rule.id)
            prob = None
            if vote is not None and not ruled_out:
                prob = vote.probability(score, rule.topic.threshold)
            out[rule.id] = Judgement(rule.decide(item, evidence, version), score, prob, ruled_out)
        lift = p.lift
        if lift is not None and lift.topic in out and not out[lift.topic].ruled_out:
            lifted = self._lifted(p, item, evidence, (j.decision for j in out.values()))
            if lifted is not None:
                out[lift.topic] = replace(out[lift.topic], decision=lifted)
        return out

    def _prepare(self, item: Item, rules: tuple[TopicRule, ...] | None = None) -> _Prepared:
        """Count, annotate what needs no spaCy, and keep the rules (default: all) in scope."""
        split = SplitText(item.nlp_text)
        stats = scan(split.text, split.lower)
        if rules is None:
            rules = self._rules_for(item.source, item.lang)
        p = _Prepared(item, split, stats, rules, quality_problem(item, stats) if rules else "")
        if not item.canonical_url and item.url:
            p.changes["canonical_url"] = canonical_url(item.url)
        if not item.lang and not self._needs_nlp(p) and stats.words:
            p.changes["lang"] = detect_language_split(split)  # no doc to read it from
        return p

    def _needs_nlp(self, p: _Prepared) -> bool:
        return bool(p.stats.plain_words and (p.rules or self._has_ner))

    def _read_language(self, p: _Prepared, lowers: list[int] | None) -> None:
        """Detect the language of p's item from the LOWER hashes of its doc or else its text,
        when it had none."""
        if not p.item.lang:
            if lowers is None:
                lang = detect_language_split(p.split)
            else:
                lang = detect_language_words(lowers, self._lang_weights)
            if lang:
                p.changes["lang"] = lang
                p.rules = self._rules_for(p.item.source, lang, p.rules)

    def _read_doc(self, p: _Prepared, doc: Doc, part: Part | None = None) -> None:
        """Take the language, phrase hits and entities of p's item from its doc; or, when doc
        is the part of a longer doc near its cues (`part.index`), the phrase hits found in doc
        at their places in `part.whole`. With a part, the language was read from the whole
        doc before (`_part_to_parse`)."""
        if part is None and not p.item.lang:
            self._read_language(p, doc.to_array(LOWER)[:MAX_WORDS].tolist())
        windowed = part is not None and part.index is not None
        if p.rules:
            matches = self._matches(doc, part.index if windowed else None, "(" in p.text)
            p.hits = self._phrase_hits(p, part.whole if windowed else doc, matches)
            if self._scorer is not None:
                p.votes, p.lift = self._votes(doc, p.rules)
        if self._has_ner and doc.ents:
            p.changes["entities"] = entity_strings(doc)

    def _norm_hits(
        self, p: _Prepared, doc: Doc, lowers: list[int], index: list[int], offset: int = 0
    ) -> dict[str, list[PhraseHit]]:
        """The phrase hits of p's item as `_read_doc` would take them from the `Part` of doc at
        `index` (`Cues.near`), whose tokens have these LOWER hashes, from their norms. `doc`
        is p's text from character `offset` on (`_phrase_hits`)."""
        lemma_norm, matcher = self._by_norms
        norms = lemma_norm.lookup_norms(lowers, doc.vocab.strings)
        matches = matcher(norms)
        if self._checks and matches:
            matches = self._allowed(norms, lowers, matches)
        if len(index) < len(doc):
            matches = _in_whole(matches, index)
        return self._phrase_hits(p, doc, matches, offset)

    def _votes(
        self, doc: Doc, rules: tuple[TopicRule, ...]
    ) -> tuple[dict[str, ClassifierVote], Lift | None]:
        scorer = self._scorer
        weights = (float(scorer.model.weights[0]), float(scorer.model.weights[1]))
        margins, lift = scorer.read(doc, [r.id for r in rules])
        votes = {
            topic: ClassifierVote(margin, scorer.label, weights, why)
            for topic, (margin, why) in margins.items()
        }
        return votes, lift

    @property
    def uses_model(self) -> frozenset[str]:
        """The topics the loaded model scores (after `setup()`)."""
        return frozenset(self._scorer.index) if self._scorer else frozenset()

    def _rules_for(
        self, source: str, lang: str, among: tuple[TopicRule, ...] | None = None
    ) -> tuple[TopicRule, ...]:
        """The topics (of `among`, default all) whose scope includes this source and language."""
        if among is not None:
            return tuple(r for r in among if r.in_scope(source, lang))
        rules = self._scope_cache.get((source, lang))
        if rules is None:  # cached: a batch has few (source, language) pairs
            rules = tuple(r for r in self.rules if r.in_scope(source, lang))
            if len(self._scope_cache) < 10_000:
                self._scope_cache[(source, lang)] = rules
        return rules

    def _matches(self, doc: Doc, index: list[int] | None, asides: bool = False) -> list[Match]:
        """(match id, start, end) in doc, or in the doc whose token index[i] is doc's token i;
        `asides`: the text has a "(", so phrases with an aside in parentheses may match."""
        matches = self._matcher(doc)
        if self._checks and matches:
            matches = self._allowed_in(doc, matches)
        if asides and self._aside_of:
            matches += self._aside_matches(doc)
        return matches if index is None else _in_whole(matches, index)

    def _allowed_in(self, doc: Doc, matches: list[Match]) -> list[Match]:
        """`_allowed` for matches in doc."""
        if all(match_id not in self._checks for match_id, _, _ in matches):
            return matches
        norms, lowers = doc.to_array([NORM, LOWER]).T.tolist()
        return self._allowed(norms, lowers, matches)

    def _allowed(self, norms: list[int], lowers: list[int], matches: list[Match]) -> list[Match]:
        """The matches whose words are ones their phrase stands for (`_Check`): the matcher
        finds phrases by norm, some of whose words mean only some words of that norm.
        `norms`, `lowers`: the NORM and LOWER hashes of the tokens matched in."""
        checks = self._checks
        out = []
        for match in matches:
            match_id, start, end = match
            check = checks.get(match_id)
            alternatives = None if check is None else check.get(tuple(norms[start:end]))
            if alternatives is None or any(
                limits is None
                or all(f is None or w in f for f, w in zip(limits, lowers[start:end], strict=True))
                for limits in alternatives
            ):
                out.append(match)
        return out

    def _aside_matches(self, doc: Doc) -> list[Match]:
        """Multi-word phrases with one short abbreviation in parentheses between two of their
        words ("peer-to-peer (P2P) learners", not "(not)": `nlp.is_abbreviation`): the phrase
        matcher on doc without those asides, keeping the matches around one."""
        lowers = doc.to_array(LOWER).tolist()
        keep: list[int] = []
        n, i = len(lowers), 0
        while i < n:
            if lowers[i] == _OPEN:
                j = i + 1
                while j < n and j - i <= ASIDE_TOKENS and lowers[j] not in (_OPEN, _CLOSE):
                    j += 1
                if j < n and lowers[j] == _CLOSE and j > i + 1 and is_abbreviation(doc[i + 1 : j]):
                    i = j + 1
                    continue
            keep.append(i)
            i += 1
        if len(keep) == n or len(keep) < 2:
            return []
        bare = Doc(doc.vocab, words=[doc[k].text for k in keep])
        norms = doc.to_array([NORM])[keep]
        bare.from_array([NORM], norms)
        found = self._matcher(bare)
        if self._checks and found:
            found = self._allowed_in(bare, found)
        norms = norms.ravel().tolist()
        out = []
        for match_id, start, end in found:
            aside = self._aside_of.get(match_id)
            gaps = [k for k in range(start, end - 1) if keep[k + 1] != keep[k] + 1]
            if aside is None or len(gaps) != 1:
                continue
            if _HYPHEN in (norms[gaps[0]], norms[gaps[0] + 1]):
                continue  # "peer-(P2P)-to-peer"
            out.append((aside, keep[start], keep[end - 1] + 1))
        return out

    def _phrase_hits(
        self, p: _Prepared, doc: Doc, matches: list[Match], offset: int = 0
    ) -> dict[str, list[PhraseHit]]:
        """The hits of `matches` in doc, which is p's text from character `offset` on (a range
        of a long text, `Cues.ranges`). A hit's start and end are token positions plus
        `offset`: within one doc they count tokens; the ranges of one text lie more characters
        apart than they hold tokens, so hits of two ranges never seem to overlap."""
        if not matches:
            return {}
        title_end = len(p.item.title)  # nlp_text starts with the title
        text = p.text  # == doc.text (from offset), which spaCy would rebuild token by token
        phrase_of, variant_ids = self._phrase_of, self._variant_ids
        hits: dict[str, list[PhraseHit]] = {}
        for match_id, start, end in matches:
            phrase = phrase_of[match_id]
            last = doc[end - 1]
            start_char, end_char = doc[start].idx + offset, last.idx + len(last) + offset
            # A "#" token right before: only a "#" just before the match can be one.
            tagged = start and text[start_char - 1] == "#" and doc[start - 1].text == "#"
            hit = PhraseHit(
                start + offset,
                end + offset,
                end_char <= title_end,  # in_title
                is_phrase(text[start_char:end_char], phrase),  # exact
                match_id in variant_ids,  # variant
                bool(tagged),  # in_hashtag
            )
            hits.setdefault(phrase, []).append(hit)
        return hits


# Per token of a pattern: the LOWER hashes of the words it may be, or None for any word with
# its norm (see nlp.phrase_word_forms).
_Check = tuple[frozenset[int] | None, ...]
_MAX_FORMS = 64  # patterns one written form of a phrase may add for its words' forms


def _shaped(
    nlp: Language, texts: list[str], docs: Iterable[Doc], derived: Iterable[str] = ()
) -> list[tuple[Doc, tuple[frozenset[str] | None, ...]]]:
    """Each pattern doc with, per token, the words it stands for (None: any with its norm):
    `nlp.phrase_word_forms` for the phrase's words, `nlp.noun_forms` for the last word of a
    variant in `derived` ("learning design" of `learning designer`)."""
    derived = set(derived)
    out = []
    for text, doc in zip(texts, docs, strict=True):
        forms = [phrase_word_forms(nlp, t.text) for t in doc]
        if text in derived and len(doc):
            forms[-1] = noun_forms(nlp, doc[-1].text)
        out.append((doc, tuple(forms)))
    return out


def _with_forms(
    nlp: Language,
    shaped: list[tuple[Doc, tuple[frozenset[str] | None, ...]]],
    norm_of: dict[str, int],
) -> tuple[list[Doc], list[frozenset[str] | None], dict[tuple[int, ...], list] | None]:
    """The PhraseMatcher patterns of `shaped` (one more per norm a word's forms add:
    "trainings" has the norm "training", "training" the norm "train"), the words each may
    start with (None: any with its norm; for cues.py), and what `_allowed` checks of their
    matches: None when no word is limited."""
    strings = nlp.vocab.strings
    docs: list[Doc] = []
    firsts: list[frozenset[str] | None] = []
    checks: dict[tuple[int, ...], list[_Check | None]] = {}
    limited = False
    for doc, forms in shaped:
        extra: list[Doc] = []
        if any(f is not None for f in forms):
            limited = True
            new = sorted({w for f in forms if f is not None for w in f} - norm_of.keys())
            for word, parsed in zip(new, nlp.pipe(new), strict=True):
                norm_of[word] = parsed[0].norm if len(parsed) == 1 else 0
            choices = []
            for token, f in zip(doc, forms, strict=True):
                if f is None:
                    choices.append([token.text])
                else:  # one word per norm
                    by_norm = {norm_of[w]: w for w in sorted(f, reverse=True) if norm_of[w]}
                    choices.append(sorted(by_norm.values()))
            texts = [
                "".join(w + t.whitespace_ for w, t in zip(combo, doc, strict=True))
                for combo in itertools.islice(itertools.product(*choices), _MAX_FORMS)
            ]
            extra = [d for d in nlp.pipe(texts) if len(d) == len(doc)]
        check = None
        if any(f is not None for f in forms):
            check = tuple(
                None if f is None else frozenset(strings.add(w) for w in f) for f in forms
            )
        for d in [doc, *extra]:
            docs.append(d)
            firsts.append(forms[0] if forms else None)
            checks.setdefault(tuple(t.norm for t in d), []).append(check)
    return docs, firsts, (checks if limited else None)


def _aside_patterns(docs: list[Doc]) -> list[Doc]:
    """The patterns that may hold an aside in parentheses between two of their words
    ("peer-to-peer (P2P) learning"): those of more than one word (`Curator._aside_matches`)."""
    return [doc for doc in docs if len(doc) > 1]


_NO_TAGS: frozenset[str] = frozenset()


def _tags(in_text: tuple[str, ...], of_item: tuple[str, ...]) -> frozenset[str]:
    """The hashtags of an item: its own and those in its text."""
    return frozenset(in_text).union(of_item) if in_text or of_item else _NO_TAGS


def _unique(items: list[Item]) -> list[Item]:
    """items without repeats of an (id, source): each source's copy of a post is scored, since
    a topic may take one source and not another; the store keeps the best decision."""
    seen: set[tuple[str, str]] = set()
    out = []
    for item in items:
        key = (item.id, item.source)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _in_whole(matches: list[Match], index: list[int]) -> list[Match]:
    """Matches in the doc whose token i is token index[i] of the whole doc, in the whole."""
    return [(match, index[start], index[end - 1] + 1) for match, start, end in matches]
