"""Small text helpers shared by parsing, chunking and search: whitespace, spans and sentences."""

from __future__ import annotations

import re

# str.split() with no argument splits on every Unicode whitespace character, U+00A0 included,
# which is what "collapse whitespace" has to mean for these transcripts.


def collapse_whitespace(text: str) -> str:
    """Return ``text`` with every whitespace run turned into one space and the ends stripped."""
    return " ".join(text.split())


# Strike-out tags: the transcripts print a correction as "<s>director</s> [Administrator]".
STRIKE_TAG = re.compile(r"</?s>")


def without_strike_tags(text: str) -> str:
    """``text`` with the strike-out tags taken out, the words they mark kept."""
    return STRIKE_TAG.sub("", text)


# Code points a typed question or filter never holds: lone surrogates (not text at all: they cannot
# be written as UTF-8) and control characters other than tab and line breaks.
_UNTYPABLE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def untypable(text: str) -> str | None:
    """The first code point of ``text`` no one types (named as U+XXXX, with its position), or None."""
    found = _UNTYPABLE.search(text)
    if found is None:
        return None
    kind = "a lone surrogate" if 0xD800 <= ord(found.group()) <= 0xDFFF else "a control character"
    return f"U+{ord(found.group()):04X} ({kind}) at character {found.start() + 1}"


def trim_span(raw: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` so that it neither starts nor ends with whitespace."""
    # A byte-order mark at the start of a file is invisible and no part of any passage.
    while start < end and (raw[start].isspace() or raw[start] == "\ufeff"):
        start += 1
    while end > start and raw[end - 1].isspace():
        end -= 1
    return start, end


def word_count(text: str) -> int:
    return len(text.split())


# Abbreviations after which a full stop does not end a sentence. Lower-cased, without the dot.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt gen col lt sgt capt cmdr adm gov sen rep amb pres sec
    no nos vol art fig dept est approx inc ltd co corp jan feb mar apr jun jul aug sep sept
    oct nov dec vs etc e.g i.e cf al p.m a.m u.s u.k u.n e.u d.c""".split()
)
# Of those, the ones that are also everyday sentence-final words ("The answer is no.", "state of
# the art.", "1 P.M. EST.") count as abbreviations only when a number follows: "No. 5", "Art. 5".
_ABBREVIATIONS_BEFORE_NUMBERS = frozenset({"no", "nos", "art", "fig", "vol", "est"})
_NUMBER_FOLLOWS = re.compile(r"\s*\d")

# A sentence ends at . ! or ? (optionally followed by closing quotes or brackets), then whitespace,
# then something that can open a sentence.
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")


def _ends_with_abbreviation(text: str, dot_at: int) -> bool:
    """Whether the full stop at ``dot_at`` belongs to an abbreviation or an initial."""
    word_start = dot_at
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"'\u201c":
        word_start -= 1
    word = text[word_start:dot_at].lower()
    if not word:
        return False
    if word in _ABBREVIATIONS_BEFORE_NUMBERS:
        return bool(_NUMBER_FOLLOWS.match(text, dot_at + 1))
    if word in _ABBREVIATIONS:
        return True
    # Initials and dotted acronyms: "S." in "James S. Brady", "U.S." and "P.R.C.".
    if len(word) == 1 and word.isalpha():
        return True
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def sentence_spans(raw: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split ``raw[start:end]`` into sentences, returned as trimmed ``(start, end)`` offsets into ``raw``.

    The rule is deliberately simple and offset-exact: a sentence ends at terminal punctuation
    followed by whitespace and a capital letter, digit or opening quote, unless the word before
    the full stop is a known abbreviation or an initial. Blank lines always end a sentence.
    """
    if end is None:
        end = len(raw)
    spans: list[tuple[int, int]] = []
    # Paragraph breaks are hard boundaries, whatever the punctuation says. A blank line may hold
    # any whitespace but a newline: spaces, U+00A0, U+2003, or the \r of a CRLF file.
    for block in re.finditer(r"\S(?:.|\n(?![^\S\n]*\n))*", raw[start:end]):
        block_start = start + block.start()
        text = block.group()
        cursor = 0
        for match in _SENTENCE_END.finditer(text):
            last_char = match.start()
            if text[last_char] == "." and match.end() - match.start() == 1 and _ends_with_abbreviation(text, last_char):
                continue
            spans.append(trim_span(raw, block_start + cursor, block_start + match.end()))
            cursor = match.end()
        if cursor < len(text):
            spans.append(trim_span(raw, block_start + cursor, block_start + len(text)))
    return [span for span in spans if span[0] < span[1]]
