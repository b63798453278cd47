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
from pln.filters.model_files import models_dir, saved_versions

EVERY = 2.0  # seconds between looks at the file (a stat)


class ConfigWatch:
    """`changed()`: the config to go on with after an edit, else None. With `models`, a newly
    trained model (`pln train` saved a new version beside the database) counts as a change
    too, and `changed()` then returns the same config."""

    def __init__(self, config: Config, say=progress.say, every: float = EVERY, models=False):
        self.config, self.say, self.every = config, say, every
        self.path = Path(config.path)
        self._stamp = file_version(self.path)
        self._looked = time.monotonic()
        self.models = models_dir(config.outputs.duckdb) if models else None
        self._models_stamp = file_version(self.models) if self.models else None
        self.model = _newest(self.models) if self.models else None

    def changed(self) -> Config | None:
        """The edited config, when the file now holds a valid one that differs, or the config
        when a new model was trained (with `models`); else None."""
        now = time.monotonic()
        if now - self._looked < self.every:
            return None
        self._looked = now
        return self.look()

    def look(self) -> Config | None:
        """`changed()` now, whenever it last looked."""
        edited = self._edited()
        new_model = self._new_model()  # looked at either way, so its stamp stays current
        return self.config if new_model and edited is None else edited

    def _edited(self) -> Config | None:
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

    def _new_model(self) -> bool:
        """Whether the newest complete model changed (a stat of the models folder, whose
        mtime moves when `pln train` renames a finished version into it)."""
        if self.models is None:
            return False
        stamp = file_version(self.models)
        if stamp == self._models_stamp:
            return False
        self._models_stamp = stamp
        newest = _newest(self.models)
        if newest == self.model:
            return False
        self.model = newest
        return True


def _newest(models: Path) -> int | None:
    try:
        versions = saved_versions(models)
    except PlnError:  # a meta.json half written by hand: look again at the next change
        return None
    return versions[-1][0] if versions else None
