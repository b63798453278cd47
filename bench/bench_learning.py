"""Bench: rules alone against the learned model on held-out text, by number of labels.

    python bench/bench_learning.py [SEEDS] [--no-reuters] [--no-speed | --speed-only]
                                   [--pipeline DIR] [--only short|long|rich|thin]

Sets, all written for this project except Reuters:
- tests/fixtures/ld_eval/items.tsv ("short"): 8 L&D topics, 80 one-sentence texts on them, 55
  near-misses that use L&D words in other senses (model training, dog and sports training, UI
  and fashion design, networks, CPU performance, exam cramming, chat widgets, customer
  onboarding) and 20 off-topic texts;
- tests/fixtures/ld_eval/items_long.tsv ("long"): the same kinds as paragraphs of 2-4
  sentences, as blog and newsletter excerpts are: 48 on the topics, 38 near-misses, 12
  off-topic;
- each with a rich config (8-11 phrases a topic), a thin one (at most 5), and one catch-all
  topic of 5 phrases (`topics_catchall.yaml`: the issue's own experiment; a text is relevant
  to it when it is on any of the eight topics);
- Reuters-21578 acq (50) and crude (20) as shipped by Debian's r-cran-tm: fetched here with
  `apt-get download r-cran-tm` into a cache folder under the temp dir (never in tests, never in
  the repository); two thin topics.

Half of each set (by a hash of the id) is held out; labels are drawn from the other half
(one label per item, as a user labels what a feed shows: an L&D text + for its topic, a
near-miss - for the topic it imitates, an off-topic text - for a random topic), and the other
half's unlabelled items are the pool of weak labels. Scores are micro P/R/F1 over every
(held-out item, topic) pair: P/R/F1 pooled over SEEDS draws of the labels (default 5), then
the mean and the lowest F1 of a single draw. "rules (before)" is the matching without the
variants and asides this project added; "(model forced on)" is the same model deciding for
every topic, without the cross-validated check that keeps a topic's rules when the model
made no fewer mistakes on the labels.

Speed (`--no-speed` skips it): `pln topics test TOPIC --file` on 5,000 texts, rules alone,
with a model, and with that model lifting from 0.55 (every topic is then judged), beside
`grep -c -i -E` of the thin topic's phrases (what a user would try first).
`--pipeline DIR` runs every set with that spaCy pipeline (`nlp.pipeline`), e.g. the word
vectors bench_vectors.py builds (docs/vectors.md); the default is blank:en.
`--only` keeps the sets whose name has that word (short, long, rich, thin, catchall, Reuters).
Not a test: it prints numbers, and it downloads.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from pln.config import Config, load_config
from pln.filters import curator as curator_module
from pln.filters.classifier import models_dir, save_model
from pln.filters.curator import Curator
from pln.filters.learning import Example, stable_share, train_shared
from pln.filters.scores import Scores
from pln.filters.topics import TopicRule
from pln.record import Item

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests/fixtures/ld_eval"
CACHE = Path(tempfile.gettempdir()) / "pln-bench-cache"  # outside the repository
SIZES = (10, 20, 50)
PIPELINE = "blank:en"  # --pipeline


def config_for(topics_yaml: str, folder: Path, name: str) -> Config:
    path = folder / f"{name}.yaml"
    path.write_text(
        "sources:\n  - {name: bench, type: rss, url: https://example.org/feed.xml}\n"
        + topics_yaml
        + f"\noutputs:\n  duckdb: {name}/pln.duckdb\n  feeds_dir: {name}/feeds\n"
        + f"nlp:\n  pipeline: {PIPELINE}\n"
    )
    return load_config(path)


def ld_set(name: str = "items.tsv") -> tuple[list[Item], dict[str, set[str]], dict[str, str]]:
    """Items, the topics each is relevant to, and the topic a near-miss imitates."""
    items, truth, near = [], {}, {}
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        key, kind, topic, text = line.split("\t")
        item = Item.create(source="bench", platform="bench", kind="post", native_id=key, text=text)
        items.append(item)
        truth[item.id] = {topic} if kind == "pos" else set()
        if kind == "near":
            near[item.id] = topic
    return items, truth, near


def reuters_set() -> tuple[list[Item], dict[str, set[str]]] | None:
    """Reuters acq + crude from Debian's r-cran-tm, or None when apt cannot fetch it."""
    texts = CACHE / "tm/usr/lib/R/site-library/tm/texts"
    if not texts.is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["apt-get", "download", "r-cran-tm"], cwd=CACHE, check=True,
                           capture_output=True)  # fmt: skip
            deb = next(CACHE.glob("r-cran-tm_*.deb"))
            subprocess.run(["dpkg-deb", "-x", str(deb), str(CACHE / "tm")], check=True)
        except (OSError, subprocess.CalledProcessError, StopIteration) as exc:
            print(f"Reuters skipped: cannot fetch r-cran-tm ({exc})")
            return None
    items, truth = [], {}
    for folder in ("acq", "crude"):
        for path in sorted((texts / folder).glob("*.xml")):
            root = ET.parse(path).getroot()
            topics = {d.text for d in root.iter("D") if d.text} & {"acq", "crude"}
            title = (root.findtext(".//TITLE") or "").strip()
            body = " ".join((root.findtext(".//BODY") or "").split())
            item = Item.create(
                source="bench",
                platform="reuters",
                kind="article",
                native_id=root.get("NEWID", path.stem),
                title=title.title(),
                text=body,
            )
            items.append(item)
            truth[item.id] = {"acquisitions" if t == "acq" else "crude-oil" for t in topics}
    return items, truth


