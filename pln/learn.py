"""Learning from the user's labels, against the store: record labels, train, evaluate, rescore.

The plain parts (held-out split, training one topic, scores) are in pln.filters.learning and the
models in pln.filters.classifier; this module reads and writes the DuckDB store around them.
The CLI (pln/cli_learn.py) only parses arguments and prints what these functions return.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pln.config import Config
from pln.errors import PlnError
from pln.filters.classifier import ModelRef, TrainingSettings, current_models, models_dir
from pln.filters.curator import CurateResult, Curator
from pln.filters.learning import Example, Scores, TrainResult, score_curator, split, train_topic
from pln.lock import RunLock
from pln.record import Decision, Item
from pln.sinks.store import Label, Store

LABEL_WORDS = {"+": 1, "+1": 1, "1": 1, "up": 1, "-": -1, "-1": -1, "down": -1}
RESCORE_BATCH = 1000


# -- labels ----------------------------------------------------------------------------------


def parse_label(text: str) -> int | None:
    """+1 or -1 for '+', '-', '1', '-1', '+1', 'up', 'down' (any case); None otherwise."""
    return LABEL_WORDS.get(text.strip().lower())


def open_store(config: Config, *, read_only: bool) -> Store:
    db = config.outputs.duckdb
    if not db.is_file():
        raise PlnError(f"database {db} does not exist; run `pln run` first")
    return Store(db, read_only=read_only)


def check_topic(config: Config, topic: str) -> None:
    if topic not in {t.id for t in config.topics}:
        known = ", ".join(t.id for t in config.topics)
        raise PlnError(f"{config.path}: no topic named {topic!r} (known: {known})")


def label_one(config: Config, item_id: str, topic: str, value: str) -> Label:
    """Store one label given on the command line; one-line errors for unknown things."""
    label = parse_label(value)
    if label is None:
        raise PlnError(f"label must be + or - (or up/down, 1/-1), got {value!r}")
    check_topic(config, topic)
    with open_store(config, read_only=False) as store:
        if not store.items_by_id([item_id]):
            raise PlnError(f"no item with id {item_id!r} in {config.outputs.duckdb}")
        row = Label(item_id, topic, label, datetime.now(UTC), "cli")
        store.add_labels([row])
    return row


@dataclass
class CsvLabels:
    stored: int = 0
    problems: list[str] = field(default_factory=list)  # "file:line: what is wrong"


def label_csv(config: Config, path: Path) -> CsvLabels:
    """Store the labels of a CSV file (item_id,topic,label; header optional). Bad rows are
    reported as file:line and skipped; the good ones are stored."""
    rows, problems = read_label_csv(path, {t.id for t in config.topics})
    with open_store(config, read_only=False) as store:
        known = store.items_by_id({item_id for _, item_id, _, _ in rows})
        now = datetime.now(UTC)
        good = []
        for line, item_id, topic, label in rows:
            if item_id in known:
                good.append(Label(item_id, topic, label, now, "csv"))
            else:
                problems.append((line, f"no item with id {item_id!r}"))
        stored = store.add_labels(good)
    return CsvLabels(stored, [f"{path}:{line}: {what}" for line, what in sorted(problems)])


def read_label_csv(
    path: Path, topics: set[str]
) -> tuple[list[tuple[int, str, str, int]], list[tuple[int, str]]]:
    """The (line, item_id, topic, label) rows of a label CSV, and (line, problem) pairs."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PlnError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlnError(f"{path}: cannot read: {exc}") from None
    rows, problems = [], []
    columns = (0, 1, 2)  # item_id, topic, label; a header row may name another order
    first = True
    for number, cells in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        lowered = [c.lower() for c in cells]
        if first and "item_id" in lowered:
            missing = {"item_id", "topic", "label"} - set(lowered)
            if missing:
                raise PlnError(f"{path}:{number}: header lacks {', '.join(sorted(missing))}")
            columns = tuple(lowered.index(c) for c in ("item_id", "topic", "label"))
            first = False
            continue
        first = False
        if len(cells) <= max(columns):
            problems.append((number, f"expected item_id,topic,label, got {len(cells)} column(s)"))
            continue
        item_id, topic, value = (cells[i] for i in columns)
        label = parse_label(value)
        if not item_id:
            problems.append((number, "empty item_id"))
        elif topic not in topics:
            problems.append((number, f"no topic named {topic!r}"))
        elif label is None:
            problems.append((number, f"label must be +, -, 1, -1, up or down, got {value!r}"))
        else:
            rows.append((number, item_id, topic, label))
    return rows, problems


