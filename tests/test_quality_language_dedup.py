"""The cheap filters: quality flags, stopword language guess, duplicates."""

from __future__ import annotations

import random

import pytest

from pln.filters import dedup
from pln.filters.dedup import (
    MinHasher,
    canonical_url,
    normalized_words,
    text_fingerprint,
)
from pln.filters.language import LANGUAGES, MAX_CHARS, detect_language, detect_language_split
from pln.filters.quality import hashtags_in, quality_problem, scan, word_count
from pln.filters.runs import SplitText
from pln.record import Item


def post(text: str, **kw) -> Item:
    return Item.create(source="s", platform="p", kind="post", native_id=text, text=text, **kw)


# --- quality ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "extra", "problem"),
    [
        ("", {}, "empty post"),
        ("   \n ", {}, "empty post"),
        ("@jane @bob", {}, "empty post"),
        ("", {"links": ["https://example.org/a"]}, "link-only post"),
        ("https://example.org/a", {}, "link-only post"),
        ("https://example.org/a 👍 #elearning", {}, "link-only post"),
        ("www.example.org/guide!", {}, "link-only post"),
        ("#microlearning #lrnchat", {}, "hashtag-only post"),
        (
            " ".join(f"#tag{i}" for i in range(12)) + " a few words here",
            {},
            "hashtag-stuffed post (12 hashtags)",
        ),
        (
            "Great read #ld #hr #elearning #edtech",
            {},
            "hashtag-stuffed post (4 of 6 words are hashtags)",
        ),
        ("A1. Short quizzes a week later #lrnchat", {}, ""),
        ("Worth reading https://example.org/a", {}, ""),
        ("", {"title": "A title is text"}, ""),
    ],
)
def test_quality_problems(text, extra, problem):
    assert quality_problem(post(text, **extra)) == problem


def test_platform_hashtags_count_toward_stuffing():
    tags = [f"t{i}" for i in range(11)]
    assert quality_problem(post("A real sentence about onboarding", hashtags=tags)) == (
        "hashtag-stuffed post (11 hashtags)"
    )


def test_scan_counts_and_hashtags():
    stats = scan("Read this: https://x.org/a #Microlearning, C# and issue#12 #2024 @jane_ld!")
    assert stats.hashtags == ("microlearning",)
    assert stats.links == 1 and stats.mentions == 1
    assert stats.plain_words == stats.words - 2
    assert hashtags_in("(#ok) #_x a&#38; x/#top #über") == ("ok", "_x", "über")


# --- language --------------------------------------------------------------------------------

SAMPLES = {
    "en": "We send short quizzes to the team a week after the workshop and it works.",
    "es": "Enviamos preguntas cortas al equipo una semana después del taller y funciona muy bien.",
    "fr": "Nous envoyons des questions courtes à l'équipe une semaine après la formation.",
    "de": "Wir schicken dem Team eine Woche nach dem Workshop kurze Fragen und es wirkt.",
    "pt": "Enviamos perguntas curtas para a equipe uma semana depois do curso e não falha.",
    "it": "Mandiamo domande brevi alla squadra una settimana dopo il corso e funziona anche così.",
    "nl": "We sturen het team een week na de workshop korte vragen en dat werkt goed.",
    "sv": "Vi skickar korta frågor till teamet en vecka efter kursen och det fungerar bra.",
    "pl": "Wysyłamy krótkie pytania do zespołu tydzień po szkoleniu i to jest bardzo skuteczne.",
    "tr": "Eğitimden bir hafta sonra ekibe kısa sorular gönderiyoruz ve bu çok iyi çalışıyor.",
}


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_detects_each_language(lang):
    assert lang in LANGUAGES
    assert detect_language(SAMPLES[lang]) == lang


@pytest.mark.parametrize(
    "text", ["", "#microlearning", "Microlearning FTW", "https://example.org", "de la"]
)
def test_unsure_texts_get_no_language(text):
    assert detect_language(text) == ""


def test_language_from_the_shared_split_is_the_language_of_the_text():
    """`detect_language_split` reads the runs the cue check split; long texts, cut at
    MAX_CHARS (inside a word, maybe), and texts with digits between letters included."""
    rng = random.Random(5)
    words = " ".join(SAMPLES.values()).split() + ["2024", "x2y", "½", "İstanbul", "C#", "e-mail"]
    for _ in range(3_000):
        text = " ".join(rng.choice(words) for _ in range(rng.choice([1, 5, 40, 700])))
        if rng.random() < 0.3:
            text = text[: MAX_CHARS + rng.randint(-20, 20)]
        assert detect_language_split(SplitText(text)) == detect_language(text), text


