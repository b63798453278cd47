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


def test_relevance_may_sink_every_topic_but_lifts_only_the_one_the_item_is_most_like():
    from pln.filters.classifier import relevance_features

    centroids = numpy.array([0.10, 0.40, 0.25])
    assert numpy.allclose(relevance_features(0.9, centroids), [0.0, 4.0, 0.0])
    assert numpy.allclose(relevance_features(0.2, centroids), [-3.0, -3.0, -3.0])
    # Like no topic at all: nothing to lift.
    assert numpy.allclose(relevance_features(0.9, numpy.zeros(3)), [0.0, 0.0, 0.0])


def test_each_labelled_item_gets_the_relevance_of_the_word_model_fitted_without_it(monkeypatch):
    """The closed-form leave-one-out of the ridge word model equals fitting it again without
    the item, so the relevance a labelled row trains on is what an unseen item would get."""
    from pln.filters import learning
    from pln.filters.learning import fit_gate

    ridge = 0.5
    monkeypatch.setattr(learning, "GATE_RIDGES", (ridge,))

    rng = numpy.random.default_rng(3)
    n, width = 12, 30
    protos = rng.random((n, width)) * (rng.random((n, width)) < 0.3)
    protos /= numpy.linalg.norm(protos, axis=1, keepdims=True)
    items = numpy.arange(n)
    pos = numpy.array([True, False] * (n // 2))
    gate, bias, loo = fit_gate(items, pos, protos)
    for i in range(n):
        keep = items != i
        x, y = protos[keep], pos[keep].astype(float)
        alpha = numpy.linalg.solve(x @ x.T + ridge * numpy.eye(n - 1), y - y.mean())
        refit = y.mean() + protos[i] @ x.T @ alpha
        assert abs(loo[i] - refit) < 0.03  # the intercept is the full mean: a small shift
    # The model itself reproduces its fitted values from the similarities alone.
    fitted = bias + (protos @ protos.T) @ gate
    assert numpy.corrcoef(fitted, pos)[0, 1] > 0.9


def test_an_item_labelled_for_two_topics_counts_once_and_too_few_labels_give_no_gate():
    from pln.filters.learning import fit_gate

    # Items 0 and 1 share words, as do 2 and 3; item 0 is + for one topic and - for another.
    vectors = numpy.array([[1, 1, 0, 0], [1, 0.8, 0, 0], [0, 0, 1, 1], [0, 0, 0.8, 1]])
    vectors /= numpy.linalg.norm(vectors, axis=1, keepdims=True)
    items = numpy.array([0, 0, 1, 2, 3])
    pos = numpy.array([True, False, True, False, False])
    gate, bias, loo = fit_gate(items, pos, vectors[items])
    assert gate[1] == 0.0 and set(loo) == {0, 1, 2, 3}  # row 1 repeats item 0
    assert loo[0] > 0.5 > loo[2]  # item 0 counts as +: like item 1, unlike items 2 and 3
    none, half, empty = fit_gate(items[2:4], pos[2:4], vectors[1:3])
    assert not none.any() and half == 0.5 and empty == {}
