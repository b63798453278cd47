"""The words that stand for an item in feeds and pages: its title and who shared it."""

from __future__ import annotations

from datetime import datetime, timedelta

from pln.clean import plain_title
from pln.record import Item

from .store import FeedEntry

TITLE_CHARS = 90
CLOCK_SKEW = timedelta(days=1)  # how far past first sight a publication date is believed


def item_title(item: Item) -> str:
    """The item's title, or the start of its text, in at most TITLE_CHARS characters."""
    title = plain_title(item.title) or " ".join(item.text.split())
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1].rstrip() + "…"
    return title or f"{item.kind} by {item.author or 'unknown'}"


def shared_by(entry: FeedEntry) -> str:
    """ "Shared by 3 people in your PLN: @a, @b, @c" ('' when nobody shared it)."""
    if not entry.people:
        return ""
    names = ", ".join(f"@{name.lstrip('@')}" for name in entry.sharers)
    more = entry.people - len(entry.sharers)
    if names and more > 0:
        names += f" and {more} more"
    return f"Shared by {people(entry.people)} in your PLN" + (f": {names}" if names else "")


def people(n: int) -> str:
    return "1 person" if n == 1 else f"{n} people"


def shown_date(entry: FeedEntry) -> datetime:
    """When an entry says its item was published: the date it claims, unless that is more than
    CLOCK_SKEW after the item was first seen; then its sort time (the claim clamped to first
    sight), so a bogus future date reaches no feed or page."""
    claimed = entry.published_at
    return entry.sort_at if claimed > entry.first_seen_at + CLOCK_SKEW else claimed
