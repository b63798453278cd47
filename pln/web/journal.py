"""The feedback journal: a label is appended to `<database>.labels-pending.jsonl` first, then
moved into the store's `labels` table (where `pln train` reads it), so a click made while a run
holds the database is kept and written later, even across a restart of the server."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from pln.errors import PlnError

from .queries import database_lock

LABEL_WAIT = 2.0  # seconds a feedback click waits for a busy database before it is journaled
RETRY_EVERY = 2.0  # seconds between attempts to write journaled labels


class LabelRecorder:
    """Writes feedback labels into the store, through a journal that survives a busy database
    (`<database>.labels-pending.jsonl`) and a restart of the server."""

    def __init__(self, db_path: Path, wait: float = LABEL_WAIT, log=lambda line: None):
        self.db_path, self.wait, self.log = Path(db_path), wait, log
        self.journal = Path(f"{db_path}.labels-pending.jsonl")
        self.retry_every = RETRY_EVERY
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, label) -> tuple[bool, str]:
        """Journal the label and try to write it now. Returns (written to the database, the
        item's title when known); a label the database cannot take now stays journaled."""
        line = json.dumps({**asdict(label), "at": label.at.isoformat()}) + "\n"
        with self._journal() as journal:
            journal.seek(0, os.SEEK_END)
            journal.write(line)
            journal.flush()
            os.fsync(journal.fileno())
        try:
            written, titles = self.flush(self.wait)
        except PlnError as exc:  # a full disk, say: the journal keeps it, the retries write it
            self.log(f"feedback label kept in {self.journal}, not yet in the database: {exc}")
            return False, ""
        return written, titles.get(label.item_id, "")

    def pending(self) -> int:
        try:
            with self.journal.open(encoding="utf-8") as journal:
                return sum(1 for line in journal if line.strip())
        except FileNotFoundError:
            return 0

    def flush(self, wait: float) -> tuple[bool, dict[str, str]]:
        """Move journaled labels into the store; (False, {}) while the database stays busy."""
        from pln.sinks.entry_text import item_title
        from pln.sinks.store import Label, Store, StoreBusy

        with self._journal() as journal:
            journal.seek(0)
            labels = []
            for n, line in enumerate(journal.read().splitlines(), 1):
                try:
                    data = json.loads(line)
                    labels.append(Label(**{**data, "at": datetime.fromisoformat(data["at"])}))
                except (ValueError, TypeError, KeyError):
                    self.log(f"{self.journal}:{n}: not a label, skipped: {line[:80]!r}")
            if not labels:
                journal.truncate(0)
                return True, {}
            try:
                with database_lock(), Store(self.db_path, wait=wait) as store:
                    items = store.items_by_id({label.item_id for label in labels})
                    store.add_labels(self._kept_items_only(labels, items))
            except StoreBusy:
                return False, {}
            journal.truncate(0)
        return True, {item_id: item_title(item) for item_id, item in items.items()}

    def _kept_items_only(self, labels: list, items: dict) -> list:
        """Labels whose item the store still holds; one for an item forgotten while the label
        waited in the journal has no text to learn from, and is dropped with a line."""
        for label in labels:
            if label.item_id not in items:
                self.log(f"feedback for {label.item_id} dropped: the item is no longer stored")
        return [label for label in labels if label.item_id in items]

    def start(self) -> None:
        """Retry journaled labels in the background (some may be left from a previous run)."""
        self._thread = threading.Thread(target=self._retry_loop, name="pln-labels", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.wait + 5)

    def _retry_loop(self) -> None:
        told = ""  # the last problem reported, so a lasting one is said once
        while not self._stop.is_set():
            if self.pending():
                try:
                    written, _ = self.flush(self.wait)
                except PlnError as exc:
                    if str(exc) != told:
                        self.log(f"feedback labels not written yet: {exc}")
                        told = str(exc)
                else:
                    if written:
                        self.log("feedback labels from the journal written to the database")
                        told = ""
            self._stop.wait(self.retry_every)

    @contextlib.contextmanager
    def _journal(self):
        """The journal file, locked against other threads and processes."""
        fd = os.open(self.journal, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as journal:
            fcntl.flock(journal.fileno(), fcntl.LOCK_EX)
            try:
                yield journal
            finally:
                fcntl.flock(journal.fileno(), fcntl.LOCK_UN)
