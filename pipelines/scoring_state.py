"""What the stored decisions were made with: each topic's scoring version, pln's own scorer
(matching) version, the NLP pipeline and the trained model. The store keeps it (`pln_meta` key "scored_with").

A stream that starts with other topics or another model than the stored items were scored
with rescores them first (pln/cli_stream.py): it holds the store while it runs, so `pln
rescore` could not run beside it, and a topic added while it ran would otherwise stay empty of
everything stored before. `pln run` only says that `pln rescore` would apply the edit, unless it
decided every stored item again itself (`pln run --full`, see `rescored_by`).
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


def rescored_by(store: Store, run_id: str) -> bool:
    """Whether the run `run_id` decided every stored item afresh, as `pln rescore` would: it
    wrote each of them (so curated it), and read whole every source that delivered one. A
    `pln run --full` where a source failed, or that no longer reads a source (removed from the
    config, or `enabled: false`) whose items are stored, or whose feed left out an item it
    delivered before, did not: its items keep the decisions of before.

    Not seen: an item two sources delivered, of which one left it out of its feed this time
    and the other did not. The store does not say which sources delivered an item in a run."""
    con = store.con
    [(unseen,)] = con.execute(
        "SELECT count(*) FROM items WHERE last_run_id IS DISTINCT FROM $run", {"run": run_id}
    ).fetchall()
    if unseen:
        return False
    read = con.execute(
        "SELECT name FROM sources WHERE run_id = $run AND ok AND not_modified IS NOT TRUE",
        {"run": run_id},
    ).fetchall()
    return store.named_sources() - {None} <= {name for (name,) in read}


def topics_not_scored(store: Store, config: Config) -> list[str]:
    """The topics of `config` the stored items were never scored for (added or renamed since
    they were): a run scores only what it reads, `pln rescore` the items stored before. None
    when the store holds no items, or was written by a pln that did not note its scoring."""
    stored = store.db.meta(KEY)
    if stored is None or not store.sql("SELECT count(*) FROM items")[1][0][0]:
        return []
    scored = json.loads(stored).get("topics", {})
    return [t.id for t in config.topics if t.id not in scored]
