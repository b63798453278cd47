"""The served pages as a browser's user meets them: a topic page and search take the same page
numbers (a missing, odd, zero or negative `?page=` is page 1, one past the end the last page,
a huge one costs nothing), and a search result that names several topics offers feedback for
each of them, which records the label for the topic clicked. Real server, real DuckDB."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import pytest
from feedback_kit import give_feedback
from feedsite import FEEDBACK_TOPIC, NOW, feed_config, free_port, post
from helpers import stored_labels
from test_serve import get

from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.feeds import render_feeds
from pln.sinks.store import Store

SPACED = {"id": "spaced", "title": "Spaced practice", "phrases": ["spaced practice"]}
MORE = [
    {"id": f"t{n}", "title": f"Topic number {n}", "phrases": [f"topic {n}"]} for n in range(3, 9)
]
TOPICS = [SPACED, FEEDBACK_TOPIC, *MORE]  # 8 topics

PAGED = [post(100 + n, NOW - timedelta(minutes=n), title=f"Paging note {n}") for n in range(45)]
TWICE = post(200, NOW - timedelta(days=2), title="Paging note kept twice")
EVERYWHERE = post(201, NOW - timedelta(days=3), title="Paging note kept by all eight")
RETIRED_TOO = post(202, NOW - timedelta(days=4), title="Paging note kept by a retired topic")
ONLY_RETIRED = post(203, NOW - timedelta(days=5), title="Lonely retired note")
SPACED_ITEMS = [*PAGED, TWICE, EVERYWHERE, RETIRED_TOO]  # 48 items: 3 pages of 20
BAD = ["abc", "0", "-3", "", "1.5", "²", "2x", "+2", " 2", "0x10", "000"]
HUGE = ["99999999999999999999", "9" * 5000, "0" * 30 + "4"]


def kept(item, topic: str, score: float) -> Decision:
    return Decision(item.id, topic, score, True, "matched")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("paging")
    port = free_port()
    config = feed_config(tmp_path, TOPICS, f"http://127.0.0.1:{port}/feeds")
    decisions = [kept(i, "spaced", 0.7) for i in SPACED_ITEMS]
    decisions += [kept(TWICE, "feedback", 0.9)]  # best-scored: named first
    decisions += [kept(EVERYWHERE, t["id"], 0.5 + n / 100) for n, t in enumerate(TOPICS[1:])]
    decisions += [kept(RETIRED_TOO, "retired", 0.9), kept(ONLY_RETIRED, "retired", 0.9)]
    with Store(config.outputs.duckdb) as store:
        store.write([*SPACED_ITEMS, ONLY_RETIRED], decisions, [])
        render_feeds(store, config, now=NOW)  # pln.css for the browser test
    with FeedServer(config, "127.0.0.1", port) as server:
        yield config, server


def page(server, path: str) -> str:
    status, _, body = get(server, path)
    assert status == 200, (path, status, body[:300])
    return body.decode()


def listed(html: str) -> list[str]:
    return re.findall(r'<li id="item-([0-9a-f]+)"', html)


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


def topic(server, number: str | None = None) -> str:
    return page(server, "topic/spaced" + ("" if number is None else f"?page={quote(number)}"))


def search(server, number: str | None = None, words: str = "paging note") -> str:
    params = {"q": words} | ({} if number is None else {"page": number})
    return page(server, "search?" + urlencode(params))


FIRST = [i.id for i in PAGED[:20]]
LAST = [i.id for i in SPACED_ITEMS[40:]]


# -- page numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", BAD)
def test_a_page_that_is_no_whole_number_from_1_shows_page_1_on_topic_pages_and_search(site, number):
    _, server = site
    shown = topic(server, number)
    assert "<h2>Page 1 of 3: items 1–20 of 48</h2>" in shown and listed(shown) == FIRST
    assert link(shown, "next") == "spaced?page=2" and link(shown, "prev") is None
    found = search(server, number)
    assert "48 kept items mention “paging note” (1–20 shown)." in found
    assert listed(found) == FIRST and "Page 1 of 3" in found
    assert link(found, "next") == "search?q=paging+note&page=2" and link(found, "prev") is None


@pytest.mark.parametrize("number", ["4", "77", *HUGE])
def test_a_page_past_the_end_or_huge_shows_the_last_page_quickly_on_both(site, number):
    _, server = site
    started = time.monotonic()
    shown, found = topic(server, number), search(server, number)
    assert time.monotonic() - started < 5
    assert "<h2>Page 3 of 3: items 41–48 of 48</h2>" in shown and listed(shown) == LAST
    assert link(shown, "prev") == "spaced?page=2" and link(shown, "next") is None
    assert "(41–48 shown)." in found and listed(found) == LAST and "Page 3 of 3" in found
    assert link(found, "prev") == "search?q=paging+note&page=2" and link(found, "next") is None


def test_following_the_page_links_lists_every_item_once_on_both(site):
    _, server = site
    for here, base in ((topic(server), "topic/"), (search(server), "")):
        seen = listed(here)
        while link(here, "next"):
            here = page(server, base + link(here, "next"))
            seen += listed(here)
        assert seen == [i.id for i in SPACED_ITEMS], base


# -- feedback per topic on search results ------------------------------------------------------


def feedback(html: str, item) -> list[tuple[str, str, str, str]]:
    """(topic, label, link text, accessible name) of each feedback link on `item`'s card."""
    card = re.search(rf'<li id="item-{item.id}">.*?</li>', html, re.S).group(0)
    found = []
    for attrs, text in re.findall(r"<a ([^>]*_feedback\?[^>]*)>([^<]+)</a>", card):
        fields = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        assert fields["rel"] == "nofollow"
        query = parse_qs(urlsplit(unescape(fields["href"])).query)
        assert query["item"] == [item.id]
        name = unescape(fields.get("aria-label", text))
        found.append((query["topic"][0], query["label"][0], text, name))
    return found


