"""Duplicates: canonical URLs, exact-text fingerprints and a MinHash near-duplicate index.

- `canonical_url` makes the same link written differently compare equal (tracking parameters,
  fragments, host case, default ports, trailing slashes); the scheme is left alone.
- `text_fingerprint` is equal for texts that differ only in case, punctuation, spacing or links
  (a cross-post with a different short link).
- `MinHasher.signatures` gives MinHash signatures of word shingles, from which the writer's
  story linking (sinks/stories.py) finds near-duplicate reposts by LSH bands.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from urllib.parse import SplitResult, urlsplit

import numpy as np

from pln.text import URL_RE

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "ref",
        "ref_src",
        "_hsenc",
        "_hsmi",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}

WORD_RE = re.compile(r"\w+")


def canonical_url(url: str) -> str:
    """The URL with tracking parameters, fragment, default port and trailing slash removed.

    Host and scheme are lower-cased and query parameters sorted; http is not turned into https.
    Strings that are not absolute URLs come back stripped but otherwise unchanged.
    """
    url = url.strip()
    parts = canonical_parts(url)
    if parts is None:
        return url
    scheme, netloc, path, query = parts
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def canonical_parts(url: str) -> tuple[str, str, str, str] | None:
    """(scheme, host, path, query) of `canonical_url(url)`, or None when url is not absolute."""
    url = url.strip()
    plain = _plain_url(url)
    if plain is not None:
        return plain
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    netloc = parts.netloc
    if "@" in netloc or ":" in netloc:
        try:
            netloc = _canonical_netloc(parts)
        except ValueError:  # a port that is not a number
            return None
    else:
        netloc = netloc.lower().rstrip(".")
    return parts.scheme, netloc, parts.path.rstrip("/"), _clean_query(parts.query)


_PLAIN_NOT = re.compile(r"[?#@:;%\\\[\]\s\x00-\x1f\x7f]")  # what makes urlsplit do more than split


def _plain_url(url: str) -> tuple[str, str, str, str] | None:
    """`canonical_parts` of the common "https://host/path" without parsing (most posts' own
    URLs), or None to parse it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("https", "http") or not rest.isascii() or _PLAIN_NOT.search(rest):
        return None
    host, _, path = rest.partition("/")
    if not host:
        return None
    return scheme, host.lower().rstrip("."), ("/" + path).rstrip("/"), ""


def _canonical_netloc(parts: SplitResult) -> str:
    """Host lower-cased, default port dropped, user info kept."""
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        host = f"{userinfo}@{host}"
    return host


def _clean_query(query: str) -> str:
    """Sorted parameters without tracking ones, each kept exactly as written (no re-escaping)."""
    if not query:
        return ""
    kept = []
    for pair in query.split("&"):
        if not pair:
            continue
        name = pair.split("=", 1)[0].lower()
        if not (name.startswith("utm_") or name in TRACKING_PARAMS):
            kept.append(pair)
    return "&".join(sorted(kept))


def normalized_words(text: str) -> list[str]:
    """Case-folded words of text without links: what duplicate detection compares."""
    return normalized_text(text).split()


def normalized_text(text: str) -> str:
    """`normalized_words` joined by single spaces."""
    return normalized_bytes(text).decode()


def normalized_bytes(text: str) -> bytes:
    """`normalized_text` encoded as UTF-8 (what is hashed); ASCII text (most) without a regex
    and without a str copy."""
    text = _without_links(text)
    if text.isascii():
        return _ascii_words(text)
    return _unicode_words(text).encode()


def _without_links(text: str) -> str:
    """text without URL_RE's links when it has "://", "www." or "WWW." (not "Www.": as ever)."""
    # A one-character test first is a memchr, ten times faster than a search for "://".
    if ("/" in text and "://" in text) or "www." in text or ("W" in text and "WWW." in text):
        return URL_RE.sub(" ", text)
    return text


