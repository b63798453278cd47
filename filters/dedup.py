"""Duplicates: canonical URLs, exact-text fingerprints and a MinHash near-duplicate index.

- `canonical_url` makes the same link written differently compare equal (tracking parameters,
  fragments, host case, default ports, trailing slashes); the scheme is left alone.
- `text_fingerprint` is equal for texts that differ only in case, punctuation, spacing or links
  (a cross-post with a different short link).
- `NearDuplicateIndex` finds earlier texts whose word-shingle Jaccard similarity is probably
  above a threshold (MinHash + LSH bands), for grouping reposts into stories.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Hashable
from urllib.parse import SplitResult, urlsplit

import numpy as np

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

URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
WORD_RE = re.compile(r"\w+")


def canonical_url(url: str) -> str:
    """The URL with tracking parameters, fragment, default port and trailing slash removed.

    Host and scheme are lower-cased and query parameters sorted; http is not turned into https.
    Strings that are not absolute URLs come back stripped but otherwise unchanged.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if not parts.scheme or not parts.netloc:
        return url
    scheme, netloc = parts.scheme, parts.netloc
    if "@" in netloc or ":" in netloc:
        try:
            netloc = _canonical_netloc(parts)
        except ValueError:  # a port that is not a number
            return url
    else:
        netloc = netloc.lower().rstrip(".")
    query = _clean_query(parts.query)
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}" + (f"?{query}" if query else "")


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
    text = unicodedata.normalize("NFKC", URL_RE.sub(" ", text)).casefold()
    return WORD_RE.findall(text)


def text_fingerprint(text: str) -> str:
    """A short hash equal for texts that differ only in case, punctuation, spacing or links."""
    joined = " ".join(normalized_words(text))
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=8).hexdigest()


_PRIME = np.uint64(4_294_967_311)  # the smallest prime above 2**32


class MinHasher:
    """MinHash signatures of word shingles (pure numpy, stable across processes)."""

    def __init__(self, num_perm: int = 64, shingle: int = 3, seed: int = 7):
        if num_perm < 1 or shingle < 1:
            raise ValueError("num_perm and shingle must be positive")
        self.num_perm, self.shingle = num_perm, shingle
        rng = np.random.default_rng(seed)
        # a, b < 2**32 and shingle hashes < 2**32, so a*h + b stays below 2**64.
        self._a = rng.integers(1, 2**32, size=num_perm, dtype=np.uint64)
        self._b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64)

    def shingles(self, text: str) -> set[str]:
        words = normalized_words(text)
        n = self.shingle
        if len(words) <= n:
            return {" ".join(words)} if words else set()
        return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}

    def signature(self, text: str) -> np.ndarray:
        """num_perm uint64 minima; all 2**64-1 for a text without words."""
        shingles = self.shingles(text)
        if not shingles:
            return np.full(self.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        hashes = np.fromiter(
            (zlib.crc32(s.encode("utf-8")) for s in shingles), dtype=np.uint64, count=len(shingles)
        )
        return ((hashes[:, None] * self._a + self._b) % _PRIME).min(axis=0)


def estimated_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    return float(np.count_nonzero(a == b)) / len(a)


class NearDuplicateIndex:
    """Remembers texts and finds earlier ones that are near-duplicates of a new text.

    LSH: signatures are cut into bands; texts sharing a whole band become candidates, then
    candidates are confirmed by their estimated similarity.
    """

    def __init__(self, threshold: float = 0.8, num_perm: int = 64, shingle: int = 3):
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.hasher = MinHasher(num_perm=num_perm, shingle=shingle)
        self.bands = _bands_for(threshold, num_perm)
        self.rows = num_perm // self.bands
        self._buckets: list[dict[bytes, list[Hashable]]] = [{} for _ in range(self.bands)]
        self._signatures: dict[Hashable, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._signatures)

    def query(self, text: str) -> list[tuple[Hashable, float]]:
        """Known keys whose text is a near-duplicate of text, most similar first."""
        return self._matches(self.hasher.signature(text))

    def add(self, key: Hashable, text: str) -> list[tuple[Hashable, float]]:
        """Remember text under key; return the earlier near-duplicates (as `query`)."""
        signature = self.hasher.signature(text)
        matches = self._matches(signature)
        self._signatures[key] = signature
        for band, bucket in zip(self._band_keys(signature), self._buckets, strict=True):
            bucket.setdefault(band, []).append(key)
        return matches

    def _band_keys(self, signature: np.ndarray) -> list[bytes]:
        r = self.rows
        return [signature[i * r : (i + 1) * r].tobytes() for i in range(self.bands)]

    def _matches(self, signature: np.ndarray) -> list[tuple[Hashable, float]]:
        candidates: dict[Hashable, None] = {}
        for band, bucket in zip(self._band_keys(signature), self._buckets, strict=True):
            for key in bucket.get(band, ()):
                candidates[key] = None
        scored = [(k, estimated_similarity(signature, self._signatures[k])) for k in candidates]
        return sorted(
            ((k, s) for k, s in scored if s >= self.threshold), key=lambda ks: ks[1], reverse=True
        )


def _bands_for(threshold: float, num_perm: int) -> int:
    """Band count whose LSH threshold (1/b)**(1/r) sits a little below the wanted threshold,
    so few true near-duplicates are missed; candidates are confirmed afterwards."""
    target = max(threshold - 0.15, 0.05)
    options = [b for b in range(1, num_perm + 1) if num_perm % b == 0]
    return min(options, key=lambda b: abs((1 / b) ** (b / num_perm) - target))
