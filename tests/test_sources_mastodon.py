"""Mastodon timelines against a real HTTP server on 127.0.0.1 serving recorded responses."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import helpers
import pytest
from helpers import query_of

from pln.errors import ConfigError, SourceError
from pln.sources.html_text import html_to_text
from tests.corpora import corpus

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mastodon"
TAG = "/api/v1/timelines/tag/lrnchat"
TOKEN = "mastodon-test-token-42"


def make_source(name: str = "masto", **options):
    return helpers.make_source("mastodon", FIXTURES, name, **options)


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def tag_source(server, **options):
    return make_source(instance=server.url(""), timeline="hashtag:#lrnchat", **options)


def test_hashtag_timeline_maps_statuses(server):
    older = server.url(f"{TAG}?max_id=113500000000000101")
    server.route(
        TAG, body=body("tag_newest.json"), headers={"Link": f'<{older}>; rel="next"'}, repeat=1
    )
    server.route(TAG, body=body("tag_older.json"))
    result = tag_source(server).fetch(None)
    items = {i.native_id.rsplit("/", 1)[-1]: i for i in result.items}

    # 103 is followers-only (skipped), 101 has no content (dead letter)
    assert set(items) == {
        "113500000000000105",
        "113500000000000104",
        "113500000000000102",
        "113500000000000099",
    }

    boost = items["113500000000000105"]
    assert boost.kind == "repost" and boost.author == "sam_ld@social.example"
    assert boost.native_id == "https://social.example/users/sam_ld/statuses/113500000000000105"
    assert (
        boost.reply_to == boost.thread_id == "https://learning.example/users/omar/statuses/998877"
    )
    assert boost.text == (
        "Retrieval practice is the most effective study strategy we know of. "
        "Review: https://journals.example.org/retrieval-review #lrnchat"
    )
    assert boost.links == ("https://journals.example.org/retrieval-review",)
    assert boost.mentions == ("omar@learning.example",)
    assert boost.hashtags == ("lrnchat",)

    reply, question = items["113500000000000104"], items["113500000000000102"]
    assert reply.kind == "reply" and reply.reply_to == question.native_id
    assert reply.thread_id == question.native_id == question.thread_id
    assert reply.mentions == ("sam_ld@social.example",) and reply.links == ()
    assert reply.url == "https://social.example/@jane_ld/113500000000000104"
    assert question.title == "long thread, chat night"  # the content warning is kept
    assert question.hashtags == ("lrnchat",) and question.lang == "en"
    assert question.published_at.isoformat() == "2026-11-19T20:02:00+00:00"

    quote = items["113500000000000099"]
    assert quote.kind == "quote" and quote.lang == "en"
    assert (
        quote.text
        == "This, with a spacing calendar: jane.example.org/spacing\n\nLine two\nand three"
    )
    assert quote.links == (
        "https://jane.example.org/spacing",
        "https://learning.example/@omar/998877",
    )
    # Stored sanitized (pln/clean.py): the class goes, the link stays; the original is in raw.
    assert quote.html.startswith('<p>RE: <a href="https://learning.example/@omar/998877">')
    assert "quote-inline" in quote.raw

    [letter] = result.dead_letters
    assert letter.reason == "status 113500000000000101 has no content"
    assert letter.ref.endswith(f"{TAG}?limit=40#113500000000000101")
    assert result.cursor == {"since_id": "113500000000000105"}
    assert query_of(server.requests_log[1]) == {"max_id": "113500000000000101"}


def test_polling_uses_min_id_and_walks_toward_newer_pages(server):
    newer = server.url(f"{TAG}?min_id=113500000000000107")
    server.route(
        TAG, body=body("tag_since.json"), headers={"Link": f'<{newer}>; rel="prev"'}, repeat=1
    )
    server.route(TAG, body=b"[]")
    result = tag_source(server, limit=20).fetch({"since_id": "113500000000000105"})
    assert [i.native_id.rsplit("/", 1)[-1] for i in result.items] == [
        "113500000000000107",
        "113500000000000106",
    ]
    assert query_of(server.requests_log[0]) == {"limit": "20", "min_id": "113500000000000105"}
    assert query_of(server.requests_log[1]) == {"min_id": "113500000000000107"}
    assert result.cursor == {"since_id": "113500000000000107"}
    # the parent is not in this fetch: reply_to is its local id on the instance
    assert result.items[1].reply_to == "113500000000000102"


def test_links_to_other_hosts_are_not_followed(server):
    server.route(
        TAG, body=body("tag_since.json"), headers={"Link": '<https://evil.example/x>; rel="next"'}
    )
    result = tag_source(server).fetch(None)
    assert len(result.items) == 2 and len(server.requests_log) == 1


def test_token_is_sent_and_refusal_is_one_line(server, monkeypatch):
    monkeypatch.setenv("PLN_TEST_MASTODON", TOKEN)
    server.route("/api/v1/timelines/home", body=b"[]", repeat=1)
    server.route(
        "/api/v1/timelines/home", status=401, body='{"error": "The access token is invalid"}'
    )
    source = make_source(instance=server.url(""), timeline="home", token_env="PLN_TEST_MASTODON")
    assert source.fetch(None).items == []
    assert server.requests_log[0].headers["authorization"] == f"Bearer {TOKEN}"
    with pytest.raises(SourceError) as err:
        source.fetch(None)
    assert "HTTP 401 from" in str(err.value) and "access token was refused" in str(err.value)
    assert TOKEN not in str(err.value)
    monkeypatch.delenv("PLN_TEST_MASTODON")
    with pytest.raises(SourceError, match="set the environment variable PLN_TEST_MASTODON"):
        source.fetch(None)


def test_unknown_tag_and_not_json(server, monkeypatch):
    monkeypatch.setenv("PLN_TEST_MASTODON", TOKEN)
    server.route("/api/v1/timelines/list/7", status=404, body='{"error": "Record not found"}')
    server.route(TAG, body=b"<html>maintenance</html>")
    with pytest.raises(SourceError, match="no such timeline"):
        make_source(
            instance=server.url(""), timeline="list:7", token_env="PLN_TEST_MASTODON"
        ).fetch(None)
    with pytest.raises(SourceError, match="is not JSON"):
        tag_source(server).fetch(None)


def test_config_mistakes():
    with pytest.raises(ConfigError, match=r"timeline: must be hashtag:<tag>"):
        make_source(instance="https://m.example", timeline="tags/lrnchat")
    with pytest.raises(ConfigError, match=r"token_env: is required for the home timeline"):
        make_source(instance="https://m.example", timeline="home")
    with pytest.raises(ConfigError, match=r"instance: must be a URL"):
        make_source(instance="mastodon.social", timeline="public")


def test_html_to_text_keeps_full_links_and_skips_tag_links():
    result = html_to_text(
        '<p>See <a href="https://ex.org/a/long/path"><span class="invisible">https://</span>'
        '<span class="ellipsis">ex.org/a/lo</span><span class="invisible">ng/path</span></a>'
        ' <a href="https://m.example/tags/x" class="mention hashtag" rel="tag">#<span>x</span></a>'
        "</p><p>a &amp; b<br>c</p><script>x()</script>"
    )
    assert result.text == "See https://ex.org/a/long/path #x\n\na & b\nc"
    assert result.links == ("https://ex.org/a/long/path",)


@pytest.mark.corpora
@pytest.mark.parametrize(
    ("cassette", "timeline", "count"),
    [
        ("test_hashtag_tl__02.json", "hashtag:hoot", 1),
        ("test_public_tl__02.json", "public", 8),
        ("test_public_tl_anonymous__02.json", "public", 8),
        ("test_home_tl__01.json", "home", 9),  # 13 statuses, 4 followers-only or direct
    ],
)
def test_corpus_timelines(server, monkeypatch, cassette, timeline, count):
    recorded = json.loads(corpus("mastodon", "status-json", cassette).read_text())
    monkeypatch.setenv("PLN_TEST_MASTODON", TOKEN)
    server.route(urlsplit(recorded["request_uri"]).path, body=json.dumps(recorded["body"]))
    source = make_source(instance=server.url(""), timeline=timeline, token_env="PLN_TEST_MASTODON")
    result = source.fetch(None)
    assert len(result.items) == count and result.dead_letters == []
    assert all(
        i.text and "<" not in i.text and i.author.endswith("@localhost") for i in result.items
    )
    newest = max(s["id"] for s in recorded["body"])
    assert result.cursor == {"since_id": newest}


@pytest.mark.corpora
def test_corpus_single_statuses_all_map(server):
    """Every recorded status body (boosts, quotes, CWs, replies, cards) maps without error."""
    folder = corpus("mastodon", "status-json")
    statuses = []
    for path in sorted(folder.glob("*.json")):
        recorded = json.loads(path.read_text())
        if (
            recorded["status"] == 200
            and isinstance(recorded["body"], dict)
            and "content" in recorded["body"]
        ):
            statuses.append(recorded["body"])
    server.route("/api/v1/timelines/public", body=json.dumps(statuses))
    result = make_source(
        instance=server.url(""), timeline="public", include_private=True, limit=200
    ).fetch(None)
    assert len(statuses) == 70
    assert result.dead_letters == []
    kinds = {i.kind for i in result.items}
    assert kinds == {"post", "repost", "reply", "quote"}
    assert any(i.title == "Content warning" for i in result.items)
    assert all(i.text for i in result.items if i.kind == "repost")
