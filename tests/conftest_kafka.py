"""Fixtures and helpers of the event-driven tests (import with `from conftest_kafka import *`).

`kafka_broker` is one Tansu broker for the whole session; each test uses its own topic names
(`kafka_topics`) so tests never see each other's messages.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka_broker import BrokerUnavailable, KafkaBroker, broker_binary

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A running Kafka-compatible broker on a free loopback port (skips when unavailable)."""
    try:
        broker = KafkaBroker(broker_binary(), log_dir=tmp_path_factory.mktemp("tansu")).start()
    except BrokerUnavailable as exc:
        pytest.skip(f"no Kafka broker for tests: {exc}")
    yield broker
    broker.stop()


@pytest.fixture
def kafka_topics(kafka_broker):
    """Fresh topic names and settings for one test."""
    from pln.pipelines.kafka_io import KafkaSettings

    tag = uuid.uuid4().hex[:8]
    return KafkaSettings(
        bootstrap=kafka_broker.bootstrap,
        raw_topic=f"raw-{tag}",
        curated_topic=f"curated-{tag}",
        partitions=2,
        request_timeout_ms=5_000,
    )


TOPIC_YAML = """
topics:
  - id: spaced
    title: Spaced repetition
    phrases: [spaced repetition, retrieval practice]
    threshold: 0.3
"""


def write_config(folder: Path, sources: str = "", interval: float = 1.0) -> Path:
    """A config with one twitter_v2 folder source (`folder/tweets`) and one topic."""
    (folder / "tweets").mkdir(parents=True, exist_ok=True)
    sources = sources or (
        f"sources:\n  - name: x\n    type: twitter_v2\n    path: tweets\n    interval: {interval}\n"
    )
    path = folder / "pln.yaml"
    path.write_text(
        sources
        + TOPIC_YAML
        + "outputs:\n  duckdb: out/pln.duckdb\n  feeds_dir: out/feeds\n"
        + "  base_url: http://feeds.test\n",
        encoding="utf-8",
    )
    return path


@contextlib.contextmanager
def stream_holding(folder: Path, settings, items: int):
    """A `pln stream` on a fresh workspace (`stream_workspace`) that has written `items` of
    `tweet_items`: yields (config, db, log); stopped with SIGTERM after."""
    from helpers import row_count

    config, db, log = stream_workspace(folder)
    proc = stream_process(config.path, settings, log=log)
    try:
        produce_items(settings, tweet_items(range(items)))
        wait_for(lambda: row_count(db) == items, 60, f"{items} items")
        yield config, db, log
    finally:
        kill(proc, signal.SIGTERM)


def stream_workspace(folder: Path):
    """A fresh config (`write_config`) in `folder`: (config, its DuckDB path, a log path for
    the processes the test starts)."""
    from pln.config import load_config

    config = load_config(write_config(folder))
    return config, config.outputs.duckdb, folder / "stream.log"


def with_bootstrap(settings, bootstrap: str):
    """The test's Kafka settings (topics) pointed at another broker."""
    return settings.__class__(**{**vars(settings), "bootstrap": bootstrap})


def tweet(n: int, relevant: bool = True) -> dict:
    text = (
        f"Tip {n}: spaced repetition beats cramming for long-term recall"
        if relevant
        else f"Lunch note {n}: the coffee machine is broken again"
    )
    created = datetime(2026, 11, 20, tzinfo=UTC) + timedelta(seconds=n)
    return {
        "id": str(1_900_000_000_000_000_000 + n),
        "text": text,
        "author_id": "7",
        "author": {"id": "7", "username": "ld_jo", "name": "Jo"},
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "lang": "en",
    }


def write_tweets(folder: Path, name: str, numbers, relevant: bool = True) -> None:
    """One JSONL page file of tweets (written atomically, as a downloader would)."""
    tmp = folder / "tweets" / f".{name}.tmp"
    tmp.write_text("".join(json.dumps(tweet(n, relevant)) + "\n" for n in numbers))
    tmp.rename(folder / "tweets" / f"{name}.jsonl")


def tweet_item_id(n: int) -> str:
    from pln.record import make_item_id

    return make_item_id("twitter", tweet(n)["id"])


def tweet_items(numbers, relevant=lambda n: n % 2 == 0) -> list:
    """The Items the twitter_v2 source makes of `tweet(n)`: every even one is on the topic."""
    from pln.record import Item

    return [
        Item.create(
            source="x",
            platform="twitter",
            native_id=tweet(n)["id"],
            kind="post",
            author="ld_jo",
            text=tweet(n, relevant(n))["text"],
        )
        for n in numbers
    ]


def pln_args(command: str, config, settings, *extra) -> tuple[str, ...]:
    """`pln ingest|stream` arguments for a config and the test's topics."""
    args = [command, "-c", str(config), "--bootstrap", settings.bootstrap]
    args += ["--raw-topic", settings.raw_topic]
    if command == "stream":
        args += ["--curated-topic", settings.curated_topic]
    return (*args, *extra)


def produce_items(settings, items) -> None:
    from pln import payload
    from pln.pipelines.kafka_io import ReliableProducer

    producer = ReliableProducer(settings, say=print)
    try:
        producer.send_all(
            settings.raw_topic, [(i.id.encode(), payload.encode_item(i)) for i in items]
        )
    finally:
        producer.close()


def consume_all(settings, topic: str, expect: int, timeout: float = 30.0, quiet: float = 1.0):
    """Every message of `topic` (all partitions): reads until at least `expect` distinct keys
    arrived and then nothing more for `quiet` seconds. (Not "to the end offsets": Tansu
    under-reports them, and at-least-once topics hold repeats, so neither offsets nor a message
    count say that every key was read; that made a stream test flaky.)"""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        **settings.client_config(), group_id=None, auto_offset_reset="earliest"
    )
    try:
        deadline = time.monotonic() + timeout
        parts = None
        while not parts and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            time.sleep(0.05) if not parts else None
        consumer.assign([TopicPartition(topic, p) for p in parts or ()])
        out: list = []
        keys: set = set()
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = [r for rs in consumer.poll(timeout_ms=200).values() for r in rs]
            if batch:
                out.extend(batch)
                keys.update(r.key for r in batch)
                last_new = time.monotonic()
            elif len(keys) >= expect and time.monotonic() - last_new >= quiet:
                break
        return out
    finally:
        consumer.close()


def pln_process(*args: str, log: Path, **popen) -> subprocess.Popen:
    """`pln <args>` as a child process (its own session, so a kill takes nothing else)."""
    env = {**os.environ, "PLN_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "pln.cli", *args],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=REPO,
        start_new_session=True,
        **popen,
    )


def stream_process(config, settings, *extra: str, log: Path, **popen) -> subprocess.Popen:
    """`pln stream` on `config` against the test's topics, as a child process."""
    return pln_process(*pln_args("stream", config, settings, *extra), log=log, **popen)


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=30)


def wait_for(check: Callable[[], object], timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
