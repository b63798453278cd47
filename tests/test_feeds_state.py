"""A run that changed nothing the feeds show skips rendering them; anything they show re-renders."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import timedelta
from pathlib import Path

import feedparser
import yaml
from feedsite import NOW, build_site, post
from test_forget import example_copy
from test_serve import get

from pln.cli import main
from pln.config import load_config
from pln.pipelines.stream_writer import StreamWriter
from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.feeds import feed_filename
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


def run(config_path, capsys) -> str:
    """`pln run` of the config; what it said."""
    capsys.readouterr()
    assert main(["run", "-c", str(config_path)]) == 0
    return capsys.readouterr().out


def edit_topics(config_path, change) -> None:
    data = yaml.safe_load(config_path.read_text())
    data["topics"] = change(data["topics"])
    config_path.write_text(yaml.safe_dump(data))


def rename(old: str, new: str):
    return lambda topics: [{**t, "id": new} if t["id"] == old else t for t in topics]


def taken_out(gone: str):
    return lambda topics: [t for t in topics if t["id"] != gone]


def feeds_of(config_path, topic: str) -> list[str]:
    return sorted(p.name for p in load_config(config_path).outputs.feeds_dir.glob(f"{topic}.*"))


def move(project, to) -> Path:
    """The whole project folder moved (`mv project to`); its config's new path."""
    to.parent.mkdir(parents=True, exist_ok=True)
    project.rename(to)
    return to / "pln.yaml"


def served(config_path, paths) -> dict[str, int]:
    """What `pln serve` answers for each path (a real server on 127.0.0.1)."""
    with FeedServer(load_config(config_path), "127.0.0.1", 0) as server:
        return {path: get(server, path)[0] for path in paths}


def feed_files(topic: str) -> list[str]:
    return sorted(feed_filename(topic, kind) for kind in ("rss", "atom", "json"))


def test_a_moved_project_removes_the_feeds_of_a_topic_renamed_as_it_moved(tmp_path, capsys):
    config_path = example_copy(tmp_path / "here")
    run(config_path, capsys)
    assert feeds_of(config_path, "onboarding") == feed_files("onboarding")
    config_path = move(config_path.parent, tmp_path / "there" / "P2")
    edit_topics(config_path, rename("onboarding", "onboard"))
    said = run(config_path, capsys)
    assert "removed the feeds of onboarding: no longer in the config" in said
    assert feeds_of(config_path, "onboarding") == []
    assert feeds_of(config_path, "onboard") == feed_files("onboard")
    assert served(config_path, ["onboarding.rss.xml", "topic/onboarding"]) == {
        "onboarding.rss.xml": 410,
        "topic/onboarding": 410,
    }


def test_after_a_move_pln_serve_still_answers_410_for_a_topic_removed_before(tmp_path, capsys):
    config_path = example_copy(tmp_path / "here")
    run(config_path, capsys)
    edit_topics(config_path, taken_out("microlearning"))
    assert "removed the feeds of microlearning" in run(config_path, capsys)
    gone = [*feed_files("microlearning"), "topic/microlearning"]
    assert set(served(config_path, gone).values()) == {410}

    config_path = move(config_path.parent, tmp_path / "there" / "P2")
    assert set(served(config_path, gone).values()) == {410}  # before any run there
    said = run(config_path, capsys)
    assert "removed the feeds of" not in said
    assert set(served(config_path, gone).values()) == {410}  # and after one
    assert served(config_path, ["onboarding.rss.xml"]) == {"onboarding.rss.xml": 200}


def as_written_before(config_path) -> None:
    """The feeds state as pln wrote it before it named files relative to the database: every
    name absolute."""
    db = load_config(config_path).outputs.duckdb
    state = state_path(db)
    data = json.loads(state.read_text())
    base = db.parent
    data["files"] = sorted(str(base / name) for name in data["files"])
    data["removed"] = {str(base / name): gone for name, gone in data["removed"].items()}
    assert all(Path(name).is_absolute() for name in [*data["files"], *data["removed"]])
    state.write_text(json.dumps(data))


def test_a_state_written_with_absolute_names_still_removes_and_410s(tmp_path, capsys):
    config_path = example_copy(tmp_path / "here")
    run(config_path, capsys)
    edit_topics(config_path, taken_out("microlearning"))
    run(config_path, capsys)
    as_written_before(config_path)

    edit_topics(config_path, rename("onboarding", "onboard"))  # the upgraded pln's first run
    assert "removed the feeds of onboarding: no longer in the config" in run(config_path, capsys)
    assert (
        feeds_of(config_path, "onboarding") == [] and feeds_of(config_path, "microlearning") == []
    )
    gone = [*feed_files("microlearning"), *feed_files("onboarding"), "topic/microlearning"]
    assert set(served(config_path, gone).values()) == {410}

    # The state it wrote names files relative to the database: a move after it is followed too.
    config_path = move(config_path.parent, tmp_path / "later" / "P3")
    edit_topics(config_path, rename("onboard", "onboarding-2"))
    assert "removed the feeds of onboard: no longer in the config" in run(config_path, capsys)
    assert feeds_of(config_path, "onboard") == []
    assert set(served(config_path, [*gone, *feed_files("onboard")]).values()) == {410}


def test_a_state_with_absolute_names_leaves_this_folder_for_another_that_still_exists(tmp_path):
    """An absolute name in a folder that is still there names another folder (outputs.feeds_dir
    was changed), not this one moved: nothing of this folder goes on its account."""
    config = build_site(tmp_path, 8080)  # its feeds in out/feeds, beside the database
    assert rendered(config)
    feeds = config.outputs.feeds_dir
    other = tmp_path / "elsewhere" / feeds.name  # ends as the feeds folder does
    shutil.copytree(feeds, other)
    state = state_path(config.outputs.duckdb)
    data = json.loads(state.read_text())
    data["files"] = [str(other / Path(name).name) for name in data["files"]]
    state.write_text(json.dumps(data))
    without = dataclasses.replace(
        config, topics=tuple(t for t in config.topics if t.id != "spaced")
    )
    with Store(config.outputs.duckdb) as store:
        assert render_feeds_if_changed(store, without, now=NOW).removed == []
    assert (other / "spaced.rss.xml").is_file() and (feeds / "spaced.rss.xml").is_file()
