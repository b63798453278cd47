"""One model for all topics, trained on the user's labels, kept as versioned files on disk.

Few labels cannot train thousands of word weights per topic, so the model has ten weights,
shared by every topic, over features that say how an item relates to what you labelled:

    f = [r - threshold (when a phrase matched), matched,
         similarity to the topic's centroid (its + labels and the items its rules keep),
         highest similarity to an item labelled + for the topic, and to one labelled -,
         highest similarity to any item labelled - (a near-miss of any topic), and to any +,
         highest similarity to a + of another topic,
         centroid similarity minus the highest of any other topic's (which topic it is most like),
         relevance: what the labelled texts' words say of the item (below)]
    p = sigmoid(w . f + b)

Relevance is a word model of its own: ridge regression of "labelled + for some topic" on the
labelled items' vectors, solved in their span (so it is stored as one weight per labelled item
and read from the similarities the other features use). It learns that "dataset" or "puppy"
marks a near-miss, which similarities to whole texts cannot. Its value (p - 0.5) may lower
every topic, but raise only the topic the item is most like: it says "relevant", not which
topic.

The lift: with many topics of one field, a topic's few labels rarely teach which topic an
unmatched text is about, while the labels of all topics together do teach "relevant". When
training found (leave-one-out on the labels) that relevance alone keeps what the rules miss
with fewer mistakes, the model has a `lift` threshold: an item no topic keeps whose relevance
reaches it is kept for the topic it is most like, and the reason says so.

Similarity is the cosine of TF-IDF vectors over unigrams and bigrams of `token.norm` (the
lower-cased lemma set by `pln_lemma_norm_v1`; stop words and punctuation left out), plus the
document vectors when the configured spaCy pipeline has them. Before any label the weights sit
at a prior that decides as the rules do (p = 0.5 at the threshold); labels on any topic move
them for all topics, which is how eight topics learn from 50 labels. The features of a
labelled item are computed without the item itself (leave-one-out), so the weights are fitted
on what an unseen item would look like, and p reads as a probability. The reason names the
labelled item the text is most like. See filters/learning.py for training.

Layout beside the database (`models_dir(db_path)`):

    models/v<N>/meta.json    version, trained_at, labels, fingerprint, cross-validated metrics
    models/v<N>/model.npz    weights, vocabulary (feature hashes, IDF), centroids, labelled items

The highest complete version (one with a meta.json) is the current model.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy
from spacy.attrs import IS_ALPHA, IS_STOP, NORM
from spacy.tokens import Doc

from pln.errors import PlnError

from .model_files import (  # noqa: F401 - models_dir: used from here by callers
    FORMAT,
    META,
    models_dir,
    saved_versions,
    version_numbers,
)

WEIGHTS = "model.npz"
MIN_LENGTH = 9  # a text's features weigh 1/sqrt(max(n, 9)): a 3-word text weighs like 9 words
PRIOR_BIAS = -3.0  # no phrase matched: p about 0.05 before any label
PRIOR_RULES = (4.0, 3.0)  # weights of (r - threshold, matched): p = 0.5 at the threshold
_MIX = numpy.uint64(0x9E3779B97F4A7C15)


# -- features --------------------------------------------------------------------------------


def doc_features(doc: Doc) -> tuple[numpy.ndarray, float]:
    """The distinct feature hashes of doc (unigrams and bigrams of content-word norms) and the
    value each one carries (1 / sqrt of their number, at least MIN_LENGTH)."""
    if not len(doc):
        return numpy.zeros(0, dtype=numpy.uint64), 0.0
    arr = doc.to_array([NORM, IS_ALPHA, IS_STOP])
    words = arr[(arr[:, 1] == 1) & (arr[:, 2] == 0), 0]
    if not len(words):
        return numpy.zeros(0, dtype=numpy.uint64), 0.0
    bigrams = words[:-1] * _MIX + words[1:]  # array arithmetic wraps around, never warns
    feats = numpy.unique(numpy.concatenate([words, bigrams]))
    return feats, 1.0 / float(numpy.sqrt(max(len(feats), MIN_LENGTH)))


def feature_names(doc: Doc) -> dict[int, str]:
    """Feature hash -> the words it stands for ("spaced repetition"), for explanations."""
    arr = doc.to_array([NORM, IS_ALPHA, IS_STOP])
    keep = (arr[:, 1] == 1) & (arr[:, 2] == 0)
    words = arr[keep, 0]
    strings = doc.vocab.strings
    names = {int(w): strings[int(w)] for w in words}
    with numpy.errstate(over="ignore"):
        bigrams = words[:-1] * _MIX + words[1:]
    for a, b, h in zip(words[:-1].tolist(), words[1:].tolist(), bigrams.tolist(), strict=True):
        names[int(h)] = f"{strings[a]} {strings[b]}"
    return names


def doc_vector(doc: Doc, dims: int) -> numpy.ndarray | None:
    """doc's vector scaled to length 1 when the pipeline has `dims`-wide vectors, else None."""
    if not dims or not doc.has_vector:
        return None
    vec = numpy.asarray(doc.vector, dtype=numpy.float32)
    norm = float(numpy.linalg.norm(vec))
    return vec / norm if norm and vec.shape == (dims,) else None


