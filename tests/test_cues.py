"""The cue check skips spaCy only for texts that cannot match a topic phrase."""

from __future__ import annotations

import random

import pytest

from pln.config import NlpConfig, TopicConfig
from pln.filters.cues import Cues, Part
from pln.filters.curator import Curator
from pln.filters.nlp import load_nlp
from pln.record import Item

PHRASES = [
    "spaced repetition",
    "learning in the flow of work",
    "first 90 days",  # "first" has the lemma "1" in the lookup data
    "new hire",
    "can do attitude",  # "can" is a piece of "cannot"
    "km per week",  # split from "5km"
    "U.S. policy",  # a cue with dots
    "e-learning",
    "peer-to-peer learning",  # matched with an aside: "peer-to-peer (P2P) learning"
    "instructional design",  # and its variant "instructional designers"
    "training",  # matches "trainings", not "train" (its lemma): cues are the words it matches
    "learning designer",  # and "learning design(s)", not "designed"
]


@pytest.fixture(scope="module")
def nlp():
    return load_nlp("blank:en")


@pytest.fixture(scope="module")
def cues(nlp):
    return Cues.of(nlp, list(nlp.pipe(PHRASES)))


def test_a_text_without_any_cue_is_told_apart_before_tokenizing(cues):
    assert not cues.may_match_text("Team meeting, then coffee with the learners.")
    assert cues.may_match_text("We LEARNED a lot")  # a form of the lemma, any case
    assert cues.may_match_text("#microlearning and learning-in-the-flow")
    assert cues.may_match_text("I cannot wait")  # "can" hides inside "cannot"
    assert cues.may_match_text("ran 5km")
    assert cues.may_match_text("the U.S. policy")


def test_the_text_check_never_misses_a_token_the_tokenizer_makes(nlp, cues):
    """Random texts built from cue spellings glued to letters, digits, punctuation and the
    tokenizer's own special cases: whenever a token is a cue, the text check said so."""
    rng = random.Random(3)
    spellings = sorted(cues.words | set(cues.substrings))
    specials = sorted(nlp.tokenizer.rules)
    glue = ["", " ", "-", "'", ".", "_", "#", "@", "/", ":", "5", "1", "a", "Z", "é", "’", "(", '"']
    pieces = ["coffee", "team", "LEARNERS", "x", "2nd", "km", "N'T", "’s", "www.example.com/learn"]
    checked = 0
    for _ in range(20_000):
        parts = []
        for _ in range(rng.randint(1, 6)):
            roll = rng.random()
            if roll < 0.4:
                word = rng.choice(spellings)
                word = rng.choice([word, word.upper(), word.title()])
            elif roll < 0.7:
                word = rng.choice(specials)
            else:
                word = rng.choice(pieces)
            parts.append(rng.choice(glue) + word + rng.choice(glue))
        text = rng.choice(["", " "]).join(parts)
        if cues.to_parse(nlp.make_doc(text)) is not None:
            checked += 1
            assert cues.may_match_text(text), text
    assert checked > 3_000


