"""The "teach this topic" page's suggestions: the Curator (rules and the current model) that
judges the stored items is built once, and again only when `pln train` saves a new model.
spaCy loads on the first request for the page, not when the server starts."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from pln.config import Config
from pln.record import Item

SUGGESTIONS = 10


class Teacher:
    """Label suggestions for the served page, with the newest model (thread-safe)."""

    def __init__(self, config: Config, n: int = SUGGESTIONS):
        self.config, self.n = config, n
        self._lock = threading.Lock()
        self._curator = None  # (the model it was built with, the Curator)

    def pool(self, store, topic: str) -> tuple[list[Item], set[str]]:
        """The items to choose from and those labelled for topic (read under the store lock)."""
        from pln.learn import suggestion_pool

        return suggestion_pool(store, topic)

    def suggest(self, topic: str, items: Sequence[Item], labelled: set[str]) -> list:
        """pln.filters.label_suggestions.Suggestion for the items whose label would teach the most."""
        from pln.filters.label_suggestions import suggest_labels

        with self._lock:  # one spaCy pipeline, used by one request at a time
            return suggest_labels(self._current(), topic, items, labelled, self.n)

    def _current(self):
        from pln.filters.classifier import current_model, models_dir
        from pln.filters.curator import Curator

        ref = current_model(models_dir(self.config.outputs.duckdb))
        if self._curator is None or self._curator[0] != ref:
            self._curator = (ref, Curator(self.config.topics, self.config.nlp, ref, entities=False))
        return self._curator[1]