def test_word_count_is_the_number_of_whitespace_words():
    rng = random.Random(9)
    alphabet = [chr(c) for c in range(128)] + ["\u00a0", "\u2028", "é", "\u3000"]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert word_count(text) == len(text.split()), repr(text)


# --- dedup -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "HTTPS://Example.COM:443/a/b/?utm_source=x&b=2&a=1#frag",
            "https://example.com/a/b?a=1&b=2",
        ),
        ("http://example.com:80/", "http://example.com"),
        ("http://example.com/post", "http://example.com/post"),  # http stays http
        ("https://example.com/?ref=hn&fbclid=1&gclid=2&mc_cid=3", "https://example.com"),
        ("https://example.com:8443/x/?q=a+b&Q=%20", "https://example.com:8443/x?Q=%20&q=a+b"),
        ("http://user:pw@Example.com:8080/x/", "http://user:pw@example.com:8080/x"),
        ("  https://example.org/a  ", "https://example.org/a"),
        ("not a url", "not a url"),
        ("https://example.com:abc/x", "https://example.com:abc/x"),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_text_fingerprint_ignores_case_punctuation_and_links():
    a = text_fingerprint("Spaced practice works!  https://t.co/abc")
    assert a == text_fingerprint("spaced practice   works https://bsky.app/x")
    assert a != text_fingerprint("Spaced practice works, sometimes")


def test_minhash_estimates_jaccard():
    hasher = MinHasher(num_perm=256)
    a = " ".join(f"w{i}" for i in range(100))
    b = " ".join(f"w{i}" for i in range(50, 150))  # 48 of 148 shingles shared: ~0.32
    sig_a, sig_b = hasher.signatures([normalized_words(a), normalized_words(b)])
    assert (sig_a == sig_b).mean() == pytest.approx(48 / 148, abs=0.08)
    assert (sig_a == hasher.signatures([normalized_words(a)])[0]).all()


def test_the_fast_path_for_plain_urls_canonicalizes_as_urlsplit_does(monkeypatch):
    rng = random.Random(2)
    alphabet = "aZ09./-_~!$&'()*+,=?#@:;%[] \t\r\nüé\x00\x7f"
    urls = [
        rng.choice(["https://", "http://", "HTTP://", "ftp://", "https:/", ""])
        + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        for _ in range(50_000)
    ]
    urls += ["https://Example.org./a/b/", "http://x.com", "https://www.x.com/p/1"]
    fast = [dedup.canonical_parts(url) for url in urls]
    monkeypatch.setattr(dedup, "_plain_url", lambda url: None)  # always urlsplit
    assert fast == [dedup.canonical_parts(url) for url in urls]


# --- normalized_text and normalized_bytes: the ASCII path is the regex one (filters/dedup.py) ---


def _regex_normalized(text: str) -> str:
    """normalized_text as the regex path gives it for any text."""
    import unicodedata

    if "://" in text or "www." in text or "WWW." in text:
        text = dedup.URL_RE.sub(" ", text)
    return " ".join(dedup.WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold()))


def test_normalized_text_of_ascii_is_what_the_regex_gives():
    rng = random.Random(7)
    pieces = ["Word", "snake_case", "42", "2,000", " ", "  ", "\t", "\n", "\r\n", ".", "...",
              ", ", " - ", "!!!", "(x)", "https://e.org/a?b=1", "HTTP://E.ORG", "www.e.org/x",
              "WWW.E.ORG", "Www.e.org/y", "http://", ":", "/", "\x00", "\x7f"]  # fmt: skip
    texts = ["", " ", "...", "a", "  a  b  ", "a" + " " * 9 + "b" + "," * 40, "é and www.e.org"]
    texts += ["".join(rng.choices(pieces, k=rng.randint(1, 30))) for _ in range(3000)]
    for text in texts:
        expected = _regex_normalized(text)
        assert dedup.normalized_text(text) == expected, text
        assert dedup.normalized_bytes(text) == expected.encode(), text


def test_text_fingerprints_stay_the_stored_ones():
    assert dedup.text_fingerprint("Hello,  World! https://x.example/z") == "878633aa32a3b150"
    assert dedup.text_fingerprint("Ünïcode straße — “quoted” www.e.org/x") == "09875b16910e53cd"
