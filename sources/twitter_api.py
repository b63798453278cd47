"""The live X API v2: recent search, user and list timelines, with X's rate-limit headers."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from pln.backoff import MAX_RETRY_AFTER
from pln.config import Options
from pln.errors import SourceError
from pln.sources.base import Cursor, FetchResult, Source
from pln.sources.http import (
    HttpFetcher,
    endpoint,
    explain,
    json_object,
    parse_retry_after,
    redact,
)
from pln.sources.twitter import V2Parser, api_error, is_related_error, max_id

TWEET_FIELDS = (
    "created_at,lang,conversation_id,entities,referenced_tweets,author_id,"
    "in_reply_to_user_id,note_tweet,edit_history_tweet_ids"
)
EXPANSIONS = "author_id,referenced_tweets.id,referenced_tweets.id.author_id"

SEARCH_WINDOW = 7 * 86_400  # seconds: how far back recent search reaches, and takes a since_id
EDGE_MARGIN = 600  # seconds: a since_id this close to that edge counts as past it (clocks differ)
TWITTER_EPOCH_MS = 1_288_834_974_657  # tweet ids are snowflakes: (id >> 22) + this = ms posted
ERROR_BODY_BYTES = 16 * 1024  # how much of an error response is read for X's explanation
_GENERIC = re.compile(r"^(too many requests|unauthorized|forbidden|rate limit exceeded)$", re.I)


def tweet_time(tweet_id: str) -> float | None:
    """When the tweet `tweet_id` was posted (seconds since the epoch), read from its id."""
    return ((int(tweet_id) >> 22) + TWITTER_EPOCH_MS) / 1000 if tweet_id.isdigit() else None


def _utc(seconds: float, minutes: bool = True) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime(
        "%Y-%m-%d %H:%M UTC" if minutes else "%Y-%m-%d"
    )


class _XFetcher(HttpFetcher):
    """HttpFetcher that reads X's rate-limit headers and error bodies, and says what a 401,
    403 or 429 means. Messages name the endpoint without its (long) query."""

    def __init__(self, source: str, *, timeout: float):
        super().__init__(
            source, timeout=timeout, error_body_bytes=ERROR_BODY_BYTES, show_query=False
        )

    def _explained_error(self, status, headers, url, body):
        if status in (401, 403, 429):
            return self._x_error(status, headers, url, body)
        return super()._explained_error(status, headers, url, body)

    def _x_error(self, status: int, headers: dict, url: str, body: bytes) -> SourceError:
        where, problem = self.shown(url), json_object(body)
        why = explain(body)
        said = f" ({why})" if why and not _GENERIC.match(why) else ""
        if status == 429:
            if capped := _usage_cap(problem, headers):
                period, wait = capped
                return self.error(
                    f"HTTP 429 from {where}: X's {period} usage cap for this app is used up "
                    f"(not a short rate limit); asked again in {wait / 3600:.0f} h (the cap "
                    "resets with the billing period, or raise the plan)",
                    retry_after=wait,
                )
            wait = parse_retry_after(headers.get("retry-after", ""))
            if wait is None:
                wait = _seconds_until(headers.get("x-rate-limit-reset", ""))
            if wait is not None:
                return self.error(
                    f"rate limited by {where}; retry after {wait:.0f} s{said}", retry_after=wait
                )
            return self.error(f"rate limited by {where} (HTTP 429, no reset time given){said}")
        if status == 403 and _not_enrolled(problem):
            reason = " ".join(str(problem.get("reason") or "client-forbidden").split())[:40]
            return self.error(
                f"HTTP 403 from {where}: {reason}: the app's access level (its Project's plan) "
                "does not include this endpoint; the bearer token itself was accepted"
            )
        if status == 403:
            return self.error(
                f"HTTP 403 from {where}: X refused the request{said or ' (forbidden)'}"
            )
        return self.error(f"HTTP 401 from {where}: the bearer token was refused{said}")


def _usage_cap(problem: dict, headers: dict) -> tuple[str, float] | None:
    """("monthly", seconds to wait) when a 429 says X's usage cap is used up, not the
    15-minute rate limit: a `usage-capped` problem, or a 24-hour limit header at 0."""
    kind = f"{problem.get('type', '')} {problem.get('title', '')}".lower()
    if "usage-capped" in kind or "usagecapexceeded" in kind:
        period = str(problem.get("period") or "monthly").lower()[:20]
        return period, MAX_RETRY_AFTER
    for name, value in headers.items():
        if re.fullmatch(r"x-[a-z]+-limit-24hour-remaining", name) and value.strip() == "0":
            wait = _seconds_until(headers.get(name.replace("-remaining", "-reset"), ""))
            bounded = MAX_RETRY_AFTER if wait is None else min(max(wait, 60.0), MAX_RETRY_AFTER)
            return "24-hour", bounded
    return None


def _seconds_until(reset: str) -> float | None:
    """Seconds from now to an `x-*-reset` header's time (unix seconds; 0 when past); None
    when it holds no such time."""
    reset = reset.strip()
    return max(0.0, int(reset) - time.time()) if reset.isdigit() and len(reset) < 12 else None


def _not_enrolled(problem: dict) -> bool:
    """A 403 for an endpoint the app's access level does not include (its token is fine)."""
    said = " ".join(
        str(problem.get(k, "")) for k in ("type", "reason", "detail", "required_enrollment")
    ).lower()
    return any(
        cue in said
        for cue in ("client-forbidden", "client-not-enrolled", "access level", "enrollment")
    )


