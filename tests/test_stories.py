"""Stories: a blog post and the posts sharing it, the same text posted again and near-duplicate
posts across platforms become one story, shown once in a feed with who shared it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import feedparser
import pyarrow.compute as pc
import pytest
from feedsite import feed_config

from pln.filters.stories import BAND_FORMAT, BANDS, _hash64, link_key, story_keys
from pln.record import Decision, Item
from pln.sinks.feeds import render_feeds
from pln.sinks.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POST_URL = "https://forgettingcurve.example.org/2026/11/retrieval-practice-without-the-quiz/"


def blog_post() -> Item:
    return Item.create(
        source="forgetting-curve",
        platform="rss",
        native_id=POST_URL,
        kind="article",
        author="Maya Okafor",
        title="Retrieval practice without the quiz anxiety",
        text="Low-stakes retrieval practice formats that learners do not dread, with examples "
        "from three onboarding cohorts and what we changed after the first one.",
        url=POST_URL,
        canonical_url=POST_URL.rstrip("/"),
        links=("https://forgettingcurve.example.org/about/", "https://evidence.example.org/rp"),
        published_at=T0,
    )


def social_post(
    platform: str,
    source: str,
    native_id: str,
    author: str,
    url: str,
    text: str,
    links=(),
    hours=1,
    **kw,
) -> Item:
    """A microblog post `hours` after T0."""
    kw.setdefault("kind", "post")
    return Item.create(
        source=source,
        platform=platform,
        native_id=native_id,
        author=author,
        url=url,
        text=text,
        links=tuple(links),
        published_at=T0 + timedelta(hours=hours),
        **kw,
    )


def tweet(n: int, author: str, text: str, links=(), hours=1, **kw) -> Item:
    status = f"21{n:05d}"
    url = f"https://x.com/{author}/status/{status}"
    return social_post("twitter", "x-home", status, author, url, text, links, hours, **kw)


def toot(n: int, author: str, text: str, links=(), hours=1) -> Item:
    native_id = f"https://mastodon.example/users/{author}/statuses/{n}"
    url = f"https://mastodon.example/@{author}/{n}"
    handle = f"{author}@mastodon.example"
    return social_post("mastodon", "mastodon-home", native_id, handle, url, text, links, hours)


def skeet(n: int, author: str, text: str, hours=1) -> Item:
    native_id = f"at://did:plc:{author}/app.bsky.feed.post/3k{n}"
    handle = f"{author}.bsky.social"
    url = f"https://bsky.app/profile/{handle}/post/3k{n}"
    return social_post("bluesky", "bsky-home", native_id, handle, url, text, hours=hours)


def shares() -> list[Item]:
    """Three tweets and a Mastodon post sharing the blog post, its link written as people do."""
    return [
        tweet(1, "jane_ld", "Worth reading before your next session: low-stakes formats",
              [POST_URL + "?utm_source=twitter&utm_medium=social"], hours=2),
        tweet(2, "ben_carter_ld", "Maya on retrieval practice without the dread. Yes.",
              [POST_URL.rstrip("/")], hours=3),
        tweet(3, "priya_raman", "This one: quizzes learners do not dread",
              [POST_URL.replace("https://", "http://www.") + "#comments"], hours=4),
        toot(4, "grace", "Retrieval practice that does not feel like a test, a good read",
             [POST_URL + "?ref=mastodon"], hours=5),
    ]  # fmt: skip


SPAM = "FREE course certificates, any course, instant download, DM us now #elearning"
NEAR_A = (
    "Spaced practice works best when the gaps grow: two days, then a week, then a month. "
    "Try it with your next cohort."
)
NEAR_B = (
    "Spaced practice works best when the gaps grow - two days, then a week, then a month! "
    "Try it with your new cohort"
)


def kept(item: Item, score: float = 0.8, topic: str = "rp") -> Decision:
    return Decision(item.id, topic, score, True, f"matched 'retrieval practice' ({score})")


def write(store: Store, items: list[Item], **kw) -> None:
    store.write(items, [kept(i, **kw) for i in items], [], story_keys=story_keys(items))


def stories(store: Store) -> dict[str, set[str]]:
    """story id -> its item ids."""
    _, rows = store.sql("SELECT story_id, item_id FROM story_members")
    found: dict[str, set[str]] = {}
    for story, item in rows:
        found.setdefault(story, set()).add(item)
    return found


def story_row(store: Store, story_id: str) -> dict:
    columns, rows = store.sql(f"SELECT * FROM stories WHERE story_id = '{story_id}'")
    return dict(zip(columns, rows[0], strict=True))


def how(store: Store) -> dict[str, tuple[str, str | None]]:
    _, rows = store.sql("SELECT item_id, how, duplicate_of FROM item_story")
    return {item: (h, dup) for item, h, dup in rows}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "pln.duckdb") as s:
        yield s


def make_config(tmp_path):
    topic = {"id": "rp", "title": "Retrieval practice", "phrases": ["retrieval practice"]}
    return feed_config(tmp_path, [topic], "https://pln.example/feeds", "Sam's PLN")


# -- link keys -------------------------------------------------------------------------------


def test_link_variants_people_write_are_one_key():
    key = link_key(POST_URL)
    for variant in (
        POST_URL + "?utm_source=twitter&utm_medium=social",
        POST_URL.rstrip("/"),
        POST_URL.replace("https://", "http://www.") + "#comments",
        POST_URL.replace("forgettingcurve.example.org", "ForgettingCurve.Example.org"),
    ):
        assert link_key(variant) == key, variant
    assert link_key(POST_URL + "?page=2") != key
    assert link_key("https://twitter.com/Jane_LD/status/42?s=20") == link_key(
        "https://x.com/jane_ld/status/42"
    )
    assert link_key("mailto:maya@example.org") == "" and link_key("not a url") == ""
    by_did = "https://bsky.app/profile/did:plc:ewvi7nxzy/post/3kabc"
    assert link_key("https://bsky.app/profile/alice.bsky.social/post/3kabc") == link_key(by_did)
    assert link_key(by_did) != link_key("https://bsky.app/profile/did:plc:ewvi7nxzy/post/3kabd")
    assert link_key("https://bsky.app/profile/alice.bsky.social") != link_key(by_did)


# -- link stories ----------------------------------------------------------------------------


def test_a_blog_post_and_the_posts_sharing_its_link_are_one_story(store):
    post, posts = blog_post(), shares()
    unrelated = tweet(9, "omar_designs", "Retrieval practice in onboarding, our first results",
                      ["https://omar.example/retrieval-onboarding"])  # fmt: skip
    write(store, [post, *posts, unrelated])

    found = stories(store)
    assert found[post.id] == {post.id, *(p.id for p in posts)}  # the post is the head
    assert found[unrelated.id] == {unrelated.id}
    row = story_row(store, post.id)
    assert (row["head_item_id"], row["n_items"], row["n_people"]) == (post.id, 5, 4)
    assert sorted(row["platforms"]) == ["mastodon", "rss", "twitter"]
    assert how(store)[post.id] == ("self", None)
    assert {how(store)[p.id] for p in posts} == {("link", None)}


def test_the_feed_shows_the_story_once_naming_who_shared_it(store, tmp_path):
    post, posts = blog_post(), shares()
    write(store, [post, *posts])
    config = make_config(tmp_path)
    render_feeds(store, config, now=T0 + timedelta(days=1))
    feeds = tmp_path / "out" / "feeds"

    rss = feedparser.parse((feeds / "rp.rss.xml").read_bytes())
    assert [e.link for e in rss.entries] == [POST_URL]
    people = "@jane_ld, @ben_carter_ld, @priya_raman, @grace@mastodon.example"
    assert f"Shared by 4 people in your PLN: {people}" in rss.entries[0].summary

    [item] = json.loads((feeds / "rp.json").read_text())["items"]
    assert (
        item["id"] == f"rp:{post.id}"  # the topic's id for the item
        and f"Shared by 4 people in your PLN: {people}" in item["content_html"]
    )
    assert item["_pln"]["story"] == {
        "id": post.id,
        "items": 5,
        "people": 4,
        "shared_by": ["jane_ld", "ben_carter_ld", "priya_raman", "grace@mastodon.example"],
    }
    index = (feeds / "index.html").read_text()
    assert index.count("Shared by 4 people") == 1


def test_when_the_topic_did_not_keep_the_post_its_best_kept_share_stands_for_it(store, tmp_path):
    post, posts = blog_post(), shares()
    decisions = [kept(p, score=0.6 + i / 10) for i, p in enumerate(posts)]
    store.write([post, *posts], decisions, [], story_keys=story_keys([post, *posts]))
    [entry] = store.feed_entries("rp", 10)
    assert entry.item.id == posts[-1].id  # the best score
    assert (entry.story_id, entry.people) == (post.id, 4)


def test_of_equal_kept_shares_the_one_seen_first_stands_for_the_story(store):
    """Not the one whose id sorts first: a share seen later must not take over the entry (a
    reader would show the story again as new)."""
    post = blog_post()
    store.write([post], [], [], story_keys=story_keys([post]))
    pair = [tweet(n, "jane_ld", f"Worth a read, take {n}", [POST_URL], hours=2) for n in (1, 2)]
    first, later = sorted(pair, key=lambda item: item.id, reverse=True)  # later's id first
    for share in (first, later):
        store.write([share], [kept(share)], [], story_keys=story_keys([share]))
        [entry] = store.feed_entries("rp", 10)
        assert entry.item.id == first.id


def test_the_blog_post_arriving_after_its_shares_becomes_the_head(store):
    post, posts = blog_post(), shares()
    write(store, posts[:2])
    write(store, posts[2:])
    assert len(stories(store)) == 1
    write(store, [post])
    assert stories(store) == {post.id: {post.id, *(p.id for p in posts)}}


def test_a_repost_joins_the_original_and_a_post_sharing_two_stories_merges_them(store):
    original = tweet(1, "dr_lena_fox", "The spacing effect is one of the most robust findings")
    repost = tweet(
        2, "sam_whitfield", original.text, kind="repost", reply_to=original.native_id, hours=1
    )  # at the same time (clocks): the original still heads the story
    other = tweet(
        3, "priya_raman", "Our xAPI verbs, annotated", ["https://xapi.example/verbs"], hours=2
    )
    write(store, [original, repost, other])
    assert stories(store)[original.id] == {original.id, repost.id}
    assert how(store)[repost.id] == ("link", None)

    links = [original.url, "https://xapi.example/verbs"]
    both = tweet(4, "jane_ld", "Two good reads", links, hours=3)
    write(store, [both])
    assert stories(store) == {original.id: {original.id, repost.id, other.id, both.id}}


def test_bluesky_posts_stored_with_the_keys_before_5_december_join_new_ones(store):
    """Until 5 December 2026 a Bluesky post's link key named its author: a new quote (by DID)
    of a post stored then, and a new post quoted by a share stored then, still join."""
    old_key = pc.field("key") != _hash64("u:" + link_key(skeet(1, "ana", "").url))
    original = skeet(1, "ana", "Onboarding buddies: what we learned in a year of pairing")
    store.write([original], [kept(original)], [], story_keys=story_keys([original]).filter(old_key))
    quote = social_post("bluesky", "bsky-home", "at://did:plc:bo/app.bsky.feed.post/3k2", "bo",
                        "https://bsky.app/profile/bo/post/3k2", "Worth a read",
                        [original.url], hours=2, kind="quote")  # fmt: skip
    write(store, [quote])
    assert stories(store)[original.id] == {original.id, quote.id}

    share = skeet(3, "cy", "This, about buddies", hours=3)
    share = share.replaced(links=("https://bsky.app/profile/dee.bsky.social/post/3k4",))
    write_old = story_keys([share]).filter(pc.field("key") != _hash64("u:bsky.app/post/3k4"))
    store.write([share], [kept(share)], [], story_keys=write_old)
    later = skeet(4, "dee", "Buddies beat manuals for the first week", hours=4)
    write(store, [later])
    assert {share.id, later.id} in stories(store).values()


# -- same text --------------------------------------------------------------------------------


def test_the_same_text_from_two_spam_accounts_is_a_duplicate_shown_once(store):
    first = tweet(1, "earnfast_now", SPAM, ["https://spam.example/a?ref=1"], hours=1)
    again = tweet(2, "promo_king22", SPAM.upper() + "!!", ["https://spam.example/b"], hours=2)
    write(store, [first])
    write(store, [again])  # a later run
    assert stories(store) == {first.id: {first.id, again.id}}
    assert how(store)[again.id] == ("same-text", first.id)
    assert [e.item.id for e in store.feed_entries("rp", 10)] == [first.id]
    assert store.feed_entries("rp", 10)[0].people == 2


def test_short_stock_phrases_are_not_the_same_text(store):
    a = tweet(1, "jane_ld", "Great read!", ["https://a.example/post"])
    b = tweet(2, "ben_carter_ld", "Great read!", ["https://b.example/post"])
    write(store, [a, b])
    assert len(stories(store)) == 2


def test_a_text_posted_many_times_keeps_one_set_of_bands(store):
    original = tweet(
        0, "ldconf_eu", "Registration opens at 8:00 in Hall B. Have your QR code ready"
    )
    copies = [
        tweet(n, f"fan{n}", original.text, kind="repost", reply_to=original.native_id)
        for n in range(1, 201)
    ]
    write(store, [original, *copies[:150]])
    write(store, copies[150:])
    assert stories(store) == {original.id: {original.id, *(c.id for c in copies)}}
    _, [(banded,)] = store.sql("SELECT count(DISTINCT item_id) FROM item_keys WHERE kind = 'band'")
    assert banded == 1


# -- near-duplicates ---------------------------------------------------------------------------


def test_near_duplicates_across_mastodon_and_bluesky_are_one_story(store):
    on_mastodon = toot(1, "grace", NEAR_A, hours=1)
    on_bluesky = skeet(2, "jkim", NEAR_B, hours=3)
    unrelated = skeet(3, "omar", "Spaced practice needs a calendar: we book the reviews "
                      "on day one and nobody has to remember them.", hours=2)  # fmt: skip
    write(store, [on_mastodon, unrelated])
    write(store, [on_bluesky])
    found = stories(store)
    assert found[on_mastodon.id] == {on_mastodon.id, on_bluesky.id}
    assert found[unrelated.id] == {unrelated.id}
    assert how(store)[on_bluesky.id] == ("near-dup", None)


def test_near_duplicates_in_one_batch_are_one_story(store):
    on_mastodon, on_bluesky = toot(1, "grace", NEAR_A, hours=1), skeet(2, "jkim", NEAR_B, hours=2)
    write(store, [on_bluesky, on_mastodon])
    assert stories(store) == {on_mastodon.id: {on_mastodon.id, on_bluesky.id}}


def test_a_series_of_near_identical_posts_is_not_one_story(store):
    rooms = [
        tweet(1, "ldconf_eu", "Room 3 is full. Overflow seating with a live stream in Room 27."),
        tweet(2, "ldconf_eu", "Room 14 is full. Overflow seating with a live stream in Room 29."),
    ]
    notes = [  # one account, one platform: a series, numbers or not
        tweet(3, "acme", "Release notes are out: faster search, bulk enrolment and new reports"),
        tweet(4, "acme", "Release notes are out: faster search, bulk enrolment and new badges"),
    ]
    write(store, rooms + notes)
    assert len(stories(store)) == 4


def test_near_duplicates_more_than_a_window_apart_are_not_one_story(store):
    early, late = toot(1, "grace", NEAR_A, hours=-24 * 45), skeet(2, "jkim", NEAR_B, hours=0)
    write(store, [early])
    write(store, [late])
    assert len(stories(store)) == 2


def test_near_duplicates_of_an_older_export_written_after_newer_posts_are_one_story(store):
    """Band keys are dropped once they are 30 days older than the newest item, but only after
    30 days in the store: an August export arriving in two writes after November's posts (a
    stream's polls, a first run written in parts) still links its near-duplicates."""
    november = "Our November cohort kept a reading log and shared one quote from it every Friday."
    write(store, [toot(9, "omar", november, hours=0)])
    first = toot(1, "grace", NEAR_A, hours=-24 * 90)
    write(store, [first])
    second = skeet(2, "jkim", NEAR_B, hours=-24 * 90 + 3)
    write(store, [second])
    assert stories(store)[first.id] == {first.id, second.id}
    # Keys stored more than 30 days ago go as before.
    store.con.execute("UPDATE item_keys SET stored_at = stored_at - INTERVAL 31 DAY")
    write(store, [toot(10, "ana", november.replace("Friday", "Monday"), hours=2)])
    _, [(left,)] = store.sql(
        f"SELECT count(*) FROM item_keys WHERE kind = 'band' AND item_id = '{first.id}'"
    )
    assert left == 0


