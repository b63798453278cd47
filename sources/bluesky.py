"""Bluesky posts from the public AppView: a search (`query`) or an account's feed (`actor`).

Facets (links, mentions, hashtags) address the text by UTF-8 byte offsets, so they are applied
to the encoded bytes, never to Python string indices (an emoji before a link shifts them).
Link facets whose visible text was shortened by the client are replaced by their full URI.
A repost in an author feed (`reason` app.bsky.feed.defs#reasonRepost) is a "repost" by the
reposter carrying the original's text, with `reply_to` = the original's at:// URI.

A quote links to the quoted post by its handle when the API names it (the embed's view, or
the author of another post of the same fetch), as the quoted post's own `url` does; by its DID
(`bsky.app/profile/did:plc:…`) when no handle is known. Either way the two are one story: story
keys (filters/stories.py) know a Bluesky post by its record key, not by who it names.

Polling: API cursors page toward older posts, and the API cannot be asked for what came after
a post. So every run reads from the newest post down to the newest one seen last time
(`seen_until`, an indexedAt time), as the Mastodon source reads the newest first. The first run
reads the newest `max_pages` pages and nothing older, as Mastodon's does. When more than
`max_pages` pages came between two runs, the run keeps where it stopped (an API cursor) and the
time it must reach (`backlog`); later runs first read the newest posts again and then, with the
pages they have left, go on with that stretch: new posts are never held back behind old ones,
and nothing posted since the first run is skipped (up to MAX_BACKLOG such stretches). A cursor
of before 5 December 2026 (`page_cursor`, `pending_until`) becomes such a stretch. A page
that fails after the first leaves what was read before it stored and the rest as such a stretch
(a warning); only a failed first page fails the run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pln.config import Options
from pln.errors import SourceError
from pln.record import Item, utc
from pln.sources.base import Cursor, FetchResult, Source
from pln.sources.http import HttpFetcher, endpoint, redact

PLATFORM = "bluesky"
WEB = "https://bsky.app"
REPOST = "app.bsky.feed.defs#reasonRepost"
FACET = "app.bsky.richtext.facet#"
INVALID_HANDLE = "handle.invalid"  # what the AppView says when a handle no longer verifies
MAX_BACKLOG = 20  # stretches of older posts still to read (each from a run that fell behind)
ERROR_BODY_BYTES = 4096  # an XRPC error is {"error": "InvalidRequest", "message": "…"}


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
    if not handle or handle == INVALID_HANDLE:
        handle = parts[0]
    return f"{WEB}/profile/{handle}/post/{parts[2]}"


def uri_did(uri: str) -> str:
    """The DID (or handle) an at:// URI names its repository by."""
    return uri.removeprefix("at://").split("/", 1)[0]


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


def quoted_handle(post: dict, quoted: str) -> str:
    """The quoted post's author handle from the post view's embed (app.bsky.embed.record#view
    or recordWithMedia#view), when it is the view of `quoted`."""
    view = post.get("embed") if isinstance(post.get("embed"), dict) else {}
    inner = view.get("record") if isinstance(view.get("record"), dict) else {}
    if isinstance(inner.get("record"), dict):  # recordWithMedia#view: {record: {record: …}}
        inner = inner["record"]
    author = inner.get("author") if isinstance(inner.get("author"), dict) else {}
    handle = author.get("handle")
    return str(handle) if inner.get("uri") == quoted and isinstance(handle, str) else ""


def known_handles(entries: list) -> dict[str, str]:
    """DID -> handle of the authors and reposters of a page of feed entries or post views."""
    handles: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        post = entry.get("post", entry)
        reason = entry.get("reason")
        for who in (
            post.get("author") if isinstance(post, dict) else None,
            reason.get("by") if isinstance(reason, dict) else None,
        ):
            if isinstance(who, dict) and isinstance(who.get("did"), str):
                handle = who.get("handle")
                if isinstance(handle, str) and handle and handle != INVALID_HANDLE:
                    handles[who["did"]] = handle
    return handles


