"""The evaluation sets bench/bench_learning.py measures on (tests/fixtures/ld_eval): each row
well formed, every topic known to both configs, the thin config thin, and rules that keep
what the bench says they keep on the long set."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from pln.config import load_config
from pln.filters.curator import Curator
from pln.record import Item

DATA = Path(__file__).parent / "fixtures" / "ld_eval"
SETS = ("items.tsv", "items_long.tsv")


def rows(name: str) -> list[list[str]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id\tkind\ttopic\ttext"
    return [line.split("\t") for line in lines[1:]]


def topics(variant: str) -> dict[str, dict]:
    data = yaml.safe_load((DATA / f"topics_{variant}.yaml").read_text(encoding="utf-8"))
    return {t["id"]: t for t in data["topics"]}


@pytest.mark.parametrize("name", SETS)
def test_every_row_is_well_formed_and_names_a_known_topic(name):
    found = rows(name)
    assert all(len(r) == 4 and r[3].strip() for r in found)
    ids = [r[0] for r in found]
    assert len(ids) == len(set(ids))
    known = set(topics("rich")) | {"-"}
    assert {r[2] for r in found} <= known
    kinds = Counter(r[1] for r in found)
    assert set(kinds) == {"pos", "near", "off"}
    # Every topic has texts on it and near-misses that imitate it.
    for kind in ("pos", "near"):
        assert {r[2] for r in found if r[1] == kind} == set(topics("rich"))


def test_the_thin_config_is_thin_and_names_the_same_topics():
    thin, rich = topics("thin"), topics("rich")
    assert set(thin) == set(rich)
    assert all(len(t["phrases"]) <= 5 and not t.get("hashtags") for t in thin.values())


def test_rich_rules_on_the_long_set_keep_no_off_topic_text(tmp_path):
    path = tmp_path / "pln.yaml"
    path.write_text(
        "sources:\n  - {name: s, type: rss, url: https://example.org/feed.xml}\n"
        + (DATA / "topics_rich.yaml").read_text(encoding="utf-8")
    )
    config = load_config(path)
    found = rows("items_long.tsv")
    items = [
        Item.create(source="s", platform="rss", kind="post", native_id=key, text=text)
        for key, _, _, text in found
    ]
    truth = {it.id: (kind, topic) for it, (_, kind, topic, _) in zip(items, found, strict=True)}
    kept = [(d.item_id, d.topic) for d in Curator(config.topics).curate(items).decisions if d.kept]
    right = sum(truth[i] == ("pos", t) for i, t in kept)
    assert not [i for i, _ in kept if truth[i][0] == "off"]
    # Most texts on a topic are kept for it, and most of what is kept is right.
    assert right >= 0.8 * sum(k == "pos" for k, _ in truth.values())
    assert right >= 0.8 * len(kept)
