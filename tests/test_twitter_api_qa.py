"""X API (`twitter_api`), QA findings: a since_id past recent search's 7 days, a rate limit in
the middle of a fetch, what X's errors say, and partial `errors` next to complete data.

The source is the real one, against a small X written here (`FakeX`): a real HTTP server on
127.0.0.1 that pages newest first by since_id and page token, and answers as X does when asked
for what it refuses. `pln run` and the store as a user sees them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import helpers
import pytest
from helpers import db_rows
from httpserver import AnsweringServer

from pln.cli import main
from pln.errors import SourceError
from pln.sinks.store import Store
from pln.sources.twitter_api import _utc

TOKEN = "AAAA-qa-bearer-0123456789"
EPOCH_MS = 1288834974657  # X's snowflake epoch
DAY = 86_400.0
SEARCH = "/2/tweets/search/recent"
TIMELINE = "/2/users/100/tweets"


def snowflake(at: float, sequence: int = 0) -> str:
    """The id X gives a tweet posted at `at` (seconds since the epoch)."""
    return str(((int(at * 1000) - EPOCH_MS) << 22) + sequence)


def posted(tweet_id: str) -> float:
    return ((int(tweet_id) >> 22) + EPOCH_MS) / 1000


def problem(status: int, **fields) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(fields).encode()


class FakeX:
    """Recent search and a user timeline, newest first, with since_id and page tokens.

    Recent search reaches back `window` seconds and refuses an older since_id with X's own
    400. `faults` are tried first: functions (path, params) -> an answer, or None."""

    def __init__(self, window: float = 7 * DAY):
        self.window = window
        self.tweets: list[dict] = []
        self.requests: list[tuple[str, dict]] = []
        self.faults: list = []
        self.page_errors: list[dict] = []
        self._server = AnsweringServer(self.answer)
        self.base = self._server.base

    def post(self, at: float, text: str, sequence: int = 0) -> str:
        tweet_id = snowflake(at, sequence)
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at))
        tweet = {"id": tweet_id, "text": text, "author_id": "100", "created_at": created}
        self.tweets.append({**tweet, "edit_history_tweet_ids": [tweet_id], "lang": "en"})
        self.tweets.sort(key=lambda t: -int(t["id"]))
        return tweet_id

    def answer(self, raw: str) -> tuple[int, dict, bytes]:
        parts = urlsplit(raw)
        path, params = parts.path, dict(parse_qsl(parts.query))
        self.requests.append((path, params))
        for fault in self.faults:
            if (answer := fault(path, params)) is not None:
                return answer
        tweets, since = self.tweets, params.get("since_id", "")
        if path == SEARCH:
            edge = time.time() - self.window
            if since and posted(since) < edge:
                shown = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(edge))
                return problem(
                    400,
                    errors=[
                        {
                            "parameters": {"since_id": [since]},
                            "message": f"Invalid 'since_id':'{since}'. 'since_id' must be a "
                            f"tweet id created after {shown}. Please use a 'since_id' that is "
                            f"larger than {snowflake(edge)}",
                        }
                    ],
                    title="Invalid Request",
                    detail="One or more parameters to your request was invalid.",
                    type="https://api.twitter.com/2/problems/invalid-request",
                )
            tweets = [t for t in tweets if posted(t["id"]) >= edge]
        elif path != TIMELINE:
            return 404, {}, b"{}"
        if since:
            tweets = [t for t in tweets if int(t["id"]) > int(since)]
        if token := params.get("next_token") or params.get("pagination_token"):
            if not token.startswith("p"):
                name = "next_token" if path == SEARCH else "pagination_token"
                return problem(
                    400,
                    errors=[{"parameters": {name: [token]}, "message": f"Invalid {name}"}],
                    title="Invalid Request",
                    detail="One or more parameters to your request was invalid.",
                )
            tweets = [t for t in tweets if int(t["id"]) <= int(token[1:])]
        size = int(params.get("max_results", 100))
        page, rest = tweets[:size], tweets[size:]
        meta: dict = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if rest:
            meta["next_token"] = "p" + rest[0]["id"]
        body: dict = {"meta": meta}
        if page:
            users = [{"id": "100", "username": "jane_ld", "name": "Jane"}]
            body.update(data=page, includes={"users": users})
            if self.page_errors:
                body["errors"] = self.page_errors
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def asked(self, path: str) -> list[dict]:
        return [params for p, params in self.requests if p == path]

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def x(monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    fake = FakeX()
    yield fake
    fake.close()


def source(fake: FakeX, **options):
    return helpers.make_source("twitter_api", Path("."), "x-qa", base_url=fake.base, **options)


CONFIG = """
sources:
{sources}
topics:
  - {{id: microlearning, title: Microlearning, phrases: [microlearning], threshold: 0.3}}
