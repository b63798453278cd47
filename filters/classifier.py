"""Per-topic text classifiers trained on the user's labels, kept as versioned models on disk.

A model is a spaCy `textcat_multilabel` with one label (the topic id) and the `pln.NormBOW.v1`
architecture: logistic regression over hashed unigrams and bigrams of `token.norm` (the
lower-cased lemma set by `pln_lemma_norm_v1`), so "Flashcards" and "flashcard" are one feature.
No vectors, no downloads; it trains in well under a second on a few hundred labels.

The classifier reads docs made by the Curator's own pipeline: training takes those docs, and at
curation time the trained component is copied into the Curator's pipeline (`add_classifiers`),
so each text is tokenized once and every model runs batched inside `nlp.pipe`.

Layout beside the database (`models_dir(db_path)`):

    models/<topic>/v<N>/meta.json       version, trained_at, n_pos, n_neg, metrics, ...
    models/<topic>/v<N>/pipeline/       the spaCy pipeline (tokenizer + the classifier)

The highest complete version (one with a meta.json) is the current model of a topic.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy
import spacy
from spacy.attrs import NORM
from spacy.language import Language
from spacy.ml import extract_ngrams
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import fix_random_seed, minibatch
from thinc.api import Logistic, Model, SparseLinear_v2, chain

from pln.errors import PlnError

ARCHITECTURE = "pln.NormBOW.v1"
FACTORY = "textcat_multilabel"
COMPONENT_PREFIX = "classifier:"  # component name in the Curator's pipeline: classifier:<topic>
MODELS_DIR = "models"
META = "meta.json"
PIPELINE = "pipeline"
NGRAM_SIZE = 2
MAX_FEATURE_NORM = 8.0  # about the n-grams of a 30-word post; longer texts are scaled down
HASH_LENGTH = 2**17  # feature buckets; a personal label set has a few thousand n-grams
_VERSION_RE = re.compile(r"^v(\d+)$")


@spacy.registry.architectures(ARCHITECTURE)
def build_norm_bow(
    ngram_size: int = NGRAM_SIZE, length: int = HASH_LENGTH, nO: int | None = None
) -> Model:
    """Logistic regression over hashed n-grams of token.norm (spaCy's BOW reads ORTH), with
    the n-gram counts of long docs scaled down to the length of a post (see _capped_length)."""
    model = chain(
        extract_ngrams(ngram_size, attr=NORM),
        _capped_length(),
        SparseLinear_v2(nO=nO, length=length),
        Logistic(),
    )
    model.attrs["multi_label"] = True
    return model


def _capped_length(cap: float = MAX_FEATURE_NORM) -> Model:
    """Scale the n-gram counts of each doc whose (L2) length exceeds cap down to cap.

    With raw counts (spaCy's BOW) a long article outweighs a short post by its size alone: a
    model trained on labelled articles would call every long text relevant. Posts stay as
    they are, so a few labels still move the probabilities enough to matter.
    """

    def forward(model: Model, inputs, is_train: bool):
        keys, values, lengths = inputs
        if not len(values):
            return inputs, lambda d_out: d_out
        doc_of = numpy.repeat(numpy.arange(len(lengths)), lengths)
        norms = numpy.sqrt(numpy.bincount(doc_of, weights=values**2, minlength=len(lengths)))
        scale = numpy.minimum(1.0, cap / numpy.maximum(norms, 1e-6))
        return (keys, (values * scale[doc_of]).astype("float32"), lengths), lambda d_out: d_out

    return Model("pln_capped_length", forward)


@dataclass(frozen=True)
class TrainingSettings:
    iterations: int = 20
    dropout: float = 0.2
    batch_size: int = 8
    seed: int = 0


@dataclass(frozen=True)
class ModelRef:
    """One saved model version of a topic: cheap to pickle, loaded by `add_classifiers`."""

    topic: str
    version: int
    path: Path  # models/<topic>/v<N>
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"v{self.version}"

    @property
    def component(self) -> str:
        return COMPONENT_PREFIX + self.topic


def models_dir(db_path: str | Path) -> Path:
    """Where the models of the database at db_path live: a `models` folder beside it."""
    return Path(db_path).parent / MODELS_DIR


def current_models(root: Path, topics: Iterable[str]) -> tuple[ModelRef, ...]:
    """The newest complete model of each topic that has one, in topic order."""
    refs = []
    for topic in topics:
        versions = model_versions(root, topic)
        if versions:
            refs.append(versions[-1])
    return tuple(refs)


def model_versions(root: Path, topic: str) -> list[ModelRef]:
    """Every complete saved version of topic's model, oldest first."""
    folder = root / topic
    if not folder.is_dir():
        return []
    refs = []
    for child in folder.iterdir():
        match = _VERSION_RE.match(child.name)
        meta_path = child / META
        if match and meta_path.is_file():
            refs.append(ModelRef(topic, int(match.group(1)), child, _read_meta(meta_path)))
    return sorted(refs, key=lambda r: r.version)


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlnError(f"model {path.parent}: unreadable {META}: {exc}") from None


def train_classifier(
    docs: Sequence[Doc], relevant: Sequence[bool], topic: str, settings: TrainingSettings
) -> Language:
    """A pipeline whose one component scores docs for topic, trained on (doc, relevant) pairs.

    The docs come from the Curator's pipeline (so token.norm is the lower-cased lemma); the new
    pipeline shares their vocab.
    """
    if not docs:
        raise ValueError("no training docs")
    vocab = docs[0].vocab
    nlp = spacy.blank(vocab.lang or "xx", vocab=vocab)
    textcat = nlp.add_pipe(
        FACTORY,
        config={"model": {"@architectures": ARCHITECTURE}, "threshold": 0.5},
    )
    textcat.add_label(topic)
    examples = [
        Example.from_dict(doc, {"cats": {topic: 1.0 if wanted else 0.0}})
        for doc, wanted in zip(docs, relevant, strict=True)
    ]
    fix_random_seed(settings.seed)
    optimizer = nlp.initialize(lambda: examples)
    examples = _balanced(examples, topic)
    rng = random.Random(settings.seed)
    for _ in range(settings.iterations):
        rng.shuffle(examples)
        for batch in minibatch(examples, size=settings.batch_size):
            nlp.update(batch, sgd=optimizer, drop=settings.dropout)
    return nlp


def _balanced(examples: list[Example], topic: str) -> list[Example]:
    """The examples with the smaller class repeated until both classes weigh the same.

    People label mostly what they see in their feeds, so labels are rarely balanced; a model
    trained on 20 "+" and 2 "-" learns "everything is relevant" and would lift unrelated items.
    """
    pos = [ex for ex in examples if ex.reference.cats[topic] > 0.5]
    neg = [ex for ex in examples if ex.reference.cats[topic] <= 0.5]
    small, large = sorted((pos, neg), key=len)
    if not small or len(small) == len(large):
        return examples
    repeats = -(-len(large) // len(small))  # ceiling division
    return large + (small * repeats)[: len(large)]


def stage_model(nlp: Language, root: Path, topic: str) -> ModelRef:
    """Write nlp as the next version of topic's model into a staging folder (not yet current:
    it has no meta.json and its folder name is not v<N>); see publish_model."""
    folder = root / topic
    folder.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for c in folder.iterdir() if (m := _VERSION_RE.match(c.name))]
    version = max(taken, default=0) + 1
    staging = Path(tempfile.mkdtemp(prefix=f".staging-v{version}-", dir=folder))
    try:
        nlp.to_disk(staging / PIPELINE)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ModelRef(topic, version, staging)


def publish_model(staged: ModelRef, meta: dict[str, Any]) -> ModelRef:
    """Make a staged model the topic's current one: write meta.json, rename to v<N>."""
    meta = {
        "topic": staged.topic,
        "version": staged.version,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "architecture": ARCHITECTURE,
        "spacy": spacy.__version__,
        **meta,
    }
    (staged.path / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    target = staged.path.parent / staged.label
    try:
        staged.path.rename(target)
    except OSError as exc:
        raise PlnError(
            f"model {target}: cannot be saved ({exc.strerror}); was another `pln train` "
            "running? Run it again"
        ) from None
    return ModelRef(staged.topic, staged.version, target, meta)


def discard_staged(staged: ModelRef) -> None:
    """Remove a staged model that was not published (nothing to do once it was)."""
    if staged.path.name.startswith(".staging-"):
        shutil.rmtree(staged.path, ignore_errors=True)


def load_model(ref: ModelRef) -> Language:
    try:
        return spacy.load(ref.path / PIPELINE)
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlnError(f"model {ref.path}: cannot be loaded: {first}") from None


def add_classifiers(nlp: Language, refs: Iterable[ModelRef]) -> dict[str, ModelRef]:
    """Copy each model's classifier into nlp (named classifier:<topic>); topic -> ref."""
    added = {}
    for ref in refs:
        model = load_model(ref)
        if FACTORY not in model.pipe_names or ref.topic not in model.get_pipe(FACTORY).labels:
            raise PlnError(f"model {ref.path}: has no classifier for topic {ref.topic!r}")
        nlp.add_pipe(FACTORY, name=ref.component, source=model)
        added[ref.topic] = ref
    return added
