"""Progress lines on stderr, usable from Beam workers (in-process or subprocess).

The CLI turns progress on with the PLN_PROGRESS environment variable, which worker processes
inherit; nothing here holds driver-only state.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable

ENV = "PLN_PROGRESS"


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


class Ticker:
    """Prints `label: N units` ("written: 1 item", "written: 2,500 items") at most every
    `every` seconds, and once more on `close`."""

    def __init__(self, label: str, unit: str = "item", every: float = 0.5):
        self.label, self.unit, self.every = label, unit, every
        self.count = 0
        self._printed = 0
        self._last = 0.0
        self._tty = sys.stderr.isatty()

    def add(self, n: int) -> None:
        if not n:  # a write of dead letters alone: "written: 0 items" would say nothing
            return
        self.count += n
        now = time.monotonic()
        if enabled() and now - self._last >= self.every:
            self._last = now
            self._print(end="\r" if self._tty else "\n")

    def close(self) -> None:
        if enabled() and self.count and (self.count != self._printed or self._tty):
            self._print(end="\n")

    def _print(self, end: str) -> None:
        self._printed = self.count
        sys.stderr.write(f"  {self.label}: {counted(self.count, self.unit)}{' ' * 8}{end}")
        sys.stderr.flush()


def say(line: str) -> None:
    """One progress line (a source finished, a stage started)."""
    if enabled():
        sys.stderr.write(f"  {line}\n")
        sys.stderr.flush()


def first_names(names: Iterable[str], limit: int = 5) -> str:
    """ "a, b, c" or "a, b, c and 12 more": the first `limit` names, and how many others."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit:,} more" if len(names) > limit else shown


def counted(n: int, word: str) -> str:
    """ "1 item", "2,500 items" (English plurals with an s are all progress lines need)."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