outputs: {{duckdb: out/pln.duckdb, feeds_dir: out/feeds}}
"""


def write_config(tmp_path: Path, fake: FakeX, **sources: str) -> None:
    lines = [
        f'  - {{name: {name}, type: twitter_api, base_url: "{fake.base}", {options}}}'
        for name, options in sources.items()
    ]
    (tmp_path / "pln.yaml").write_text(CONFIG.format(sources="\n".join(lines)))


def pln_run(tmp_path: Path, capsys) -> str:
    """`pln run` as a user runs it: the summary and the warning line."""
    main(["run", "-c", str(tmp_path / "pln.yaml")])
    out = capsys.readouterr()
    return out.out + out.err


def stored(tmp_path: Path) -> set[str]:
    return {row[0] for row in db_rows(tmp_path / "out/pln.duckdb", "SELECT native_id FROM items")}


# --------------------------------------------------------------------- since_id past 7 days


def test_a_since_id_past_the_7_days_is_not_sent_and_the_search_goes_on(x):
    """A weekly chat's quiet week: the last tweet read is 8 days old. X would answer 400 to it
    as since_id; the search reads the whole 7 days instead, and says what that means."""
    now = time.time()
    last_read = x.post(now - 8 * DAY, "last week's #lrnchat on microlearning")
    new = {x.post(now - 600 + i, f"Q{i} #lrnchat microlearning today") for i in range(3)}

    result = source(x, query="#lrnchat").fetch({"since_id": last_read})

    assert {i.native_id for i in result.items} == new
    assert [p.get("since_id") for p in x.asked(SEARCH)] == [None]  # one request, no 400
    [note] = result.warnings
    assert "is older than recent search's 7 days" in note and "out of its reach" in note
    assert result.cursor == {"since_id": max(new)}

    # the next run asks for what came after, with a since_id X takes
    again = source(x, query="#lrnchat").fetch(result.cursor)
    assert x.asked(SEARCH)[-1]["since_id"] == max(new)
    assert again.items == [] and again.warnings == []


def test_a_quiet_fortnight_says_so_once_and_never_fails(x):
    now = time.time()
    last_read = x.post(now - 10 * DAY, "old #lrnchat")
    first = source(x, query="#lrnchat").fetch({"since_id": last_read})
    assert first.items == [] and len(first.warnings) == 1
    assert first.cursor["since_id"] == last_read  # no newer tweet: it stays
    second = source(x, query="#lrnchat").fetch(first.cursor)
    assert second.items == [] and second.warnings == []  # the last run searched the 7 days
    assert all("since_id" not in p for p in x.asked(SEARCH))


def test_a_since_id_x_still_refuses_is_dropped_once_with_xs_reason(x):
    """X's clock may be ahead of ours: its 400 on since_id is retried once without it."""
    x.window = 6 * DAY
    now = time.time()
    last_read = x.post(now - 6.5 * DAY, "old #lrnchat")
    new = x.post(now - 60, "#lrnchat microlearning now")

    result = source(x, query="#lrnchat").fetch({"since_id": last_read})

    assert [i.native_id for i in result.items] == [new]
    assert [p.get("since_id") for p in x.asked(SEARCH)] == [last_read, None]
    [note] = result.warnings
    assert f"X refused since_id {last_read}" in note and "must be a tweet id created" in note
    assert result.cursor == {"since_id": new}


