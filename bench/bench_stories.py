"""Benchmark story linking (not a test): story keys on the workers, linking in the writer.

Generates N items over 45 days like a busy PLN: blog posts, posts sharing them (link variants),
reposts, copy-paste spam, cross-posts with a word changed, and the rest unrelated; then prints
  - story_keys: items/s (worker side, one process);
  - writing N new items in FLUSH_ROWS batches, without and with stories (fresh files);
  - rewriting the same N items (a rerun), and a stream-sized poll of new items on top.

    python bench/bench_stories.py [N_ITEMS]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pln.filters.stories import story_keys
from pln.record import Decision, Item
from pln.sinks.store import Store, decisions_table, items_table

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
FLUSH_ROWS = 50_000  # as pipelines/write.py
T0 = datetime(2026, 9, 1, tzinfo=UTC)
WORDS = [
    "retrieval",
    "practice",
    "spaced",
    "learning",
    "onboarding",
    "microlearning",
    "cohort",
    "managers",
    "quiz",
    "review",
    "feedback",
    "workshop",
    "slides",
    "coffee",
    "team",
    "budget",
    "design",
    "course",
    "video",
    "community",
    "analytics",
    "xAPI",
    "week",
    "month",
    "learners",
    "habit",
    "nudge",
    "reminder",
    "calendar",
    "checklist",
    "buddy",
    "first",
    "day",
    "program",
]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def generate(n: int, seed: int = 7) -> list[Item]:
    rng = random.Random(seed)
    items: list[Item] = []
    posts: list[Item] = []
    texts: list[str] = []
    for i in range(n):
        at = T0 + timedelta(seconds=rng.randrange(45 * 86_400))
        roll = rng.random()
        if roll < 0.15 or not posts:
            url = f"https://blog{i % 300}.example/{i}/post-{i}/"
            item = Item.create(
                source=f"blog{i % 300}", platform="rss", native_id=url, kind="article",
                author=f"Blogger {i % 300}", title=sentence(rng, 6),
                text=" ".join(sentence(rng, 12) for _ in range(8)), url=url,
                canonical_url=url.rstrip("/"), links=(f"https://blog{i % 300}.example/about/",),
                published_at=at,
            )  # fmt: skip
            posts.append(item)
        else:
            platform = rng.choice(("twitter", "mastodon", "bluesky"))
            author, links, kind, reply_to = f"user{rng.randrange(5_000)}", (), "post", ""
            text = sentence(rng, rng.randrange(8, 30))
            if roll < 0.45:  # shares a blog post, its link written one way or another
                post = rng.choice(posts)
                variant = rng.choice(("", "?utm_source=x", "#top", "?ref=feed"))
                links = (
                    post.url.replace("https://", rng.choice(("https://", "http://www."))) + variant,
                )
            elif roll < 0.50 and texts:  # repost of an earlier post
                kind, text = "repost", rng.choice(texts)
                reply_to = str(rng.randrange(i))
            elif roll < 0.52 and texts:  # copy-paste spam
                text = rng.choice(texts[-50:])
            elif roll < 0.54 and texts:  # cross-post with a word changed
                words = rng.choice(texts).split()
                words[rng.randrange(len(words))] = rng.choice(WORDS)
                text = " ".join(words)
            texts.append(text)
            item = Item.create(
                source=platform, platform=platform, native_id=str(i), kind=kind, author=author,
                text=text, url=f"https://{platform}.example/{author}/{i}", links=links,
                reply_to=reply_to, published_at=at,
            )  # fmt: skip
        items.append(item)
    return items


def write_all(path: Path, items: list[Item], keys, tag: str) -> float:
    decisions = [Decision(it.id, "rp", 0.6, True, "matched") for it in items[::3]]
    batches = [items[i : i + FLUSH_ROWS] for i in range(0, len(items), FLUSH_ROWS)]
    tables = [
        (items_table(b), decisions_table([d for d in decisions if d.item_id in {x.id for x in b}]))
        for b in batches
    ]
    key_tables = [story_keys(b) for b in batches] if keys else [None] * len(batches)
    started = time.perf_counter()
    with Store(path) as store:
        for (it, dec), k in zip(tables, key_tables, strict=True):
            store.write_tables(it, dec, (), run_id=tag, story_keys=k)
    return time.perf_counter() - started


def main() -> None:
    items = generate(N)
    started = time.perf_counter()
    keys = story_keys(items)
    took = time.perf_counter() - started
    print(
        f"story_keys: {N:,} items in {took:.2f} s ({N / took:,.0f} items/s), {keys.num_rows:,} keys"
    )
    with tempfile.TemporaryDirectory() as tmp:
        plain = write_all(Path(tmp) / "plain.duckdb", items, False, "r1")
        print(f"write {N:,} new items without stories: {plain:.2f} s")
        path = Path(tmp) / "stories.duckdb"
        linked = write_all(path, items, True, "r1")
        print(f"write {N:,} new items with stories:    {linked:.2f} s (+{linked - plain:.2f} s)")
        again = write_all(path, items, True, "r2")
        print(f"rewrite the same {N:,} items (a rerun): {again:.2f} s")
        with Store(path, read_only=True) as store:
            _, [(stories, multi, biggest, near, same)] = store.sql(
                """SELECT count(*), count(*) FILTER (WHERE n_items > 1), max(n_items),
                          (SELECT count(*) FROM item_story WHERE how = 'near-dup'),
                          (SELECT count(*) FROM item_story WHERE how = 'same-text')
                   FROM stories"""
            )
            _, [(bands,)] = store.sql("SELECT count(*) FROM item_keys WHERE kind = 'band'")
        print(
            f"  {stories:,} stories, {multi:,} of several items (largest {biggest}), "
            f"{near:,} near-dup and {same:,} same-text members; {bands:,} band keys kept"
        )
        for poll in (100, 1_000):
            fresh = generate(N + poll, seed=7)[N:]
            took = write_all(path, fresh, True, f"poll{poll}")
            print(f"a poll of {poll:,} new items on top: {took * 1000:.0f} ms")
        started = time.perf_counter()
        with Store(path, read_only=True) as store:
            store.feed_entries("rp", 50)
            store.digest_entries(
                "rp", "week", "UTC", T0 + timedelta(days=60), periods=4, per_period=10
            )
        print(
            f"feed + weekly digest entries of one topic: {(time.perf_counter() - started) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
