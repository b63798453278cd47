"""How a filter's decisions compare with labels: counts, P/R/F1, and their uncertainty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy

BOOTSTRAP = 400  # resamples behind a bootstrap interval


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
        if self.tp + self.fn == 0:
            return None
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    def __add__(self, other: Scores) -> Scores:
        return Scores(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @classmethod
    def of(cls, kept: Sequence[bool], relevant: Sequence[bool]) -> Scores:
        tp = sum(k and r for k, r in zip(kept, relevant, strict=True))
        fp = sum(k and not r for k, r in zip(kept, relevant, strict=True))
        fn = sum(r and not k for k, r in zip(kept, relevant, strict=True))
        return cls(tp, fp, fn, len(kept) - tp - fp - fn)

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


def bootstrap_f1(kept: Sequence[bool], relevant: Sequence[bool], seed: int = 0) -> tuple:
    """95% interval of F1 by resampling the labelled items (None when there is no positive)."""
    kept_a, rel_a = numpy.array(kept, bool), numpy.array(relevant, bool)
    if not rel_a.any():
        return None
    rng = numpy.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(rel_a), len(rel_a))
        k, r = kept_a[pick], rel_a[pick]
        tp, fp, fn = (k & r).sum(), (k & ~r).sum(), (~k & r).sum()
        if tp + fn:
            values.append(2 * tp / (2 * tp + fp + fn))
    lo, hi = numpy.percentile(values, [2.5, 97.5])
    return round(float(lo), 2), round(float(hi), 2)


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    """The lower end of the Wilson score interval of a rate (95% by default); 0 for n = 0."""
    if n == 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return (centre - spread) / (1 + z * z / n)
