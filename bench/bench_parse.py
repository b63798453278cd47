"""Benchmark feed parsing (not a test): pln's fast path against feedparser, in one run.

Generates the issue-11 corpus (500 RSS 2.0 feeds x 50 entries, as bench_pipeline.py writes
them) and reads every feed, in this process, with:
  - feedparser.parse with its defaults (what a user of feedparser gets),
  - feedparser.parse with sanitizing and URI resolving off (pln's fallback path),
  - pln's fast path alone (sources/feed_parse.parse_fast),
  - FeedSource.parse, feed bytes to Items, with the fast path ("auto") and with feedparser,
  - fastfeedparser and feedparser-rs, when installed (`pip install fastfeedparser
    feedparser-rs`): libraries we measured before writing the fast path.
It prints entries/s by CPU time and by wall-clock time (the machine may be shared), and the
ratios. `--hostile` then parses each hostile document in a child process and prints its
time and the child's peak memory.

    python bench/bench_parse.py [--feeds 500] [--entries 50] [--hostile]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).parent))
from bench_pipeline import write_feeds  # noqa: E402

from pln.config import SourceConfig  # noqa: E402
from pln.sources.feed_parse import parse_fast  # noqa: E402
from pln.sources.registry import build_source  # noqa: E402


def measure(name: str, parse: Callable[[bytes], int], feeds: list[bytes]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    entries = sum(parse(data) for data in feeds)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"  {name:<44} {entries / cpu:>10,.0f} {entries / wall:>10,.0f}   ({entries:,} entries)")
    return entries / cpu, entries / wall


def optional_peers() -> dict[str, Callable[[bytes], int]]:
    peers: dict[str, Callable[[bytes], int]] = {}
    try:
        import fastfeedparser

        peers["fastfeedparser (lxml, not used by pln)"] = lambda d: len(
            fastfeedparser.parse(d).entries
        )
    except ImportError:
        print("  (fastfeedparser not installed: skipped)")
    try:
        import feedparser_rs

        peers["feedparser-rs (Rust, not used by pln)"] = lambda d: len(
            feedparser_rs.parse(d).entries
        )
    except ImportError:
        print("  (feedparser-rs not installed: skipped)")
    return peers


HOSTILE_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pln.config import SourceConfig
    from pln.errors import SourceError
    from pln.sources.registry import build_source
    from pathlib import Path
    path = Path(sys.argv[1])
    src = build_source(SourceConfig("h", "rss", {"path": path.name}, path.parent, "b", "s"))
    start = time.perf_counter()
    try:
        outcome = f"{len(src.fetch(None).items)} items"
    except SourceError as exc:
        outcome = "refused: " + str(exc).split(": ", 1)[-1][:60]
    print(json.dumps([time.perf_counter() - start, outcome,
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
    """
)


def hostile_documents() -> dict[str, bytes]:
    def rss(items: str, head: str = "") -> bytes:
        return f"<?xml version='1.0'?>{head}<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()

    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    deep = "<div>" * 100_000 + "x" + "</div>" * 100_000
    return {
        "billion laughs": rss(
            "<item><title>a &l9;</title><description>&l9;</description></item>",
            f'<!DOCTYPE rss [<!ENTITY l0 "lol">{laughs}]>',
        ),
        "external entity (file)": rss(
            "<item><title>a &x;</title></item>",
            '<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        ),
        "100,000-deep <div> as XML": (
            "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>urn:a</id><title>t</title>"
            f"<content type='xhtml'>{deep}</content></entry></feed>"
        ).encode(),
        "100,000-deep <div> escaped": rss(
            "<item><title>t</title><description>"
            + "&lt;div&gt;" * 100_000
            + "x"
            + "&lt;/div&gt;" * 100_000
            + "</description></item>"
        ),
        "15 MB text node": rss(
            "<item><title>t</title><description>" + "ab " * 5_000_000 + "</description></item>"
        ),
        "2 million entity references": rss(
            "<item><title>t</title><description>" + "&amp;" * 2_000_000 + "</description></item>"
        ),
    }


def run_hostile() -> None:
    print("\nhostile documents (FeedSource.fetch from a file, each in a child process):")
    print(f"  {'document':<30} {'seconds':>8} {'peak MB':>8}   outcome")
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in hostile_documents().items():
            path = Path(tmp) / "feed.xml"
            path.write_bytes(data)
            done = subprocess.run(
                [sys.executable, "-c", HOSTILE_CHILD, str(path)],
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            seconds, outcome, peak = json.loads(done.stdout)
            print(f"  {name:<30} {seconds:>8.2f} {peak:>8.0f}   {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50, help="entries per feed")
    parser.add_argument("--hostile", action="store_true", help="also time hostile documents")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_feeds(folder, random.Random(11), args.feeds * args.entries, args.entries)
        feeds = [p.read_bytes() for p in sorted(folder.glob("feed*.xml"))]
        source = build_source(SourceConfig("bench", "rss", {"path": "x.xml"}, folder, "b", "s"))
    print(
        f"{len(feeds)} feeds, {args.entries} entries each, "
        f"{sum(map(len, feeds)) / 1e6:.1f} MB, one process"
    )
    print(f"  {'':<44} {'entries/s':>10} {'entries/s':>10}")
    print(f"  {'':<44} {'(CPU)':>10} {'(wall)':>10}")
    rates = {
        "feedparser, defaults": measure(
            "feedparser.parse, defaults", lambda d: len(feedparser.parse(d).entries), feeds
        ),
        "feedparser, pln settings": measure(
            "feedparser.parse, no sanitize/resolve",
            lambda d: len(
                feedparser.parse(d, sanitize_html=False, resolve_relative_uris=False).entries
            ),
            feeds,
        ),
        "fast path": measure(
            "pln fast path (feed_parse.parse_fast)", lambda d: len(parse_fast(d).entries), feeds
        ),
        "items, feedparser": measure(
            "FeedSource.parse -> Items, feedparser",
            lambda d: len(source.parse(d, engine="feedparser").items),
            feeds,
        ),
        "items, fast": measure(
            "FeedSource.parse -> Items, fast path",
            lambda d: len(source.parse(d).items),
            feeds,
        ),
    }
    for name, parse in optional_peers().items():
        measure(name, parse, feeds)
    fast, reference = rates["fast path"][0], rates["feedparser, defaults"][0]
    print(f"\nfast path / feedparser defaults: {fast / reference:,.1f}x (CPU)")
    items_fast, items_ref = rates["items, fast"][0], rates["items, feedparser"][0]
    print(f"bytes -> Items, fast path / feedparser: {items_fast / items_ref:,.1f}x (CPU)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    if args.hostile:
        run_hostile()


if __name__ == "__main__":
    main()
