"""Loading the spaCy pipeline and the lemma-norm component."""

from __future__ import annotations

import pickle

import pytest
import spacy

from pln.config import NlpConfig, TopicConfig
from pln.errors import ConfigError
from pln.filters.curator import Curator
from pln.filters.nlp import _DASH_INFIX, LEMMA_NORM, load_nlp, pipeline_version


@pytest.fixture(scope="module")
def nlp():
    return load_nlp(NlpConfig())


def norms(nlp, text: str) -> list[str]:
    return [t.norm_ for t in nlp(text)]


def test_blank_english_norms_are_lower_cased_lemmas(nlp):
    assert nlp.pipe_names == [LEMMA_NORM]
    assert norms(nlp, "Learners QUIZZES Communities was") == ["learner", "quiz", "community", "be"]
    assert norms(nlp, "Microlearning microlearning") == ["microlearning", "microlearning"]
    # Tokenizer exceptions keep their norms; unknown words keep their lower-cased form.
    assert norms(nlp, "don't Zorbleflex") == ["do", "not", "zorbleflex"]


TRICKY_WHITESPACE = [
    "Title\nBody text",
    "a\n\nb\tc \n d\u00a0e",
    "  lead and trail  ",
    "don't\nstop (P2P)\r\nlearning.\n",
    "\n",
    "x \t\ny",
]


@pytest.mark.parametrize("text", TRICKY_WHITESPACE)
def test_tokens_are_spacys_though_whitespace_is_no_special_case(nlp, text):
    # Whitespace special cases stop spaCy's word cache (see _cache_whitespace); without them
    # every token, offset and trailing space must stay what spaCy's own tokenizer makes.
    plain = spacy.blank("en")
    assert [(t.text, t.idx, t.whitespace_) for t in nlp.make_doc(text)] == [
        (t.text, t.idx, t.whitespace_) for t in plain.make_doc(text)
    ]
    assert not any(key.isspace() for key in nlp.tokenizer.rules)


def test_the_blank_tokenizer_has_every_rule_of_spacys_but_whitespace(nlp):
    # pln.tokenizer.v1 builds the tokenizer without them, rather than dropping them later.
    plain = spacy.blank("en").tokenizer
    assert nlp.tokenizer.rules == {k: v for k, v in plain.rules.items() if k.strip()}
    assert len(nlp.tokenizer.rules) > 1000
    for attr in ("prefix_search", "suffix_search", "token_match", "url_match"):
        assert getattr(nlp.tokenizer, attr) == getattr(plain, attr), attr
    # spaCy's infixes, and the typographic hyphens split like "-"
    infixes = nlp.tokenizer.infix_finditer.__self__.pattern
    assert infixes == f"{plain.infix_finditer.__self__.pattern}|{_DASH_INFIX}"


def test_pipe_and_single_call_agree(nlp):
    texts = ["Spaced Repetitions help Learners", "", "Onboarding new hires"]
    assert [norms(nlp, t) for t in texts] == [[t.norm_ for t in d] for d in nlp.pipe(texts)]


def test_languages_without_lookup_tables_match_by_lower_case():
    nlp = load_nlp("blank:pl")
    assert nlp.pipe_names == [LEMMA_NORM]
    assert norms(nlp, "Mikronauka DZIAŁA") == ["mikronauka", "działa"]


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (
            "en_core_web_nope",
            "config: nlp.pipeline: spaCy pipeline 'en_core_web_nope' is not installed: check "
            "the name, install its package (one of spaCy's own: python -m spacy download "
            "en_core_web_nope), or use 'blank:en'",
        ),
        ("blank:zz", "spaCy pipeline 'blank:zz' spaCy cannot build language 'zz'"),
        ("blank:", "spaCy pipeline 'blank:' names no language; use e.g. 'blank:en'"),
    ],
)
def test_unknown_pipelines_give_one_line_config_errors(pipeline, message):
    with pytest.raises(ConfigError) as err:
        load_nlp(NlpConfig(pipeline=pipeline))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_installed_pipeline_folder_with_entities(tmp_path):
    """A pipeline loaded from a folder (as packages are) keeps its NER-like component, and
    the curator fills Item.entities from it."""
    built = spacy.blank("en")
    ruler = built.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "ORG", "pattern": "ATD"}])
    built.to_disk(tmp_path / "pipe")

    cfg = NlpConfig(pipeline=str(tmp_path / "pipe"))
    nlp = load_nlp(cfg)
    assert nlp.pipe_names == ["entity_ruler", LEMMA_NORM]
    assert pipeline_version(nlp).startswith("en_pipeline ")

    topic = TopicConfig(id="conf", title="Conferences", phrases=("conference",))
    curator = pickle.loads(pickle.dumps(Curator((topic,), cfg)))
    from pln.record import Item

    item = Item.create(
        source="s", platform="p", kind="post", native_id="1", text="Conferences: ATD in May"
    )
    result = curator.curate([item])
    assert result.items[0].entities == ("ORG:ATD",)
    [decision] = result.decisions
    assert decision.kept and decision.reason == "matched 'conference' (lemma); threshold 0.5"


