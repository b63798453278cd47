"""Which words a topic phrase matches: what `pln topics test --file` shows a user, line by line."""

from __future__ import annotations

import pytest
from test_learning import run_pln

from pln.config import NlpConfig, TopicConfig
from pln.filters.curator import Curator
from pln.filters.topics import phrase_key, variants
from pln.record import Item


def decide(phrase: str, texts: list[str]) -> list[str]:
    """The reason of each text's decision for a topic with one phrase ("" when not kept)."""
    curator = Curator((TopicConfig(id="t", title="T", phrases=(phrase,)),), NlpConfig())
    items = [
        Item.create(source="s", platform="text", kind="post", native_id=str(n), text=text)
        for n, text in enumerate(texts)
    ]
    judged = curator.judge(items, ["t"], check_source=False)
    reasons = [j["t"].decision.reason if j["t"].decision.kept else "" for j in judged]
    curated = {d.item_id: d.reason for d in curator.curate(items).decisions if d.kept}
    assert [curated.get(item.id, "") for item in items] == reasons  # the batch says the same
    return reasons


@pytest.mark.parametrize(
    ("phrase", "kept", "dropped"),
    [
        # an inflected form ("training": lemma "train") means that form and its plural
        ("training", ["Training day", "Trainings for staff", "new TRAINING"],
         ["The train was late again", "Two trains collided", "I train my dog", "we trained hard"]),
        ("learning", ["Learning at work", "Key learnings"], ["We learned a lot", "learn more"]),
        # a plural means its singular too, not the verb: "communities" -> "community"
        ("communities of practice", ["Our community of practice", "communities of practice"],
         ["it communitied"]),
        # a word that is its own lemma names the family: "mentor" -> mentors, mentoring, mentored
        ("mentor", ["Mentors help", "Reverse mentoring", "I was mentored"], ["a mentee"]),
    ],
)  # fmt: skip
def test_a_phrase_word_that_is_an_inflected_form_keeps_its_own_meaning(phrase, kept, dropped):
    reasons = decide(phrase, kept + dropped)
    assert all(reasons[: len(kept)]), list(zip(kept, reasons, strict=False))
    assert not any(reasons[len(kept) :]), list(zip(dropped, reasons[len(kept) :], strict=True))


def test_a_derived_variant_is_the_noun_not_a_verb_form():
    texts = [
        "Good learning design",
        "learning designs",
        "learning designed by AI",
        "learned designer",
    ]
    assert decide("learning designer", texts) == [
        "matched 'learning designer' (variant); threshold 0.5",
        "matched 'learning designer' (variant); threshold 0.5",
        "",
        "",
    ]


def test_typographic_hyphens_match_like_the_hyphen():
    texts = [
        "e\u2010learning",
        "E\u2011learning",
        "e\u2012learning",
        "e\u2013learning",
        "e-learning",
    ]
    assert decide("e-learning", texts) == ["matched 'e-learning'; threshold 0.5"] * 5
    assert decide("peer-to-peer learning", ["Peer\u2010to\u2010peer learning"]) == [
        "matched 'peer-to-peer learning'; threshold 0.5"
    ]
    assert decide("e-learning", ["e \u2014 learning", "e\u2010mail learning"]) == ["", ""]


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("peer-to-peer learning", "peer-to-peer learners"),
        ("peer-to-peer learning", "Peer-to-peer (P2P) learners meet"),
        ("peer-to-peer learning", "peertopeer learners"),
        ("instructional design", "instructional (ID) designers"),
        ("learning designer", "learning (L&D) design"),
    ],
)
def test_a_derived_form_matches_hyphenated_joined_and_around_an_aside(phrase, text):
    assert decide(phrase, [text]) == [f"matched '{phrase}' (variant); threshold 0.5"]


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("peer-to-peer learning", "peer-to-peer (a long aside of words) learners"),
        ("peer-to-peer learning", "peer-(P2P)-to-peer learning"),
        ("learning designer", "learning (L&D) designed"),
        ("training", "the (new) train"),
    ],
)
def test_near_misses_around_an_aside_do_not_match(phrase, text):
    assert decide(phrase, [text]) == [""]


