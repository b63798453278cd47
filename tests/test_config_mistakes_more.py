"""More config mistakes a QA pass made: an impossible date, a key given twice, a typo of a
top-level key, a number out of range or not a number, a language that is no code, a hashtag
with a space. Each is one line naming the file and the key (or line), exit 2, never a
traceback; and what was right before still loads the same."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pln.cli import main
from pln.config import ConfigLoader, load_config
from pln.filters.language import LANGUAGES

FEED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>'
    "<item><title>Spaced repetition works</title><link>https://blog.example/1</link>"
    "<guid>https://blog.example/1</guid><description>Spaced repetition, again.</description>"
    "</item></channel></rss>"
)
SOURCE = "  - {name: a, type: rss, path: feed.atom}\n"
TOPIC = "  - {id: spaced, phrases: [spaced repetition]}\n"
OUTPUTS = "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"


def write(folder: Path, sources: str = SOURCE, topics: str = TOPIC, rest: str = "") -> Path:
    (folder / "feed.atom").write_text(FEED)
    path = folder / "pln.yaml"
    path.write_text(f"sources:\n{sources}topics:\n{topics}{OUTPUTS}{rest}")
    return path


def pln(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """`pln ARGV` in a process of its own, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pln.cli", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ.copy(),
        timeout=120,
    )


def validate(capsys, folder: Path) -> tuple[int, str]:
    """`pln validate -c pln.yaml` run in `folder`: its exit code and stderr."""
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        code = main(["validate", "-c", "pln.yaml"])
    finally:
        os.chdir(cwd)
    return code, capsys.readouterr().err


def refused(capsys, folder: Path, message: str) -> None:
    code, err = validate(capsys, folder)
    assert (code, err) == (2, f"pln: error: pln.yaml: {message}\n")


# -- 1. an impossible date: named by its key, not a traceback ---------------------------------


def test_an_impossible_date_is_one_line_in_validate_and_run(tmp_path):
    write(tmp_path, sources="  - {name: a, type: zoom_chat, path: feed.atom, date: 2026-02-30}\n")
    expected = (
        "pln: error: pln.yaml: sources[0].date: must be a date like 2026-11-19, got '2026-02-30'\n"
    )
    for command in (["validate"], ["run", "-q"]):
        result = pln(*command, "-c", "pln.yaml", cwd=tmp_path)
        assert (result.returncode, result.stderr) == (2, expected)


def test_a_date_like_title_is_a_title(tmp_path, capsys):
    """A title that YAML 1.1 reads as a date (or fails to) is the text the user wrote."""
    write(
        tmp_path,
        sources="  - {name: a, type: rss, path: feed.atom, title: 2026-13-45}\n",
        topics="  - {id: spaced, title: 2026-01-05, phrases: [spaced repetition]}\n",
    )
    assert validate(capsys, tmp_path) == (0, "")
    config = load_config(tmp_path / "pln.yaml")
    assert config.sources[0].options["title"] == "2026-13-45"
    assert config.topic("spaced").title == "2026-01-05"
    # `pln topics add` validates its edit with the same loader
    assert main(["topics", "add", "spaced", "#srs", "-c", str(tmp_path / "pln.yaml")]) == 0
    assert load_config(tmp_path / "pln.yaml").topic("spaced").hashtags == ("srs",)
    text = (tmp_path / "pln.yaml").read_text()  # the dates stay as written
    assert "title: 2026-13-45}" in text and "title: 2026-01-05," in text


def test_an_included_sources_file_is_read_alike(tmp_path, capsys):
    path = write(tmp_path, sources="", rest="include_sources: [more.yaml]\n")
    path.write_text(path.read_text().replace("sources:\n", ""))
    more = tmp_path / "more.yaml"
    more.write_text("- {name: a, type: rss, path: feed.atom, title: 2026-13-45}\n")
    assert validate(capsys, tmp_path) == (0, "")
    more.write_text("- {name: a, type: zoom_chat, path: feed.atom, date: 2026-02-30}\n")
    code, err = validate(capsys, tmp_path)
    assert (code, err) == (
        2,
        f"pln: error: {more}: [0].date: must be a date like 2026-11-19, got '2026-02-30'\n",
    )
    more.write_text("- {name: a, type: rss, path: feed.atom}\n- {name: b, type: rss, type: x}\n")
    assert validate(capsys, tmp_path) == (2, f"pln: error: {more}: line 2: duplicate key 'type'\n")


