"""The pages `pln serve` builds on request: a topic's items page by page, search, people, the
feedback confirmation (a GET shows a button; only its POST records) and plain message pages.

Every page uses `pln.sinks.cards` for items, so they look like the index page `pln run` writes.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from pln.clean import plain_name
from pln.config import Config, TopicConfig
from pln.sinks.cards import (
    PLATFORM_NAMES,
    item_card,
    item_text,
    page_html,
    snippet,
    source_name,
    subscribe_box,
)
from pln.sinks.entry_text import item_title
from pln.sinks.feeds import FEED_LABELS, FEEDBACK_PATH, feed_filename, feed_url
from pln.sinks.sanitize import safe_url
from pln.sinks.search_words import MAX_CHARS, MAX_PARTS, MAX_TERMS
from pln.sinks.store import FeedEntry

from .queries import Person

PER_PAGE = 20
WHERE = {**PLATFORM_NAMES, "rss": "blogs", "chat": "chats"}  # platforms, as people say
WORDS = {"up": "more like this", "down": "less like this"}


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def feedback_links(up: str, down: str) -> str:
    """An item's feedback links in one topic (`up` and `down`: signed `_feedback` links), as
    the feeds show them."""
    return (
        f'<p class="feedback">Feedback: <a rel="nofollow" href="{esc(up)}">More like '
        f'this</a> · <a rel="nofollow" href="{esc(down)}">Less like this</a></p>'
    )


def feedback_per_topic(pairs: list[tuple[str, str, str]]) -> str:
    """Feedback for an item several topics kept: per (topic title, up link, down link) the
    title and a 👍 👎 pair, each link named for people and screen readers ("More like this in
    Spaced practice"), on one line that wraps between topics (a no-break space keeps a pair
    with its topic's name): eight topics take two lines on a desktop, five on a phone."""
    if not pairs:
        return ""
    shown = []
    for title, up, down in pairs:
        links = "&nbsp;".join(
            f'<a rel="nofollow" href="{esc(href)}" title="{esc(f"{name} in {title}")}" '
            f'aria-label="{esc(f"{name} in {title}")}">{mark}</a>'
            for href, name, mark in ((up, "More like this", "👍"), (down, "Less like this", "👎"))
        )
        shown.append(f"{esc(title)}&nbsp;{links}")
    return f'<p class="feedback">Feedback: {" · ".join(shown)}</p>'


def message_page(
    site: str, title: str, text: str, *, root: str = "", links: dict[str, str] | None = None
) -> bytes:
    """A page with one heading, a paragraph of (escaped) text, and `links` ({href: text})."""
    links = {**(links or {}), f"{root}./": "All topics"}
    listed = "".join(f'<p><a href="{esc(href)}">{esc(t)}</a></p>' for href, t in links.items())
    return page_html(site, title, f"<p>{esc(text)}</p>{listed}", root=root)


def topic_page(
    config: Config,
    topic: TopicConfig,
    entries: list[FeedEntry],
    total: int,
    page: int,
    feedback: Callable[[FeedEntry, str], str],
) -> bytes:
    """One page of a topic's kept items, newest first, with links to newer and older pages."""
    root = "../"
    base = config.outputs.base_url
    others = " · ".join(
        f'<a type="{mime}" href="{root}{esc(feed_filename(topic.id, kind))}">{label}</a>'
        for kind, (label, mime) in FEED_LABELS.items()
    )
    pages = max(1, -(-total // PER_PAGE))
    first = (page - 1) * PER_PAGE + 1
    shown = f"items {first}–{first + len(entries) - 1} of {total}" if entries else "no items"
    cards = "".join(item_card(e, feedback=feedback(e, root)) for e in entries)
    listing = f'<ol class="items" start="{first}">{cards}</ol>' if cards else "<p>No items.</p>"
    here = quote(topic.id, safe="")
    nav = []
    if page > 1:
        nav.append(f'<a rel="prev" href="{here}?page={page - 1}">Newer items</a>')
    if page < pages:
        nav.append(f'<a rel="next" href="{here}?page={page + 1}">Older items</a>')
    body = (
        f"<p>{esc(topic.description or f'Items about {topic.title}.')}</p>"
        f"{subscribe_box(topic.id, topic.title, feed_url(base, topic.id, 'rss'))}"
        f'<p class="meta">Feeds: {others} · <a href="{root}teach/{here}">Teach this topic</a></p>'
        f"<h2>Page {page} of {pages}: {shown}</h2>{listing}"
        f'<nav class="pages" aria-label="Pages">{"".join(nav)}</nav>'
    )
    return page_html(config.outputs.title, topic.title, body, root=root)


@dataclass(frozen=True, slots=True)
class Found:
    """One page of search results: the words searched (the first MAX_CHARS typed), the page's
    entries, how many items in all, the page number (from 1), what of the words was left out
    (`SearchWords.ignored`) and whether more than MAX_CHARS were typed."""

    words: str
    entries: list[FeedEntry]
    total: int
    page: int = 1
    ignored: tuple[str, ...] = ()
    cut: bool = False


def search_page(config: Config, found: Found, feedback: Callable[[FeedEntry, str], str]) -> bytes:
    """The search results, PER_PAGE a page, newest first: each item once, naming every topic
    that kept it, with links to the previous and next pages."""
    words = found.words
    if not words:
        body = "<p>Type a few words in the search field: titles, texts and authors of every "
        body += "kept item are searched.</p>"
        return page_html(config.outputs.title, "Search", body)
    titles = {t.id: t.title for t in config.topics}
    cards = "".join(_search_card(e, titles, feedback) for e in found.entries)
    first = (found.page - 1) * PER_PAGE + 1
    last = first + len(found.entries) - 1
    shown = f" ({first}–{last} shown)" if found.entries and found.total > PER_PAGE else ""
    said = "item mentions" if found.total == 1 else "items mention"
    body = f"<p>{found.total} kept {said} “{esc(words)}”{shown}.</p>{_left_out(found)}"
    if cards:
        body += f'<ol class="items" start="{first}">{cards}</ol>'
    body += _search_nav(words, found.page, found.total)
    return page_html(config.outputs.title, f"Search: {words}", body, query=words)


def _search_card(
    entry: FeedEntry, titles: dict[str, str], feedback: Callable[[FeedEntry, str], str]
) -> str:
    """`entry`'s card, its meta line starting "In <every topic that kept it> · "."""
    topics = ", ".join(esc(titles.get(t, t)) for t in entry.topics or (entry.topic,))
    card = item_card(entry, feedback=feedback(entry, ""), heading="h2")
    return card.replace('<div class="meta">', f'<div class="meta">In {topics} · ', 1)


def _left_out(found: Found) -> str:
    """One line saying what of the words was not searched, or ""."""
    if not (found.ignored or found.cut):
        return ""
    left = ", ".join(f"“{esc(w)}”" for w in found.ignored)
    if found.cut:
        past = f"the rest past {MAX_CHARS} characters"
        left = f"{left} and {past}" if left else past
    return (
        f'<p class="note">Searched for the first {MAX_TERMS} words (up to {MAX_PARTS} parts '
        f"each, in the first {MAX_CHARS} characters); left out: {left}.</p>"
    )


def _search_nav(words: str, page: int, total: int) -> str:
    """Links to the previous and next pages of results, keeping the words."""
    pages = max(1, -(-total // PER_PAGE))
    if pages == 1:
        return ""
    nav = []
    if page > 1:
        nav.append(f'<a rel="prev" href="{esc(_search_link(words, page - 1))}">Previous</a>')
    nav.append(f"<span>Page {page} of {pages}</span>")
    if page < pages:
        nav.append(f'<a rel="next" href="{esc(_search_link(words, page + 1))}">Next</a>')
    return f'<nav class="pages" aria-label="Pages">{"".join(nav)}</nav>'


def _search_link(words: str, page: int) -> str:
    return "search?" + urlencode({"q": words} if page == 1 else {"q": words, "page": page})


def people_page(config: Config, people: list[Person]) -> bytes:
    """Who in the PLN posts most, on which topics the curator kept their items, and the
    feedback given on them."""
    titles = {t.id: t.title for t in config.topics}
    rows = []
    for p in people:
        topics = ", ".join(f"{esc(titles.get(t, t))} {n}" for t, n in p.topics.items()) or "–"
        feedback = f"+{p.liked} / −{p.disliked}" if p.liked or p.disliked else "–"
        search = "search?" + urlencode({"q": p.name})
        rows.append(
            f'<tr><th scope="row"><a href="{esc(search)}">{esc(p.name)}</a></th>'
            f"<td>{esc(', '.join(WHERE.get(x, x) for x in p.platforms))}</td><td>{p.posts}</td><td>{p.kept}</td>"
            f"<td>{topics}</td><td>{feedback}</td></tr>"
        )
    table = (
        '<div class="wide"><table><caption>People by items kept</caption><thead><tr>'
        '<th scope="col">Person</th><th scope="col">Where</th><th scope="col">Posts</th>'
        '<th scope="col">Kept</th><th scope="col">Kept per topic</th>'
        '<th scope="col">Your feedback</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        if rows
        else "<p>Nobody yet: run <code>pln run</code> first.</p>"
    )
    intro = (
        "<p>Everyone whose posts, articles or chat answers reached this curator: how many "
        "they posted (Posts), how many of those a topic kept (Kept), and the “more like this” "
        "(+) and “less like this” (−) feedback you gave on their items.</p>"
    )
    return page_html(config.outputs.title, "People", intro + table)


def confirm_page(
    site: str,
    topic: TopicConfig,
    label: str,
    entry_item,
    fields: dict[str, str],
) -> bytes:
    """What a feedback link shows: the item and a button. Opening it records nothing, so link
    previews, prefetching readers and crawlers cannot give feedback; the button's POST does."""
    if entry_item is not None:
        about = f"<h2>{esc(item_title(entry_item))}</h2>"
        where = [source_name(entry_item)]
        if entry_item.author:
            where.insert(0, plain_name(entry_item.author))  # stored before names were cleaned
        about += f'<p class="meta">{esc(" · ".join(where))}</p>'
        text = snippet(item_text(entry_item))
        about += f"<p>{esc(text)}</p>" if text else ""
    else:
        about = f"<p>Item {esc(fields['item'])}</p>"
    hidden = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in fields.items()
    )
    body = (
        f"{about}<p>Tell the <strong>{esc(topic.title)}</strong> topic you want "
        f"<strong>{WORDS[label]}</strong>? It learns from this the next time you run "
        "<code>pln train</code>.</p>"
        f'<form method="post" action="{FEEDBACK_PATH}">{hidden}'
        f"<button>Yes, {WORDS[label]}</button></form>"
        f'<p><a href="./#{esc(topic.id)}">Back to {esc(topic.title)}</a></p>'
    )
    return page_html(site, f"Feedback: {WORDS[label]}", body)


def thanks_page(
    site: str, topic: TopicConfig, label: str, title: str, written: bool, undo: str
) -> bytes:
    """The confirmation after the POST: what was recorded, and the way to undo it."""
    about = f"“{esc(title)}”" if title else "this item"
    later = (
        ""
        if written
        else "<p>The database cannot take it right now (busy, or its disk is full); your "
        "feedback is kept and will be saved as soon as it can.</p>"
    )
    other = "down" if label == "up" else "up"
    body = (
        f"<p>Recorded <strong>{WORDS[label]}</strong> for {about} in "
        f'<a href="./#{esc(topic.id)}">{esc(topic.title)}</a>.</p>{later}'
        f'<p>Changed your mind? <a rel="nofollow" href="{esc(undo)}">'
        f"{WORDS[other].capitalize()}</a></p>"
    )
    return page_html(site, f"Thanks: {WORDS[label]}", body)


def teach_page(
    config: Config, topic: TopicConfig, suggestions: list, feedback: Callable[[str, str], str]
) -> bytes:
    """The items whose label would teach `topic` the most (pln.learn.label_suggestions), each
    with the feedback links of the feeds: one click on the page records a label."""
    root = "../"
    cards = []
    for s in suggestions:
        item = s.item
        link = safe_url(item.url or item.canonical_url)
        title = esc(item_title(item))
        head = f'<a href="{esc(link)}">{title}</a>' if link else title
        meta = [source_name(item)]
        if item.author and item.kind != "chat_thread":
            meta.insert(0, plain_name(item.author))
        text = snippet(item_text(item))
        body = f'<p class="snippet">{esc(text)}</p>' if text and text != item_title(item) else ""
        now = "kept" if s.kept else "not kept"
        cards.append(
            f'<li id="item-{esc(item.id)}"><h3>{head}</h3>'
            f'<div class="meta">{esc(" · ".join(meta))}</div>{body}'
            f'<p class="why">Why ask: {esc(s.why)}; {now} now</p>{feedback(item.id, root)}</li>'
        )
    if cards:
        listing = f'<ol class="items">{"".join(cards)}</ol>'
    else:
        listing = (
            "<p>Nothing to ask right now: no stored item is near this topic's threshold, "
            "and none splits its rules and its model.</p>"
        )
    body = (
        f"<p>Your answers teach <strong>{esc(topic.title)}</strong> the most on these items: "
        "first where its phrases and your trained model disagree, then where it is least sure. "
        "“More like this” or “Less like this” records a label; <code>pln train</code> learns "
        "from it.</p>"
        f'<p class="meta"><a href="{root}topic/{quote(topic.id, safe="")}">'
        f"{esc(topic.title)}: kept items</a></p>{listing}"
    )
    return page_html(config.outputs.title, f"Teach: {topic.title}", body, root=root)
