"""Hashtag chats assembled from microblog posts (`hashtag_chat` with `posts:`)."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import helpers
import pytest
from helpers import by_native_id, query_of

from pln.errors import ConfigError, SourceError
from pln.sources.chat_posts import Chat, ChatPost, ChatWindow, posts_to_keep
from pln.sources.registry import build_source, load_checked_config

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "chat"
POSTS = FIXTURES / "posts"
TWEETS = POSTS / "lrnchat-2026-11-19.json"
TRANSCRIPT = FIXTURES / "hashtag" / "lrnchat-2026-11-19.txt"
TAG = "/api/v1/timelines/tag/lrnchat"
THURSDAY_8PM = {"weekday": "thu", "start": "20:00", "minutes": 60}
SESSION_IDS = [
    "lrnchat:2026-11-19:chat-200000",
    "lrnchat:2026-11-19:Q1",
    "lrnchat:2026-11-19:Q2",
    "lrnchat:2026-11-19:Q3",
    "lrnchat:2026-11-19:chat-205900",
]


def make_source(base_dir: Path = POSTS, **options):
    options = {"hashtag": "lrnchat", "timezone": "America/New_York"} | options
    return helpers.make_source("hashtag_chat", base_dir, "lrnchat", **options)


def tweet_chat(path: Path = TWEETS, **extra):
    return make_source(
        window=THURSDAY_8PM, posts={"type": "twitter_v2", "path": str(path)}, **extra
    )


def everything_said(items) -> str:
    return "\n".join(item.text for item in items)


# --------------------------------------------------------------------------- from saved tweets


def test_a_tweeted_session_gives_the_threads_and_ids_of_its_transcript():
    result = tweet_chat().fetch(None)
    assert [i.native_id for i in result.items] == SESSION_IDS

    transcript = make_source(path=str(TRANSCRIPT)).fetch(None).items
    from_tweets = by_native_id(result.items)
    for item in transcript:  # the same session read either way is the same items in the store
        twin = from_tweets[item.native_id]
        assert (twin.id, twin.title) == (item.id, item.title)
        if ":Q" in item.native_id:
            assert twin.participants == item.participants

    q1 = from_tweets["lrnchat:2026-11-19:Q1"]
    assert q1.platform == "chat" and q1.kind == "chat_thread" and q1.author == "lrnchat"
    assert q1.title == "#lrnchat Q1: What does spaced practice look like in your courses?"
    assert q1.participants == ("lrnchat", "jane_ld", "marc_ux", "pat_k", "cmaddock")
    assert q1.published_at == datetime(2026, 11, 20, 1, 2, 10, tzinfo=UTC)  # 20:02:10 EST
    assert q1.url == "https://x.com/lrnchat/status/1861300000000000006"
    assert q1.links == ("https://example.org/nudges",)


def test_thread_texts_hold_answers_and_replies_in_order():
    items = by_native_id(tweet_chat().fetch(None).items)
    assert items["lrnchat:2026-11-19:Q1"].text.splitlines() == [
        "Q1. What does spaced practice look like in your courses? #lrnchat",
        "@jane_ld: A1. We send short retrieval quizzes 2, 7 and 21 days later #lrnchat",
        "@marc_ux: A1: honestly? It mostly doesn't. One big workshop, then nothing.",
        "We are trying to change that with @cmaddock's nudges: https://example.org/nudges #lrnchat",
        # replies without the hashtag belong to the chat through their reply chain
        "@pat_k: @jane_ld love the 2-7-21 rhythm, do learners opt in?",
        "@jane_ld: @pat_k opt out, and almost nobody does",
        # a late answer joins its question by number
        "@cmaddock: A1) late to the party: we space microlearning over six weeks #lrnchat",
    ]
    assert "@jane_ld: @lrnchat A2. Pilot with one team" in items["lrnchat:2026-11-19:Q2"].text
    assert items["lrnchat:2026-11-19:chat-205900"].text.endswith("@marc_ux: @lrnchat thanks!")


def test_reposts_off_hashtag_posts_and_posts_outside_the_window_are_left_out():
    items = tweet_chat().fetch(None).items
    said = everything_said(items)
    assert not any("sam_ld" in item.participants for item in items)  # retweeted A1 only
    assert said.count("A1. We send short retrieval quizzes") == 1
    for outside in (
        "Coffee number three",  # no hashtag, no reply: another conversation
        "Unrelated: our office moves",
        "Tonight at 8pm ET",  # before the window
        "night all",  # after it
        "Great #lrnchat last night",  # the next day
    ):
        assert outside not in said


def test_without_a_window_sessions_are_split_by_gaps():
    items = by_native_id(
        make_source(posts={"type": "twitter_v2", "path": str(TWEETS)}).fetch(None).items
    )
    assert "lrnchat:2026-11-19:Q1" in items
    # the next morning's post is a session (and chat date) of its own
    assert items["lrnchat:2026-11-20:chat-100000"].text.startswith("Great #lrnchat last night")
    # the posts before the window count now: the announcement, and "hi" with the welcome
    assert items["lrnchat:2026-11-19:chat-194000"].text == (
        "Tonight at 8pm ET on #lrnchat: spaced practice. Join us!"
    )
    welcome = items["lrnchat:2026-11-19:chat-200000"]
    assert welcome.participants == ("lrnchat", "jane_ld", "marc_ux")
    assert "@jane_ld: hi #lrnchat" in welcome.text.splitlines()


def test_dead_letters_of_the_posts_source_pass_through_under_the_chat_name():
    [letter] = tweet_chat().fetch(None).dead_letters
    assert letter.source == "lrnchat"
    assert letter.ref == f"lrnchat.posts:{TWEETS.name}:1#data[0]"  # relative to base_dir
    assert letter.reason == "tweet 1861300000000000024 has no text"


def test_the_window_follows_daylight_saving_time():
    window = {"weekday": "thursday", "start": "20:30", "minutes": 60}
    source = make_source(
        window=window, posts={"type": "twitter_v2", "path": str(POSTS / "lrnchat-dst.jsonl")}
    )
    items = by_native_id(source.fetch(None).items)
    assert sorted(items) == ["lrnchat:2026-10-29:Q1", "lrnchat:2026-11-05:Q1"]
    # 20:30-21:30 EDT, then 20:30-21:30 EST after the clocks went back on November 1
    assert items["lrnchat:2026-10-29:Q1"].published_at == datetime(2026, 10, 30, 0, 35, tzinfo=UTC)
    assert items["lrnchat:2026-11-05:Q1"].published_at == datetime(2026, 11, 6, 1, 35, tzinfo=UTC)
    assert all(i.participants == ("lrnchat", "jane_ld") for i in items.values())
    said = everything_said(items.values())
    assert "late: spacing needs a calendar" not in said  # 21:40 EDT, but inside 20:30 EST
    assert "early bird" not in said  # 19:50 EST, but inside 20:30 EDT


@pytest.mark.parametrize(
    ("minutes", "local", "opening"),
    [
        (90, "2026-11-21T23:40", "2026-11-21T23:30"),
        (90, "2026-11-22T00:55", "2026-11-21T23:30"),  # past midnight: still Saturday's chat
        (90, "2026-11-22T01:00", None),  # over
        (90, "2026-11-20T23:40", None),  # a Friday
        # clocks go forward at 02:00: three hours after 23:30 CET is 03:30 CEST
        (180, "2026-03-29T03:15", "2026-03-28T23:30"),
        (180, "2026-03-29T03:35", None),
    ],
)
def test_a_window_is_measured_in_real_time_from_its_local_start(minutes, local, opening):
    berlin = ZoneInfo("Europe/Berlin")
    window = ChatWindow(weekday=5, start=time(23, 30), length=timedelta(minutes=minutes))
    at = datetime.fromisoformat(local).replace(tzinfo=berlin).astimezone(UTC)
    expected = datetime.fromisoformat(opening).replace(tzinfo=berlin) if opening else None
    assert window.opening(at, berlin) == expected


# --------------------------------------------------------------------------- incremental runs


def write_page(path: Path, tweets: list[dict]) -> Path:
    page = json.loads(TWEETS.read_text())
    path.write_text(json.dumps(page | {"data": tweets}))
    return path


def next_week(n: int, minute: int, author_id: str, text: str) -> dict:
    tweet_id = str(1861400000000000000 + n)
    return {
        "id": tweet_id,
        "text": text,
        "author_id": author_id,
        "created_at": f"2026-11-27T01:{minute:02d}:00.000Z",  # Thursday 26th, 20:xx EST
        "edit_history_tweet_ids": [tweet_id],
        "entities": {"hashtags": [{"tag": "lrnchat"}]},
    }


def test_a_session_split_across_fetches_is_emitted_complete_the_second_time(tmp_path):
    tweets = json.loads(TWEETS.read_text())["data"]
    cut = "2026-11-20T01:09:00"  # Q2, 20:09 EST: what was saved while the chat ran
    write_page(tmp_path / "part1.json", [t for t in tweets if t["created_at"] < cut])
    source = tweet_chat(tmp_path)

    first = source.fetch(None)
    q1 = by_native_id(first.items)["lrnchat:2026-11-19:Q1"]
    assert "cmaddock" not in q1.participants  # the late answer has not been posted yet
    cursor = json.loads(json.dumps(first.cursor))  # the runner stores cursors as JSON
    assert len(cursor["open"]) == 7  # the chat's posts so far, nothing else
    assert all(set(p) <= {"id", "by", "at", "text", "re", "url", "links"} for p in cursor["open"])

    write_page(tmp_path / "part2.json", [t for t in tweets if t["created_at"] >= cut])
    second = source.fetch(cursor)
    items = by_native_id(second.items)
    assert list(items) == SESSION_IDS
    assert items["lrnchat:2026-11-19:Q1"].id == q1.id  # the store upserts the complete thread
    assert items["lrnchat:2026-11-19:Q1"].participants == (
        "lrnchat",
        "jane_ld",
        "marc_ux",
        "pat_k",
        "cmaddock",
    )
    assert len(second.cursor["open"]) == 16

    third = source.fetch(json.loads(json.dumps(second.cursor)))
    assert third.not_modified and third.items == [] and third.dead_letters == []

    write_page(
        tmp_path / "part3.json",
        [
            next_week(1, 5, "101", "Q1 What did you change after last week? #lrnchat"),
            next_week(2, 7, "102", "A1 Quizzes on day 2, 7 and 21 for everyone #lrnchat"),
        ],
    )
    fourth = source.fetch(third.cursor)
    assert [i.native_id for i in fourth.items] == ["lrnchat:2026-11-26:Q1"]
    # last week's chat is over and got nothing new: only this week's posts stay
    assert [p["id"][-2:] for p in fourth.cursor["open"]] == ["01", "02"]


def test_the_cursor_keeps_whole_chats_newest_first_within_its_limit():
    def chat(day: int, size: int) -> Chat:
        at = datetime(2026, 11, day, 1, 0, tzinfo=UTC)
        posts = [
            ChatPost(f"{day}-{i}", "ana", at + timedelta(minutes=i), "A1 x") for i in range(size)
        ]
        return Chat(date(2026, 11, day), posts, posts[-1].at)

    kept = posts_to_keep([chat(5, 3), chat(12, 4), chat(19, 5)], limit=10)
    assert [p.id.split("-")[0] for p in kept] == ["12"] * 4 + ["19"] * 5  # never half a chat
    huge = posts_to_keep([chat(5, 3), chat(19, 12)], limit=10)
    assert [p.id for p in huge] == [f"19-{i}" for i in range(2, 12)]  # only its newest posts


# --------------------------------------------------------------------------- over HTTP


def mastodon_chat(server):
    return make_source(
        posts={"type": "mastodon", "instance": server.url(""), "timeline": "hashtag:lrnchat"}
    )


def serve_first_run(server):
    older = server.url(f"{TAG}?max_id=113600000000000001")
    newest = (POSTS / "mastodon-newest.json").read_bytes()
    server.route(TAG, body=newest, headers={"Link": f'<{older}>; rel="next"'}, repeat=1)
    server.route(TAG, body=(POSTS / "mastodon-older.json").read_bytes(), repeat=1)


def test_a_mastodon_hashtag_timeline_becomes_chats_split_by_gaps(server):
    serve_first_run(server)
    server.route(TAG, body=b"[]")
    source = mastodon_chat(server)
    first = source.fetch(None)
    items = by_native_id(first.items)
    assert sorted(items) == [
        "lrnchat:2026-11-12:Q1",
        "lrnchat:2026-11-19:Q1",
        "lrnchat:2026-11-19:Q2",
        "lrnchat:2026-11-19:chat-200000",
    ]
    q1 = items["lrnchat:2026-11-19:Q1"]
    assert q1.participants == (
        "lrnchat@social.example",
        "jane_ld@learning.example",
        "pat_k@social.example",
    )  # sam_ld's boost of the A1 is not a voice of its own
    assert q1.text.splitlines()[1:] == [
        "@jane_ld@learning.example: A1 We send short retrieval quizzes 2, 7 and 21 days later #lrnchat",
        "@pat_k@social.example: @jane_ld do learners opt in? #lrnchat",
    ]
    assert q1.url == "https://social.example/@lrnchat/113600000000000002"
    assert items["lrnchat:2026-11-12:Q1"].participants == (
        "lrnchat@social.example",
        "marc_ux@social.example",
    )

    second = source.fetch(json.loads(json.dumps(first.cursor)))
    assert second.not_modified and second.items == []
    polled = query_of(server.requests_log[-1])
    assert polled["min_id"] == "113600000000000009"


def test_a_reply_in_a_later_poll_rejoins_its_thread(server):
    serve_first_run(server)
    server.route(TAG, body=(POSTS / "mastodon-later.json").read_bytes())
    source = mastodon_chat(server)
    first = source.fetch(None)
    source = pickle.loads(pickle.dumps(source))  # runners ship sources to workers
    second = source.fetch(first.cursor)
    # only the chat that got a post is emitted again, whole
    assert sorted(i.native_id for i in second.items) == [
        "lrnchat:2026-11-19:Q1",
        "lrnchat:2026-11-19:Q2",
        "lrnchat:2026-11-19:chat-200000",
    ]
    assert {p["at"][:13] for p in second.cursor["open"]} == {"2026-11-20T01"}  # Nov 12 is over
    q1 = by_native_id(second.items)["lrnchat:2026-11-19:Q1"]
    # its parent came in the first poll, so Mastodon names it by its local id only
    assert q1.participants[-1] == "cmaddock@social.example"
    assert q1.text.splitlines()[-1] == (
        "@cmaddock@social.example: @jane_ld how long did the 2-7-21 setup take? #lrnchat"
    )


def test_a_failing_posts_source_is_one_error_naming_both_sources(tmp_path):
    with pytest.raises(SourceError) as err:
        tweet_chat(tmp_path / "missing.json").fetch(None)
    assert str(err.value) == (
        f"source 'lrnchat': posts source 'lrnchat.posts' (twitter_v2): "
        f"path not found: {tmp_path / 'missing.json'}"
    )


# --------------------------------------------------------------------------- configuration

CONFIG = """
sources:
  - name: lrnchat
    type: hashtag_chat
{entry}
topics:
  - id: spacing
    phrases: [spaced practice]
