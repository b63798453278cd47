"""Bench (issue 14): a word-level relevance gate on its own, beside the rules.

pln's learned model (filters/learning.py) once saw an (item, topic) pair only through
similarity features, so it could not learn that "dataset" or "puppy" marks a near-miss. This
bench measured what a plain word model adds to a thin config, counted the issue's way (an
item is kept when any topic keeps it); the model's "relevance" feature is built on its
result (docs/learning.md). Here:

- the L&D sets and thin configs of bench_learning.py, the same held-out half, labels drawn the
  same way (one per training item: + for its topic, - for the topic a near-miss imitates);
- the gate: logistic regression on binary word unigrams and bigrams (each row scaled to unit
  length, L2 penalty 0.1, 600 gradient steps), trained on the labels alone: relevant to its
  topic or not. Weak labels (the rules' verdicts on the unlabelled half) are left out: with
  them the gate learns the rules back and adds nothing;
- kept = the rules keep it, or the gate's probability is above 0.5.

    python bench/bench_word_gate.py [SEEDS]

It prints pooled P/R/F1 over SEEDS draws (default 5), then the mean and lowest F1 of a draw.
"""

from __future__ import annotations

import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_learning as bl  # noqa: E402

from pln.filters.curator import Curator  # noqa: E402
from pln.filters.learning import stable_share  # noqa: E402
from pln.filters.scores import Scores  # noqa: E402

WORD = re.compile(r"[a-z][a-z0-9'-]+")
SIZES = (10, 20, 50)
THRESHOLD = 0.5


def word_features(text: str) -> set[str]:
    words = WORD.findall(text.lower())
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}


def matrix(texts: list[set[str]], vocab: dict[str, int]) -> np.ndarray:
    m = np.zeros((len(texts), len(vocab)))
    for row, features in enumerate(texts):
        m[row, [vocab[f] for f in features if f in vocab]] = 1.0
    return m / np.sqrt(np.maximum(1.0, m.sum(axis=1, keepdims=True)))


def fit(x: np.ndarray, y: np.ndarray, l2: float = 0.1, steps: int = 600):
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        w -= x.T @ (p - y) / len(y) + l2 * w / len(y)
        b -= float((p - y).mean())
    return w, b


def bench_set(title: str, set_name: str, seeds: int, tmp: Path) -> None:
    items, truth, near = bl.ld_set(set_name)
    config = bl.config_for(
        (bl.DATA / "topics_thin.yaml").read_text(encoding="utf-8"), tmp, set_name
    )
    topics = [t.id for t in config.topics]
    held = [it for it in items if stable_share(it.id, "bench") < 0.5]
    train_half = [it for it in items if stable_share(it.id, "bench") >= 0.5]
    rules_kept = {item_id for item_id, _ in bl.kept_pairs(Curator(config.topics, config.nlp), held)}
    pairs = {(i, "any") for i in rules_kept}
    print(f"\n{title}: {len(held)} held-out items, {len(train_half)} to label from")
    print(bl.row("rules, any topic", bl.any_scores(pairs, held, truth)))
    features = {it.id: word_features(it.nlp_text) for it in items}
    x_held_texts = [features[it.id] for it in held]
    for k in SIZES:
        runs = []
        for seed in range(seeds):
            rng = random.Random(seed)
            labels = bl.draw(bl.candidates(train_half, truth, near, topics, rng), k, rng)
            examples = [e for group in labels.values() for e in group]
            vocab: dict[str, int] = {}
            for e in examples:
                for f in features[e.item.id]:
                    vocab.setdefault(f, len(vocab))
            x = matrix([features[e.item.id] for e in examples], vocab)
            y = np.array([1.0 if e.relevant else 0.0 for e in examples])
            w, b = fit(x, y)
            p = 1.0 / (1.0 + np.exp(-(matrix(x_held_texts, vocab) @ w + b)))
            kept = {it.id for it, pi in zip(held, p, strict=True) if pi > THRESHOLD}
            runs.append(bl.any_scores({(i, "any") for i in kept | rules_kept}, held, truth))
        f1s = [s.f1 or 0.0 for s in runs]
        extra = f"   mean {sum(f1s) / len(f1s):.3f} min {min(f1s):.3f}"
        print(bl.row(f"rules or gate, {k} labels", sum(runs, Scores()), extra))


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, label in (("items.tsv", "short"), ("items_long.tsv", "long")):
            bench_set(f"L&D {label}, thin config", set_name, seeds, Path(tmp))


if __name__ == "__main__":
    main()
