"""The batches that travel between steps, and the coder they travel with.

Beam samples the encoded size of elements as they pass (about 25 per step and worker for a
100-batch run) and, with its default pickle coder, samples by pickling the whole element: for
batches of a thousand items that was ~1 s per worker per 100k items, spent on a metric. Our
coder still pickles a batch when it has to move, but estimates its size from its length.
"""

from __future__ import annotations

import pickle
from typing import Any

import apache_beam as beam

from pln.record import Item

ESTIMATED_ITEM_BYTES = 2_000  # for Beam's byte-size metrics only


class ItemBatch(list[Item]):
    """Items read or polled together, curated together."""


class BatchCoder(beam.coders.Coder):
    """Pickles a batch (a list-like of records, or anything with `items`); sized by length."""

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    def decode(self, encoded: bytes) -> Any:
        return pickle.loads(encoded)

    def is_deterministic(self) -> bool:
        return False

    def estimate_size(self, value: Any) -> int:
        items = getattr(value, "items", value)
        return ESTIMATED_ITEM_BYTES * (len(items) if isinstance(items, list) else 1)

    def to_type_hint(self):
        return Any


beam.coders.registry.register_coder(ItemBatch, BatchCoder)
