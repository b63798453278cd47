"""Bench: docs/s of the NLP stage (Curator.curate) with and without the trained model,
in one process and in two worker processes (each builds its Curator once, as a Beam worker does).

    python bench/bench_nlp.py [N_ITEMS] [BATCH]

The shared model over the topics of tests/fixtures/relevance/topics.yaml is trained first (on
the learning fixture texts; the labels only need to make a model, not a good one), into a
temporary folder. Not a test: numbers depend on the machine and on who else uses it.
"""

from __future__ import annotations

import os

# One BLAS thread per process: with the default (one per core) two worker processes on two
# cores oversubscribe the CPU and the classifiers run no faster than in one process.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import json  # noqa: E402  (after the thread settings, which numpy reads on import)
import multiprocessing as mp  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from pln.config import load_config  # noqa: E402
from pln.filters.classifier import save_model  # noqa: E402
from pln.filters.curator import Curator  # noqa: E402
from pln.filters.learning import Example, train_shared  # noqa: E402
from pln.record import Item  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 2_000
CONFIG = load_config(REPO / "tests/fixtures/relevance/topics.yaml")


def fixture_texts() -> list[str]:
    texts = []
    for name in ("relevance/labelled.jsonl", "learning/items.jsonl"):
        for line in (REPO / "tests/fixtures" / name).read_text().splitlines():
            row = json.loads(line)
            texts.append(f"{row.get('title', '')} {row['text']}".strip())
    return texts


def synthetic_items(n: int) -> list[Item]:
    """Posts of 10-65 words mixing fixture words and filler, some with tags and links."""
    words = " ".join(fixture_texts()).split()
    filler = [
        "the",
        "a",
        "of",
        "to",
        "and",
        "in",
        "for",
        "on",
        "with",
        "our",
        "we",
        "learners",
        "team",
        "course",
        "module",
        "design",
        "people",
        "work",
        "time",
        "new",
        "data",
        "training",
        "learning",
        "manager",
        "skills",
        "today",
        "week",
    ]
    rng = random.Random(42)
    items = []
    for i in range(n):
        body = rng.choices(words, k=rng.randint(5, 25)) + rng.choices(filler, k=rng.randint(5, 40))
        rng.shuffle(body)
        if rng.random() < 0.2:
            body.append(rng.choice(["#lrnchat", "#microlearning", "#onboarding", "#xapi"]))
        items.append(
            Item.create(
                source=rng.choice(["blogs", "lrnchat"]),
                platform="bench",
                kind="post",
                native_id=str(i),
                text=" ".join(body),
                lang="" if i % 2 else "en",
            )
        )
    return items


def train_models(root: Path):
    """The shared model over every topic (relevant: texts sharing a word with the topic's id)."""
    base = Curator(CONFIG.topics, CONFIG.nlp)
    texts = fixture_texts()
    items = [
        Item.create(source="blogs", platform="bench", kind="post", native_id=f"t{i}", text=t)
        for i, t in enumerate(texts)
    ]
    labels = {
        topic.id: [
            Example(item, any(k in text.lower() for k in topic.id.split("-")))
            for item, text in zip(items, texts, strict=True)
        ]
        for topic in CONFIG.topics
    }
    trained = train_shared(base, labels)
    trained.model.use = dict.fromkeys(trained.model.topics, True)  # score every topic
    return save_model(trained.model, root, {"bench": True})


_worker: Curator | None = None


def _init_worker(curator: Curator) -> None:
    global _worker
    _worker = curator  # unpickled in this process; setup() loads spaCy and the models once
    _worker.setup()


def _curate(batch: list[Item]) -> int:
    return len(_worker.curate(batch).decisions)


def one_process(curator: Curator, items: list[Item]) -> tuple[float, int]:
    curator.setup()
    curator.curate(items[:BATCH])  # warm caches
    best, decisions = float("inf"), 0
    for _ in range(3):  # best of 3: the machine is shared
        start = time.perf_counter()
        decisions = sum(
            len(curator.curate(items[i : i + BATCH]).decisions) for i in range(0, len(items), BATCH)
        )
        best = min(best, time.perf_counter() - start)
    return len(items) / best, decisions


def two_processes(curator: Curator, items: list[Item]) -> tuple[float, int]:
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    ctx = mp.get_context("spawn")  # what a fresh Beam worker sees: nothing from the driver
    with ctx.Pool(2, initializer=_init_worker, initargs=(curator,)) as pool:
        pool.map(_curate, batches[:2], chunksize=1)  # both workers set up and warm
        best, decisions = float("inf"), 0
        for _ in range(3):
            start = time.perf_counter()
            decisions = sum(pool.map(_curate, batches, chunksize=1))
            best = min(best, time.perf_counter() - start)
    return len(items) / best, decisions


def main() -> None:
    items = synthetic_items(N)
    words = sum(len(it.text.split()) for it in items) / N
    with tempfile.TemporaryDirectory() as tmp:
        ref = train_models(Path(tmp))
        rules = Curator(CONFIG.topics, CONFIG.nlp)
        models = Curator(CONFIG.topics, CONFIG.nlp, ref)
        n = len(ref.topics)
        print(f"{N} items, {words:.0f} words on average, batches of {BATCH}, a model of {n} topics")
        for name, curator in (("rules only", rules), (f"+ model ({n} topics)", models)):
            one, d1 = one_process(curator, items)
            two, d2 = two_processes(curator, items)
            print(
                f"{name:<16} 1 process {one:8.0f} docs/s   2 processes {two:8.0f} docs/s "
                f"({two / one:.2f}x)   {d1} decisions"
            )
            assert d1 == d2


if __name__ == "__main__":
    main()
