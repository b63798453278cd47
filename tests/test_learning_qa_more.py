"""Defects a QA run of the learning commands found: a feed footer in every item, labels the
model never saw, forgetting a labelled item, reasons citing the item itself, a sheet with
rows not labelled yet."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from feedsite import build_site, free_port
from test_learning import TOPIC, as_item, fixture_rows, make_config, run_pln
from test_serve import LATER, get

from pln.config import Config, load_config
from pln.filters.curator import Curator
from pln.learn import train
from pln.record import Item
from pln.serve import FeedServer
from pln.sinks.store import Store


@pytest.fixture
def config(tmp_path) -> Config:
    return make_config(tmp_path)


def small_store(folder, topics: str, texts: list[str]) -> Config:
    """A store of `texts`, curated by `topics` (YAML list items)."""
    path = folder / "pln.yaml"
    path.write_text(
        "version: 1\nsources: [{name: b, type: rss, path: feed.xml}]\ntopics:\n"
        + topics
        + '\nnlp: {pipeline: "blank:en"}\noutputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n'
    )
    config = load_config(path)
    items = [
        Item.create(source="b", platform="fixture", kind="post", native_id=str(n), text=t)
        for n, t in enumerate(texts)
    ]
    result = Curator.for_config(config).curate(items)
    with Store(config.outputs.duckdb) as store:
        store.write(result.items, result.decisions, ())
    return config


def test_topics_suggest_ranks_when_a_footer_is_in_every_item(tmp_path, capsys):
    footer = " Subscribe to the Foobar newsletter."
    texts = [
        "A storyboard for a compliance course.",
        "Review the storyboard with experts.",
        "Treats and a clicker.",
    ]
    config = small_store(
        tmp_path, "  - {id: id, title: ID, phrases: [storyboard]}", [t + footer for t in texts]
    )
    code, out, err = run_pln(capsys, "topics", "suggest", "id", "-c", str(config.path))
    assert (code, err) == (0, "")
    assert out.startswith("id: from 2 items you want ")
    assert "foobar" not in out.lower()  # in every item: no signal


def test_topics_test_file_tests_rows_without_a_label_and_counts_them(config, capsys, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "text,label\nSpaced repetition beats cramming,+\nLunch was great,-\nA row not labelled yet,\n"
    )
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(sheet), "-c", str(config.path)
    )
    assert code == 0, err
    assert [line.split("\t")[:2] for line in out.splitlines()] == [
        ["2", "kept"],
        ["3", "-"],
        ["4", "-"],
    ]
    assert err.rstrip().endswith(
        "against the labels of 2 (1 text unlabelled): precision 1.00, recall 1.00, F1 1.00"
    )


def test_forget_item_says_its_labels_go_and_later_messages_say_it_was_forgotten(config, capsys):
    item = as_item(fixture_rows()[0]).id
    with Store(config.outputs.duckdb, read_only=True) as store:
        [(n,)] = store.sql(f"SELECT count(*) FROM labels WHERE item_id = '{item}'")[1]
    assert n >= 1
    forget = ["forget", "--item", item, "-c", str(config.path)]
    for verb, extra in (("would forget", ["--dry-run"]), ("forgot", [])):
        code, out, err = run_pln(capsys, *forget, *extra)
        assert (code, err) == (0, "")
        line = out.splitlines()[0]
        assert line.startswith(f"{verb} {item}: ")
        assert line.endswith(f" (and its {n} label{'s' if n > 1 else ''})")
    code, out, err = run_pln(capsys, "label", item, TOPIC, "+", "-c", str(config.path))
    assert code == 2
    assert f"item {item!r} was forgotten on " in err and " by `pln forget --item`; " in err
    assert "keep_days" not in err


def test_a_feedback_link_to_a_forgotten_item_does_not_blame_keep_days(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    with FeedServer(config, "127.0.0.1", port) as server:
        link = server.key.url(config.outputs.base_url, "f" * 20, "spaced", "up", LATER)
        status, _, page = get(server, "_feedback?" + urlsplit(link).query)
    assert status == 410
    assert b"This item was forgotten" in page and b"keep_days" not in page


def test_labels_of_a_topic_the_model_was_trained_without_are_reported(config, capsys):
    """Trained while `onboarding` was out of the config, then put back: its labels are not in
    the model, and `pln topics`, `pln rescore` and `pln run` say so, not only "(rules decide)"."""
    text = config.path.read_text()
    without = config.path.with_name("without.yaml")
    without.write_text(text[: text.index("  # Only a handful")] + text[text.index("\noutputs:") :])
    train(load_config(without))
    warning = (
        "pln: warning: model v1 was trained without 5 labels of topic 'onboarding' (not in the "
        "config then), so the rules decide there; run `pln train` to use them\n"
    )
    code, out, err = run_pln(capsys, "topics", "-c", str(config.path))
    assert (code, err) == (0, warning)
    [row] = [line for line in out.splitlines() if line.startswith("onboarding ")]
    assert row.endswith("(rules decide: trained without this topic)")
    code, out, err = run_pln(capsys, "rescore", "-q", "-c", str(config.path))
    assert (code, err) == (0, warning)
    code, out, err = run_pln(capsys, "run", "-q", "-c", str(config.path))
    assert code == 0 and warning in err  # on stderr with -q too: cron mails it
    train(config)
    code, out, err = run_pln(capsys, "topics", "-c", str(config.path))
    assert (code, err) == (0, "")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Config:
    config = make_config(tmp_path_factory.mktemp("trained"))
    train(config)
    return config


def reason(capsys, config: Config, *args: str) -> str:
    code, out, err = run_pln(capsys, "topics", "test", TOPIC, *args, "-c", str(config.path))
    assert code == 0, err
    [line] = [line for line in out.splitlines() if line.startswith("  reason ")]
    return line


def test_a_labelled_item_is_never_most_like_itself(trained, capsys):
    row = next(r for r in fixture_rows() if r["labels"].get(TOPIC) == "+")
    why = reason(capsys, trained, "--item", as_item(row).id)
    assert ", you labelled this text + (model v1)" in why
    assert "most like" not in why


def test_a_label_for_another_topic_names_that_topic(trained, capsys):
    text = "Customer onboarding emails that cut churn by 20%. #onboarding"  # - for onboarding
    assert ", you labelled this text - for onboarding (model v1)" in reason(
        capsys, trained, "--text", text
    )
    why = reason(capsys, trained, "--text", "Customer onboarding emails that cut churn")
    assert ", most like your - for onboarding 'Customer onboarding emails" in why


def test_label_suggest_with_nothing_the_rules_match_says_why(tmp_path, capsys):
    config = small_store(
        tmp_path, "  - {id: id, title: ID, phrases: [storyboard]}", ["Treats for the puppy."]
    )
    code, out, err = run_pln(capsys, "label", "--suggest", "id", "-c", str(config.path))
    assert (code, err) == (0, "")
    assert out == (
        "id: nothing to suggest (no unlabelled item matches its rules; until the model "
        "decides, only those are ranked)\n"
    )


def test_a_model_used_with_another_pipeline_warns_only_when_word_vectors_differ(
    tmp_path, capsys, caplog
):
    """Pipelines of one language tokenize and match alike, so a model trained with blank:en
    decides the same with a saved English pipeline without vectors, and says nothing. With
    another pipeline than the one it was trained with, where either has word vectors, it says
    it reads docs without them, and it does; with another language, it says so."""
    import numpy
    import spacy

    def pipeline_folder(name: str, seed: int | None) -> str:
        nlp = spacy.blank("en")
        if seed is not None:
            rng = numpy.random.default_rng(seed)
            for word in ("spaced", "repetition", "onboarding", "learners", "quiz", "practice"):
                nlp.vocab.set_vector(word, rng.random(8))
        nlp.to_disk(tmp_path / name)
        return str(tmp_path / name)

    plain, vectors, others = (
        pipeline_folder("plain", None),
        pipeline_folder("vectors", 7),
        pipeline_folder("others", 8),
    )
    text = "Spaced repetition quiz practice for new learners"

    def decide(config, pipeline: str) -> tuple[list[str], str]:
        """The decision and reason of `pln topics test`, and what it warned."""
        config.path.write_text(settings[config.path] + f"nlp: {{pipeline: '{pipeline}'}}\n")
        caplog.clear()
        code, out, _ = run_pln(
            capsys, "topics", "test", TOPIC, "--text", text, "-c", str(config.path)
        )
        assert code == 0
        warned = "".join(f"{r.getMessage()}\n" for r in caplog.records if r.levelno == 30)
        return out.splitlines()[:2], warned

    def warning(config, trained: str, wide: int, now: str, now_wide: int) -> str:
        def vectors(n: int) -> str:
            return f"{n}-wide word vectors" if n else "no word vectors"

        return (
            f"model {config.outputs.duckdb.parent / 'models' / 'v1'} was trained with "
            f"nlp.pipeline '{trained}' ({vectors(wide)}), now '{now}' ({vectors(now_wide)}): it "
            "is used, without word vectors; run `pln train` again to use them\n"
        )

    settings = {}
    blank = make_config(tmp_path)
    settings[blank.path] = blank.path.read_text()
    train(blank)
    assert decide(blank, plain) == (decide(blank, "blank:en")[0], "")
    assert decide(blank, vectors) == (
        decide(blank, "blank:en")[0],
        warning(blank, "blank:en", 0, vectors, 8),
    )
    assert decide(blank, "blank:de")[1] == (  # other words, not only other vectors
        f"model {blank.outputs.duckdb.parent / 'models' / 'v1'} was trained with nlp.pipeline "
        "'blank:en', now 'blank:de' (another language); run `pln train` again\n"
    )

    (tmp_path / "with-vectors").mkdir()
    with_vectors = make_config(tmp_path / "with-vectors")
    settings[with_vectors.path] = with_vectors.path.read_text()
    with_vectors.path.write_text(settings[with_vectors.path] + f"nlp: {{pipeline: '{vectors}'}}\n")
    train(load_config(with_vectors.path))
    assert decide(with_vectors, vectors)[1] == ""
    without, warned = decide(with_vectors, plain)
    assert warned == warning(with_vectors, vectors, 8, plain, 0)
    # Other vectors of the same width are not read either: the same decision as without any.
    assert decide(with_vectors, others) == (without, warning(with_vectors, vectors, 8, others, 8))
