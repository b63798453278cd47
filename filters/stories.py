"""Story keys: what the single writer matches to group items into stories.

A story is one thing people share: a blog post and the posts that link to it, a post and its
reposts and quotes, the same text posted again by other accounts, near-identical posts on
several platforms. Each item gets its keys here, on the worker that curated it (cheap, one item
at a time); the writer (`pln.sinks.stories`) joins them across every stored item, where all items
meet. An item's keys, by kind:

- self: what others point at: its id, and its own URL as `link_key` spells it;
- link: what a post shares (not articles or chat threads, whose links are references rather
  than the point): up to MAX_SHARED_LINKS links, and the original of a repost or quote;
- text: its words, normalized (`dedup.normalized_text`), when there are MIN_TEXT_WORDS or
  more: equal for the same text posted again with other punctuation, case or short links;
- band: the BANDS bands of ROWS values of a MinHash signature over the word pairs of a post
  (not of articles or chat threads: near-duplicates are posts copied across accounts and
  platforms; NEAR_DUP_MIN_WORDS words or more). Items sharing a band are candidates; each
  band row also carries `lanes`, the low 16 bits of its ROWS values, so the writer can estimate
  the similarity of two candidates (the share of equal lanes over all bands) without the text.
  The numbers a text mentions are mixed into every band key, so near-duplicates mention the
  same numbers: "Room 3 is full" and "Room 14 is full", or two job ads closing on different
  dates, are a series of posts, not one story.

Keys are signed 64-bit hashes. The table comes as Arrow: item_id, kind, key, and for band rows
`band` (its number) and `lanes` (int64; both 0 on other rows); its schema metadata names the
`band_format`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa

from pln.filters.dedup import URL_RE, MinHasher, canonical_parts, normalized_bytes
from pln.record import Item, make_item_id

KINDS = ("self", "link", "text", "band")
NOT_SHARES = frozenset({"article", "chat_thread"})  # links are references; no near-dups
MAX_SHARED_LINKS = 3  # a post sharing more links than this is a list, not a share of each
MIN_TEXT_WORDS = 6  # "Great read!" twice is not the same text posted again
NEAR_DUP_MIN_WORDS = 8
SIGNATURE_WORDS = 300  # long posts: their start is enough to tell a copy
BANDS, ROWS = 8, 4  # 32 permutations; the chance to share a band is 1/2 at similarity ~0.6

X_HOSTS = frozenset({"twitter.com", "mobile.twitter.com", "x.com", "mobile.x.com"})
X_STATUS_RE = re.compile(r"^/[^/]+/status(?:es)?/(\d+)")
BSKY_POST_RE = re.compile(r"^/profile/[^/]+/post/([^/]+)$")
NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*")

_COUNTED_WORDS = max(MIN_TEXT_WORDS, NEAR_DUP_MIN_WORDS)  # story_keys counts words up to this
_HASHER = MinHasher(num_perm=BANDS * ROWS, shingle=2)
# Band keys of another format never match these; the writer drops stored ones when it changes.
BAND_FORMAT = f"minhash-{BANDS}x{ROWS}-shingle2-seed7"
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9))


@lru_cache(maxsize=100_000)  # shared links repeat
def link_key(url: str) -> str:
    """What makes two links one story: `canonical_url` without the scheme (http and https are
    the same page) or a leading "www.", with X/Twitter's hosts and status URLs made one, and a
    Bluesky post's URL by handle and by DID. "" for what is not an absolute http(s) URL."""
    parts = canonical_parts(url)
    if parts is None or parts[0] not in ("http", "https"):
        return ""
    _, host, path, query = parts
    host = host.removeprefix("www.")
    if host in X_HOSTS:
        host = "x.com"
        status = X_STATUS_RE.match(path)
        if status:  # the same post under another (or a renamed) account name, "?s=20" and all
            path, query = f"/i/status/{status.group(1)}", ""
    elif host == "bsky.app":
        post = BSKY_POST_RE.match(path)
        if post:  # by handle or by DID, an old handle or a new one: the record key (a TID)
            path, query = f"/post/{post.group(1)}", ""
    return host + path + (f"?{query}" if query else "")


def author_link_key(url: str) -> str:
    """A Bluesky post's link as `link_key` spelled it before 5 December 2026, with its author
    (bsky.app/profile/<handle or DID>/post/<rkey>); "" for other links. Items still add it,
    so that posts stored before then are found by it."""
    # Most links are not Bluesky's: a substring test spares them a URL parse and a cache entry.
    return _author_link_key(url) if "bsky.app/" in url.lower() else ""


@lru_cache(maxsize=100_000)
def _author_link_key(url: str) -> str:
    parts = canonical_parts(url)
    if (
        parts is None
        or parts[0] not in ("http", "https")
        or parts[1].removeprefix("www.") != "bsky.app"
    ):
        return ""
    return "bsky.app" + parts[2] if BSKY_POST_RE.match(parts[2]) else ""


def is_site_root(key: str) -> bool:
    """A link to a whole site ("example.com"): people link their homepage, it is no story."""
    return "/" not in key and "?" not in key


def shared_links(item: Item) -> list[str]:
    """The link keys a post shares, in order (none for articles and chat threads)."""
    if item.kind in NOT_SHARES:
        return []
    own = link_key(item.canonical_url or item.url)
    keys: dict[str, None] = {}
    for url in item.links:
        key = link_key(url)
        if key and key != own and not is_site_root(key):
            keys[key] = None
            if len(keys) == MAX_SHARED_LINKS:
                break
    return list(keys)


