"""Which entities an item keeps (filters/entities.py), on docs whose entities are set by hand,
so no model's guesses decide the test."""

from __future__ import annotations

import spacy
from spacy.tokens import Span

from pln.filters.entities import entity_strings


def stored(text: str, *spans: tuple[str, str]) -> tuple[str, ...]:
    """entity_strings of `text` where each (words, label) of `spans` is an entity."""
    doc = spacy.blank("en")(text)
    ents = []
    for words, label in spans:
        start = text.index(words)
        ents.append(doc.char_span(start, start + len(words), label=label))
    doc.ents = [e for e in ents if isinstance(e, Span)]
    return entity_strings(doc)


def test_names_stay_and_what_names_nothing_goes():
    text = "Day two of #LDConf26 with @maya in Sydney 🚀 # 3 https://t.co/x Node.js www.acme.com"
    assert stored(
        text,
        ("two", "CARDINAL"),
        ("LDConf26", "PERSON"),  # a hashtag's word: its tag is stored already
        ("@maya", "PERSON"),  # a mention
        ("Sydney", "GPE"),
        ("🚀", "ORG"),  # no letter or digit
        ("#", "CARDINAL"),
        ("https://t.co/x", "PERSON"),  # a link
        ("Node.js", "PRODUCT"),  # a name, though spaCy's like_url says it could be a link
        ("www.acme.com", "ORG"),
    ) == ("CARDINAL:two", "GPE:Sydney", "PRODUCT:Node.js")


def test_a_span_across_the_title_and_the_text_goes_and_each_is_kept_once():
    text = "Mobile Learning for Frontline Staff\nHalf of them met Julie Dirksen and Julie Dirksen"
    doc = spacy.blank("en")(text)
    first = text.index("Julie")
    second = text.rindex("Julie")
    doc.ents = [
        doc.char_span(0, text.index("Half") + 4, label="ORG"),
        doc.char_span(first, first + 13, label="PERSON"),
        doc.char_span(second, second + 13, label="PERSON"),
    ]
    assert entity_strings(doc) == ("PERSON:Julie Dirksen",)