def post_item(
    entry: dict, *, source: str, fetched_at: datetime, handles: dict[str, str] | None = None
) -> Item:
    """Map a feedViewPost ({post, reason?}) or a bare postView to an Item. Raises ValueError.
    `handles` (DID -> handle) names the author of a quoted post the embed's view does not."""
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
        handle = quoted_handle(post, quoted) or (handles or {}).get(uri_did(quoted), "")
        links.append(post_url(quoted, handle) or quoted)
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
        seen_until, backlog = read_cursor(cursor)
        # Errors name the XRPC method without its query (the search, the API cursor) and end
        # with the API's own reason ("Profile not found"), which `http_status` lets us act on.
        fetcher = HttpFetcher(
            self.name, timeout=self.timeout, error_body_bytes=ERROR_BODY_BYTES, show_query=False
        )
        run = _Run(self, fetcher)
        # The newest posts first, down to the newest one seen last time.
        try:
            newest, stopped_at = run.read_down(seen_until)
        except SourceError as exc:
            if not run.at:  # the first page failed: nothing read
                raise self._with_hint(exc) from None
            # The pages read are kept; the rest of the stretch waits its turn, as when the
            # page budget runs out.
            newest, stopped_at, run.pages_left = run.newest, run.at, 0
            run.result.warnings.append(f"newer posts not all read this time: {exc.message}")
        if stopped_at and seen_until:  # fell behind: the rest of this stretch waits its turn
            backlog.insert(0, {"cursor": stopped_at, "until": seen_until})
        # Then older stretches, with the pages left over.
        while backlog and run.pages_left:
            stretch = backlog[0]
            try:
                _, stopped_at = run.read_down(stretch["until"], stretch["cursor"])
            except SourceError as exc:
                gone = exc.http_status == 400  # it no longer takes that cursor
                if gone:
                    backlog.pop(0)
                run.result.warnings.append(
                    f"older posts {'given up' if gone else 'not read this time'}: {exc.message}"
                )
                break
            if stopped_at:
                stretch["cursor"] = stopped_at
            else:
                backlog.pop(0)
        self._note_backlog(run.result, backlog)
        next_cursor: Cursor = {"seen_until": max(seen_until, newest)}
        if backlog:
            next_cursor["backlog"] = backlog
        run.result.cursor = next_cursor
        return run.result

    def _with_hint(self, exc: SourceError) -> SourceError:
        """`exc`, saying what to do when the API did not find the `actor` (a changed handle)."""
        body = exc.http_body
        if not (self.actor and exc.http_status == 400):
            return exc
        if b"profile not found" not in body.lower():
            return exc
        return self.error(
            f"{exc.message}; has {self.actor} changed handle? `actor:` also takes the "
            "account's DID (did:plc:…)",
            retry_after=exc.retry_after,
        )

    def _note_backlog(self, result: FetchResult, backlog: list[dict[str, str]]) -> None:
        """Bound the backlog, and say why there is one (unless a stretch failed, said)."""
        per_run = f"max_pages × limit ({self.max_pages * self.limit})"
        if len(backlog) > MAX_BACKLOG:
            del backlog[MAX_BACKLOG:]
            result.warnings.append(
                f"older posts given up: more than {MAX_BACKLOG} runs in a row had more than "
                f"{per_run} new posts; raise max_pages"
            )
        elif result.warnings or not backlog:
            pass
        elif any(stretch["until"] for stretch in backlog):
            result.warnings.append(
                f"catching up: more than {per_run} posts came between runs; the next runs "
                "read the rest after the newest (raise max_pages to catch up sooner)"
            )
        else:
            result.warnings.append(
                "reading posts from before the first run, after the newest "
                "(a backfill begun by pln before 5 December 2026)"
            )

    def url(self, page_cursor: str) -> str:
        if self.query:
            params = {"q": self.query, "sort": "latest", "limit": self.limit}
            method = "app.bsky.feed.searchPosts"
        else:
            params = {"actor": self.actor, "limit": self.limit}
            method = "app.bsky.feed.getAuthorFeed"
        if page_cursor:
            params["cursor"] = page_cursor
        return f"{self.base_url}/xrpc/{method}?{urlencode(params)}"

    def page(self, fetcher: HttpFetcher, url: str) -> tuple[list, str]:
        """(entries, the API cursor of the next older page or "") of one page."""
        try:
            page = json.loads(fetcher.get(url, {"Accept": "application/json"}).body)
        except ValueError:
            raise self.error(f"response from {endpoint(url)} is not JSON") from None
        key = "posts" if self.query else "feed"
        if not isinstance(page, dict) or not isinstance(page.get(key), list):
            raise self.error(f"response from {endpoint(url)} has no '{key}' list")
        return page[key], str(page.get("cursor") or "")


