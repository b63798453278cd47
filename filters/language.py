"""Guess the language of a short text from its stopwords; "" when unsure.

Each of ten common languages has a small list of its most frequent function words. A word that
belongs to k lists adds 1/k to each of them, so words shared by Spanish and Portuguese ("de",
"que") count for little while "não" or "y" decide. The best language wins when it has enough
evidence and clearly beats the runner-up. No dependencies; the first 300 words are enough.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from itertools import islice

from pln.filters.runs import LETTERS, SplitText

STOPWORDS: dict[str, str] = {
    "en": "the and is are was were of to in that this it with for on you not be have has they we "
    "what which from by at but or an will would can about there their your how our been more "
    "all just do does should when who if so my me i a",
    "es": "el la los las de del y que en un una es por con para no se lo su sus al como más pero "
    "este esta son muy también hay ya sobre entre cuando todo nos yo tiene ser está fue sin o "
    "hacer puede donde",
    "fr": "le la les de des du et est un une que qui dans pour pas sur au aux avec ce cette il "
    "elle ne nous vous sont mais ou plus par en se leur être été très aussi comme tout je on "
    "c est d l qu",
    "de": "der die das und ist nicht ein eine zu den dem des mit sich auf für von im auch es wir "
    "sie ich wie aber oder wird sind bei nach noch nur dass werden kann hat einen zum zur über "
    "man wenn",
    "pt": "o a os as de do da dos das e que em um uma é para com não no na se por mais mas como "
    "ao à seu sua são também está foi ser muito isso este esta você nos nas pelo pela já quando",
    "it": "il lo la i gli le di del della e è che un una per con non in sono si da al alla ma "
    "anche come più questo questa nel nella dei delle ha essere molto tutto se sul perché ci",
    "nl": "de het een en van is dat die niet op te in voor met zijn er maar ook als aan om bij "
    "naar wat wij we ik je hij ze dit deze wordt worden kan heeft hebben nog meer door uit geen "
    "dan wel zo",
    "sv": "och att det som en ett är i på för med av till den inte har de vi jag om men så var "
    "kan eller från också ska hur när vad detta denna sig man efter bara mycket alla här",
    "pl": "i w na z że się nie do to jest jak co ale o po od za tak przez dla czy ten ta są być "
    "jego już tylko które który która jednak także może gdy bardzo oraz ich tym był była",
    "tr": "ve bir bu da de için ile çok ne gibi daha olan olarak ama en mi o şu her kadar sonra "
    "var yok değil ben biz siz onlar nasıl neden ki veya ya ise olduğu bunu şey diye göre tüm",
}

MAX_WORDS = 300
MAX_CHARS = MAX_WORDS * 12  # the start of the text read for those words
MIN_EVIDENCE = 2.0  # weighted stopword hits needed before naming a language
MIN_LEAD = 1.5  # the winner must score this many times the runner-up

WORDS = LETTERS


Weights = dict[Hashable, tuple[tuple[str, int], ...]]
_UNIT = 2520  # divisible by 1..10: a word shared by k languages weighs _UNIT // k, exactly


def stopword_weights(key: Callable[[str], Hashable] = str) -> Weights:
    """For each stopword (as key(word), e.g. a spaCy string hash), its languages and weight
    (in 1/_UNIT: integers, so a score does not depend on the order words are added in)."""
    owners: dict[str, list[str]] = {}
    for lang, words in STOPWORDS.items():
        for word in dict.fromkeys(words.split()):
            owners.setdefault(word, []).append(lang)
    return {
        key(w): tuple((lang, _UNIT // len(langs)) for lang in langs) for w, langs in owners.items()
    }


_WEIGHTS = stopword_weights()
LANGUAGES = tuple(STOPWORDS)


def detect_language(text: str) -> str:
    """The ISO 639-1 code of text's language among LANGUAGES, or "" when unsure."""
    return detect_language_words(WORDS.findall(text[:MAX_CHARS].lower(), MAX_WORDS))


def detect_language_split(split: SplitText) -> str:
    """`detect_language(split.text)`, from the runs of letters and digits already split."""
    if len(split.text) > MAX_CHARS:  # a word may end at the cut
        return detect_language(split.text)
    return detect_language_words(split.letter_runs(MAX_WORDS))


def detect_language_words(words: Iterable[Hashable], weights: Weights | None = None) -> str:
    """Like detect_language, for lower-cased words already split (or their keys in weights)."""
    weights = _WEIGHTS if weights is None else weights
    # Only stopwords are counted: most words are not, and some texts have none.
    found = list(filter(weights.__contains__, islice(words, MAX_WORDS)))
    if not found:
        return ""
    scores: dict[str, int] = {}
    for word, times in Counter(found).items():
        for lang, weight in weights[word]:
            scores[lang] = scores.get(lang, 0) + weight * times
    if not scores:
        return ""
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    best, best_score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    if best_score < MIN_EVIDENCE * _UNIT or best_score < MIN_LEAD * runner_up:
        return ""
    return best
