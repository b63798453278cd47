"""One model for all topics, trained on the user's labels, kept as versioned files on disk.

The model is a logistic regression per (item, topic) whose weights are shared by every topic
plus a small per-topic part ("frustratingly easy" multi-task learning), so a near-miss labelled
down for one topic ("training a model on a dataset") teaches every topic, and eight topics learn
from 50 labels together. Its inputs:

- the words of the item: unigrams and bigrams of `token.norm` (the lower-cased lemma set by
  `pln_lemma_norm_v1`; stop words and punctuation left out), present or not, scaled by the
  length of the text; plus the document vector when the configured spaCy pipeline has vectors;
- what the topic's rules said: the rules score r minus the threshold, and whether any phrase
  or hashtag matched.

Before any label the weights sit at a prior that reproduces the rules (p = 0.5 at the
threshold, a no-match item far below); labels move them, more easily for the shared words
than per topic. The margin is then calibrated on cross-validated predictions (Platt scaling),
so `p` reads as "the chance you would call this relevant", and the topic's threshold is a
probability. See filters/learning.py for training.

Layout beside the database (`models_dir(db_path)`):

    models/v<N>/meta.json    version, trained_at, labels, fingerprint, cross-validated metrics
    models/v<N>/model.npz    weights, vocabulary (feature hashes and their words)

The highest complete version (one with a meta.json) is the current model.
"""

from __future__ import annotations

import json
import re
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

MODELS_DIR = "models"
META = "meta.json"
WEIGHTS = "model.npz"
FORMAT = "pln-shared-lr.v1"
MIN_LENGTH = 9  # a text's features weigh 1/sqrt(max(n, 9)): a 3-word text weighs like 9 words
PRIOR_BIAS = -3.0  # no phrase matched: p about 0.05 before any label
PRIOR_RULES = (4.0, 3.0)  # weights of (r - threshold, matched): p = 0.5 at the threshold
_MIX = numpy.uint64(0x9E3779B97F4A7C15)
_VERSION_RE = re.compile(r"^v(\d+)$")


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
    with numpy.errstate(over="ignore"):
        bigrams = words[:-1] * _MIX + words[1:]
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


@dataclass
class SharedModel:
    """Weights of the shared model (see the module doc). `use[t]` is False for a topic whose
    cross-validated F1 with the model was below the rules alone: that topic keeps its rules."""

    topics: tuple[str, ...]
    keys: numpy.ndarray  # sorted feature hashes (uint64), the vocabulary
    names: list[str]  # words of each key, for explanations
    weights: numpy.ndarray  # (1 + T, V + D): row 0 shared, row 1 + t topic t
    bias: numpy.ndarray  # (T,)
    rules: numpy.ndarray  # (2,): weights of (r - threshold, matched)
    platt: tuple[float, float] = (1.0, 0.0)
    dims: int = 0  # width of doc vectors used, 0 without
    use: dict[str, bool] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return len(self.keys)

    def combined(self) -> numpy.ndarray:
        """(T, V + D): shared plus topic weights, what scoring reads."""
        return self.weights[0][None, :] + self.weights[1:]

    def columns(self, feats: numpy.ndarray) -> numpy.ndarray:
        """Vocabulary columns of the feature hashes that the model knows."""
        if not len(feats) or not len(self.keys):
            return numpy.zeros(0, dtype=numpy.int64)
        idx = numpy.searchsorted(self.keys, feats)
        idx = numpy.minimum(idx, len(self.keys) - 1)
        return idx[self.keys[idx] == feats]

    def probability(self, margin: float) -> float:
        a, b = self.platt
        return float(1.0 / (1.0 + numpy.exp(-(a * margin + b))))

    def save(self, path: Path) -> None:
        numpy.savez_compressed(
            path,
            keys=self.keys,
            names=numpy.array(self.names, dtype=object),
            weights=self.weights.astype(numpy.float32),
            bias=self.bias,
            rules=self.rules,
        )

    @classmethod
    def load(cls, folder: Path, meta: dict[str, Any]) -> SharedModel:
        try:
            with numpy.load(folder / WEIGHTS, allow_pickle=True) as data:
                return cls(
                    topics=tuple(meta["topics"]),
                    keys=data["keys"].astype(numpy.uint64),
                    names=[str(n) for n in data["names"]],
                    weights=data["weights"].astype(numpy.float64),
                    bias=data["bias"],
                    rules=data["rules"],
                    platt=tuple(meta.get("platt", (1.0, 0.0))),
                    dims=int(meta.get("dims", 0)),
                    use=dict(meta.get("use", {})),
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


def models_dir(db_path: str | Path) -> Path:
    """Where the models of the database at db_path live: a `models` folder beside it."""
    return Path(db_path).parent / MODELS_DIR


def model_versions(root: Path) -> list[ModelRef]:
    """Every complete saved version, oldest first (folders of older formats are ignored)."""
    if not root.is_dir():
        return []
    refs = []
    for child in root.iterdir():
        match = _VERSION_RE.match(child.name)
        meta_path = child / META
        if match and meta_path.is_file():
            meta = _read_meta(meta_path)
            if meta.get("format") == FORMAT:
                refs.append(ModelRef(int(match.group(1)), child, meta))
    return sorted(refs, key=lambda r: r.version)


def current_model(root: Path) -> ModelRef | None:
    versions = model_versions(root)
    return versions[-1] if versions else None


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlnError(f"model {path.parent}: unreadable {META}: {exc}") from None


def save_model(model: SharedModel, root: Path, meta: dict[str, Any]) -> ModelRef:
    """Write model as the next version under root: staged in a hidden folder, then renamed,
    so a reader never sees half a model."""
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for c in root.iterdir() if (m := _VERSION_RE.match(c.name))]
    version = max(taken, default=0) + 1
    staging = Path(tempfile.mkdtemp(prefix=f".staging-v{version}-", dir=root))
    meta = {
        "format": FORMAT,
        "version": version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "topics": list(model.topics),
        "platt": list(model.platt),
        "dims": model.dims,
        "use": model.use,
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


class Scorer:
    """A loaded model ready to score docs: text margins per topic, and their top words."""

    def __init__(self, model: SharedModel, label: str):
        self.model = model
        self.label = label
        self.index = {t: i for i, t in enumerate(model.topics) if model.use.get(t, True)}
        self._w = model.combined()
        self._v = model.vocab_size

    def margins(self, doc: Doc, topics: Sequence[str]) -> dict[str, tuple[float, tuple]]:
        """topic -> (text margin, the two words that moved it most as (word, weight))."""
        rows = [(t, self.index[t]) for t in topics if t in self.index]
        if not rows:
            return {}
        feats, value = doc_features(doc)
        cols = self.model.columns(feats)
        vec = doc_vector(doc, self.model.dims)
        out = {}
        for topic, i in rows:
            contrib = self._w[i, cols] * value
            margin = float(self.model.bias[i] + contrib.sum())
            if vec is not None:
                margin += float(self._w[i, self._v :] @ vec)
            out[topic] = (margin, self._top(cols, contrib))
        return out

    def _top(self, cols: numpy.ndarray, contrib: numpy.ndarray, n: int = 2) -> tuple:
        if not len(cols):
            return ()
        order = numpy.argsort(-numpy.abs(contrib))[:n]
        names = self.model.names
        return tuple(
            (names[int(cols[j])], round(float(contrib[j]), 2))
            for j in order
            if abs(contrib[j]) >= 0.05
        )
