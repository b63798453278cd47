"""`CuratedTables`: a curated batch as the Arrow rows the store takes (items, decisions, story
keys), built where the batch was curated so the one writer only appends. Every engine uses it:
the local batch engine, both stream engines and the Beam batch pipeline's staging step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from pln.filters.stories import story_keys
from pln.record import Decision, Item
from pln.sinks.schema import decisions_table, items_table


@dataclass(frozen=True)
class CuratedTables:
    items: pa.Table
    decisions: pa.Table
    stories: pa.Table

    @classmethod
    def of(cls, items: Sequence[Item], decisions: Sequence[Decision]) -> CuratedTables:
        return cls(items_table(list(items)), decisions_table(list(decisions)), story_keys(items))

    @classmethod
    def joined(cls, parts: Sequence[CuratedTables]) -> CuratedTables:
        """parts as one (no copy for a single part; empty tables for none)."""
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.of([], [])
        return cls(
            pa.concat_tables([p.items for p in parts]),
            pa.concat_tables([p.decisions for p in parts]),
            pa.concat_tables([p.stories for p in parts]),
        )