def test_entities_keep_the_layer_they_listen_to_and_what_a_ruler_may_read(tmp_path):
    """Only what `doc.ents` needs runs: a tagger is left out, but not the tok2vec an NER
    listens to, nor anything before an entity ruler (its patterns may read any attribute)."""
    from spacy.training import Example

    listening = spacy.blank("en")
    listening.add_pipe("tok2vec")
    listening.add_pipe("tagger")
    upstream = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "*"}
    parser = {
        "@architectures": "spacy.TransitionBasedParser.v2",
        "state_type": "ner",
        "extra_state_tokens": False,
        "hidden_width": 32,
        "maxout_pieces": 2,
        "use_upper": True,
        "tok2vec": upstream,
    }
    listening.add_pipe("ner", config={"model": parser})
    doc = listening.make_doc("Julie lives in Denver")
    entities = {"entities": [(0, 5, "PERSON"), (15, 21, "GPE")], "tags": ["N", "V", "P", "N"]}
    listening.initialize(lambda: [Example.from_dict(doc, entities)])
    listening.to_disk(tmp_path / "listening")
    assert load_nlp(str(tmp_path / "listening")).pipe_names == ["tok2vec", "ner", LEMMA_NORM]
    assert load_nlp(str(tmp_path / "listening"), entities=False).pipe_names == [LEMMA_NORM]

    ruled = spacy.blank("en")
    ruled.add_pipe("attribute_ruler").add_patterns(
        [{"patterns": [[{"LOWER": "atd"}]], "attrs": {"POS": "PROPN"}}]
    )
    ruled.add_pipe("entity_ruler").add_patterns([{"label": "ORG", "pattern": [{"POS": "PROPN"}]}])
    ruled.add_pipe("sentencizer")
    ruled.to_disk(tmp_path / "ruled")
    nlp = load_nlp(str(tmp_path / "ruled"))
    assert nlp.pipe_names == ["attribute_ruler", "entity_ruler", LEMMA_NORM]
    assert [(e.label_, e.text) for e in nlp("Meet us at ATD").ents] == [("ORG", "ATD")]


def test_a_curator_left_running_keeps_spacys_vocabulary_bounded_and_decides_the_same():
    """spaCy remembers every new word form for the life of a pipeline; a stream meets new ones
    for ever. Past `vocab_growth` new strings the curator builds its pipeline again, between
    batches, and nothing it decides changes."""
    import random

    from pln.record import Item

    topic = TopicConfig(id="spaced", title="Spaced", phrases=("spaced repetition",))
    bounded, unbounded = Curator((topic,)), Curator((topic,))
    bounded.vocab_growth = 500
    rng = random.Random(7)

    def word() -> str:
        return "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(7))

    grew = []
    for batch in range(30):
        items = [
            Item.create(
                source="x",
                platform="twitter",
                native_id=f"{batch}-{n}",
                kind="post",
                text=f"{word()} {word()} #{word()} {'Spaced repetitions' if n % 3 else 'Lunch'}",
            )
            for n in range(40)
        ]
        mine, theirs = bounded.curate(items), unbounded.curate(items)
        assert mine.items == theirs.items and mine.decisions == theirs.decisions
        assert sum(d.kept for d in mine.decisions) == 26
        grew.append(len(bounded.nlp.vocab.strings) - bounded._strings_at_setup)
    assert bounded.rebuilds >= 5
    assert max(grew) <= 500 + 40 * 4  # the limit, and at most one batch's new words past it
    assert len(unbounded.nlp.vocab.strings) - unbounded._strings_at_setup > 5 * 500