# -- 2. keep_days of a million years ------------------------------------------------------


def test_keep_days_above_a_hundred_years_is_refused(tmp_path, capsys):
    path = write(tmp_path)
    path.write_text(path.read_text().replace("feeds_dir: out/feeds}", "keep_days: 100000000}"))
    refused(capsys, tmp_path, "outputs.keep_days: must be at most 36500 (100 years), got 100000000")
    path.write_text(path.read_text().replace("100000000", "36500"))
    assert validate(capsys, tmp_path) == (0, "")


def test_forget_days_above_a_hundred_years_is_one_line(tmp_path):
    write(tmp_path)
    assert pln("run", "-q", "-c", "pln.yaml", cwd=tmp_path).returncode == 0
    for days in ("100000000", "36501"):
        result = pln("forget", "--days", days, "--dry-run", "-c", "pln.yaml", cwd=tmp_path)
        assert (result.returncode, result.stdout) == (2, "")
        assert result.stderr == (
            f"pln: error: pln forget: give --days N of at most 36500 (100 years), got {days}\n"
        )
    result = pln("forget", "--days", "36500", "--dry-run", "-c", "pln.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("would forget ")


# -- 5. languages are codes -----------------------------------------------------------------


@pytest.mark.parametrize("code", ["english", "English", "eng", "xx", "en-", "e"])
def test_a_language_that_is_no_code_is_refused(tmp_path, capsys, code):
    write(tmp_path, topics=f"  - {{id: spaced, phrases: [x], languages: [en, {code}]}}\n")
    refused(capsys, tmp_path, f"topics[0].languages[1]: {code!r} is not a language code (e.g. en)")


def test_every_language_the_detector_names_is_a_code(tmp_path, capsys):
    codes = [*LANGUAGES, "EN", "pt-BR", "zh_Hant", "ja"]
    write(tmp_path, topics=f"  - {{id: spaced, phrases: [x], languages: [{', '.join(codes)}]}}\n")
    assert validate(capsys, tmp_path) == (0, "")
    assert load_config(tmp_path / "pln.yaml").topic("spaced").languages[-4:] == (
        "en",
        "pt-br",
        "zh_hant",
        "ja",
    )


# -- 6. a key given twice ---------------------------------------------------------------------


def test_a_key_given_twice_names_its_line(tmp_path, capsys):
    path = write(tmp_path, rest="topics:\n  - {id: other, phrases: [y]}\n")
    refused(capsys, tmp_path, "line 6: duplicate key 'topics'")
    write(tmp_path, sources="  - {name: a, type: rss, path: feed.atom, name: b}\n")
    refused(capsys, tmp_path, "line 2: duplicate key 'name'")
    path.write_text(path.read_text().replace("feeds_dir: out/feeds", "feeds_dir: x, duckdb: y"))
    refused(capsys, tmp_path, "line 5: duplicate key 'duckdb'")


def test_a_merge_key_may_still_be_overridden(tmp_path, capsys):
    write(
        tmp_path,
        sources="  - &blog {name: a, type: rss, path: feed.atom}\n  - {<<: *blog, name: b}\n",
    )
    assert validate(capsys, tmp_path) == (0, "")
    assert [s.name for s in load_config(tmp_path / "pln.yaml").sources] == ["a", "b"]


def test_a_big_config_still_loads_fast(tmp_path):
    """The duplicate check keeps libyaml's parser: 500 sources in well under a second."""
    lines = [
        f"  - {{name: s{i}, type: rss, url: 'https://example.org/{i}.xml', interval: 1800}}\n"
        for i in range(500)
    ]
    path = write(tmp_path, sources="".join(lines))
    start = time.perf_counter()
    assert len(load_config(path).sources) == 500
    assert time.perf_counter() - start < 0.5  # ~15 ms with libyaml, ~110 ms without
    if hasattr(yaml, "CSafeLoader"):
        assert issubclass(ConfigLoader, yaml.CSafeLoader)


# -- 11. numbers: a range says what it is, nan and inf are no numbers here ------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("timeout: -1", "sources[0].timeout: must be at least 0.001, got -1.0"),
        ("interval: 0", "sources[0].interval: must be at least 1.0, got 0.0"),
        ("timeout: .nan", "sources[0].timeout: must be a finite number, got nan"),
        ("timeout: .inf", "sources[0].timeout: must be a finite number, got inf"),
        ("interval: .inf", "sources[0].interval: must be a finite number, got inf"),
    ],
)
def test_a_source_number_out_of_range_says_so(tmp_path, capsys, source, message):
    write(tmp_path, sources=f"  - {{name: a, type: rss, path: feed.atom, {source}}}\n")
    refused(capsys, tmp_path, message)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({"rest": "fetch: {deadline: .nan}\n"}, "fetch.deadline: must be a finite number, got nan"),
        (
            {"rest": "fetch: {source_deadline: -.inf}\n"},
            "fetch.source_deadline: must be a finite number, got -inf",
        ),
        (
            {"topics": "  - {id: spaced, phrases: [x], threshold: .nan}\n"},
            "topics[0].threshold: must be a finite number, got nan",
        ),
    ],
)
def test_nan_and_inf_are_refused_everywhere(tmp_path, capsys, parts, message):
    write(tmp_path, **parts)
    refused(capsys, tmp_path, message)