"""


def load(tmp_path: Path, entry: str):
    path = tmp_path / "pln.yaml"
    path.write_text(CONFIG.format(entry=entry))
    return load_checked_config(path), path


def test_a_valid_config_builds_the_posts_source(tmp_path):
    config, _ = load(
        tmp_path,
        '    hashtag: lrnchat\n    window: {weekday: thu, start: "20:30"}\n'
        '    posts: {type: twitter_api, query: "#lrnchat"}',
    )
    source = build_source(config.sources[0])
    assert (source.posts.name, source.posts.type, source.posts.query) == (
        "lrnchat.posts",
        "twitter_api",
        "#lrnchat",
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "    hashtag: lrnchat\n    posts: {type: twiter_api, query: '#lrnchat'}",
            "sources[0].posts.type: must be a microblog source (bluesky, mastodon, "
            "twitter_api, twitter_archive, twitter_v2), got 'twiter_api'",
        ),
        (
            "    hashtag: lrnchat\n    posts: {type: mastodon, instance: https://m.example}",
            "sources[0].posts.timeline: is required",
        ),
        (
            "    hashtag: lrnchat\n    posts: {type: bluesky, qurey: lrnchat, query: lrnchat}",
            "sources[0].posts.qurey: unknown key",
        ),
        (
            "    posts: {type: bluesky, query: lrnchat}",
            "sources[0].hashtag: is required with posts",
        ),
        (
            "    hashtag: lrnchat\n    path: chat.txt\n    posts: {type: bluesky, query: x}",
            "sources[0].posts: set either path (a transcript) or posts, not both",
        ),
        (
            "    hashtag: lrnchat\n    window: {weekday: thu, start: 20:30}\n"
            "    posts: {type: bluesky, query: x}",
            'sources[0].window.start: must be quoted, e.g. start: "20:30"',
        ),
        (
            "    hashtag: lrnchat\n    window: {weekday: jeudi, start: '20:30'}\n"
            "    posts: {type: bluesky, query: x}",
            "sources[0].window.weekday: must be a day such as thu or thursday, got 'jeudi'",
        ),
        (
            "    path: chat.txt\n    window: {weekday: thu, start: '20:30'}",
            "sources[0].window: only applies with posts",
        ),
    ],
)
def test_config_mistakes_name_the_key_inside_posts(tmp_path, entry, message):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, entry)
    assert str(err.value).startswith(f"{tmp_path / 'pln.yaml'}: {message}")
    assert "\n" not in str(err.value)


def test_a_chat_post_without_a_time_is_a_dead_letter_not_a_guess(tmp_path):
    tweet = {"id": "7", "text": "A1 spacing! #lrnchat", "author": {"username": "ana"}}
    (tmp_path / "flat.jsonl").write_text(json.dumps(tweet) + "\n")
    result = tweet_chat(tmp_path / "flat.jsonl").fetch(None)
    assert result.items == []
    assert [(d.source, d.ref, d.reason) for d in result.dead_letters] == [
        ("lrnchat", "https://x.com/ana/status/7", "post has no time")
    ]


def test_posts_the_cursor_cannot_hold_are_a_warning(tmp_path, monkeypatch):
    from pln.sources import hashtag_chat

    tweets = json.loads(TWEETS.read_text())["data"]
    write_page(tmp_path / "part1.json", [t for t in tweets if t["created_at"] < "2026-11-20T01:09"])
    monkeypatch.setattr(hashtag_chat, "MAX_OPEN_POSTS", 5)
    first = tweet_chat(tmp_path).fetch(None)
    assert len(first.cursor["open"]) == 5
    assert first.warnings == [
        "2 posts of chats still open are over the 5 the cursor holds: threads that get later "
        "replies may lose their oldest posts"
    ]