# -- the model -------------------------------------------------------------------------------

FEATURES = (
    "rules",
    "matched",
    "centroid",
    "topic_pos",
    "topic_neg",
    "any_neg",
    "any_pos",
    "other_pos",
    "centroid_margin",
    "relevance",
)
PRIOR_WEIGHTS = (*PRIOR_RULES, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
# The sign each weight may take (0: either): likeness to the topic may only raise p, likeness
# to its - labels, to near-misses or to another topic's + only lower it. Without this, with
# few labels, "like some +" (of any topic) raised p for every topic at once.
SIGNS = (0, 0, 1, 1, -1, -1, 0, -1, 1, 1)
SIM_SCALE = 10.0  # similarities (mostly 0-0.5) in units the prior's strength suits
SAME_TEXT = 0.999  # a labelled item this like the doc has its words: the doc itself, or a copy


class ProtoIndex:
    """Which labelled items each feature compares with, per topic, as index arrays (so a doc's
    features take a few array maxima, not a mask per label)."""

    def __init__(self, proto_topic: numpy.ndarray, proto_pos: numpy.ndarray, n_topics: int):
        pos, topic = numpy.asarray(proto_pos, bool), numpy.asarray(proto_topic)
        # With one topic "any" is that topic: the copies would only let the fit cancel the
        # topic's own features (a weight of either sign on any_pos undid topic_pos).
        across = n_topics > 1
        self.any_neg = numpy.flatnonzero(~pos) if across else numpy.zeros(0, numpy.int64)
        self.any_pos = numpy.flatnonzero(pos) if across else numpy.zeros(0, numpy.int64)
        self.topic_pos = [numpy.flatnonzero((topic == t) & pos) for t in range(n_topics)]
        self.topic_neg = [numpy.flatnonzero((topic == t) & ~pos) for t in range(n_topics)]
        self.other_pos = [numpy.flatnonzero((topic != t) & pos) for t in range(n_topics)]
        self.like = [numpy.flatnonzero((topic == t) | ~pos) for t in range(n_topics)]
        # Every group above as one array, for all maxima of a doc in one reduceat.
        groups = [*self.topic_pos, *self.topic_neg, *self.other_pos, self.any_neg, self.any_pos]
        lengths = numpy.array([len(g) for g in groups])
        self._flat = numpy.concatenate(groups) if len(groups) else numpy.zeros(0, numpy.int64)
        self._starts = numpy.concatenate([[0], numpy.cumsum(lengths)[:-1]]).astype(numpy.int64)
        self._empty = lengths == 0
        self.n_topics = n_topics

    def maxima(self, sims: numpy.ndarray) -> numpy.ndarray:
        """(T, 6) of FEATURES[3:]: topic_pos, topic_neg, any_neg, any_pos, other_pos (scaled)."""
        t = self.n_topics
        if len(self._flat):
            # A 0 past the end, so the start of an empty last group is still an index (a start
            # moved back instead cut the group before it short by its last item).
            values = numpy.append(sims[self._flat], 0.0)
            tops = numpy.maximum.reduceat(values, self._starts)
            tops = numpy.where(self._empty, 0.0, numpy.maximum(tops, 0.0)) * SIM_SCALE
        else:
            tops = numpy.zeros(3 * t + 2)
        out = numpy.empty((t, 5))
        out[:, 0], out[:, 1], out[:, 4] = tops[:t], tops[t : 2 * t], tops[2 * t : 3 * t]
        out[:, 2], out[:, 3] = tops[3 * t], tops[3 * t + 1]
        return out


def _top(sims: numpy.ndarray, idx: numpy.ndarray) -> float:
    return SIM_SCALE * max(float(sims[idx].max()), 0.0) if len(idx) else 0.0


def topic_features(
    rules: float,
    threshold: float,
    centroid: float,
    sims: numpy.ndarray,
    index: ProtoIndex,
    topic: int,
    shared: tuple[float, float] | None = None,
    centroid_margin: float = 0.0,
    relevance: float = 0.0,
) -> numpy.ndarray:
    """The FEATURES of one (item, topic) pair from the item's similarities to the labelled
    items `sims` (the item itself left out: -inf). `shared`: the two maxima that do not
    depend on the topic, when already computed; `centroid_margin`: see `centroid_margins`;
    `relevance`: see `relevance_features`."""
    matched = rules > 0
    any_neg, any_pos = shared or (_top(sims, index.any_neg), _top(sims, index.any_pos))
    return numpy.array(
        [
            rules - threshold if matched else 0.0,
            1.0 if matched else 0.0,
            SIM_SCALE * centroid,
            _top(sims, index.topic_pos[topic]),
            _top(sims, index.topic_neg[topic]),
            any_neg,
            any_pos,
            _top(sims, index.other_pos[topic]),
            SIM_SCALE * centroid_margin,
            relevance,
        ]
    )


def relevance_features(gate: float, centroids: numpy.ndarray) -> numpy.ndarray:
    """Per topic, the relevance feature of an item the word model gives `gate` (its
    estimate that the item is labelled +): below 0.5 it lowers every topic; above, it raises
    only the topic whose centroid the item is most like (none when it is like none)."""
    r = SIM_SCALE * (gate - 0.5)
    out = numpy.full(len(centroids), min(r, 0.0))
    if r > 0 and len(centroids):
        best = int(numpy.argmax(centroids))
        if centroids[best] > 0:
            out[best] = r
    return out


def centroid_margins(centroids: numpy.ndarray) -> numpy.ndarray:
    """Per topic: its centroid similarity minus the highest of the other topics' (> 0 for the
    topic the item is most like), so one shared weight can tell topics apart."""
    values = centroids.tolist()  # a handful of topics: plain Python beats numpy's overhead
    if len(values) < 2:
        return numpy.zeros(len(values))
    best = max(values)
    top = values.index(best)
    second = max(v for i, v in enumerate(values) if i != top)
    out = numpy.array(values) - best
    out[top] = best - second
    return out


@dataclass
class SharedModel:
    """What `Scorer` needs (see the module doc). `use[t]` is False for a topic whose
    cross-validated F1 with the model was below the rules alone: that topic keeps its rules."""

    topics: tuple[str, ...]
    thresholds: numpy.ndarray  # (T,) the topics' thresholds when trained
    keys: numpy.ndarray  # sorted feature hashes (uint64), the vocabulary
    idf: numpy.ndarray  # (V,)
    centroids: numpy.ndarray  # (T, V + D) unit vectors
    protos: numpy.ndarray  # (L, V + D) unit vectors of the labelled items
    proto_topic: numpy.ndarray  # (L,) topic index of each label
    proto_pos: numpy.ndarray  # (L,) the label is +
    proto_text: list[str]  # the start of each labelled item, for reasons
    weights: numpy.ndarray  # (len(FEATURES),)
    gate: numpy.ndarray  # (L,) the relevance word model's weight of each labelled item
    gate_bias: float = 0.5
    bias: float = PRIOR_BIAS
    dims: int = 0  # width of doc vectors used, 0 without
    use: dict[str, bool] = field(default_factory=dict)
    lift: float = 0.0  # relevance that keeps an item no topic keeps (module doc); 0: never

    @property
    def vocab_size(self) -> int:
        return len(self.keys)

    def columns(self, feats: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Vocabulary columns of the feature hashes the model knows, with the mask of them."""
        if not len(feats) or not len(self.keys):
            return numpy.zeros(0, dtype=numpy.int64), numpy.zeros(len(feats), bool)
        idx = numpy.minimum(numpy.searchsorted(self.keys, feats), len(self.keys) - 1)
        known = self.keys[idx] == feats
        return idx[known], known

    def save(self, path: Path) -> None:
        numpy.savez_compressed(
            path,
            keys=self.keys,
            idf=self.idf.astype(numpy.float32),
            centroids=self.centroids.astype(numpy.float32),
            protos=self.protos.astype(numpy.float32),
            proto_topic=self.proto_topic,
            proto_pos=self.proto_pos,
            thresholds=self.thresholds,
            weights=self.weights,
            gate=self.gate,
        )

    @classmethod
    def load(cls, folder: Path, meta: dict[str, Any]) -> SharedModel:
        try:
            with numpy.load(folder / WEIGHTS, allow_pickle=False) as data:
                return cls(
                    topics=tuple(meta["topics"]),
                    thresholds=data["thresholds"],
                    keys=data["keys"].astype(numpy.uint64),
                    idf=data["idf"],
                    centroids=data["centroids"],
                    protos=data["protos"],
                    proto_topic=data["proto_topic"],
                    proto_pos=data["proto_pos"].astype(bool),
                    proto_text=list(meta.get("labelled_texts", [])),
                    weights=data["weights"],
                    gate=data["gate"],
                    gate_bias=float(meta.get("gate_bias", 0.5)),
                    bias=float(meta.get("bias", PRIOR_BIAS)),
                    dims=int(meta.get("dims", 0)),
                    use=dict(meta.get("use", {})),
                    lift=float(meta.get("lift", 0.0)),
                )
        except (OSError, ValueError, KeyError) as exc:
            raise PlnError(f"model {folder}: cannot be loaded: {exc}") from None


@dataclass(frozen=True)
class ModelRef:
    """One saved model version: cheap to pickle, loaded in the worker."""

    version: int
    path: Path  # models/v<N>
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"v{self.version}"

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(self.meta.get("topics", ()))

    def load(self) -> SharedModel:
        if self.meta.get("format") != FORMAT:
            raise PlnError(f"model {self.path}: not a {FORMAT} model; run `pln train` again")
        return SharedModel.load(self.path, self.meta)


def model_versions(root: Path) -> list[ModelRef]:
    """Every complete saved version, oldest first (folders of older formats are ignored)."""
    return [ModelRef(version, path, meta) for version, path, meta in saved_versions(root)]


def current_model(root: Path) -> ModelRef | None:
    versions = model_versions(root)
    return versions[-1] if versions else None


def save_model(model: SharedModel, root: Path, meta: dict[str, Any]) -> ModelRef:
    """Write model as the next version under root: staged in a hidden folder, then renamed,
    so a reader never sees half a model."""
    root.mkdir(parents=True, exist_ok=True)
    taken = version_numbers(root)
    version = max(taken, default=0) + 1
    staging = Path(tempfile.mkdtemp(prefix=f".staging-v{version}-", dir=root))
    meta = {
        "format": FORMAT,
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "topics": list(model.topics),
        "features": dict(zip(FEATURES, (round(float(w), 4) for w in model.weights), strict=True)),
        "bias": float(model.bias),
        "gate_bias": float(model.gate_bias),
        "labelled_texts": model.proto_text,
        "dims": model.dims,
        "use": model.use,
        "lift": model.lift,
        "vocabulary": model.vocab_size,
        **meta,
    }
    try:
        model.save(staging / WEIGHTS)
        (staging / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        target = root / f"v{version}"
        try:
            staging.rename(target)
        except OSError as exc:
            raise PlnError(
                f"model {target}: cannot be saved ({exc.strerror}); was another `pln train` "
                "running? Run it again"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ModelRef(version, target, meta)


# -- scoring at curation time ----------------------------------------------------------------


def unit_vector(
    cols: numpy.ndarray, value: numpy.ndarray, vec: numpy.ndarray | None
) -> numpy.ndarray:
    """Weights of a sparse vector (over `cols`, then the doc vector) scaled to length 1."""
    out = value if vec is None else numpy.concatenate([value, vec])
    norm = float(numpy.sqrt(out @ out))
    return out / norm if norm else out


@dataclass(frozen=True, slots=True)
class Lift:
    """The model's offer to keep an item that no topic keeps: for `topic`, the one it is most
    like, because its relevance reached the model's lift threshold."""

    topic: str
    relevance: float
    threshold: float
    like: float  # its similarity to the topic's centroid

    def describe(self, model: str) -> str:
        return (
            f"model {model}: relevant to your topics ({self.relevance:.2f}, lifts from "
            f"{self.threshold:.2f}) and most like this one ({self.like:.2f})"
        )


class Scorer:
    """A loaded model ready to score docs: per topic, the margin of everything but the rules
    score, and the labelled item the doc is most like; and the lift, if any."""

    def __init__(self, model: SharedModel, label: str, vectors: bool = True):
        """`vectors=False`: the pipeline is not the one the model was trained with, so its
        word vectors (if any) mean something else: docs are read without them."""
        self.model = model
        self.label = label
        self.vectors = vectors
        self.index = {t: i for i, t in enumerate(model.topics) if model.use.get(t, True)}
        self.lifts = model.lift > 0
        self._position = {t: i for i, t in enumerate(model.topics)}
        self._v = model.vocab_size
        self._dense = numpy.arange(self._v, self._v + model.dims)
        self._protos = ProtoIndex(model.proto_topic, model.proto_pos, len(model.topics))
        # Centroids and labelled items side by side and transposed, so a doc's columns are
        # rows to gather (much faster than columns), once for both.
        both = numpy.vstack([model.centroids, model.protos.reshape(-1, model.centroids.shape[1])])
        self._both_t = numpy.ascontiguousarray(both.T, dtype=numpy.float64)
        self._t = len(model.topics)

    def margins(self, doc: Doc, topics: Sequence[str]) -> dict[str, tuple[float, str]]:
        """topic -> (margin without the two rules features, what the doc is most like)."""
        return self.read(doc, topics)[0]

    def read(
        self, doc: Doc, topics: Sequence[str]
    ) -> tuple[dict[str, tuple[float, str]], Lift | None]:
        """The margins of `margins` for the model's topics among `topics`, and the lift: the
        topic of `topics` the doc is most like, when its relevance reaches `model.lift`."""
        rows = [(t, self.index[t]) for t in topics if t in self.index]
        if not rows and not self.lifts:
            return {}, None
        model = self.model
        feats, _ = doc_features(doc)
        cols, _ = model.columns(feats)
        vec = doc_vector(doc, model.dims) if self.vectors else None
        x = unit_vector(cols, model.idf[cols], vec)
        where = cols if vec is None else numpy.concatenate([cols, self._dense])
        both = x @ self._both_t[where]
        centroid, sims = both[: self._t], both[self._t :]  # (T,), (L,)
        gate = model.gate_bias + float(sims @ model.gate)  # 0.5 when no gate was fitted
        lift = self._lift(gate, centroid, topics) if self.lifts else None
        if not rows:
            return {}, lift
        features = self._protos.maxima(sims)  # (T, 5)
        w = model.weights
        margin = model.bias + SIM_SCALE * w[2] * centroid + features @ w[3:8]
        margin += SIM_SCALE * w[8] * centroid_margins(centroid)
        margin += w[9] * relevance_features(gate, centroid)
        return {topic: (float(margin[i]), self._like(sims, i)) for topic, i in rows}, lift

    def _lift(self, gate: float, centroid: numpy.ndarray, topics: Sequence[str]) -> Lift | None:
        if gate < self.model.lift:
            return None
        allowed = sorted(self._position[t] for t in topics if t in self._position)
        if not allowed:
            return None
        best = max(allowed, key=lambda i: centroid[i])
        if centroid[best] <= 0:
            return None
        return Lift(self.model.topics[best], round(gate, 3), self.model.lift, float(centroid[best]))

    def _like(self, sims: numpy.ndarray, topic: int) -> str:
        """The labelled item (of this topic, or a - of any) most like the doc, if any is; a
        label on the doc's own text is said as such, never as a neighbour of itself."""
        model = self.model
        idx = self._protos.like[topic]
        if not len(idx) or not len(model.proto_text):
            return ""
        same = idx[sims[idx] >= SAME_TEXT]
        if len(same):  # its own label first (one item may have labels for several topics)
            own = same[model.proto_topic[same] == topic]
            best = int((own if len(own) else same)[0])
            return f"you labelled this text {self._sign_for(best, topic)}"
        best = int(idx[numpy.argmax(sims[idx])])
        if sims[best] < 0.1:
            return ""
        sign, text = self._sign_for(best, topic), model.proto_text[best]
        return f"most like your {sign} '{text}' ({sims[best]:.2f})"

    def _sign_for(self, proto: int, topic: int) -> str:
        """ "+" or "-", naming the topic of a label given for another one."""
        sign = "+" if self.model.proto_pos[proto] else "-"
        other = int(self.model.proto_topic[proto])
        return sign if other == topic else f"{sign} for {self.model.topics[other]}"
