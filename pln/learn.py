"""Learning from the user's labels, against the store: record labels, train, evaluate, rescore.

The plain parts (training, cross-validation, suggestions) are in pln.filters.learning and
pln.filters.suggest, the model in pln.filters.classifier; this module reads and writes the DuckDB store around them.
The CLI (pln/cli_learn.py) only parses arguments and prints what these functions return.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from pln.config import Config
from pln.errors import PlnError, UsageError
from pln.filters.classifier import ModelRef, current_model, models_dir, save_model
from pln.filters.curator import CurateResult, Curator
from pln.filters.label_suggestions import Suggestion, suggest_labels
from pln.filters.learning import (
    MAX_POOL,
    Example,
    TopicEval,
    Trained,
    TrainingSettings,
    labels_fingerprint,
    stable_share,
    train_shared,
)
from pln.filters.suggest import PhraseSuggestions, suggest_phrases
from pln.filters.topics import SCORER_VERSION
from pln.lock import RunLock
from pln.pipelines.scoring_state import note_scored, scored_otherwise, topics_not_scored
from pln.progress import counted
from pln.record import Decision, Item
from pln.sinks.store import Label, Store
from pln.sinks.store_db import no_database

LABEL_WORDS = {"+": 1, "+1": 1, "1": 1, "up": 1, "-": -1, "-1": -1, "down": -1}
RESCORE_BATCH = 1000


# -- labels ----------------------------------------------------------------------------------


def parse_label(text: str) -> int | None:
    """+1 or -1 for '+', '-', '1', '-1', '+1', 'up', 'down' (any case); None otherwise."""
    return LABEL_WORDS.get(text.strip().lower())


def open_store(config: Config, *, read_only: bool) -> Store:
    db = config.outputs.duckdb
    if not db.is_file():
        raise no_database(db)
    return Store(db, read_only=read_only)


def label_one(config: Config, item_id: str, topic: str, value: str) -> Label:
    """Store one label given on the command line; one-line errors for unknown things."""
    label = parse_label(value)
    if label is None:
        raise UsageError(f"label must be + or - (or up/down, 1/-1), got {value!r}")
    config.topic(topic)  # raises for a topic the config lacks
    with open_store(config, read_only=False) as store:
        if not store.items_by_id([item_id]):
            raise UsageError(_missing(store, config, item_id))
        row = Label(item_id, topic, label, datetime.now(UTC), "cli")
        store.add_labels([row])
    return row


@dataclass
class CsvLabels:
    stored: int = 0
    problems: list[str] = field(default_factory=list)  # "file:line: what is wrong"
    unlabelled: int = 0  # rows whose label cell is empty: not labelled yet, left out


def label_csv(config: Config, path: Path) -> CsvLabels:
    """Store the labels of a CSV file (item_id,topic,label; header optional; `,`, `;` or tab
    between columns). Bad rows are reported as file:line and skipped; the good ones are stored;
    rows with an empty label cell are left out (a spreadsheet labelled in part)."""
    read = read_label_csv(path, {t.id for t in config.topics})
    problems = read.problems
    with open_store(config, read_only=False) as store:
        known = store.items_by_id({item_id for _, item_id, _, _ in read.rows})
        now = datetime.now(UTC)
        good = []
        for line, item_id, topic, label in read.rows:
            if item_id in known:
                good.append(Label(item_id, topic, label, now, "csv"))
            else:
                problems.append((line, _missing(store, config, item_id, where=False)))
        stored = store.add_labels(good)
    where = [f"{path}:{line}: {what}" for line, what in sorted(problems)]
    return CsvLabels(stored, where, read.unlabelled)


LABEL_COLUMNS = ("item_id", "topic", "label")
DELIMITERS = {",": "','", ";": "';'", "\t": "tab"}  # what spreadsheets write, and a name


@dataclass
class LabelRows:
    rows: list[tuple[int, str, str, int]]  # (line, item_id, topic, label)
    problems: list[tuple[int, str]]  # (line, what is wrong)
    unlabelled: int = 0


def read_label_csv(path: Path, topics: set[str]) -> LabelRows:
    """The labelled rows of a label CSV, its bad rows, and how many rows had no label. The
    delimiter (`,`, `;` or tab: Excel writes `;` in many locales) and the columns come from
    the first line: a header naming item_id (or id, as `pln sql` exports it), topic and label
    in any order, among other columns; or, without one, item_id,topic,label."""
    text = _read_text(path)
    found = _label_columns(path, text)
    if found is None:
        return LabelRows([], [])
    delimiter, columns, header_line = found
    rows, problems, unlabelled = [], [], 0
    for start, cells in _csv_records(text, delimiter):
        cells = [c.strip() for c in cells]
        if start == header_line or not any(cells) or cells[0].startswith("#"):
            continue
        if len(cells) <= max(columns):
            problems.append((start, f"expected item_id,topic,label, got {len(cells)} column(s)"))
            continue
        item_id, topic, value = (cells[i] for i in columns)
        if not value:
            unlabelled += 1  # a row of an export not labelled (yet): not a mistake
            continue
        label = parse_label(value)
        if not item_id:
            problems.append((start, "empty item_id"))
        elif topic not in topics:
            known = ", ".join(sorted(topics))
            problems.append((start, f"no topic named {topic!r} (known: {known})"))
        elif label is None:
            problems.append((start, f"label must be +, -, 1, -1, up or down, got {value!r}"))
        else:
            rows.append((start, item_id, topic, label))
    return LabelRows(rows, problems, unlabelled)


def _label_columns(path: Path, text: str) -> tuple[str, tuple[int, ...], int] | None:
    """(delimiter, the indexes of item_id, topic and label, the header's line or 0), read
    from the first line that is not blank or a # comment; None for a file without one."""
    lines = enumerate(text.splitlines(), start=1)
    number, line = next(
        ((n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")),
        (0, ""),
    )
    if not number:
        return None
    cells = {d: _cells(line, d) for d in DELIMITERS}
    names = {d: [_column_name(c) for c in cells[d]] for d in DELIMITERS}
    known = {"id", *LABEL_COLUMNS}
    named = [d for d in DELIMITERS if known & set(names[d])]
    if named:  # a header; the delimiter that finds the most of its names, then most columns
        d = max(named, key=lambda d: (len(known & set(names[d])), len(cells[d])))
        header = names[d]
        if "item_id" not in header and "id" in header:
            header = ["item_id" if c == "id" else c for c in header]
        missing = set(LABEL_COLUMNS) - set(header)
        if missing:
            raise UsageError(f"{path}:{number}: header lacks {', '.join(sorted(missing))}")
        return d, tuple(header.index(c) for c in LABEL_COLUMNS), number
    wide = [d for d in DELIMITERS if len(cells[d]) >= len(LABEL_COLUMNS)]
    if not wide:
        got = max(cells.values(), key=len)
        raise UsageError(
            f"{path}:{number}: cannot tell the columns: expected a header naming id (or "
            f"item_id), topic and label, separated by ',', ';' or tabs; found "
            f"{counted(len(got), 'column')}: {', '.join(repr(c) for c in got)}"
        )
    # No header: item_id,topic,label; the delimiter whose third cell is a label, if any.
    d = next((d for d in wide if parse_label(cells[d][2]) is not None), wide[0])
    return d, (0, 1, 2), 0


def _cells(line: str, delimiter: str) -> list[str]:
    return [c.strip() for c in next(csv.reader([line], delimiter=delimiter), [])]


def _column_name(cell: str) -> str:
    """A header cell as a column name: 'Item ID' and 'item-id' are item_id."""
    return "_".join(cell.lower().replace("-", " ").split())


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


def story_ids(store: Store, examples: dict[str, list[Example]]) -> dict[str, str]:
    """Item id -> story id of the labelled items that belong to a story of several items."""
    ids = sorted({ex.item.id for exs in examples.values() for ex in exs})
    rows = store.con.execute(
        "SELECT item_id, story_id FROM story_members WHERE item_id IN (SELECT unnest($ids))",
        {"ids": ids},
    ).fetchall()
    return dict(rows)


def ignored_labels(store: Store, config: Config) -> dict[str, int]:
    """How many labels each topic no longer in the config has (training leaves them out)."""
    known = {t.id for t in config.topics}
    counts: dict[str, int] = {}
    for label in store.labels():
        if label.topic not in known:
            counts[label.topic] = counts.get(label.topic, 0) + 1
    return counts


# -- train and evaluate ----------------------------------------------------------------------


@dataclass
class TrainReport:
    """What `pln train` did: a new model, or why not, with the cross-validated comparison."""

    trained: Trained
    model: ModelRef | None = None
    unchanged: ModelRef | None = None  # the current model already learned exactly these labels
    ignored: dict[str, int] = field(default_factory=dict)  # labels of topics not in the config


def _pool(store: Store, limit: int = MAX_POOL) -> list[Item]:
    """Up to `limit` stored items, the same sample on every run (by a hash of the id)."""
    ids = [row[0] for row in store.sql("SELECT id FROM items")[1]]
    if len(ids) > limit:
        ids = sorted(ids, key=lambda i: stable_share(i, "pool"))[:limit]
    return list(store.items_by_id(ids).values())


def _fingerprint(config: Config, examples: dict, settings: TrainingSettings) -> str:
    extra = {
        "topics": {t.id: t.version for t in config.topics},
        "pipeline": config.nlp.pipeline,
        "settings": settings.as_dict(),
        "scorer": SCORER_VERSION,  # how the rules match: another pln may train otherwise
    }
    return labels_fingerprint(examples, extra)


def train(
    config: Config, settings: TrainingSettings | None = None, *, force: bool = False
) -> TrainReport:
    """Train the shared model on all labels (and weak labels from the stored items) and save
    it as the next version, unless the current one was trained on exactly these labels,
    topics, pipeline and settings (then nothing changes; `force` trains anyway)."""
    settings = settings or TrainingSettings()
    with open_store(config, read_only=True) as store:
        examples = labelled_examples(store, config)
        stories = story_ids(store, examples)
        ignored = ignored_labels(store, config)
        pool = _pool(store)
    root = models_dir(config.outputs.duckdb)
    fingerprint = _fingerprint(config, examples, settings)
    current = current_model(root)
    if current is not None and not force and current.meta.get("fingerprint") == fingerprint:
        n_pos = sum(ex.relevant for exs in examples.values() for ex in exs)
        n_neg = sum(not ex.relevant for exs in examples.values() for ex in exs)
        return TrainReport(Trained(None, None, n_pos, n_neg), unchanged=current, ignored=ignored)
    base = Curator.for_config(config, use_models=False, entities=False)
    trained = train_shared(base, examples, pool, settings, stories)
    report = TrainReport(trained, ignored=ignored)
    if trained.model is None:
        return report
    report.model = save_model(
        trained.model,
        root,
        {
            "fingerprint": fingerprint,
            "n_pos": trained.n_pos,
            "n_neg": trained.n_neg,
            "weak_pool": trained.pool,
            "pipeline": config.nlp.pipeline,
            "lang": base.nlp.lang,
            "topic_versions": {t.id: t.version for t in config.topics},
            "settings": settings.as_dict(),
            "cross_validation": {
                "folds": trained.evaluation.folds,
                "prior_strength": trained.evaluation.strength,
                "lift": trained.lift.as_dict() if trained.lift else None,
                "topics": [ev.as_dict() for ev in trained.evaluation.topics],
            },
        },
    )
    return report


@dataclass
class Evaluation:
    """Every topic's labels, each scored by a model trained without it, beside the rules."""

    topics: list[TopicEval]
    folds: int
    model: ModelRef | None  # the current model (what `pln run` uses)
    skipped: str = ""  # why there was nothing to evaluate (too few labels), else ""
    ignored: dict[str, int] = field(default_factory=dict)  # labels of topics not in the config
    n_pos: int = 0  # the labels of the config's topics
    n_neg: int = 0


def evaluate(config: Config, settings: TrainingSettings | None = None) -> Evaluation:
    """Cross-validate on the current labels: honest with few labels, where a held-out split
    would hold a handful of items."""
    with open_store(config, read_only=True) as store:
        examples = labelled_examples(store, config)
        stories = story_ids(store, examples)
        ignored = ignored_labels(store, config)
        pool = _pool(store)
    current = current_model(models_dir(config.outputs.duckdb))
    base = Curator.for_config(config, use_models=False, entities=False)
    trained = train_shared(base, examples, pool, settings, stories)
    counts = {"n_pos": trained.n_pos, "n_neg": trained.n_neg}
    if trained.evaluation is None:
        return Evaluation([], 0, current, trained.skipped, ignored, **counts)
    folds = trained.evaluation.folds
    return Evaluation(trained.evaluation.topics, folds, current, "", ignored, **counts)


# -- suggestions -----------------------------------------------------------------------------


def label_suggestions(config: Config, topic: str, n: int = 10) -> list[Suggestion]:
    """The stored items whose label for `topic` would teach the model the most (see
    `suggest_labels`): the hook for `pln label --suggest` and the served page."""
    config.topic(topic)  # raises for a topic the config lacks
    with open_store(config, read_only=True) as store:
        items, labelled = suggestion_pool(store, topic)
    curator = Curator.for_config(config, entities=False)
    return suggest_labels(curator, topic, items, labelled, n)


def suggestion_pool(store: Store, topic: str) -> tuple[list[Item], set[str]]:
    """The stored items label suggestions choose from, and the ids labelled for topic (read
    under the store's lock; judging them needs no database)."""
    labelled = {label.item_id for label in store.labels(topic)}
    return _pool(store), labelled


def topic_suggestions(config: Config, topic: str, n: int = 15) -> PhraseSuggestions:
    """Phrases and hashtags the topic lacks, from its + labels and kept items (suggest.py)."""
    config.topic(topic)  # raises for a topic the config lacks
    with open_store(config, read_only=True) as store:
        labels = store.labels(topic)
        positive = {label.item_id for label in labels if label.label > 0}
        negative = {label.item_id for label in labels if label.label < 0}
        kept, others = set(), {}
        for item_id, kept_for in store.sql("SELECT item_id, topic FROM decisions WHERE kept")[1]:
            if kept_for == topic:
                kept.add(item_id)
            else:
                others.setdefault(kept_for, set()).add(item_id)
        items = _pool(store)
        ids = {it.id for it in items}
        items += store.items_by_id((positive | kept | negative) - ids).values()
    wanted = [it for it in items if (it.id in positive or it.id in kept) and it.id not in negative]
    rest = [it for it in items if it not in wanted]
    curator = Curator.for_config(config, use_models=False, entities=False)
    rule = next(r for r in curator.rules if r.id == topic)
    topics = {r.id for r in curator.rules}
    others = {t: ids for t, ids in others.items() if t in topics}
    return suggest_phrases(curator.nlp, wanted, rest, rule, n, others, unwanted=negative)


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
    entered_labelled: int = 0  # of those that entered, items with a label for the topic
    left_labelled: int = 0  # (the model trained on them, so they say little)


@dataclass
class RescoreReport:
    items: int
    seconds: float
    changes: list[FeedChange]
    failed: list[str] = field(default_factory=list)  # "item <id>: error"
    feeds: list[Path] = field(default_factory=list)


def rescore(
    config: Config,
    *,
    batch_size: int = RESCORE_BATCH,
    holder: str = "pln rescore",
    only_if_needed: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
) -> RescoreReport | None:
    """Re-apply the current topics and models to every stored item, replace the decisions,
    and re-render the feeds. Holds the run lock (as `holder`): never overlaps `pln run`.
    `only_if_needed`: only when the items were scored with another config or model
    (pipelines/scoring_state.py; else None). `on_batch(done, total)` follows the progress."""
    started = time.perf_counter()
    db = config.outputs.duckdb
    if not db.is_file():
        if only_if_needed:
            return None
        raise no_database(db)
    from pln.sinks.feeds import render_feeds
    from pln.sinks.feeds_state import record_render

    failed: list[str] = []
    with RunLock(db, holder), Store(db) as store:
        if only_if_needed and not scored_otherwise(store, config):
            return None
        run_id = f"rescore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        before = _kept(store)
        configured = {src.name for src in config.sources}
        store.forget_gone_sources(configured, run_id)
        delivered = dict(store.sql("SELECT id, sources FROM items ORDER BY id")[1])
        ids = list(delivered)
        if on_batch is not None:
            on_batch(0, len(ids))
        curator = Curator.for_config(config)
        curator.setup()
        for start in range(0, len(ids), batch_size):
            stored = store.items_by_id(ids[start : start + batch_size]).values()
            batch = [copy for item in stored for copy in _copies(item, delivered[item.id])]
            result = _curate(curator, batch, failed)
            # Deciding again is not a delivery: forgetting goes by when a source last did.
            store.write(result.items, result.decisions, (), run_id=run_id, seen=False)
            if on_batch is not None:
                on_batch(min(start + batch_size, len(ids)), len(ids))
        note_scored(store, config)
        after = _kept(store)
        changes = _changes(store, config, curator, before, after)
        feeds = render_feeds(store, config)
        record_render(db, feeds)  # feeds of topics no longer in the config go (410 in serve)
    return RescoreReport(len(ids), time.perf_counter() - started, changes, failed, feeds)


def labels_not_in_model(ref: ModelRef | None, labels: dict[str, int]) -> dict[str, int]:
    """Of `labels` (a count per topic), those of topics the model `ref` was trained without
    (not in the config when `pln train` last ran): it never saw them, and its rules decide."""
    if ref is None:
        return {}
    return {topic: n for topic, n in labels.items() if n and topic not in ref.topics}


def _copies(item: Item, sources: list[str] | None) -> list[Item]:
    """The stored item as each source that delivered it: a topic may take one source and not
    another, and the store keeps each source's decisions (only the first source's copy is
    stored; the others' are the same post)."""
    return [item] + [replace(item, source=s) for s in sources or () if s != item.source]


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
    curator.setup()
    label = curator.model.label if curator.model else ""
    models = {topic: label for topic in curator.uses_model}
    topics = [t.id for t in config.topics] + sorted(set(before) - {t.id for t in config.topics})
    labelled: dict[str, set[str]] = {}
    for row in store.labels():
        labelled.setdefault(row.topic, set()).add(row.item_id)
    changes = []
    for topic in topics:
        old, new = before.get(topic, set()), after.get(topic, set())
        taught = labelled.get(topic, set())
        # Unlabelled items first: they show what the model does to items it never saw.
        entered = sorted(new - old, key=lambda i: (i in taught, i))
        left = sorted(old - new, key=lambda i: (i in taught, i))
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
                sum(i in taught for i in entered),
                sum(i in taught for i in left),
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
    uses_model: bool = False  # the model decides for this topic (else its rules do)
    unseen: int = 0  # its labels, when the model was trained without the topic
    unscored: bool = False  # added (or renamed) after the stored items were scored


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
            for topic in topics_not_scored(store, config):
                rows[topic].unscored = True
    ref = current_model(models_dir(db))
    if ref is not None:
        for row in rows.values():
            row.model = ref
            row.uses_model = bool(ref.meta.get("use", {}).get(row.topic, False))
        labels = {row.topic: row.labels_pos + row.labels_neg for row in rows.values()}
        for topic, n in labels_not_in_model(ref, labels).items():
            rows[topic].unseen = n
    return list(rows.values())


def stored_item(config: Config, item_id: str) -> Item:
    """One stored item (read-only), or a one-line error."""
    with open_store(config, read_only=True) as store:
        item = store.items_by_id([item_id]).get(item_id)
        if item is None:
            raise UsageError(_missing(store, config, item_id))
    return item


def _missing(store: Store, config: Config, item_id: str, where: bool = True) -> str:
    """Why an item id finds nothing: never stored, or forgotten (by `pln forget --item` when
    no forgetting by age ran since, which the store records; else by either)."""
    from pln.sinks.store_forget import last_forget

    place = f" in {config.outputs.duckdb}" if where else ""
    when = store.forgotten_on(item_id)
    if when is None:
        return f"no item with id {item_id!r}{place}"
    by_age = last_forget(store.db)
    how = (
        "by `pln forget --item`"
        if by_age is None or by_age < when
        else "(by `pln forget`, or by outputs.keep_days)"
    )
    return f"item {item_id!r} was forgotten on {when:%Y-%m-%d} {how}; its text is gone{place}"


# -- texts for `pln topics test --file` ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextRow:
    id: str  # the TSV's id column, else the line number
    text: str
    title: str = ""
    label: bool | None = None  # from a label column (+ / -), to measure against


TEXT_COLUMNS = ("id", "title", "text", "label")


def read_texts(path: Path) -> list[TextRow]:
    """Texts to test, one per line; or TSV whose header names `text` and optionally `id`,
    `title`, `label` (+/-), or CSV (`,` or `;`, as spreadsheets write) whose header names only
    those; or `+|-<TAB>text` lines. Blank lines are skipped. A first line that looks like a
    header (tabs, or column names) without `text` is refused."""
    raw = _read_text(path)
    lines = raw.splitlines()
    header = [c.strip().lower() for c in lines[0].split("\t")] if lines else []
    delimiter = _texts_delimiter(lines[0]) if len(header) == 1 else "\t"
    if delimiter != "\t":
        header = [c.lower() for c in _cells(lines[0], delimiter)]
    kind = f"{DELIMITERS[delimiter]}-separated"
    if "text" in header:
        if delimiter == "\t":
            records = ((n, line.split("\t")) for n, line in enumerate(lines[1:], start=2))
        else:
            records = _csv_records(raw, delimiter, skip=1)
        return _table_texts(path, header, records, kind)
    tabbed = len(header) > 1 and parse_label(header[0]) is None
    if header and (tabbed or set(header) <= {"id", "title", "label"}):
        raise UsageError(
            f"{path}: a {kind} file needs a header row naming a `text` column "
            f"(and id, title, label), got {lines[0].strip()!r}"
        )
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        first, tab, rest = line.partition("\t")
        value = parse_label(first) if tab else None
        if value is not None:
            rows.append(TextRow(str(number), rest.strip(), label=value > 0))
        else:
            rows.append(TextRow(str(number), line.strip()))
    return rows


def _texts_delimiter(line: str) -> str:
    """',' or ';' when the first line of a texts file is a CSV header, only names of
    TEXT_COLUMNS (a line of text is not); else a tab, as plain lines and TSV are read."""
    for delimiter in (",", ";"):
        names = [c.lower() for c in _cells(line, delimiter)]
        if len(names) > 1 and set(names) <= set(TEXT_COLUMNS):
            return delimiter
    return "\t"


def _csv_records(text: str, delimiter: str, skip: int = 0):
    """(line, cells) of each CSV record after the first `skip`; a quoted cell may hold line
    ends (Excel writes them), so the line is where the record starts."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    start = 1
    for n, cells in enumerate(reader):
        line, start = start, reader.line_num + 1
        if n >= skip:
            yield line, cells


def _table_texts(path: Path, header: list[str], records, kind: str) -> list[TextRow]:
    """The texts of a table whose header names `text` (records: (line, cells))."""
    at = {name: header.index(name) for name in TEXT_COLUMNS if name in header}
    rows = []
    for number, cells in records:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) <= at["text"]:
            raise UsageError(f"{path}:{number}: expected {len(header)} {kind} columns")
        values = {name: cells[i].strip() if i < len(cells) else "" for name, i in at.items()}
        cell = values.get
        label = None
        if cell("label", ""):  # an empty cell: not labelled yet, the text is still tested
            value = parse_label(cell("label", ""))
            if value is None:
                raise UsageError(
                    f"{path}:{number}: label must be + or -, got {cell('label', '')!r}"
                )
            label = value > 0
        rows.append(
            TextRow(cell("id", "") or str(number), cell("text", ""), cell("title", ""), label)
        )
    return rows


def _read_text(path: Path) -> str:
    """A UTF-8 file (a byte-order mark is dropped), '-': stdin; one-line errors, exit 2 for a
    path that is missing, a directory or unreadable."""
    import sys

    try:
        if str(path) == "-":
            return sys.stdin.read().removeprefix("\ufeff")
        return path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, NotADirectoryError):  # NotADirectory: a file used as a folder
        raise UsageError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise UsageError(f"{path}: cannot read: permission denied") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 "
            "(in Excel: CSV UTF-8)"
        ) from None
    except OSError as exc:
        raise PlnError(f"{path}: cannot read: {exc.strerror or exc}") from None