def test_an_http_400_line_gives_xs_reason_and_no_query_string(x):
    x.faults.append(
        lambda path, params: problem(
            400,
            errors=[
                {
                    "message": "There were errors processing your request: no viable "
                    "alternative at input '((' (at position 1)"
                }
            ],
            title="Invalid Request",
            detail="One or more parameters to your request was invalid.",
        )
    )
    with pytest.raises(SourceError) as err:
        source(x, query="((").fetch(None)
    line = str(err.value)
    assert line == (
        f"source 'x-qa': HTTP 400 from {x.base}{SEARCH}: Invalid Request: There were errors "
        "processing your request: no viable alternative at input '((' (at position 1)"
    )


# --------------------------------------------------------------------- a 429 on page 2


def rate_limited_pages(fake: FakeX, reset_in: float, times: int = 1, **body) -> None:
    """Pages after the first answer 429 `times` times, the window resetting in `reset_in` s."""
    left = [times]

    def fault(path, params):
        if "pagination_token" in params and left[0] > 0:
            left[0] -= 1
            reset = str(int(time.time() + reset_in))
            status, headers, payload = problem(429, **(body or {"title": "Too Many Requests"}))
            return status, {**headers, "x-rate-limit-reset": reset}, payload

    fake.faults.append(fault)


def test_a_rate_limit_on_page_2_keeps_page_1_and_the_next_runs_go_on(x, tmp_path, capsys):
    now = time.time()
    older = {x.post(now - 3600 + i, f"Tweet {i}: microlearning for onboarding") for i in range(250)}
    rate_limited_pages(x, reset_in=120)  # far enough that run 2 always comes before it
    write_config(tmp_path, x, **{"x-jane": 'user_id: "100"'})

    out = pln_run(tmp_path, capsys)
    assert len(stored(tmp_path)) == 100
    assert "items     100 read: 100 new" in out
    [note] = [line for line in out.splitlines() if line.strip().startswith("! x-jane")]
    assert f"stopped after 1 page: rate limited by {x.base}{TIMELINE}; retry after" in note
    assert "kept the 100 tweets read, the next run goes on from there after" in note
    assert "✗" not in out

    newer = {x.post(time.time() - 5 + i, f"New {i}: microlearning") for i in range(5)}
    asked = len(x.requests)
    out = pln_run(tmp_path, capsys)  # before the reset: X is not asked, and the run says so
    assert len(x.requests) == asked and len(stored(tmp_path)) == 100
    [(cursor,)] = db_rows(tmp_path / "out/pln.duckdb", "SELECT cursor FROM sources")
    until = json.loads(cursor)["rate_limited_until"]
    assert f"! x-jane: waiting for X's rate limit: X is asked again after {_utc(until)}" in out

    # The window has passed: the cursor says so, as the clock would in two minutes.
    with Store(tmp_path / "out/pln.duckdb") as store:
        rewound = {**json.loads(cursor), "rate_limited_until": int(time.time()) - 1}
        store.con.execute("UPDATE sources SET cursor = ?", [json.dumps(rewound)])
    before = len(x.asked(TIMELINE))
    pln_run(tmp_path, capsys)  # on from page 2, down to where run 1 began
    page_2 = sorted(older, key=int, reverse=True)[100]
    assert x.asked(TIMELINE)[before]["pagination_token"] == "p" + page_2
    assert stored(tmp_path) == older

    pln_run(tmp_path, capsys)  # then what came since run 1: nothing in between is lost
    assert stored(tmp_path) == older | newer
    assert x.asked(TIMELINE)[-1]["since_id"] == max(older)