def _ascii_words(text: str) -> bytes:
    r"""The words of ASCII text, lower-cased, one space apart: \w is [A-Za-z0-9_] here, so a byte
    table does what WORD_RE and casefold would, and replacing double spaces until none is left
    (a few passes: runs are short) joins them faster than split and join."""
    spaced = text.encode().translate(_ASCII_WORDS)
    words = spaced.replace(b"  ", b" ")
    while len(words) < len(spaced):
        spaced, words = words, words.replace(b"  ", b" ")
    return words.strip(b" ")


def _unicode_words(text: str) -> str:
    return " ".join(WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold()))


# Letters lower-cased, digits and "_" kept, any other ASCII byte a space.
_ASCII_WORDS = bytes(
    ord(chr(c).lower()) if chr(c).isalnum() or c == ord("_") else 32 for c in range(128)
)
_ASCII_WORDS += bytes(range(128, 256))


def text_fingerprint(text: str) -> str:
    """A short hash equal for texts that differ only in case, punctuation, spacing or links."""
    return hashlib.blake2b(normalized_bytes(text), digest_size=8).hexdigest()


_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: combines word hashes into shingle hashes
_WORD_CACHE = 200_000  # word hashes remembered per MinHasher (words repeat a lot)


class MinHasher:
    """MinHash signatures of word shingles (pure numpy, stable across processes).

    A shingle's hash combines the crc32 of its words; the num_perm hash functions are
    multiply-shift ones, ((a * h + b) mod 2**64) >> 32, which numpy computes without division.
    """

    def __init__(self, num_perm: int = 64, shingle: int = 3, seed: int = 7):
        if num_perm < 1 or shingle < 1:
            raise ValueError("num_perm and shingle must be positive")
        self.num_perm, self.shingle = num_perm, shingle
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * 2 + 1  # odd
        self._b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
        self._words: dict[str, int] = {}

    def signatures(self, word_lists: list[list[str]], chunk: int = 8_000) -> np.ndarray:
        """MinHash signatures of many texts given as normalized words (`normalized_words`),
        one row of num_perm uint64 minima each (all 2**64-1 for a text without words),
        computed together about `chunk` shingles at a time."""
        out = np.full((len(word_lists), self.num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
        rows: list[int] = []  # rows of the texts in the current chunk
        hashes: list[int] = []  # their word hashes, one after the other
        total = 0
        for row, words in enumerate(word_lists):
            if not words:
                continue
            rows.append(row)
            hashes.extend(self._word_hashes(words))
            total += len(words)
            if total >= chunk:
                self._sign(word_lists, rows, hashes, out)
                rows, hashes, total = [], [], 0
        if rows:
            self._sign(word_lists, rows, hashes, out)
        return out

    def _word_hashes(self, words: list[str]) -> list[int]:
        known = self._words
        hashes = list(map(known.get, words))
        if None in hashes:
            if len(known) > _WORD_CACHE:
                known.clear()
            for i, h in enumerate(hashes):
                if h is None:
                    hashes[i] = known[words[i]] = zlib.crc32(words[i].encode("utf-8"))
        return hashes

    def _sign(
        self, word_lists: list[list[str]], rows: list[int], hashes: list[int], out: np.ndarray
    ) -> None:
        """Fill out[rows] from the concatenated word hashes of those texts."""
        n = self.shingle
        lengths = np.array([len(word_lists[r]) for r in rows], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        words = np.array(hashes, dtype=np.uint64)
        # A text of up to n words is one shingle of all of them; longer texts have len - n + 1.
        span = np.minimum(lengths, n)
        count = np.maximum(lengths - n + 1, 1)
        offsets = np.cumsum(count) - count  # where each text's shingles start
        first = np.repeat(starts, count) + np.arange(count.sum()) - np.repeat(offsets, count)
        width = np.repeat(span, count)
        shingles = words[first]
        with np.errstate(over="ignore"):
            for j in range(1, n):
                more = width > j
                nxt = words[np.minimum(first + j, len(words) - 1)]
                shingles = np.where(more, shingles * _MIX ^ nxt, shingles)
            permuted = np.multiply.outer(shingles, self._a)  # in place from here: 3x faster
            permuted += self._b
            permuted >>= np.uint64(32)
        out[rows] = np.minimum.reduceat(permuted, offsets, axis=0)
