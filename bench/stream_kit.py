"""Shared parts of the stream benchmarks: a broker, a config, items, a stream process, and
what its process tree uses (memory from /proc, CPU seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from big_store import fill_store  # noqa: E402
from conftest_kafka import tweet, wait_for, write_config  # noqa: E402
from kafka_broker import start_broker  # noqa: E402
from proc_tree import descendants  # noqa: E402

from pln import payload  # noqa: E402
from pln.pipelines.kafka_io import KafkaSettings, ReliableProducer, ensure_topics  # noqa: E402
from pln.record import Item  # noqa: E402

__all__ = [
    "KafkaSettings",
    "ReliableProducer",
    "ensure_topics",
    "fill_store",
    "make_items",
    "proc_status",
    "produce",
    "start_broker",
    "stream_process",
    "tree_cpu_seconds",
    "tree_pids",
    "tree_rss_mb",
    "write_config",
]


def make_items(numbers, tag: str = "x") -> list[Item]:
    """Posts where every other one is on the config's topic (spaced repetition)."""
    return [
        Item.create(
            source="x",
            platform="twitter",
            native_id=f"{tag}-{n}",
            kind="post",
            author=f"person{n % 50}",
            text=tweet(n, n % 2 == 0)["text"] + f" (note {n})",
        )
        for n in numbers
    ]


def produce(settings: KafkaSettings, items: list[Item], batch: int = 5000) -> None:
    producer = ReliableProducer(settings, say=print)
    try:
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            producer.send_all(
                settings.raw_topic, [(it.id.encode(), payload.encode_item(it)) for it in chunk]
            )
    finally:
        producer.close()


def stream_process(config: Path, settings: KafkaSettings, *extra: str, log: Path):
    env = {**os.environ, "PLN_PROGRESS": "1", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "pln.cli", "stream", "-c", str(config)]
    command += ["--bootstrap", settings.bootstrap, "--raw-topic", settings.raw_topic]
    command += ["--curated-topic", settings.curated_topic, *extra]
    return subprocess.Popen(
        command, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=REPO
    )


def tree_pids(pid: int) -> list[int]:
    """A process and its descendants."""
    return [pid, *descendants(pid)]


def proc_status(pid: int, key: str) -> int:
    """A number from /proc/PID/status ("VmRSS" in kB, "Threads"); 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (MB)."""
    return sum(proc_status(p, "VmRSS") for p in tree_pids(pid)) / 1024


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / ticks


def wait_until(check, timeout: float, every: float = 0.2):
    return wait_for(check, timeout, "the stream", every)
