"""How one curated item looks on an HTML page: the index page that `render_feeds` writes and the
pages `pln serve` builds on request (a topic's archive, search, people) share these pieces.

Item text reaches a page only as escaped plain text (a snippet, a chat thread's lines), never as
the source's HTML, so nothing a source sends can run or load on our pages.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

from pln.clean import plain_name
from pln.record import Item
from pln.text import html_text

from .entry_text import item_title, shared_by, shown_date
from .sanitize import safe_url, xml_text
from .store import FeedEntry

SNIPPET_CHARS = 280
CHAT_ANSWERS = 12  # answers shown per chat thread on a page
PLATFORM_NAMES = {
    "twitter": "X/Twitter",
    "mastodon": "Mastodon",
    "bluesky": "Bluesky",
    "slack": "Slack",
    "discord": "Discord",
    "whatsapp": "WhatsApp",
    "zoom": "Zoom chat",
    "irc": "IRC",
}

# The stylesheet and script of every page, written beside the feeds as pln.css and pln.js: a
# Content-Security-Policy of 'self' then allows them and nothing inline.
PAGE_CSS = """
:root{color-scheme:light}
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:1.5rem auto;padding:0 1rem;
color:#1f1f1f;background:#fff}
h1{margin:0 0 .2rem;font-size:1.8rem}h2{margin:2.2rem 0 .3rem;border-bottom:1px solid #ccc}
h3,ol.items h2{font-size:1.05rem;margin:0;border:0}
.meta,.why,.shared,.feedback,.help,footer,nav{color:#4a4a4a;font-size:.92rem}
ol.items{padding-left:1.3rem}ol.items li{margin:1rem 0}.why,.shared,.feedback{margin:.15rem 0}
.snippet{margin:.25rem 0}.qa{margin:.3rem 0;padding-left:.8rem;border-left:3px solid #ddd}
.qa p{margin:.15rem 0}
a{color:#0a58a8}a:focus,button:focus,input:focus{outline:2px solid #0a58a8;outline-offset:1px}
.subscribe{background:#f4f6f8;border-radius:6px;padding:.5rem .7rem;margin:.5rem 0}
.subscribe input{box-sizing:border-box;width:100%;max-width:28rem;font:inherit;font-size:.9rem;padding:.2rem}
button{font:inherit;padding:.25rem .8rem;cursor:pointer}
nav form{display:inline}form.search input{font:inherit;padding:.2rem;width:14rem;max-width:60%}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .4rem;
border-bottom:1px solid #e2e2e2;vertical-align:top}
.pages{display:flex;gap:1rem;margin:1.5rem 0}.wide{overflow-x:auto}
caption{text-align:left;font-weight:600;margin-bottom:.3rem}
@media (max-width:40rem){body{margin-top:.8rem}td,th{padding:.2rem;font-size:.9rem}}
li,p{overflow-wrap:anywhere}
"""

PAGE_JS = """
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  navigator.clipboard.writeText(field.value).then(function () {
    button.textContent = "Copied";
  }, function () {
    field.select();
  });
});
"""

REASON_WORDS = [  # the words of a decision's reason, said for people who never saw the config
    (re.compile(r"\(title, lemma\)"), "(in the title, in some form)"),
    (re.compile(r"\(lemma\)"), "(in some form, e.g. a plural)"),
    (re.compile(r"\(title\)"), "(in the title)"),
    (re.compile(r"×(\d+)"), r"\1 times"),
    (re.compile(r"^matched "), "mentions "),
    (re.compile(r"; below threshold ([\d.]+)"), r"; scored below this topic's bar of \1"),
    (re.compile(r"; threshold ([\d.]+)"), r"; scored above this topic's bar of \1"),
    (re.compile(r"; author @(\S+) in your PLN \+[\d.]+"), r"; @\1 is someone you follow closely"),
    (
        re.compile(r"; rules ([\d.]+), classifier ([\d.]+) \(model (\w+)\)"),
        r"; the phrases scored \1 and the model trained on your feedback \2",
    ),
    (
        re.compile(r"no phrase matched; classifier ([\d.]+) \(model (\w+)\)"),
        r"no phrase matched, but the model trained on your feedback gave \1",
    ),
]


def plain_reason(reason: str) -> str:
    """A decision's reason in plain words: "matched 'x' (lemma); threshold 0.5" becomes
    "mentions 'x' (in some form, e.g. a plural); scored above this topic's bar of 0.5"."""
    for pattern, words in REASON_WORDS:
        reason = pattern.sub(words, reason)
    return reason


def source_name(item: Item) -> str:
    """Where an item comes from, as a reader knows it: a blog's host name, "Mastodon", or the
    chat's source name."""
    if item.platform == "rss":
        host = urlsplit(item.url or item.canonical_url).hostname or ""
        return host.removeprefix("www.") or item.source
    if item.kind == "chat_thread":
        return f"{item.source} chat" if item.platform == "chat" else item.source
    return PLATFORM_NAMES.get(item.platform, item.platform)


def snippet(text: str, chars: int = SNIPPET_CHARS) -> str:
    """The start of a text in at most `chars` characters, on one line, cut at a word."""
    flat = " ".join(text.split())
    if len(flat) <= chars:
        return flat
    return flat[:chars].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def item_text(item: Item) -> str:
    """The item's plain text; for an item stored with HTML only, the text of its HTML."""
    if item.text.strip() or not item.html:
        return item.text
    return html_text(item.html).text


def chat_lines(item: Item) -> tuple[str, list[str]]:
    """A chat thread as (question, answers): its text is the root message, then one
    `@author: text` line per reply."""
    lines = [line.strip() for line in item.text.splitlines() if line.strip()]
    question = lines[0] if lines else item.title
    return question, lines[1:]


def item_card(entry: FeedEntry, *, feedback: str = "", heading: str = "h3") -> str:
    """One item as an `<li>`: its title (linked), who and where from, a snippet or the thread's
    question and answers, who shared it and why it was kept, then `feedback` (HTML)."""
    item = entry.item
    title = _escape(_title(item))
    link = safe_url(item.url or item.canonical_url)
    head = f'<a href="{_attr(link)}">{title}</a>' if link else title
    meta = [f"{shown_date(entry):%-d %b %Y}", source_name(item)]
    if item.author and item.kind != "chat_thread":
        meta.insert(0, plain_name(item.author))
    if item.kind == "chat_thread":
        body = _thread(item, link, shown_title=_title(item))
    else:
        text = snippet(item_text(item))
        body = f'<p class="snippet">{_escape(text)}</p>' if text and text != _title(item) else ""
    shared = ""
    if entry.people:
        shared = f'<p class="shared">{_escape(shared_by(entry))}</p>'
    why = (
        f'<p class="why">Why: {_escape(plain_reason(entry.reason))} '
        f"(score {entry.score:.2f} of 1)</p>"
    )
    return (
        f'<li id="item-{_attr(item.id)}"><{heading}>{head}</{heading}>'
        f'<div class="meta">{_escape(" · ".join(meta))}</div>{body}{shared}{why}{feedback}</li>'
    )


def _thread(item: Item, link: str, shown_title: str) -> str:
    question, answers = chat_lines(item)
    asked = (
        "" if question == shown_title else f"<p><strong>Question:</strong> {_escape(question)}</p>"
    )
    shown = "".join(f"<p>{_escape(snippet(a, 400))}</p>" for a in answers[:CHAT_ANSWERS])
    more = len(answers) - CHAT_ANSWERS
    if more > 0:
        rest = f"{more} more answers"
        shown += f'<p><a href="{_attr(link)}">{rest}</a></p>' if link else f"<p>{rest}</p>"
    people = ", ".join(f"@{p.lstrip('@')}" for p in item.participants)
    who = f'<p class="meta">Taking part: {_escape(people)}</p>' if people else ""
    count = f"{len(answers)} answer" + ("" if len(answers) == 1 else "s")
    return f'<div class="qa">{asked}<p class="meta">{count}:</p>{shown}</div>{who}'


def _title(item: Item) -> str:
    return item_title(item)


def _escape(text: str) -> str:
    return html.escape(xml_text(text), quote=False)


def _attr(text: str) -> str:
    return html.escape(xml_text(text), quote=True)


def page_html(
    site: str, title: str, body: str, *, root: str = "", head: str = "", query: str = ""
) -> bytes:
    """A whole page of the site: `root` is the relative path to the feeds' folder ("" on pages
    there, "../" one level down), so pages work under any host name and base path."""
    heading = _escape(site) if title == site else f"{_escape(title)}"
    page_title = _escape(site) if title == site else f"{_escape(title)} · {_escape(site)}"
    nav = (
        f'<nav aria-label="Site"><a href="{root}./">All topics</a> · '
        f'<a href="{root}people">People</a> · '
        f'<form class="search" role="search" action="{root}search" method="get">'
        f'<label for="q">Search</label> <input id="q" name="q" type="search" value="{_attr(query)}"> '
        "<button>Search</button></form></nav>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{page_title}</title>{head}"
        f'<link rel="stylesheet" href="{root}pln.css"><script src="{root}pln.js" defer></script>'
        f"</head>\n<body><header>{nav}<h1>{heading}</h1></header>\n<main>{body}</main>"
        f"</body></html>\n"
    ).encode()


def subscribe_box(topic_id: str, title: str, feed_url: str) -> str:
    """The feed's address with a copy button and a line on what to do with it."""
    field = f"feed-{_attr(topic_id)}"
    return (
        f'<div class="subscribe"><label for="{field}">Feed address of {_escape(title)}:</label> '
        f'<input id="{field}" readonly value="{_attr(feed_url)}"> '
        f'<button type="button" data-copy="{field}">Copy</button>'
        '<p class="help">To subscribe, paste this address into your feed reader '
        "(“Add feed” or “Subscribe” in Feedly, Inoreader, NetNewsWire, Thunderbird; a line "
        "in <code>~/.newsboat/urls</code> for newsboat). "
        "</p></div>"
    )
