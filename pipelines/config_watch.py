"""The config file of a command left running (`pln stream`, `pln ingest`, `pln serve`), watched
for edits.

An edit that makes a valid config different from the running one is handed back, and the
stream starts again with it (pln/cli_stream.py); an edit that is not valid is said once, in one
line, and the stream keeps the config it has. Without this, a topic added with `pln topics add`
while the stream ran was silently ignored until someone restarted it.
"""

from __future__ import annotations

import time
from pathlib import Path

from pln import progress
from pln.atomic import file_version
from pln.config import Config
from pln.errors import PlnError

EVERY = 2.0  # seconds between looks at the file (a stat)


class ConfigWatch:
    def __init__(self, config: Config, say=progress.say, every: float = EVERY):
        self.config, self.say, self.every = config, say, every
        self.path = Path(config.path)
        self._stamp = file_version(self.path)
        self._looked = time.monotonic()

    def changed(self) -> Config | None:
        """The edited config, when the file now holds a valid one that differs; else None."""
        now = time.monotonic()
        if now - self._looked < self.every:
            return None
        self._looked = now
        return self.look()

    def look(self) -> Config | None:
        """`changed()` now, whenever it last looked."""
        stamp = file_version(self.path)
        if stamp is None or stamp == self._stamp:  # None: gone a moment, as editors save
            return None
        self._stamp = stamp
        from pln.sources.registry import load_checked_config

        try:
            edited = load_checked_config(self.path)
        except PlnError as exc:
            self.say(f"{self.path} was edited but cannot be used, so nothing changes: {exc}")
            return None
        if edited == self.config:
            return None
        self.config = edited  # a watch kept after an edit compares later edits with this one
        return edited
