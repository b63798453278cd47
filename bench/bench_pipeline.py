"""Benchmark the batch pipeline on generated data (not a test).

Generates N mixed items (X/Twitter v2 JSONL pages, RSS/Atom feeds, hashtag-chat transcripts)
into a temporary folder, runs the whole job through the CLI's code path, and prints:
  - pipeline items/s and peak memory (this process plus Beam worker processes),
  - raw spaCy `nlp.pipe` docs/s on the same texts with the same components,
  - DuckDB write rows/s.

    python bench/bench_pipeline.py [--items 100000] [--workers CORES] [--mix 70/22/8]

`--mix` is the share (percent) of microblog posts / blog entries / chat questions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

TOPICS = {
    "spaced-repetition": ["spaced repetition", "retrieval practice", "forgetting curve"],
    "microlearning": ["microlearning", "bite-sized learning", "learning in the flow of work"],
    "onboarding": ["employee onboarding", "new hire", "first 90 days"],
    "learning-analytics": ["learning analytics", "xAPI statement", "learning record store"],
}
FILLER = [
    "team",
    "meeting",
    "coffee",
    "design",
    "course",
    "feedback",
    "project",
    "learners",
    "slides",
    "workshop",
    "video",
    "manager",
    "quarter",
    "budget",
    "conference",
    "keynote",
    "community",
    "podcast",
    "webinar",
    "story",
    "practice",
    "question",
    "answer",
    "goal",
    "skill",
    "coach",
    "mentor",
    "review",
    "plan",
    "draft",
    "launch",
    "survey",
    "data",
]
START = datetime(2026, 9, 1, tzinfo=UTC)


def sentence(rng: random.Random, words: int, topical: float) -> str:
    parts = [rng.choice(FILLER) for _ in range(words)]
    if rng.random() < topical:
        phrase = rng.choice(rng.choice(list(TOPICS.values())))
        parts.insert(rng.randrange(len(parts)), phrase.title() if rng.random() < 0.3 else phrase)
    return " ".join(parts).capitalize() + "."


def tweet_page(rng: random.Random, first: int, count: int) -> dict:
    data, users = [], {}
    for i in range(first, first + count):
        uid = str(1000 + rng.randrange(500))
        users[uid] = {"id": uid, "username": f"user{uid}", "name": f"User {uid}"}
        tags = [{"tag": "lrnchat"}] if rng.random() < 0.2 else []
        data.append(
            {
                "id": str(1800000000000000000 + i),
                "text": sentence(rng, rng.randint(12, 30), 0.3),
                "author_id": uid,
                "created_at": (START + timedelta(seconds=i * 7)).isoformat(),
                "lang": "en",
                "entities": {"hashtags": tags},
            }
        )
    return {"data": data, "includes": {"users": list(users.values())}}


def write_tweets(folder: Path, rng: random.Random, count: int, per_page: int = 100) -> int:
    """Pages spread over ten files, as from several timelines, lists and searches."""
    files = [(folder / f"x{n}.jsonl").open("w") for n in range(10)]
    for page_no, first in enumerate(range(0, count, per_page)):
        page = tweet_page(rng, first, min(per_page, count - first))
        files[page_no % len(files)].write(json.dumps(page) + "\n")
    for out in files:
        out.close()
    return count


def write_feeds(folder: Path, rng: random.Random, count: int, per_feed: int = 50) -> int:
    n = 0
    for f in range(0, count, per_feed):
        entries = []
        for i in range(f, min(count, f + per_feed)):
            body = " ".join(sentence(rng, rng.randint(15, 25), 0.25) for _ in range(4))
            date = (START + timedelta(minutes=i)).strftime("%a, %d %b %Y %H:%M:%S +0000")
            entries.append(
                f"<item><title>{escape(sentence(rng, 6, 0.3))}</title>"
                f"<link>https://blog{f}.example.org/posts/{i}</link>"
                f"<guid>https://blog{f}.example.org/posts/{i}</guid><pubDate>{date}</pubDate>"
                f"<description>{escape('<p>' + body + '</p>')}</description></item>"
            )
            n += 1
        (folder / f"feed{f}.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Blog {f}</title><link>https://blog{f}.example.org/</link>"
            f"<description>L&amp;D blog</description>{''.join(entries)}</channel></rss>"
        )
    return n


def write_chats(folder: Path, rng: random.Random, questions: int) -> int:
    per_chat = 6
    for c in range(0, questions, per_chat):
        t = START + timedelta(days=c)
        lines = [f"{t.isoformat()} @mod: Welcome to #lrnchat number {c}!"]
        for q in range(1, per_chat + 1):
            t += timedelta(minutes=5)
            lines.append(f"{t.isoformat()} @mod: Q{q}. {sentence(rng, 12, 0.5)} #lrnchat")
            for _a in range(rng.randint(3, 8)):
                t += timedelta(seconds=40)
                who = f"@p{rng.randrange(40)}"
                lines.append(f"{t.isoformat()} {who}: A{q}. {sentence(rng, 15, 0.3)} #lrnchat")
        (folder / f"chat{c}.txt").write_text("\n".join(lines) + "\n")
    return questions


def write_config(folder: Path, workers: int, engine: str = "local") -> Path:
    lines = ["sources:"]
    lines += [
        f"  - {{name: feed{p.stem[4:]}, type: rss, path: {p.name}}}"
        for p in sorted(folder.glob("feed*.xml"))
    ]
    lines += [
        f"  - {{name: {p.stem}, type: twitter_v2, path: {p.name}}}"
        for p in sorted(folder.glob("x*.jsonl"))
    ]
    lines += [
        f"  - {{name: {p.stem}, type: hashtag_chat, path: {p.name}, hashtag: lrnchat}}"
        for p in sorted(folder.glob("chat*.txt"))
    ]
    lines += ["topics:"]
    for topic, phrases in TOPICS.items():
        lines.append(f"  - {{id: {topic}, phrases: {json.dumps(phrases)}, threshold: 0.4}}")
    lines += [
        "outputs: {duckdb: out/bench.duckdb, feeds_dir: out/feeds}",
        f"runner: {{workers: {workers}, engine: {engine}}}",
    ]
    path = folder / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def peak_rss_mb() -> float:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(self_kb, child_kb) / 1024


def raw_spacy_rate(texts: list[str], config) -> float:
    """docs/s of nlp.pipe with the same components and a PhraseMatcher of every topic phrase."""
    from spacy.matcher import PhraseMatcher

    from pln.filters.nlp import load_nlp

    nlp = load_nlp(config.nlp)
    matcher = PhraseMatcher(nlp.vocab, attr="NORM")
    for topic in config.topics:
        matcher.add(topic.id, list(nlp.pipe(topic.phrases)))
    start = time.perf_counter()
    for doc in nlp.pipe(texts, batch_size=config.nlp.batch_size):
        matcher(doc)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="default: cores")
    parser.add_argument("--engine", choices=("local", "beam"), default="local")
    parser.add_argument("--mix", default="70/22/8", help="posts/blog entries/chat questions, %%")
    args = parser.parse_args()
    posts_pct, feeds_pct, _ = (int(x) for x in args.mix.split("/"))

    from pln.config import load_config
    from pln.pipelines.batch import run_batch
    from pln.sinks.store import Store

    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="pln-bench-") as tmp:
        folder = Path(tmp)
        n_tweets = args.items * posts_pct // 100
        n_feeds = args.items * feeds_pct // 100
        n_chat = args.items - n_tweets - n_feeds
        t0 = time.perf_counter()
        write_tweets(folder, rng, n_tweets)
        write_feeds(folder, rng, n_feeds)
        write_chats(folder, rng, n_chat)
        config = load_config(write_config(folder, args.workers, args.engine))
        print(
            f"generated {args.items:,} items ({n_tweets:,} posts, {n_feeds:,} blog entries, "
            f"{n_chat:,} chat questions) in {time.perf_counter() - t0:.1f} s"
        )

        start = time.perf_counter()
        run_batch(config)  # reading, curating, writing and rendering the feeds
        seconds = time.perf_counter() - start
        rate = args.items / seconds
        print(
            f"pipeline: {seconds:.1f} s, {rate:,.0f} items/s "
            f"({args.engine} engine, workers={args.workers}), peak memory {peak_rss_mb():,.0f} MB"
        )

        with Store(config.outputs.duckdb, read_only=True) as store:
            _, rows = store.sql(
                "SELECT nlp_text FROM (SELECT coalesce(title,'') || chr(10) || "
                "coalesce(text,'') AS nlp_text FROM items)"
            )
        texts = [r[0] for r in rows]
        raw = raw_spacy_rate(texts, config)
        print(
            f"raw spaCy nlp.pipe + PhraseMatcher: {raw:,.0f} docs/s on {len(texts):,} texts; "
            f"pipeline = {rate / raw:.0%} of raw"
        )
        bench_store_writes(folder / "write.duckdb")


def bench_store_writes(path: Path, n: int = 100_000) -> None:
    from pln.record import Decision, Item
    from pln.sinks.store import Store

    items = [
        Item.create(
            source="bench",
            platform="twitter",
            kind="post",
            native_id=str(i),
            author=f"user{i % 500}",
            text=f"post number {i} about microlearning",
            published_at=START + timedelta(seconds=i),
            hashtags=("lrnchat",),
        )
        for i in range(n)
    ]
    decisions = [
        Decision(it.id, t, 0.8, True, "matched 'microlearning'")
        for it in items
        for t in ("microlearning", "onboarding")
    ]
    with Store(path) as store:
        start = time.perf_counter()
        store.write(items, decisions, [])
        first = time.perf_counter() - start
        start = time.perf_counter()
        store.write(items, decisions, [])
        second = time.perf_counter() - start
    rows = len(items) + len(decisions)
    print(
        f"duckdb write: {rows / first:,.0f} rows/s insert, {rows / second:,.0f} rows/s upsert "
        f"({rows:,} rows)"
    )


if __name__ == "__main__":
    sys.exit(main())
