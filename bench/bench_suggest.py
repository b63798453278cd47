"""Bench: does a thin topic grow by taking `pln topics suggest`'s top phrases? (not a test)

For the L&D sets of bench_learning.py (thin config, 8 topics; half of each set held out), each
of SEEDS draws of 50 labels on the training half gives every topic its wanted items (labelled +,
or kept by the topic's rules) against the rest of the training half, as `pln topics suggest`
reads them from a store. The top K suggested phrases of every topic are added to its phrases
without a person looking at them, and the rules are scored on the held-out half (micro F1 over
(item, topic) pairs, and any topic), beside the thin rules alone. Three ways: the suggestions as
they were (everyday English words in), as they are (left out), also leaving out the terms
suggested for more than one topic, and with each topic's top 2 exclusions (terms of the items
labelled - for it that no wanted item has) added to its `none`.

    python bench/bench_suggest.py [SEEDS] [--k 3,5]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from bench_learning import (
    any_scores,
    candidates,
    config_for,
    draw,
    kept_pairs,
    ld_set,
    row,
    scores,
)

from pln.filters import suggest as suggest_module
from pln.filters.curator import Curator
from pln.filters.learning import stable_share
from pln.filters.scores import Scores
from pln.filters.suggest import suggest_phrases
from pln.filters.topics import TopicRule

DATA = Path(__file__).resolve().parents[1] / "tests/fixtures/ld_eval"


def grown(config, curator: Curator, train_half, truth, labels, k: int, unshared: bool, x: int = 0):
    """The config with each topic's top `k` suggestions added to its phrases (`unshared`:
    leaving out terms suggested for more than one topic), and its top `x` exclusions (from
    the items labelled - for it) to its `none`."""
    kept = kept_pairs(curator, train_half)
    lists, exclusions = {}, {}
    for topic in config.topics:
        plus = {e.item.id for e in labels.get(topic.id, []) if e.relevant}
        minus = {e.item.id for e in labels.get(topic.id, []) if not e.relevant}
        wanted = [
            it
            for it in train_half
            if it.id not in minus and (it.id in plus or (it.id, topic.id) in kept)
        ]
        rest = [it for it in train_half if it not in wanted]
        found = suggest_phrases(curator.nlp, wanted, rest, TopicRule(topic), n=50, unwanted=minus)
        lists[topic.id] = [s.term for s in found.phrases]
        exclusions[topic.id] = [s.term for s in found.exclusions][:x]
    seen = Counter(term for terms in lists.values() for term in terms)
    topics = []
    for topic in config.topics:
        terms = [t for t in lists[topic.id] if not (unshared and seen[t] > 1)][:k]
        topics.append(
            dataclasses.replace(
                topic,
                phrases=(*topic.phrases, *terms),
                none=(*topic.none, *exclusions[topic.id]),
            )
        )
    return dataclasses.replace(config, topics=tuple(topics))


VARIANTS = (  # name, everyday words let in, terms of several topics left out, exclusions
    ("everyday words in", True, False, 0),
    ("no everyday words", False, False, 0),
    ("no everyday words, none shared", False, True, 0),
    ("no everyday words, + top 2 exclusions", False, False, 2),
)


@contextmanager
def everyday_words(allowed: bool):
    """`suggest_phrases` as it was before it left out everyday English (`allowed`)."""
    if not allowed:
        yield
        return
    with mock.patch.object(suggest_module, "common_words", lambda: frozenset()):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", nargs="?", type=int, default=5)
    parser.add_argument("--k", default="3,5")
    args = parser.parse_args()
    sizes = [int(k) for k in args.k.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("items.tsv", "items_long.tsv"):
            items, truth, near = ld_set(name)
            config = config_for((DATA / "topics_thin.yaml").read_text(), Path(tmp), "thin")
            topic_ids = [t.id for t in config.topics]
            held = [it for it in items if stable_share(it.id, "bench") < 0.5]
            train_half = [it for it in items if stable_share(it.id, "bench") >= 0.5]
            base = Curator(config.topics, config.nlp)
            base_kept = kept_pairs(base, held)
            print(f"\n{name}, thin: {len(held)} held out")
            print(row("rules", scores(base_kept, held, truth, topic_ids)))
            print(row("rules, any topic", any_scores(base_kept, held, truth)))
            for variant, everyday, unshared, x in VARIANTS:
                for k in sizes:
                    per, anyt = [], []
                    for seed in range(args.seeds):
                        rng = random.Random(seed)
                        cands = candidates(train_half, truth, near, topic_ids, rng)
                        labels = draw(cands, 50, rng)
                        with everyday_words(everyday):
                            bigger = grown(config, base, train_half, truth, labels, k, unshared, x)
                        kept = kept_pairs(Curator(bigger.topics, bigger.nlp), held)
                        per.append(scores(kept, held, truth, topic_ids))
                        anyt.append(any_scores(kept, held, truth))
                        if seed == 0 and k == sizes[-1]:
                            for old, new in zip(config.topics, bigger.topics, strict=True):
                                added = list(new.phrases[len(old.phrases) :])
                                out = list(new.none[len(old.none) :])
                                print(f"      {old.id}: + {added}" + (f" - {out}" if out else ""))
                    print(row(f"+ top {k}, {variant}", sum(per, Scores())))
                    print(row("    any topic", sum(anyt, Scores())))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
