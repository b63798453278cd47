"""The shared Beam transforms in a TestPipeline on the in-process runner: `Curate` keeps and
drops with reasons, `WriteToStore` lands every row once in a real DuckDB file and a re-run
leaves the same rows, the batch wiring reads, curates and writes real feed files, and the
streaming steps write polls once whatever order they arrive in."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from beamkit import curated_native_ids, in_process_test_pipeline, item_batches, verdicts
from helpers import article, db_rows

from pln.config import parse_config
from pln.filters.curator import Curator
from pln.pipelines.batch import build_batch_pipeline
from pln.pipelines.beam_stream import CuratePollFn, WritePollFn
from pln.pipelines.curate import Curate
from pln.pipelines.kafka_io import KafkaSettings
from pln.pipelines.polls import CuratedPoll, Poll
from pln.pipelines.probe import SourceTask
from pln.pipelines.write import WriteToStore
from pln.record import DeadLetter, SourceStatus
from pln.sinks.stream_store import OffsetRange, StreamStore

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
TOPICS = [
    {"id": "spaced", "title": "Spaced", "phrases": ["spaced practice"], "threshold": 0.7},
    {"id": "feedback", "title": "Feedback", "phrases": ["feedback"], "none": ["grades"]},
]
ONE_HIT = "matched 'spaced practice'; below threshold 0.7"  # one mention scores 0.632

ONCE = article("once", title="A note", text="Spaced practice.")
OFTEN = article(
    "often",
    title="A year of it",
    text="Spaced practice works. We tried spaced practice for a year; spaced practice stuck.",
)
FEEDBACK = article("feedback", title="Drafts", text="Feedback on drafts before anything else.")
GRADES = article("grades", title="Marking", text="Feedback through grades alone.")
LUNCH = article("lunch", title="Team lunch", text="Tacos again, and nobody minded.")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("beam")
    data = {
        "sources": [{"name": "blog", "type": "rss", "path": str(FEEDS / "rss2.xml")}],
        "topics": TOPICS,
        "outputs": {"duckdb": "out/pln.duckdb", "feeds_dir": "out/feeds"},
    }
    return parse_config(data, folder / "pln.yaml")


@pytest.fixture(scope="module")
def curator(config) -> Curator:
    return Curator.for_config(config, use_models=False)


# ------------------------------------------------------------------------------------- Curate


@pytest.mark.parametrize("reshuffle", [True, False], ids=["spread", "in-place"])
def test_curate_keeps_and_drops_per_topic_with_the_reason(curator, reshuffle):
    with in_process_test_pipeline() as p:
        batches = item_batches(p, [ONCE, OFTEN, FEEDBACK], [GRADES, LUNCH])
        curated = batches | Curate(curator, reshuffle=reshuffle)
        assert_that(
            curated.curated | verdicts(),
            equal_to(
                [
                    ("once", "spaced", False, ONE_HIT),
                    ("often", "spaced", True, "matched 'spaced practice' ×3; threshold 0.7"),
                    ("feedback", "feedback", True, "matched 'feedback'; threshold 0.5"),
                ]
            ),
        )
        # Every item comes out annotated, also those no topic wanted (a dropped item is stored
        # so a rerun does not curate it again); nothing was dead.
        assert_that(
            curated.curated | curated_native_ids(),
            equal_to(["once", "often", "feedback", "grades", "lunch"]),
            label="AllItems",
        )
        assert_that(curated.dead, equal_to([]), label="NoDead")


def test_curate_drops_in_batch_duplicates(curator):
    with in_process_test_pipeline() as p:
        curated = item_batches(p, [OFTEN, LUNCH, OFTEN]) | Curate(curator, reshuffle=False)
        assert_that(curated.curated | curated_native_ids(), equal_to(["often", "lunch"]))


# --------------------------------------------------------------------------------- WriteToStore


def write_batches(db: Path, curator, run_id: str, batches, dead=(), statuses=()) -> None:
    """Items -> Curate -> WriteToStore into the DuckDB file `db`, as the batch job does."""
    staging = f"{db}.staging/{run_id}"
    with in_process_test_pipeline() as p:
        curated = item_batches(p, *batches) | Curate(curator)
        dead_in = p | "Dead" >> beam.Create([list(dead)] if dead else [])
        status_in = p | "Statuses" >> beam.Create(list(statuses))
        _ = (curated.curated, curated.dead, dead_in, status_in) | WriteToStore(
            str(db), run_id, {"blog": 3600.0}, staging
        )
    assert not Path(staging).exists()  # the writer removed what it staged


def test_write_to_store_lands_each_row_once_and_a_rerun_leaves_the_same_rows(tmp_path, curator):
    db = tmp_path / "pln.duckdb"
    broken = DeadLetter("blog", "feed.xml#3", "entry has no link or id")
    fetched = SourceStatus("blog", "rss", ok=True, items=5, cursor={"etag": '"v1"'})
    # OFTEN arrives in two batches (two sources' pages): one row, one decision.
    batches = [[ONCE, OFTEN, FEEDBACK], [GRADES, LUNCH, OFTEN]]
    write_batches(db, curator, "run-1", batches, [broken], [fetched])

    items = "SELECT native_id FROM items ORDER BY 1"
    decisions = """SELECT i.native_id, topic, kept, reason
                   FROM decisions d JOIN items i ON i.id = d.item_id ORDER BY 1, 2"""
    first = (db_rows(db, items), db_rows(db, decisions))
    assert first[0] == [("feedback",), ("grades",), ("lunch",), ("often",), ("once",)]
    assert first[1] == [
        ("feedback", "feedback", True, "matched 'feedback'; threshold 0.5"),
        ("often", "spaced", True, "matched 'spaced practice' ×3; threshold 0.7"),
        ("once", "spaced", False, ONE_HIT),
    ]
    assert db_rows(db, "SELECT source, ref, reason FROM dead_letters") == [
        ("blog", "feed.xml#3", "entry has no link or id")
    ]
    assert db_rows(db, "SELECT name, ok, items_total FROM sources") == [("blog", True, 5)]

    # The same run again, say after a crash before the cursor moved: nothing doubles.
    write_batches(db, curator, "run-2", batches, [broken], [])
    assert (db_rows(db, items), db_rows(db, decisions)) == first
    assert db_rows(db, "SELECT count(*) FROM dead_letters") == [(1,)]


# ------------------------------------------------------------------ the batch job's wiring


def test_the_batch_pipeline_reads_curates_and_writes_and_one_bad_source_stays_apart(tmp_path):
    data = {
        "sources": [
            {"name": "blog", "type": "rss", "path": str(FEEDS / "rss2.xml")},
            {"name": "web-page", "type": "rss", "path": str(FEEDS / "not-a-feed.html")},
        ],
        "topics": [{"id": "spacing", "title": "Spacing", "phrases": ["spaced repetition"]}],
        "outputs": {"duckdb": "out/pln.duckdb", "feeds_dir": "out/feeds"},
    }
    config = parse_config(data, tmp_path / "pln.yaml")
    tasks = [SourceTask(source) for source in config.sources]
    with in_process_test_pipeline() as p:
        build_batch_pipeline(p, config, tasks, "run-1")

    db = config.outputs.duckdb
    assert db_rows(db, "SELECT source, count(*) FROM items GROUP BY 1") == [("blog", 3)]
    kept = db_rows(
        db, "SELECT i.title FROM decisions d JOIN items i ON i.id = d.item_id WHERE kept"
    )
    assert kept == [("Spaced repetition for compliance training that people actually remember",)]
    statuses = dict(db_rows(db, "SELECT name, ok FROM sources"))
    assert statuses == {"blog": True, "web-page": False}
    (error,) = db_rows(db, "SELECT error FROM sources WHERE name = 'web-page'")[0]
    assert error.startswith("source 'web-page': ") and "\n" not in error


# ------------------------------------------------- the streaming pipeline's curate and write


def run_stream_steps(config, curator, settings, polls: list[Poll]) -> None:
    """CuratePollFn and WritePollFn, fed polls as the Kafka read makes them (no broker)."""
    with in_process_test_pipeline() as p:
        _ = (
            p
            | beam.Create(polls, reshuffle=False)
            | beam.ParDo(CuratePollFn(curator)).with_output_types(CuratedPoll)
            | beam.ParDo(WritePollFn(config, settings, "stream-run"))
        )


def test_stream_steps_write_polls_in_any_order_once_and_resume_after_the_last(tmp_path, curator):
    data = {
        "sources": [{"name": "blog", "type": "rss", "path": str(FEEDS / "rss2.xml")}],
        "topics": TOPICS,
        "outputs": {"duckdb": "out/pln.duckdb", "feeds_dir": "out/feeds"},
    }
    config = parse_config(data, tmp_path / "pln.yaml")
    settings = KafkaSettings(bootstrap="127.0.0.1:9", curated_topic="")  # publishes nothing
    raw = (settings.raw_topic, 0)
    with StreamStore(config.outputs.duckdb) as store:
        store.begin_run("stream-run", "test")
    # The second poll reaches the writer first.
    first, second = [ONCE, OFTEN, FEEDBACK], [GRADES, LUNCH, OFTEN]
    polls = [
        Poll(second, offsets={raw: OffsetRange(3, 6)}),
        Poll(first, offsets={raw: OffsetRange(0, 3, fresh=True)}),
    ]
    run_stream_steps(config, curator, settings, polls)

    db = config.outputs.duckdb
    stored = "SELECT count(*) FROM items"
    kept = "SELECT i.native_id FROM decisions d JOIN items i ON i.id = d.item_id WHERE kept"
    assert db_rows(db, stored) == [(5,)]
    assert sorted(db_rows(db, kept)) == [("feedback",), ("often",)]
    with StreamStore(db) as store:
        assert store.offsets(settings.raw_topic) == {raw: 6}  # a restart reads from offset 6

    # The ingester sent the first items again (at-least-once): new offsets, the same rows.
    run_stream_steps(config, curator, settings, [Poll(first, offsets={raw: OffsetRange(6, 9)})])
    assert db_rows(db, stored) == [(5,)]
    assert sorted(db_rows(db, kept)) == [("feedback",), ("often",)]
    with StreamStore(db) as store:
        assert store.offsets(settings.raw_topic) == {raw: 9}
