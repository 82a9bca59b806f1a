"""Search: a question in, ranked passages out, each with a citation, highlights and a verdict."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from qa import answering
from qa.query import Query
from qa.ranking import Filters, Ranked, Ranker, Ranking
from qa.store import Store
from qa.text import collapse_whitespace


# Below this cosine the best passage matches the question only weakly; said in the reason.
WEAK_MATCH = 0.43


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
    confidence: float = 0.0  # 0..1: how likely the answer is right (calibrated by qa calibrate)


@dataclass(frozen=True)
class Answer:
    question: str
    passages: tuple[Passage, ...]
    took_ms: float
    answered: bool = True
    reason: str | None = None
    answer: AnswerSentence | None = None
    filters: Filters = field(default_factory=Filters)
    # The best answer found, shown or not (``answer`` is it when shown), and its confidence: for
    # evaluation and calibration.
    proposed: AnswerSentence | None = None
    confidence: float = 0.0


@dataclass(frozen=True)
class Evidence:
    """What the answer is chosen from: candidates of the best passages and question-level signals."""

    candidates: list[answering.Candidate]
    top_cosine: float
    score_margin: float
    window_coverage: float
    named_document: str | None  # the briefing whose title, date and speakers the question names best

    def signals(self) -> dict:
        return {"top_cosine": self.top_cosine, "score_margin": self.score_margin,
                "window_coverage": self.window_coverage, "named_document": self.named_document}


def default_answer_model() -> answering.AnswerModel:
    """The shipped answer model; the overlap rule when none has been fitted yet, or when the code's
    features changed since it was fitted (``qa calibrate`` fits it again)."""
    if answering.MODEL_FILE.exists():
        try:
            return answering.AnswerModel.load(answering.MODEL_FILE)
        except ValueError as error:
            logging.getLogger("qa.search").warning("%s; answering by the overlap rule until then", error)
    return answering.AnswerModel.by_overlap()


def _withheld_reason(confidence: float, threshold: float, ranking: Ranking) -> str:
    if ranking.passages and ranking.passages[0].cosine < WEAK_MATCH:
        return (
            "No passage clearly answers this question: the closest passages are listed, but they match "
            f"it only weakly (similarity {ranking.passages[0].cosine:.2f})."
        )
    return (
        f"No sentence answers this question with enough confidence ({confidence:.2f}, below "
        f"{threshold:.2f}): read the passages below, which may hold the answer."
    )


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


def check_filters(index: Store, filters: Filters) -> Filters:
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
    """Answers questions from one store (``index``: the embedded index or Milvus) with one encoder."""

    def __init__(
        self, index: Store, encoder: object, max_chars: int = 1000, max_k: int = 50, ranker: Ranker | None = None,
        answer_model: answering.AnswerModel | None = None,
    ) -> None:
        self.index = index
        self.ranker = ranker or Ranker(index)
        self.encoder = encoder
        self.max_chars = max_chars
        self.max_k = max_k
        self.answer_model = answer_model or default_answer_model()

    def query(self, question: str) -> Query:
        """The question analysed once, for the ranking, the answer and the highlights."""
        return Query.of(question, self.encoder.encode([question])[0], self.index.idf)

    def ask(self, question: str, k: int = 5, filters: Filters | None = None) -> Answer:
        began = time.perf_counter()
        question = validate(question, k, self.max_chars, self.max_k)
        filters = check_filters(self.index, filters or Filters())
        query = self.query(question)
        ranking = self.ranker.rank(query, max(k, answering.ANSWER_PASSAGES), filters)
        passages = tuple(
            self.passage(ranked.row, ranked.score, rank, ranked.window, query.idf)
            for rank, ranked in enumerate(ranking.passages[:k], start=1)
        )
        choice = self.choose_answer(query, ranking.passages)
        proposed = None
        if choice is None:
            answered, confidence = False, 0.0
            reason = "No passage matches these filters."
        else:
            candidate = choice.candidate
            raw = candidate.passage.raw
            proposed = AnswerSentence(
                collapse_whitespace(raw[candidate.start : candidate.end]),
                self.citation(candidate.passage.row, candidate.start, candidate.end),
                round(choice.confidence, 4),
            )
            confidence = choice.confidence
            answered = confidence >= self.answer_model.threshold
            reason = None if answered else _withheld_reason(confidence, self.answer_model.threshold, ranking)
        return Answer(
            question=question,
            passages=passages,
            took_ms=round((time.perf_counter() - began) * 1000, 2),
            answered=answered,
            reason=reason,
            answer=proposed if answered else None,
            filters=filters,
            proposed=proposed,
            confidence=round(confidence, 4),
        )

    def choose_answer(self, query: Query, ranked: list[Ranked]) -> answering.Choice | None:
        evidence = self.evidence(query, ranked)
        if evidence is None:
            return None
        return answering.choose(query, evidence.candidates, self.answer_model, **evidence.signals())

    def evidence(self, query: Query, ranked: list[Ranked]) -> Evidence | None:
        """The answer candidates of the best passages and the question-level signals on them."""
        views = self.passage_views(query, ranked[: answering.ANSWER_PASSAGES])
        if not views:
            return None
        top = views[0]
        named = next((view.doc_id for view, item in zip(views, ranked) if item.named), None)
        return Evidence(
            candidates=answering.candidates(query, views),
            top_cosine=ranked[0].cosine,
            score_margin=ranked[0].score - ranked[1].score if len(ranked) > 1 else 0.0,
            window_coverage=answering.coverage(top.raw, top.windows[top.best_window], query.idf),
            named_document=named,
        )

    def passage_views(self, query: Query, ranked: list[Ranked]) -> list[answering.PassageView]:
        """The best passages as the answer sees them: text, windows and each window's cosine."""
        views = []
        for rank, item in enumerate(ranked, start=1):
            chunk = self.index.chunks[item.row]
            numbers = self.index.chunk_windows(item.row)
            cosines = self.index.window_rows(numbers).vectors @ np.asarray(query.vector, dtype=np.float32)
            (occasion,) = self.index.profile_tokens(np.array([self.index.doc_number[chunk.doc_id]]))
            views.append(answering.PassageView(
                rank=rank, row=item.row, score=item.score, raw=self.index.documents[chunk.doc_id].raw,
                start=chunk.start, end=chunk.end,
                windows=tuple(self.index.window_span(int(n)) for n in numbers),
                window_cosines=tuple(float(c) for c in cosines),
                best_window=int(np.searchsorted(numbers, item.window)),
                occasion=occasion, doc_id=chunk.doc_id,
            ))
        return views

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
