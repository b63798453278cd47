"""Learning from a few labels: one shared model for every topic, cross-validated and calibrated.

Labels are (item, topic, + / -). Training (`train_shared`) uses, besides them:

- weak labels from the store: an unlabelled item the topic's rules keep is a weak positive,
  one they do not keep a weak negative (weights W_WEAK_POS, W_WEAK_NEG), and an item labelled
  for another topic is a weak negative for this one unless the rules keep it (W_OTHER_TOPIC);
- a prior that makes the untrained model decide as the rules do (classifier.py).

Every label is scored by a model that never saw it (K-fold cross-validation over the labelled
items, with all rows of a held-out item left out of its fold). Those out-of-fold predictions
calibrate the model (Platt scaling, bounded: p is a probability), measure it against the rules alone on
the same items (`CrossValidation`, with bootstrap confidence intervals), and decide per topic
whether the model takes over: a topic whose F1 with the model is below the rules' keeps its
rules, so the model never makes a topic worse on the labels it is measured on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy

from pln.filters.classifier import (
    PRIOR_BIAS,
    PRIOR_RULES,
    SharedModel,
    doc_features,
    doc_vector,
    feature_names,
)
from pln.filters.curator import Curator, Judgement
from pln.record import Item

MIN_LABELS = 4  # labels in all (across topics) to train at all ...
MIN_PER_CLASS = 2  # ... with this many + and as many -
MIN_TOPIC_LABELS = 2  # a topic with fewer labels keeps its rules
EVAL_MIN_LABELS = 20  # below this many labels of a topic (or 5 of a class) `pln eval` warns
EVAL_MIN_CLASS = 5
FOLDS = 5
W_WEAK_POS = 0.3
W_WEAK_NEG = 0.1
W_OTHER_TOPIC = 0.3
MAX_WEAK = 300  # weak rows per topic and class (the pool is sampled, by item id hash)
MAX_POOL = 3000  # unlabelled items read for weak labels
BOOTSTRAP = 400


@dataclass(frozen=True)
class TrainingSettings:
    iterations: int = 250
    l2_shared: float = 0.1  # the words' weights shared by all topics move easily ...
    l2_topic: float = 0.3  # ... a topic's own words less (a topic has few labels)
    l2_prior: float = 0.3  # bias and rule weights stay near the rules-like prior
    learning_rate: float = 0.1
    seed: int = 0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled item for one topic."""

    item: Item
    relevant: bool


def stable_share(key: str, salt: str = "pln") -> float:
    """A number in [0, 1) fixed by key: the same sample and folds on every run."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def labels_fingerprint(labels: Mapping[str, Sequence[Example]], extra: Mapping) -> str:
    """What decides a model: the labels, the topics' versions, pipeline and settings. The same
    fingerprint as the current model means training again would teach nothing new."""
    rows = sorted((t, ex.item.id, ex.relevant) for t, exs in labels.items() for ex in exs)
    text = json.dumps([rows, extra], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# -- scores ----------------------------------------------------------------------------------


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


# -- the training data -----------------------------------------------------------------------


@dataclass
class Data:
    """Items as features, with what each topic's rules said about them."""

    topics: tuple[str, ...]
    thresholds: numpy.ndarray  # (T,)
    ids: list[str]  # item ids, row order
    cols: list[numpy.ndarray]  # per item: vocabulary columns
    values: numpy.ndarray  # per item: the value of each of its features
    vectors: numpy.ndarray | None  # (n, D) doc vectors, or None
    rules: numpy.ndarray  # (n, T) rules score, 0 when nothing matched
    kept: numpy.ndarray  # (n, T) rules kept it
    out: numpy.ndarray  # (n, T) out of scope or ruled out: no model can keep it
    keys: numpy.ndarray  # vocabulary: sorted feature hashes
    names: list[str]


def prepare(base: Curator, items: Sequence[Item]) -> Data:
    """Tokenize items once with base's pipeline (rules only) and read what the rules say."""
    topics = tuple(r.id for r in base.rules)
    judged = base.judge(items, topics)
    docs = list(base.nlp.pipe((it.nlp_text for it in items), batch_size=256))
    feats, values, names, vecs = [], [], {}, []
    dims = int(base.nlp.vocab.vectors.shape[1]) if base.nlp.vocab.vectors.shape[0] else 0
    for doc in docs:
        f, v = doc_features(doc)
        feats.append(f)
        values.append(v)
        names.update(feature_names(doc))
        vecs.append(doc_vector(doc, dims))
    keys = numpy.unique(numpy.concatenate(feats)) if feats else numpy.zeros(0, numpy.uint64)
    cols = [numpy.searchsorted(keys, f) for f in feats]
    vectors = None
    if dims and any(v is not None for v in vecs):
        vectors = numpy.stack([v if v is not None else numpy.zeros(dims) for v in vecs])
    n, t = len(items), len(topics)
    rules, kept, out = numpy.zeros((n, t)), numpy.zeros((n, t), bool), numpy.zeros((n, t), bool)
    for i, per_topic in enumerate(judged):
        for j, topic in enumerate(topics):
            jd: Judgement = per_topic[topic]
            rules[i, j], kept[i, j], out[i, j] = jd.rules, jd.decision.kept, jd.ruled_out
    return Data(
        topics,
        numpy.array([r.topic.threshold for r in base.rules]),
        [it.id for it in items],
        cols,
        numpy.array(values),
        vectors,
        rules,
        kept,
        out,
        keys,
        [names.get(int(k), "?") for k in keys.tolist()],
    )