def test_an_old_copy_of_a_text_keeps_the_bands_its_near_duplicates_need(store):
    """An export read newest first stores October's copy of a text before August's. The August
    copy joins it by text, and keeps band keys of its own, since October's are more than 30
    days away: August's near-duplicates find the story through them."""
    october = toot(1, "grace", NEAR_A, hours=0)
    write(store, [october])
    august = skeet(2, "jkim", NEAR_A, hours=-24 * 70)
    write(store, [august])
    near_august = tweet(3, "omar", NEAR_B, hours=-24 * 70 + 5)
    write(store, [near_august])
    found = stories(store)
    assert found[august.id] == {october.id, august.id, near_august.id}  # headed by the oldest


# -- ranking, reruns --------------------------------------------------------------------------


def test_a_story_shared_by_more_people_ranks_higher_in_the_digest(store):
    post, posts = blog_post(), shares()
    lone = tweet(9, "omar_designs", "Retrieval practice in onboarding: our first results, "
                 "with numbers", hours=6)  # fmt: skip
    store.write(
        [post, *posts, lone],
        [kept(post, 0.7), kept(lone, 0.85)],
        [],
        story_keys=story_keys([post, *posts, lone]),
    )
    [(_, entries)] = store.digest_entries(
        "rp", "day", "UTC", T0 + timedelta(days=2), periods=1, per_period=5
    )
    assert [e.item.id for e in entries] == [post.id, lone.id]  # 0.7 + 0.1 * log2(4) > 0.85
    assert entries[0].sharers[0] == "jane_ld"