REUTERS_TOPICS = """topics:
  - id: acquisitions
    title: Mergers and acquisitions
    phrases: [acquisition, merger, takeover, acquire]
  - id: crude-oil
    title: Crude oil
    phrases: [crude oil, opec, oil price]
"""


@contextmanager
def matching_before():
    """Phrase matching as it was before variants and asides (for the "before" row)."""
    with (
        mock.patch.object(TopicRule, "matcher_variants", property(lambda self: {})),
        mock.patch.object(curator_module, "_aside_patterns", lambda docs: []),
    ):
        yield


def kept_pairs(curator: Curator, items: list[Item]) -> set[tuple[str, str]]:
    return {(d.item_id, d.topic) for d in curator.curate(items).decisions if d.kept}


def scores(kept: set, items: list[Item], truth: dict, topics: list[str]) -> Scores:
    pairs = [(it.id, t) for it in items for t in topics]
    return Scores.of([p in kept for p in pairs], [p[1] in truth[p[0]] for p in pairs])


def any_scores(kept: set, items: list[Item], truth: dict) -> Scores:
    """Kept by any topic against relevant to any topic: the question a feed reader's filter
    answers (and the one the issue's table measures), beside the per-topic pairs."""
    kept_ids = {item_id for item_id, _ in kept}
    return Scores.of([it.id in kept_ids for it in items], [bool(truth[it.id]) for it in items])


def candidates(items, truth, near, topics, rng) -> list[tuple[Item, str, bool]]:
    """The labels a user could give on the training half, one per item."""
    out = []
    for item in items:
        if truth[item.id]:
            topic = sorted(truth[item.id])[0] if near is not None else rng.choice(topics)
        elif near is not None and item.id in near:
            topic = near[item.id]
        else:
            topic = rng.choice(topics)
        out.append((item, topic, topic in truth[item.id]))
    return out


def draw(cands, k: int, rng: random.Random) -> dict[str, list[Example]]:
    for _ in range(1000):
        chosen = rng.sample(cands, min(k, len(cands)))
        pos = sum(c[2] for c in chosen)
        if pos >= 2 and len(chosen) - pos >= 2:
            break
    labels: dict[str, list[Example]] = {}
    for item, topic, relevant in chosen:
        labels.setdefault(topic, []).append(Example(item, relevant))
    return labels


