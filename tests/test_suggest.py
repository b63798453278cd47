"""`pln topics suggest` ranks what the wanted items say more often than the rest, and leaves
out words of everyday English, which match everything once they are a phrase."""

from __future__ import annotations

from pln.config import TopicConfig
from pln.filters.nlp import load_nlp
from pln.filters.suggest import common_words, suggest_phrases
from pln.filters.topics import TopicRule
from pln.record import Item


def items(texts: list[str], prefix: str) -> list[Item]:
    return [
        Item.create(source="s", platform="fixture", kind="post", native_id=f"{prefix}{n}", text=t)
        for n, t in enumerate(texts)
    ]


def test_everyday_words_are_not_proposed_on_their_own():
    wanted = items(
        [
            f"This week the team tried flashcards and practice quizzes again, session {n}"
            for n in range(6)
        ],
        "w",
    )
    rest = items([f"Lunch menu for the canteen, number {n}" for n in range(12)], "r")
    topic = TopicRule(TopicConfig(id="spaced", title="Spaced", phrases=("spaced repetition",)))
    found = suggest_phrases(load_nlp(), wanted, rest, topic, n=30)
    terms = {s.term for s in found.phrases}
    assert {"flashcards", "quizzes", "practice quizzes"} <= terms, terms
    assert not {"week", "team", "tried", "practice"} & terms  # everyday English
    assert {"week", "team", "practice"} <= common_words()
    assert "flashcards" not in common_words()


def test_a_suggestion_says_which_other_topic_keeps_items_with_it():
    wanted = items([f"Flashcards and checklists for day {n}" for n in range(5)], "w")
    onboarding = items([f"Checklists for the new hire, part {n}" for n in range(4)], "o")
    rest = [*onboarding, *items([f"Canteen menu {n}" for n in range(8)], "r")]
    topic = TopicRule(TopicConfig(id="spaced", title="Spaced", phrases=("spaced repetition",)))
    others = {"onboarding": {it.id for it in onboarding}, "coaching": set()}
    found = suggest_phrases(load_nlp(), wanted, rest, topic, n=30, others=others)
    also = {s.term: s.also for s in found.phrases}
    assert also["checklists"] == ("onboarding", 4)
    assert also["flashcards"] is None


def test_exclusions_are_the_words_and_tags_of_the_minus_items_that_no_wanted_item_has():
    wanted = items(
        [
            f"Microlearning flashcards for the returns desk #microlearning, week {n}"
            for n in range(5)
        ],
        "w",
    )
    spam = items(
        [
            f"Crypto signals that pay: microlearning flashcards for traders #crypto #microlearning {n}"
            for n in range(3)
        ],
        "s",
    )
    other = items([f"Returns desk rota, week {n}" for n in range(4)], "r")
    topic = TopicRule(
        TopicConfig(
            id="micro",
            title="Microlearning",
            phrases=("microlearning",),
            hashtags=("microlearning",),
            none=("#bitcoin",),
        )
    )
    found = suggest_phrases(
        load_nlp(), wanted, [*spam, *other], topic, unwanted={it.id for it in spam}
    )
    terms = [s.term for s in found.exclusions]
    assert found.unwanted == 3
    assert {"crypto", "signals", "traders", "#crypto"} <= set(terms), terms
    # Never what a wanted item has, the topic's own phrase or hashtag, or everyday English.
    assert not {"microlearning", "#microlearning", "flashcards", "week", "pay"} & set(terms)
    assert all(s.in_topic == 3 and s.elsewhere == 0 for s in found.exclusions)


def test_a_hashtag_is_not_proposed_again_as_a_phrase():
    """'lrnchat' beside #lrnchat, or 'spacedrepetition' when the topic has the hashtag, would
    only say the same thing twice."""
    wanted = items(
        [f"Flashcards on the bus #SpacedRepetition #lrnchat, day {n}" for n in range(6)], "w"
    )
    rest = items([f"Canteen menu {n}" for n in range(8)], "r")
    topic = TopicRule(
        TopicConfig(
            id="spaced",
            title="Spaced",
            phrases=("spaced repetition",),
            hashtags=("SpacedRepetition",),
        )
    )
    found = suggest_phrases(load_nlp(), wanted, rest, topic, n=30)
    assert "#lrnchat" in {s.term for s in found.hashtags}
    assert "flashcards" in {s.term for s in found.phrases}
    assert not {"lrnchat", "spacedrepetition"} & {s.term.lower() for s in found.phrases}
