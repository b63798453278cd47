"""A run that changed nothing the feeds show skips rendering them; anything they show re-renders."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import feedparser
import yaml
from feedsite import NOW, build_site, post
from test_forget import example_copy

from pln.cli import main
from pln.config import load_config
from pln.pipelines.stream_writer import StreamWriter
from pln.record import Decision
from pln.sinks.feeds_state import render_feeds_if_changed, state_path
from pln.sinks.store import Store


def rendered(config, now=NOW) -> bool:
    with Store(config.outputs.duckdb) as store:
        return render_feeds_if_changed(store, config, now=now)[1]


def titles(config) -> list[str]:
    feed = feedparser.parse(config.outputs.feeds_dir / "spaced.rss.xml")
    return [entry.title for entry in feed.entries]


def test_feeds_render_again_only_when_what_they_show_changes(tmp_path):
    config = build_site(tmp_path, 8080)  # its "spaced" topic has a weekly digest
    key = config.outputs.duckdb.with_name(config.outputs.duckdb.name + ".key")
    key.unlink()  # as on a first run: the render makes the key
    assert rendered(config)  # no state yet
    assert not rendered(config)
    assert state_path(config.outputs.duckdb).is_file()
    assert not list(config.outputs.feeds_dir.glob(".*"))  # the published folder holds feeds only

    # A new kept item, from a run or from a stream, since the last render.
    item = post(99, NOW - timedelta(hours=1), title="Spaced practice, part 99")
    with Store(config.outputs.duckdb) as store:
        store.write([item], [Decision(item.id, "spaced", 0.9, True, "matched")], [])
    assert "Spaced practice, part 99" not in titles(config)
    assert rendered(config)
    assert "Spaced practice, part 99" in titles(config)
    assert not rendered(config)

    # The item dropped by a rescore (its decision changes, nothing else).
    with Store(config.outputs.duckdb) as store:
        store.write([], [Decision(item.id, "spaced", 0.1, False, "rescored")], [])
    assert rendered(config) and "Spaced practice, part 99" not in titles(config)

    # A week ends: the weekly digest gains a period.
    assert not rendered(config, NOW + timedelta(hours=1))
    assert rendered(config, NOW + timedelta(days=7))

    # A feed file deleted, the config edited, the feedback key replaced.
    (config.outputs.feeds_dir / "spaced.atom.xml").unlink()
    assert rendered(config) and (config.outputs.feeds_dir / "spaced.atom.xml").is_file()
    retitled = dataclasses.replace(
        config,
        topics=(dataclasses.replace(config.topics[0], title="Spacing"), *config.topics[1:]),
    )
    assert rendered(retitled)
    assert feedparser.parse(config.outputs.feeds_dir / "spaced.rss.xml").feed.title.endswith(
        "Spacing"
    )
    assert not rendered(retitled)
    key.unlink()
    assert rendered(retitled)


def test_the_feeds_of_a_topic_taken_out_of_the_config_are_removed(tmp_path):
    config = build_site(tmp_path, 8080)  # topics "spaced" and "feedback"
    feeds = config.outputs.feeds_dir
    assert rendered(config) and (feeds / "spaced.rss.xml").is_file()
    mine = [feeds / "notes.rss.xml", feeds / "about.txt"]  # files pln did not write
    for path in mine:
        path.write_text("mine")
    renamed = dataclasses.replace(
        config,
        topics=tuple(
            dataclasses.replace(t, id="spacing") if t.id == "spaced" else t for t in config.topics
        ),
    )
    with Store(config.outputs.duckdb) as store:
        paths, was_rendered, removed = render_feeds_if_changed(store, renamed, now=NOW)
    assert was_rendered and removed == ["spaced"]
    assert not list(feeds.glob("spaced.*"))
    assert {p.name for p in feeds.glob("spacing.*")} == {
        "spacing.rss.xml",
        "spacing.atom.xml",
        "spacing.json",
    }
    assert (feeds / "feedback.rss.xml").is_file() and all(p.read_text() == "mine" for p in mine)
    assert sorted(paths) == sorted(p for p in feeds.iterdir() if p not in mine)


def test_a_stream_removes_the_feeds_of_a_topic_it_no_longer_has(tmp_path):
    config = build_site(tmp_path, 8080)
    assert rendered(config)
    only_feedback = dataclasses.replace(
        config, topics=tuple(t for t in config.topics if t.id != "spaced")
    )
    writer = StreamWriter(only_feedback, "stream-1", hold=False)
    writer.feeds_stale = True  # as after a commit that changed what the feeds show
    writer.refresh(force=True)
    writer.close()
    feeds = config.outputs.feeds_dir
    assert not list(feeds.glob("spaced.*")) and (feeds / "feedback.atom.xml").is_file()
    assert rendered(config)  # what the stream wrote is no fingerprint: a run renders again


def test_a_run_says_which_topics_feeds_it_removed(tmp_path, capsys):
    config_path = example_copy(tmp_path)
    assert main(["run", "-q", "-c", str(config_path)]) == 0
    data = yaml.safe_load(config_path.read_text())
    gone = data["topics"].pop()["id"]
    config_path.write_text(yaml.safe_dump(data))
    assert main(["run", "-c", str(config_path)]) == 0
    said = capsys.readouterr().out
    assert f"removed the feeds of {gone}: no longer in the config" in said
    feeds = load_config(config_path).outputs.feeds_dir
    assert not list(feeds.glob(f"{gone}.*")) and list(feeds.glob("*.rss.xml"))
