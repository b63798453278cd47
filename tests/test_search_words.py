"""Search words with punctuation inside: "retrieval-practice", "e-learning", "retrieval,practice",
"AT&T", "K-12", typographic quotes and dashes, and queries of punctuation alone. Real DuckDB,
real server."""

from __future__ import annotations

import re
from datetime import timedelta
from html import escape
from urllib.parse import urlencode

import pytest
from feedsite import NOW, build_site, free_port, post
from test_serve import get

from pln.record import Decision
from pln.serve import FeedServer
from pln.sinks.store import Store

TITLES = [
    "Retrieval practice works",  # 0
    "retrieval-practice in class",  # 1
    "Retrieval\u2013practice, with an en dash",  # 2
    "Practice of retrieval, spaced",  # 3
    "E-learning at scale",  # 4
    "e learning on a budget",  # 5
    "Why eLearning stalls",  # 6
    "Online learning and the learning curve",  # 7
    "Version 3.5 notes",  # 8
    "Lesson 35 recap",  # 9
    "C++ in a week",  # 10
    "C in a week \u2014 the basics",  # 11
    "AT&T wires a district",  # 12
    "Look at the attention span",  # 13
    "Team notes",  # 14, by data_dan_ld
    "L & D budgets",  # 15
    "Q&As with teachers",  # 16
    "R and D in schools",  # 17
    "The RD grid",  # 18
    "K12 schools",  # 19
    "Route K-123 closed",  # 20
    "One-to-one, 1:1 tutoring",  # 21
    "A 1:10 scale",  # 22
    "A.I. in class",  # 23
    "Aim high",  # 24
    "The QA checklist",  # 25
    "Said the trainer",  # 26
    "AI tutors, AI-powered drills and GenAI",  # 27
    "Two LMSs compared",  # 28
    "Short films for new hires",  # 29
]
AUTHORS = {14: "data_dan_ld"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "pln.duckdb"
    items = [
        post(
            n,
            NOW - timedelta(hours=n),
            title=title,
            html=f"<p>{title}</p>",
            text="",
            author=AUTHORS.get(n, "Ann"),
        )
        for n, title in enumerate(TITLES)
    ]
    with Store(path) as s:
        s.write(items, [Decision(i.id, "spaced", 0.9, True, "matched") for i in items], [])
    with Store(path, read_only=True) as s:
        yield s


def found(store, words: str) -> set[int]:
    """The numbers (indexes into TITLES) of the kept items `words` finds."""
    entries, total = store.curated_page(None, limit=50, words=words)
    assert total == len(entries)
    return {TITLES.index(e.item.title) for e in entries}


@pytest.mark.parametrize(
    "words",
    ["retrieval-practice", "Retrieval\u2013Practice", "retrieval/practice", "RETRIEVAL_practice"],
)
def test_punctuation_between_two_words_matches_any_punctuation_or_space(store, words):
    assert found(store, words) == {0, 1, 2}


def test_a_short_word_is_a_whole_word_and_a_longer_one_may_be_part_of_one(store):
    """A short word is whole: "AI" is not in "said" or "aim", "LMS" not in "films"."""
    assert found(store, "AI") == found(store, "ai") == {27}
    assert found(store, "LMS") == {28}
    assert found(store, "C++") == {10}
    assert found(store, "film") == {29}  # four letters: may begin a longer word
    assert found(store, "hire") == {29}
    assert found(store, "rain") == {26}  # and end in one (trainer)


def test_a_comma_between_words_is_a_space(store):
    assert found(store, "retrieval,practice") == found(store, "retrieval practice") == {0, 1, 2, 3}
    assert found(store, "retrieval;spaced") == {3}


def test_e_learning_finds_its_spellings_but_not_every_e(store):
    """The part before the hyphen starts a word: "online learning" is not "e-learning"."""
    assert found(store, "e-learning") == found(store, "E\u2011Learning") == {4, 5, 6}
    assert found(store, '"e learning"') == {4, 5, 6}  # a phrase likewise


def test_digits_keep_their_separator_and_edge_punctuation_is_literal(store):
    assert found(store, "3.5") == found(store, "3,5") == {8}  # not "35"
    assert found(store, "(c++)") == found(store, "c++.") == {10}  # sentence marks dropped
    assert found(store, "\u201cretrieval\u2014practice\u201d class") == {1}
    assert found(store, "\u201eRetrieval Practice\u201c") == {0, 1, 2}  # German quotes


@pytest.mark.parametrize("words", ["AT&T", "at & t", "AT\uff06T", '"At & T"'])
def test_an_ampersand_is_an_ampersand_or_and(store, words):
    """Not "at the", "attention" or "att": "&" (or " and ") stands between the parts."""
    assert found(store, words) == {12}


def test_acronyms_with_an_ampersand(store):
    assert found(store, "L&D") == {15}  # not the handle data_dan_ld
    assert found(store, "Q&A") == found(store, "q & a") == {16}  # "Q&As", not "QA"
    assert found(store, "R&D") == {17}  # "R and D", not "RD"


def test_a_short_last_part_ends_a_word(store):
    assert found(store, "K-12") == {19}  # not "K-123"
    assert found(store, "1:1") == {21}  # not "1:10"
    assert found(store, "A.I.") == {23, 27}  # not "Aim"
    assert found(store, "retrieval-pract") == {0, 1, 2}  # a longer one may start a word
    assert found(store, "e-learn") == {4, 5, 6}


@pytest.mark.parametrize("words", ["\u2014", "-", "!!! ...", "\u201c\u2014\u201d", "\\ .* ( ["])
def test_punctuation_alone_finds_nothing(store, words):
    assert store.curated_page(None, limit=50, words=words) == ([], 0)
    assert found(store, f"week {words}") == {10, 11}  # beside a word: ignored


def test_the_search_page_finds_hyphenated_words_and_nothing_for_a_dash(tmp_path):
    port = free_port()
    config = build_site(tmp_path, port)
    items = [post(20 + n, NOW - timedelta(hours=1), title=t) for n, t in enumerate(TITLES[:3])]
    items.append(post(30, NOW, title="Spaced \u2014 again"))
    with Store(config.outputs.duckdb) as s:
        s.write(items, [Decision(i.id, "spaced", 0.9, True, "matched") for i in items], [])
    with FeedServer(config, "127.0.0.1", port) as server:

        def says(words: str) -> str:
            page = get(server, "search?" + urlencode({"q": words}))[2].decode()
            return re.search(r"(\d+ kept items?) mention", page).group(1)

        assert says("Retrieval-Practice") == "3 kept items"
        assert says("retrieval,practice") == "3 kept items"
        assert says("\u2014") == "0 kept items"
        assert says("spaced practice") == "6 kept items"  # plain words as before


def test_the_search_page_finds_at_and_t_but_not_at_the(tmp_path):
    """The reported query: "AT&T" (sent as q=AT%26T) found "at the" and "attention"."""
    port = free_port()
    config = build_site(tmp_path, port)
    items = [post(20 + n, NOW - timedelta(hours=1), title=t) for n, t in enumerate(TITLES[12:14])]
    with Store(config.outputs.duckdb) as s:
        s.write(items, [Decision(i.id, "spaced", 0.9, True, "matched") for i in items], [])
    with FeedServer(config, "127.0.0.1", port) as server:

        def titles(words: str) -> list[str]:
            page = get(server, "search?" + urlencode({"q": words}))[2].decode()
            return [t for t in TITLES[12:14] if escape(t) in page]

        assert titles("AT&T") == titles("AT & T") == [TITLES[12]]
