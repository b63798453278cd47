"""`pln stream` with Kafka, third QA round: a curated topic deleted while the stream runs,
`--until-idle` with nothing waiting, tombstones on the raw topic, a full disk said once."""

from __future__ import annotations

import shutil
import signal
import subprocess
from types import SimpleNamespace

import pytest
from conftest_kafka import (
    consume_all,
    kill,
    produce_items,
    stream_process,
    stream_workspace,
    tweet_item_id,
    tweet_items,
    wait_for,
)
from helpers import row_count

from pln import payload
from pln.pipelines.polls import decode_records

pytestmark = pytest.mark.slow


def test_a_curated_topic_deleted_while_the_stream_runs_is_created_again_with_the_kept_items(
    tmp_path, kafka_topics
):
    """Tansu acknowledges messages sent to a deleted topic and drops them: the stream went on
    committing offsets past kept items that no consumer would ever see."""
    from kafka.admin import KafkaAdminClient

    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    proc = stream_process(config.path, settings, "--workers", "1", log=log)
    try:
        produce_items(settings, tweet_items(range(10)))
        wait_for(lambda: row_count(db) == 10, 60, "the first 10 items")
        admin = KafkaAdminClient(**settings.client_config())
        try:
            admin.delete_topics([settings.curated_topic])
            wait_for(lambda: settings.curated_topic not in admin.list_topics(), 30, "the deletion")
        finally:
            admin.close()
        produce_items(settings, tweet_items(range(10, 20)))
        wait_for(lambda: row_count(db) == 20, 60, "the next 10 items")
        kept = {tweet_item_id(n).encode() for n in range(10, 20, 2)}
        curated = consume_all(settings, settings.curated_topic, expect=len(kept), timeout=60)
    finally:
        kill(proc, signal.SIGTERM)
    said = log.read_text()
    assert kept <= {m.key for m in curated}, said[-2000:]
    assert f"topic {settings.curated_topic} is gone (deleted while pln ran); creating it again" in (
        said
    )
    assert proc.returncode == 0 and "Traceback" not in said


@pytest.mark.parametrize("backlog", [0, 6])
def test_until_idle_stops_also_when_nothing_waits(tmp_path, kafka_topics, backlog):
    """`--until-idle` ran for ever when nothing waited at the start. Three workers for two
    partitions: one of them reads none, and must not hold the stream up either."""
    settings = kafka_topics
    config, db, log = stream_workspace(tmp_path)
    if backlog:  # a first run drains a backlog; the second then finds nothing new
        produce_items(settings, tweet_items(range(backlog)))
        first = stream_process(config.path, settings, "--until-idle", "2", log=log)
        assert first.wait(timeout=120) == 0, log.read_text()[-2000:]
    proc = stream_process(config.path, settings, "--until-idle", "2", "--workers", "3", log=log)
    try:
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("--until-idle did not stop a stream that had nothing to do") from None
    finally:
        kill(proc)
    assert code == 0, log.read_text()[-2000:]
    assert row_count(db) == backlog
    assert log.read_text().count("PLN Curator stream stream-") == 1 + bool(backlog)


def test_a_tombstone_on_the_raw_topic_is_a_dead_letter_with_a_plain_reason():
    record = SimpleNamespace(topic="raw", partition=0, offset=7, key=b"k", value=None, timestamp=0)
    poll = decode_records([record])
    [dead] = poll.dead_letters
    assert dead.reason == "empty record (a tombstone): no value"
    assert dead.ref == "raw/0@7" and not poll.items
    with pytest.raises(payload.PayloadError, match=r"^empty record \(a tombstone\): no value$"):
        payload.decode_curated(None)


@pytest.fixture
def small_disk(tmp_path):
    """A 30 MB tmpfs (needs root and a mount(8) that may mount one)."""
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(disk)])
    if mounted.returncode:
        pytest.skip("cannot mount a small tmpfs here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_is_said_in_one_line(small_disk, kafka_topics):
    """A full disk (ENOSPC on DuckDB's WAL) was said twice: `pln: warning: stream: database
    ...: cannot write: ...` as the stream committed what its workers finished, then the same
    as the error. A file size limit does not show it: only a disk that stays full does."""
    settings = kafka_topics
    config, db, log = stream_workspace(small_disk)
    proc = stream_process(config.path, settings, "--workers", "1", log=log)
    try:
        produce_items(settings, tweet_items(range(50)))
        wait_for(lambda: row_count(db) == 50, 60, "the stream to start")
        free = shutil.disk_usage(small_disk).free
        (small_disk / "filler").write_bytes(b"\0" * max(0, free - 3_000_000))
        long_text = (
            "Tip {n}: spaced repetition beats cramming. " + "lorem ipsum dolor sit amet " * 800
        )
        for start in range(1000, 2500, 100):
            items = [
                item.replaced(text=long_text.format(n=n))
                for n, item in zip(
                    range(start, start + 100),
                    tweet_items(range(start, start + 100)),
                    strict=True,
                )
            ]
            produce_items(settings, items)
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("the stream kept running on a full disk") from None
    finally:
        kill(proc)
    said = log.read_text()
    assert code == 1, said[-2000:]
    failures = [line for line in said.splitlines() if f"database {db}: " in line]
    assert len(failures) == 1 and failures[0].startswith("pln: error: database "), said[-3000:]
