"""Mastodon timelines (hashtag, list, home, public) over the REST API.

- `native_id` is the status `uri`, its ActivityPub id: the same post seen through two
  instances (each with its own local ids) is one item.
- A boost (`reblog`) is a "repost" by the booster carrying the original's content and linking
  to the original's web page (`reblog.url`, else its http(s) `uri`; never the boost's own
  `.../activity` URL, which is ActivityPub JSON), with `reply_to` = the original's uri; its
  native_id stays the boost's own uri.
- A reply has `reply_to` = the parent's uri when the parent was in the same fetch, else the
  parent's local id on `instance`; `thread_id` likewise names the oldest known ancestor.
- The content warning (`spoiler_text`) becomes the title, so it stays with the text.
- Followers-only and direct statuses are skipped unless `include_private: true`: curated feeds
  are public. They are counted as drops (`not public`), as every record read is.

Polling: the first run reads the newest page(s); later runs ask for `min_id` = the newest id
seen and walk Link rel="prev" toward the present, so a burst larger than one page is not skipped.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from pln.config import Options
from pln.record import Item
from pln.sources.base import Cursor, FetchResult, Source
from pln.sources.html_text import html_to_text
from pln.sources.http import HttpFetcher, redact

PLATFORM = "mastodon"
NOT_PUBLIC = "not public"  # the drop reason of followers-only and direct statuses
_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([a-z]+)"?')
_TIMELINE = re.compile(r"^(home|public|public:local|hashtag:#?[^\s/]+|list:[^\s/]+)$")


def parse_link_header(value: str) -> dict[str, str]:
    """rel -> URL from an RFC 8288 Link header."""
    return {rel: url for url, rel in _LINK.findall(value or "")}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def full_acct(account: dict, instance_host: str) -> str:
    """user@host: local accounts come without a host, which is the instance's (or their URL's)."""
    acct = str(account.get("acct") or account.get("username") or "")
    if not acct or "@" in acct:
        return acct
    host = urlsplit(str(account.get("url") or "")).hostname or instance_host
    return f"{acct}@{host}"


def newer_id(a: str, b: str) -> str:
    """The later of two status ids (numeric on Mastodon, fixed-width sortable on Pleroma)."""
    return max(a or "", b or "", key=lambda i: (len(i), i))


def web_url(*statuses: dict) -> str:
    """The first web page among the statuses' `url`, then `uri`: an http(s) URL that is not an
    ActivityPub activity (a boost's own url and uri are `.../statuses/<id>/activity`, JSON for
    a feed reader), else ""."""
    for status in statuses:
        for key in ("url", "uri"):
            value = status.get(key)
            if isinstance(value, str) and _is_web_page(value):
                return value
    return ""


def _is_web_page(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return (
        parts.scheme.lower() in ("http", "https")
        and bool(parts.hostname)
        and not parts.path.rstrip("/").endswith("/activity")
    )


class StatusMapper:
    """Maps one page of statuses to Items, resolving parents within the page."""

    def __init__(self, source: str, instance_host: str, fetched_at: datetime):
        self.source, self.host, self.fetched_at = source, instance_host, fetched_at
        self.uri_of: dict[str, str] = {}  # local id -> uri
        self.parent_of: dict[str, str] = {}  # local id -> local parent id

    def remember(self, statuses: list[Any]) -> None:
        for status in statuses:
            if not isinstance(status, dict):
                continue
            for s in (status, status.get("reblog")):
                if isinstance(s, dict) and s.get("id"):
                    self.uri_of[str(s["id"])] = str(s.get("uri") or "")
                    if s.get("in_reply_to_id"):
                        self.parent_of[str(s["id"])] = str(s["in_reply_to_id"])

    def ref_for(self, local_id: str) -> str:
        return self.uri_of.get(local_id) or local_id

    def item(self, status: dict) -> Item:
        """Raises ValueError naming what is missing."""
        local_id = str(status.get("id") or "")
        uri = str(status.get("uri") or status.get("url") or "")
        if not local_id or not uri:
            raise ValueError("status has no id or uri")
        account = status.get("account") if isinstance(status.get("account"), dict) else {}
        reblog = status.get("reblog") if isinstance(status.get("reblog"), dict) else None
        shown = reblog or status
        if not isinstance(shown.get("content"), str):
            raise ValueError(f"status {local_id} has no content")
        body = html_to_text(shown["content"])
        links = list(body.links)
        card = shown.get("card")
        if isinstance(card, dict) and card.get("url"):
            links.append(str(card["url"]))
        quote_ = shown.get("quote")
        quoted = quote_.get("quoted_status") if isinstance(quote_, dict) else None
        kind, reply_to, thread_id = "post", "", uri
        if reblog is not None:
            kind = "repost"
            reply_to = thread_id = str(reblog.get("uri") or reblog.get("id") or "")
        elif status.get("in_reply_to_id"):
            kind = "reply"
            parent = str(status["in_reply_to_id"])
            reply_to, thread_id = self.ref_for(parent), self.ref_for(self._root(parent))
        elif isinstance(quoted, dict):
            kind = "quote"
            if quoted.get("url"):
                links.append(str(quoted["url"]))
        mentions = [
            full_acct(m, self.host) for m in shown.get("mentions") or () if isinstance(m, dict)
        ]
        if reblog is not None and isinstance(reblog.get("account"), dict):
            mentions.insert(0, full_acct(reblog["account"], self.host))
        return Item.create(
            source=self.source,
            platform=PLATFORM,
            native_id=uri,
            kind=kind,
            author=full_acct(account, self.host),
            title=str(shown.get("spoiler_text") or "").strip(),
            text=body.text,
            html=shown["content"],
            url=web_url(shown, status),  # shown is status itself when no boost
            links=links,
            hashtags=[
                str(t.get("name", "")) for t in shown.get("tags") or () if isinstance(t, dict)
            ],
            mentions=mentions,
            lang=str(shown.get("language") or "").lower(),
            published_at=_time(status.get("created_at")),
            fetched_at=self.fetched_at,
            thread_id=thread_id,
            reply_to=reply_to,
            raw=json.dumps(status, ensure_ascii=False, separators=(",", ":")),
        )

    def _root(self, local_id: str) -> str:
        seen = {local_id}
        while local_id in self.parent_of and self.parent_of[local_id] not in seen:
            local_id = self.parent_of[local_id]
            seen.add(local_id)
        return local_id


class MastodonSource(Source):
    """Options: `instance` (base URL), `timeline` (hashtag:<tag> | list:<id> | home | public |
    public:local), `token_env` (env var holding an access token; needed for home and lists),
    `include_private` (default false), `limit` per page (default 40), `max_pages` (default 3),
    `timeout` seconds (default 20)."""

    type = "mastodon"

    def configure(self, opts: Options) -> None:
        self.instance = opts.text("instance", required=True).rstrip("/")
        parts = urlsplit(self.instance)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise opts.error(
                "instance", f"must be a URL like https://mastodon.social, got {self.instance!r}"
            )
        self.host = parts.hostname
        self.timeline = opts.text("timeline", required=True).strip()
        if not _TIMELINE.match(self.timeline):
            raise opts.error(
                "timeline",
                f"must be hashtag:<tag>, list:<id>, home, public or public:local; got {self.timeline!r}",
            )
        self.token_env = opts.text("token_env")
        needs_token = self.timeline == "home" or self.timeline.startswith("list:")
        if needs_token and not self.token_env:
            raise opts.error("token_env", f"is required for the {self.timeline} timeline")
        self.include_private = opts.flag("include_private", default=False)
        self.limit = opts.integer("limit", default=40, min=1)
        self.max_pages = opts.integer("max_pages", default=3, min=1)
        self.timeout = opts.number("timeout", default=20.0, min=1.0)

    def endpoint(self) -> tuple[str, dict[str, str]]:
        kind, _, arg = self.timeline.partition(":")
        if kind == "hashtag":
            return f"/api/v1/timelines/tag/{quote(arg.lstrip('#'), safe='')}", {}
        if kind == "list":
            return f"/api/v1/timelines/list/{quote(arg, safe='')}", {}
        if kind == "public":
            return "/api/v1/timelines/public", ({"local": "true"} if arg == "local" else {})
        return "/api/v1/timelines/home", {}

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        headers = {"Accept": "application/json"}
        if self.token_env:
            token = os.environ.get(self.token_env, "").strip()
            if not token:
                raise self.error(f"no access token: set the environment variable {self.token_env}")
            headers["Authorization"] = f"Bearer {token}"
        fetcher = _MastodonFetcher(self.name, timeout=self.timeout)
        newest = str((cursor or {}).get("since_id") or "")
        path, params = self.endpoint()
        params["limit"] = str(self.limit)
        if newest:
            params["min_id"] = newest
        url = f"{self.instance}{path}?{urlencode(params)}"
        mapper = StatusMapper(self.name, self.host, datetime.now(UTC))
        items, dead, private = [], [], 0
        for _ in range(self.max_pages):
            response = fetcher.get(url, headers)
            statuses = self._statuses(response.body, url)
            if not statuses:
                break
            mapper.remember(statuses)
            for i, status in enumerate(statuses):
                ref = f"{redact(url)}#{i}"
                if not isinstance(status, dict):
                    dead.append(self.dead_letter(ref, "status is not a JSON object", repr(status)))
                    continue
                newest = newer_id(newest, str(status.get("id") or ""))
                if status.get("visibility") in ("private", "direct") and not self.include_private:
                    private += 1
                    continue
                try:
                    items.append(mapper.item(status))
                except ValueError as exc:
                    dead.append(
                        self.dead_letter(f"{redact(url)}#{status.get('id', i)}", str(exc), status)
                    )
            url = self._next_url(response.headers.get("link", ""), polling="min_id" in params)
            if not url:
                break
        result = FetchResult(
            items=items, dead_letters=dead, cursor={"since_id": newest} if newest else {}
        )
        result.drop(NOT_PUBLIC, private)
        return result

    def _statuses(self, body: bytes, url: str) -> list:
        try:
            statuses = json.loads(body)
        except ValueError:
            raise self.error(f"response from {redact(url)} is not JSON") from None
        if not isinstance(statuses, list):
            raise self.error(f"response from {redact(url)} is not a list of statuses")
        return statuses

    def _next_url(self, link_header: str, polling: bool) -> str:
        """Newer pages when polling from min_id, older ones on the first run; same host only."""
        url = parse_link_header(link_header).get("prev" if polling else "next", "")
        return url if url and urlsplit(url).hostname == self.host else ""


class _MastodonFetcher(HttpFetcher):
    def _status_error(self, status, headers, url):
        if status in (401, 403):
            return self.error(
                f"HTTP {status} from {redact(url)}: the access token was refused or is missing"
            )
        if status == 429:
            reset = _time(headers.get("x-ratelimit-reset", ""))
            if reset is not None and not headers.get("retry-after"):
                wait = max(0.0, (reset - datetime.now(UTC)).total_seconds())
                return self.error(
                    f"rate limited by {redact(url)}; retry after {wait:.0f} s", retry_after=wait
                )
        if status == 404:
            return self.error(f"HTTP 404 from {redact(url)}: no such timeline on this instance")
        return super()._status_error(status, headers, url)
