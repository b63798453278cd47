"""The feedback journal: a label is appended to `<database>.labels-pending.jsonl` first, then
moved into the store's `labels` table (where `pln train` reads it), so a click made while a run
holds the database is kept and written later, even across a restart of the server."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from pln.errors import PlnError
from pln.sinks.label_journal import journal_label, journal_path, take_journaled

from .queries import database_lock

LABEL_WAIT = 2.0  # seconds a feedback click waits for a busy database before it is journaled
RETRY_EVERY = 2.0  # seconds between attempts to write journaled labels


class LabelRecorder:
    """Writes feedback labels into the store, through a journal that survives a busy database
    (`<database>.labels-pending.jsonl`) and a restart of the server."""

    def __init__(self, db_path: Path, wait: float = LABEL_WAIT, log=lambda line: None):
        self.db_path, self.wait, self.log = Path(db_path), wait, log
        self.journal = journal_path(db_path)
        self.retry_every = RETRY_EVERY
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, label) -> tuple[bool, str]:
        """Journal the label and try to write it now. Returns (written to the database, the
        item's title when known); a label the database cannot take now stays journaled."""
        journal_label(self.journal, label)
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
        """Move journaled labels into the store; (False, {}) while the database stays busy
        (a running stream then moves them: sinks/label_journal.py)."""
        from pln.sinks.entry_text import item_title
        from pln.sinks.store import StoreBusy

        try:
            _, items = take_journaled(self.journal, lambda: self._writing(wait), self.log)
        except StoreBusy:
            return False, {}
        return True, {item_id: item_title(item) for item_id, item in items.items()}

    @contextlib.contextmanager
    def _writing(self, wait: float):
        from pln.sinks.store import Store

        with database_lock(), Store(self.db_path, wait=wait) as store:
            yield store

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