def read_cursor(cursor: Cursor | None) -> tuple[str, list[dict[str, str]]]:
    """(seen_until, backlog) of a stored cursor. One of before 5 December 2026 that was still
    paging down (`page_cursor`, with `pending_until` the newest post of that stretch) becomes a
    backlog stretch; its `seen_until` was "" while the first run's stretch went on, and that
    stretch is then read to the end of the search, as it would have been."""
    cursor = cursor if isinstance(cursor, dict) else {}
    seen_until = str(cursor.get("seen_until") or "")
    backlog = [
        {"cursor": str(s["cursor"]), "until": str(s.get("until") or "")}
        for s in cursor.get("backlog") or ()
        if isinstance(s, dict) and s.get("cursor")
    ]
    if cursor.get("page_cursor"):
        backlog.insert(0, {"cursor": str(cursor["page_cursor"]), "until": seen_until})
        seen_until = max(seen_until, str(cursor.get("pending_until") or ""))
    return seen_until, backlog


class _Run:
    """One fetch: its page budget (`max_pages`), what it read, and the DIDs' handles it met."""

    def __init__(self, source: BlueskySource, fetcher: HttpFetcher):
        self.source, self.fetcher = source, fetcher
        self.pages_left = source.max_pages
        self.result = FetchResult()
        self.fetched_at = datetime.now(UTC)
        self.handles: dict[str, str] = {}
        self.newest = ""  # of the stretch being read: the newest indexedAt read so far
        self.at = ""  # and the API cursor of its next page

    def read_down(self, until: str, page_cursor: str = "") -> tuple[str, str]:
        """Read pages from `page_cursor` ("" = the newest) toward older posts until one indexed
        at or before `until`, the end of the results or the page budget. Returns (the newest
        indexedAt read, the API cursor to go on from, "" when the stretch is done)."""
        # Kept on self as they go, so that a failed page leaves what was read before it.
        self.newest, self.at = "", page_cursor
        while self.pages_left:
            self.pages_left -= 1
            url = self.source.url(self.at)
            entries, self.at = self.source.page(self.fetcher, url)
            self.handles.update(known_handles(entries))
            reached = False
            for i, entry in enumerate(entries):
                when = indexed_at(entry) if isinstance(entry, dict) else ""
                if until and when and when <= until:
                    reached = True
                    continue
                self.newest = max(self.newest, when)
                self._add(entry, f"{redact(url)}#{i}")
            if reached or not self.at or not entries:
                return self.newest, ""
        return self.newest, self.at

    def _add(self, entry: Any, ref: str) -> None:
        try:
            if not isinstance(entry, dict):
                raise ValueError("entry is not a JSON object")
            self.result.items.append(
                post_item(
                    entry, source=self.source.name, fetched_at=self.fetched_at, handles=self.handles
                )
            )
        except ValueError as exc:
            self.result.dead_letters.append(self.source.dead_letter(ref, str(exc), entry))
