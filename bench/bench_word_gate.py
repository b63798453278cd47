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

    python bench/bench_word_gate.py [SEEDS] [--config thin|catchall] [--words all|content|unigrams]
                                    [--model lr|ridge|nb]

It prints pooled P/R/F1 over SEEDS draws (default 5), then the mean and lowest F1 of a draw.
`--config catchall` uses the one catch-all topic of five phrases (relevant: on any of the 8).
`--words content` leaves out spaCy's English stop words, as the learned model's features do;
`unigrams` keeps stop words but no bigrams. `--model ridge` is ridge regression with the
penalty its leave-one-out picks, as the model's relevance feature is fitted (kept when its
value is above 0.5); `nb` is multinomial naive Bayes on the same words, its parameters
re-estimated by EM over the unlabelled items of both halves (transductive, as a store holds
them; weight 0.1 each), kept when p > 0.5.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_learning as bl  # noqa: E402
from spacy.lang.en.stop_words import STOP_WORDS  # noqa: E402

from pln.filters.curator import Curator  # noqa: E402
from pln.filters.learning import fit_gate, stable_share  # noqa: E402
from pln.filters.scores import Scores  # noqa: E402

WORD = re.compile(r"[a-z][a-z0-9'-]+")
SIZES = (10, 20, 50)
THRESHOLD = 0.5


def word_features(text: str, words_kept: str = "all") -> set[str]:
    words = WORD.findall(text.lower())
    if words_kept == "content":
        words = [w for w in words if w not in STOP_WORDS]
    if words_kept == "unigrams":
        return set(words)
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


def fit_ridge(x: np.ndarray, y: np.ndarray):
    """The model's own relevance fit (filters/learning.py `fit_gate`: ridge regression in the
    span of the rows, its penalty picked by leave-one-out), as a function of new rows."""
    gate, mean, _ = fit_gate(np.arange(len(y)), y > 0.5, x)
    weights = x.T @ gate
    return lambda rows: rows @ weights + mean


def fit_nb_em(x: np.ndarray, y: np.ndarray, unlabelled: np.ndarray, steps: int = 10):
    """Multinomial naive Bayes on binary words, refitted by EM with the unlabelled rows."""
    x, unlabelled = (x > 0).astype(float), (unlabelled > 0).astype(float)

    def fit_nb(rows, resp):
        prior = np.log((resp.sum(0) + 1) / (resp.sum() + 2))
        counts = resp.T @ rows + 0.1
        return prior, np.log(counts / counts.sum(1, keepdims=True))

    def posterior(rows, model):
        scores = rows @ model[1].T + model[0]
        scores = np.exp(scores - scores.max(1, keepdims=True))
        return scores / scores.sum(1, keepdims=True)

    labelled = np.stack([1 - y, y], 1)
    model = fit_nb(x, labelled)
    for _ in range(steps):
        resp = np.vstack([labelled, 0.1 * posterior(unlabelled, model)])
        model = fit_nb(np.vstack([x, unlabelled]), resp)
    return lambda rows: posterior((rows > 0).astype(float), model)[:, 1]


def bench_set(title: str, set_name: str, seeds: int, tmp: Path, args) -> None:
    items, truth, near = bl.ld_set(set_name)
    config = bl.config_for(
        (bl.DATA / f"topics_{args.config}.yaml").read_text(encoding="utf-8"), tmp, set_name
    )
    topics = [t.id for t in config.topics]
    if args.config == "catchall":  # relevant to the one topic when on any of the 8
        truth = {k: {topics[0]} if v else set() for k, v in truth.items()}
        near = dict.fromkeys(near, topics[0])
    held = [it for it in items if stable_share(it.id, "bench") < 0.5]
    train_half = [it for it in items if stable_share(it.id, "bench") >= 0.5]
    rules_kept = {item_id for item_id, _ in bl.kept_pairs(Curator(config.topics, config.nlp), held)}
    pairs = {(i, "any") for i in rules_kept}
    print(f"\n{title}: {len(held)} held-out items, {len(train_half)} to label from")
    print(bl.row("rules, any topic", bl.any_scores(pairs, held, truth)))
    features = {it.id: word_features(it.nlp_text, args.words) for it in items}
    x_held_texts = [features[it.id] for it in held]
    for k in SIZES:
        runs = []
        for seed in range(seeds):
            rng = random.Random(seed)
            labels = bl.draw(bl.candidates(train_half, truth, near, topics, rng), k, rng)
            examples = [e for group in labels.values() for e in group]
            labelled = {e.item.id for e in examples}
            vocab: dict[str, int] = {}
            for it in (e.item for e in examples) if args.model != "nb" else items:
                for f in features[it.id]:
                    vocab.setdefault(f, len(vocab))
            x = matrix([features[e.item.id] for e in examples], vocab)
            y = np.array([1.0 if e.relevant else 0.0 for e in examples])
            x_held = matrix(x_held_texts, vocab)
            if args.model == "ridge":
                p = fit_ridge(x, y)(x_held)
            elif args.model == "nb":
                rest = [features[it.id] for it in items if it.id not in labelled]
                p = fit_nb_em(x, y, matrix(rest, vocab))(x_held)
            else:
                w, b = fit(x, y)
                p = 1.0 / (1.0 + np.exp(-(x_held @ w + b)))
            kept = {it.id for it, pi in zip(held, p, strict=True) if pi > THRESHOLD}
            runs.append(bl.any_scores({(i, "any") for i in kept | rules_kept}, held, truth))
        f1s = [s.f1 or 0.0 for s in runs]
        extra = f"   mean {sum(f1s) / len(f1s):.3f} min {min(f1s):.3f}"
        print(bl.row(f"rules or gate, {k} labels", sum(runs, Scores()), extra))


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/bench_word_gate.py")
    parser.add_argument("seeds", nargs="?", type=int, default=5)
    parser.add_argument("--config", choices=("thin", "catchall"), default="thin")
    parser.add_argument("--words", choices=("all", "content", "unigrams"), default="all")
    parser.add_argument("--model", choices=("lr", "ridge", "nb"), default="lr")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for set_name, label in (("items.tsv", "short"), ("items_long.tsv", "long")):
            title = f"L&D {label}, {args.config} config, {args.words} words, {args.model}"
            bench_set(title, set_name, args.seeds, Path(tmp), args)


if __name__ == "__main__":
    main()
