"""The live X API v2: recent search, user and list timelines, with X's rate-limit headers."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from pln.config import Options
from pln.sources.base import Cursor, FetchResult, Source
from pln.sources.http import HttpFetcher, parse_retry_after, redact
from pln.sources.twitter import V2Parser, api_error, max_id

TWEET_FIELDS = (
    "created_at,lang,conversation_id,entities,referenced_tweets,author_id,"
    "in_reply_to_user_id,note_tweet,edit_history_tweet_ids"
)
EXPANSIONS = "author_id,referenced_tweets.id,referenced_tweets.id.author_id"


class _XFetcher(HttpFetcher):
    """HttpFetcher that reads X's rate-limit headers and says what a 401/403 means."""

    def _status_error(self, status, headers, url):
        if status == 429:
            wait = parse_retry_after(headers.get("retry-after", ""))
            reset = headers.get("x-rate-limit-reset", "").strip()
            if wait is None and reset.isdigit():
                wait = max(0.0, int(reset) - datetime.now(UTC).timestamp())
            if wait is not None:
                return self.error(
                    f"rate limited by {redact(url)}; retry after {wait:.0f} s", retry_after=wait
                )
        if status in (401, 403):
            return self.error(f"HTTP {status} from {redact(url)}: the bearer token was refused")
        return super()._status_error(status, headers, url)


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
        token = os.environ.get(self.token_env, "").strip()
        if not token:
            raise self.error(f"no bearer token: set the environment variable {self.token_env}")
        fetcher = _XFetcher(self.name, timeout=self.timeout)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        path, uses_since_id, user_id = self._timeline(fetcher, headers, cursor)
        since_id = cursor.get("since_id", "")
        token_param = "next_token" if self.query else "pagination_token"
        page_token = cursor.get("next_token", "")
        parser = V2Parser(self.name)
        newest = cursor.get("newest_id", "")
        for _ in range(self.max_pages):
            params = {
                "max_results": self.max_results,
                "tweet.fields": TWEET_FIELDS,
                "expansions": EXPANSIONS,
                "user.fields": "username,name",
            }
            if self.query:
                params["query"] = self.query
            if since_id and uses_since_id:
                params["since_id"] = since_id
            if page_token:
                params[token_param] = page_token
            url = f"{self.base_url}{path}?{urlencode(params)}"
            page = self._get_json(fetcher, url, headers)
            older = self._drop_seen(page, since_id)
            parser.page(page, redact(url))
            meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
            newest = max_id(newest, meta.get("newest_id", ""), parser.out.max_id or "")
            page_token = "" if older else str(meta.get("next_token") or "")
            if not page_token:
                break
        next_cursor = {"since_id": max_id(since_id, newest)}
        if self.username:  # saves the lookup next time
            next_cursor["user_id"] = user_id
        if page_token:  # stopped at max_pages: finish this window before moving since_id on
            next_cursor.update(since_id=since_id, next_token=page_token, newest_id=newest)
        result = parser.out
        return FetchResult(
            items=result.item_list(),
            dead_letters=[self.dead_letter(p.ref, p.reason, p.raw) for p in result.problems],
            drops=result.drops,
            cursor=next_cursor,
        )

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
            raise self.error(f"no user id for @{self.username} in {url}")
        return str(data["id"])

    def _get_json(self, fetcher: HttpFetcher, url: str, headers: dict) -> dict:
        body = fetcher.get(url, headers).body
        try:
            page = json.loads(body)
        except ValueError:
            raise self.error(f"response from {redact(url)} is not JSON") from None
        if not isinstance(page, dict):
            raise self.error(f"response from {redact(url)} is not an API v2 object")
        if "data" not in page and page.get("errors"):
            raise self.error(f"{api_error(page['errors'][0])} ({redact(url)})")
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


def _id_number(tweet: dict) -> int:
    value = str(tweet.get("id", ""))
    return int(value) if value.isdigit() else 0
