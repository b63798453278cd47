"""The index page in a real headless browser (Debian's chromium): it lists the topics, its
subscribe links lead to feeds the server serves, and a feedback link records a label.

Skipped when chromium is not installed (`apt-get install chromium`; CI installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import urljoin

import feedparser
import pytest
from feedsite import POSTS, SITE, build_site, free_port

from pln.serve import FeedServer
from pln.sinks.store import Store

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


class Dom(HTMLParser):
    """The parts of a dumped DOM the tests look at: links, headings and <pre> text."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.links: list[dict] = []
        self.h1: list[str] = []
        self.pre = ""
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self._in.append(tag)
        if tag == "a":
            self.links.append({**dict(attrs), "text": ""})

    def handle_endtag(self, tag):
        while self._in and self._in.pop() != tag:
            pass

    def handle_data(self, data):
        if "a" in self._in and self.links:
            self.links[-1]["text"] += data
        if "h1" in self._in:
            self.h1.append(data)
        if "pre" in self._in:
            self.pre += data


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    port = free_port()
    config = build_site(tmp, port)
    with FeedServer(config, "127.0.0.1", port) as server:
        yield config, server, tmp / "profile"


def browse(url: str, profile) -> Dom:
    """Load `url` in headless chromium and return the DOM it ends up with."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return Dom(result.stdout)


def test_subscribe_links_on_the_index_page_lead_to_served_feeds(site):
    config, server, profile = site
    page = browse(server.url, profile)
    assert "".join(page.h1) == SITE
    subscribe = [a for a in page.links if a.get("class") == "subscribe"]
    rss = next(a for a in subscribe if a.get("type") == "application/rss+xml")
    assert rss["text"] == "RSS"

    feed_url = urljoin(server.url, rss["href"])
    assert feed_url == f"{config.outputs.base_url}/spaced.rss.xml"
    shown = browse(feed_url, profile)  # the browser shows the XML as text
    feed = feedparser.parse(shown.pre.encode())
    assert feed.bozo == 0 and feed.feed.title == f"{SITE}: Spaced practice"
    titles = {e.title for e in feed.entries}
    assert {p.title for p, _ in POSTS} <= titles

    json_link = next(a for a in subscribe if a.get("type") == "application/feed+json")
    shown = browse(urljoin(server.url, json_link["href"]), profile)
    assert json.loads(shown.pre)["version"] == "https://jsonfeed.org/version/1.1"


def test_a_feedback_link_followed_in_the_browser_records_a_label(site):
    config, server, profile = site
    page = browse(server.url, profile)
    more = next(a for a in page.links if a["text"] == "More like this")
    confirmation = browse(urljoin(server.url, more["href"]), profile)
    assert "".join(confirmation.h1) == "Thanks: more like this"
    with Store(config.outputs.duckdb, read_only=True) as store:
        [label] = store.labels()
    newest = max(POSTS, key=lambda p: p[0].published_at)[0]  # first on the page
    assert (label.item_id, label.topic, label.label, label.origin) == (
        newest.id,
        "spaced",
        1,
        "feed",
    )
