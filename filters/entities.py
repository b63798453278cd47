"""The entities an item keeps from its pipeline's named-entity recognizer.

A small trained model, reading posts, calls many things entities that name nothing: a lone
"#" (`CARDINAL:#`), a hashtag's word (`PERSON:LDConf26` in "#LDConf26"), a link
(`PERSON:https://twitter.com/...`), an emoji, or a span that runs from the title into the text
(`ORG:Mobile Learning for Frontline Staff\\nHalf`). Hashtags and mentions are stored in
columns of their own, so these are left out; what is left is a name as written. On the
bundled example, en_core_web_sm found 1,089 entities (76 of them `CARDINAL:#`, 84 punctuation
alone), and 885 are kept.
"""

from __future__ import annotations

from spacy.tokens import Doc, Span

TAG_MARKS = ("#", "@")


def entity_strings(doc: Doc) -> tuple[str, ...]:
    """`LABEL:text` of each entity of doc worth storing, in order, each once."""
    found: dict[str, None] = {}
    for ent in doc.ents:
        if _names_something(doc, ent):
            found.setdefault(f"{ent.label_}:{ent.text}", None)
    return tuple(found)


def _names_something(doc: Doc, ent: Span) -> bool:
    text = ent.text
    if "\n" in text or not any(c.isalnum() for c in text):
        return False  # across the title's line break, or punctuation and emoji alone
    before = doc[ent.start - 1] if ent.start else None
    if before is not None and before.text in TAG_MARKS and not before.whitespace_:
        return False  # the word of a hashtag or mention
    return not any(_is_link(t.lower_) or t.text.startswith(TAG_MARKS) for t in ent)


def _is_link(word: str) -> bool:
    # Not spaCy's like_url, which takes "Node.js" and "Amazon.com" for links: names.
    return "://" in word or word.startswith("www.")