@dataclass
class Rows:
    """Training rows: (item row, topic index, target, weight, labelled or weak)."""

    item: numpy.ndarray
    topic: numpy.ndarray
    y: numpy.ndarray
    w: numpy.ndarray
    labelled: numpy.ndarray

    def subset(self, mask: numpy.ndarray) -> Rows:
        return Rows(*(a[mask] for a in (self.item, self.topic, self.y, self.w, self.labelled)))


def make_rows(data: Data, labels: Mapping[str, Sequence[Example]]) -> Rows:
    """Labelled rows (weight 1) and weak rows (module doc) for every (item, topic) pair that
    the rules leave open to the model."""
    row_of = {item_id: i for i, item_id in enumerate(data.ids)}
    labelled = {}
    for t, topic in enumerate(data.topics):
        for ex in labels.get(topic, ()):
            if ex.item.id in row_of:
                labelled[(row_of[ex.item.id], t)] = ex.relevant
    has_label = {i for i, _ in labelled}
    out = [(i, t, float(y), 1.0, True) for (i, t), y in sorted(labelled.items())]
    for t, topic in enumerate(data.topics):
        pos, neg = [], []
        for i, item_id in enumerate(data.ids):
            if (i, t) in labelled or data.out[i, t]:
                continue
            if data.kept[i, t]:
                pos.append((stable_share(item_id, topic), i, W_WEAK_POS))
            else:
                weight = W_OTHER_TOPIC if i in has_label else W_WEAK_NEG
                neg.append((stable_share(item_id, topic), i, weight))
        for chosen, y in ((sorted(pos)[:MAX_WEAK], 1.0), (sorted(neg)[:MAX_WEAK], 0.0)):
            out += [(i, t, y, w, False) for _, i, w in chosen]
    if not out:
        return Rows(*(numpy.zeros(0) for _ in range(5)))
    item, topic, y, w, lab = zip(*out, strict=True)
    return Rows(
        numpy.array(item, numpy.int64),
        numpy.array(topic, numpy.int64),
        numpy.array(y),
        numpy.array(w),
        numpy.array(lab, bool),
    )


# -- fitting ---------------------------------------------------------------------------------


def fit(data: Data, rows: Rows, settings: TrainingSettings) -> SharedModel:
    """Weighted logistic regression with the shared + per-topic weights of classifier.py,
    regularized towards the rules-like prior; full-batch Adam (the data are small)."""
    n_topics, vocab = len(data.topics), len(data.keys)
    dims = 0 if data.vectors is None else data.vectors.shape[1]
    width = vocab + dims
    lengths = numpy.array([len(data.cols[i]) for i in rows.item], numpy.int64)
    nz_row = numpy.repeat(numpy.arange(len(rows.item)), lengths)
    nz_col = numpy.concatenate([data.cols[i] for i in rows.item]) if len(nz_row) else nz_row
    nz_val = numpy.repeat(data.values[rows.item], lengths)
    nz_topic = rows.topic[nz_row]
    # Weak rows teach the words only: an item the rules keep raises the words it shares with
    # the topic, as if no phrase had matched, so they can keep the items no phrase matches.
    matched = (data.rules[rows.item, rows.topic] > 0) & rows.labelled
    f_rules = numpy.stack(
        [numpy.where(matched, data.rules[rows.item, rows.topic] - data.thresholds[rows.topic], 0),
         matched.astype(float)],
        axis=1,
    )  # fmt: skip
    dense = data.vectors[rows.item] if dims else None

    prior_bias, prior_rules = numpy.full(n_topics, PRIOR_BIAS), numpy.array(PRIOR_RULES)
    shared, per_topic = numpy.zeros(width), numpy.zeros((n_topics, width))
    bias, rule_w = prior_bias.copy(), prior_rules.copy()
    params = [shared, per_topic, bias, rule_w]
    moments = [(numpy.zeros_like(p), numpy.zeros_like(p)) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, settings.iterations + 1):
        words = (shared[nz_col] + per_topic[nz_topic, nz_col]) * nz_val
        margin = bias[rows.topic] + f_rules @ rule_w
        margin += numpy.bincount(nz_row, weights=words, minlength=len(rows.item))
        if dense is not None:
            margin += ((shared[vocab:][None, :] + per_topic[rows.topic, vocab:]) * dense).sum(1)
        prob = 1.0 / (1.0 + numpy.exp(-numpy.clip(margin, -50, 50)))
        g = rows.w * (prob - rows.y)
        g_nz = g[nz_row] * nz_val
        g_shared = numpy.bincount(nz_col, weights=g_nz, minlength=width)
        g_topic = numpy.bincount(
            nz_topic * width + nz_col, weights=g_nz, minlength=n_topics * width
        ).reshape(n_topics, width)
        if dense is not None:
            g_dense = g[:, None] * dense
            g_shared[vocab:] += g_dense.sum(0)
            numpy.add.at(g_topic[:, vocab:], rows.topic, g_dense)
        grads = [
            g_shared + settings.l2_shared * shared,
            g_topic + settings.l2_topic * per_topic,
            numpy.bincount(rows.topic, weights=g, minlength=n_topics)
            + settings.l2_prior * (bias - prior_bias),
            f_rules.T @ g + settings.l2_prior * (rule_w - prior_rules),
        ]
        for p, grad, (m, v) in zip(params, grads, moments, strict=True):
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad**2
            p -= (
                settings.learning_rate
                * (m / (1 - b1**step))
                / (numpy.sqrt(v / (1 - b2**step)) + eps)
            )
    return SharedModel(
        topics=data.topics,
        keys=data.keys,
        names=data.names,
        weights=numpy.vstack([shared[None, :], per_topic]),
        bias=bias,
        rules=rule_w,
        dims=dims,
    )


