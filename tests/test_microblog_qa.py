"""Microblog sources, QA findings: an edited tweet in an X export is one item (the API's), a
Mastodon boost links to the boosted post, not to its ActivityPub activity, and followers-only
or direct statuses that are skipped are counted. Real sources on real files and a real HTTP
server on 127.0.0.1; `pln run` and `pln sources` as a user runs them."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import helpers
import pytest
from helpers import db_rows

from pln.cli import main
from pln.record import make_item_id
from tests.corpora import corpus

# --------------------------------------------------------------------------- X archive edits

A, B, C = "1700000000000000003", "1700000000000000050", "1700000000000000077"
PLAIN = "1700000000000000090"
FIRST_TEXT = "Why #microlearning beats the two-hour webinar for compliance refreshers"
EDITED_TEXT = FIRST_TEXT + " (sources added)"


def archive_tweet(tweet_id: str, text: str, edit_info: dict | None, minute: int) -> dict:
    tweet = {
        "id_str": tweet_id,
        "id": tweet_id,
        "created_at": f"Sat Jan 03 10:{minute:02d}:00 +0000 2026",
        "lang": "en",
        "full_text": text,
        "entities": {"hashtags": [{"text": "microlearning"}], "urls": [], "user_mentions": []},
    }
    if edit_info is not None:
        tweet["edit_info"] = edit_info
    return tweet


def first_version(chain: list[str], text: str = FIRST_TEXT) -> dict:
    info = {"initial": {"editTweetIds": chain, "editsRemaining": "4", "isEditEligible": True}}
    return archive_tweet(chain[0], text, info, 0)


def edit_version(chain: list[str], tweet_id: str, text: str, minute: int) -> dict:
    """An edit as an export holds it: `edit_info.edit`, pointing at the first version."""
    info = {
        "edit": {
            "initialTweetId": chain[0],
            "editControlInitial": {"editTweetIds": chain, "isEditEligible": True},
        }
    }
    return archive_tweet(tweet_id, text, info, minute)


def unedited(tweet_id: str = PLAIN) -> dict:
    text = "Spaced #microlearning for onboarding, never edited"
    return archive_tweet(tweet_id, text, {"initial": {"editTweetIds": [tweet_id]}}, 40)


def write_export(path: Path, tweets: list[dict]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        manifest = {"userInfo": {"accountId": "42", "userName": "sam_ld"}}
        archive.writestr("data/manifest.js", "window.__THAR_CONFIG = " + json.dumps(manifest))
        body = json.dumps([{"tweet": t} for t in tweets], indent=1)
        archive.writestr("data/tweets.js", "window.YTD.tweets.part0 = " + body)
    return path


ARCHIVE_CONFIG = """
sources:
  - {name: my-x-archive, type: twitter_archive, path: twitter-archive.zip}
topics:
  - {id: microlearning, title: Microlearning, phrases: [microlearning], hashtags: [microlearning], threshold: 0.3}
outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}
"""


def pln_run(tmp_path: Path, capsys) -> str:
    assert main(["run", "-c", str(tmp_path / "pln.yaml")]) == 0
    return capsys.readouterr().out


def feed_urls(tmp_path: Path, topic: str) -> list[str]:
    feed = json.loads((tmp_path / "out" / "feeds" / f"{topic}.json").read_text())
    return [entry["url"] for entry in feed["items"]]


def test_an_edited_tweet_in_an_export_is_one_item_showing_the_latest_edit(tmp_path, capsys):
    (tmp_path / "pln.yaml").write_text(ARCHIVE_CONFIG)
    chain = [A, B]
    # the edit first in the file: the latest edit wins whatever the order
    tweets = [edit_version(chain, B, EDITED_TEXT, 20), first_version(chain), unedited()]
    write_export(tmp_path / "twitter-archive.zip", tweets)
    out = pln_run(tmp_path, capsys)

    assert "items     2 read: 2 new" in out
    assert "skipped   1 read and left out: repeat or older edit 1 (my-x-archive 1)" in out
    db = tmp_path / "out" / "pln.duckdb"
    rows = db_rows(db, "SELECT id, native_id, text, url FROM items ORDER BY native_id")
    assert rows == [
        (make_item_id("twitter", A), A, EDITED_TEXT, f"https://x.com/sam_ld/status/{B}"),
        (
            make_item_id("twitter", PLAIN),  # an unedited tweet keeps its id
            PLAIN,
            "Spaced #microlearning for onboarding, never edited",
            f"https://x.com/sam_ld/status/{PLAIN}",
        ),
    ]
    assert sorted(feed_urls(tmp_path, "microlearning")) == [
        f"https://x.com/sam_ld/status/{B}",
        f"https://x.com/sam_ld/status/{PLAIN}",
    ]


def test_a_newer_export_with_an_edit_updates_the_item_it_had(tmp_path, capsys):
    """The export downloaded before the edit, then after it (and after a second edit)."""
    (tmp_path / "pln.yaml").write_text(ARCHIVE_CONFIG)
    export = tmp_path / "twitter-archive.zip"
    write_export(export, [first_version([A]), unedited()])
    assert "items     2 read: 2 new" in pln_run(tmp_path, capsys)

    chain = [A, B, C]
    later = [
        first_version(chain),
        edit_version(chain, B, EDITED_TEXT, 20),
        edit_version(chain, C, EDITED_TEXT + ", and a typo fixed", 30),
        unedited(),
    ]
    write_export(export, later)
    os.utime(export, (1_900_000_000, 1_900_000_000))  # surely a new stamp
    out = pln_run(tmp_path, capsys)
    assert "items     2 read: 0 new, 1 updated, 1 unchanged" in out
    assert "skipped   2 read and left out: repeat or older edit 2 (my-x-archive 2)" in out
    db = tmp_path / "out" / "pln.duckdb"
    assert db_rows(db, "SELECT native_id, text, url FROM items WHERE native_id = '" + A + "'") == [
        (A, EDITED_TEXT + ", and a typo fixed", f"https://x.com/sam_ld/status/{C}")
    ]
    assert db_rows(db, "SELECT count(*) FROM items") == [(2,)]


def test_the_export_and_the_api_give_one_item_for_an_edited_tweet(tmp_path, server, monkeypatch):
    """The same edited tweet from an export and from the X API: the same item id and URL, so a
    user who has both sources sees it once."""
    chain = [A, B]
    export = [first_version(chain), edit_version(chain, B, EDITED_TEXT, 20)]
    write_export(tmp_path / "twitter-archive.zip", export)
    archive = helpers.make_source(
        "twitter_archive", tmp_path, "x-archive", path="twitter-archive.zip"
    )
    [from_archive] = archive.fetch(None).items

    page = {
        "data": [
            {
                "id": B,
                "text": EDITED_TEXT,
                "author_id": "42",
                "created_at": "2026-01-03T10:20:00.000Z",
                "conversation_id": A,
                "lang": "en",
                "edit_history_tweet_ids": chain,
                "entities": {"hashtags": [{"tag": "microlearning"}]},
            }
        ],
        "includes": {"users": [{"id": "42", "username": "sam_ld", "name": "Sam"}]},
        "meta": {"result_count": 1, "newest_id": B, "oldest_id": B},
    }
    server.route("/2/tweets/search/recent", body=json.dumps(page))
    monkeypatch.setenv("PLN_TEST_X_TOKEN", "AAAA-test-bearer")
    api = helpers.make_source(
        "twitter_api",
        tmp_path,
        "x-api",
        query="#microlearning",
        base_url=server.url(""),
        bearer_token_env="PLN_TEST_X_TOKEN",
    )
    [from_api] = api.fetch(None).items

    assert from_archive.id == from_api.id == make_item_id("twitter", A)
    assert from_archive.url == from_api.url == f"https://x.com/sam_ld/status/{B}"
    assert from_archive.text == from_api.text == EDITED_TEXT
    assert from_archive.thread_id == from_api.thread_id == A  # the conversation of the first


def test_an_export_holding_only_the_edit_still_uses_the_first_id(tmp_path):
    """An edit whose first version is not in the export (tweets.js split, or a partial copy)
    is stored under the first id all the same, from `initialTweetId` or the edit control."""
    edit = edit_version([A, B], B, EDITED_TEXT, 20)
    only_control = edit_version([A, B], C, EDITED_TEXT, 30)
    del only_control["edit_info"]["edit"]["initialTweetId"]
    only_control["id_str"] = only_control["id"] = C
    write_export(tmp_path / "one.zip", [edit])
    write_export(tmp_path / "two.zip", [only_control])
    for name in ("one.zip", "two.zip"):
        result = helpers.make_source("twitter_archive", tmp_path, "x", path=name).fetch(None)
        assert [i.native_id for i in result.items] == [A]
        assert result.drops == {}


# --------------------------------------------------------------------------- Mastodon

TOKEN = "mastodon-test-token-42"
HOME = "/api/v1/timelines/home"
T0 = "2026-11-20T12:{:02d}:00.000Z"


def account(user: str, host: str = "social.example") -> dict:
    return {"id": str(len(user)), "username": user, "acct": user, "url": f"https://{host}/@{user}"}


def status(n: int, user: str, html: str, *, host="social.example", visibility="public") -> dict:
    sid = str(110000000000000000 + n)
    return {
        "id": sid,
        "created_at": T0.format(n),
        "in_reply_to_id": None,
        "spoiler_text": "",
        "visibility": visibility,
        "language": "en",
        "uri": f"https://{host}/users/{user}/statuses/{sid}",
        "url": f"https://{host}/@{user}/{sid}",
        "content": html,
        "reblog": None,
        "account": account(user, host),
        "mentions": [],
        "tags": [],
        "card": None,
    }


def boost(n: int, user: str, original: dict) -> dict:
    """A boost as Mastodon serves it: its own url and uri are the Announce activity."""
    wrapper = status(n, user, "")
    wrapper["uri"] += "/activity"
    wrapper["url"] = wrapper["uri"]
    wrapper["reblog"] = original
    wrapper["language"] = None
    return wrapper


MASTODON_CONFIG = """
sources:
  - {{name: masto-home, type: mastodon, instance: "{instance}", timeline: home, token_env: PLN_TEST_MASTODON{extra}}}