def test_a_usage_cap_on_page_2_keeps_page_1_and_waits_a_day(x):
    now = time.time()
    for i in range(150):
        x.post(now - 3600 + i, f"Tweet {i}")
    rate_limited_pages(
        x,
        reset_in=900,
        title="UsageCapExceeded",
        type="https://api.twitter.com/2/problems/usage-capped",
        period="Monthly",
        detail="Usage cap exceeded: Monthly product cap",
    )
    result = source(x, user_id="100").fetch(None)
    assert len(result.items) == 100
    assert result.cursor["next_token"].startswith("p")
    assert result.cursor["rate_limited_until"] >= now + DAY
    [note] = result.warnings
    assert "X's monthly usage cap for this app is used up" in note

    asked = len(x.requests)
    waiting = source(x, user_id="100").fetch(result.cursor)
    assert not waiting.items and len(x.requests) == asked
    assert waiting.cursor == result.cursor
    until = _utc(result.cursor["rate_limited_until"])
    assert waiting.warnings == [f"waiting for X's rate limit: X is asked again after {until}"]


def test_a_page_token_x_refuses_reads_the_window_again_down_to_since_id(x):
    now = time.time()
    seen = x.post(now - 7200, "seen")
    later = {x.post(now - 3600 + i, f"later {i}") for i in range(3)}
    result = source(x, user_id="100").fetch(
        {"since_id": seen, "next_token": "expired", "newest_id": max(later)}
    )
    assert {i.native_id for i in result.items} == later
    assert [p.get("pagination_token") for p in x.asked(TIMELINE)] == ["expired", None]
    assert x.asked(TIMELINE)[-1]["since_id"] == seen
    assert "X refused the saved pagination_token" in result.warnings[0]
    assert result.cursor == {"since_id": max(later)}


def test_a_rate_limit_on_the_first_page_fails_the_source(x):
    x.post(time.time() - 60, "microlearning")
    x.faults.append(lambda path, params: problem(429, title="Too Many Requests"))
    cursor = {"since_id": "1", "next_token": "p5", "newest_id": "9"}
    with pytest.raises(SourceError, match="rate limited by .*no reset time given"):
        source(x, user_id="100").fetch(cursor)


# --------------------------------------------------------------------- what X's errors say


def test_monthly_cap_and_access_level_are_said_as_they_are(x, tmp_path, capsys):
    def fault(path, params):
        if path == SEARCH:
            return problem(
                403,
                title="Client Forbidden",
                type="https://api.twitter.com/2/problems/client-forbidden",
                reason="client-not-enrolled",
                required_enrollment="Appropriate Level of API Access",
                detail="You currently have access to a subset of X API V2 endpoints and "
                "limited v1.1 endpoints only. If you need access to this endpoint, you may "
                "need a different access level.",
            )
        return problem(
            429,
            title="UsageCapExceeded",
            type="https://api.twitter.com/2/problems/usage-capped",
            period="Monthly",
            scope="Product",
            detail="Usage cap exceeded: Monthly product cap",
        )

    x.faults.append(fault)
    write_config(tmp_path, x, **{"x-search": 'query: "#lrnchat"', "x-jane": 'user_id: "100"'})
    out = pln_run(tmp_path, capsys)
    lines = [line.strip() for line in out.splitlines() if "✗" in line]
    assert (
        f"✗ x-search: HTTP 403 from {x.base}{SEARCH}: client-not-enrolled: the app's access "
        "level (its Project's plan) does not include this endpoint; the bearer token itself "
        "was accepted"
    ) in lines
    assert (
        f"✗ x-jane: HTTP 429 from {x.base}{TIMELINE}: X's monthly usage cap for this app is "
        "used up (not a short rate limit); asked again in 24 h (the cap resets with the "
        "billing period, or raise the plan)"
    ) in lines
    assert all("?" not in line and len(line) < 250 for line in lines) and TOKEN not in out
    waits = db_rows(
        tmp_path / "out/pln.duckdb",
        "SELECT name, epoch(next_poll_at - last_fetch_at) FROM sources ORDER BY name",
    )
    assert waits[0][0] == "x-jane" and waits[0][1] >= DAY  # not the 15-minute limit
    assert waits[1][0] == "x-search" and waits[1][1] < DAY


