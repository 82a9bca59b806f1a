"""The query syntax people already type into archive search: quoted phrases, exclusions, filters.

    "wolf warrior"             only passages holding these words in this order
    -word  -"a phrase"         drop passages holding the word or the phrase
    speaker:Kirby              the speaker filter (a speaker's label, or a name word of one label)
    speaker:"Mr. Kirby"
    after:2023-06-01           the date_from filter (inclusive; also after:2023 or after:2023-06)
    before:2024-01-01          the date_to filter (inclusive; before:2023 is up to 2023-12-31)
    role:questions             the reporters' questions only (role:answers: the replies; role:both)
    sort:newest  sort:oldest   list every match by date (sort:relevance: by relevance)

Phrases and excluded words are matched on *normalised* text: case folded, curly quotes made
straight, and everything that is not a letter or a digit (punctuation, line breaks, apostrophes)
taken as a word boundary, so ``"Xi’s  call"`` matches "XI'S\\ncall". Anything the parser does not
recognise is read literally as words: an unclosed quote, an unknown ``word:``, a date it cannot
read, a speaker it cannot tell. Parsing never fails.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date

from qa.settings import ROLES, SORTS

# Straight and typographic double quotes, all read as one quote character.
QUOTES = "\"\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"
_QUOTE_CLASS = "[" + re.escape(QUOTES) + "]"
_WORD = re.compile(r"[^\W_]+")
_OPERATOR = re.compile(r"(speaker|after|before|role|sort):", re.IGNORECASE)
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")

HINT = ('Try "exact phrase", -word, -"phrase", speaker:Kirby, after:2023-06-01, before:2024-01-01, '
        "role:questions, sort:newest.")


def normalise(text: str) -> str:
    """The words of ``text``, case folded, joined by single spaces (punctuation and line breaks are word breaks)."""
    return " ".join(_WORD.findall(text.casefold()))


@dataclass(frozen=True)
class Parsed:
    """A query read: the words to rank by, the phrases required and excluded, and the filters it sets."""

    text: str  # the words left for ranking, whitespace collapsed ("" when the query is only syntax)
    phrases: tuple[str, ...] = ()  # normalised phrases every match must hold
    excluded: tuple[str, ...] = ()  # normalised words and phrases no match may hold
    speaker: str | None = None  # as written after speaker: (resolved against the index by the searcher)
    speakers: tuple[str, ...] = ()  # the labels it resolved to, when several (set by the searcher)
    date_from: str | None = None  # ISO, inclusive
    date_to: str | None = None
    role: str | None = None  # role: answers, questions or both
    sort: str | None = None  # sort: relevance, newest or oldest
    notes: tuple[str, ...] = field(default=())  # what was read literally, and why

    @property
    def has_syntax(self) -> bool:
        return bool(self.phrases or self.excluded or self.speaker or self.speakers or self.date_from or self.date_to
                    or self.role or self.sort)

    @property
    def quotes_only(self) -> bool:
        """Whether the only syntax is quoted phrases: a question naming something in quotes ("the
        "Together for the Benefit of Enterprises" initiative") rather than a search."""
        return bool(self.phrases) and not (self.excluded or self.speaker or self.date_from or self.date_to
                                           or self.role or self.sort)

    @property
    def asks(self) -> bool:
        """Whether there is a question to answer: words outside the syntax. A search for phrases or
        by filters alone asks nothing (it lists, counts and charts the matches)."""
        return bool(self.text.strip())

    @property
    def ranking_text(self) -> str:
        """What relevance is measured against: the free words, or the phrases when there are none."""
        return self.text or " ".join(self.phrases)


def _iso(value: str, end: bool) -> str | None:
    """``2023``, ``2023-06`` or ``2023-06-01`` as an ISO date (the period's first day, or its last with ``end``)."""
    match = _DATE.fullmatch(value)
    if not match:
        return None
    year, month, day = match.group(1), match.group(2), match.group(3)
    try:
        if day:
            return date(int(year), int(month), int(day)).isoformat()
        if month:
            m = int(month)
            last = calendar.monthrange(int(year), m)[1] if 1 <= m <= 12 else 0
            return date(int(year), m, last if end else 1).isoformat()
        return date(int(year), 12 if end else 1, 31 if end else 1).isoformat()
    except ValueError:
        return None


def _take_phrase(query: str, at: int, into: list[str]) -> int | None:
    """Add the phrase quoted at ``at`` to ``into`` (when it has words); the position after it, None if unclosed."""
    quoted = _quoted(query, at)
    if quoted is None:
        return None
    phrase = normalise(quoted[0])
    if phrase:
        into.append(phrase)
    return quoted[1]


def _quoted(query: str, at: int) -> tuple[str, int] | None:
    """The text between the quote at ``at`` and its closing quote, and the position after it (None: unclosed)."""
    for position in range(at + 1, len(query)):
        if query[position] in QUOTES:
            return query[at + 1 : position], position + 1
    return None


def parse(query: str) -> Parsed:
    """Read ``query``; what is not syntax stays as words, in order."""
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    notes: list[str] = []
    values: dict[str, str] = {}
    position, length = 0, len(query)
    while position < length:
        char = query[position]
        if char.isspace():
            position += 1
            continue
        # A term starts here: a quoted phrase, an exclusion, an operator, or a plain word.
        if char in QUOTES:
            after = _take_phrase(query, position, phrases)
            if after is not None:
                position = after
                continue
            notes.append("an unclosed quote was read as ordinary words")
            position += 1
            continue
        if char == "-" and position + 1 < length and not query[position + 1].isspace():
            following = query[position + 1]
            if following in QUOTES:
                after = _take_phrase(query, position + 1, excluded)
                if after is not None:
                    position = after
                    continue
            else:
                end = _term_end(query, position + 1)
                word = normalise(query[position + 1 : end])
                if word and _WORD.match(query, position + 1):
                    excluded.append(word)
                    position = end
                    continue
        operator = _OPERATOR.match(query, position)
        if operator and operator.end() < length and not query[operator.end()].isspace():
            name = operator.group(1).lower()
            start = operator.end()
            if query[start] in QUOTES and (quoted := _quoted(query, start)) is not None:
                value, end = " ".join(quoted[0].split()), quoted[1]
            else:
                end = _term_end(query, start)
                value = query[start:end]
            if name == "speaker" and value:
                values["speaker"] = value
                position = end
                continue
            if name in ("role", "sort"):
                allowed = ROLES if name == "role" else SORTS
                if value.casefold() in allowed:
                    values[name] = value.casefold()
                    position = end
                    continue
                notes.append(f"{name}:{value[:40]} is not one of {', '.join(allowed)}: read as words")
            if name in ("after", "before"):
                iso = _iso(value, end=name == "before")
                if iso is not None:
                    values["date_from" if name == "after" else "date_to"] = iso
                    position = end
                    continue
                notes.append(f"{name}:{value[:40]} is not a date (YYYY, YYYY-MM or YYYY-MM-DD): read as words")
        end = _term_end(query, position)
        words.append(query[position:end])
        position = end
    return Parsed(
        text=" ".join(words), phrases=tuple(dict.fromkeys(phrases)), excluded=tuple(dict.fromkeys(excluded)),
        speaker=values.get("speaker"), date_from=values.get("date_from"), date_to=values.get("date_to"),
        role=values.get("role"), sort=values.get("sort"), notes=tuple(dict.fromkeys(notes)),
    )


_SORT_TERM = re.compile(r"(?<!\S)sort:(?:" + "|".join(SORTS) + r")(?!\S)", re.IGNORECASE)


def without_sort(query: str) -> str:
    """``query`` without the sort: terms it holds (for links that set the sort themselves)."""
    return " ".join(_SORT_TERM.sub(" ", query).split())


def _term_end(query: str, position: int) -> int:
    """Where the whitespace-delimited term at ``position`` ends."""
    end = position
    while end < len(query) and not query[end].isspace():
        end += 1
    return end


def contains(normalised_text: str, normalised_phrase: str) -> bool:
    """Whether a normalised text holds a normalised phrase as whole words."""
    return f" {normalised_phrase} " in f" {normalised_text} "