def test_curating_with_the_cue_check_decides_as_parsing_everything(nlp):
    """The same decisions with the check as with every text parsed, on texts near the cues."""
    topics = [
        TopicConfig(id=f"t{n}", title=phrase, phrases=(phrase,), threshold=0.3)
        for n, phrase in enumerate(PHRASES)
    ]
    rng = random.Random(5)
    words = ["learned", "Learning", "cannot", "5km", "U.S.", "new", "hires", "first", "90",
             "days", "spaced", "repetitions", "e-learning", "policy", "do", "attitude", "per",
             "week", "flow", "of", "work", "in", "the", "#", "(", ")", "P2P", "peer", "to",
             "peer-to-peer", "elearning", "instructional", "designers", "learners", "train",
             "Trainings", "trained", "training", "design", "designed", "e\u2010learning",
             "e\u2013learning", "peer\u2011to\u2011peer", "(ID)"]  # fmt: skip
    filler = ["team", "coffee", "slides", "the", "of", "in", "per", "work", "days", ",", "#"]

    def text(n: int) -> str:  # short texts dense with cues; long ones with a few
        sparse = rng.random() < 0.5
        pick = lambda: rng.choice(filler if sparse and rng.random() < 0.9 else words)  # noqa: E731
        return " ".join(pick() for _ in range(n))

    items = [
        Item.create(
            source="s",
            platform="text",
            kind="post",
            native_id=str(n),
            text=text(rng.randint(3, 12) * rng.choice([1, 10])),
            lang="en",
        )
        for n in range(3_000)
    ]
    items += [  # every phrase, whole, in a long text: the longest spans its whole window
        Item.create(
            source="s",
            platform="text",
            kind="post",
            native_id=f"p{n}",
            text=f"{text(40)} {phrase.upper() if n % 2 else phrase} {text(40)}",
            lang="en",
        )
        for n, phrase in enumerate(PHRASES * 4)
    ]
    with_check = Curator(topics, NlpConfig())
    with_check.setup()
    windowed = []  # (tokens, the tokens near cues)
    near = with_check._cues.near
    with_check._cues.near = lambda lowers, *a: (
        windowed.append((len(lowers), near(lowers, *a))) or windowed[-1][1]
    )
    without = Curator(topics, NlpConfig())
    without.setup()
    without._cues = None  # parse every text
    got = with_check.curate(items).decisions
    assert got == without.curate(items).decisions
    assert sum(w is not None and len(w) < n for n, w in windowed) > 300  # near cues only
    assert len(got) > 500


def test_a_long_text_is_parsed_only_near_its_cues(nlp, cues):
    filler = "the team met for coffee and talked about slides " * 8
    doc = nlp.make_doc(f"{filler}We learned a lot in the first 90 days. {filler}")
    part = cues.to_parse(doc)
    near, index = part.doc, part.index
    first = next(t.i for t in doc if t.lower_ == "learned")
    assert [t.text for t in near][:3] == ["learned", "a", "lot"]
    assert index[0] == first and len(near) == len(index) < len(doc) // 4
    assert all(doc[i].text == near[n].text for n, i in enumerate(index))
    # a short text, or one full of cues, is parsed whole
    short = nlp.make_doc("we learned a lot")
    assert cues.to_parse(short) == Part(short)
    assert cues.to_parse(nlp.make_doc("team meeting and coffee")) is None  # no cue at all


def test_the_cues_of_a_narrow_phrase_word_are_the_words_it_matches():
    """`training` matches "training(s)", never "train": texts with only "train" skip spaCy."""
    curator = Curator((TopicConfig(id="t", title="T", phrases=("training",)),), NlpConfig())
    curator.setup()
    assert not curator._cues.may_match_text("The train was late; two trains collided.")
    assert curator._cues.may_match_text("TRAININGS for staff")
    assert curator.explain("TRAININGS for staff", "t").kept


