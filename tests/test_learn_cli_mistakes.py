"""The learning commands on a user's small mistakes and thin labels: exit 2 and one line for
a mistake, a warning for an empty file, honest intervals and warnings for few labels."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from test_learning import FIXTURES, TOPIC, as_item, fixture_rows, make_config, run_pln

from pln.config import Config, load_config
from pln.filters.curator import Curator
from pln.filters.scores import bootstrap_f1
from pln.sinks.store import Label, Store


@pytest.fixture
def config(tmp_path) -> Config:
    return make_config(tmp_path)


def add_labels(config: Config, *labels: tuple[str, int]) -> str:
    """Label the first fixture item for each (topic, label); returns its id."""
    item = as_item(fixture_rows()[0]).id
    at = datetime(2026, 11, 21, tzinfo=UTC)
    with Store(config.outputs.duckdb) as store:
        store.add_labels([Label(item, topic, label, at, "cli") for topic, label in labels])
    return item


def test_eval_warns_about_few_labels_whatever_else_it_notes_and_never_shows_no_width(
    config, capsys
):
    """A topic with one label gets 'rules only' and the few-labels warning; its interval has
    width; labels of a topic gone from the config are named once."""
    text = config.path.read_text()
    config.path.write_text(
        text.replace("topics:\n", "topics:\n  - id: team\n    title: Team\n    phrases: [teams]\n")
    )
    add_labels(config, ("team", 1), ("gone", -1))
    code, out, err = run_pln(capsys, "eval", "-c", str(config.path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "1 label for topics not in the config: gone; ignored"
    team = next(line for line in lines if line.startswith("  team: "))
    assert team.startswith("  team: rules only: ")
    assert team.endswith(
        "; few labels (1 +, 0 -): wide intervals; 20 with 5 of each make them useful"
    )
    intervals = re.findall(r"\[(\d\.\d\d)-(\d\.\d\d)\]", out)
    assert len(intervals) == 6 and all(lo < hi for lo, hi in intervals), out

    code, out, err = run_pln(capsys, "eval", "-c", str(config.path), "--json")
    result = json.loads(out)
    rows = {r["topic"]: r for r in result["topics"]}
    assert "few labels (1 +, 0 -)" in rows["team"]["note"]
    assert "few labels (3 +, 2 -)" in rows["onboarding"]["note"]
    assert "few labels" not in rows[TOPIC]["note"]
    lo, hi = rows["team"]["rules"]["f1_ci"]
    assert lo < hi
    assert result["labels_ignored"] == {"gone": 1}

    code, out, err = run_pln(capsys, "train", "-c", str(config.path))  # the same summary
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "1 label for topics not in the config: gone; ignored"
    assert "  team: rules only: " in out and "; few labels (1 +, 0 -): wide intervals;" in out


def test_f1_interval_of_a_handful_of_labels_is_wide_not_a_point():
    """Below 20 labels or 5 of a class, or with no mistake to resample, F1 at the ends of the
    Wilson intervals of P and R (97.5% each), never the bootstrap's point."""
    assert bootstrap_f1([True, True], [True, True]) == (0.28, 1.0)  # 2 / (2 + z²)
    assert bootstrap_f1([True, False, True], [True, False, False]) == (0.11, 0.96)
    perfect = [True] * 10 + [False] * 10
    assert bootstrap_f1(perfect, perfect) == (0.67, 1.0)


def test_topics_add_quotes_words_yaml_reads_as_true_or_false(config, capsys):
    code, out, err = run_pln(
        capsys, "topics", "add", "onboarding", "off", "yes", "#no", "#on", "-c", str(config.path)
    )
    assert code == 0, err
    assert out.splitlines()[0] == (
        f"{config.path}: added to onboarding: phrase 'off', phrase 'yes', #no, #on"
    )
    topic = load_config(config.path).topic("onboarding")
    assert list(topic.phrases[-2:]) == ["off", "yes"]
    assert list(topic.hashtags[-2:]) == ["no", "on"]


