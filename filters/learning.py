"""Learning from a few labels: one shared model for every topic, cross-validated and calibrated.

Labels are (item, topic, + / -). Training (`train_shared`) uses, besides them:

- weak labels from the store: an unlabelled item the topic's rules keep is a weak positive,
  one they do not keep a weak negative (weights W_WEAK_POS, W_WEAK_NEG), and an item labelled
  for another topic is a weak negative for this one unless the rules keep it (W_OTHER_TOPIC);
- a prior that makes the untrained model decide as the rules do (classifier.py).

Every label is scored by a model that never saw it (K-fold cross-validation over the labelled
items, with all rows of a held-out item left out of its fold, and folds by story: a repost,
a copy or a near-duplicate of a held-out item is held out with it). Those out-of-fold predictions
calibrate the model (Platt scaling, bounded: p is a probability), measure it against the rules alone on
the same items (`CrossValidation`, with bootstrap confidence intervals), and decide per topic
whether the model takes over: a topic whose F1 with the model is below the rules' keeps its
rules, and so does one where the model makes no fewer mistakes than the rules (ties go to the
rules), so the model never makes a topic worse on the labels it is measured on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy

from pln.filters.classifier import (
    FEATURES,
    PRIOR_BIAS,
    PRIOR_WEIGHTS,
    SIGNS,
    ProtoIndex,
    SharedModel,
    centroid_margins,
    doc_features,
    doc_vector,
    relevance_features,
    topic_features,
    unit_vector,
)
from pln.filters.curator import Curator, Judgement
from pln.filters.nlp import vector_width
from pln.filters.scores import (  # below EVAL_MIN_* labels (or of a class) `pln eval` warns
    EVAL_MIN_CLASS,
    EVAL_MIN_LABELS,
    Scores,
    bootstrap_f1,
    wilson_lower,
)
from pln.progress import counted
from pln.record import Item

MIN_LABELS = 4  # labels in all (across topics) to train at all ...
MIN_PER_CLASS = 2  # ... with this many + and as many -
MIN_TOPIC_LABELS = 2  # a topic with fewer labels keeps its rules
FOLDS = 5
W_WEAK_POS = 0.3
W_WEAK_NEG = 0.1
W_OTHER_TOPIC = 0.3
MAX_WEAK = 300  # weak rows per topic and class (the pool is sampled, by item id hash)
MAX_POOL = 3000  # unlabelled items read for weak labels
WEAK_TEXT_ONLY = True
GATE_RIDGES = (0.1, 0.25, 0.5, 1.0, 2.0)  # the relevance word model's penalties to try
# (its kernel's diagonal is 1); leave-one-out picks one, at no extra fit
LIFT_THRESHOLDS = tuple(round(0.5 + 0.05 * n, 2) for n in range(10))  # 0.5-0.95, to try
LIFT_MIN_GAIN = 2  # a lift must make this many fewer mistakes on the labels than the rules
LIFT_TOPIC_FLOOR = 0.5  # with several topics, how often (95% lower bound) its topic must be right


@dataclass(frozen=True)
class TrainingSettings:
    # How firmly the weights stay at the rules-like prior: each is cross-validated and the one
    # with the fewest mistakes kept (a tie goes to the firmer). A firm prior is what keeps a
    # single catch-all topic's few labels from being fitted exactly by weights in the tens.
    strengths: tuple[float, ...] = (1.0, 4.0, 16.0)
    # A lift (choose_lift) must make this many fewer mistakes on the labels than the rules.
    lift_min_gain: int = LIFT_MIN_GAIN
    # With several topics, the labels must show the lift picking the right topic more often
    # than this, at 95% confidence (Wilson lower bound), for it to be used.
    lift_topic_floor: float = LIFT_TOPIC_FLOOR

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


# -- the training data -----------------------------------------------------------------------


@dataclass
class Data:
    """Items as unit TF-IDF vectors, with what each topic's rules said about them."""

    topics: tuple[str, ...]
    thresholds: numpy.ndarray  # (T,)
    ids: list[str]  # item ids, row order
    texts: list[str]  # the start of each item's text, for reasons
    cols: list[numpy.ndarray]  # per item: vocabulary columns
    vals: list[numpy.ndarray]  # per item: unit-vector weights (columns, then doc vector)
    rules: numpy.ndarray  # (n, T) rules score, 0 when nothing matched
    kept: numpy.ndarray  # (n, T) rules kept it
    out: numpy.ndarray  # (n, T) out of scope or ruled out: no model can keep it
    keys: numpy.ndarray  # vocabulary: sorted feature hashes
    idf: numpy.ndarray
    dims: int = 0
    # per item, what decides its cross-validation fold: its story (near-duplicates and
    # copies held out together, so no copy of a held-out label trains its fold), else its id
    groups: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.keys) + self.dims

    def where(self, i: int) -> numpy.ndarray:
        """Columns of item i's weights in a (V + D)-wide vector."""
        cols = self.cols[i]
        if not self.dims:
            return cols
        return numpy.concatenate([cols, numpy.arange(len(self.keys), self.width)])


