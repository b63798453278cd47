"""The feedback journal beside the database, `<database>.labels-pending.jsonl`: `pln serve`
appends every click to it first, then whoever holds the database moves its labels into the
`labels` table. That is the server itself when it can open the database, and a running stream
otherwise: a stream holds the database for as long as it runs, so without it a click would
wait in the journal, unseen by `pln train`, until the stream stopped.

The file is locked (flock) while it is appended to, read or emptied, across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import IO

from .store import Label, Store


def journal_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.labels-pending.jsonl")


def has_pending(db_path: str | Path) -> bool:
    """A stat: whether the journal holds anything (cheap enough to ask every few seconds)."""
    try:
        return journal_path(db_path).stat().st_size > 0
    except OSError:
        return False


@contextlib.contextmanager
def locked_journal(path: Path) -> Iterator[IO[str]]:
    """The journal file, locked against other threads and processes."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as journal:
        fcntl.flock(journal.fileno(), fcntl.LOCK_EX)
        try:
            yield journal
        finally:
            fcntl.flock(journal.fileno(), fcntl.LOCK_UN)


def journal_label(path: Path, label: Label) -> None:
    """Append one label to the journal, on disk before this returns."""
    line = json.dumps({**asdict(label), "at": label.at.isoformat()}) + "\n"
    with locked_journal(path) as journal:
        journal.seek(0, os.SEEK_END)
        journal.write(line)
        journal.flush()
        os.fsync(journal.fileno())


def _read_labels(journal: IO[str], path: Path, log: Callable[[str], None]) -> list[Label]:
    """The labels of a locked journal; a line that is not one is skipped with a line."""
    journal.seek(0)
    labels = []
    for n, line in enumerate(journal.read().splitlines(), 1):
        try:
            data = json.loads(line)
            labels.append(Label(**{**data, "at": datetime.fromisoformat(data["at"])}))
        except (ValueError, TypeError, KeyError):
            log(f"{path}:{n}: not a label, skipped: {line[:80]!r}")
    return labels


def _store_labels(store: Store, labels: list[Label], log: Callable[[str], None]) -> dict:
    """Add the labels whose item the store still holds; one for an item forgotten while it
    waited in the journal has no text to learn from, and is dropped with a line. Returns the
    labelled items by id."""
    items = store.items_by_id({label.item_id for label in labels})
    for label in labels:
        if label.item_id not in items:
            log(f"feedback for {label.item_id} dropped: the item is no longer stored")
    store.add_labels([label for label in labels if label.item_id in items])
    return items


def take_journaled(
    path: Path, open_store: Callable[[], contextlib.AbstractContextManager[Store]], log
) -> tuple[int, dict]:
    """Move the journal's labels into the store `open_store()` gives (open for writing), then
    empty the journal. Returns how many labels it held, and their stored items by id. When
    `open_store` raises (a busy database), the journal stays as it was."""
    with locked_journal(path) as journal:
        labels = _read_labels(journal, path, log)
        items: dict = {}
        if labels:
            with open_store() as store:
                items = _store_labels(store, labels, log)
        journal.truncate(0)
    return len(labels), items
