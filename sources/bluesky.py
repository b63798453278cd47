"""Bluesky posts from the public AppView: a search (`query`) or an account's feed (`actor`).

Facets (links, mentions, hashtags) address the text by UTF-8 byte offsets, so they are applied
to the encoded bytes, never to Python string indices (an emoji before a link shifts them).
Link facets whose visible text was shortened by the client are replaced by their full URI.
A repost in an author feed (`reason` app.bsky.feed.defs#reasonRepost) is a "repost" by the
reposter carrying the original's text, with `reply_to` = the original's at:// URI.

Polling: API cursors page toward older posts, so each run reads from the newest down to the
newest post seen last time (`seen_until`, an indexedAt time). When `max_pages` stops a run
before it gets there, the API cursor is kept and the next run finishes that stretch first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pln.config import Options
from pln.record import Item, utc
from pln.sources.base import Cursor, FetchResult, Source
from pln.sources.http import HttpFetcher, redact

PLATFORM = "bluesky"
WEB = "https://bsky.app"
REPOST = "app.bsky.feed.defs#reasonRepost"
FACET = "app.bsky.richtext.facet#"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def post_url(uri: str, handle: str = "") -> str:
    """https://bsky.app/profile/<handle or did>/post/<rkey> for an at:// post URI."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return ""
    return f"{WEB}/profile/{handle or parts[0]}/post/{parts[2]}"


def apply_facets(text: str, facets: Any) -> tuple[str, list[str], list[str], list[str]]:
    """(text with full link URIs, links, mentioned handles, hashtags) from richtext facets."""
    data = text.encode("utf-8")
    links, mentions, tags = [], [], []
    replacements: list[tuple[int, int, bytes]] = []
    for facet in facets if isinstance(facets, list) else ():
        index = facet.get("index") if isinstance(facet, dict) else None
        if not isinstance(index, dict):
            continue
        start, end = index.get("byteStart"), index.get("byteEnd")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(data)):
            continue
        shown = data[start:end].decode("utf-8", errors="replace")
        for feature in facet.get("features") or ():
            kind = str(feature.get("$type", "")).removeprefix(FACET)
            if kind == "link" and feature.get("uri"):
                links.append(str(feature["uri"]))
                if shown != feature["uri"]:
                    replacements.append((start, end, str(feature["uri"]).encode("utf-8")))
            elif kind == "mention":
                mentions.append(shown.lstrip("@"))
            elif kind == "tag" and feature.get("tag"):
                tags.append(str(feature["tag"]))
    for start, end, full in sorted(replacements, reverse=True):
        if not any(s < end and start < e for s, e, _ in replacements if (s, e) != (start, end)):
            data = data[:start] + full + data[end:]
    return data.decode("utf-8", errors="replace"), links, mentions, tags


def _embedded(record: dict) -> tuple[list[str], str]:
    """(external links, quoted post URI) from a post record's embed."""
    embed = record.get("embed") if isinstance(record.get("embed"), dict) else {}
    kind = embed.get("$type", "")
    links, quoted = [], ""
    if kind == "app.bsky.embed.external":
        uri = (embed.get("external") or {}).get("uri")
        links = [str(uri)] if uri else []
    elif kind in ("app.bsky.embed.record", "app.bsky.embed.recordWithMedia"):
        inner = embed.get("record") or {}
        inner = inner.get("record", inner) if kind.endswith("WithMedia") else inner
        quoted = str(inner.get("uri") or "")
    return links, quoted


def post_item(entry: dict, *, source: str, fetched_at: datetime) -> Item:
    """Map a feedViewPost ({post, reason?}) or a bare postView to an Item. Raises ValueError."""
    post = entry.get("post", entry)
    if not isinstance(post, dict) or not post.get("uri"):
        raise ValueError("post has no uri")
    uri = str(post["uri"])
    record = post.get("record")
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise ValueError(f"post {uri} has no record text")
    author = str((post.get("author") or {}).get("handle") or "")
    text, links, mentions, tags = apply_facets(record["text"], record.get("facets"))
    external, quoted = _embedded(record)
    reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
    parent = str((reply.get("parent") or {}).get("uri") or "")
    root = str((reply.get("root") or {}).get("uri") or parent)
    kind, reply_to, thread_id = "post", "", root or uri
    if parent:
        kind, reply_to = "reply", parent
    elif quoted:
        kind = "quote"
        links.append(post_url(quoted) or quoted)
    native_id, by, published = uri, author, parse_time(record.get("createdAt"))
    reason = entry.get("reason") if isinstance(entry.get("reason"), dict) else None
    if reason is not None and reason.get("$type") == REPOST:
        by = str((reason.get("by") or {}).get("handle") or "")
        did = str((reason.get("by") or {}).get("did") or by)
        native_id = str(reason.get("uri") or f"at://{did}/app.bsky.feed.repost/of/{uri}")
        kind, reply_to, thread_id = "repost", uri, root or uri
        published = parse_time(reason.get("indexedAt")) or published
        mentions.insert(0, author)
    langs = record.get("langs")
    return Item.create(
        source=source,
        platform=PLATFORM,
        native_id=native_id,
        kind=kind,
        author=by,
        text=text.strip(),
        url=post_url(uri, author),
        links=links + external,
        hashtags=tags + [str(t) for t in record.get("tags") or () if isinstance(t, str)],
        mentions=mentions,
        lang=str(langs[0]).lower() if isinstance(langs, list) and langs else "",
        published_at=published,
        fetched_at=fetched_at,
        thread_id=thread_id,
        reply_to=reply_to,
        raw=json.dumps(entry, ensure_ascii=False, separators=(",", ":")),
    )


