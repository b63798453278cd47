"""X/Twitter sources: API v2 files (pages, twarc2 JSONL, flattened), archives and the live API."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import helpers
import pytest
from helpers import by_native_id, query_of

from pln.errors import ConfigError, SourceError
from pln.record import make_item_id
from tests.corpora import corpus

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "twitter"


def make_source(type_: str, base_dir: Path = FIXTURES, name: str = "x", **options):
    return helpers.make_source(type_, base_dir, name, **options)


# --------------------------------------------------------------------------- twitter_v2 files


def test_page_file_maps_tweets_to_items():
    result = make_source("twitter_v2", path="search_page.json").fetch(None)
    items = by_native_id(result.items)
    assert set(items) == {
        "1861000000000000001",
        "1861000000000000002",
        "1861000000000000003",
        "1861000000000000004",
    }

    post = items["1861000000000000001"]
    assert post.platform == "twitter" and post.kind == "post"
    assert post.id == make_item_id("twitter", "1861000000000000001")
    assert post.author == "lrnchat"
    assert post.url == "https://x.com/lrnchat/status/1861000000000000001"
    # unwound target replaces the t.co link; the link to the tweet's own photo disappears
    assert post.text == (
        "Spaced practice beats cramming & here is why: "
        "https://learning.example.org/spaced-practice #lrnchat #SpacedPractice @jane_ld"
    )
    assert post.links == ("https://learning.example.org/spaced-practice",)
    assert post.hashtags == ("lrnchat", "spacedpractice")
    assert post.mentions == ("jane_ld",)
    assert post.lang == "en"
    assert post.published_at.isoformat() == "2026-11-19T20:02:10+00:00"
    assert post.thread_id == "1861000000000000001"

    reply = items["1861000000000000002"]
    assert reply.kind == "reply" and reply.author == "jane_ld"
    assert reply.reply_to == "1861000000000000001"
    assert reply.thread_id == "1861000000000000001"

    quote = items["1861000000000000004"]
    assert quote.kind == "quote" and quote.reply_to == ""
    assert quote.links == ("https://twitter.com/learnsci/status/1860000000000000009",)
    assert quote.lang == ""  # "und" is not a language


def test_retweet_carries_the_original_and_points_at_it():
    result = make_source("twitter_v2", path="search_page.json").fetch(None)
    repost = by_native_id(result.items)["1861000000000000003"]
    assert repost.kind == "repost"
    assert repost.author == "coach_omar"  # the retweeter, not a new voice on the topic
    assert repost.reply_to == "1860000000000000009"
    assert repost.thread_id == "1860000000000000009"
    # the full original text, not the truncated "RT @learnsci: ... https://t.co/bbbb…"
    assert repost.text.startswith("Retrieval practice is the single most effective")
    assert repost.links == ("https://journals.example.org/retrieval-review",)
    assert repost.hashtags == ("edresearch",)
    assert "learnsci" in repost.mentions
    assert repost.url == "https://x.com/coach_omar/status/1861000000000000003"
    assert repost.published_at.isoformat() == "2026-11-19T20:05:00+00:00"


def test_tweets_without_text_and_page_errors_not_about_a_related_object_are_dead_letters(
    tmp_path,
):
    result = make_source("twitter_v2", path="search_page.json").fetch(None)
    path = "search_page.json"  # as the config's folder (here FIXTURES) names it
    # its one page error says a referenced tweet could not be found: no tweet is lost by it
    assert [(d.ref, d.reason) for d in result.dead_letters] == [
        (f"{path}:1#data[4]", "tweet 1861000000000000005 has no text")
    ]
    assert '"1861000000000000005"' in result.dead_letters[0].raw
    assert result.dead_letters[0].source == "x"
    assert result.drops["related object X could not show"] == 1

    page = json.loads((FIXTURES / path).read_text())
    page["errors"].append({"title": "Service Unavailable", "detail": "part of it is missing"})
    (tmp_path / path).write_text(json.dumps(page))
    result = make_source("twitter_v2", tmp_path, path=path).fetch(None)
    assert [(d.ref, d.reason) for d in result.dead_letters][0] == (
        f"{path}:1#errors[1]",
        "API error: Service Unavailable: part of it is missing",
    )


def test_twarc_jsonl_keeps_good_lines_around_a_broken_one_and_the_latest_edit():
    result = make_source("twitter_v2", path="twarc_pages.jsonl").fetch(None)
    path = "twarc_pages.jsonl"
    assert [(d.ref, d.reason.split(":")[0]) for d in result.dead_letters] == [
        (f"{path}:3", "line is not valid JSON")
    ]
    assert '"1861000000000000011"' in result.dead_letters[0].raw
    items = by_native_id(result.items)
    # the edit (…012) of …010 replaces it: one item, latest text, latest URL
    assert set(items) == {"1861000000000000010", "1861000000000000013"}
    edited = items["1861000000000000010"]
    assert edited.text.startswith("Q1, take two")
    assert edited.url.endswith("/status/1861000000000000012")
    assert result.drops == {"repeat or older edit": 1}  # counted, not lost silently
    streamed = items["1861000000000000013"]  # a streaming line: `data` is one tweet
    assert streamed.author == "mia_learns" and streamed.kind == "reply"


def test_flattened_tweets_with_inlined_expansions():
    result = make_source("twitter_v2", path="flat.jsonl").fetch(None)
    items = by_native_id(result.items)
    repost = items["1861000000000000020"]
    assert repost.kind == "repost" and repost.author == "ld_sam"
    assert repost.text == (
        "Interleaving helps learners tell problem types apart. "
        "https://learning.example.org/interleaving #edresearch"
    )
    assert repost.mentions == ("learnsci",)
    assert repost.thread_id == repost.reply_to == "1860000000000000030"

    long = items["1861000000000000021"]  # note_tweet: the full text of a long post
    assert "expertise reversal effect" in long.text
    assert long.links == ("https://learning.example.org/worked-examples",)
    assert "/i/web/status/" not in long.text

    [letter] = result.dead_letters
    assert letter.ref == "flat.jsonl:3"
    assert letter.reason == "tweet 1861000000000000022 has no text"


def test_folder_cursor_skips_unchanged_files_and_tracks_since_id(tmp_path):
    for name in ("search_page.json", "twarc_pages.jsonl"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a data file")
    source = make_source("twitter_v2", base_dir=tmp_path, path=".")

    first = source.fetch(None)
    assert len(first.items) == 6 and not first.not_modified
    assert first.cursor["since_id"] == "1861000000000000013"
    assert set(first.cursor["files"]) == {
        str(tmp_path / "search_page.json"),
        str(tmp_path / "twarc_pages.jsonl"),
    }

    again = source.fetch(first.cursor)
    assert again.not_modified and again.items == [] and again.cursor == first.cursor

    shutil.copy(FIXTURES / "flat.jsonl", tmp_path / "flat.jsonl")
    third = source.fetch(again.cursor)
    assert {i.native_id for i in third.items} == {"1861000000000000020", "1861000000000000021"}
    assert third.cursor["since_id"] == "1861000000000000021"

    os.remove(tmp_path / "flat.jsonl")
    fourth = source.fetch(third.cursor)
    assert not fourth.not_modified and fourth.items == []
    assert str(tmp_path / "flat.jsonl") not in fourth.cursor["files"]


def test_whole_file_that_is_not_json_fails_the_source_and_is_a_dead_letter_in_a_folder(tmp_path):
    (tmp_path / "broken.json").write_text('{\n  "data": [\n    {"id": "1"\n')
    with pytest.raises(SourceError) as err:
        make_source("twitter_v2", base_dir=tmp_path, path="broken.json").fetch(None)
    assert err.value.message == (
        "broken.json is not X API v2 JSON (pages or tweets); "
        "line 4: not JSON or JSON Lines: Expecting ',' delimiter"
    )
    shutil.copy(FIXTURES / "flat.jsonl", tmp_path / "flat.jsonl")
    result = make_source("twitter_v2", base_dir=tmp_path, path=".").fetch(None)
    assert len(result.items) == 2
    [broken] = [d for d in result.dead_letters if d.ref == "broken.json"]
    assert broken.reason == err.value.message


def test_other_v2_records_are_named_not_guessed(tmp_path):
    (tmp_path / "users.jsonl").write_text(
        '{"data": [{"id": "1", "username": "a", "name": "A"}]}\n'
        '{"id": "9", "action": "delete", "created_at": "2026-01-01T00:00:00Z", "reason": "protected"}\n'
        '{"hello": "world"}\n'
    )
    result = make_source("twitter_v2", base_dir=tmp_path, path="users.jsonl").fetch(None)
    assert [d.reason for d in result.dead_letters] == [
        "page holds users, not tweets",
        "compliance event (delete: protected), not a tweet",
        "not an X API v2 page or tweet (keys: hello)",
    ]


def test_missing_path_is_a_one_line_source_error(tmp_path):
    source = make_source("twitter_v2", base_dir=tmp_path, name="tw", path="nowhere")
    with pytest.raises(SourceError) as err:
        source.fetch(None)
    assert str(err.value) == "source 'tw': path not found: nowhere"


def test_config_mistakes_name_the_key():
    with pytest.raises(ConfigError, match=r"sources\[0\]\.path: is required"):
        make_source("twitter_v2")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.folder: unknown key"):
        make_source("twitter_v2", path="x.json", folder="y")


# --------------------------------------------------------------------------- corpora

TWARC_COUNTS = {  # file: (items, dead letters, page errors about related objects)
    "2sets.jsonl": (200, 0, 1),
    "brexit.jsonl": (100, 0, 0),
    "flat.jsonl": (100, 0, 0),
    "noflat.jsonl": (100, 0, 1),
    "entities_test.jsonl": (474, 0, 11),
    "withheld.jsonl": (215, 0, 5),
    "streaming_output_with_error.jsonl": (7, 1, 0),
    "edited.jsonl": (1, 0, 0),
    "counts.jsonl": (0, 1, 0),
    "users.jsonl": (0, 1, 8),
    "tweets_compliance.jsonl": (0, 2, 0),
    "empty.json": (0, 0, 0),
}


@pytest.mark.corpora
@pytest.mark.parametrize("name", sorted(TWARC_COUNTS))
def test_twarc_corpus_files(name):
    path = corpus("twitter", "v2-twarc", "test-data", name)
    result = make_source("twitter_v2", path=str(path)).fetch(None)
    unexpanded = result.drops.get("related object X could not show", 0)
    assert (len(result.items), len(result.dead_letters), unexpanded) == TWARC_COUNTS[name]
    for item in result.items:
        assert item.text and item.url.startswith("https://x.com/")
    # authors come from includes.users; withheld.jsonl lacks six of them (url falls back to /i/)
    authorless = [i for i in result.items if not i.author]
    assert len(authorless) == (6 if name == "withheld.jsonl" else 0)
    assert all("/i/status/" in i.url for i in authorless)


@pytest.mark.corpora
def test_twarc_corpus_folder_and_flat_equals_noflat():
    folder = corpus("twitter", "v2-twarc", "test-data")
    result = make_source("twitter_v2", path=str(folder)).fetch(None)
    assert len(result.items) == 1108  # unique tweets: several files repeat the same ones
    assert len(result.dead_letters) == 9
    assert result.drops["related object X could not show"] == 27
    assert result.cursor["since_id"] == "1611077073803841538"

    flat = by_native_id(
        make_source("twitter_v2", path=str(folder / "flat.jsonl")).fetch(None).items
    )
    noflat = by_native_id(
        make_source("twitter_v2", path=str(folder / "noflat.jsonl")).fetch(None).items
    )
    assert set(flat) == set(noflat)
    for key, item in flat.items():
        other = noflat[key]
        assert (item.kind, item.author, item.text, item.links, item.reply_to) == (
            other.kind,
            other.author,
            other.text,
            other.links,
            other.reply_to,
        )


@pytest.mark.corpora
def test_twarc_corpus_edit_history_upserts_one_item():
    folder = corpus("twitter", "v2-twarc", "test-data")
    before = make_source("twitter_v2", path=str(folder / "edited_before.jsonl")).fetch(None)
    after = make_source("twitter_v2", path=str(folder / "edited_after.jsonl")).fetch(None)
    assert before.items[0].id == after.items[0].id
    assert before.items[0].text != after.items[0].text


# --------------------------------------------------------------------------- twitter_archive

ARCHIVE = FIXTURES / "archive"


def check_archive_items(result):
    items = by_native_id(result.items)
    assert set(items) == {
        "1861000000000000100",
        "1861000000000000102",
        "1861000000000000103",
        "1861000000000000104",
    }
    assert {i.author for i in result.items} == {"lrnchat"}  # from manifest.js
    post = items["1861000000000000100"]
    assert post.kind == "post"
    assert post.text == (
        "Tonight: spaced practice & retrieval. Join us at 8pm ET #lrnchat "
        "https://learning.example.org/lrnchat-spaced-practice"
    )
    assert post.links == ("https://learning.example.org/lrnchat-spaced-practice",)
    assert post.published_at.isoformat() == "2026-11-19T20:00:00+00:00"
    assert post.url == "https://x.com/lrnchat/status/1861000000000000100"
    reply, follow_up = items["1861000000000000102"], items["1861000000000000103"]
    assert (reply.kind, reply.reply_to, reply.mentions) == (
        "reply",
        "1861000000000000101",
        ("jane_ld",),
    )
    # the chain 103 -> 102 -> 101 is climbed as far as the archive knows it
    assert reply.thread_id == follow_up.thread_id == "1861000000000000101"
    repost = items["1861000000000000104"]
    assert repost.kind == "repost" and repost.mentions == ("learnsci",)
    [letter] = result.dead_letters
    assert letter.reason == "tweet 1861000000000000105 has no text"
    assert letter.ref.endswith("tweets.js[4]")


def test_archive_folder():
    result = make_source("twitter_archive", path="archive").fetch(None)
    check_archive_items(result)
    data_only = make_source("twitter_archive", path="archive/data").fetch(None)
    assert {i.id for i in data_only.items} == {i.id for i in result.items}


def test_archive_zip_and_its_cursor(tmp_path):
    shutil.make_archive(str(tmp_path / "twitter-2026"), "zip", ARCHIVE)
    source = make_source("twitter_archive", base_dir=tmp_path, path="twitter-2026.zip")
    first = source.fetch(None)
    check_archive_items(first)
    assert first.dead_letters[0].ref == "twitter-2026.zip!data/tweets.js[4]"
    assert first.cursor["since_id"] == "1861000000000000104"
    assert source.fetch(first.cursor).not_modified


def test_archive_without_tweets_is_a_source_error(tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(ARCHIVE / "data" / "manifest.js", tmp_path / "data" / "manifest.js")
    with pytest.raises(SourceError, match="no data/tweet.js or data/tweets.js in"):
        make_source("twitter_archive", base_dir=tmp_path, path=".").fetch(None)
    (tmp_path / "not.zip").write_bytes(b"PK\x03\x04 nope")
    with pytest.raises(SourceError, match="is not a readable zip archive"):
        make_source("twitter_archive", base_dir=tmp_path, path="not.zip").fetch(None)


@pytest.mark.corpora
def test_archive_corpus():
    path = corpus("twitter", "archive-2020")
    result = make_source("twitter_archive", path=str(path)).fetch(None)
    assert len(result.items) == 22 and result.dead_letters == []
    kinds = [i.kind for i in result.items]
    assert (kinds.count("post"), kinds.count("reply")) == (13, 9)
    assert {i.author for i in result.items} == {"LumenInferius"}
    first = by_native_id(result.items)["1221130902635458567"]
    assert "#screenshotsaturday" in first.text and "t.co" not in first.text
    assert "screenshotsaturday" in first.hashtags


# --------------------------------------------------------------------------- twitter_api

TOKEN = "AAAA-test-bearer-0123456789"


@pytest.fixture
def server(server, monkeypatch):
    """The recorded server, with the API token in the environment."""
    monkeypatch.setenv("PLN_TEST_X_TOKEN", TOKEN)
    return server


def api_source(server, **options):
    options.setdefault("bearer_token_env", "PLN_TEST_X_TOKEN")
    return make_source("twitter_api", name="xapi", base_url=server.url(""), **options)


def fixture_body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def requests_to(server, path: str):
    return [r for r in server.requests_log if r.path.split("?")[0] == path]


def test_api_search_follows_next_token_and_sets_since_id(server):
    search = "/2/tweets/search/recent"
    server.route(search, body=fixture_body("api_search_newest.json"), repeat=1)
    server.route(search, body=fixture_body("search_page.json"))
    result = api_source(server, query="#lrnchat").fetch(None)

    assert len(result.items) == 5  # 1 + 4 good tweets; the textless one is a dead letter
    # the page's `errors` (a referenced tweet X could not expand) lose no tweet: no dead letter
    assert [d.reason for d in result.dead_letters] == ["tweet 1861000000000000005 has no text"]
    assert result.cursor["since_id"] == "1861000000000000201"
    first, second = requests_to(server, search)
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    q1, q2 = query_of(first), query_of(second)
    assert q1["query"] == "#lrnchat" and "since_id" not in q1
    assert "referenced_tweets.id" in q1["expansions"] and "note_tweet" in q1["tweet.fields"]
    assert q2["next_token"] == "b26v89c19zqg8o3fnext"
    assert TOKEN not in repr(result.cursor) and all(TOKEN not in d.ref for d in result.dead_letters)

    again = api_source(server, query="#lrnchat").fetch(result.cursor)
    # these ids date from November 2024, past recent search's 7 days: X would refuse the
    # since_id, so it is not sent (fresh ones are: tests/test_twitter_api_qa.py)
    assert "since_id" not in query_of(server.requests_log[-1])
    assert again.cursor["since_id"] == "1861000000000000201"


def test_api_max_pages_resumes_the_window_before_moving_since_id(server):
    # a user timeline: its since_id may be older than recent search's 7 days, as these are
    timeline = "/2/users/101/tweets"
    server.route(timeline, body=fixture_body("api_search_newest.json"), repeat=1)
    server.route(timeline, body=fixture_body("search_page.json"))
    source = api_source(server, user_id="101", max_pages=1)
    first = source.fetch({"since_id": "1860000000000000000"})
    assert first.cursor == {
        "since_id": "1860000000000000000",
        "next_token": "b26v89c19zqg8o3fnext",
        "newest_id": "1861000000000000201",
    }
    second = source.fetch(first.cursor)
    q = query_of(server.requests_log[-1])
    assert q["pagination_token"] == "b26v89c19zqg8o3fnext"
    assert q["since_id"] == "1860000000000000000"
    assert len(second.items) == 4
    assert second.cursor == {"since_id": "1861000000000000201"}


def test_api_user_timeline_looks_up_the_username_once(server):
    server.route("/2/users/by/username/jane_ld", body=fixture_body("api_user_lookup.json"))
    server.route("/2/users/102/tweets", body=fixture_body("api_user_timeline.json"))
    source = api_source(server, username="@jane_ld")
    first = source.fetch(None)
    assert [i.native_id for i in first.items] == ["1861000000000000302", "1861000000000000301"]
    assert first.items[0].links == ("https://jane.example.org/forgetting-curve",)
    assert first.cursor == {"since_id": "1861000000000000302", "user_id": "102"}
    source.fetch(first.cursor)
    assert len(requests_to(server, "/2/users/by/username/jane_ld")) == 1


def test_api_list_timeline_stops_at_tweets_already_seen(server):
    server.route("/2/lists/84839422/tweets", body=fixture_body("api_user_timeline.json"))
    result = api_source(server, list_id="84839422").fetch({"since_id": "1861000000000000301"})
    assert [i.native_id for i in result.items] == ["1861000000000000302"]
    assert "since_id" not in query_of(server.requests_log[-1])  # list timelines do not take it
    assert result.cursor == {"since_id": "1861000000000000302"}


def test_api_rate_limit_gives_retry_after_from_the_reset_header(server):
    import time

    reset = int(time.time()) + 120
    server.route(
        "/2/tweets/search/recent",
        status=429,
        headers={"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
        body='{"title": "Too Many Requests"}',
    )
    with pytest.raises(SourceError) as err:
        api_source(server, query="#lrnchat").fetch(None)
    assert 100 <= err.value.retry_after <= 121
    assert str(err.value).startswith("source 'xapi': rate limited by http://127.0.0.1:")


def test_api_refused_token_and_missing_token_and_unknown_user(server, monkeypatch):
    server.route("/2/tweets/search/recent", status=401, body=fixture_body("api_unauthorized.json"))
    with pytest.raises(SourceError, match="HTTP 401 from .*: the bearer token was refused") as err:
        api_source(server, query="#lrnchat").fetch(None)
    assert TOKEN not in str(err.value)

    monkeypatch.delenv("PLN_TEST_X_TOKEN")
    with pytest.raises(
        SourceError, match="no bearer token: set the environment variable PLN_TEST_X_TOKEN"
    ):
        api_source(server, query="#lrnchat").fetch(None)

    monkeypatch.setenv("PLN_TEST_X_TOKEN", TOKEN)
    server.route("/2/users/by/username/nobody_here", body=fixture_body("api_user_not_found.json"))
    with pytest.raises(SourceError, match=r"Could not find user with username: \[nobody_here\]"):
        api_source(server, username="nobody_here").fetch(None)


def test_api_config_needs_exactly_one_timeline():
    with pytest.raises(ConfigError, match="set exactly one of query, username, user_id, list_id"):
        make_source("twitter_api")
    with pytest.raises(ConfigError, match=r"\(got query, list_id\)"):
        make_source("twitter_api", query="#lrnchat", list_id="1")
    with pytest.raises(ConfigError, match="max_results: must be at most 100"):
        make_source("twitter_api", query="#lrnchat", max_results=500)


@pytest.mark.corpora
@pytest.mark.parametrize(
    ("cassette", "options", "path", "count"),
    [
        (
            "test_client_search_recent_tweets__00_GET.json",
            {"query": "Tweepy"},
            "/2/tweets/search/recent",
            10,
        ),
        (
            "test_client_get_users_tweets__00_GET.json",
            {"user_id": "783214"},
            "/2/users/783214/tweets",
            2,
        ),
        (
            "test_client_get_list_tweets__00_GET.json",
            {"list_id": "84839422"},
            "/2/lists/84839422/tweets",
            97,
        ),
    ],
)
def test_api_serves_recorded_tweepy_bodies(server, cassette, options, path, count):
    import json

    recorded = json.loads(corpus("twitter", "v2-tweepy", cassette).read_text())
    server.route(path, body=json.dumps(recorded["body"]), repeat=1)
    server.route(path, body='{"meta": {"result_count": 0}}')
    result = api_source(server, max_pages=2, **options).fetch(None)
    assert len(result.items) == count and result.dead_letters == []
    # no author expansion in these recordings: the URL falls back to /i/status/<id>
    assert all(i.url == f"https://x.com/i/status/{i.native_id}" for i in result.items)
    assert (
        query_of(server.requests_log[-1]).get(
            "next_token" if "query" in options else "pagination_token"
        )
        == recorded["body"]["meta"]["next_token"]
    )
