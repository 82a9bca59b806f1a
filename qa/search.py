"""Search: a question in, ranked passages out, each with a citation into its source file."""

from __future__ import annotations

import time
from dataclasses import dataclass

from qa.index import Index
from qa.text import collapse_whitespace


class QuestionError(ValueError):
    """A question or parameter the search cannot take (empty, too long, k out of range)."""


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
class Passage:
    rank: int
    score: float
    text: str
    citation: Citation
    # The question this passage replies to, shortened, when it is an answer.
    in_reply_to: str | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    passages: tuple[Passage, ...]
    took_ms: float


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
        raise QuestionError(f"k must be a whole number from 1 to {max_k}")
    return stripped


class Searcher:
    """Answers questions from one loaded index with one encoder."""

    def __init__(self, index: Index, encoder: object, max_chars: int = 1000, max_k: int = 50) -> None:
        self.index = index
        self.encoder = encoder
        self.max_chars = max_chars
        self.max_k = max_k

    def ask(self, question: str, k: int = 5) -> Answer:
        began = time.perf_counter()
        question = validate(question, k, self.max_chars, self.max_k)
        query = self.encoder.encode([question])[0]
        passages = tuple(
            self.passage(row, score, rank)
            for rank, (row, score) in enumerate(self.index.search_vectors(query, k), start=1)
        )
        return Answer(question, passages, round((time.perf_counter() - began) * 1000, 2))

    def passage(self, row: int, score: float, rank: int) -> Passage:
        chunk = self.index.chunks[row]
        document = self.index.documents[chunk.doc_id]
        citation = Citation(
            doc_id=document.doc_id,
            path=document.path,
            title=document.title,
            date=document.date,
            source=document.source,
            url=document.url,
            speaker=chunk.speaker,
            turn=chunk.turn,
            start=chunk.start,
            end=chunk.end,
        )
        # The text is recomputed from the stored raw file, so it is the cited slice by construction.
        text = collapse_whitespace(document.raw[chunk.start : chunk.end])
        return Passage(rank=rank, score=round(score, 4), text=text, citation=citation, in_reply_to=chunk.question)
