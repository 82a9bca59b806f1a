"""What a question and its filters must be before a search, and the query syntax applied to the
filters: the checks every way in (the API, the pages, the command line) shares, each refusal a
QuestionError naming the field."""

from __future__ import annotations

import re
from datetime import date

from qa import syntax
from qa.query import Filters
from qa.settings import MAX_K, MAX_OFFSET, MAX_QUESTION_CHARS, ROLES, SORTS
from qa.stores.seam import Store, default_role
from qa.text import untypable


class QuestionError(ValueError):
    """A question or parameter the search cannot take (empty, too long, k or a filter out of range)."""

    def __init__(self, message: str, field: str = "question") -> None:
        super().__init__(message)
        self.field = field


def check_paging(sort: str, offset: int) -> None:
    if sort not in SORTS:
        raise QuestionError(f"sort must be one of {', '.join(SORTS)}, not {str(sort)[:40]!r}", "sort")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise QuestionError(f"offset must be a whole number from 0 to {MAX_OFFSET}", "offset")


def resolve_speaker(index: Store, value: str) -> tuple[tuple[str, ...], str | None]:
    """The speaker labels that ``speaker:value`` names: the label written (case ignored), or every label
    holding its words ("Kirby": "Mr. Kirby", "Mr Kirby" and the transcripts' "Ms. Kirby"), and a note
    when several or none do."""
    label = index.speaker_by_key.get(" ".join(value.split()).casefold())
    if label:
        return (label,), None
    words = set(syntax.normalise(value).split())
    named = tuple(s for s in index.speakers if words and words <= set(syntax.normalise(s).split()))
    if len(named) == 1:
        return named, None
    if named:
        shown = ", ".join(named[:8]) + (", ..." if len(named) > 8 else "")
        return named, (f"speaker:{value[:40]} counts the passages of {len(named)} speaker labels ({shown}); "
                       f"write one in quotes for one only, e.g. speaker:\"{named[0]}\"")
    return (), f"no speaker is called {value[:40]!r}: speaker:{value[:40]} was read as words"


def apply_syntax(index: Store, parsed: syntax.Parsed, filters: Filters) -> tuple[syntax.Parsed, Filters]:
    """The filters with what the query sets (its speaker wins; both date limits hold); an unknown speaker is read as words."""
    from dataclasses import replace

    speaker = filters.speaker
    notes = list(parsed.notes)
    if parsed.speaker:
        labels, note = resolve_speaker(index, parsed.speaker)
        if note:
            notes.append(note)
        if len(labels) == 1:
            speaker = labels[0]
        elif labels:
            # Several labels of one name: the match set takes them all (parsed.speakers), not the filter.
            speaker = None
            parsed = replace(parsed, speakers=labels)
        else:
            literal = f"speaker:{parsed.speaker}"
            parsed = replace(parsed, text=f"{parsed.text} {literal}".strip(), speaker=None)
    # Both date limits hold (a timeline bar's month within the query's after:/before:).
    low = max(d for d in (parsed.date_from, filters.date_from) if d) if parsed.date_from or filters.date_from else None
    high = min(d for d in (parsed.date_to, filters.date_to) if d) if parsed.date_to or filters.date_to else None
    # The query's role: wins over the request's; none asked for: the search's default.
    role = parsed.role or filters.role or default_role(exact=bool(parsed.phrases), speaker=bool(speaker or parsed.speakers))
    filters = Filters(speaker, low, high, filters.doc_id, role)
    return replace(parsed, notes=tuple(notes)), filters


def validate(question: str, k: int, max_chars: int = MAX_QUESTION_CHARS, max_k: int = MAX_K) -> str:
    """The question stripped of surrounding whitespace, or a QuestionError saying what is wrong."""
    if not isinstance(question, str):
        raise QuestionError("question must be a string")
    stripped = question.strip()
    if not stripped:
        raise QuestionError("question must not be empty")
    if len(question) > max_chars:
        raise QuestionError(f"question is {len(question)} characters long; the limit is {max_chars}")
    if (bad := untypable(question)) is not None:
        raise QuestionError(f"question holds {bad}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise QuestionError(f"k must be a whole number from 1 to {max_k}", "k")
    return stripped


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_filters(index: Store, filters: Filters) -> Filters:
    """Filters with the speaker spelled as in the index, or a QuestionError naming the bad value."""
    for name in ("speaker", "doc_id", "date_from", "date_to", "role"):
        value = getattr(filters, name)
        if isinstance(value, str) and (bad := untypable(value)) is not None:
            raise QuestionError(f"{name} holds {bad}", name)
    speaker = filters.speaker.strip() if filters.speaker else None
    if speaker:
        known = index.speaker_by_key
        if speaker.casefold() not in known:
            raise QuestionError(f"unknown speaker {speaker[:100]!r}; GET /api/speakers lists the speakers", "speaker")
        speaker = known[speaker.casefold()]
    for name in ("date_from", "date_to"):
        value = getattr(filters, name)
        if value:
            try:
                if not _ISO_DATE.fullmatch(value):
                    raise ValueError
                date.fromisoformat(value)
            except ValueError:
                raise QuestionError(f"{name} must be a date written YYYY-MM-DD, not {value[:40]!r}", name) from None
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise QuestionError(f"date_from {filters.date_from} is after date_to {filters.date_to}", "date_to")
    if filters.doc_id and filters.doc_id not in index.documents:
        raise QuestionError(f"unknown doc_id {filters.doc_id[:200]!r}", "doc_id")
    if filters.role and filters.role not in ROLES:
        raise QuestionError(f"role must be one of {', '.join(ROLES)}, not {filters.role[:40]!r}", "role")
    return Filters(speaker or None, filters.date_from or None, filters.date_to or None, filters.doc_id or None,
                   filters.role or None)
