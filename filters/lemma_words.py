"""The installed lemma lookup table (spacy-lookups-data) as plain strings, loaded once.

Its own module so that topics.py (phrase variants), cues.py and nlp.py share it without
importing each other; spaCy is imported on the first call only.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping


@functools.cache
def lemma_table(lang: str = "en") -> Mapping[str, str]:
    """Word -> lemma from the installed lookup data of lang (empty without it). spaCy's own
    Table keeps only hashes of the strings."""
    from spacy.util import load_language_data, registry

    data = registry.lookups.get(lang) if lang in registry.lookups else {}
    return load_language_data(data["lemma_lookup"]) if "lemma_lookup" in data else {}


@functools.cache
def lookup_words(lang: str = "en") -> frozenset[str]:
    """Every word, form or lemma, of lang's lemma table: the words `topics.variants` may split
    a prefix off ("e" + "learning"), and those whose plural the table gives
    (`topics.unknown_plurals`)."""
    table = lemma_table(lang)
    return frozenset(table).union(table.values())
