"""Topic feeds: valid RSS/Atom/OPML, the right items in the right order, safe content."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import feedparser
import pytest

from pln.config import parse_config
from pln.record import Decision, Item
from pln.sinks.feeds import render_feeds
from pln.sinks.store import Store

T0 = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
BASE = "https://pln.example/feeds"


def make_config(tmp_path, **outputs):
    data = {
        "sources": [{"name": "blog", "type": "rss", "url": "https://blog.example/feed"}],
        "topics": [
            {
                "id": "spaced",
                "title": "Spaced practice",
                "phrases": ["spaced practice"],
                "max_items": 3,
                "description": "Spacing & retrieval",
            },
            {"id": "feedback", "title": "Feedback", "phrases": ["feedback"]},
        ],
        "outputs": {
            "duckdb": "out/pln.duckdb",
            "feeds_dir": "out/feeds",
            "base_url": BASE + "/",
            "title": "Jane's PLN",
            **outputs,
        },
    }
    return parse_config(data, tmp_path / "pln.yaml")


def post(n: int, **kw) -> Item:
    fields = {
        "kind": "article",
        "author": "Jane Doe",
        "title": f"Spaced practice, part {n}",
        "html": f"<p>Part {n} <img src=javascript:x onerror=alert(1)><script>alert({n})</script></p>",
        "url": f"https://blog.example/{n}",
        "hashtags": ("lrnchat", "ld"),
        "published_at": T0 + timedelta(hours=n),
    }
    fields.update(kw)
    return Item.create(source="blog", platform="rss", native_id=f"p{n}", **fields)


THREAD = Item.create(
    source="lrnchat",
    platform="chat",
    native_id="2026-11-19#Q1",
    kind="chat_thread",
    author="lrnchat",
    title="Q1. What does spaced practice look like in your courses?",
    text="Q1. What does spaced practice look like in your courses?\nA1. Quizzes at 2, 7 and 21 days",
    hashtags=("lrnchat",),
    published_at=T0 - timedelta(days=1),
    participants=("lrnchat", "jane_ld", "sam"),
)


def keep(it: Item, topic: str = "spaced", score: float = 0.82) -> Decision:
    return Decision(it.id, topic, score, True, "matched 'spaced practice' (lemma)")


@pytest.fixture
def rendered(tmp_path):
    config = make_config(tmp_path)
    posts = [post(n) for n in range(5)]
    decisions = [keep(p) for p in posts[:4]] + [Decision(posts[4].id, "spaced", 0.1, False, "weak")]
    decisions += [keep(THREAD, "feedback", 0.6)]
    with Store(config.outputs.duckdb) as store:
        store.write([*posts, THREAD], decisions, [])
        paths = render_feeds(store, config)
    return config, posts, paths


def parse(path):
    feed = feedparser.parse(path.read_bytes())
    assert feed.bozo == 0, feed.get("bozo_exception")
    return feed


def test_writes_rss_atom_per_topic_and_an_opml_index(rendered):
    config, _, paths = rendered
    feeds = config.outputs.feeds_dir
    assert sorted(p.name for p in paths) == [
        "feedback.atom.xml",
        "feedback.rss.xml",
        "index.opml",
        "spaced.atom.xml",
        "spaced.rss.xml",
    ]
    assert sorted(p.name for p in feeds.iterdir()) == sorted(p.name for p in paths)  # no temp files


@pytest.mark.parametrize("kind", ["rss", "atom"])
def test_feed_holds_latest_kept_items_newest_first(rendered, kind):
    config, posts, _ = rendered
    feed = parse(config.outputs.feeds_dir / f"spaced.{kind}.xml")
    assert feed.version == ("rss20" if kind == "rss" else "atom10")
    assert feed.feed.title == "Jane's PLN: Spaced practice"
    # max_items = 3 of the 4 kept; the dropped post 4 is absent.
    assert [e.title for e in feed.entries] == [f"Spaced practice, part {n}" for n in (3, 2, 1)]
    assert [e.link for e in feed.entries] == [posts[n].url for n in (3, 2, 1)]
    assert [e.published_parsed[:5] for e in feed.entries] == [
        (2026, 11, 19, 20 + n, 0) for n in (3, 2, 1)
    ]
    assert feed.entries[0].author == "Jane Doe"
    assert [t.term for t in feed.entries[0].tags] == ["lrnchat", "ld"]
    self_link = [lnk.href for lnk in feed.feed.links if lnk.rel == "self"]
    assert self_link == [f"{BASE}/spaced.{kind}.xml"]


def test_ids_are_stable_and_follow_the_item_id(rendered, tmp_path):
    config, posts, _ = rendered
    rss = parse(config.outputs.feeds_dir / "spaced.rss.xml")
    atom = parse(config.outputs.feeds_dir / "spaced.atom.xml")
    assert [e.id for e in rss.entries] == [posts[n].id for n in (3, 2, 1)]
    assert [e.id for e in atom.entries] == [f"urn:pln:item:{posts[n].id}" for n in (3, 2, 1)]
    assert all(e.guidislink is False for e in rss.entries)
    root = ET.parse(config.outputs.feeds_dir / "spaced.rss.xml").getroot()
    assert {g.get("isPermaLink") for g in root.iter("guid")} == {"false"}


def test_dates_are_rfc822_in_rss_and_rfc3339_in_atom(rendered):
    config, _, _ = rendered
    rss = ET.parse(config.outputs.feeds_dir / "spaced.rss.xml").getroot()
    assert rss.find("channel/item/pubDate").text == "Thu, 19 Nov 2026 23:00:00 GMT"
    assert rss.find("channel/lastBuildDate").text.endswith(" GMT")
    atom = (config.outputs.feeds_dir / "spaced.atom.xml").read_text()
    assert "<published>2026-11-19T23:00:00Z</published>" in atom


def test_content_is_sanitized_and_says_why(rendered):
    config, _, _ = rendered
    for kind in ("rss", "atom"):
        path = config.outputs.feeds_dir / f"spaced.{kind}.xml"
        entry = parse(path).entries[0]
        html = entry.description if kind == "rss" else entry.content[0].value
        assert html.startswith("<p>Part 3 </p>")  # the bad <img> and the <script> are gone
        assert "<p>Why: matched 'spaced practice' (lemma) (score 0.82)</p>" in html
        raw = path.read_text()
        assert "&lt;script" not in raw and "<script" not in raw and "onerror" not in raw


def test_chat_threads_list_participants(rendered):
    config, _, _ = rendered
    [entry] = parse(config.outputs.feeds_dir / "feedback.rss.xml").entries
    assert entry.title == THREAD.title
    assert "link" not in entry  # a transcript line has no URL of its own
    assert "<p>Participants: @lrnchat, @jane_ld, @sam</p>" in entry.description
    assert "Quizzes at 2, 7 and 21 days" in entry.description
    assert "(score 0.60)" in entry.description


def test_opml_lists_every_topic_feed(rendered):
    config, _, _ = rendered
    root = ET.parse(config.outputs.feeds_dir / "index.opml").getroot()
    outlines = [(o.get("text"), o.get("xmlUrl"), o.get("type")) for o in root.iter("outline")]
    assert outlines == [
        ("Spaced practice", f"{BASE}/spaced.rss.xml", "rss"),
        ("Feedback", f"{BASE}/feedback.rss.xml", "rss"),
    ]


def test_files_are_rewritten_only_when_content_changes(rendered):
    config, posts, paths = rendered
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    contents = {p: p.read_bytes() for p in paths}
    for p in paths:  # make an unnecessary rewrite visible even on coarse clocks
        p.touch()
        os_mtime = p.stat().st_mtime_ns
        stamps[p] = os_mtime
    with Store(config.outputs.duckdb) as store:
        store.write(posts[:2], [keep(posts[0]), keep(posts[1])], [])  # same again: no change
        render_feeds(store, config)
        assert {p: p.stat().st_mtime_ns for p in paths} == stamps
        assert {p: p.read_bytes() for p in paths} == contents

        newest = post(9)
        store.write([newest], [keep(newest)], [])
        render_feeds(store, config)
    spaced = config.outputs.feeds_dir / "spaced.rss.xml"
    assert parse(spaced).entries[0].id == newest.id
    unchanged = [p for p in paths if p.read_bytes() == contents[p]]
    assert sorted(p.name for p in unchanged) == [
        "feedback.atom.xml",
        "feedback.rss.xml",
        "index.opml",
    ]


def test_empty_topic_renders_a_valid_empty_feed(tmp_path):
    config = make_config(tmp_path)
    with Store(config.outputs.duckdb) as store:
        render_feeds(store, config)
    for kind in ("rss", "atom"):
        feed = parse(config.outputs.feeds_dir / f"feedback.{kind}.xml")
        assert feed.entries == []
        assert feed.feed.title == "Jane's PLN: Feedback"


def test_hostile_text_cannot_break_the_xml(tmp_path):
    config = make_config(tmp_path)
    nasty = post(
        1,
        title="</title><script>x</script> & \x00\x1b control",
        author="<b>Eve</b> & co",
        html="",
        text="5 < 6 & ]]> done\x07",
        hashtags=("a&b", "<tag>"),
    )
    with Store(config.outputs.duckdb) as store:
        store.write([nasty], [Decision(nasty.id, "spaced", 0.9, True, "why <not> & more")], [])
        render_feeds(store, config)
    for kind in ("rss", "atom"):
        entry = parse(config.outputs.feeds_dir / f"spaced.{kind}.xml").entries[0]
        assert entry.title == "</title><script>x</script> &  control"
        assert entry.author == "<b>Eve</b> & co"
        assert [t.term for t in entry.tags] == ["a&b", "<tag>"]
        html = entry.description if kind == "rss" else entry.content[0].value
        assert "<p>5 &lt; 6 &amp; ]]&gt; done</p>" in html
        assert "Why: why &lt;not&gt; &amp; more" in html