topics:
  - {{id: practice, title: Retrieval practice, phrases: [retrieval practice], threshold: 0.3}}
outputs: {{duckdb: out/pln.duckdb, feeds_dir: out/feeds}}
"""


def mastodon_config(tmp_path: Path, server, monkeypatch, extra: str = "") -> None:
    monkeypatch.setenv("PLN_TEST_MASTODON", TOKEN)
    text = MASTODON_CONFIG.format(instance=server.url("").rstrip("/"), extra=extra)
    (tmp_path / "pln.yaml").write_text(text)


def test_a_boost_seen_alone_links_to_the_boosted_post(tmp_path, server, monkeypatch, capsys):
    original = status(1, "omar", "<p>Retrieval practice beats rereading</p>", host="learn.example")
    shared = boost(2, "sam_ld", original)
    server.route(HOME, body=json.dumps([shared]))
    mastodon_config(tmp_path, server, monkeypatch)
    assert "items     1 read: 1 new" in pln_run(tmp_path, capsys)

    assert feed_urls(tmp_path, "practice") == [original["url"]]
    rss = (tmp_path / "out" / "feeds" / "practice.rss.xml").read_text()
    assert f"<link>{original['url']}</link>" in rss and "/activity" not in rss
    db = tmp_path / "out" / "pln.duckdb"
    # the id is still the boost's own: it does not change for boosts stored before
    assert db_rows(db, "SELECT id, native_id, kind, url FROM items") == [
        (make_item_id("mastodon", shared["uri"]), shared["uri"], "repost", original["url"])
    ]


@pytest.mark.parametrize(
    ("original_url", "original_uri", "expected"),
    [
        (None, "https://learn.example/users/omar/statuses/1", "uri"),  # no url: the uri
        (None, "tag:learn.example,2017-04-01:objectId=1:objectType=Status", ""),
        (None, "https://learn.example/users/omar/statuses/1/activity", ""),
        ("https://learn.example/@omar/1", "https://learn.example/users/omar/statuses/1", "url"),
    ],
)
def test_a_boost_never_links_to_an_activity(server, original_url, original_uri, expected):
    original = status(1, "omar", "<p>Retrieval practice</p>", host="learn.example")
    original.update(url=original_url, uri=original_uri)
    shared = boost(2, "sam_ld", original)
    server.route("/api/v1/timelines/public", body=json.dumps([shared]))
    source = helpers.make_source("mastodon", Path("."), instance=server.url(""), timeline="public")
    [item] = source.fetch(None).items
    assert item.url == (original[expected] if expected else "")
    assert item.id == make_item_id("mastodon", shared["uri"])


def home_timeline(server, monkeypatch, statuses: list):
    """A Mastodon source of the home timeline, which the server answers with `statuses`."""
    monkeypatch.setenv("PLN_TEST_MASTODON", TOKEN)
    server.route(HOME, body=json.dumps(statuses))
    return helpers.make_source(
        "mastodon",
        Path("."),
        instance=server.url(""),
        timeline="home",
        token_env="PLN_TEST_MASTODON",
    )


@pytest.mark.corpora
def test_a_recorded_boost_links_to_the_boosted_post(server, monkeypatch):
    recorded = json.loads(
        corpus("mastodon", "status-json", "test_status_reblog_unreblog__01.json").read_text()
    )
    shared = recorded["body"]
    assert urlsplit(shared["url"]).path.endswith("/activity")  # what Mastodon sends
    source = home_timeline(server, monkeypatch, [shared])
    [item] = source.fetch(None).items
    assert item.kind == "repost"
    assert (
        item.url
        == shared["reblog"]["url"]
        == ("http://localhost:3000/@mastodonpy_test/117020586019094258")
    )
    assert item.native_id == shared["uri"]
    assert item.id == make_item_id("mastodon", shared["uri"])


def test_private_and_direct_statuses_are_counted_as_not_public(
    tmp_path, server, monkeypatch, capsys
):
    visibility = ["public", "private", "unlisted", "direct", "public", "private"]
    statuses = [
        status(n, "jane", f"<p>Retrieval practice tip {n}</p>", visibility=v)
        for n, v in enumerate(visibility, 1)
    ]
    server.route(HOME, body=json.dumps(statuses[::-1]))
    mastodon_config(tmp_path, server, monkeypatch)
    out = pln_run(tmp_path, capsys)
    assert "items     3 read: 3 new" in out
    assert "skipped   3 read and left out: not public 3 (masto-home 3)" in out
    db = tmp_path / "out" / "pln.duckdb"
    assert db_rows(db, "SELECT count(*) FROM items") == [(3,)]
    assert db_rows(db, "SELECT last_drops FROM sources") == [('{"not public": 3}',)]

    assert main(["sources", "-c", str(tmp_path / "pln.yaml")]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("masto")]
    assert "not public 3" in row


def test_include_private_reads_them_and_counts_nothing(tmp_path, server, monkeypatch, capsys):
    statuses = [
        status(1, "jane", "<p>Retrieval practice, followers only</p>", visibility="private"),
        status(2, "jane", "<p>Retrieval practice, a direct message</p>", visibility="direct"),
    ]
    server.route(HOME, body=json.dumps(statuses))
    mastodon_config(tmp_path, server, monkeypatch, extra=", include_private: true")
    out = pln_run(tmp_path, capsys)
    assert "items     2 read: 2 new" in out and "skipped" not in out


@pytest.mark.corpora
def test_recorded_home_timeline_accounts_for_every_status(server, monkeypatch):
    recorded = json.loads(corpus("mastodon", "status-json", "test_home_tl__01.json").read_text())
    source = home_timeline(server, monkeypatch, recorded["body"])
    result = source.fetch(None)
    hidden = [s for s in recorded["body"] if s["visibility"] in ("private", "direct")]
    assert result.drops == {"not public": len(hidden)} == {"not public": 4}
    assert len(result.items) + sum(result.drops.values()) == len(recorded["body"]) == 13
    assert not any(urlsplit(i.url).path.endswith("/activity") for i in result.items)