def indexed_at(entry: dict) -> str:
    """When the AppView saw this entry (the repost's time for reposts), as a sortable string."""
    reason = entry.get("reason") if isinstance(entry.get("reason"), dict) else {}
    post = entry.get("post", entry) if isinstance(entry, dict) else {}
    value = reason.get("indexedAt") or (post.get("indexedAt") if isinstance(post, dict) else "")
    when = parse_time(value)
    return when.isoformat(timespec="microseconds") if when else ""


class BlueskySource(Source):
    """Options: one of `query` (app.bsky.feed.searchPosts) or `actor` (a handle or DID, for
    app.bsky.feed.getAuthorFeed); `base_url` (default https://public.api.bsky.app); `limit` per
    page (default 50, at most 100); `max_pages` (default 3); `timeout` seconds (default 20)."""

    type = "bluesky"

    def configure(self, opts: Options) -> None:
        self.query = opts.text("query").strip()
        self.actor = opts.text("actor").strip().lstrip("@")
        if bool(self.query) == bool(self.actor):
            raise opts.error("query", "set exactly one of query, actor")
        self.base_url = opts.text("base_url", default="https://public.api.bsky.app").rstrip("/")
        self.limit = opts.integer("limit", default=50, min=1)
        if self.limit > 100:
            raise opts.error("limit", f"must be at most 100, got {self.limit}")
        self.max_pages = opts.integer("max_pages", default=3, min=1)
        self.timeout = opts.number("timeout", default=20.0, min=1.0)

    def fetch(self, cursor: Cursor | None) -> FetchResult:
        cursor = dict(cursor or {})
        seen_until = str(cursor.get("seen_until") or "")
        page_cursor = str(cursor.get("page_cursor") or "")
        newest = str(cursor.get("pending_until") or "")
        fetcher = HttpFetcher(self.name, timeout=self.timeout)
        fetched_at = datetime.now(UTC)
        items: list[Item] = []
        dead = []
        reached_seen = False
        for _ in range(self.max_pages):
            url = self._url(page_cursor)
            entries, page_cursor = self._page(fetcher, url)
            for i, entry in enumerate(entries):
                when = indexed_at(entry) if isinstance(entry, dict) else ""
                if seen_until and when and when <= seen_until:
                    reached_seen = True
                    continue
                newest = max(newest, when)
                try:
                    if not isinstance(entry, dict):
                        raise ValueError("entry is not a JSON object")
                    items.append(post_item(entry, source=self.name, fetched_at=fetched_at))
                except ValueError as exc:
                    dead.append(self.dead_letter(f"{redact(url)}#{i}", str(exc), entry))
            if reached_seen or not page_cursor or not entries:
                page_cursor = ""
                break
        if page_cursor:  # stopped by max_pages: finish this stretch before moving on
            next_cursor = {"seen_until": seen_until, "page_cursor": page_cursor}
            next_cursor["pending_until"] = newest
        else:
            next_cursor = {"seen_until": max(seen_until, newest)}
        return FetchResult(items=items, dead_letters=dead, cursor=next_cursor)

    def _url(self, page_cursor: str) -> str:
        if self.query:
            params = {"q": self.query, "sort": "latest", "limit": self.limit}
            method = "app.bsky.feed.searchPosts"
        else:
            params = {"actor": self.actor, "limit": self.limit}
            method = "app.bsky.feed.getAuthorFeed"
        if page_cursor:
            params["cursor"] = page_cursor
        return f"{self.base_url}/xrpc/{method}?{urlencode(params)}"

    def _page(self, fetcher: HttpFetcher, url: str) -> tuple[list, str]:
        try:
            page = json.loads(fetcher.get(url, {"Accept": "application/json"}).body)
        except ValueError:
            raise self.error(f"response from {redact(url)} is not JSON") from None
        key = "posts" if self.query else "feed"
        if not isinstance(page, dict) or not isinstance(page.get(key), list):
            raise self.error(f"response from {redact(url)} has no '{key}' list")
        return page[key], str(page.get("cursor") or "")