def margins(model: SharedModel, data: Data, items: numpy.ndarray, topics: numpy.ndarray):
    """The model's (uncalibrated) margin for each (item row, topic index) pair."""
    combined = model.combined()
    vocab = len(model.keys)
    out = numpy.empty(len(items))
    for n, (i, t) in enumerate(zip(items.tolist(), topics.tolist(), strict=True)):
        m = model.bias[t] + combined[t, data.cols[i]].sum() * data.values[i]
        r = data.rules[i, t]
        if r > 0:
            m += model.rules[0] * (r - data.thresholds[t]) + model.rules[1]
        if data.vectors is not None:
            m += combined[t, vocab:] @ data.vectors[i]
        out[n] = m
    return out


def platt(margin: numpy.ndarray, y: numpy.ndarray, strength: float = 2.0) -> tuple[float, float]:
    """(a, b) of p = sigmoid(a * margin + b) fitted to out-of-fold margins, pulled towards
    (1, 0) so a handful of labels cannot make it extreme (Newton's method, 2 parameters)."""
    a, b = 1.0, 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + numpy.exp(-numpy.clip(a * margin + b, -50, 50)))
        g = numpy.array(
            [((p - y) * margin).sum() + strength * (a - 1), (p - y).sum() + strength * b]
        )
        s = p * (1 - p)
        h = numpy.array(
            [[(s * margin**2).sum() + strength, (s * margin).sum()],
             [(s * margin).sum(), s.sum() + strength]]
        )  # fmt: skip
        step = numpy.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if numpy.abs(step).max() < 1e-6:
            break
    return float(min(max(a, 0.5), 2.0)), float(min(max(b, -2.0), 2.0))


# -- cross-validation and training -----------------------------------------------------------


@dataclass
class TopicEval:
    """One topic on its labels, each scored by a model that never saw it."""

    topic: str
    n_pos: int
    n_neg: int
    rules: Scores
    model: Scores
    rules_f1_ci: tuple | None = None
    model_f1_ci: tuple | None = None
    use_model: bool = False
    note: str = ""  # why the model does not take over, or a warning about too few labels

    def as_dict(self) -> dict:
        return {
            "topic": self.topic,
            "labels": self.n_pos + self.n_neg,
            "pos": self.n_pos,
            "neg": self.n_neg,
            "rules": {**self.rules.as_dict(), "f1_ci": self.rules_f1_ci},
            "model": {**self.model.as_dict(), "f1_ci": self.model_f1_ci},
            "use_model": self.use_model,
            "note": self.note,
        }


@dataclass
class CrossValidation:
    topics: list[TopicEval]
    folds: int
    platt: tuple[float, float]


def fold_of(item_id: str, folds: int) -> int:
    return int(stable_share(item_id, "fold") * folds)


def too_few(n_pos: int, n_neg: int) -> str:
    """Why these labels cannot make a model, or ""."""
    total = n_pos + n_neg
    if total < MIN_LABELS or min(n_pos, n_neg) < MIN_PER_CLASS:
        return (
            f"{total} labels ({n_pos} +, {n_neg} -); needs at least {MIN_LABELS} across "
            f"all topics, with at least {MIN_PER_CLASS} of each"
        )
    return ""