def prepare(base: Curator, items: Sequence[Item]) -> Data:
    """Tokenize items once with base's pipeline (rules only) and read what the rules say."""
    topics = tuple(r.id for r in base.rules)
    judged = base.judge(items, topics)
    nlp = base.nlp
    dims = vector_width(nlp)
    feats, vecs = [], []
    for doc in nlp.pipe((it.nlp_text for it in items), batch_size=256):
        feats.append(doc_features(doc)[0])
        vecs.append(doc_vector(doc, dims))
    if not any(v is not None for v in vecs):
        dims = 0
    every = numpy.concatenate(feats) if feats else numpy.zeros(0, numpy.uint64)
    keys, df = numpy.unique(every, return_counts=True)
    idf = numpy.log((len(items) + 1) / (df + 1)) + 1.0
    cols, vals = [], []
    for f, vec in zip(feats, vecs, strict=True):
        c = numpy.searchsorted(keys, f)
        dense = (vec if vec is not None else numpy.zeros(dims)) if dims else None
        cols.append(c)
        vals.append(unit_vector(c, idf[c], dense))
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
        [_snippet(it) for it in items],
        cols,
        vals,
        rules,
        kept,
        out,
        keys,
        idf,
        dims,
    )


def _snippet(item: Item, limit: int = 40) -> str:
    text = " ".join((item.title or item.text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


# -- features and fitting --------------------------------------------------------------------


@dataclass
class Sets:
    """The labelled items and topic centroids that features compare an item with."""

    proto_item: numpy.ndarray  # (L,) item row of each label
    proto_topic: numpy.ndarray
    proto_pos: numpy.ndarray
    sums: numpy.ndarray  # (T, W) sum of the unit vectors of each topic's centroid members
    members: list[set[int]]  # per topic: item rows in its centroid
    protos: numpy.ndarray  # (L, W) unit vectors of the labelled items
    gate: numpy.ndarray  # (L,) the relevance word model (classifier.py) on those rows
    gate_bias: float
    gate_loo: dict[int, float]  # item row -> its relevance, from the model without it


def make_sets(data: Data, rows: Rows) -> Sets:
    """The labelled rows, the centroid members (+ labels and the rules' weak positives) and
    the relevance word model of the labelled items."""
    lab = rows.labelled
    sums = numpy.zeros((len(data.topics), data.width))
    members: list[set[int]] = [set() for _ in data.topics]
    for i, t, y in zip(rows.item.tolist(), rows.topic.tolist(), rows.y.tolist(), strict=True):
        if y > 0.5 and i not in members[t]:
            members[t].add(i)
            sums[t, data.where(i)] += data.vals[i]
    proto_item, proto_pos = rows.item[lab], rows.y[lab] > 0.5
    protos = numpy.zeros((len(proto_item), data.width))
    for j, i in enumerate(proto_item.tolist()):
        protos[j, data.where(i)] = data.vals[i]
    gate, gate_bias, gate_loo = fit_gate(proto_item, proto_pos, protos)
    return Sets(
        proto_item, rows.topic[lab], proto_pos, sums, members, protos, gate, gate_bias, gate_loo
    )


def fit_gate(
    proto_item: numpy.ndarray, proto_pos: numpy.ndarray, protos: numpy.ndarray
) -> tuple[numpy.ndarray, float, dict[int, float]]:
    """The relevance word model: ridge regression of "labelled + for some topic" on the
    labelled items' unit vectors, in their span (a weight per labelled row; an item labelled
    for several topics counts once). Also each labelled item's value from the model fitted
    without it (the closed-form leave-one-out of ridge regression)."""
    first: dict[int, int] = {}
    relevant: dict[int, bool] = {}
    for j, (i, pos) in enumerate(zip(proto_item.tolist(), proto_pos.tolist(), strict=True)):
        first.setdefault(i, j)
        relevant[i] = relevant.get(i, False) or pos
    rows = list(first.values())
    y = numpy.array([relevant[i] for i in first], float)
    gate = numpy.zeros(len(proto_item))
    if min(y.sum(), len(y) - y.sum()) < MIN_PER_CLASS:
        return gate, 0.5, {}
    x = protos[rows]
    kernel = x @ x.T
    mean = float(y.mean())
    eye = numpy.eye(len(rows))
    best = None
    for ridge in GATE_RIDGES:  # the penalty whose leave-one-out values err least
        inverse = numpy.linalg.inv(kernel + ridge * eye)
        alpha = inverse @ (y - mean)
        # Ridge regression's leave-one-out residual is alpha_i / inverse_ii: no refit, and no
        # hat matrix (a second n x n product) either.
        loo = y - alpha / numpy.diag(inverse)
        error = float(((loo - y) ** 2).sum())
        if best is None or error < best[0] - 1e-12:
            best = (error, alpha, loo)
    _, alpha, loo = best
    gate[rows] = alpha
    return gate, mean, dict(zip(first, loo.tolist(), strict=True))


def feature_rows(data: Data, rows: Rows, sets: Sets) -> numpy.ndarray:
    """FEATURES for each row, leaving the row's item out of every set it belongs to."""
    out = numpy.zeros((len(rows.item), len(FEATURES)))
    sq = (sets.sums**2).sum(1)
    protos = sets.protos
    cache: dict[int, tuple] = {}
    index = ProtoIndex(sets.proto_topic, sets.proto_pos, len(data.topics))
    for n, (i, t) in enumerate(zip(rows.item.tolist(), rows.topic.tolist(), strict=True)):
        if i not in cache:
            where, x = data.where(i), data.vals[i]
            sims = protos[:, where] @ x if len(protos) else numpy.zeros(0)
            gate = (
                sets.gate_loo[i] if i in sets.gate_loo else sets.gate_bias + float(sims @ sets.gate)
            )
            sims = numpy.where(sets.proto_item == i, -numpy.inf, sims)
            centroids = _loo_centroids(sets.sums[:, where] @ x, sq, sets.members, i)
            relevance = relevance_features(gate, centroids)
            cache[i] = (centroids, centroid_margins(centroids), sims, relevance)
        centroids, margins, sims, relevance = cache[i]
        out[n] = topic_features(
            data.rules[i, t], data.thresholds[t], centroids[t], sims, index, t,
            centroid_margin=margins[t], relevance=relevance[t],
        )  # fmt: skip
    if WEAK_TEXT_ONLY:
        out[~rows.labelled, :2] = 0.0
    return out


def _loo_centroids(dots, sq, members, i) -> numpy.ndarray:
    """Cosine of item i to every topic's centroid, leaving i out of the centroids it is in."""
    out = numpy.zeros(len(dots))
    for t in range(len(dots)):
        dot, norm2 = dots[t], sq[t]
        if i in members[t]:
            dot, norm2 = dot - 1.0, norm2 - 2 * dots[t] + 1.0
        out[t] = dot / numpy.sqrt(norm2) if norm2 > 1e-9 else 0.0
    return out


def fit_weights(x: numpy.ndarray, y: numpy.ndarray, w: numpy.ndarray, strength: float):
    """Weights and bias of a weighted logistic regression pulled towards the rules-like prior
    (Newton's method: a few parameters)."""
    design = numpy.hstack([x, numpy.ones((len(x), 1))])
    prior = numpy.array([*PRIOR_WEIGHTS, PRIOR_BIAS])
    theta = prior.copy()
    lower = numpy.array([-numpy.inf if s <= 0 else 0.0 for s in (*SIGNS, 0)])
    upper = numpy.array([numpy.inf if s >= 0 else 0.0 for s in (*SIGNS, 0)])
    for _ in range(100):
        p = 1.0 / (1.0 + numpy.exp(-numpy.clip(design @ theta, -50, 50)))
        g = design.T @ (w * (p - y)) + strength * (theta - prior)
        h = (design * (w * p * (1 - p))[:, None]).T @ design + strength * numpy.eye(len(prior))
        # Newton on the weights not held at a sign bound (an active set: few parameters).
        free = ~(((theta <= lower) & (g > 0)) | ((theta >= upper) & (g < 0)))
        step = numpy.zeros_like(theta)
        step[free] = numpy.linalg.solve(h[numpy.ix_(free, free)], g[free])
        new = numpy.clip(theta - step, lower, upper)
        done = numpy.abs(new - theta).max() < 1e-7
        theta = new
        if done:
            break
    return theta[:-1], float(theta[-1])


def predict(x: numpy.ndarray, weights: numpy.ndarray, bias: float) -> numpy.ndarray:
    return 1.0 / (1.0 + numpy.exp(-numpy.clip(x @ weights + bias, -50, 50)))


def build_model(data: Data, rows: Rows, sets: Sets, strength: float) -> SharedModel:
    x = feature_rows(data, rows, sets)
    weights, bias = fit_weights(x, rows.y, rows.w, strength)
    norms = numpy.sqrt((sets.sums**2).sum(1, keepdims=True))
    return SharedModel(
        topics=data.topics,
        thresholds=data.thresholds,
        keys=data.keys,
        idf=data.idf,
        centroids=sets.sums / numpy.maximum(norms, 1e-9),
        protos=sets.protos.astype(numpy.float32),
        proto_topic=sets.proto_topic,
        proto_pos=sets.proto_pos,
        proto_text=[data.texts[i] for i in sets.proto_item.tolist()],
        weights=weights,
        gate=sets.gate,
        gate_bias=sets.gate_bias,
        bias=bias,
        dims=data.dims,
    )


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
    strength: float = 1.0  # the prior strength these scores are of (the one training keeps)


def fold_of(item_id: str, folds: int) -> int:
    return int(stable_share(item_id, "fold") * folds)


def too_few(n_pos: int, n_neg: int) -> str:
    """Why these labels cannot make a model, or ""."""
    total = n_pos + n_neg
    if total < MIN_LABELS or min(n_pos, n_neg) < MIN_PER_CLASS:
        return (
            f"{counted(total, 'label')} ({n_pos} +, {n_neg} -); needs at least {MIN_LABELS} across "
            f"all topics, with at least {MIN_PER_CLASS} of each"
        )
    return ""


def cross_validate(
    data: Data, rows: Rows, strengths: Sequence[float], folds: int = FOLDS
) -> CrossValidation:
    """Score every label with a model fitted without its item, for each prior strength; keep
    the strength with the fewest mistakes and compare its scores with the rules."""
    lab = numpy.flatnonzero(rows.labelled)
    keys = data.groups or data.ids
    fold = numpy.array([fold_of(keys[i], folds) for i in rows.item[lab]])
    splits = []  # per fold: the features of its training rows and of its held-out labels
    for k in range(folds):
        held = lab[fold == k]
        if not len(held):
            continue
        left_out = set(rows.item[held].tolist())
        train = rows.subset(numpy.array([i not in left_out for i in rows.item.tolist()], bool))
        sets = make_sets(data, train)
        x_held = feature_rows(data, rows.subset(held_mask(rows, held)), sets)
        splits.append((fold == k, feature_rows(data, train, sets), train, x_held))
    best = None
    for strength in sorted(strengths, reverse=True):  # the firmest first: it wins ties
        prob = numpy.zeros(len(lab))
        for mask, x, train, x_held in splits:
            weights, bias = fit_weights(x, train.y, train.w, strength)
            prob[mask] = predict(x_held, weights, bias)
        result = _compare(data, rows, lab, prob, folds, strength)
        if best is None or _pooled_errors(result) < _pooled_errors(best):
            best = result
    return best


def _pooled_errors(cv: CrossValidation) -> int:
    return _errors(sum((ev.model for ev in cv.topics), Scores()))


def _compare(data: Data, rows: Rows, lab, prob, folds: int, strength: float) -> CrossValidation:
    """Per topic, the out-of-fold model against the rules on the same labels."""
    y = rows.y[lab] > 0.5
    evals = []
    for t, topic in enumerate(data.topics):
        mine = rows.topic[lab] == t
        items, rel = rows.item[lab][mine], y[mine]
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
        evals.append(ev)
    pooled = _errors(sum((ev.model for ev in evals), Scores()))
    pooled_rules = _errors(sum((ev.rules for ev in evals), Scores()))
    for ev in evals:
        ev.use_model, ev.note = _takes_over(ev, pooled < pooled_rules)
    return CrossValidation(evals, folds, strength)


def _errors(s: Scores) -> int:
    return s.fp + s.fn


def held_mask(rows: Rows, picked: numpy.ndarray) -> numpy.ndarray:
    mask = numpy.zeros(len(rows.item), bool)
    mask[picked] = True
    return mask


def _takes_over(ev: TopicEval, better_overall: bool = False) -> tuple[bool, str]:
    """Whether the model decides for the topic (else its rules do), and a note: why not, and
    a warning when the labels are too few for the scores to mean much. `better_overall`: the
    shared model made fewer cross-validated mistakes than the rules over all topics' labels,
    which breaks a tie on one topic's few labels in the model's favour."""
    total = ev.n_pos + ev.n_neg
    warning = ""
    if total and (total < EVAL_MIN_LABELS or min(ev.n_pos, ev.n_neg) < EVAL_MIN_CLASS):
        warning = (
            f"few labels ({ev.n_pos} +, {ev.n_neg} -): wide intervals; "
            f"{EVAL_MIN_LABELS} with {EVAL_MIN_CLASS} of each make them useful"
        )
    if total < MIN_TOPIC_LABELS:
        why = f"rules only: {counted(total, 'label')} (the model needs {MIN_TOPIC_LABELS})"
        return False, f"{why}; {warning}" if warning else why
    rules_errors, model_errors = _errors(ev.rules), _errors(ev.model)
    if model_errors > rules_errors or (model_errors == rules_errors and not better_overall):
        # A tie on this topic goes to the rules unless the model did better over all topics:
        # with few labels a tie says nothing, and rules explain better.
        why = (
            f"rules only: the model made {counted(model_errors, 'cross-validated mistake')}, "
            f"the rules {rules_errors}"
        )
        return False, f"{why}; {warning}" if warning else why
    return True, warning


@dataclass
class Trained:
    model: SharedModel | None
    evaluation: CrossValidation | None
    n_pos: int
    n_neg: int
    skipped: str = ""
    pool: int = 0  # unlabelled items used for weak labels
    lift: LiftChoice | None = None


def train_shared(
    base: Curator,
    labels: Mapping[str, Sequence[Example]],
    pool: Iterable[Item] = (),
    settings: TrainingSettings | None = None,
    stories: Mapping[str, str] | None = None,
) -> Trained:
    """Cross-validate, calibrate and fit the shared model on labels (topic -> examples) and
    weak labels from the unlabelled pool; `base` is a rules-only Curator of the topics.
    `stories`: item id -> its story's id, so that the items of a story share a fold."""
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
    if stories:
        data.groups = [stories.get(item_id, item_id) for item_id in data.ids]
    rows = make_rows(data, labels)
    evaluation = cross_validate(data, rows, settings.strengths)
    sets = make_sets(data, rows)
    model = build_model(data, rows, sets, evaluation.strength)
    _check_final_fit(model, data, rows, sets, evaluation)
    model.use = {ev.topic: ev.use_model for ev in evaluation.topics}
    lift = choose_lift(data, sets, settings.lift_min_gain, settings.lift_topic_floor)
    model.lift = lift.threshold
    return Trained(model, evaluation, n_pos, n_neg, pool=len(sample), lift=lift)


@dataclass
class LiftChoice:
    """The model's lift threshold (classifier.py; 0: none) and the mistakes behind it."""

    threshold: float
    items: int  # labelled items, counted once however many topics labelled them
    rules_errors: int
    lift_errors: int  # at the threshold (at the best one tried when there is no lift)
    min_gain: int = LIFT_MIN_GAIN
    # Relevant labelled items the best threshold lifts, by whether it picked a topic they are
    # labelled + for; `topics` is how many it could pick from.
    right_topic: int = 0
    wrong_topic: int = 0
    topics: int = 1

    def describe(self) -> str:
        tally = (
            f"on {self.items} labelled items, leave-one-out: {counted(self.lift_errors, 'mistake')}, "
            f"the rules {self.rules_errors}"
        )
        if self.threshold:
            return (
                f"an item no topic keeps is kept for the topic it is most like from relevance "
                f"{self.threshold:g} ({tally})"
            )
        if self.rules_errors - self.lift_errors < self.min_gain:
            return f"no lift ({tally}; it needs {self.min_gain} fewer)"
        return (
            f"no lift ({tally}; but the topic it picks was right for {self.right_topic} of "
            f"{self.right_topic + self.wrong_topic}, too few to trust with {self.topics} topics)"
        )

    def as_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "items": self.items,
            "rules_errors": self.rules_errors,
            "lift_errors": self.lift_errors,
            "right_topic": self.right_topic,
            "wrong_topic": self.wrong_topic,
        }


def choose_lift(
    data: Data,
    sets: Sets,
    min_gain: int = LIFT_MIN_GAIN,
    topic_floor: float = LIFT_TOPIC_FLOOR,
) -> LiftChoice:
    """The relevance from which an item that no topic's rules keep is kept for the topic it is
    most like. Counted on the labelled items, each with its relevance from the word model
    fitted without it and its topic from centroids without it: a lifted item labelled + for
    that topic is right; labelled + for another, two mistakes (still missed there, wrongly
    kept here); labelled - only, one. The threshold with the fewest mistakes wins, the highest
    of a tie; none (0) unless it makes `min_gain` fewer than the rules alone (a gain of one is
    a coin flip on a few labels), and, with several topics, unless the topic it picks for the
    relevant items it lifts is right more often than `topic_floor` at 95% confidence (3 of 3
    is not enough: on 8 topics of one field such a lift put most held-out items in the wrong
    topic)."""
    n_topics = data.kept.shape[1]
    wanted: dict[int, set[int]] = {}  # item row -> topics it is labelled + for
    for i, t, pos in zip(
        sets.proto_item.tolist(), sets.proto_topic.tolist(), sets.proto_pos.tolist(), strict=True
    ):
        wanted.setdefault(i, set())
        if pos:
            wanted[i].add(t)
    items = [i for i in wanted if i in sets.gate_loo]
    kept = data.kept[items].any(axis=1) if items else numpy.zeros(0, bool)
    truth = numpy.array([bool(wanted[i]) for i in items], bool)
    rules_errors = int((kept != truth).sum())
    if not items:
        return LiftChoice(0.0, len(wanted), rules_errors, rules_errors, min_gain)
    sq = (sets.sums**2).sum(1)
    cost = numpy.zeros(len(items))  # mistakes on the item when lifted, in place of the rules'
    for n, i in enumerate(items):
        where, x = data.where(i), data.vals[i]
        centroids = _loo_centroids(sets.sums[:, where] @ x, sq, sets.members, i)
        centroids[data.out[i]] = -1.0
        best = int(numpy.argmax(centroids))
        if centroids[best] <= 0:
            cost[n] = float(truth[n])  # nothing to lift it to: missed as before
        elif truth[n]:
            cost[n] = 0.0 if best in wanted[i] else 2.0
        else:
            cost[n] = 1.0
    gate = numpy.array([sets.gate_loo[i] for i in items])
    base = (kept != truth).astype(float)
    best_choice: tuple[float, float] | None = None
    for threshold in sorted(LIFT_THRESHOLDS, reverse=True):  # the highest wins a tie
        lifted = ~kept & (gate >= threshold)
        errors = float(numpy.where(lifted, cost, base).sum())
        if best_choice is None or errors < best_choice[0]:
            best_choice = (errors, threshold)
    errors, threshold = best_choice
    lifted = ~kept & (gate >= threshold) & truth
    right, wrong = int((lifted & (cost == 0)).sum()), int((lifted & (cost == 2)).sum())
    if rules_errors - errors < min_gain or (
        n_topics > 1 and wilson_lower(right, right + wrong) < topic_floor
    ):
        threshold = 0.0
    return LiftChoice(
        threshold,
        len(items),
        rules_errors,
        int(errors),
        min_gain,
        right_topic=right,
        wrong_topic=wrong,
        topics=n_topics,
    )


def _check_final_fit(
    model: SharedModel, data: Data, rows: Rows, sets: Sets, evaluation: CrossValidation
) -> None:
    """A topic the cross-validation gave to the model keeps its rules after all when the
    model fitted on every label makes no fewer mistakes on those labels than the rules (ties
    go to the rules, as in the cross-validation). With one topic and a loose prior, a fit on
    all the labels can differ from every fold's and sink everything (seen at 20 labels:
    held-out F1 0 against the rules' 0.26)."""
    lab = rows.subset(rows.labelled)
    prob = predict(feature_rows(data, lab, sets), model.weights, model.bias)
    for t, ev in enumerate(evaluation.topics):
        mine = lab.topic == t
        if not ev.use_model or not mine.any():
            continue
        items, relevant = lab.item[mine], lab.y[mine] > 0.5
        kept = ~data.out[items, t] & (prob[mine] >= data.thresholds[t])
        model_errors = _errors(Scores.of(kept.tolist(), relevant.tolist()))
        rules_errors = _errors(ev.rules)
        if model_errors >= rules_errors:
            ev.use_model = False
            why = (
                f"rules only: the model fitted on all labels made {counted(model_errors, 'mistake')} "
                f"on them, the rules {rules_errors}"
            )
            ev.note = f"{why}; {ev.note}" if ev.note else why  # keep a few-labels warning