def test_the_norm_matcher_finds_what_the_phrase_matcher_finds_in_its_order():
    """Matches read from token norms (no Doc) are the PhraseMatcher's, ids at one span in its
    order too: "learner" and "learners" (one norm), a phrase and its variants."""
    topics = [
        TopicConfig(id=f"t{n}", title=phrase, phrases=(phrase,))
        for n, phrase in enumerate([*PHRASES, "learner", "learners", "Learners", "flow"])
    ]
    curator = Curator(topics, NlpConfig())
    curator.setup()
    lemma_norm, by_norms = curator._by_norms
    rng = random.Random(9)
    words = [w for phrase in PHRASES for w in phrase.split()]
    words += ["learner", "Learners", "elearning", "designers", "trains", "coffee", "-", "5km"]
    found = 0
    for _ in range(3_000):
        doc = curator.nlp(" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))))
        lowers = [t.lower for t in doc]
        expected = curator._matcher(doc)
        assert by_norms(lemma_norm.lookup_norms(lowers, doc.vocab.strings)) == expected
        found += len(expected)
    assert found > 3_000


def test_a_pipelines_own_lookup_table_gives_the_text_check_only_when_it_is_the_installed_one(
    cues,
):
    """A pipeline whose lemmatizer carries its own `lemma_lookup` Table: the words of the text
    check come from the installed data only when that table is the installed data; a table
    of its own leaves the check to the token hashes (no text check: `words` is None)."""
    import spacy

    from pln.filters.nlp import LEMMA_NORM

    def own_pipeline(changed: dict[str, str]):
        nlp = spacy.blank("en")
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"}).initialize()
        table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
        for word, lemma in changed.items():
            table[word] = lemma
        nlp.add_pipe(LEMMA_NORM)
        nlp.get_pipe(LEMMA_NORM).initialize(nlp=nlp)
        return nlp

    same = own_pipeline({})
    assert Cues.of(same, list(same.pipe(PHRASES))).words == cues.words
    other = own_pipeline({"repetitionz": "repetition", "spacedd": "space"})
    assert Cues.of(other, list(other.pipe(PHRASES))).words is None


_SPACES = [" ", " ", " ", "  ", "\n", "\n\n", " \n", "\t", "\xa0", "\u2003", " \u3000 "]


def _long_text(rng: random.Random, words: list[str], n: int, rate: float = 0.08) -> str:
    """n words, a share `rate` of them from words, the rest filler, joined by every kind of
    whitespace spaCy tells apart."""
    out = []
    for _ in range(n):
        out.append(rng.choice(words) if rng.random() < rate else rng.choice(_FILLER))
        out.append(rng.choice(_SPACES))
    return "".join(out)


_FILLER = ["team", "coffee", "slides,", "the", "of", "in", "per", "work", "days.", "#", "x:", ")"]


def test_the_ranges_of_a_long_text_give_the_tokens_the_whole_text_gives(nlp, cues):
    """Each range `Cues.ranges` cuts out of a long text, tokenized alone, gives the tokens the
    whole text gives there, and holds every cue token with the `span` tokens after it."""
    from pln.filters.runs import SplitText

    rng = random.Random(11)
    spellings = sorted(cues.words | set(cues.substrings))
    words = spellings + [w.upper() for w in spellings] + ["#learning", "(learned", "learn-ers"]
    words += ["microlearning", "unlearned", "5km", "#training"]  # cues inside a token
    words += sorted(nlp.tokenizer.rules)[::7]
    cut = 0
    for _ in range(400):
        text = _long_text(rng, words, rng.randint(150, 400))
        whole = nlp.make_doc(text)
        at = {t.idx: t.i for t in whole}
        ranges = cues.ranges(SplitText(text))
        if ranges is None:
            continue
        cut += 1
        covered = set()
        for start, end in ranges:
            first = at[start]
            for token in nlp.make_doc(text[start:end]):
                other = whole[first + token.i]
                assert (other.idx, other.text) == (start + token.idx, token.text), text
                covered.add(other.i)
        for token in whole:
            if token.lower in cues.hashes:
                window = range(token.i, min(token.i + cues.span, len(whole)))
                assert covered.issuperset(window), (text, token.text)
    assert cut > 300


def test_curating_a_long_text_by_its_ranges_decides_as_parsing_everything():
    """Long texts (past RANGES_FROM) with cues far apart: the same decisions and reasons as
    with every text parsed whole."""
    from pln.filters import curator as curator_module

    topics = [
        TopicConfig(id=f"t{n}", title=phrase, phrases=(phrase,), threshold=0.3)
        for n, phrase in enumerate(PHRASES)
    ]
    rng = random.Random(13)
    words = [w for phrase in PHRASES for w in phrase.split()]
    words += ["learned", "Learning", "cannot", "5km", "hires", "repetitions", "elearning",
              "designers", "Trainings", "#microlearning", "#spaced", "e\u2010learning",
              "#training", "#Trainings", "#e-learning", "microlearning"]  # fmt: skip
    items = []
    for n in range(1_500):
        text = _long_text(rng, words, rng.randint(260, 500), rate=rng.choice([0.01, 0.03, 0.1]))
        if n % 3 == 0:  # a whole phrase, split by whitespace of any kind
            phrase = rng.choice(PHRASES).split()
            text += rng.choice(_SPACES).join(phrase) + " " + _long_text(rng, words, 30)
        items.append(
            Item.create(
                source="s",
                platform="text",
                kind="post",
                native_id=str(n),
                title=rng.choice(["", "Spaced repetition, again", "Notes"]),
                text=text,
                lang="en",
            )
        )
    got, expected, used = _decisions_by_ranges_and_whole(topics, items)
    assert got == expected
    assert sum(r is not None for r in used) > 500  # the others: cues in half the text
    assert len(got) > 1_000
    assert min(len(item.nlp_text) for item in items) > curator_module.RANGES_FROM


def _decisions_by_ranges_and_whole(topics: list[TopicConfig], items: list[Item]):
    """The decisions on items curated with cue ranges and with every text parsed whole, and
    what `Cues.ranges` gave for each text it was asked about."""
    by_ranges = Curator(topics, NlpConfig())
    by_ranges.setup()
    used = []
    ranges = by_ranges._cues.ranges
    by_ranges._cues.ranges = lambda *a: used.append(ranges(*a)) or used[-1]
    whole = Curator(topics, NlpConfig())
    whole.setup()
    whole._cues = None  # parse every text
    return by_ranges.curate(items).decisions, whole.curate(items).decisions, used


def _english(texts: list[str]) -> list[Item]:
    return [
        Item.create(
            source="s", platform="text", kind="post", native_id=str(n), text=text, lang="en"
        )
        for n, text in enumerate(texts)
    ]


def test_a_range_starts_and_ends_where_no_special_case_spans_the_space(nlp):
    """spaCy looks for its special cases in the whole text's tokens, across a single space too
    ("' '" is one's tokens), and one found there keeps one inside the next chunk from being
    applied: "students' 'cause-and-effect" keeps "'", "cause", while "'cause-and-effect"
    alone gives "'cause". A range takes the chunk before in (and the one after)."""
    from pln.filters.runs import SplitText

    filler = "Our team met for coffee and slides about the quarter. " * 25
    text = filler + "the students' 'cause-and-effect' maps. " + filler
    cues = Cues.of(nlp, list(nlp.pipe(["cause and effect"])))
    [(start, end)] = cues.ranges(SplitText(text))
    assert text[start:end].startswith("students' 'cause")
    whole = nlp.make_doc(text)
    first = next(t.i for t in whole if t.idx == start)
    for token in nlp.make_doc(text[start:end]):
        assert whole[first + token.i].text == token.text
    topics = [TopicConfig(id="c", title="c", phrases=("cause and effect",), threshold=0.3)]
    got, expected, used = _decisions_by_ranges_and_whole(topics, _english([text]))
    assert got == expected and len(got) == 1 and used[0] is not None


def test_a_text_with_a_capital_sigma_is_tokenized_whole():
    """A text "ΟΔΟΣ's" lower-cased whole is "οδοσ's" (the sigma is not final there), while its token
    "ΟΔΟΣ" is "οδος": the cue is not found in the lower-cased text, so such a text is
    tokenized whole, and never skipped by the text check."""
    filler = "Our team met for coffee and slides about the quarter. " * 25
    text = filler + "ΟΔΟΣ's map, and spaced repetition. " + filler
    topics = [
        TopicConfig(id="g", title="g", phrases=("οδος",), threshold=0.3),
        TopicConfig(id="s", title="s", phrases=("spaced repetition",), threshold=0.3),
    ]
    alone = filler + "ΟΔΟΣ's map. " + filler  # no other cue: the text check must not skip it
    got, expected, used = _decisions_by_ranges_and_whole(topics, _english([text, alone]))
    assert got == expected and len(got) == 3 and used == [None, None]
