"""Bluesky search and author feeds against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import helpers
import pytest
from helpers import query_of

from pln.errors import ConfigError, SourceError
from pln.sources.bluesky import apply_facets
from tests.corpora import corpus

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bluesky"
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
AUTHOR_FEED = "/xrpc/app.bsky.feed.getAuthorFeed"
JANE_POST = "at://did:plc:jane111/app.bsky.feed.post/3lbx7aaaa2k2a"


def make_source(name: str = "sky", **options):
    return helpers.make_source("bluesky", FIXTURES, name, **options)


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_facets_use_utf8_byte_offsets_even_after_emoji():
    text = "🧠✨ read example.org/lo... now"
    start = len("🧠✨ read ".encode())
    end = start + len(b"example.org/lo...")
    link = {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org/long/path"}
    out, links, _, _ = apply_facets(
        text, [{"index": {"byteStart": start, "byteEnd": end}, "features": [link]}]
    )
    assert out == "🧠✨ read https://example.org/long/path now"
    assert links == ["https://example.org/long/path"]
    # an index beyond the text is ignored rather than slicing garbage
    assert apply_facets(
        "short", [{"index": {"byteStart": 2, "byteEnd": 99}, "features": [link]}]
    ) == (
        "short",
        [],
        [],
        [],
    )


def test_search_maps_posts(server):
    server.route(SEARCH, body=body("search_lrnchat.json"), repeat=1)
    server.route(SEARCH, body=b'{"posts": []}')
    result = make_source(query="#lrnchat", base_url=server.url("")).fetch(None)
    items = {i.native_id.rsplit("/", 1)[-1]: i for i in result.items}
    assert set(items) == {"3lbx7aaaa2k2a", "3lbx7bbbb2k2b", "3lbx7cccc2k2c", "3lbx7dddd2k2d"}

    first = items["3lbx7aaaa2k2a"]
    assert first.native_id == JANE_POST
    assert first.kind == "post" and first.author == "jane.bsky.social"
    assert first.url == "https://bsky.app/profile/jane.bsky.social/post/3lbx7aaaa2k2a"
    assert first.text == (
        "🧠✨ Spaced practice, explained: https://learning.example.org/spaced-practice "
        "with @sam.learning.example #lrnchat"
    )
    assert first.links == ("https://learning.example.org/spaced-practice",)
    assert first.mentions == ("sam.learning.example",)
    assert first.hashtags == ("lrnchat",)
    assert first.lang == "en"
    assert first.published_at.isoformat() == "2026-11-19T20:02:10.123000+00:00"

    reply = items["3lbx7bbbb2k2b"]
    assert (reply.kind, reply.reply_to, reply.thread_id) == ("reply", JANE_POST, JANE_POST)
    assert reply.hashtags == ("lrnchat", "spacedpractice")

    external = items["3lbx7cccc2k2c"]
    assert external.links == ("https://journals.example.org/retrieval-review",)
    quote = items["3lbx7dddd2k2d"]
    assert quote.kind == "quote"
    # by handle, as the quoted post's own url (jane's post is in the same search)
    assert quote.links == ("https://bsky.app/profile/jane.bsky.social/post/3lbx7aaaa2k2a",)

    [letter] = result.dead_letters
    assert (
        letter.reason
        == "post at://did:plc:omar333/app.bsky.feed.post/3lbx7eeee2k2e has no record text"
    )
    first_request, second_request = server.requests_log
    assert query_of(first_request) == {"q": "#lrnchat", "sort": "latest", "limit": "50"}
    assert query_of(second_request)["cursor"] == "25"
    assert result.cursor == {"seen_until": "2026-11-19T20:06:01.000000+00:00"}


def test_author_feed_repost_and_polling_stops_at_seen_posts(server):
    server.route(AUTHOR_FEED, body=body("author_feed_newest.json"), repeat=1)
    server.route(AUTHOR_FEED, body=body("author_feed_older.json"))
    source = make_source(actor="@jane.bsky.social", base_url=server.url(""))
    first = source.fetch(None)
    assert [i.kind for i in first.items] == ["repost", "post", "post"]
    repost = first.items[0]
    assert repost.author == "jane.bsky.social"  # the reposter
    assert repost.native_id == "at://did:plc:jane111/app.bsky.feed.repost/3lbx7zzzz2k2z"
    assert repost.reply_to == "at://did:plc:omar333/app.bsky.feed.post/3lbx7cccc2k2c"
    assert repost.text == "Worth a read" and repost.mentions == ("omar.bsky.social",)
    assert repost.url == "https://bsky.app/profile/omar.bsky.social/post/3lbx7cccc2k2c"
    assert repost.published_at.isoformat() == "2026-11-19T20:10:00+00:00"
    assert query_of(server.requests_log[0]) == {"actor": "jane.bsky.social", "limit": "50"}
    assert first.cursor == {"seen_until": "2026-11-19T20:10:00.000000+00:00"}

    # nothing new: the newest page only holds what was seen, and paging stops there
    server.route(AUTHOR_FEED, body=body("author_feed_newest.json"))
    calls = len(server.requests_log)
    again = source.fetch(first.cursor)
    assert again.items == [] and len(server.requests_log) == calls + 1
    assert again.cursor == first.cursor


def test_max_pages_on_the_first_run_reads_the_newest_pages_only(server):
    """As the Mastodon source: the first run reads the newest `max_pages` pages and keeps no
    API cursor, so the next run reads the newest posts again, not older ones."""
    server.route(AUTHOR_FEED, body=body("author_feed_newest.json"))
    source = make_source(actor="jane.bsky.social", base_url=server.url(""), max_pages=1)
    first = source.fetch(None)
    assert len(first.items) == 2
    assert first.cursor == {"seen_until": "2026-11-19T20:10:00.000000+00:00"}
    second = source.fetch(first.cursor)
    assert "cursor" not in query_of(server.requests_log[-1])
    assert second.items == [] and second.cursor == first.cursor


def test_errors_are_one_line(server):
    server.route(
        AUTHOR_FEED, status=400, body='{"error": "InvalidRequest", "message": "Profile not found"}'
    )
    server.route(SEARCH, body=b'{"unexpected": true}')
    with pytest.raises(SourceError, match=r"^source 'sky': HTTP 400 from http://127\.0\.0\.1"):
        make_source(actor="nobody.invalid", base_url=server.url("")).fetch(None)
    with pytest.raises(SourceError, match="has no 'posts' list"):
        make_source(query="x", base_url=server.url("")).fetch(None)
    with pytest.raises(ConfigError, match="set exactly one of query, actor"):
        make_source(query="x", actor="y")
    with pytest.raises(ConfigError, match="limit: must be at most 100"):
        make_source(query="x", limit=101)


@pytest.mark.corpora
def test_corpus_thread_view_and_post_records(server):
    data = corpus("bluesky", "tests", "test_atproto_client", "models", "test_data")
    thread = json.loads((data / "thread_view_post_with_embed_media.json").read_text())["thread"]
    records = [
        json.loads((data / name).read_text())
        for name in ("post_record.json", "extended_post_record.json")
    ]
    author = {"did": records[0]["uri"].split("/")[2], "handle": "test.marshal.dev"}
    views = [
        {
            "uri": r["uri"],
            "cid": r["cid"],
            "author": author,
            "record": r["value"],
            "indexedAt": r["value"]["createdAt"],
        }
        for r in records
    ]
    feed = {"feed": [{"post": thread["post"]}] + [{"post": v} for v in views]}
    server.route(AUTHOR_FEED, body=json.dumps(feed))
    result = make_source(actor="test.marshal.dev", base_url=server.url("")).fetch(None)
    assert result.dead_letters == [] and len(result.items) == 3
    quote, plain, extended = result.items
    assert quote.kind == "quote" and quote.text == "" and quote.lang == "en"
    # the handle the embed's view names (recordWithMedia#view), as the quoted post's url
    assert quote.links == ("https://bsky.app/profile/test.marshal.dev/post/3kahesw26il2z",)
    assert plain.text == "new text114" and plain.published_at.year == 2024
    # a naive createdAt is read as UTC; unknown record keys are ignored
    assert extended.text == "regress test"
    assert extended.published_at.isoformat() == "2023-07-21T01:33:51.481951+00:00"
