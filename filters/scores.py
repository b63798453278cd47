"""How a filter's decisions compare with labels: counts, P/R/F1, and their uncertainty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy

BOOTSTRAP = 400  # resamples behind a bootstrap interval
# Fewer labels of a topic, or of a class: no bootstrap, and `pln eval` warns (learning.py).
EVAL_MIN_LABELS, EVAL_MIN_CLASS = 20, 5
Z_975 = 2.2414  # the normal quantile of a two-sided 97.5% interval


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
    """95% interval of F1 (None when there is no positive): a bootstrap over the labelled items
    from EVAL_MIN_LABELS labels with EVAL_MIN_CLASS of each class on, unless it has no width (no
    mistake to resample); else `wilson_f1`, as resampling a handful of items cannot vary."""
    kept_a, rel_a = numpy.array(kept, bool), numpy.array(relevant, bool)
    if not rel_a.any():
        return None
    n_pos = int(rel_a.sum())
    if len(rel_a) >= EVAL_MIN_LABELS and min(n_pos, len(rel_a) - n_pos) >= EVAL_MIN_CLASS:
        rng = numpy.random.default_rng(seed)
        values = []
        for _ in range(BOOTSTRAP):
            pick = rng.integers(0, len(rel_a), len(rel_a))
            k, r = kept_a[pick], rel_a[pick]
            tp, fp, fn = (k & r).sum(), (k & ~r).sum(), (~k & r).sum()
            if tp + fn:
                values.append(2 * tp / (2 * tp + fp + fn))
        lo, hi = (round(float(x), 2) for x in numpy.percentile(values, [2.5, 97.5]))
        if lo < hi:
            return lo, hi
    return wilson_f1(Scores.of(kept_a.tolist(), rel_a.tolist()))


def wilson_f1(s: Scores) -> tuple[float, float]:
    """F1 at the low and at the high ends of the Wilson intervals of precision and recall, each
    at 97.5% so that both hold at once at least 95% of the time (Bonferroni): F1 grows with
    both, so it lies between. Wide, and never of no width, however few the labels."""
    p_lo, p_hi = wilson(s.tp, s.tp + s.fp, Z_975)
    r_lo, r_hi = wilson(s.tp, s.tp + s.fn, Z_975)
    return round(_harmonic(p_lo, r_lo), 2), round(_harmonic(p_hi, r_hi), 2)


def _harmonic(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b else 0.0


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a rate (95% by default); (0, 1) for n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
    return (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    """The lower end of the Wilson score interval of a rate (95% by default); 0 for n = 0."""
    return wilson(successes, n, z)[0]