@pytest.mark.parametrize(
    ("content", "first"),
    [
        ("id\ttitle\tlabel\ng1\tpeer learning\t+\n", "id\\ttitle\\tlabel"),
        ("d1\tpeer learning rocks\t+\n", "d1\\tpeer learning rocks\\t+"),
        ("label\n+\n", "label"),
    ],
)
def test_topics_test_file_without_a_text_column_is_refused(
    config, capsys, tmp_path, content, first
):
    path = tmp_path / "texts.tsv"
    path.write_text(content)
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(path), "-c", str(config.path)
    )
    assert (code, out) == (2, "")
    assert err == (
        f"pln: error: {path}: a tab-separated file needs a header row naming a `text` column "
        f"(and id, title, label), got '{first}'\n"
    )


def test_topics_test_file_header_text_and_label_lines_are_not_texts(config, capsys, tmp_path):
    only = tmp_path / "textonly.tsv"
    only.write_text("text\nSpaced repetition beats cramming.\n")
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(only), "-c", str(config.path)
    )
    assert code == 0, err
    assert out == "2\tkept\t0.632\tmatched 'spaced repetition'; threshold 0.5\n"
    assert err.startswith("1 text in ")
    signed = tmp_path / "signed.txt"
    signed.write_text("+\tSpaced repetition beats cramming.\n-\tLunch was great.\n")
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(signed), "-c", str(config.path)
    )
    assert code == 0, err
    assert [line.split("\t")[:2] for line in out.splitlines()] == [["1", "kept"], ["2", "-"]]
    assert err.rstrip().endswith("against the labels of 2: precision 1.00, recall 1.00, F1 1.00")


def test_empty_files_say_so_on_stderr(config, capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(empty), "-c", str(config.path)
    )
    assert (code, out) == (0, "")
    assert err.splitlines()[0] == f"pln: warning: {empty}: no texts to test"
    assert err.splitlines()[1].startswith("0 texts in ")
    header = tmp_path / "labels.csv"
    header.write_text("item_id,topic,label\n")
    code, out, err = run_pln(capsys, "label", "--csv", str(header), "-c", str(config.path))
    assert (code, out, err) == (
        0,
        f"stored 0 labels from {header}\n",
        f"pln: warning: {header}: no labels in it\n",
    )


def test_label_csv_reads_the_id_column_pln_sql_exports(config, capsys, tmp_path):
    item = as_item(fixture_rows()[0]).id
    path = tmp_path / "export.csv"
    path.write_text(f"id,topic,label\n{item},onboarding,+\n")
    code, out, err = run_pln(capsys, "label", "--csv", str(path), "-c", str(config.path))
    assert (code, out, err) == (0, f"stored 1 label from {path}\n", "")
    with Store(config.outputs.duckdb, read_only=True) as store:
        labels = {(r.item_id, r.topic): (r.label, r.origin) for r in store.labels()}
    assert labels[(item, "onboarding")] == (1, "csv")


