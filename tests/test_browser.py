"""The served site in a real headless browser (Debian's chromium, driven over the DevTools
protocol: tests/chromium.py) and under a real crawler (wget): subscribe links lead to served
feeds, a person's click records feedback while crawlers following every link record none, the
pages pass basic accessibility checks, and screenshots at desktop and mobile widths are saved
(to $PLN_SCREENSHOTS, else the test's temp folder).

Skipped when chromium is not installed (`apt-get install chromium`; CI installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import feedparser
import pytest
from chromium import CHROMIUM, Chromium
from feedsite import POSTS, SITE, build_site, free_port
from helpers import stored_labels

from pln.serve import FeedServer
from pln.sinks.store import Store

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# Accessibility checks run in the page: lang, heading order, link text, labels, contrast (WCAG
# AA: 4.5:1 for text, computed from the colours the browser actually uses).
AUDIT = r"""
(() => {
  const problems = [];
  if (!document.documentElement.lang) problems.push("no lang on <html>");
  let last = 0;
  for (const h of document.querySelectorAll("h1,h2,h3,h4,h5,h6")) {
    const level = +h.tagName[1];
    if (level > last + 1) problems.push(`heading ${h.tagName} after h${last}: ${h.textContent}`);
    last = level;
  }
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  for (const a of document.querySelectorAll("a[href]")) {
    const text = (a.textContent || a.getAttribute("aria-label") || "").trim();
    if (!text || /^(here|click here|more|link)$/i.test(text)) problems.push(`link text: ${text}`);
  }
  for (const input of document.querySelectorAll("input:not([type=hidden])")) {
    if (!input.labels || !input.labels.length) problems.push(`input without label: ${input.id}`);
  }
  const rgb = (c) => c.match(/[\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.offsetParent) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${el.textContent.slice(0, 40)}`);
  }
  return problems;
})()
"""

LINKS = "[...document.querySelectorAll('a[href]')].map(a => a.href)"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    port = free_port()
    config = build_site(tmp, port)
    with FeedServer(config, "127.0.0.1", port) as server:
        yield config, server, tmp


@pytest.fixture(scope="module")
def browser(site):
    _, _, tmp = site
    with Chromium(tmp / "profile") as chromium:
        yield chromium


def labels(config):
    return stored_labels(config.outputs.duckdb)


def test_subscribe_links_on_the_index_page_lead_to_served_feeds(site, browser):
    config, server, _ = site
    browser.open(server.url)
    assert browser.js("document.querySelector('h1').textContent") == SITE
    subscribe = browser.js(
        "[...document.querySelectorAll('a.subscribe')]"
        ".map(a => ({href: a.href, type: a.type, text: a.textContent}))"
    )
    rss = next(a for a in subscribe if a["type"] == "application/rss+xml")
    assert rss["text"] == "RSS" and rss["href"] == f"{config.outputs.base_url}/spaced.rss.xml"
    feed_field = browser.js("document.getElementById('feed-spaced').value")
    assert feed_field == rss["href"]  # the address the copy button copies

    browser.open(rss["href"])  # the browser shows the XML as text
    feed = feedparser.parse(browser.js("document.body.innerText").encode())
    assert feed.bozo == 0 and feed.feed.title == f"{SITE}: Spaced practice"
    assert {p.title for p, _ in POSTS} <= {e.title for e in feed.entries}

    json_link = next(a for a in subscribe if a["type"] == "application/feed+json")
    browser.open(json_link["href"])
    shown = browser.js("document.body.innerText")
    assert json.loads(shown)["version"] == "https://jsonfeed.org/version/1.1"


def test_a_person_clicking_more_like_this_then_the_button_records_a_label(site, browser):
    config, server, _ = site
    browser.open(server.url)
    browser.click_and_wait("a[rel=nofollow][href*='label=up']")
    assert browser.js("document.querySelector('h1').textContent") == "Feedback: more like this"
    assert labels(config) == []  # opening the link records nothing
    browser.click_and_wait("form[method=post] button")
    assert browser.js("document.querySelector('h1').textContent") == "Thanks: more like this"
    [label] = labels(config)
    newest = max(POSTS, key=lambda p: p[0].published_at)[0]  # first on the page
    assert (label.item_id, label.topic, label.label, label.origin) == (
        newest.id,
        "spaced",
        1,
        "feed",
    )
    with Store(config.outputs.duckdb) as store:  # leave the site as the crawl tests expect it
        store.con.execute("DELETE FROM labels")


def same_site(url: str, server) -> bool:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/" == urljoin(server.url, "/")


def test_chromium_following_every_link_of_the_site_records_no_label(site, browser):
    config, server, _ = site
    seen, queue, feedback_pages = set(), [server.url], 0
    while queue and len(seen) < 150:
        url = queue.pop(0).split("#")[0]
        if url in seen or not same_site(url, server):
            continue
        seen.add(url)
        browser.open(url)
        feedback_pages += "/_feedback?" in url
        if browser.js("document.contentType") == "text/html":
            queue += browser.js(LINKS)  # rel=nofollow or not
    assert feedback_pages >= 2 * len(POSTS) and any("/topic/" in u for u in seen)
    assert labels(config) == []


@pytest.mark.skipif(shutil.which("wget") is None, reason="wget is not installed")
def test_wget_mirroring_the_site_records_no_label(site, tmp_path):
    config, server, _ = site
    # -e robots=off: a crawler that ignores robots.txt and rel=nofollow.
    subprocess.run(
        ["wget", "-q", "-r", "-l", "5", "-e", "robots=off", "-P", str(tmp_path), server.url],
        timeout=120,
        check=False,  # wget exits 8 for the 404s of a site; the files tell what it fetched
    )
    fetched = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert sum(name.startswith("_feedback?") for name in fetched) >= 2 * len(POSTS)
    assert labels(config) == []
    # robots.txt keeps polite crawlers away from the feedback pages.
    polite = tmp_path / "polite"
    subprocess.run(["wget", "-q", "-r", "-l", "5", "-P", str(polite), server.url], timeout=120)
    assert not [p for p in polite.rglob("_feedback*") if p.is_file()]
    assert (polite / urlsplit(server.url).netloc / "feeds" / "feedback.rss.xml").is_file() or (
        polite / urlsplit(server.url).netloc / "feeds" / "topic" / "feedback"
    ).is_file()
    assert labels(config) == []
    robots = RobotFileParser(urljoin(server.url, "/robots.txt"))
    robots.read()
    link = server.url + "_feedback?" + server.key.query(POSTS[0][0].id, "spaced", "up", _tomorrow())
    assert not robots.can_fetch("*", link)
    assert robots.can_fetch("*", server.url + "feedback.rss.xml")  # a topic called "feedback"
    assert robots.can_fetch("*", server.url + "topic/spaced")


@pytest.mark.parametrize("page", ["", "topic/spaced", "search?q=spaced", "people", "_feedback"])
def test_pages_pass_basic_accessibility_checks_and_are_screenshot(site, browser, page):
    config, server, tmp = site
    url = server.url + page
    if page == "_feedback":
        url += "?" + server.key.query(POSTS[0][0].id, "spaced", "up", _tomorrow())
    browser.open(url)
    assert browser.js("document.documentElement.lang") == "en"
    assert browser.js(AUDIT) == []
    # No horizontal scrolling on a phone.
    shots = Path(os.environ.get("PLN_SCREENSHOTS") or tmp / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    name = (page.split("?")[0] or "index").replace("/", "-")
    browser.screenshot(shots / f"{name}-desktop.png", width=1280, height=900)
    browser.screenshot(shots / f"{name}-mobile.png", width=390, height=844, mobile=True)
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        session=True,
        width=390,
        height=844,
        deviceScaleFactor=1,
        mobile=True,
    )
    wide = browser.js("document.documentElement.scrollWidth")
    browser.call("Emulation.clearDeviceMetricsOverride", session=True)
    assert wide <= 390, f"{page or 'index'} is {wide} px wide on a 390 px phone"
    assert (shots / f"{name}-mobile.png").stat().st_size > 5000


def _tomorrow():
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(days=1)
