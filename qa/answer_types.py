"""Answer types: what kind of words a question asks for, and whether a sentence has such words."""

from __future__ import annotations

import re
from functools import lru_cache

# The kinds a question can ask for. ``None``: the question asks for an explanation, a policy or
# a name of no one kind ("what", "why", "which measures"), and no pattern can tell.
KINDS = ("number", "duration", "date", "person", "place")

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan\.|Feb\.|Mar\.|Apr\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
)
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
    r"|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
    r"|hundreds?|thousands?|millions?|billions?|trillions?|dozens?|half|a third|a quarter|double|triple"
    r"|twice|percent|several|a few|a couple of|a number of)"
)
_UNIT_OF_TIME = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|century)"

# Questions: the first pattern that matches decides (duration before number: "how many years").
_QUESTION_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("duration", re.compile(
        rf"\bhow long\b|\bhow many {_UNIT_OF_TIME}\b|\bfor how (?:long|many)\b|\bwhat (?:length|duration)\b"
        rf"|\bhow much time\b", re.I)),
    ("date", re.compile(
        r"\bwhen\b|\bwhat (?:date|day|year|month|time)\b|\bwhich (?:date|day|year|month)\b|\bby when\b"
        r"|\bon what (?:date|day)\b|\bin what (?:year|month)\b|\bhow soon\b", re.I)),
    ("number", re.compile(
        r"\bhow (?:many|much|large|big|high|fast|far|often)\b|\bwhat (?:percentage|share|proportion|number"
        r"|amount|figure|value|sum|rate|level|total|size|scale|price|cost)\b|\bby how much\b"
        r"|\bwhat (?:was|is|were|are) the (?:total|number|amount|value|figure|size|rate)\b", re.I)),
    ("person", re.compile(
        r"^(?:\W*)who\b|\bwho (?:is|was|were|are|will|would|did|does|led|leads|spoke|said|met|called|"
        r"signed|chaired|heads|headed|represented)\b|\bwhom\b|\bwhose\b|\bwhich (?:\w+ )?(?:official|person|leader|"
        r"minister|senator|secretary|ambassador|envoy|adviser|advisor|spokesperson|general|president|"
        r"member|officials|leaders|people|individuals)\b|\bwhat (?:official|person|title|position|role)\b"
        r"|\bwho\b", re.I)),
    ("place", re.compile(
        r"\bwhere\b|\bwhich (?:\w+ )?(?:country|countries|city|cities|state|states|place|port|region|island|nation|"
        r"nations|location|venue|capital|province)\b|\bwhat (?:country|city|place|location|venue|region|"
        r"state|capital)\b|\bin what (?:country|city|place)\b", re.I)),
)

# Sentences: what each kind looks like in running text.
_SENTENCE_HAS: dict[str, re.Pattern[str]] = {
    "number": re.compile(rf"\d|\b{_NUMBER_WORD}\b|\$|%", re.I),
    "duration": re.compile(
        rf"\b(?:\d[\d,.]*|{_NUMBER_WORD}|a|an|one|a couple of|several|few|many|the past|the last|the next)"
        rf"[\s-]+(?:\w+[\s-]+)?{_UNIT_OF_TIME}\b|\b(?:hour|day|week|month|year)-long\b|\bovernight\b", re.I),
    "date": re.compile(
        rf"\b{_MONTH}(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?\b|\b{_WEEKDAY}\b|\b(?:19|20)\d\d\b|\b(?:today|tomorrow|yesterday|tonight)\b"
        r"|\b(?:last|next|this|later this|earlier this|early next|end of the) (?:week|month|year|spring|summer|"
        r"fall|autumn|winter|quarter)\b|\b\d{1,2}(?::\d\d)? ?(?:a\.m\.|p\.m\.)|\bsince\b", re.I),
    "person": re.compile(
        r"\b(?:President|Secretary|Minister|Premier|Ambassador|Director|Senator|Congressman|Congresswoman|"
        r"Governor|General|Admiral|Chancellor|Prime Minister|Vice President|Chairman|Speaker|Leader|Envoy|"
        r"Mr\.|Ms\.|Mrs\.|Dr\.|King|Queen|Prince|Pope)\s+[A-Z][a-z]"
        r"|\b[A-Z][a-z]+\s+(?:[A-Z]\.\s+)?[A-Z][a-z]{2,}\b"),
    "place": re.compile(
        r"\b(?:in|at|to|from|into|near|across|throughout|visit|visiting|visited)\s+(?:the\s+)?[A-Z][a-z]+"),
}