def test_rewriting_the_same_items_changes_no_story(store):
    items = [blog_post(), *shares(), toot(7, "grace", NEAR_A), skeet(8, "jkim", NEAR_B)]
    write(store, items)
    before = [
        store.sql(f"SELECT * FROM {t} ORDER BY ALL")[1] for t in ("story_members", "item_keys")
    ]
    write(store, items)
    write(store, list(reversed(items)))
    after = [
        store.sql(f"SELECT * FROM {t} ORDER BY ALL")[1] for t in ("story_members", "item_keys")
    ]
    assert after == before


def test_an_edited_post_keeps_only_the_keys_of_its_new_text(store):
    post = social_post("x", "x-home", "e1", "jane", "https://x.example/e1", "Read", [POST_URL])
    write(store, [post])
    edited = post.replaced(text="Read this instead", links=("https://elsewhere.example/a",))
    write(store, [edited])  # stored before: its old keys go, even in a batch of new items
    _, rows = store.sql(f"SELECT kind, \"key\" FROM item_keys WHERE item_id = '{post.id}'")
    new_keys = story_keys([edited]).select(["kind", "key"]).to_pylist()
    assert sorted(rows) == sorted((k["kind"], k["key"]) for k in new_keys)
    assert link_key(POST_URL) not in {key for _, key in rows}


