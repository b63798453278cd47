"""The served "teach this topic" page (`<base>/teach/<topic>`) over real HTTP on 127.0.0.1:
the stored items whose label would teach the topic the most, with the feeds' feedback links,
so a person's click there becomes a label that `pln train` learns from."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urljoin

import pytest
from feedback_kit import give_feedback
from feedsite import build_site, free_port
from test_serve import get, labels

from pln.record import Decision, Item
from pln.serve import FeedServer
from pln.sinks.store import Store


def unkept(n: int, text: str) -> Item:
    return Item.create(
        source="blog",
        platform="rss",
        native_id=f"u{n}",
        kind="article",
        title=f"Note {n}",
        text=text,
        url=f"https://blog.example/u{n}",
        published_at=datetime(2026, 1, 18, 9, tzinfo=UTC),
    )


# One mention of the phrase in the text (rules 0.63): the stored item nearest the threshold.
BORDERLINE = unkept(1, "A note on spaced practice for new managers.")
UNRELATED = unkept(2, "The canteen now opens at eight.")


@pytest.fixture
def site(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    with Store(config.outputs.duckdb) as store:
        decision = Decision(BORDERLINE.id, "spaced", 0.63, True, "matched 'spaced practice'")
        store.write([BORDERLINE, UNRELATED], [decision], [])
    with FeedServer(config, "127.0.0.1", port) as server:
        yield config, server


def asked(page: str) -> list[str]:
    return re.findall(r'<li id="item-([0-9a-f]+)">', page)


def test_the_teach_page_asks_first_about_the_item_nearest_the_threshold(site):
    _, server = site
    status, headers, body = get(server, "teach/spaced")
    page = body.decode()
    assert status == 200 and headers["cache-control"] == "no-store"
    assert "<title>Teach: Spaced practice" in page
    found = asked(page)
    assert found[0] == BORDERLINE.id  # 0.63 is nearer the threshold 0.5 than a title's 0.78
    assert UNRELATED.id not in found  # nothing matched and no model: nothing to learn from it
    assert "Why ask: rules score 0.63; kept now" in page
    # The topic's page leads here.
    assert 'href="../teach/spaced">Teach this topic</a>' in get(server, "topic/spaced")[2].decode()
    assert get(server, "teach/nope")[0] == 404


def test_a_click_on_the_teach_page_records_a_label_and_the_item_is_not_asked_again(site):
    config, server = site
    page = get(server, "teach/spaced")[2].decode()
    first = re.search(r'<li id="item-[0-9a-f]+">.*?</li>', page, re.S).group(0)
    link = re.search(r'<a rel="nofollow" href="([^"]+)">Less like this', first).group(1)
    status, thanks = give_feedback(urljoin(server.url + "teach/spaced", unescape(link)))
    assert status == 200 and "Recorded <strong>less like this</strong>" in thanks
    assert [(x.item_id, x.topic, x.label) for x in labels(config)] == [
        (BORDERLINE.id, "spaced", -1)
    ]
    again = asked(get(server, "teach/spaced")[2].decode())
    assert BORDERLINE.id not in again and again  # the other suggestions stay