def story_keys(items: Sequence[Item]) -> pa.Table:
    """The story keys of items as an Arrow table (item_id, kind, key, band, lanes); see the
    module doc."""
    rows: list[tuple[str, int, bytes]] = []  # item id, kind, the key's 8 bytes
    word_lists: list[list[str]] = []
    banded: list[int] = []  # index in items of each signature
    salts: list[int] = []  # and the hash of the numbers of its text
    for index, item in enumerate(items):
        item_id = item.id
        rows.append((item_id, 0, _key(_ID, item_id.encode())))
        own_url = item.canonical_url or item.url
        own = link_key(own_url)
        if own and not is_site_root(own):
            rows.append((item_id, 0, _key(_URL, own.encode())))
            if old := author_link_key(own_url):
                rows.append((item_id, 0, _key(_URL, old.encode())))
        shares = item.kind not in NOT_SHARES
        if shares:
            rows.extend((item_id, 1, _key(_URL, key.encode())) for key in shared_links(item))
            for url in item.links[:MAX_SHARED_LINKS]:
                if old := author_link_key(url):
                    rows.append((item_id, 1, _key(_URL, old.encode())))
            if item.kind in ("repost", "quote") and item.reply_to:
                original = make_item_id(item.platform, item.reply_to)
                rows.append((item_id, 1, _key(_ID, original.encode())))
        text = item.nlp_text
        normalized = normalized_bytes(text)
        n_words = len(normalized.split(b" ", _COUNTED_WORDS - 1)) if normalized else 0
        if n_words >= MIN_TEXT_WORDS:
            rows.append((item_id, 2, _key(_TEXT, normalized)))
        if n_words >= NEAR_DUP_MIN_WORDS and shares:
            words = normalized.decode().split(" ", SIGNATURE_WORDS)[:SIGNATURE_WORDS]
            word_lists.append(words)
            banded.append(index)
            salts.append(_numbers_hash(text))

    ids, kinds, digests = zip(*rows, strict=True) if rows else ((), (), ())
    keys = np.frombuffer(b"".join(digests), "<i8")  # as _hash64 reads them
    signatures = _HASHER.signatures(word_lists).reshape(len(word_lists), BANDS, ROWS)
    bands = band_keys(signatures, np.array(salts, dtype=np.uint64))
    all_ids = pa.array([item.id for item in items], pa.string())
    band_ids = all_ids.take(pa.array(np.repeat(np.array(banded, dtype=np.int64), BANDS)))
    n_exact, n_bands = len(ids), len(band_ids)
    kind_codes = np.concatenate([np.array(kinds, dtype=np.int8), np.full(n_bands, 3, np.int8)])
    band_numbers = np.tile(np.arange(BANDS, dtype=np.int8), len(word_lists))
    return pa.Table.from_arrays(
        [
            pa.concat_arrays([pa.array(ids, pa.string()), band_ids]),
            pa.DictionaryArray.from_arrays(pa.array(kind_codes), pa.array(KINDS)),
            pa.array(np.concatenate([keys, bands.ravel()])),
            pa.array(np.concatenate([np.zeros(n_exact, np.int8), band_numbers])),
            pa.array(np.concatenate([np.zeros(n_exact, np.int64), lanes(signatures).ravel()])),
        ],
        names=["item_id", "kind", "key", "band", "lanes"],
        metadata={"band_format": BAND_FORMAT},
    )


def band_keys(bands: np.ndarray, salts: np.ndarray) -> np.ndarray:
    """(n, BANDS) int64 of (n, BANDS, ROWS) signatures: one hash per band, with the band number
    (equal values in different bands are different keys) and the text's salt mixed in."""
    h = np.arange(1, BANDS + 1, dtype=np.uint64) * _MIX[0] ^ salts[:, None]
    for row in range(ROWS):
        h = (h ^ bands[:, :, row]) * _MIX[1]  # uint64 arithmetic wraps, as a hash should
    h ^= h >> np.uint64(31)
    return h.astype(np.uint64).view(np.int64)


def lanes(bands: np.ndarray) -> np.ndarray:
    """(n, BANDS) int64 of (n, BANDS, ROWS) signatures: the low 16 bits of each value, packed."""
    packed = np.zeros(bands.shape[:2], dtype=np.uint64)
    for row in range(ROWS):
        packed |= (bands[:, :, row] & np.uint64(0xFFFF)) << np.uint64(16 * row)
    return packed.view(np.int64)


def _numbers_hash(text: str) -> int:
    """Unsigned hash of the set of numbers in text (links left out), "2,000" and "2000" alike."""
    text = URL_RE.sub(" ", text) if "://" in text or "www." in text else text
    numbers = sorted({re.sub(r"\D", "", n) for n in NUMBER_RE.findall(text)})
    return _hash64(" ".join(numbers)) & 0xFFFF_FFFF_FFFF_FFFF if numbers else 0


def _hash64(text: str) -> int:
    """The signed 64-bit key of text: its 8-byte blake2b, little-endian."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _key(prefix: hashlib.blake2b, data: bytes) -> bytes:
    """The 8-byte blake2b of the prefix's bytes and data, whose little-endian int is `_hash64`
    of them: copying a hasher that has read the prefix is a third faster than a new one."""
    hasher = prefix.copy()
    hasher.update(data)
    return hasher.digest()


_ID, _URL, _TEXT = (hashlib.blake2b(prefix, digest_size=8) for prefix in (b"i:", b"u:", b"t:"))


__all__ = ["link_key", "shared_links", "story_keys"]
