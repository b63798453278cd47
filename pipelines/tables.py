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

# A batch job's writer gathers curated tables and writes them once it holds this many items, or
# this many bytes of them in Arrow, whichever comes first (and at the end). Each write costs
# more the more the table holds, and a write while workers run takes a core from them: on 500
# feeds x 50 entries, writes every 10,000 items cost about 1 s more CPU than one write at the
# end. The bytes bound the writer's memory: 25,000 whole blog posts (7 KB of text and HTML each)
# are 194 MB of Arrow, and 50,000 of them at once took the writing process to 1.1 GB.
FLUSH_ROWS = 50_000
FLUSH_BYTES = 64 << 20


@dataclass(frozen=True)
class CuratedTables:
    items: pa.Table
    decisions: pa.Table
    stories: pa.Table

    @classmethod
    def of(cls, items: Sequence[Item], decisions: Sequence[Decision]) -> CuratedTables:
        return cls(items_table(list(items)), decisions_table(list(decisions)), story_keys(items))

    @property
    def nbytes(self) -> int:
        """What the batch holds in Arrow, its items' text and HTML most of it."""
        return self.items.nbytes + self.decisions.nbytes + self.stories.nbytes

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
