"""Config validation: every mistake is one line naming the file, the key path and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from pln.cli import main
from pln.errors import ConfigError
from pln.sources.registry import load_checked_config

GOOD = """
sources:
  - {name: blog, type: rss, path: feed.xml}
topics:
  - id: microlearning
    phrases: [microlearning, bite-sized learning]
    hashtags: ["#Microlearning"]
    threshold: 0.4
outputs: {duckdb: out/db.duckdb, feeds_dir: out/feeds}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pln.yaml"
    path.write_text(text)
    (tmp_path / "feed.xml").write_text("<rss version='2.0'><channel></channel></rss>")
    return path


def test_good_config_resolves_paths_relative_to_the_file(tmp_path):
    config = load_checked_config(write(tmp_path, GOOD))
    assert config.outputs.duckdb == tmp_path / "out" / "db.duckdb"
    assert config.sources[0].name == "blog"
    topic = config.topic("microlearning")
    assert topic.hashtags == ("microlearning",)
    assert topic.threshold == 0.4


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (GOOD.replace("threshold: 0.4", "threshold: 3"), "topics[0].threshold", "between"),
        (GOOD.replace("threshold: 0.4", "threshhold: 0.4"), "topics[0].threshhold", "unknown key"),
        (GOOD.replace("type: rss", "type: rsss"), "sources[0].type", "unknown source type 'rsss'"),
        (GOOD.replace("name: blog", "name: Blog Posts"), "sources[0].name", "lower-case"),
        (
            GOOD.replace("phrases: [microlearning, bite-sized learning]", "phrases: 5"),
            "topics[0].phrases",
            "list of strings",
        ),
        ("sources: []\ntopics: []\n", "sources", "at least one"),
        ("topics: [oops\n", "line 2", "invalid YAML"),
        ("- just a list\n", "", "must be a YAML mapping"),
        # paths a user can type but no file can have (they raised from pathlib before)
        (
            GOOD.replace("path: feed.xml", "path: ~nosuchuser9/feed.xml"),
            "sources[0].path",
            "no such user",
        ),
        (GOOD.replace("path: feed.xml", 'path: "feed\\0.xml"'), "sources[0].path", "NUL character"),
        ("version: 2\n" + GOOD, "version", "this pln reads config version 1 (upgrade pln)"),
        (
            GOOD.replace("feeds_dir: out/feeds", "feeds_dir: out/feeds, base_url: not a url"),
            "outputs.base_url",
            "must be an http(s) address",
        ),
        (
            GOOD.replace("feeds_dir: out/feeds", 'feeds_dir: out/feeds, base_url: "http://[::1/f"'),
            "outputs.base_url",
            "must be an http(s) address",
        ),
        (
            GOOD.replace("feeds_dir: out/feeds", "feeds_dir: out/feeds, base_url: http://h:99999/"),
            "outputs.base_url",
            "must be an http(s) address",
        ),
        (GOOD + "runner: {workers: 1000}\n", "runner.workers", "between 1 and 64, got 1000"),
        (
            GOOD.replace(
                "{name: blog, type: rss, path: feed.xml}",
                "{name: chat, type: hashtag_chat, hashtag: lrnchat, "
                "posts: {type: twitter_v2, path: feed.xml, name: x}}",
            ),
            "sources[0].posts.name",
            "belongs to the chat source, not to its posts (named chat.posts)",
        ),
    ],
)
def test_mistakes_name_file_key_and_problem(tmp_path, text, key, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_checked_config(path)
    line = str(err.value)
    assert line.startswith(str(path))
    assert key in line and message in line
    assert "\n" not in line


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace("threshold: 0.4", "threshold: -1"))
    assert main(["validate", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"pln: error: {path}: topics[0].threshold: must be between 0.0 and 1.0, got -1.0"


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