def row(name: str, s: Scores, extra: str = "") -> str:
    def f(x):
        return "  -  " if x is None else f"{x:.3f}"

    return f"  {name:<34} P {f(s.precision)}  R {f(s.recall)}  F1 {f(s.f1)}{extra}"


def bench_set(name, config, items, truth, near, seeds, tmp: Path) -> None:
    topics = [t.id for t in config.topics]
    held = [it for it in items if stable_share(it.id, "bench") < 0.5]
    train_half = [it for it in items if stable_share(it.id, "bench") >= 0.5]
    npos = sum(bool(truth[it.id]) for it in held)
    print(
        f"\n{name}: {len(held)} held-out items ({npos} relevant to a topic), {len(topics)} topics"
    )
    with matching_before():
        before = scores(kept_pairs(Curator(config.topics, config.nlp), held), held, truth, topics)
    print(row("rules (before)", before))
    base = Curator(config.topics, config.nlp)
    base_kept = kept_pairs(base, held)
    rules = scores(base_kept, held, truth, topics)
    print(row("rules", rules))
    rules_any = any_scores(base_kept, held, truth)
    print(row("rules, any topic", rules_any))
    for k in SIZES:
        totals, forced, below, taken, seconds = [], [], 0, 0, 0.0
        totals_any, forced_any = [], []
        for seed in range(seeds):
            rng = random.Random(seed)
            cands = candidates(train_half, truth, near, topics, rng)
            labels = draw(cands, k, rng)
            started = time.perf_counter()
            trained = train_shared(base, labels, train_half)
            seconds += time.perf_counter() - started
            if trained.model is None:
                totals.append(rules)
                forced.append(rules)
                totals_any.append(rules_any)
                forced_any.append(rules_any)
                continue
            model = trained.model
            taken += sum(model.use.values())
            ref = save_model(model, tmp / f"{name}-{k}-{seed}", {"pipeline": PIPELINE})
            kept = kept_pairs(Curator(config.topics, config.nlp, ref), held)
            s = scores(kept, held, truth, topics)
            totals.append(s)
            totals_any.append(any_scores(kept, held, truth))
            below += (s.f1 or 0) < (rules.f1 or 0) - 1e-9
            # The same model deciding for every topic, without the cross-validated check.
            model.use = {t: True for t in model.topics}
            ref = save_model(model, tmp / f"{name}-{k}-{seed}-forced", {"pipeline": PIPELINE})
            kept = kept_pairs(Curator(config.topics, config.nlp, ref), held)
            forced.append(scores(kept, held, truth, topics))
            forced_any.append(any_scores(kept, held, truth))
        for label, runs in (
            ("rules + model", totals),
            ("  (model forced on)", forced),
            ("  any topic", totals_any),
            ("  any topic, forced on", forced_any),
        ):
            f1s = [s.f1 or 0.0 for s in runs]
            extra = f"   mean {sum(f1s) / len(f1s):.3f} min {min(f1s):.3f}"
            if runs is totals:
                extra += (
                    f"; below rules in {below} of {len(runs)}; model decides {taken} of "
                    f"{len(topics) * seeds} topic-draws; train {seconds / seeds:.1f} s"
                )
            print(row(f"{label}, {k} labels", sum(runs, Scores()), extra))


