"""Feed bytes to Items: entries/s for parsing alone and for parsing plus making Items, for this
tree and for a reference revision (default `main`) side by side in one run, and a check that
both make the same Items.

Corpora:
  - peers: the issue-11 corpus (500 RSS 2.0 feeds x 50 entries of one-paragraph bodies, written
    by bench_peers.make_corpus, or read from `--feeds DIR`);
  - articles: 100 feeds x 50 entries of 2.4 KB HTML bodies with relative links and images;
  - for the Item check only: tests/fixtures/feeds, examples/data/feeds and, when the test cache
    holds it, feedparser's own test corpus (~2,250 files; tests/test_feed_parse_diff.py).

The reference revision is unpacked with `git archive` and run in a child process, so both sides
run the same way. Items are compared field by field (all but fetched_at).

    .venv/bin/python bench/bench_items.py [--feeds /tmp/peers/feeds] [--ref main] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("sources", "filters", "sinks", "pipelines")
ARTICLE = "".join(
    f'<p>Spaced <em>retrieval</em> practice, see <a href="/p/{i}">part {i}</a> &amp; '
    f'<img src="img/{i}.png" alt="figure {i}">.</p>'
    for i in range(20)
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=Path, help="a folder of feed files (default: generate)")
    parser.add_argument(
        "--ref", help="git revision to compare with (default: where this branch left main)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of each tree")
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # child process: run the tree at args.worker, print JSON
        load_tree(args.worker)
        print(json.dumps(measure(args.work, args.check)))
        return
    if not args.ref:
        base = ["git", "-C", str(REPO), "merge-base", "main", "HEAD"]
        args.ref = subprocess.run(base, capture_output=True, text=True, check=True).stdout[:10]
    with tempfile.TemporaryDirectory(prefix="bench-items-") as tmp:
        work = Path(tmp)
        prepare(work, args.feeds)
        trees = {args.ref: unpack(args.ref, work / "ref"), "this tree": REPO}
        results: dict = {}
        for _ in range(args.repeat):  # alternate the trees, so both see the same load
            for name, tree in trees.items():
                result = run_child(tree, work, first=name not in results)
                results.setdefault(name, result)
                for corpus, times in result["timings"].items():
                    best = results[name]["timings"][corpus]
                    for key in ("parse", "items"):
                        best[key] = min(best[key], times[key])
    report(results, args.ref)


def prepare(work: Path, feeds: Path | None) -> None:
    """Write the corpora's file lists (and generate the timed ones) into `work`."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_peers import make_corpus

    if feeds is None:
        feeds = work / "peers"
        make_corpus(feeds, 500, 50)
    articles = work / "articles"
    articles.mkdir()
    for f in range(100):
        items = "".join(
            f"<item><title>Post {f}.{i}</title><link>https://blog{f}.example/{i}/</link>"
            f"<description><![CDATA[{ARTICLE}]]></description></item>"
            for i in range(50)
        )
        rss = f"<rss version='2.0'><channel><title>Blog {f}</title>{items}</channel></rss>"
        (articles / f"a{f:03}.xml").write_text(rss)
    cache = Path(os.environ.get("PLN_TEST_CACHE") or Path.home() / ".cache/pln-curator-tests")
    check = [REPO / "tests/fixtures/feeds", REPO / "examples/data/feeds"]
    check += sorted(cache.glob("feedparser-*/tests"))
    corpora = {
        "peers": files(feeds),
        "articles": files(articles),
        "check": [str(p) for folder in check for p in sorted(folder.rglob("*")) if p.is_file()],
    }
    (work / "corpora.json").write_text(json.dumps(corpora))


def files(folder: Path) -> list[str]:
    return [str(p) for p in sorted(folder.iterdir()) if p.is_file()]


def unpack(rev: str, into: Path) -> Path:
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryFile() as f:
        f.write(archive)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(into, filter="data")
    return into