def cross_validate(
    data: Data, rows: Rows, settings: TrainingSettings, folds: int = FOLDS
) -> tuple[CrossValidation, numpy.ndarray]:
    """Out-of-fold margins of the labelled rows, calibration, and per-topic scores."""
    lab = numpy.flatnonzero(rows.labelled)
    item_fold = numpy.array([fold_of(data.ids[i], folds) for i in rows.item])
    oof = numpy.zeros(len(lab))
    for k in range(folds):
        held = rows.labelled & (item_fold == k)
        if not held.any():
            continue
        held_items = set(rows.item[held].tolist())
        train_mask = numpy.array([i not in held_items for i in rows.item.tolist()])
        model = fit(data, rows.subset(train_mask), settings)
        pick = numpy.flatnonzero(held[lab])
        oof[pick] = margins(model, data, rows.item[lab][pick], rows.topic[lab][pick])
    y = rows.y[lab]
    a, b = platt(oof, y)
    prob = 1.0 / (1.0 + numpy.exp(-(a * oof + b)))
    evals = []
    for t, topic in enumerate(data.topics):
        mine = rows.topic[lab] == t
        items, rel = rows.item[lab][mine], y[mine].astype(bool)
        allowed = ~data.out[items, t]
        model_kept = allowed & (prob[mine] >= data.thresholds[t])
        rules_kept = data.kept[items, t]
        ev = TopicEval(
            topic,
            int(rel.sum()),
            int((~rel).sum()),
            Scores.of(rules_kept.tolist(), rel.tolist()),
            Scores.of(model_kept.tolist(), rel.tolist()),
            bootstrap_f1(rules_kept, rel),
            bootstrap_f1(model_kept, rel),
        )
        ev.use_model, ev.note = _takes_over(ev)
        evals.append(ev)
    return CrossValidation(evals, folds, (a, b)), oof


def _takes_over(ev: TopicEval) -> tuple[bool, str]:
    """Whether the model decides for the topic (else its rules do), and a note."""
    total = ev.n_pos + ev.n_neg
    if total < MIN_TOPIC_LABELS:
        return False, f"rules only: {total} labels (the model needs {MIN_TOPIC_LABELS})"
    if ev.rules.f1 is not None and ev.model.f1 is not None and ev.model.f1 < ev.rules.f1:
        return False, "rules only: the model's cross-validated F1 is below the rules'"
    if ev.n_pos == 0 and ev.model.fp > ev.rules.fp:
        return False, "rules only: the model kept more unwanted items than the rules"
    if total < EVAL_MIN_LABELS or min(ev.n_pos, ev.n_neg) < EVAL_MIN_CLASS:
        return True, (
            f"few labels ({ev.n_pos} +, {ev.n_neg} -): wide intervals; "
            f"{EVAL_MIN_LABELS} with {EVAL_MIN_CLASS} of each make them useful"
        )
    return True, ""


@dataclass
class Trained:
    model: SharedModel | None
    evaluation: CrossValidation | None
    n_pos: int
    n_neg: int
    skipped: str = ""
    pool: int = 0  # unlabelled items used for weak labels


def train_shared(
    base: Curator,
    labels: Mapping[str, Sequence[Example]],
    pool: Iterable[Item] = (),
    settings: TrainingSettings | None = None,
) -> Trained:
    """Cross-validate, calibrate and fit the shared model on labels (topic -> examples) and
    weak labels from the unlabelled pool; `base` is a rules-only Curator of the topics."""
    settings = settings or TrainingSettings()
    n_pos = sum(ex.relevant for exs in labels.values() for ex in exs)
    n_neg = sum(not ex.relevant for exs in labels.values() for ex in exs)
    skipped = too_few(n_pos, n_neg)
    if skipped:
        return Trained(None, None, n_pos, n_neg, skipped)
    items = {ex.item.id: ex.item for exs in labels.values() for ex in exs}
    sample = sorted(
        (it for it in pool if it.id not in items), key=lambda it: stable_share(it.id, "pool")
    )[:MAX_POOL]
    data = prepare(base, [*items.values(), *sample])
    rows = make_rows(data, labels)
    evaluation, _ = cross_validate(data, rows, settings)
    model = fit(data, rows, settings)
    model.platt = evaluation.platt
    model.use = {ev.topic: ev.use_model for ev in evaluation.topics}
    return Trained(model, evaluation, n_pos, n_neg, pool=len(sample))


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
        else:
            priority, why = 1 - abs(p - threshold), f"model unsure ({p:.2f})"
        out.append(Suggestion(item, jd.rules, p, jd.decision.kept, why, priority))
    out.sort(key=lambda s: (-s.priority, s.item.id))
    return out[:n]
