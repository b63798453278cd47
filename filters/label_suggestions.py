"""Active learning: the unlabelled items whose label would teach the model the most."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pln.filters.curator import Curator
from pln.record import Item

UNSURE = 0.35  # a model probability this close to the threshold is worth a label


@dataclass
class Suggestion:
    """An item whose label would teach the model the most, and why."""

    item: Item
    rules: float
    probability: float | None
    kept: bool
    why: str
    priority: float = field(default=0.0, compare=False)


def suggest_labels(
    curator: Curator, topic: str, items: Sequence[Item], labelled: set[str], n: int = 10
) -> list[Suggestion]:
    """Unlabelled items whose label would teach the most for topic: those where the rules and
    the model disagree first, then those nearest the threshold (without a model: the rules
    score nearest the threshold, and near-misses the rules alone cannot tell)."""
    threshold = next(r.topic.threshold for r in curator.rules if r.id == topic)
    out = []
    todo = [it for it in items if it.id not in labelled]
    for item, judged in zip(todo, curator.judge(todo, [topic]), strict=True):
        jd = judged[topic]
        if jd.ruled_out:
            continue
        rules_keep = jd.rules >= threshold
        p = jd.probability
        if p is None:
            if jd.rules == 0:
                continue
            priority, why = 1 - abs(jd.rules - threshold), f"rules score {jd.rules:.2f}"
        elif (p >= threshold) != rules_keep:
            side = "keeps" if p >= threshold else "drops"
            priority = 2 + abs(p - threshold)
            why = f"model {side} it ({p:.2f}), rules {'keep' if rules_keep else 'drop'} it"
        elif abs(p - threshold) < UNSURE:
            priority, why = 1 - abs(p - threshold), f"model unsure ({p:.2f})"
        else:
            continue  # rules and model agree, and the model is sure
        out.append(Suggestion(item, jd.rules, p, jd.decision.kept, why, priority))
    out.sort(key=lambda s: (-s.priority, s.item.id))
    return out[:n]
