"""What the stored decisions were made with: each topic's scoring version, pln's own scorer
(matching) version, the NLP pipeline and the trained model. The store keeps it (`pln_meta` key "scored_with").

A stream that starts with other topics or another model than the stored items were scored
with rescores them first (pln/cli_stream.py): it holds the store while it runs, so `pln
rescore` could not run beside it, and a topic added while it ran would otherwise stay empty of
everything stored before. `pln run` only says that `pln rescore` would apply the edit.
"""

from __future__ import annotations

import json

from pln.config import Config
from pln.filters.model_files import models_dir, saved_versions
from pln.filters.topics import SCORER_VERSION
from pln.sinks.store import Store

KEY = "scored_with"


def scoring_key(config: Config) -> str:
    models = saved_versions(models_dir(config.outputs.duckdb))  # no spaCy: runs need none
    what = {
        "topics": {t.id: t.version for t in config.topics},
        "scorer": SCORER_VERSION,
        "nlp": config.nlp.pipeline,
        "model": models[-1][0] if models else None,
    }
    return json.dumps(what, sort_keys=True)


def scored_otherwise(store: Store, config: Config) -> bool:
    """Whether the stored items were scored with other topics, pipeline or model than
    `config` has now. A store that holds no items takes `config`'s key and answers False; one
    that holds items but says nothing was written by an older pln, before this key (its
    decisions came from that pln's matching and model), and answers True. So every writer
    asks before its first write: a new store then takes the key while still empty."""
    key, stored = scoring_key(config), store.db.meta(KEY)
    if stored == key:
        return False
    if not store.sql("SELECT count(*) FROM items")[1][0][0]:
        note_scored(store, config)
        return False
    return True


def note_scored(store: Store, config: Config) -> None:
    """Every stored item now has `config`'s decisions (a rescore, or a first write)."""
    store.db.set_meta(KEY, scoring_key(config))
