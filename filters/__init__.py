"""The filters: topics, NLP, dedup, language, quality and the learned model."""

from .spacy_import import defer_spacy_cli

defer_spacy_cli()  # before any filter imports spaCy (see spacy_import.py)
