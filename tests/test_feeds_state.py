"""A run that changed nothing the feeds show skips rendering them; anything they show re-renders."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import feedparser
from feedsite import NOW, build_site, post

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