def labelled_examples(store: Store, config: Config) -> dict[str, list[Example]]:
    """Each topic's labels with their items (labels of items no longer stored are left out)."""
    labels = store.labels()
    items = store.items_by_id({label.item_id for label in labels})
    examples: dict[str, list[Example]] = {t.id: [] for t in config.topics}
    for label in labels:
        item = items.get(label.item_id)
        if item is not None and label.topic in examples:
            examples[label.topic].append(Example(item, label.label > 0))
    return examples


# -- train and evaluate ----------------------------------------------------------------------


def train(
    config: Config, topics: Sequence[str] = (), settings: TrainingSettings | None = None
) -> list[TrainResult]:
    """Train a new model version for each topic (default: all) that has enough labels."""
    for topic in topics:
        check_topic(config, topic)
    with open_store(config, read_only=True) as store:
        examples = labelled_examples(store, config)
    base = Curator.for_config(config, use_models=False)
    root = models_dir(config.outputs.duckdb)
    chosen = list(topics) or [t.id for t in config.topics]
    return [train_topic(base, topic, examples[topic], root, settings) for topic in chosen]


@dataclass
class Evaluation:
    """One topic on its held-out labels: the rules alone, and with its current model."""

    topic: str
    labels: int  # all labels of the topic
    held_out: int
    held_out_pos: int
    rules: Scores
    model: ModelRef | None = None
    with_model: Scores | None = None


def evaluate(config: Config) -> list[Evaluation]:
    with open_store(config, read_only=True) as store:
        examples = labelled_examples(store, config)
    rules_only = Curator.for_config(config, use_models=False)
    with_models = Curator.for_config(config)
    models = {m.topic: m for m in with_models.models}
    out = []
    for topic in config.topics:
        _, held_out = split(examples[topic.id])
        row = Evaluation(
            topic.id,
            len(examples[topic.id]),
            len(held_out),
            sum(ex.relevant for ex in held_out),
            score_curator(rules_only, topic.id, held_out),
        )
        if topic.id in models:
            row.model = models[topic.id]
            row.with_model = score_curator(with_models, topic.id, held_out)
        out.append(row)
    return out


# -- rescore ---------------------------------------------------------------------------------


@dataclass
class FeedChange:
    """What a rescore did to one topic's feed."""

    topic: str
    kept: int  # kept after the rescore
    entered: int  # items kept now and not before
    left: int  # items kept before and not now
    entered_titles: list[str] = field(default_factory=list)  # the first few (title or text)
    left_titles: list[str] = field(default_factory=list)
    model: str = ""  # "v3" when the topic has a model


@dataclass
class RescoreReport:
    items: int
    seconds: float
    changes: list[FeedChange]
    failed: list[str] = field(default_factory=list)  # "item <id>: error"
    feeds: list[Path] = field(default_factory=list)


def rescore(config: Config, *, batch_size: int = RESCORE_BATCH) -> RescoreReport:
    """Re-apply the current topics and models to every stored item, replace the decisions,
    and re-render the feeds. Holds the run lock: never overlaps `pln run`."""
    started = time.perf_counter()
    db = config.outputs.duckdb
    if not db.is_file():
        raise PlnError(f"database {db} does not exist; run `pln run` first")
    from pln.sinks.feeds import render_feeds

    curator = Curator.for_config(config)
    curator.setup()
    run_id = f"rescore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    failed: list[str] = []
    with RunLock(db), Store(db) as store:
        before = _kept(store)
        ids = [row[0] for row in store.sql("SELECT id FROM items ORDER BY id")[1]]
        for start in range(0, len(ids), batch_size):
            batch = list(store.items_by_id(ids[start : start + batch_size]).values())
            result = _curate(curator, batch, failed)
            store.write(result.items, result.decisions, (), run_id=run_id)
        after = _kept(store)
        changes = _changes(store, config, curator, before, after)
        feeds = render_feeds(store, config)
    return RescoreReport(len(ids), time.perf_counter() - started, changes, failed, feeds)