def test_an_ordinary_429_still_waits_for_the_reset_header(x):
    reset = int(time.time()) + 120
    x.faults.append(
        lambda path, params: (
            429,
            {"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
            b'{"title": "Too Many Requests", "detail": "Too Many Requests"}',
        )
    )
    with pytest.raises(SourceError) as err:
        source(x, query="#lrnchat").fetch(None)
    assert 100 <= err.value.retry_after <= 121
    assert str(err.value).startswith(f"source 'x-qa': rate limited by {x.base}{SEARCH}; retry")
    assert "Too Many" not in str(err.value)


# --------------------------------------------------------------------- partial errors

SUSPENDED = {  # as X sends it (twarc's kpop.jsonl)
    "parameter": "entities.mentions.username",
    "resource_id": "leeseunggi",
    "value": "leeseunggi",
    "detail": "User has been suspended: [leeseunggi].",
    "title": "Forbidden",
    "resource_type": "user",
    "type": "https://api.twitter.com/2/problems/resource-not-found",
}


def test_partial_errors_next_to_complete_data_are_no_dead_letters(x, tmp_path, capsys):
    now = time.time()
    for i in range(5):
        x.post(now - 600 + i, f"Tweet {i}: microlearning with @leeseunggi")
    x.page_errors = [SUSPENDED]
    write_config(tmp_path, x, **{"x-lrnchat": 'query: "#lrnchat"'})
    textless = []
    for run in (1, 2):
        textless.append(snowflake(now - 300 + run))
        x.tweets.insert(0, {"id": textless[-1], "author_id": "100"})  # the newest, no text
        out = pln_run(tmp_path, capsys)
        assert "dead      1 record could not be read (x-lrnchat 1)" in out  # the textless one
        assert "suspended" not in out and "    ! " not in out
        assert "left out: related object X could not show 1 (x-lrnchat 1)" in out
    reasons = db_rows(tmp_path / "out/pln.duckdb", "SELECT reason FROM dead_letters")
    assert sorted(r for (r,) in reasons) == [f"tweet {t} has no text" for t in textless]
    assert len(stored(tmp_path)) == 5


def test_an_error_that_is_not_about_an_expansion_is_a_warning(x):
    x.post(time.time() - 60, "microlearning")
    x.page_errors = [{"title": "Service Unavailable", "detail": "part of the answer is missing"}]
    result = source(x, query="#lrnchat").fetch(None)
    assert len(result.items) == 1 and result.dead_letters == []
    assert result.warnings == [
        "X reported a problem with a page: API error: Service Unavailable: part of the "
        "answer is missing"
    ]


def test_an_error_body_is_read_gzipped_and_only_up_to_its_cap(x):
    import gzip

    said = json.dumps({"title": "Forbidden", "detail": "Protected account"}).encode()
    x.faults.append(lambda path, params: (403, {"Content-Encoding": "gzip"}, gzip.compress(said)))
    with pytest.raises(SourceError) as err:
        source(x, user_id="100").fetch(None)
    assert str(err.value).endswith("X refused the request (Forbidden: Protected account)")

    huge = json.dumps({"title": "Forbidden", "detail": "x" * 100_000}).encode()
    x.faults.insert(0, lambda path, params: (403, {}, huge))
    with pytest.raises(SourceError) as err:
        source(x, user_id="100").fetch(None)
    assert str(err.value).endswith(f"{TIMELINE}: X refused the request (forbidden)")


def test_a_24_hour_cap_header_waits_for_its_reset(x):
    reset = int(time.time()) + 5 * 3600
    x.faults.append(
        lambda path, params: (
            429,
            {"x-app-limit-24hour-remaining": "0", "x-app-limit-24hour-reset": str(reset)},
            b'{"title": "Too Many Requests"}',
        )
    )
    with pytest.raises(SourceError) as err:
        source(x, query="#lrnchat").fetch(None)
    assert 5 * 3600 - 60 <= err.value.retry_after <= 5 * 3600
    assert "X's 24-hour usage cap for this app is used up" in str(err.value)