def run_child(tree: Path, work: Path, first: bool) -> dict:
    command = [sys.executable, __file__, "--worker", str(tree), "--work", str(work)]
    out = subprocess.run(command + ["--check"] * first, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"bench child for {tree} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def load_tree(tree: Path) -> None:
    """Import `pln` and its families from `tree` (the installed layout: sources/ is
    pln.sources), whatever this venv has installed."""
    for name in list(sys.modules):
        if name == "pln" or name.startswith("pln."):
            del sys.modules[name]
    _package("pln", tree / "pln")
    for family in PACKAGES:
        _package(f"pln.{family}", tree / family)


def _package(name: str, folder: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def measure(work: Path, check: bool) -> dict:
    from pln.config import SourceConfig
    from pln.sources.rss import FeedSource, read_feed

    source = FeedSource(SourceConfig("bench", "rss", {"path": "x.xml"}, work, "b", "s"))
    corpora = json.loads((work / "corpora.json").read_text())
    out: dict = {"timings": {}, "items": {}}
    for name in ("peers", "articles"):
        blobs = [Path(p).read_bytes() for p in corpora[name]]
        entries = sum(len(source.parse(b).items) for b in blobs)
        parse_only = cpu_time(lambda blobs=blobs: [read_feed(b, {}) for b in blobs])
        with_items = cpu_time(lambda blobs=blobs: [source.parse(b) for b in blobs])
        out["timings"][name] = {"entries": entries, "parse": parse_only, "items": with_items}
    if check:
        for path in corpora["peers"][:50] + corpora["check"]:
            out["items"][path] = made_by(source, Path(path).read_bytes())
    return out


def cpu_time(run) -> float:
    started = time.process_time()
    run()
    return time.process_time() - started


def made_by(source, data: bytes) -> list:
    """What parsing one file gives, comparable across trees: items (without fetched_at), dead
    letters' reasons, or the error."""
    try:
        result = source.parse(data)
    except Exception as exc:  # noqa: BLE001 - any refusal is part of the behaviour compared
        return [f"error: {type(exc).__name__}: {exc}"]
    items = []
    for item in result.items:
        fields = item.to_dict()
        fields.pop("fetched_at")
        items.append(fields)
    return items + [f"dead letter: {d.ref}: {d.reason}" for d in result.dead_letters]


def report(results: dict, ref: str) -> None:
    print("feed bytes -> Items: entries per CPU second, best of alternating runs")
    print(f"{'corpus':10} {'tree':12} {'entries':>8} {'parse only/s':>13} {'parse+Item/s':>13}")
    for corpus in ("peers", "articles"):
        for tree, result in results.items():
            t = result["timings"][corpus]
            n = t["entries"]
            print(
                f"{corpus:10} {tree[:12]:12} {n:>8,} {n / t['parse']:>13,.0f}"
                f" {n / t['items']:>13,.0f}"
            )
        old, new = (results[k]["timings"][corpus]["items"] for k in (ref, "this tree"))
        print(f"{'':10} parse+Item speed-up: {old / new:.2f}x")
    old_items, new_items = results[ref]["items"], results["this tree"]["items"]
    differ = [p for p in old_items if old_items[p] != new_items.get(p)]
    total = sum(len(v) for v in old_items.values())
    print(f"\nItems compared: {len(old_items)} files, {total} items/dead letters/errors;")
    print(f"files whose Items differ from {ref}'s: {len(differ)}")
    for path in differ:
        print(f"  {path}")
        for old, new in zip(old_items[path], new_items[path], strict=False):
            if old != new:
                print(f"    {ref}: {_diff(old, new)}")
                print(f"    this tree: {_diff(new, old)}")
        if len(old_items[path]) != len(new_items[path]):
            print(f"    count {len(old_items[path])} -> {len(new_items[path])}")


def _diff(a, b) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        return json.dumps({k: v for k, v in a.items() if b.get(k) != v}, ensure_ascii=False)
    return json.dumps(a, ensure_ascii=False)[:300]


if __name__ == "__main__":
    main()
