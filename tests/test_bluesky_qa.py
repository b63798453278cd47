"""Bluesky QA findings (microblog QA, December 2026), through `pln run`'s batch job against a
fake AppView on 127.0.0.1 that pages as the real one does (newest first, an opaque cursor
toward older posts): new posts are never held back behind a backlog of old ones, a quote is
one story with the post it quotes, and an API error is one short line."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from helpers import db_rows, make_source
from httpserver import AnsweringServer

from pln.config import load_config
from pln.pipelines.batch import run_batch
from pln.record import make_item_id
from pln.sinks.store import Store
from pln.sources.bluesky import MAX_BACKLOG
from pln.summary import format_run_summary

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SEARCH = "/xrpc/app.bsky.feed.searchPosts"
AUTHOR_FEED = "/xrpc/app.bsky.feed.getAuthorFeed"


def iso(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def post(n: int, text: str, handle: str = "jane.bsky.social", **fields) -> dict:
    """A postView as the AppView sends it; post n is indexed n minutes after T0."""
    did = f"did:plc:{handle.split('.')[0]}"
    record = {"$type": "app.bsky.feed.post", "text": text, "createdAt": iso(n), "langs": ["en"]}
    record.update(fields.pop("record", {}))
    return {
        "uri": f"at://{did}/app.bsky.feed.post/3k{n:011d}",
        "cid": f"bafy{n}",
        "author": {"did": did, "handle": handle, "displayName": handle},
        "record": record,
        "indexedAt": iso(n),
        **fields,
    }


class FakeAppView:
    """searchPosts and getAuthorFeed over `posts`, newest first. `cursors` = "time" (the next
    page starts below the last post's time, as getAuthorFeed does) or "offset" (a position in
    the results, as searchPosts does: new posts shift it). `errors[path]` = (status, body)."""

    def __init__(self, cursors: str = "time"):
        self.posts: list[dict] = []
        self.cursors = cursors
        self.errors: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        self.refuse_cursors = 0  # a status to answer every request with a cursor with
        self.lock = threading.Lock()
        self.server = AnsweringServer(self.answer)
        self.url = self.server.base

    def answer(self, target: str):
        path, query = urlsplit(target).path, dict(parse_qsl(urlsplit(target).query))
        with self.lock:
            self.requests.append(target)
            if path in self.errors:
                status, body = self.errors[path]
                return status, {"Content-Type": "application/json"}, body
            if self.refuse_cursors and "cursor" in query:
                body = b'{"error": "InvalidRequest", "message": "Malformed cursor"}'
                return self.refuse_cursors, {"Content-Type": "application/json"}, body
            newest_first = sorted(self.posts, key=lambda p: p["indexedAt"], reverse=True)
        limit, cursor = int(query.get("limit", 50)), query.get("cursor", "")
        if self.cursors == "offset":
            start = int(cursor or 0)
            page = newest_first[start : start + limit]
            next_cursor = str(start + limit) if start + limit < len(newest_first) else ""
        else:
            page = [p for p in newest_first if not cursor or p["indexedAt"] < cursor][:limit]
            next_cursor = page[-1]["indexedAt"] if len(page) == limit else ""
        if path == SEARCH:
            body = {"posts": page}
        elif path == AUTHOR_FEED:
            body = {"feed": [{"post": p} for p in page]}
        else:
            return 404, {}, b"{}"
        if next_cursor:
            body["cursor"] = next_cursor
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def add(self, *posts: dict) -> None:
        with self.lock:
            self.posts.extend(posts)

    def requests_since(self, mark: int) -> list[str]:
        return self.requests[mark:]


@pytest.fixture(params=["time", "offset"])
def appview(request):
    fake = FakeAppView(request.param)
    yield fake
    fake.server.close()


@pytest.fixture
def time_appview():
    fake = FakeAppView("time")
    yield fake
    fake.server.close()


class Project:
    """A pln.yaml with one Bluesky source (defaults: limit 50, max_pages 3) and its store."""

    def __init__(self, tmp_path: Path, appview: FakeAppView, **source):
        source = {"name": "sky", "type": "bluesky", "base_url": appview.url, **source}
        path = tmp_path / "pln.yaml"
        path.write_text(
            f"sources:\n  - {json.dumps(source)}\n"
            "topics:\n  - {id: microlearning, title: Microlearning, phrases: [microlearning],"
            " hashtags: [microlearning], threshold: 0.3}\n"
            "outputs: {duckdb: out/pln.duckdb, feeds_dir: out/feeds}\n"
        )
        self.config = load_config(path)
        self.db = self.config.outputs.duckdb

    def run(self):
        summary = run_batch(self.config)
        self.summary = format_run_summary(summary, self.config)
        return summary.stats

    def texts(self) -> set[str]:
        return {text for (text,) in db_rows(self.db, "SELECT text FROM items")}

    def cursor(self) -> dict:
        [(cursor,)] = db_rows(self.db, "SELECT cursor FROM sources")
        return json.loads(cursor)

    def set_cursor(self, cursor: dict) -> None:
        with Store(self.db) as store:
            store.con.execute("UPDATE sources SET cursor = ?", [json.dumps(cursor)])

    def feed_titles(self) -> list[str]:
        feed = json.loads((self.config.outputs.feeds_dir / "microlearning.json").read_text())
        return [entry.get("content_text") or entry.get("title") for entry in feed["items"]]


def tip(n: int) -> str:
    return f"Tip {n}: one #microlearning idea a day"


BRAND_NEW = "BRAND NEW: our #microlearning playbook is out"


# -- finding 1: new posts are read first, whatever the backlog ----------------------------------


@pytest.mark.parametrize("source", [{"query": "#microlearning"}, {"actor": "jane.bsky.social"}])
def test_a_new_post_is_stored_by_the_next_run_however_long_the_history(tmp_path, appview, source):
    appview.add(*(post(n, tip(n)) for n in range(1, 1001)))
    project = Project(tmp_path, appview, **source)
    project.run()
    # the first run reads the newest pages (3 x 50), as the Mastodon source does
    assert project.texts() == {tip(n) for n in range(851, 1001)}
    assert len(appview.requests) == 3

    appview.add(post(5000, BRAND_NEW))
    mark = len(appview.requests)
    stats = project.run()
    assert BRAND_NEW in project.texts()
    assert stats["items"]["new"] == 1
    assert len(appview.requests_since(mark)) == 1  # the newest page held everything new
    assert project.feed_titles()[0].startswith(BRAND_NEW)
    assert project.cursor() == {"seen_until": "2026-11-04T11:20:00.000000+00:00"}

    mark = len(appview.requests)
    assert project.run()["items"]["written"] == 0
    assert len(appview.requests_since(mark)) == 1 and len(project.texts()) == 151


def test_a_burst_between_runs_is_finished_after_the_newest_posts(tmp_path, appview):
    appview.add(*(post(n, tip(n)) for n in range(1, 11)))
    project = Project(tmp_path, appview, query="#microlearning")
    project.run()
    assert len(project.texts()) == 10

    # 200 posts before the next run: more than 3 pages of 50
    appview.add(*(post(n, tip(n)) for n in range(11, 211)))
    stats = project.run()
    assert project.texts() == {tip(n) for n in range(1, 11)} | {tip(n) for n in range(61, 211)}
    [warning] = stats["warnings"]["sky"]
    assert warning.startswith("catching up: more than max_pages × limit (150) posts came")
    assert f"! sky: {warning}" in project.summary

    # the next run stores the newest post first, then the rest of the burst
    appview.add(post(5000, BRAND_NEW))
    stats = project.run()
    assert project.texts() == {tip(n) for n in range(1, 211)} | {BRAND_NEW}
    assert stats["items"]["new"] == 51 and "sky" not in stats.get("warnings", {})
    assert project.cursor() == {"seen_until": "2026-11-04T11:20:00.000000+00:00"}

    mark = len(appview.requests)
    assert project.run()["items"]["written"] == 0
    assert len(appview.requests_since(mark)) == 1


def test_runs_that_keep_falling_behind_read_the_newest_first_and_lose_nothing(
    tmp_path, time_appview
):
    """Three busy stretches in a row, then quiet runs: each run's newest posts are stored by
    that run, and the stretches left behind are read later, newest stretch first."""
    appview = time_appview
    appview.add(post(1, tip(1)))
    project = Project(tmp_path, appview, query="#microlearning", limit=10, max_pages=2)
    project.run()
    newest_of_run = []
    start = 2
    for _ in range(3):  # 30 new posts a run: the run reads 20 of them
        appview.add(*(post(n, tip(n)) for n in range(start, start + 30)))
        newest_of_run.append(tip(start + 29))
        start += 30
        project.run()
        assert newest_of_run[-1] in project.texts()
    assert len(project.cursor()["backlog"]) == 3
    # quiet runs: a page for the newest, the other for the backlog (2 pages a stretch here)
    for _ in range(6):
        project.run()
    assert project.texts() == {tip(n) for n in range(1, start)}
    assert "backlog" not in project.cursor()


def test_a_cursor_of_the_old_code_in_the_middle_of_a_burst_keeps_its_posts(tmp_path, appview):
    """A store written before the fix, whose last run stopped at max_pages inside a burst
    (`page_cursor`, `pending_until`): the upgraded run stores a new post first and the rest of
    the burst, as the old code would have, without holding the new post back."""
    appview.add(*(post(n, tip(n)) for n in range(1, 11)))
    project = Project(tmp_path, appview, query="#microlearning")
    project.run()
    appview.add(*(post(n, tip(n)) for n in range(11, 211)))
    project.run()
    new_style = project.cursor()
    [stretch] = new_style["backlog"]
    # what the code before the fix wrote after reading the same 150 posts
    project.set_cursor(
        {
            "seen_until": stretch["until"],
            "page_cursor": stretch["cursor"],
            "pending_until": new_style["seen_until"],
        }
    )
    appview.add(post(5000, BRAND_NEW))
    project.run()
    assert project.texts() == {tip(n) for n in range(1, 211)} | {BRAND_NEW}
    assert project.cursor() == {"seen_until": "2026-11-04T11:20:00.000000+00:00"}


def test_a_cursor_of_the_old_code_still_backfilling_history_reads_new_posts_first(
    tmp_path, time_appview
):
    """The old code's first run left `seen_until: ""` and a page cursor, and its next runs
    paged on into history. Upgraded, the history is still read, with the pages the newest
    posts leave over, to its end."""
    appview = time_appview
    appview.add(*(post(n, tip(n)) for n in range(1, 301)))
    project = Project(tmp_path, appview, query="#microlearning")
    project.run()
    project.set_cursor(
        {
            "seen_until": "",
            "page_cursor": iso(151),
            "pending_until": "2026-11-01T05:00:00.000000+00:00",
        }
    )
    appview.add(post(5000, BRAND_NEW))
    stats = project.run()
    assert BRAND_NEW in project.texts()
    assert project.texts() >= {tip(n) for n in range(51, 151)}  # two pages of history
    assert stats["warnings"]["sky"] == [
        "reading posts from before the first run, after the newest "
        "(a backfill begun by pln before 5 December 2026)"
    ]
    assert project.cursor()["backlog"] == [{"cursor": iso(51), "until": ""}]
    project.run()
    assert project.texts() == {tip(n) for n in range(1, 301)} | {BRAND_NEW}
    assert "backlog" not in project.cursor()


def test_a_newest_page_that_fails_keeps_the_pages_before_it_and_the_next_run_goes_on(
    tmp_path, time_appview
):
    appview = time_appview
    appview.add(post(1, tip(1)))
    project = Project(tmp_path, appview, query="#microlearning", limit=10, max_pages=3)
    project.run()
    seen_until = project.cursor()["seen_until"]
    appview.add(*(post(n, tip(n)) for n in range(2, 32)))
    appview.refuse_cursors = 503  # page 1 answers, page 2 does not
    stats = project.run()
    assert stats["sources"]["failed"] == 0
    assert project.texts() == {tip(n) for n in [1, *range(22, 32)]}
    [warning] = stats["warnings"]["sky"]
    assert warning.startswith(f"newer posts not all read this time: HTTP 503 from {appview.url}")
    assert project.cursor()["backlog"] == [{"cursor": iso(22), "until": seen_until}]

    appview.refuse_cursors = 0
    appview.add(post(40, tip(40)))
    project.run()
    assert project.texts() == {tip(n) for n in [*range(1, 32), 40]}
    project.run()  # the stretch ends at post 1: one more page
    assert "backlog" not in project.cursor()


@pytest.mark.parametrize(
    ("status", "said", "kept"),
    [(400, "given up", False), (503, "not read this time", True)],
    ids=["cursor-refused", "server-busy"],
)
def test_a_backlog_page_that_fails_does_not_fail_the_run(
    tmp_path, time_appview, status, said, kept
):
    """The newest posts are stored even when the API refuses a stretch's old cursor (given
    up: it never will take it) or is busy (tried again next run)."""
    appview = time_appview
    appview.add(post(1, tip(1)))
    project = Project(tmp_path, appview, query="#microlearning", limit=10, max_pages=2)
    project.run()
    appview.add(*(post(n, tip(n)) for n in range(2, 32)))
    project.run()
    [stretch] = project.cursor()["backlog"]

    appview.refuse_cursors = status
    appview.add(post(40, tip(40)))
    stats = project.run()
    assert tip(40) in project.texts() and stats["sources"]["failed"] == 0
    [warning] = stats["warnings"]["sky"]
    assert warning.startswith(f"older posts {said}: HTTP {status} from {appview.url}{SEARCH}")
    assert "cursor=" not in warning and "?q=" not in warning
    assert project.cursor().get("backlog", []) == ([stretch] if kept else [])


# -- finding 6: a quote is one story with the post it quotes ------------------------------------

ORIGINAL = "Our new microlearning playbook for onboarding: five-minute lessons that stick"
QUOTE = "Must read on microlearning, great work from Alice"


def quote_of(n: int, original: dict, *, view: bool, handle: str = "bob.bsky.social") -> dict:
    """A quote post: its record embeds the original by at:// URI (the DID's); `view` adds
    the embed's view the AppView hydrates, with the quoted author's handle."""
    ref = {"uri": original["uri"], "cid": original["cid"]}
    fields = {"record": {"embed": {"$type": "app.bsky.embed.record", "record": ref}}}
    if view:
        fields["embed"] = {
            "$type": "app.bsky.embed.record#view",
            "record": {
                "$type": "app.bsky.embed.record#viewRecord",
                **ref,
                "author": original["author"],
                "value": original["record"],
                "indexedAt": original["indexedAt"],
            },
        }
    return post(n, QUOTE, handle, **fields)


def stories_of(project: Project) -> dict[str, tuple[str, str, tuple]]:
    """native_id -> (story_id, how, links) of every stored item."""
    rows = db_rows(
        project.db,
        "SELECT i.native_id, s.story_id, s.how, i.links FROM items i "
        "JOIN item_story s ON s.item_id = i.id",
    )
    return {native_id: (story, how, tuple(links)) for native_id, story, how, links in rows}


@pytest.mark.parametrize("view", [True, False], ids=["embed-view", "record-only"])
def test_a_quote_and_the_post_it_quotes_are_one_story(tmp_path, time_appview, view):
    original = post(1, ORIGINAL, "alice.bsky.social")
    quote = quote_of(2, original, view=view)
    time_appview.add(original, quote)
    project = Project(tmp_path, time_appview, query="#microlearning")
    project.run()
    stories = stories_of(project)
    alice_url = "https://bsky.app/profile/alice.bsky.social/post/3k00000000001"
    assert stories[quote["uri"]][2] == (alice_url,)
    assert stories[quote["uri"]][0] == stories[original["uri"]][0]
    assert stories[quote["uri"]][1] == "link"
    # ids are made of the at:// URI as before: the stored rows keep their ids
    [(item_id,)] = db_rows(project.db, f"SELECT id FROM items WHERE native_id = '{quote['uri']}'")
    assert item_id == make_item_id("bluesky", quote["uri"])
    feed = json.loads((project.config.outputs.feeds_dir / "microlearning.json").read_text())
    [entry] = feed["items"]
    assert entry["url"] == alice_url
    assert entry["_pln"]["story"]["shared_by"] == ["alice.bsky.social", "bob.bsky.social"]


def test_a_quote_read_a_run_later_joins_the_stored_original(tmp_path, time_appview):
    original = post(1, ORIGINAL, "alice.bsky.social")
    time_appview.add(original)
    project = Project(tmp_path, time_appview, query="#microlearning")
    project.run()
    # the next run's page holds only the quote: alice's handle comes from the embed's view
    quote = quote_of(2, original, view=True)
    time_appview.posts = [quote]
    project.run()
    stories = stories_of(project)
    assert stories[quote["uri"]][0] == stories[original["uri"]][0]


def test_a_quote_whose_handle_is_unknown_links_by_did_and_an_invalid_handle_is_not_used(
    tmp_path, time_appview
):
    original = post(1, ORIGINAL, "alice.bsky.social")
    time_appview.add(quote_of(2, original, view=False))  # the original is not in this fetch
    broken = post(3, "A #microlearning post whose author's handle no longer verifies", "carol")
    broken["author"]["handle"] = "handle.invalid"
    time_appview.add(broken)
    project = Project(tmp_path, time_appview, query="#microlearning")
    project.run()
    rows = dict(db_rows(project.db, "SELECT native_id, url FROM items"))
    quote_links = stories_of(project)[time_appview.posts[0]["uri"]][2]
    assert quote_links == ("https://bsky.app/profile/did:plc:alice/post/3k00000000001",)
    assert rows[broken["uri"]] == "https://bsky.app/profile/did:plc:carol/post/3k00000000003"


@pytest.mark.parametrize("handle", ["", "alice.example.com"], ids=["by-did", "new-handle"])
def test_a_quote_naming_the_original_by_did_or_a_new_handle_joins_it(
    tmp_path, time_appview, handle
):
    original = post(1, ORIGINAL, "alice.bsky.social")
    time_appview.add(original)
    project = Project(tmp_path, time_appview, query="#microlearning")
    project.run()
    quote = quote_of(2, original, view=bool(handle))  # no view, no handle: the DID
    if handle:  # alice took her own domain as her handle since
        quote["embed"]["record"]["author"] = {**original["author"], "handle": handle}
    time_appview.posts = [quote]
    project.run()
    stories = stories_of(project)
    assert stories[quote["uri"]][2] == (
        f"https://bsky.app/profile/{handle or 'did:plc:alice'}/post/3k00000000001",
    )
    assert stories[quote["uri"]][0] == stories[original["uri"]][0]


# -- finding 5: the API's own explanation, in a short line ---------------------------------------

PROFILE_NOT_FOUND = b'{"error": "InvalidRequest", "message": "Profile not found"}'


def test_an_api_error_is_a_short_line_without_the_query(tmp_path, time_appview):
    time_appview.errors[AUTHOR_FEED] = (400, PROFILE_NOT_FOUND)
    project = Project(tmp_path, time_appview, actor="jane.bsky.social")
    stats = project.run()
    error = stats["sources"]["errors"]["sky"]
    assert error.startswith(f"source 'sky': HTTP 400 from {time_appview.url}{AUTHOR_FEED}")
    assert "?actor=" not in error and "limit=" not in error and len(error) < 300
    assert f"✗ sky: HTTP 400 from {time_appview.url}{AUTHOR_FEED}" in project.summary


# sources/http.py reads error bodies when asked (`error_body_bytes`) from 5 December 2026


def test_an_api_error_says_what_the_api_said(tmp_path, time_appview):
    time_appview.errors[AUTHOR_FEED] = (400, PROFILE_NOT_FOUND)
    project = Project(tmp_path, time_appview, actor="jane.bsky.social")
    error = project.run()["sources"]["errors"]["sky"]
    assert error.startswith(f"source 'sky': HTTP 400 from {time_appview.url}{AUTHOR_FEED}: ")
    assert "Profile not found" in error and "InvalidRequest" in error
    assert error.endswith(
        "; has jane.bsky.social changed handle? `actor:` also takes the account's DID (did:plc:…)"
    )
    assert "?actor=" not in error and len(error) < 300


def test_a_source_that_always_falls_behind_keeps_the_newest_stretches(time_appview):
    """More than MAX_BACKLOG runs in a row that each fall behind: the oldest stretch is given
    up, with a warning that says what to change; the newest ones are kept."""
    source = make_source(
        "bluesky", Path("."), "sky", query="q", base_url=time_appview.url, limit=1, max_pages=1
    )
    time_appview.add(post(1, tip(1)))
    cursor = source.fetch(None).cursor
    for run in range(MAX_BACKLOG + 1):  # two new posts a run, one read
        time_appview.add(post(10 * run + 2, tip(0)), post(10 * run + 3, tip(0)))
        result = source.fetch(cursor)
        cursor = result.cursor
    assert [item.native_id for item in result.items] == [time_appview.posts[-1]["uri"]]
    assert len(cursor["backlog"]) == MAX_BACKLOG
    assert cursor["backlog"][0]["until"] == "2026-11-01T03:13:00.000000+00:00"  # the newest
    assert cursor["backlog"][-1]["until"] == "2026-11-01T00:03:00.000000+00:00"  # not 00:01
    assert result.warnings == [
        f"older posts given up: more than {MAX_BACKLOG} runs in a row had more than "
        "max_pages × limit (1) new posts; raise max_pages"
    ]
