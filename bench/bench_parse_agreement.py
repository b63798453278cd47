"""How often other fast feed libraries agree with feedparser on pln's Items (not a test).

Reads every file of feedparser's test corpus that pln's fast path reads, maps each
library's entries onto feedparser's keys (a thin adapter), runs pln's own entry mapping, and
counts the files whose Items (native id, title, URL, published date, text) equal feedparser's.
This is the measurement behind writing the fast path on lxml rather than using fastfeedparser
or feedparser-rs (docs/feeds.md).

    pip install fastfeedparser feedparser-rs
    python bench/bench_parse_agreement.py PATH/TO/feedparser-6.0.x/tests

The corpus is what tests/test_feed_parse_diff.py downloads (see its cache folder).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pln.config import SourceConfig
from pln.sources import rss
from pln.sources.feed_parse import parse_fast
from pln.sources.registry import build_source

FIELDS = ("native_id", "title", "url", "published_at", "text")


def _detail(construct: Any) -> dict[str, Any] | None:
    if construct is None:
        return None
    return {
        "type": getattr(construct, "type", "") or "",
        "value": getattr(construct, "value", "") or "",
        "language": getattr(construct, "language", None),
        "base": getattr(construct, "base", "") or "",
    }


def via_feedparser_rs(data: bytes) -> rss.ParsedFeed:
    import feedparser_rs

    parsed = feedparser_rs.parse(data)
    entries = []
    for e in parsed.entries:
        entry: dict[str, Any] = {
            k: getattr(e, k)
            for k in ("id", "link", "title", "author", "published", "updated", "language")
            if getattr(e, k, None)
        }
        for key in ("title_detail", "summary_detail"):
            if detail := _detail(getattr(e, key, None)):
                entry[key] = detail
        if e.content:
            entry["content"] = [_detail(c) for c in e.content]
        for key in ("published_parsed", "updated_parsed"):
            if getattr(e, key, None):
                entry[key] = getattr(e, key)
        if e.tags:
            entry["tags"] = [{"term": t.term, "label": getattr(t, "label", None)} for t in e.tags]
        entries.append(entry)
    meta = {k: getattr(parsed.feed, k, "") or "" for k in ("link", "author", "language")}
    return rss.ParsedFeed(parsed.version or "", meta, entries, None, True)


def via_fastfeedparser(data: bytes) -> rss.ParsedFeed:
    import fastfeedparser

    parsed = fastfeedparser.parse(data)
    entries = []
    for e in parsed.entries:
        keys = ("id", "link", "title", "author", "published", "updated")
        entry: dict[str, Any] = {k: e[k] for k in keys if e.get(k)}
        if e.get("title"):
            entry["title_detail"] = {"type": "text/plain", "value": e["title"]}
        if e.get("description"):
            entry["summary_detail"] = {"type": "text/html", "value": e["description"]}
        if e.get("content"):
            entry["content"] = [
                {
                    "type": c.get("type") or "text/html",
                    "value": c.get("value") or "",
                    "base": c.get("base") or "",
                }
                for c in e["content"]
            ]
            for c in entry["content"]:
                c["type"] = "text/html" if "html" in c["type"] else c["type"]
        for key in ("published", "updated"):
            if e.get(key):
                with contextlib.suppress(ValueError):
                    entry[key + "_parsed"] = datetime.fromisoformat(e[key]).utctimetuple()
        if e.get("tags"):
            entry["tags"] = e["tags"]
        entries.append(entry)
    feed = parsed.get("feed", {})
    meta = {k: feed.get(k) or "" for k in ("link", "author", "language")}
    return rss.ParsedFeed("rss", meta, entries, None, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="feedparser's tests/ folder")
    args = parser.parse_args()
    source = build_source(SourceConfig("cmp", "rss", {"path": "x.xml"}, args.corpus, "b", "s"))

    def items(parsed: rss.ParsedFeed) -> list[tuple]:
        feed = rss._FeedContext("x.xml", parsed.feed, "", None)
        made = [source._entry(e, i, feed) for i, e in enumerate(parsed.entries)]
        return [tuple(getattr(m, f, None) for f in FIELDS) for m in made]

    readers: dict[str, Callable[[bytes], rss.ParsedFeed]] = {
        "pln fast path": lambda d: rss.read_feed(d, {}),
        "feedparser-rs": via_feedparser_rs,
        "fastfeedparser": via_fastfeedparser,
    }
    files = [p for p in sorted(args.corpus.rglob("*")) if p.is_file()]
    documents = [rss.without_internal_subset(p.read_bytes()) for p in files]
    documents = [d for d in documents if parse_fast(d) is not None]
    references = [items(rss.read_feed(d, {}, "feedparser")) for d in documents]
    print(f"{len(documents)} files of {len(files)} (those pln's fast path reads)")
    for name, read in readers.items():
        same, differ = 0, collections.Counter()
        for data, reference in zip(documents, references, strict=True):
            try:
                got = items(read(data))
            except Exception as exc:  # noqa: BLE001 - a library's failure is a result here
                differ[f"raised {type(exc).__name__}"] += 1
                continue
            if got == reference:
                same += 1
            elif len(got) != len(reference):
                differ["item count"] += 1
            else:
                for a, b in zip(got, reference, strict=True):
                    differ.update(f for f, x, y in zip(FIELDS, a, b, strict=True) if x != y)
        print(f"  {name:<16} {same} files give feedparser's Items; differences: {dict(differ)}")


if __name__ == "__main__":
    main()