@pytest.mark.parametrize("n", ["0", "-1"])
@pytest.mark.parametrize("command", [["topics", "suggest", TOPIC], ["label", "--suggest", TOPIC]])
def test_n_below_one_is_a_usage_error(config, capsys, command, n):
    code, out, err = run_pln(capsys, *command, "-n", n, "-c", str(config.path))
    assert (code, out, err) == (2, "", f"pln: error: -n must be 1 or more, got {n}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["label", "{item}", "nope", "+"], "{cfg}: no topic named 'nope' (known: "),
        (["label", "--suggest", "nope"], "{cfg}: no topic named 'nope' (known: "),
        (["topics", "suggest", "nope"], "{cfg}: no topic named 'nope' (known: "),
        (["topics", "test", "nope", "--text", "x"], "{cfg}: no topic named 'nope' (known: "),
        (["label", "{item}", TOPIC, "maybe"], "label must be + or - (or up/down, 1/-1)"),
        (["label", "0000", TOPIC, "+"], "no item with id '0000' in "),
        (["topics", "test", TOPIC, "--item", "0000"], "no item with id '0000' in "),
        (["topics", "test", TOPIC, "--file", "{bad}"], "{bad}:2: label must be + or -, got 'yes'"),
        (["topics", "test", TOPIC, "--file", "{latin}"], "{latin}: not UTF-8 text ("),
        (
            ["label", "--csv", "{latin}"],
            "{latin}: not UTF-8 text (invalid continuation byte at byte 17); save it as UTF-8 "
            "(in Excel: CSV UTF-8)",
        ),
    ],
)
def test_user_mistakes_exit_2_with_one_line(config, capsys, tmp_path, args, message):
    bad, latin = tmp_path / "bad.tsv", tmp_path / "latin.txt"
    bad.write_text("id\ttext\tlabel\ne1\tpeer learning\tyes\n")
    latin.write_bytes("peer learning café\n".encode("latin-1"))
    item = as_item(fixture_rows()[0]).id
    names = {"item": item, "cfg": config.path, "bad": bad, "latin": latin}
    args = [a.format(**names) for a in args]
    code, out, err = run_pln(capsys, *args, "-c", str(config.path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("pln: error: " + message.format(**names))


def unlabelled_config(folder) -> Config:
    """As make_config, the fixture items curated by the rules, but not one label."""
    path = folder / "pln.yaml"
    outputs = "\noutputs:\n  duckdb: out/pln.duckdb\n  feeds_dir: out/feeds\n"
    path.write_text((FIXTURES / "topics.yaml").read_text(encoding="utf-8") + outputs)
    config = load_config(path)
    result = Curator.for_config(config).curate([as_item(r) for r in fixture_rows()])
    with Store(config.outputs.duckdb) as store:
        store.write(result.items, result.decisions, ())
    return config


LABEL_HOW = (
    "label items with `pln label ITEM_ID TOPIC +|-`, `pln label --csv FILE` or the links of "
    "the served feeds and teach pages (`pln serve`)\n"
)


@pytest.mark.parametrize(
    ("command", "doing"),
    [(["eval"], "evaluate"), (["eval", "--json"], "evaluate"), (["train"], "train on")],
)
def test_eval_and_train_without_labels_say_what_to_do_and_exit_2(tmp_path, capsys, command, doing):
    """Nothing to evaluate or train on is not a success: one line on what to do, exit 2."""
    config = unlabelled_config(tmp_path)
    code, out, err = run_pln(capsys, *command, "-c", str(config.path))
    assert (code, out) == (2, "")
    assert err == (
        f"pln: error: nothing to {doing}: no labels yet for the topics of {config.path}; "
        + LABEL_HOW
    )
    add_labels(config, ("gone", 1))  # a label, but of a topic no longer in the config
    code, out, err = run_pln(capsys, *command, "-c", str(config.path))
    assert (code, out) == (2, "")
    assert err == (
        f"pln: error: nothing to {doing}: no labels yet for the topics of {config.path} "
        "(1 label of topics not in it, ignored: gone); " + LABEL_HOW
    )
    code, out, err = run_pln(capsys, "rescore", "-c", str(config.path))  # needs no label
    assert code == 0 and out.startswith("rescored ") and err == ""


@pytest.mark.parametrize(
    ("command", "doing"), [(["eval"], "evaluate"), (["train"], "train a model")]
)
def test_eval_and_train_with_too_few_labels_say_how_many_more_and_exit_2(
    tmp_path, capsys, command, doing
):
    config = unlabelled_config(tmp_path)
    add_labels(config, (TOPIC, 1), ("onboarding", -1))
    code, out, err = run_pln(capsys, *command, "-c", str(config.path))
    assert (code, out) == (2, "")
    assert err == (
        f"pln: error: too few labels to {doing} for the topics of {config.path}: 2 labels "
        "(1 +, 1 -); needs at least 4 across all topics, with at least 2 of each; label more "
        "with `pln label` (`pln label --suggest TOPIC` lists the items that teach the most)\n"
    )


def excel_csv(path, delimiter: str, ids: list[str]) -> None:
    """A sheet saved as Excel saves it: a byte-order mark, CRLF, the delimiter of the locale,
    a cell holding it (or a quote, or a line break) quoted; rows not labelled have an empty
    label cell, an empty row only delimiters."""
    d = delimiter
    rows = [
        f"title{d}id{d}topic{d}label",
        f'"Spaced repetition{d} a ""primer"""{d}{ids[0]}{d}{TOPIC}{d}+',
        f'"Onboarding, in two lines:\nday one"{d}{ids[1]}{d}onboarding{d}-',
        f"Not labelled yet{d}{ids[2]}{d}onboarding{d}",
        d * 3,
        f"A typo in the topic{d}{ids[2]}{d}team-building{d}+",
    ]
    path.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_label_csv_reads_what_excel_writes(config, capsys, tmp_path, delimiter):
    """`;` (Excel in many European locales), tab or `,`, decided from the header, which may
    put the id column anywhere; a label cell left empty is a row not labelled, not a mistake;
    a bad row is named by the line it starts on."""
    ids = [as_item(row).id for row in fixture_rows()[:3]]
    path = tmp_path / "sheet.csv"
    excel_csv(path, delimiter, ids)
    code, out, err = run_pln(capsys, "label", "--csv", str(path), "-c", str(config.path))
    assert out == f"stored 2 labels from {path}; 1 row skipped; 1 row without a label left out\n"
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pln: skipped {path}:7: no topic named 'team-building' (known: ")
    assert f" {TOPIC}" in err and "onboarding" in err
    with Store(config.outputs.duckdb, read_only=True) as store:
        labels = {(r.item_id, r.topic): (r.label, r.origin) for r in store.labels()}
    assert labels[(ids[0], TOPIC)] == (1, "csv")
    assert labels[(ids[1], "onboarding")] == (-1, "csv")


def test_label_csv_without_a_header_may_use_semicolons(config, capsys, tmp_path):
    item = as_item(fixture_rows()[0]).id
    path = tmp_path / "labels.csv"
    path.write_bytes(f"\ufeff{item};onboarding;down\r\n".encode())
    code, out, err = run_pln(capsys, "label", "--csv", str(path), "-c", str(config.path))
    assert (code, out, err) == (0, f"stored 1 label from {path}\n", "")


@pytest.mark.parametrize(
    ("content", "found"),
    [
        ("ID|Topic|Label\nabc|onboarding|+\nabd|onboarding|-\n", "1 column: 'ID|Topic|Label'"),
        ("abc onboarding +\nabd onboarding -\n", "1 column: 'abc onboarding +'"),
        ("abc;onboarding\nabd;onboarding\n", "2 columns: 'abc', 'onboarding'"),
    ],
)
def test_label_csv_whose_columns_cannot_be_told_is_one_line_not_one_per_row(
    config, capsys, tmp_path, content, found
):
    path = tmp_path / "labels.csv"
    path.write_text(content)
    code, out, err = run_pln(capsys, "label", "--csv", str(path), "-c", str(config.path))
    assert (code, out) == (2, "")
    assert err == (
        f"pln: error: {path}:1: cannot tell the columns: expected a header naming id (or "
        f"item_id), topic and label, separated by ',', ';' or tabs; found {found}\n"
    )


def test_topics_test_file_reads_a_csv_sheet(config, capsys, tmp_path):
    """A sheet of texts saved as CSV (`;` here, as Excel writes it) is read by its header, not
    tested line by line as texts; a header of column names without `text` is refused."""
    sheet = tmp_path / "texts.csv"
    rows = ["id;text;label", 'a;"Spaced repetition; beats cramming";+', "b;Lunch was great;-"]
    sheet.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(sheet), "-c", str(config.path)
    )
    assert code == 0, err
    assert out.splitlines() == [
        "a\tkept\t0.632\tmatched 'spaced repetition'; threshold 0.5",
        "b\t-\t0\tno match",
    ]
    assert err.rstrip().endswith("against the labels of 2: precision 1.00, recall 1.00, F1 1.00")
    sheet.write_text("id,label\na,+\n")
    code, out, err = run_pln(
        capsys, "topics", "test", TOPIC, "--file", str(sheet), "-c", str(config.path)
    )
    assert (code, out) == (2, "")
    assert err == (
        f"pln: error: {sheet}: a ','-separated file needs a header row naming a `text` column "
        "(and id, title, label), got 'id,label'\n"
    )
