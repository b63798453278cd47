"""`pln topics add`: a suggested phrase goes into the user's own config file, which keeps its
comments and layout, and a rescore then keeps what the phrase matches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
from helpers import db_rows

from pln.cli import main
from pln.config import load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TOPIC = "retrieval-practice"


def example(tmp_path: Path) -> Path:
    """The example as its user wrote it (comments and all), without its outputs."""
    shutil.copytree(EXAMPLES, tmp_path / "examples", ignore=shutil.ignore_patterns("out"))
    return tmp_path / "examples" / "pln.yaml"


def pln(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_added_terms_land_in_the_topic_and_nothing_else_of_the_file_changes(tmp_path, capsys):
    path = example(tmp_path)
    before = path.read_text().splitlines()
    code, out, err = pln(
        capsys, "topics", "add", TOPIC, "revisit", "#Quiz", "L&D: basics", "Spaced  repetition",
        "#spacedpractice", "-c", str(path),
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines() == [
        f"{path}: added to {TOPIC}: phrase 'revisit', phrase 'L&D: basics', #Quiz",
        f"{TOPIC} has already: Spaced repetition, #spacedpractice",
        "the next run uses it and `pln rescore` applies it to the items stored already "
        "(a running `pln stream` does both at once)",
    ]
    topic = load_config(path).topic(TOPIC)
    assert topic.phrases[-2:] == ("revisit", "L&D: basics")
    assert topic.hashtags[-1] == "quiz"
    after = path.read_text().splitlines()
    # Every line the user wrote is still there, in order; the hashtags' flow list grew in place.
    hashtags = next(i for i, line in enumerate(before) if "hashtags: [RetrievalPractice" in line)
    assert after[hashtags + 2] == before[hashtags].replace("]", ", Quiz]")
    assert after[: hashtags + 2] == [*before[:hashtags], "      - revisit", "      - 'L&D: basics'"]
    assert after[hashtags + 3 :] == before[hashtags + 1 :]

    code, out, _ = pln(capsys, "topics", "add", TOPIC, "REVISIT", "-c", str(path))
    assert code == 0 and out == f"{TOPIC} has already: REVISIT\n"
    assert path.read_text().splitlines() == after  # nothing new: the file is not rewritten


def test_mistakes_are_one_line_errors_and_leave_the_file_alone(tmp_path, capsys):
    path = example(tmp_path)
    original = path.read_bytes()
    for args, message in (
        (["no-such-topic", "revisit"], "no topic named 'no-such-topic' (known: "),
        ([TOPIC, "revisit", "  "], f"cannot add '  ' to {TOPIC}: it is empty"),
        ([TOPIC, "#"], f"cannot add '#' to {TOPIC}: it is empty"),
    ):
        code, out, err = pln(capsys, "topics", "add", *args, "-c", str(path))
        assert code == 2 and out == ""
        assert err.startswith("pln: error: ") and message in err and err.count("\n") == 1
        assert path.read_bytes() == original


def test_a_file_saved_on_windows_keeps_its_line_endings_and_byte_order_mark(tmp_path, capsys):
    lines = [
        "sources:",
        "  - {name: blog, type: rss, path: feed.xml}  # my blog",
        "topics:",
        "  - id: coaching",
        "    phrases: [coaching]  # more to come",
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}",
    ]
    path = tmp_path / "pln.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    assert pln(capsys, "topics", "add", "coaching", "mentoring", "-c", str(path))[0] == 0
    lines[4] = "    phrases: [coaching, mentoring] # more to come"  # the comment moves over
    assert path.read_bytes() == b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"


def test_a_list_shared_through_a_yaml_alias_or_merge_is_not_changed(tmp_path, capsys):
    path = tmp_path / "pln.yaml"
    path.write_text(
        "sources:\n  - {name: blog, type: rss, path: feed.xml}\n"
        "topics:\n"
        "  - {id: one, phrases: &common [learning, training]}\n"
        "  - {id: two, phrases: *common}\n"
        "  - &three {id: three, phrases: [x]}\n"
        "  - {<<: *three, id: four}\n"
        "  - {id: five, hashtags: [lrnchat]}\n"
        "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
    )
    original = path.read_bytes()
    for index, topic in enumerate(("one", "two", "three", "four")):
        code, _, err = pln(capsys, "topics", "add", topic, "coaching", "-c", str(path))
        assert code == 2 and f"topics[{index}].phrases: is shared with another entry" in err
        assert path.read_bytes() == original
    # A topic without phrases gets its own list; a hashtag list of its own grows.
    assert pln(capsys, "topics", "add", "five", "coaching", "#chat", "-c", str(path))[0] == 0
    assert "  - {id: five, hashtags: [lrnchat, chat], phrases: [coaching]}\n" in path.read_text()
    assert load_config(path).topic("one").phrases == ("learning", "training")


def test_a_suggested_phrase_added_then_rescored_keeps_what_it_matches(tmp_path, capsys):
    path = example(tmp_path)
    assert pln(capsys, "run", "-q", "-c", str(path))[0] == 0
    code, out, _ = pln(capsys, "topics", "suggest", TOPIC, "-c", str(path))
    assert code == 0 and f"`pln topics add {TOPIC} " in out
    suggested = out.split("e.g. [", 1)[1].split("]", 1)[0].split(", ")
    assert "revisit" in suggested
    db = load_config(path).outputs.duckdb
    query = f"SELECT count(*) FROM decisions WHERE topic = '{TOPIC}' AND kept"
    kept_before = db_rows(db, query)[0][0]

    assert pln(capsys, "topics", "add", TOPIC, "revisit", "-c", str(path))[0] == 0
    rescore_line = "  rescore   the topics, the model or pln's matching changed since the stored"
    code, out, _ = pln(capsys, "run", "-c", str(path))  # nothing new: the run says so
    assert code == 0 and rescore_line in out.splitlines()[-1]
    code, out, _ = pln(capsys, "rescore", "-c", str(path))
    assert code == 0 and f"{TOPIC}: {kept_before + 1} kept (+1 -0)" in out
    matched = db_rows(db, f"{query} AND reason LIKE '%''revisit''%'")[0][0]
    assert matched >= 1
    code, out, _ = pln(capsys, "run", "-c", str(path))
    assert code == 0 and "rescore" not in out


def test_a_store_scored_by_an_older_matcher_is_due_a_rescore(tmp_path, capsys):
    """Decisions stored before pln's matching changed ("training" matched "train") are stale
    like those of an edited topic: `pln run` says so, and `pln rescore` brings them up."""
    path = example(tmp_path)
    assert pln(capsys, "run", "-q", "-c", str(path))[0] == 0
    db = load_config(path).outputs.duckdb
    [(key,)] = db_rows(db, "SELECT value FROM pln_meta WHERE key = 'scored_with'")
    older = json.loads(key)
    older.pop("scorer", None)  # what pln wrote before it kept its matcher's version
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE pln_meta SET value = ? WHERE key = 'scored_with'", [json.dumps(older)])

    code, out, _ = pln(capsys, "run", "-c", str(path))
    assert code == 0 and "pln's matching changed" in out.splitlines()[-1]
    assert pln(capsys, "rescore", "-c", str(path))[0] == 0
    code, out, _ = pln(capsys, "run", "-c", str(path))
    assert code == 0 and "rescore" not in out


def test_remove_takes_out_what_add_put_in_and_never_leaves_a_topic_empty(tmp_path, capsys):
    path = example(tmp_path)
    original = path.read_text()
    args = ["-c", str(path)]
    assert pln(capsys, "topics", "add", TOPIC, "revisit", "#Quiz", *args)[0] == 0
    assert pln(capsys, "topics", "add", TOPIC, "--none", "promo code", *args)[0] == 0
    code, out, err = pln(capsys, "topics", "remove", TOPIC, "REVISIT", "#quiz", "nudges", *args)
    assert code == 0, err
    assert out.splitlines()[:2] == [
        f"{path}: removed from {TOPIC}: phrase 'revisit', #Quiz",
        f"{TOPIC} has no: nudges",
    ]
    assert pln(capsys, "topics", "remove", TOPIC, "--none", "Promo  Code", *args)[0] == 0
    assert path.read_text() == original  # back to the file as the user wrote it

    # A topic left with nothing to match by is a config mistake: refused, file unchanged.
    before = path.read_bytes()
    topic = load_config(path).topic("onboarding")
    code, _, err = pln(
        capsys, "topics", "remove", "onboarding", *topic.phrases,
        *(f"#{tag}" for tag in topic.hashtags), *args,
    )  # fmt: skip
    assert code == 2 and "a topic needs at least one of phrases, hashtags, must, any" in err
    assert path.read_bytes() == before