class TwitterApiSource(Source):
    """X API v2: recent search, a user's timeline or a list's timeline, newest first.

    Options: one of `query` (recent search, e.g. "#lrnchat -is:retweet"), `username`,
    `user_id` or `list_id`; `bearer_token_env` (default X_BEARER_TOKEN: the name of the
    environment variable holding the token, never the token itself); `base_url` (default
    https://api.x.com); `max_pages` per fetch (default 5); `max_results` per page (default 100);
    `timeout` seconds (default 20).

    The cursor keeps `since_id`, so each run asks only for newer tweets. When a run stops at
    `max_pages` with older pages left, the cursor keeps the pagination token and the next run
    continues down to the old `since_id` before moving it forward: nothing in between is skipped.
    A page that fails after the first (a 429, most often) stops the run the same way: the pages
    read are kept, and with a rate limit's reset time in the cursor (`rate_limited_until`) the
    runs before it ask X nothing. Recent search takes no `since_id` older than 7 days: past that
    it searches the whole 7 days instead (`searched_at` then says when it last did).
    """

    type = "twitter_api"

    def configure(self, opts: Options) -> None:
        self.query = opts.text("query")
        self.username = opts.text("username").lstrip("@")
        self.user_id = opts.text("user_id")
        self.list_id = opts.text("list_id")
        chosen = [k for k in ("query", "username", "user_id", "list_id") if getattr(self, k)]
        if len(chosen) != 1:
            raise opts.error(
                "query",
                "set exactly one of query, username, user_id, list_id"
                + (f" (got {', '.join(chosen)})" if chosen else ""),
            )
        self.token_env = opts.text("bearer_token_env", default="X_BEARER_TOKEN")
        self.base_url = opts.text("base_url", default="https://api.x.com").rstrip("/")
        self.max_pages = opts.integer("max_pages", default=5, min=1)
        self.max_results = opts.integer("max_results", default=100, min=10)
        if self.max_results > 100:
            raise opts.error("max_results", f"must be at most 100, got {self.max_results}")
        self.timeout = opts.number("timeout", default=20.0, min=1.0)

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        cursor = dict(cursor or {})
        now = time.time()
        until = cursor.get("rate_limited_until")
        if isinstance(until, int | float) and now < until <= now + MAX_RETRY_AFTER + 60:
            # Not "not modified" (X was not asked), and said on every run till then.
            waiting = f"waiting for X's rate limit: X is asked again after {_utc(until)}"
            return FetchResult(cursor=cursor, warnings=[waiting])
        token = os.environ.get(self.token_env, "").strip()
        if not token:
            raise self.error(f"no bearer token: set the environment variable {self.token_env}")
        fetcher = _XFetcher(self.name, timeout=self.timeout)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        path, uses_since_id, user_id = self._timeline(fetcher, headers, cursor)
        since_id = str(cursor.get("since_id") or "")
        token_param = "next_token" if self.query else "pagination_token"
        page_token = str(cursor.get("next_token") or "")
        parser = V2Parser(self.name)
        newest = str(cursor.get("newest_id") or "")
        warnings: list[str] = []
        send_since = bool(since_id) and uses_since_id
        if self.query and send_since and self._past_window(since_id, now):
            # X refuses it (HTTP 400); a page token that came with it goes too
            send_since, page_token = False, ""
            if not self._searched_lately(cursor, now):
                warnings.append(self._past_window_note(since_id, now))
        pages, stopped, retried = 0, None, set[str]()
        while pages < self.max_pages:
            params = {
                "max_results": self.max_results,
                "tweet.fields": TWEET_FIELDS,
                "expansions": EXPANSIONS,
                "user.fields": "username,name",
            }
            if self.query:
                params["query"] = self.query
            if send_since:
                params["since_id"] = since_id
            if page_token:
                params[token_param] = page_token
            url = f"{self.base_url}{path}?{urlencode(params)}"
            try:
                page = self._get_json(fetcher, url, headers)
            except SourceError as exc:
                refused = explain(exc.http_body, 120) or exc.message
                if pages == 0 and self.query and send_since and _refused(exc, "since_id", retried):
                    # X's clock puts it past the 7 days: search them all (what is stored
                    # already is written again, as the same items)
                    send_since, page_token = False, ""
                    warnings.append(
                        f"X refused since_id {since_id} ({refused}): searched the whole "
                        "7 days instead"
                    )
                    continue
                if pages == 0 and page_token and _refused(exc, token_param, retried):
                    page_token = ""  # read the window again from its top, down to since_id
                    warnings.append(
                        f"X refused the saved {token_param} ({refused}): read again from "
                        "the newest tweet"
                    )
                    continue
                if pages == 0:
                    raise  # nothing read: the source fails and keeps its cursor
                stopped = exc
                break
            pages += 1
            note = self._partial_errors(page)
            if note and note not in warnings:
                warnings.append(note)
            older = self._drop_seen(page, since_id)
            parser.page(page, redact(url))
            meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
            newest = max_id(newest, meta.get("newest_id", ""), parser.out.max_id or "")
            page_token = "" if older else str(meta.get("next_token") or "")
            if not page_token:
                break
        next_cursor: dict = {"since_id": max_id(since_id, newest)}
        if self.username:  # saves the lookup next time
            next_cursor["user_id"] = user_id
        if page_token:  # stopped early: finish this window before moving since_id on
            bound = since_id if send_since or not uses_since_id else ""
            next_cursor.update(since_id=bound, next_token=page_token, newest_id=newest)
        elif self.query and self._past_window(next_cursor["since_id"], now):
            next_cursor["searched_at"] = int(now)  # the whole 7 days, and still no newer tweet
        result = parser.out
        if stopped is not None:
            warnings.append(self._stopped_note(stopped, pages, len(result.items), now))
            if stopped.retry_after:
                next_cursor["rate_limited_until"] = int(now + stopped.retry_after) + 1
        return FetchResult(
            items=result.item_list(),
            dead_letters=[self.dead_letter(p.ref, p.reason, p.raw) for p in result.problems],
            drops=result.drops,
            cursor=next_cursor,
            warnings=warnings,
        )

    @staticmethod
    def _past_window(since_id: str, now: float) -> bool:
        """Whether recent search would refuse `since_id`: a tweet 7 days old, or nearly."""
        posted = tweet_time(since_id)
        return posted is not None and posted < now - SEARCH_WINDOW + EDGE_MARGIN

    @staticmethod
    def _searched_lately(cursor: Cursor, now: float) -> bool:
        """Whether a search of the whole 7 days ran recently enough to overlap this one."""
        at = cursor.get("searched_at")
        return isinstance(at, int | float) and now - SEARCH_WINDOW + EDGE_MARGIN < at <= now

    @staticmethod
    def _past_window_note(since_id: str, now: float) -> str:
        posted = tweet_time(since_id) or 0.0
        return (
            f"the last tweet read ({_utc(posted, minutes=False)}) is older than recent "
            "search's 7 days, so X would refuse it as since_id: searched the whole 7 days "
            f"instead; tweets from before {_utc(now - SEARCH_WINDOW)} are out of its reach"
        )

    def _stopped_note(self, error: SourceError, pages: int, tweets: int, now: float) -> str:
        wait = error.retry_after
        then = f" after {_utc(now + wait)}" if wait else ""
        return (
            f"stopped after {pages} page{'s' * (pages != 1)}: {error.message}; kept the "
            f"{tweets} tweet{'s' * (tweets != 1)} read, the next run goes on from there{then}"
        )

    @staticmethod
    def _partial_errors(page: dict) -> str:
        """Take the `errors` out of a page that has data but those about what X could not
        expand (a mentioned user suspended, a quoted tweet deleted): no tweet of the page is
        lost by them, so they are not dead letters but drops (the parser counts them). Others
        become one warning."""
        errors = page.pop("errors", None)
        if not isinstance(errors, list):
            return ""
        page["errors"] = [e for e in errors if is_related_error(e)]
        other = [e for e in errors if not is_related_error(e)]
        if not other:
            return ""
        more = f" (and {len(other) - 1} more)" if len(other) > 1 else ""
        return f"X reported a problem with a page: {api_error(other[0])[:200]}{more}"

    def _timeline(
        self, fetcher: HttpFetcher, headers: dict, cursor: Cursor
    ) -> tuple[str, bool, str]:
        """The endpoint path, whether it takes since_id (list timelines do not), the user id."""
        if self.query:
            return "/2/tweets/search/recent", True, ""
        if self.list_id:
            return f"/2/lists/{quote(self.list_id)}/tweets", False, ""
        user_id = self.user_id or cursor.get("user_id") or self._lookup_user(fetcher, headers)
        return f"/2/users/{quote(user_id)}/tweets", True, user_id

    def _lookup_user(self, fetcher: HttpFetcher, headers: dict) -> str:
        url = f"{self.base_url}/2/users/by/username/{quote(self.username)}"
        data = self._get_json(fetcher, url, headers).get("data")
        if not isinstance(data, dict) or not data.get("id"):
            raise self.error(f"no user id for @{self.username} in {endpoint(url)}")
        return str(data["id"])

    def _get_json(self, fetcher: HttpFetcher, url: str, headers: dict) -> dict:
        body = fetcher.get(url, headers).body
        try:
            page = json.loads(body)
        except ValueError:
            raise self.error(f"response from {endpoint(url)} is not JSON") from None
        if not isinstance(page, dict):
            raise self.error(f"response from {endpoint(url)} is not an API v2 object")
        errors = page.get("errors")
        if "data" not in page and errors:
            first = errors[0] if isinstance(errors, list) else errors
            raise self.error(f"{api_error(first)[:300]} ({endpoint(url)})")
        return page

    @staticmethod
    def _drop_seen(page: dict, since_id: str) -> bool:
        """Remove tweets at or below since_id (list timelines); True when any were there."""
        data = page.get("data")
        if not since_id.isdigit() or not isinstance(data, list):
            return False
        fresh = [
            t for t in data if not (isinstance(t, dict) and 0 < _id_number(t) <= int(since_id))
        ]
        page["data"] = fresh
        return len(fresh) < len(data)


def _refused(error: SourceError, parameter: str, retried: set[str]) -> bool:
    """Whether X answered 400 because of `parameter` (its explanation names it), the first
    time in this fetch (`retried` remembers): a request without it is then worth a try."""
    if error.http_status != 400 or parameter.encode() not in error.http_body:
        return False
    if parameter in retried:
        return False
    retried.add(parameter)
    return True


def _id_number(tweet: dict) -> int:
    value = str(tweet.get("id", ""))
    return int(value) if value.isdigit() else 0
