"""`pln topics`, `pln topics test` and `pln label`: what a user types and reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_learning import FIXTURES, TOPIC, as_item, fixture_rows, make_config, run_pln

from pln.config import Config
from pln.filters.curator import Curator
from pln.filters.nlp import load_nlp, pipeline_version
from pln.record import Item, make_item_id
from pln.sinks.store import Store

PIPELINE = pipeline_version(load_nlp("blank:en"))


@pytest.fixture
def config(tmp_path) -> Config:
    return make_config(tmp_path)


def labels_of(config: Config) -> dict[tuple[str, str], tuple[int, str]]:
    with Store(config.outputs.duckdb, read_only=True) as store:
        return {(r.item_id, r.topic): (r.label, r.origin) for r in store.labels()}


def test_topics_lists_version_counts_labels_and_model(config, capsys):
    code, out, err = run_pln(capsys, "topics", "-c", str(config.path))
    assert code == 0, err
    header, _, rp, onboarding, count = out.splitlines()
    assert header.split() == ["topic", "version", "threshold", "scored", "kept", "labels", "model"]
    rp_version = config.topic(TOPIC).version
    with Store(config.outputs.duckdb, read_only=True) as store:
        scored, kept = store.sql(
            f"SELECT count(*), count(*) FILTER (WHERE kept) FROM decisions WHERE topic = '{TOPIC}'"
        )[1][0]
    assert rp.split() == [TOPIC, rp_version, "0.5", str(scored), str(kept), "46+", "40-", "-"]
    assert onboarding.split()[:2] == ["onboarding", config.topic("onboarding").version]
    assert onboarding.split()[-3:] == ["3+", "2-", "-"]
    assert count == "(2 rows)"


def test_topics_test_text_explains_word_for_word(config, capsys):
    version = config.topic(TOPIC).version
    code, out, err = run_pln(
        capsys,
        "topics",
        "test",
        TOPIC,
        "-c",
        str(config.path),
        "--text",
        "Spaced Repetitions work. #RetrievalPractice",
    )
    assert (code, err) == (0, "")
    assert out == (
        f"{TOPIC}: kept, score 0.826 (threshold 0.5)\n"
        "  reason   matched 'spaced repetition' (lemma), #retrievalpractice; threshold 0.5\n"
        f"  version  topic {version}; pln-score.v4; {PIPELINE}\n"
    )
    code, out, _ = run_pln(
        capsys, "topics", "-c", str(config.path), "test", TOPIC, "--text", "Lunch was great."
    )
    assert out.splitlines()[:2] == [
        f"{TOPIC}: not kept, score 0 (threshold 0.5)",
        "  reason   no match",
    ]


def test_topics_test_item_reads_the_stored_item(config, capsys):
    promo = as_item(next(r for r in fixture_rows() if r["id"] == "rp-n01"))
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "-c", str(config.path), "--item", promo.id
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [
        f"{TOPIC}: kept, score 0.632 (threshold 0.5)",
        "  reason   matched 'spaced repetition'; threshold 0.5",
    ]
    # What the Curator decided in the run is what the test shows.
    with Store(config.outputs.duckdb, read_only=True) as store:
        reason = store.sql(
            f"SELECT reason FROM decisions WHERE item_id = '{promo.id}' AND topic = '{TOPIC}'"
        )[1][0][0]
    assert reason == "matched 'spaced repetition'; threshold 0.5"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--text", "x"], "no topic named 'nope' (known: retrieval-practice, onboarding)"),
        ([TOPIC, "--item", "0000"], "no item with id '0000' in {db}"),
    ],
)
def test_topics_test_mistakes_are_one_line_errors(config, capsys, args, message):
    code, out, err = run_pln(capsys, "topics", "test", *args, "-c", str(config.path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("pln: error: ")
    assert err.rstrip().endswith(message.format(db=config.outputs.duckdb))


def test_label_one_item_stores_and_replaces_the_label(config, capsys):
    item = as_item(fixture_rows()[0])
    code, out, err = run_pln(capsys, "label", item.id, "onboarding", "up", "-c", str(config.path))
    assert (code, err) == (0, "")
    assert out == f"onboarding: item {item.id} labelled +\n"
    assert labels_of(config)[(item.id, "onboarding")] == (1, "cli")
    run_pln(capsys, "label", item.id, "onboarding", "-", "-c", str(config.path))
    assert labels_of(config)[(item.id, "onboarding")] == (-1, "cli")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["0000", TOPIC, "+"], "pln: error: no item with id '0000' in {db}"),
        (["{item}", "nope", "+"], "pln: error: {cfg}: no topic named 'nope' (known: "),
        (["{item}", TOPIC, "maybe"], "pln: error: label must be + or - (or up/down, 1/-1)"),
    ],
)
def test_label_mistakes_are_one_line_errors_and_store_nothing(config, capsys, args, message):
    before = labels_of(config)
    item = as_item(fixture_rows()[0])
    args = [a.format(item=item.id) for a in args]
    code, out, err = run_pln(capsys, "label", *args, "-c", str(config.path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(message.format(db=config.outputs.duckdb, cfg=config.path))
    assert labels_of(config) == before


def test_label_csv_stores_good_rows_and_reports_bad_ones_by_line(config, capsys):
    csv_path = FIXTURES / "labels.csv"
    before = labels_of(config)
    code, out, err = run_pln(capsys, "label", "--csv", str(csv_path), "-c", str(config.path))
    assert code == 2
    assert out == f"stored 5 labels from {csv_path}; 4 rows skipped\n"
    assert err.splitlines() == [
        f"pln: skipped {csv_path}:6: label must be +, -, 1, -1, up or down, got 'maybe'",
        f"pln: skipped {csv_path}:8: no topic named 'team-building' "
        "(known: onboarding, retrieval-practice)",
        f"pln: skipped {csv_path}:9: no item with id '0000000000deadbeef00'",
        f"pln: skipped {csv_path}:10: expected item_id,topic,label, got 2 column(s)",
    ]
    after = labels_of(config)
    rp = make_item_id("fixture", "rp-p01")
    assert after[(rp, TOPIC)] == (1, "csv")
    assert after[(make_item_id("fixture", "rp-n01"), TOPIC)] == (-1, "csv")
    assert after[(make_item_id("fixture", "on-01"), "onboarding")] == (1, "csv")
    assert len(after) == len(before)  # the fixture items were labelled already: replaced


def test_label_csv_missing_file_and_bad_header(config, capsys, tmp_path: Path):
    code, _, err = run_pln(
        capsys, "label", "--csv", str(tmp_path / "x.csv"), "-c", str(config.path)
    )
    assert (code, err) == (2, f"pln: error: {tmp_path / 'x.csv'}: file not found\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,topic\nabc,onboarding\n")
    code, _, err = run_pln(capsys, "label", "--csv", str(bad), "-c", str(config.path))
    assert (code, err) == (2, f"pln: error: {bad}:1: header lacks label\n")


def test_explain_matches_the_batch_decision_of_the_run(config):
    """`pln topics test --item` and `pln run` agree (the same Curator code path)."""
    curator = Curator.for_config(config)
    items = [as_item(r) for r in fixture_rows()]
    batch = {(d.item_id, d.topic): d for d in curator.curate(items).decisions}
    for item in items[:30]:
        single = curator.explain_item(item, TOPIC)
        stored = batch.get((item.id, TOPIC))
        assert (single.score, single.reason) == (
            (stored.score, stored.reason) if stored else (0.0, single.reason)
        )


def test_topics_test_file_decides_each_line_and_measures_against_labels(config, capsys, tmp_path):
    plain = tmp_path / "texts.txt"
    plain.write_text(
        "Spaced repetition beats cramming.\n\nLunch was great.\nA #retrievalpractice quiz\n"
    )
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(plain), "-c", str(config.path)
    )
    assert code == 0, err
    assert out.splitlines() == [
        "1\tkept\t0.632\tmatched 'spaced repetition'; threshold 0.5",
        "3\t-\t0\tno match",
        "4\tkept\t0.528\tmatched #retrievalpractice; threshold 0.5",
    ]
    assert err.startswith("3 texts in ") and err.rstrip().endswith("; 2 kept")

    tsv = tmp_path / "labelled.tsv"
    tsv.write_text(
        "id\tlabel\ttext\n"
        "a\t+\tRetrieval practice in every workshop\n"
        "b\t-\tDownload our spaced repetition app today\n"
        "c\t+\tQuizzes a week apart help people remember\n"
    )
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(tsv), "-c", str(config.path)
    )
    assert [line.split("\t")[:2] for line in out.splitlines()] == [
        ["a", "kept"],
        ["b", "kept"],
        ["c", "-"],
    ]
    assert err.rstrip().endswith(
        "; 2 kept; against the labels of 3: precision 0.50, recall 0.50, F1 0.50"
    )


def test_topics_test_file_mistakes_are_one_line_errors(config, capsys, tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\ttext\nmaybe\tsome text\n")
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(bad), "-c", str(config.path)
    )
    assert (code, out) == (2, "")
    assert err == f"pln: error: {bad}:2: label must be + or -, got 'maybe'\n"
    code, _, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(tmp_path / "none.txt"), "-c",
        str(config.path),
    )  # fmt: skip
    assert (code, err) == (2, f"pln: error: {tmp_path / 'none.txt'}: file not found\n")


def test_topics_suggest_proposes_words_of_the_wanted_items_the_topic_lacks(config, capsys):
    code, out, err = run_pln(capsys, "topics", "suggest", TOPIC, "-c", str(config.path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{TOPIC}: from ") and " items you want " in lines[0]
    phrases = [line.split()[0] for line in lines if line.startswith("    ") and " z " in line]
    # The + labels talk about quizzes and flashcards, which the phrases lack ...
    assert {"quiz", "quizzes", "flashcards", "flashcard"} & set(phrases), out
    # ... and nothing the topic already has is proposed again.
    assert not {"spaced", "repetition", "retrieval", "practice"} & set(phrases)
    hint = next(i for i, line in enumerate(lines) if "add the ones that fit" in line)
    assert lines[hint].startswith(f"  add the ones that fit to topics[{TOPIC}].phrases, e.g. [")
    assert lines[hint + 1].startswith(f"  (`pln topics add {TOPIC} ")
    # The - labels are vendor promotions that reuse the topic's words: their own words are
    # offered for `none`, never one that an item you want has.
    start = next(i for i, line in enumerate(lines) if "to keep out near-misses" in line)
    assert lines[start].startswith("  to keep out near-misses: in the 40 items you labelled -")
    exclusions = [line[4:36].strip() for line in lines[start + 1 : -1]]
    assert {"premium", "discount", "free trial", "promo code"} <= set(exclusions), out
    assert lines[-1].startswith(f"  the ones that fit go to topics[{TOPIC}].none (`pln topics")

    code, out, err = run_pln(
        capsys, "topics", "add", TOPIC, "--none", "premium", "-c", str(config.path)
    )
    assert code == 0 and f"added to {TOPIC}: none 'premium'" in out, err
    promo = "Premium plan: spaced repetition flashcards for your team, now 20% off"
    code, out, _ = run_pln(capsys, "topics", "test", TOPIC, "--text", promo, "-c", str(config.path))
    assert code == 0 and "excluded by 'premium'" in out, out


def test_label_suggest_lists_unlabelled_items_rules_and_model_disagree_on(config, capsys, tmp_path):
    from pln.learn import train

    fresh = [
        ("s1", "Download our spaced repetition app now, 50% off"),
        ("s2", "Quiz yourself every few days on what the workshop covered"),
        ("s3", "The canteen menu changes on Monday"),
    ]
    items = [
        Item.create(source="blogs", platform="fixture", kind="post", native_id=k, text=t)
        for k, t in fresh
    ]
    with Store(config.outputs.duckdb) as store:
        store.write(items, [], ())
    code, out, _ = run_pln(capsys, "label", "--suggest", TOPIC, "-c", str(config.path))
    assert code == 0
    assert out.splitlines()[1].split()[0] == items[0].id  # rules only: scored by the rules
    train(config)
    code, out, err = run_pln(capsys, "label", "--suggest", TOPIC, "-n", "2", "-c", str(config.path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{TOPIC}: label these to teach the most (`pln label ITEM_ID {TOPIC} +|-`)"
    assert len(lines) == 3
    shown = {line.split()[0] for line in lines[1:]}
    assert items[2].id not in shown  # neither rules nor model care about the canteen
    with Store(config.outputs.duckdb, read_only=True) as store:
        labelled = {r.item_id for r in store.labels(TOPIC)}
    assert not shown & labelled