# Words as the repeat check compares them: "$40", "1.02", "17th", "November".
_WORD = re.compile(r"[\w$%](?:[\w$%.,:'’-]*[\w$%])?")
_WORD_CHAR = re.compile(r"[\w$%.,'’-]")


def expected_kind(question: str) -> str | None:
    """The kind of answer a question asks for, or None when no pattern can tell."""
    for kind, pattern in _QUESTION_KINDS:
        if pattern.search(question):
            return kind
    return None


@lru_cache(maxsize=64)
def _asked_words(question: str) -> frozenset[str]:
    """The question's words as the repeat check compares them (one question, thousands of checks)."""
    return frozenset(_WORD.findall(question.casefold()))


def kind_spans(text: str, kind: str | None, question: str = "") -> list[tuple[int, int]]:
    """Where ``text`` holds words of the given kind that answer, not repeat, the question:

    - words the question itself holds do not count ("in November 2022" does not answer "On what
      date in November 2022...");
    - a number that is part of a date or a time of day is not a count or an amount ("June 17th"
      and "8:30 a.m." do not answer "how many participants").
    """
    if kind is None:
        return []
    asked = _asked_words(question)
    dates = [m.span() for m in _SENTENCE_HAS["date"].finditer(text)] if kind == "number" else []
    spans = []
    for match in _SENTENCE_HAS[kind].finditer(text):
        start, end = match.span()
        while start > 0 and _WORD_CHAR.match(text[start - 1]):
            start -= 1
        while end < len(text) and _WORD_CHAR.match(text[end]):
            end += 1
        words = _WORD.findall(text[start:end].casefold())
        if words and all(word in asked for word in words):
            continue
        if any(a <= match.start() < b for a, b in dates):
            continue
        spans.append(match.span())
    return spans


def kinds_present(text: str) -> int:
    """Which kinds' words ``text`` may hold, as bits in KINDS order: for a kind whose bit is not set,
    ``kind_spans(text, kind, question)`` is empty whatever the question (the index stores this for
    every sentence, so that a question skips the patterns a sentence cannot match)."""
    return sum(1 << number for number, kind in enumerate(KINDS) if _SENTENCE_HAS[kind].search(text))


def may_hold(kinds: int, kind: str) -> bool:
    """Whether a ``kinds_present`` mask leaves room for words of ``kind``."""
    return bool(kinds >> KINDS.index(kind) & 1)


def has_kind(text: str, kind: str | None, question: str = "") -> bool:
    """Whether ``text`` holds words of the given kind that the question does not already hold
    (False for ``None``)."""
    return bool(kind_spans(text, kind, question))


def kind_near(text: str, kind: str | None, topic: frozenset[str], reach: int = 40, question: str = "",
              spans: list[tuple[int, int]] | None = None) -> bool:
    """Whether words of the kind stand within ``reach`` characters of one of the ``topic`` words
    (stemmed, as ``qa.lexical.tokenize`` gives them): "73 specific support measures" for "how many
    support measures", rather than any number anywhere in the sentence. ``spans``: the text's
    ``kind_spans`` when the caller has them already."""
    if kind is None or not topic:
        return False
    from qa.lexical import tokenize

    for start, end in kind_spans(text, kind, question) if spans is None else spans:
        around = text[max(0, start - reach) : end + reach]
        if topic.intersection(tokenize(around)):
            return True
    return False
