"""Learning from labels: a stable held-out split, training one topic, and precision / recall / F1.

Labels are (item, topic, +1 / -1). A label is held out for evaluation when a hash of its item id
says so (HELD_OUT_SHARE of items), so the split never changes as labels are added: a model is
trained only on the other labels, and `pln eval` scores it on items it has never seen, next to
the rules alone on the same items.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pln.filters.classifier import (
    ModelRef,
    TrainingSettings,
    discard_staged,
    publish_model,
    stage_model,
    train_classifier,
)
from pln.filters.curator import Curator
from pln.record import Item

HELD_OUT_SHARE = 0.2
MIN_LABELS = 10  # labels (outside the held-out part) needed to train a topic's model
MIN_PER_CLASS = 5  # ... with this many + and as many -: from 20 "+" and 2 "-" a model
# learns that everything in the user's field is relevant, and lifts items the rules rightly miss


def is_held_out(item_id: str) -> bool:
    """True for the items kept aside for evaluation (the same answer on every run)."""
    digest = hashlib.blake2b(f"pln-held-out:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 1000 < HELD_OUT_SHARE * 1000


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled item for one topic."""

    item: Item
    relevant: bool


def split(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    """(training, held-out) parts of examples, by is_held_out of the item id."""
    train, held_out = [], []
    for ex in examples:
        (held_out if is_held_out(ex.item.id) else train).append(ex)
    return train, held_out


@dataclass(frozen=True, slots=True)
class Scores:
    """How kept items compare with the labels: true / false positives, false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int | None]:
        def rounded(x: float | None) -> float | None:
            return None if x is None else round(x, 3)

        return {
            "precision": rounded(self.precision),
            "recall": rounded(self.recall),
            "f1": rounded(self.f1),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


def score_curator(curator: Curator, topic: str, examples: Sequence[Example]) -> Scores:
    """Curate the examples' items and compare what topic keeps with the labels."""
    if not examples:
        return Scores()
    result = curator.curate([ex.item for ex in examples])
    kept = {d.item_id for d in result.decisions if d.topic == topic and d.kept}
    tp = fp = fn = tn = 0
    for ex in examples:
        if ex.item.id in kept:
            tp, fp = (tp + 1, fp) if ex.relevant else (tp, fp + 1)
        else:
            fn, tn = (fn + 1, tn) if ex.relevant else (fn, tn + 1)
    return Scores(tp, fp, fn, tn)


@dataclass
class TrainResult:
    """What training one topic did: a new model, or why it was skipped."""

    topic: str
    n_pos: int  # training labels (held-out ones aside)
    n_neg: int
    held_out: int
    model: ModelRef | None = None
    skipped: str = ""  # why no model was trained
    rules: Scores | None = None  # on the held-out labels
    with_model: Scores | None = None


def too_few(n_pos: int, n_neg: int) -> str:
    """Why these training labels cannot make a model, or ""."""
    total = n_pos + n_neg
    if total < MIN_LABELS or min(n_pos, n_neg) < MIN_PER_CLASS:
        return (
            f"{total} labels to train on ({n_pos} +, {n_neg} -); "
            f"needs at least {MIN_LABELS}, with at least {MIN_PER_CLASS} of each"
        )
    return ""


def train_topic(
    base: Curator,
    topic: str,
    examples: Sequence[Example],
    root: Path,
    settings: TrainingSettings | None = None,
    meta: dict | None = None,
) -> TrainResult:
    """Train topic's classifier on the training part of examples, score it on the held-out
    part (with the rules, as `pln run` would use it, and beside the rules alone) and save it
    as the topic's next model version under root.

    `base` is a rules-only Curator for the config's topics: its pipeline makes the docs.
    """
    settings = settings or TrainingSettings()
    train, held_out = split(examples)
    n_pos = sum(ex.relevant for ex in train)
    result = TrainResult(topic, n_pos, len(train) - n_pos, len(held_out))
    result.skipped = too_few(result.n_pos, result.n_neg)
    if result.skipped:
        return result
    docs = list(base.nlp.pipe(ex.item.nlp_text for ex in train))
    nlp = train_classifier(docs, [ex.relevant for ex in train], topic, settings)
    staged = stage_model(nlp, root, topic)
    try:
        trial = Curator(base.topics, base.nlp_config, [staged])
        result.rules = score_curator(base, topic, held_out)
        result.with_model = score_curator(trial, topic, held_out)
        result.model = publish_model(
            staged,
            {
                "n_pos": result.n_pos,
                "n_neg": result.n_neg,
                "pipeline": base.nlp_config.pipeline,
                "topic_version": next(t.version for t in base.topics if t.id == topic),
                "settings": {
                    "iterations": settings.iterations,
                    "dropout": settings.dropout,
                    "batch_size": settings.batch_size,
                    "seed": settings.seed,
                },
                "metrics": {
                    "held_out": len(held_out),
                    "held_out_pos": sum(ex.relevant for ex in held_out),
                    "rules": result.rules.as_dict(),
                    "with_model": result.with_model.as_dict(),
                },
                **(meta or {}),
            },
        )
    finally:
        discard_staged(staged)
    return result