def _curate(curator: Curator, items: list[Item], failed: list[str]) -> CurateResult:
    """Curate a batch; when it fails, item by item, leaving out (and naming) the bad ones,
    whose stored decisions then stay as they were."""
    try:
        return curator.curate(items)
    except Exception:  # one odd item must not stop a rescore of the whole store
        pass
    good: list[Item] = []
    decisions: list[Decision] = []
    for item in items:
        try:
            result = curator.curate([item])
        except Exception as exc:
            failed.append(f"item {item.id}: {type(exc).__name__}: {exc}")
            continue
        good += result.items
        decisions += result.decisions
    return CurateResult(good, decisions)


def _kept(store: Store) -> dict[str, set[str]]:
    kept: dict[str, set[str]] = {}
    for topic, item_id in store.sql("SELECT topic, item_id FROM decisions WHERE kept")[1]:
        kept.setdefault(topic, set()).add(item_id)
    return kept


def _changes(
    store: Store,
    config: Config,
    curator: Curator,
    before: dict[str, set[str]],
    after: dict[str, set[str]],
    shown: int = 3,
) -> list[FeedChange]:
    models = {m.topic: m.label for m in curator.models}
    topics = [t.id for t in config.topics] + sorted(set(before) - {t.id for t in config.topics})
    changes = []
    for topic in topics:
        old, new = before.get(topic, set()), after.get(topic, set())
        entered, left = sorted(new - old), sorted(old - new)
        titles = store.items_by_id(entered[:shown] + left[:shown])
        changes.append(
            FeedChange(
                topic,
                len(new),
                len(entered),
                len(left),
                [_title(titles[i]) for i in entered[:shown] if i in titles],
                [_title(titles[i]) for i in left[:shown] if i in titles],
                models.get(topic, ""),
            )
        )
    return changes


def _title(item: Item, limit: int = 70) -> str:
    text = item.title or " ".join(item.text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- overview --------------------------------------------------------------------------------


@dataclass
class TopicOverview:
    topic: str
    title: str
    version: str
    threshold: float
    scored: int = 0
    kept: int = 0
    older: int = 0  # decisions made by an earlier version of the topic: `pln rescore` updates
    labels_pos: int = 0
    labels_neg: int = 0
    model: ModelRef | None = None


def overview(config: Config) -> list[TopicOverview]:
    """Every topic with its version, counts of decisions and labels, and its current model."""
    rows = {t.id: TopicOverview(t.id, t.title, t.version, t.threshold) for t in config.topics}
    db = config.outputs.duckdb
    if db.is_file():
        with Store(db, read_only=True) as store:
            for topic, version, scored, kept in store.sql(
                "SELECT topic, topic_version, count(*), count(*) FILTER (WHERE kept) "
                "FROM decisions GROUP BY ALL"
            )[1]:
                if topic in rows:
                    row = rows[topic]
                    row.scored += scored
                    row.kept += kept
                    row.older += 0 if version == row.version else scored
            for topic, pos, neg in store.sql(
                "SELECT topic, count(*) FILTER (WHERE label > 0), "
                "count(*) FILTER (WHERE label < 0) FROM labels GROUP BY topic"
            )[1]:
                if topic in rows:
                    rows[topic].labels_pos, rows[topic].labels_neg = pos, neg
    for ref in current_models(models_dir(db), rows):
        rows[ref.topic].model = ref
    return list(rows.values())


def stored_item(config: Config, item_id: str) -> Item:
    """One stored item (read-only), or a one-line error."""
    with open_store(config, read_only=True) as store:
        item = store.items_by_id([item_id]).get(item_id)
    if item is None:
        raise PlnError(f"no item with id {item_id!r} in {config.outputs.duckdb}")
    return item