# -- 12. a typo of a key: the key meant, and every key accepted there -----------------------


def test_a_misspelt_key_is_named_with_the_key_meant(tmp_path, capsys):
    path = write(tmp_path)
    text = path.read_text()
    path.write_text(text.replace("sources:", "source:"))
    refused(capsys, tmp_path, "source: unknown key (did you mean sources?)")
    path.write_text(text.replace("topics:", "topic:"))
    refused(capsys, tmp_path, "topic: unknown key (did you mean topics?)")
    path.write_text(text + "schedul: {cron: ['0 6 * * *']}\n")
    refused(capsys, tmp_path, "schedul: unknown key (did you mean schedule?)")
    path.write_text(text.replace("path: feed.atom", "path: feed.atom, intervall: 60"))
    refused(capsys, tmp_path, "sources[0].intervall: unknown key (did you mean interval?)")


def test_an_unknown_source_key_lists_every_key_accepted_there(tmp_path, capsys):
    write(tmp_path, sources="  - {name: a, type: rss, path: feed.atom, colour: red}\n")
    refused(
        capsys,
        tmp_path,
        "sources[0].colour: unknown key (known keys here: category, enabled, interval, "
        "max_bytes, name, path, timeout, title, type, url, user_agent)",
    )


# -- 14. a hashtag is one word --------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "key"),
    [
        ("hashtags: ['#a b']", "hashtags[0]"),
        ("phrases: [x], hashtags: [ok, 'a  b']", "hashtags[1]"),
        ("phrases: [x], must: ['#a b']", "must[0]"),
        ("phrases: [x], none: [fine phrase, '#a b']", "none[1]"),
    ],
)
def test_a_hashtag_with_a_space_is_refused(tmp_path, capsys, topic, key):
    write(tmp_path, topics=f"  - {{id: spaced, {topic}}}\n")
    code, err = validate(capsys, tmp_path)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"pln: error: pln.yaml: topics[0].{key}: topic spaced: hashtag '")
    assert err.endswith("' has a space; a hashtag is one word (e.g. #ab)\n")


@pytest.mark.parametrize("none", [[], ["--none"]])
def test_topics_add_refuses_a_hashtag_with_a_space(tmp_path, capsys, none):
    path = write(tmp_path)
    original = path.read_bytes()
    code = main(["topics", "add", "spaced", *none, "#bad tag", "-c", str(path)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        "pln: error: cannot add '#bad tag' to spaced: a hashtag is one word (e.g. #badtag; "
        "without '#' it is a phrase)\n"
    )
    assert path.read_bytes() == original