def test_a_result_kept_by_two_topics_offers_feedback_for_each(site):
    _, server = site
    shown = search(server, words="kept twice")
    assert '<div class="meta">In Feedback, Spaced practice · ' in shown
    assert feedback(shown, TWICE) == [
        ("feedback", "up", "👍", "More like this in Feedback"),
        ("feedback", "down", "👎", "Less like this in Feedback"),
        ("spaced", "up", "👍", "More like this in Spaced practice"),
        ("spaced", "down", "👎", "Less like this in Spaced practice"),
    ]
    line = unescape(re.sub(r"<[^>]+>", "", re.search(r'<p class="feedback">.*?</p>', shown)[0]))
    assert line == "Feedback: Feedback\xa0👍\xa0👎 · Spaced practice\xa0👍\xa0👎"


def test_feedback_for_the_second_topic_records_the_label_for_that_topic(site):
    config, server = site
    shown = search(server, words="kept twice")
    card = re.search(rf'<li id="item-{TWICE.id}">.*?</li>', shown, re.S).group(0)
    href = re.search(r'href="([^"]+)"[^>]*aria-label="Less like this in Spaced practice"', card)
    status, thanks = give_feedback(urljoin(server.url, unescape(href.group(1))))
    assert status == 200 and "Recorded <strong>less like this</strong>" in thanks
    assert ">Spaced practice</a>." in thanks
    mine = [x for x in stored_labels(config.outputs.duckdb) if x.item_id == TWICE.id]
    assert [(x.topic, x.label) for x in mine] == [("spaced", -1)]


def test_eight_topics_get_eight_pairs_on_one_short_line(site):
    _, server = site
    shown = search(server, words="kept by all eight")
    found = feedback(shown, EVERYWHERE)
    named = re.search(r'<div class="meta">In ([^·]*) · ', shown).group(1).split(", ")
    titles = {t["id"]: t["title"] for t in TOPICS}
    assert [titles[t] for t, label, *_ in found if label == "up"] == named and len(named) == 8
    assert [(label, text) for _, label, text, _ in found] == [("up", "👍"), ("down", "👎")] * 8
    line = unescape(re.sub(r"<[^>]+>", "", re.search(r'<p class="feedback">.*?</p>', shown)[0]))
    assert len(line) < 200  # "Topic number 3: More like this · Less like this; " ×8: 400


def test_a_topic_taken_out_of_the_config_offers_no_feedback(site):
    """Its links would answer 404 (the server knows no such topic): none are shown."""
    _, server = site
    shown = search(server, words="kept by a retired topic")
    assert '<div class="meta">In retired, Spaced practice · ' in shown
    assert [(t, label) for t, label, *_ in feedback(shown, RETIRED_TOO)] == [
        ("spaced", "up"),
        ("spaced", "down"),
    ]
    alone = search(server, words="lonely retired note")
    assert listed(alone) == [ONLY_RETIRED.id] and feedback(alone, ONLY_RETIRED) == []
    assert "_feedback?" not in alone


def test_eight_pairs_read_well_in_a_browser_and_pass_the_accessibility_checks(site, tmp_path):
    """In headless chromium: the eight topics' feedback takes at most 2 lines on a desktop and
    5 on a phone, nothing scrolls sideways, and the page passes test_browser's checks (link
    text, contrast, labels). Skipped without chromium."""
    from chromium import CHROMIUM, Chromium
    from test_browser import AUDIT

    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    _, server = site
    url = server.url + "search?" + urlencode({"q": "kept by all eight"})
    lines = (
        "(() => { const p = document.querySelector('p.feedback');"
        " return Math.round(p.getBoundingClientRect().height"
        " / parseFloat(getComputedStyle(p).lineHeight)); })()"
    )
    with Chromium(tmp_path / "profile") as browser:
        browser.open(url)
        assert browser.js(AUDIT) == []
        assert browser.js("document.querySelectorAll('p.feedback a').length") == 16
        for width, most in ((1280, 2), (390, 5)):
            browser.call(
                "Emulation.setDeviceMetricsOverride",
                session=True,
                width=width,
                height=844,
                deviceScaleFactor=1,
                mobile=width < 600,
            )
            assert browser.js(lines) <= most, width
            assert browser.js("document.documentElement.scrollWidth") <= width
            browser.screenshot(tmp_path / f"eight-{width}.png", width=width, height=844)


def test_a_result_of_one_topic_keeps_the_feeds_feedback_links(site):
    _, server = site
    shown = search(server, words="paging note 7")
    assert [(t, label, text) for t, label, text, _ in feedback(shown, PAGED[7])] == [
        ("spaced", "up", "More like this"),
        ("spaced", "down", "Less like this"),
    ]