def test_topics_test_file_shows_the_narrow_phrase(tmp_path, capsys):
    config = tmp_path / "pln.yaml"
    config.write_text(
        "sources:\n  - {name: s, type: rss, url: https://example.org/feed.xml}\n"
        "topics:\n  - {id: train, title: Training, phrases: [training, e-learning]}\n"
    )
    lines = tmp_path / "lines.txt"
    lines.write_text(
        "The train was late again\nTwo trains collided\nTrainings for staff\nE\u2011learning\n",
        encoding="utf-8",
    )
    code, out, _ = run_pln(
        capsys, "topics", "test", "train", "--file", str(lines), "-c", str(config)
    )
    assert code == 0
    assert [line.split("\t")[1:] for line in out.splitlines()[:4]] == [
        ["-", "0", "no match"],
        ["-", "0", "no match"],
        ["kept", "0.632", "matched 'training' (lemma); threshold 0.5"],
        ["kept", "0.632", "matched 'e-learning'; threshold 0.5"],
    ]


def kept_and_dropped(cases: dict[str, tuple[list[str], list[str]]]) -> dict[str, list[str]]:
    """Per phrase, the texts of `cases` (kept, dropped) the topic keeps."""
    out = {}
    for phrase, (kept, dropped) in cases.items():
        reasons = decide(phrase, kept + dropped)
        out[phrase] = [text for text, reason in zip(kept + dropped, reasons, strict=True) if reason]
    return out


def test_a_last_word_the_lemma_table_does_not_know_matches_its_regular_plural():
    cases = {
        "microlearning": (["Microlearnings for busy staff", "A microlearning a day"],
                          ["we microlearned it", "microlearn daily", "microlearningss"]),
        "nanolearning": (["Nanolearnings"], ["nanolearned"]),
        "chatbot": (["Chatbots answer staff questions"], ["chatbotted"]),
        "customer onboarding": (["Customer-onboardings"], ["customer onboarded"]),
        "e-learning": (["Elearnings"], ["es-learning", "e-learned"]),
        # inflected forms still do not match their lemma
        "coaching": (["Coaching works"], ["We coach managers", "Two coaches"]),
        "training": (["Trainings for staff"], ["Trains run late"]),
    }  # fmt: skip
    assert kept_and_dropped(cases) == {phrase: kept for phrase, (kept, _) in cases.items()}


def test_only_an_abbreviation_in_parentheses_is_skipped():
    cases = {
        "peer-to-peer learning": (
            ["peer-to-peer (LXP) learning", "peer-to-peer (MOOCs) learners"],
            [],
        ),
        "peer-to-peer learners": ([], ["peer-to-peer (and other) learners"]),
        "learning design": (
            ["learning (AI/ML) design", "learning (K-12) design"],
            [
                "learning (not) design",
                "learning (NOT) design",
                "learning (or not) design",
                "learning (e-learning) design",
                "learning (Better) design",
            ],
        ),
    }
    assert kept_and_dropped(cases) == {phrase: kept for phrase, (kept, _) in cases.items()}


def test_a_prefix_is_split_off_only_before_a_word_of_its_own():
    written = [
        "mentor", "education", "email", "prerequisite", "selfie", "media",
        "mlearning", "elearning", "microlearning", "selfpaced",
    ]  # fmt: skip
    assert {w: variants(phrase_key(w), {w}) for w in written} == {
        "mentor": set(),
        "education": set(),
        "email": set(),
        "prerequisite": set(),
        "selfie": set(),
        "media": set(),
        "mlearning": {"m-learning", "m learning"},
        "elearning": {"e-learning", "e learning"},
        "microlearning": {"micro-learning", "micro learning"},
        "selfpaced": {"self-paced", "self paced"},
    }
    assert "elearning" in variants("e learning", {"e-learning"})
    assert variants("self paced", {"self-paced"}) == {"selfpaced"}  # no "self paceder"
    assert decide("mentor", ["m entor", "M-entor"]) == ["", ""]
    assert decide("mlearning", ["M-learning on phones"]) == [
        "matched 'mlearning' (variant); threshold 0.5"
    ]
