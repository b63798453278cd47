"""A small curated site for server, browser and feed-reader tests: a config whose base_url is
a free port on 127.0.0.1, a store with a few kept items, and the feeds rendered from it.

    port = free_port()
    config = build_site(tmp_path, port)
    with FeedServer(config, "127.0.0.1", port) as server:
        urllib.request.urlopen(server.url + "spaced.rss.xml")
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import yaml
from helpers import chat_thread

from pln.config import Config, parse_config
from pln.record import Decision, Item
from pln.sinks.feeds import render_feeds
from pln.sinks.store import Store

NOW = datetime(2026, 1, 21, 12, 0, tzinfo=UTC)  # a Wednesday
SITE = "Jane's PLN"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(n: int, published: datetime, **kw) -> Item:
    fields = {
        "kind": "article",
        "author": "Jane Doe",
        "title": f"Spaced practice, part {n}",
        "html": f"<p>Part {n}: quizzes at 2, 7 and 21 days.</p>",
        "url": f"https://blog.example/{n}",
        "hashtags": ("lrnchat",),
        "published_at": published,
    }
    fields.update(kw)
    return Item.create(source="blog", platform="rss", native_id=f"p{n}", **fields)


# Two finished weeks (Mon 5 Jan, Mon 12 Jan 2026) and the current one (NOW is Wed 21 Jan).
POSTS = [
    (post(1, datetime(2026, 1, 5, 9, tzinfo=UTC)), 0.9),
    (post(2, datetime(2026, 1, 7, 9, tzinfo=UTC)), 0.7),
    (post(3, datetime(2026, 1, 9, 9, tzinfo=UTC)), 0.6),
    (post(4, datetime(2026, 1, 12, 9, tzinfo=UTC)), 0.8),
    (post(5, datetime(2026, 1, 16, 9, tzinfo=UTC)), 0.95),
    (post(6, datetime(2026, 1, 20, 9, tzinfo=UTC), title="Spaced practice & friends <3"), 0.85),
]
THREAD = chat_thread(
    "2026-01-15#Q1",
    "Q1. How do you give feedback on drafts?",
    ("lrnchat", "jane_ld"),
    text="Q1. How do you give feedback on drafts?\nA1. Comments first, grades later",
    published_at=datetime(2026, 1, 15, 20, tzinfo=UTC),
)


FEEDBACK_TOPIC = {"id": "feedback", "title": "Feedback", "phrases": ["feedback"]}


def feed_config(tmp_path, topics: list[dict], base_url: str, title: str = SITE) -> Config:
    """A config (also written to tmp_path/pln.yaml) with one blog source and `topics`, whose
    store and feeds go under tmp_path/out and whose feeds are published at `base_url`."""
    data = {
        "sources": [{"name": "blog", "type": "rss", "url": "https://blog.example/feed"}],
        "topics": topics,
        "outputs": {
            "duckdb": "out/pln.duckdb",
            "feeds_dir": "out/feeds",
            "base_url": base_url,
            "title": title,
        },
    }
    path = tmp_path / "pln.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return parse_config(data, path)


def site_config(tmp_path, port: int, **topic_extra) -> Config:
    spaced = {"id": "spaced", "title": "Spaced practice", "phrases": ["spaced practice"]}
    topics = [{**spaced, "digest": "weekly", **topic_extra}, FEEDBACK_TOPIC]
    return feed_config(tmp_path, topics, f"http://127.0.0.1:{port}/feeds")


def build_site(tmp_path, port: int, **topic_extra) -> Config:
    """The config, a store holding POSTS (kept for "spaced") and THREAD (kept for "feedback"),
    and the rendered feeds."""
    config = site_config(tmp_path, port, **topic_extra)
    items = [p for p, _ in POSTS] + [THREAD]
    decisions = [
        Decision(p.id, "spaced", score, True, "matched 'spaced practice' (lemma)")
        for p, score in POSTS
    ]
    decisions.append(Decision(THREAD.id, "feedback", 0.6, True, "matched 'feedback'"))
    with Store(config.outputs.duckdb) as store:
        store.write(items, decisions, [])
        render_feeds(store, config, now=NOW)
    return config


def add_post_and_render(config: Config, n: int, score: float = 0.9) -> Item:
    item = post(n, NOW - timedelta(hours=1))
    with Store(config.outputs.duckdb) as store:
        store.write([item], [Decision(item.id, "spaced", score, True, "matched it")], [])
        render_feeds(store, config, now=NOW)
    return item
