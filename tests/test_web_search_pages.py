"""The served search page, page by page, as a visitor sees it: numbering that goes on, links to
the previous and next pages that keep the words, odd page numbers, one card per item naming
every topic that kept it, what a long query left out, and escaping. Real DuckDB, real server."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlencode

import pytest
from feedsite import NOW, free_port, post, site_config
from test_serve import get

from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.store import Store

PAGED = [
    post(100 + n, NOW - timedelta(minutes=n), title=f"Interleaving, part {n}") for n in range(45)
]
BOTH = post(200, NOW - timedelta(days=2), title="Retrieval kept twice")
WORDS = "alpha bravo charlie delta echo foxtrot golf hotel"  # 8 terms: all a search looks for
EIGHT = post(201, NOW - timedelta(days=3), title=f"{WORDS} notes")


def kept(item, topic: str, score: float = 0.8) -> Decision:
    return Decision(item.id, topic, score, True, "matched")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server over a store of 45 "Interleaving" items (newest first: PAGED's order), one item
    kept by "spaced", "feedback" and "retired" (a topic no longer in the config), and EIGHT."""
    tmp_path = tmp_path_factory.mktemp("search_pages")
    port = free_port()
    config = site_config(tmp_path, port)
    decisions = [kept(i, "spaced") for i in [*PAGED, EIGHT]]
    decisions += [kept(BOTH, "spaced", 0.6), kept(BOTH, "feedback", 0.9), kept(BOTH, "retired")]
    with Store(config.outputs.duckdb) as store:
        store.write([*PAGED, BOTH, EIGHT], decisions, [])
    with FeedServer(config, "127.0.0.1", port) as running:
        yield running


def page(server, path: str) -> str:
    status, _, body = get(server, path)
    assert status == 200, body
    return body.decode()


def search(server, words: str, **extra) -> str:
    return page(server, "search?" + urlencode({"q": words, **extra}))


def listed(html: str) -> list[str]:
    """The ids of the items a page lists, in order."""
    return re.findall(r'<li id="item-([0-9a-f]+)"', html)


def start(html: str) -> int:
    return int(re.search(r'<ol class="items" start="(\d+)">', html).group(1))


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


# -- paging ------------------------------------------------------------------------------------


def test_following_next_lists_every_item_once_numbered_on(server):
    first = search(server, "interleaving part")
    assert "45 kept items mention “interleaving part” (1–20 shown)." in first
    assert start(first) == 1 and link(first, "prev") is None
    seen, here, starts = listed(first), first, [1]
    while link(here, "next"):
        here = page(server, link(here, "next"))
        assert "45 kept items mention “interleaving part”" in here  # the words were kept
        starts.append(start(here))
        seen += listed(here)
    assert seen == [i.id for i in PAGED]  # newest first, each once, none left out
    assert starts == [1, 21, 41]
    assert "(41–45 shown)." in here and "Page 3 of 3" in here


def test_previous_leads_back_to_the_page_before(server):
    second = search(server, "interleaving part", page=2)
    third = page(server, link(second, "next"))
    assert listed(page(server, link(third, "prev"))) == listed(second)
    first = page(server, link(second, "prev"))
    assert listed(first) == [i.id for i in PAGED[:20]] and start(first) == 1


@pytest.mark.parametrize("bad", ["abc", "0", "-2", "", "1.5", "\u00b2", "2x"])
def test_a_page_that_is_no_whole_number_from_1_shows_page_1(server, bad):
    shown = search(server, "interleaving part", page=bad)
    assert listed(shown) == [i.id for i in PAGED[:20]] and start(shown) == 1


@pytest.mark.parametrize("past", ["4", "99", str(10**30)])
def test_a_page_past_the_end_shows_the_last_page(server, past):
    shown = search(server, "interleaving part", page=past)
    assert listed(shown) == [i.id for i in PAGED[40:]] and start(shown) == 41
    assert link(shown, "prev") == "search?q=interleaving+part&page=2"
    assert link(shown, "next") is None


def test_one_page_of_results_has_no_page_links_nor_range(server):
    shown = search(server, "part 7")
    assert "1 kept item mentions “part 7”." in shown
    assert 'rel="next"' not in shown and 'rel="prev"' not in shown


# -- one card per item -------------------------------------------------------------------------


def test_an_item_kept_by_several_topics_is_listed_once_naming_them(server):
    shown = search(server, "retrieval kept twice")
    assert "1 kept item mentions" in shown and listed(shown) == [BOTH.id]
    ids = re.findall(r'\bid="([^"]+)"', shown)
    assert len(ids) == len(set(ids)) and ids.count(f"item-{BOTH.id}") == 1
    # best-scored first; a topic taken out of the config is named by its id
    assert '<div class="meta">In Feedback, retired, Spaced practice · ' in shown


# -- what a long query left out, escaping ------------------------------------------------------


def test_a_query_of_more_than_8_words_says_which_were_left_out(server):
    shown = search(server, f"{WORDS} india juliett")
    assert listed(shown) == [EIGHT.id]
    note = re.search(r'<p class="note">(.*?)</p>', shown).group(1)
    assert note.startswith("Searched for the first 8 words")
    assert note.endswith("left out: “india”, “juliett”.")
    assert '<p class="note">' not in search(server, WORDS)


def test_a_query_longer_than_200_characters_says_the_rest_was_left_out(server):
    shown = search(server, "notes " + "x" * 300)
    assert "left out: the rest past 200 characters." in shown
    assert f"mention “notes {'x' * 194}”." in shown  # the 200 searched


def test_a_query_with_markup_is_escaped_everywhere(server):
    words = f'{WORDS} <script>alert("x")</script>'
    _, _, body = get(server, "search?" + urlencode({"q": words}))
    shown = body.decode()
    assert "<script>alert" not in shown and shown.count("</script>") == 1  # the page's pln.js
    typed = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    assert f"“{WORDS} {typed}”." in shown  # the summary
    # the note: a quote opens a phrase, so the words are cut at it
    assert "left out: “&lt;script&gt;alert(”, “x”, “)&lt;/script&gt;”." in shown
    assert f'value="{WORDS} {typed}"' in shown  # the search field
