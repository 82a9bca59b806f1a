"""Search: a question in, ranked passages out, each with a citation, highlights and a verdict."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date

from qa import answering
from qa.index import Index
from qa.lexical import tokenize
from qa.ranking import Filters
from qa.text import collapse_whitespace


class QuestionError(ValueError):
    """A question or parameter the search cannot take (empty, too long, k or a filter out of range)."""

    def __init__(self, message: str, field: str = "question") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Citation:
    """Where a passage stands: the document, its metadata, the speaker, and raw-file offsets."""

    doc_id: str
    path: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    speaker: str | None
    turn: int
    start: int
    end: int


@dataclass(frozen=True)
class Highlight:
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    rank: int
    score: float
    text: str
    citation: Citation
    # The question this passage replies to, shortened, when it is an answer.
    in_reply_to: str | None = None
    highlights: tuple[Highlight, ...] = ()


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: Citation


@dataclass(frozen=True)
class Answer:
    question: str
    passages: tuple[Passage, ...]
    took_ms: float
    answered: bool = True
    reason: str | None = None
    answer: AnswerSentence | None = None
    filters: Filters = field(default_factory=Filters)


def validate(question: str, k: int, max_chars: int = 1000, max_k: int = 50) -> str:
    """The question stripped of surrounding whitespace, or a QuestionError saying what is wrong."""
    if not isinstance(question, str):
        raise QuestionError("question must be a string")
    stripped = question.strip()
    if not stripped:
        raise QuestionError("question must not be empty")
    if len(question) > max_chars:
        raise QuestionError(f"question is {len(question)} characters long; the limit is {max_chars}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= max_k:
        raise QuestionError(f"k must be a whole number from 1 to {max_k}", "k")
    return stripped


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_filters(index: Index, filters: Filters) -> Filters:
    """Filters with the speaker spelled as in the index, or a QuestionError naming the bad value."""
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
    return Filters(speaker or None, filters.date_from or None, filters.date_to or None, filters.doc_id or None)


class Searcher:
    """Answers questions from one loaded index with one encoder."""

    def __init__(self, index: Index, encoder: object, max_chars: int = 1000, max_k: int = 50) -> None:
        self.index = index
        self.encoder = encoder
        self.max_chars = max_chars
        self.max_k = max_k

    def ask(self, question: str, k: int = 5, filters: Filters | None = None) -> Answer:
        began = time.perf_counter()
        question = validate(question, k, self.max_chars, self.max_k)
        filters = check_filters(self.index, filters or Filters())
        query_vector = self.encoder.encode([question])[0]
        ranking = self.index.ranker.rank(question, query_vector, k, filters)
        query_idf = self.index.lexical["windows"].idf(tokenize(question))
        passages = tuple(
            self.passage(ranked.row, ranked.score, rank, ranked.window, query_idf)
            for rank, ranked in enumerate(ranking.passages, start=1)
        )
        if not passages:
            verdict = answering.Verdict(False, "No passage matches these filters.", 0.0, 0.0)
            sentence = None
        else:
            top = ranking.passages[0]
            raw = self.index.documents[self.index.chunks[top.row].doc_id].raw
            window = self.index.window_span(top.window)
            verdict = answering.judge(top.cosine, answering.coverage(raw, window, query_idf))
            start, end = answering.best_sentence(raw, window, query_idf)
            sentence = AnswerSentence(
                collapse_whitespace(raw[start:end]), self.citation(top.row, start, end)
            )
        return Answer(
            question=question,
            passages=passages,
            took_ms=round((time.perf_counter() - began) * 1000, 2),
            answered=verdict.answered,
            reason=verdict.reason,
            answer=sentence if verdict.answered else None,
            filters=filters,
        )

    def citation(self, row: int, start: int | None = None, end: int | None = None) -> Citation:
        chunk = self.index.chunks[row]
        document = self.index.documents[chunk.doc_id]
        return Citation(
            doc_id=document.doc_id,
            path=document.path,
            title=document.title,
            date=document.date,
            source=document.source,
            url=document.url,
            speaker=chunk.speaker,
            turn=chunk.turn,
            start=chunk.start if start is None else start,
            end=chunk.end if end is None else end,
        )

    def passage(self, row: int, score: float, rank: int, window: int, query_idf: dict[str, float]) -> Passage:
        chunk = self.index.chunks[row]
        raw = self.index.documents[chunk.doc_id].raw
        marks = answering.highlights(raw, self.index.window_span(window), query_idf)
        # The text is recomputed from the stored raw file, so it is the cited slice by construction.
        return Passage(
            rank=rank,
            score=round(score, 4),
            text=collapse_whitespace(raw[chunk.start : chunk.end]),
            citation=self.citation(row),
            in_reply_to=chunk.question,
            highlights=tuple(Highlight(s, e) for s, e in marks),
        )
