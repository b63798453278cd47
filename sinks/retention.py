"""When to forget, and what the feeds protect: `outputs.keep_days` applied by `pln run`,
`pln schedule` and `pln stream` about once a day, and by `pln forget` on demand (the store side
is store_forget.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pln import progress
from pln.config import MAX_KEEP_DAYS, Config
from pln.errors import UsageError

from .feeds import topic_digests
from .store import Store
from .store_forget import Forgotten, forget_before, last_forget

FORGET_EVERY = timedelta(days=1)  # automatic forgetting runs at most this often


def shown_stories(store: Store, config: Config, now: datetime) -> set[str]:
    """The stories (story ids, else item ids) that the topic feeds and digests show now."""
    limits = {t.id: t.max_items or config.outputs.feed_items for t in config.topics}
    entries = [e for shown in store.feed_entries_by_topic(limits).values() for e in shown]
    for topic in config.topics:
        for digest in topic_digests(store, topic, config.schedule.timezone, now):
            entries += digest.entries
    return {e.story_id or e.item.id for e in entries}


def forget_old(
    store: Store,
    config: Config,
    *,
    days: int | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    limit: int | None = None,
) -> Forgotten:
    """Forget what no source delivered in the last `days` (default `outputs.keep_days`); at
    most about `limit` items a pass (`forget_before`)."""
    now = now or datetime.now(UTC)
    days = config.outputs.keep_days if days is None else days
    if days > MAX_KEEP_DAYS:  # a cutoff before the year 1 does not exist (OverflowError)
        raise UsageError(
            f"pln forget: give --days N of at most {MAX_KEEP_DAYS} (100 years), got {days}"
        )
    cutoff = now - timedelta(days=days)
    shown = shown_stories(store, config, now)
    return forget_before(store.db, cutoff, shown, dry_run=dry_run, limit=limit)


def forget_if_due(
    store: Store, config: Config, now: datetime | None = None, limit: int | None = None
) -> Forgotten | None:
    """`forget_old` when the config keeps days and it last finished FORGET_EVERY ago or more
    (or, by the clock, later than now). A pass that `limit` cut short is due again at once."""
    if not config.outputs.keep_days:
        return None
    now = now or datetime.now(UTC)
    last = last_forget(store.db)
    if last is not None and timedelta(0) <= now - last < FORGET_EVERY:
        return None  # (a last time in the future: the clock was wrong then, or is now)
    progress.say(
        "forgetting what no source delivered in "
        + progress.counted(config.outputs.keep_days, "day")
    )
    return forget_old(store, config, now=now, limit=limit)