def test_items_written_without_story_keys_are_their_own_stories_in_feeds(store):
    post, posts = blog_post(), shares()
    store.write([post, *posts], [kept(i) for i in (post, *posts)], [])
    assert len(store.feed_entries("rp", 10)) == 5
    write(store, [post, *posts])  # a later run with keys links them
    assert [e.item.id for e in store.feed_entries("rp", 10)] == [post.id]


def test_band_keys_of_another_format_are_dropped_once(store):
    """An older pln's band keys (another MinHash layout) can never match; they are dropped."""
    write(store, [toot(1, "grace", NEAR_A)])
    store.con.execute("UPDATE pln_meta SET value = 'minhash-16x4-old' WHERE key = 'band_format'")
    store.con.execute("UPDATE item_keys SET band = band + 8 WHERE kind = 'band'")  # stale rows
    write(store, [skeet(2, "jkim", NEAR_B, hours=3)])
    _, rows = store.sql(
        "SELECT count(DISTINCT item_id), max(band) FROM item_keys WHERE kind = 'band'"
    )
    assert rows == [(1, BANDS - 1)]  # only the new item's bands, in the current layout
    _, [(fmt,)] = store.sql("SELECT value FROM pln_meta WHERE key = 'band_format'")
    assert fmt == BAND_FORMAT


def test_story_keys_are_the_keys_older_runs_stored():
    """Stored keys link stories across runs, so story_keys gives the values it always gave for
    every kind of key: posts, shares, a Bluesky link, a repost, near-duplicates, non-ASCII text
    (the checksum of the whole table was taken before story_keys was made faster)."""
    repost = tweet(6, "sam_ld", "RT: Maya on retrieval practice", reply_to="2100002", kind="repost")
    bsky_share = toot(
        8, "grace", NEAR_B, ["https://bsky.app/profile/ana.bsky.social/post/3k5", POST_URL]
    )
    unicode = toot(
        9,
        "zoë",
        "Ünïcode STRASSE straße — “quoted”…  ﬁle naïve café see www.example.org/x or "
        "Www.example.org/y, 2,000 learners in Room 14 (10:30)",
    )
    items = [blog_post(), *shares(), skeet(5, "ana", NEAR_A), bsky_share, repost, unicode]
    table = story_keys(items)
    checksum = hashlib.sha256(repr(table.to_pydict()).encode()).hexdigest()[:16]
    assert checksum == "58b86c9570439e1a"
