"""What the ingester already sent of each source, so that a feed with one new entry sends one
item to Kafka, not its whole window of entries again.

A feed answers with all its entries (10 to 50, say) whenever anything in it changed. Sending
them all each time cost the stream a curation and an upsert of every unchanged entry: 30 items
for every new post in `bench/bench_left_running.py`. An item is sent when it is new, when it
changed (its content, not its fetch time), or when it was last sent RESEND_AFTER ago: the store
counts an item as still delivered (`last_seen_at`, which `outputs.keep_days` forgets by) only
when it arrives, so an entry a feed keeps listing for months is delivered again once a day.

Kept in memory only: after a restart every source's items are sent once more, which is
harmless (the stream upserts by id). A source whose options changed starts afresh.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pln.config import SourceConfig
from pln.record import Item

RESEND_AFTER = 86_400.0  # seconds: an unchanged item is still delivered once a day


class SentItems:
    """Per source: each item id it last answered with, the digest of that item, and when the
    item was last sent."""

    def __init__(self) -> None:
        self._sources: dict[str, tuple[str, dict[str, tuple[int, float]]]] = {}

    def unsent(
        self, source: SourceConfig, items: Sequence[Item], now: float
    ) -> tuple[list[Item], dict[str, int]]:
        """The items to send now, and the digest of every item (for `note_sent`)."""
        known = self._known(source)
        digests = {item.id: digest(item) for item in items}
        fresh = []
        for item in items:
            before = known.get(item.id)
            if before is None or before[0] != digests[item.id] or now - before[1] >= RESEND_AFTER:
                fresh.append(item)
        return fresh, digests

    def note_sent(
        self, source: SourceConfig, digests: dict[str, int], sent: Iterable[str], now: float
    ) -> None:
        """After the broker acknowledged a poll that read the source afresh: its items are now
        those of `digests`, and the ids in `sent` went out at `now`."""
        known, sent = self._known(source), set(sent)
        self._sources[source.name] = (
            source.fingerprint,
            {i: (d, now if i in sent else known.get(i, (d, 0.0))[1]) for i, d in digests.items()},
        )

    def keep_only(self, names: Iterable[str]) -> None:
        """Forget the sources no longer in the config."""
        names = set(names)
        for name in [n for n in self._sources if n not in names]:
            del self._sources[name]

    def _known(self, source: SourceConfig) -> dict[str, tuple[int, float]]:
        fingerprint, known = self._sources.get(source.name, ("", {}))
        return known if fingerprint == source.fingerprint else {}


def digest(item: Item) -> int:
    """What an item is, whenever it was fetched: Python's hash of its fields (salted per
    process, which is fine for a memory that does not outlive it; 3 us an item against 15 us
    for a digest of its JSON)."""
    return hash(item.replaced(fetched_at=None))
