"""The shared model's weights: sign constraints that keep few labels from teaching nonsense,
and the centroid margin that tells topics apart."""

from __future__ import annotations

import numpy

from pln.filters.classifier import FEATURES, PRIOR_WEIGHTS, SIGNS, centroid_margins
from pln.filters.learning import fit_weights


def test_only_the_topic_the_item_is_most_like_gets_a_positive_margin():
    margins = centroid_margins(numpy.array([0.10, 0.40, 0.25]))
    assert numpy.allclose(margins, [-0.30, 0.15, -0.15])
    assert numpy.allclose(centroid_margins(numpy.array([0.3])), [0.0])


def test_likeness_to_another_topics_items_can_never_raise_p():
    """With few labels, L&D items of every topic look alike: an item like a + of another
    topic was often + itself. Unconstrained, that weight came out positive and kept a text
    for all eight topics at once; it must stay at or below zero."""
    rng = numpy.random.default_rng(0)
    n = 200
    x = numpy.zeros((n, len(FEATURES)))
    y = (rng.random(n) < 0.5).astype(float)
    other = FEATURES.index("other_pos")
    x[:, other] = y * 3 + rng.random(n)  # correlated with + in this sample
    weights, _ = fit_weights(x, y, numpy.ones(n), strength=1.0)
    assert weights[other] <= 0.0
    # The other weights keep their signs too, and a free one (the rules) may move either way.
    for w, sign in zip(weights, SIGNS, strict=True):
        assert w * sign >= 0 or sign == 0
    assert len(SIGNS) == len(FEATURES) == len(PRIOR_WEIGHTS)


def test_a_feature_that_predicts_the_label_gets_its_weight():
    rng = numpy.random.default_rng(1)
    n = 200
    x = numpy.zeros((n, len(FEATURES)))
    y = (rng.random(n) < 0.5).astype(float)
    pos = FEATURES.index("topic_pos")
    x[:, pos] = y * 2 + rng.random(n) * 0.5
    weights, _ = fit_weights(x, y, numpy.ones(n), strength=1.0)
    assert weights[pos] > 1.0
