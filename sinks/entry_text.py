"""The words that stand for an item in feeds and pages: its title and who shared it."""

from __future__ import annotations

from pln.clean import plain_title
from pln.record import Item

from .store import FeedEntry

TITLE_CHARS = 90


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
