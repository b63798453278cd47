"""The fast feed path against feedparser, over feedparser's own test corpus (~2,250 files).

The corpus is feedparser's sdist on PyPI, the version installed here, fetched once with pip
into a cache folder (PLN_TEST_CACHE, else ~/.cache/pln-curator-tests); the test skips when
it cannot be fetched. feedparser's licence travels inside the sdist (LICENSE).

For every file the fast path accepts, `FeedSource.parse` must give the same items (id,
title, link, dates, text, and also author, tags, language, links, HTML) and the same dead
letters as with feedparser alone. Files the fast path declines are read by feedparser, so
they cannot differ; the test counts them by reason (docs/feeds.md has the table).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import feedparser
import pytest
from helpers import make_source
from lxml import etree

from pln.errors import SourceError
from pln.sources.feed_parse import LIMITS, Doubt, Reader
from pln.sources.rss import without_internal_subset

FIELDS = ("native_id", "title", "url", "published_at", "text")
MORE = ("author", "hashtags", "lang", "links", "html")
# Differences between the paths that are accepted, by class, with the reason. Empty: on the
# files the fast path accepts, both paths give the same items.
KNOWN: dict[str, str] = {}


@pytest.fixture(scope="session")
def feedparser_tests() -> Path:
    """feedparser's tests/ folder from its sdist (downloaded once, then cached)."""
    cache = Path(os.environ.get("PLN_TEST_CACHE") or Path.home() / ".cache" / "pln-curator-tests")
    version = feedparser.__version__
    unpacked = cache / f"feedparser-{version}" / "tests"
    if unpacked.is_dir():
        return unpacked
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--disable-pip-version-check", "-q", "-d", str(cache), f"feedparser=={version}"]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=180)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot download feedparser {version}'s sdist: {exc}")
    sdist = cache / f"feedparser-{version}.tar.gz"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(f"feedparser-{version}/")]
        tar.extractall(cache, members=members, filter="data")
    return unpacked


def decline_reason(data: bytes) -> str | None:
    """Why the fast path leaves this document to feedparser (None: it reads it)."""
    try:
        root = etree.fromstring(without_internal_subset(data), etree.XMLParser(**LIMITS))
    except etree.XMLSyntaxError:
        return "not well-formed XML for a strict parser"
    try:
        Reader(root, "", "").read()
    except Doubt as doubt:
        return doubt.kind
    return None


def items_by(source, data: bytes, engine: str):
    try:
        result = source.parse(data, engine=engine)
    except SourceError as error:
        return ("error", str(error))
    items = [tuple(getattr(item, f) for f in FIELDS + MORE) for item in result.items]
    return items, sorted((d.ref, d.reason) for d in result.dead_letters)


def differing_fields(fast, reference) -> str:
    if fast[0] == "error" or reference[0] == "error":
        return "error"
    if len(fast[0]) != len(reference[0]):
        return "item count"
    names = {
        name
        for a, b in zip(fast[0], reference[0], strict=True)
        for name, x, y in zip(FIELDS + MORE, a, b, strict=True)
        if x != y
    }
    if fast[1] != reference[1]:
        names.add("dead letters")
    return ",".join(sorted(names))


def test_fast_path_gives_feedparsers_items_on_its_corpus(feedparser_tests, tmp_path):
    source = make_source("rss", tmp_path, "diff", path="feed.xml")
    files = sorted(p for p in feedparser_tests.rglob("*") if p.is_file())
    declined: collections.Counter[str] = collections.Counter()
    differences: dict[str, list[str]] = collections.defaultdict(list)
    compared_files = compared_items = 0
    for path in files:
        data = path.read_bytes()
        if (reason := decline_reason(data)) is not None:
            declined[reason] += 1
            continue
        fast, reference = items_by(source, data, "auto"), items_by(source, data, "feedparser")
        compared_files += 1
        compared_items += len(reference[0]) if reference[0] != "error" else 0
        if fast != reference:
            differences[differing_fields(fast, reference)].append(
                str(path.relative_to(feedparser_tests))
            )
    print(
        f"\n{len(files)} files: {compared_files} read by the fast path ({compared_items} items "
        f"compared), {sum(declined.values())} left to feedparser: {dict(declined)}"
    )
    assert len(files) > 2000  # the whole corpus was found
    assert compared_files > 900 and compared_items > 150  # the fast path is really exercised
    unexplained = {k: v for k, v in differences.items() if k not in KNOWN}
    assert not unexplained, unexplained