def speed(tmp: Path) -> None:
    """texts/s of `pln topics test --file`, rules alone and with a model, beside grep."""
    items, truth, near = ld_set()
    texts = [it.text for it in items]
    lines = [f"{texts[n % len(texts)]} {n}" for n in range(5000)]  # 5,000 distinct texts
    path = tmp / "texts.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    yaml = (DATA / "topics_thin.yaml").read_text(encoding="utf-8")
    config = config_for(yaml, tmp, "speed")
    pln = Path(sys.executable).with_name("pln")
    topic = "retrieval-practice"
    phrases = next(t.phrases for t in config.topics if t.id == topic)
    print(f"\nSpeed: {len(lines)} texts, topic {topic} (a loaded machine: compare rows, not runs)")
    started = time.perf_counter()
    pattern = "|".join(p.replace("-", "[- ]?") for p in phrases)
    subprocess.run(["grep", "-c", "-i", "-E", pattern, str(path)], capture_output=True)
    took = time.perf_counter() - started
    print(f"  {'grep -c -i -E (thin phrases)':<34} {len(lines) / took:>9,.0f} texts/s")
    model = None  # trained in the second round, lifting in the third
    for with_model in (False, True, "lift"):
        if with_model == "lift":  # a lifting model judges every topic (a lift depends on all)
            model.lift = 0.55
            save_model(model, models_dir(config.outputs.duckdb), {"pipeline": PIPELINE})
        elif with_model:
            train = [it for it in items if stable_share(it.id, "bench") >= 0.5]
            rng = random.Random(0)
            labels = draw(
                candidates(train, truth, near, [t.id for t in config.topics], rng), 50, rng
            )
            model = train_shared(Curator(config.topics, config.nlp), labels, train).model
            model.use = {t: True for t in model.topics}
            save_model(model, models_dir(config.outputs.duckdb), {"pipeline": PIPELINE})
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [str(pln), "topics", "test", topic, "--file", str(path), "-c", str(config.path)],
            capture_output=True,
            text=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.stdout
        name = (
            "pln topics test --file" + {False: "", True: " (model)", "lift": " (lift)"}[with_model]
        )
        print(f"  {name:<34} {summary}; {cpu:.1f} s CPU in all, loading included")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    summary, _, details = (__doc__ or "").partition("\n\n")
    parser = argparse.ArgumentParser(
        prog="bench/bench_learning.py",
        description=summary,
        epilog=details.split("\n\n", 1)[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "seeds", nargs="?", type=int, default=5, help="draws of the labels per size (default 5)"
    )
    parser.add_argument("--no-reuters", action="store_true", help="skip the Reuters set")
    speed_group = parser.add_mutually_exclusive_group()
    speed_group.add_argument("--no-speed", action="store_true", help="skip the speed bench")
    speed_group.add_argument("--speed-only", action="store_true", help="only the speed bench")
    parser.add_argument(
        "--pipeline", metavar="DIR", help=f"nlp.pipeline for every set (default {PIPELINE})"
    )
    parser.add_argument(
        "--only", metavar="WORD", help="the sets whose name has WORD (short, long, rich, ...)"
    )
    return parser.parse_args(argv)


def main() -> None:
    global PIPELINE
    args = parse_args()
    PIPELINE = args.pipeline or PIPELINE
    only = args.only
    seeds = args.seeds
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"nlp.pipeline: {PIPELINE}")
        if args.speed_only:
            return speed(tmp)
        for set_name, label in (("items.tsv", "short"), ("items_long.tsv", "long")):
            items, truth, near = ld_set(set_name)
            for variant in ("rich", "thin", "catchall"):
                yaml = (DATA / f"topics_{variant}.yaml").read_text(encoding="utf-8")
                config = config_for(yaml, tmp, f"{label}-{variant}")
                title = f"L&D {label}, {variant} config"
                if only and only not in title:
                    continue
                relevant, imitated = truth, near
                if variant == "catchall":  # relevant to the one topic when on any of the 8
                    one = config.topics[0].id
                    relevant = {k: {one} if v else set() for k, v in truth.items()}
                    imitated = dict.fromkeys(near, one)
                bench_set(title, config, items, relevant, imitated, seeds, tmp)
        if not args.no_reuters and (not only or only in "Reuters"):
            found = reuters_set()
            if found:
                config = config_for(REUTERS_TOPICS, tmp, "reuters")
                bench_set("Reuters acq/crude", config, *found, None, seeds, tmp)
        if not args.no_speed:
            speed(tmp)


if __name__ == "__main__":
    main()
