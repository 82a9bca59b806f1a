"""Search: a question in, ranked passages out, each with a citation, highlights and a verdict."""

from __future__ import annotations

import copy
import logging
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING
from dataclasses import replace

import numpy as np

from qa import answering, crossencoder, syntax
from qa.answering import Evidence
from qa.chunking import reply_preview
from qa.matching import Archive, Match, Timeline, match_rows, phrase_marks
from qa.query import Filters, Query
from qa.ranking import Ranked, Ranker, Weights
from qa.results import Answer, AnswerSentence, Citation, Highlight, Passage
from qa.settings import MAX_K, MAX_QUESTION_CHARS
from qa.stores.seam import Store
from qa.text import collapse_whitespace
from qa.validation import apply_syntax, check_filters, check_paging, validate

if TYPE_CHECKING:
    from qa.embedding import TextEncoder


def default_answer_model(encoder_model: str | None = None) -> answering.AnswerModel:
    """The shipped answer model (with its fusion weights) fitted for the index's encoder; the
    default encoder's, with a warning, when that encoder has none; the overlap rule when none has
    been fitted yet, or when the code's features changed since it was fitted (``qa calibrate``)."""
    path = answering.model_file_for(encoder_model)
    if not path.exists() and path != answering.MODEL_FILE:
        _warn_once(f"no answer model or fusion weights were fitted for the encoder {encoder_model!r} "
                   f"({path.name}); using those fitted for the default encoder ('make calibrate' fits them)")
        path = answering.MODEL_FILE
    if path.exists():
        try:
            model = answering.AnswerModel.load(path)
        except ValueError as error:
            _warn_once(f"{error}; answering by the overlap rule until then")
        else:
            if model.cross is None:
                return model
            shipped = crossencoder.default()
            if shipped is not None and shipped.sha256 == model.cross.model:
                return model
            _warn_once(f"{path.name} was fitted with another cross-encoder than {crossencoder.MODEL_DIR} holds "
                       "('make train' trains and fits both); answering by the overlap rule until then")
    return answering.AnswerModel.by_overlap()


@lru_cache(maxsize=64)
def _warn_once(message: str) -> None:
    logging.getLogger("qa.search").warning(message)


def _withheld_reason(confidence: float, threshold: float, ranked: list[Ranked], weak_match: float) -> str:
    if ranked and ranked[0].cosine < weak_match:
        return (
            "No passage clearly answers this question: the closest passages are listed, but they match "
            f"it only weakly (similarity {ranked[0].cosine:.2f})."
        )
    return (
        f"No sentence answers this question with enough confidence ({confidence:.2f}, below "
        f"{threshold:.2f}): read the passages below, which may hold the answer."
    )


class Searcher:
    """Answers questions from one store (``index``: the embedded index or Milvus) with one encoder."""

    def __init__(
        self, index: Store, encoder: TextEncoder, max_chars: int = MAX_QUESTION_CHARS, max_k: int = MAX_K, ranker: Ranker | None = None,
        answer_model: answering.AnswerModel | None = None,
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.max_chars = max_chars
        self.max_k = max_k
        self.answer_model = answer_model or default_answer_model(getattr(index, "model", None))
        # Ranked with the fusion weights fitted with the answer model (the defaults when it has none),
        # unless a ranker is handed in.
        weights = self.answer_model.weights
        self.ranker = ranker or Ranker(index, Weights(**weights) if weights else Weights())
        # The relevance floor of a match by meaning: a cosine of this encoder's, fitted with the answer model.
        self.match_floor = self.answer_model.floors.match_floor
        self._archive: Archive | None = None
        self._archive_lock = threading.Lock()

    def ranked_by(self, ranker: Ranker) -> Searcher:
        """This searcher with another ranker (the same store, encoder, answer model and archive):
        how evaluation and fitting try other weights or fusions without changing a live searcher."""
        other = copy.copy(self)
        other.ranker = ranker
        return other

    def query(self, question: str) -> Query:
        """The question analysed once, for the ranking, the answer and the highlights."""
        return Query.of(question, self.encoder.encode_queries([question])[0], self.index.idf)

    def archive(self) -> Archive:
        """The store's passages for the whole-archive scans, read once (the first scan waits for it)."""
        if self._archive is None:
            with self._archive_lock:
                if self._archive is None:
                    self._archive = Archive(self.index.passage_table(), self.index.doc_number)
        return self._archive

    def ask(self, question: str, k: int = 5, filters: Filters | None = None, sort: str = "relevance",
            offset: int = 0) -> Answer:
        began = time.perf_counter()
        question = validate(question, k, self.max_chars, self.max_k)
        check_paging(sort, offset)
        parsed = syntax.parse(question)
        if parsed.sort and sort == "relevance":
            sort = parsed.sort  # sort:newest typed in the question; a sort asked for otherwise wins
        if parsed.has_syntax or sort != "relevance" or (filters is not None and filters.role == "both"):
            # (With both roles the answer is drawn from the replies among the matches: search does it.)
            return self.search(question, parsed, k, filters or Filters(), sort, offset, began)
        filters = check_filters(self.index, filters or Filters())
        query = self.query(question)
        # One passage more than the page, to tell whether there is a next page.
        ranking = self.ranker.rank(query, max(offset + k + 1, answering.ANSWER_PASSAGES), filters)
        ranked, evidence = self.weigh(query, list(ranking.passages))
        answer = self.answer(question, query, ranked, filters, began, evidence)
        # The score shown is the fused relevance; the best three may stand in the cross-encoder's
        # order instead of it (weigh), every one of them above the rest.
        fused = {item.row: item.score for item in ranking.passages}
        passages = tuple(
            self.passage(item.row, fused[item.row], rank, item.window, query.idf, shown=answer.answer)
            for rank, item in enumerate(ranked[offset : offset + k], start=offset + 1)
        )
        next_offset = offset + k if len(ranked) > offset + k else None
        return replace(answer, passages=passages, offset=offset, next_offset=next_offset, parsed=parsed)

    def matches(self, question: str, filters: Filters | None = None, parsed: syntax.Parsed | None = None,
                ) -> tuple[syntax.Parsed, Filters, Query | None, np.ndarray, np.ndarray | None]:
        """The query read, its filters, its ranking query, and the rows of every passage it matches
        across the archive (row order) with each row's best cosine when matched by meaning.
        ``parsed``: the question already validated and read (by ``ask``)."""
        if parsed is None:
            parsed = syntax.parse(validate(question, 1, self.max_chars, self.max_k))
        parsed, filters = apply_syntax(self.index, parsed, filters or Filters())
        filters = check_filters(self.index, filters)
        text = parsed.ranking_text
        query = self.query(text) if text.strip() else None
        rows, best = match_rows(self.archive(), self.index, parsed, filters,
                                query.vector if query is not None else None, self.match_floor)
        return parsed, filters, query, rows, best

    def timeline(self, question: str, filters: Filters | None = None) -> tuple[syntax.Parsed, Filters, Timeline]:
        parsed, filters, _, rows, _ = self.matches(question, filters)
        return parsed, filters, self.archive().timeline(rows, filters, self.index.dates)

    def ordered_matches(self, question: str, filters: Filters | None, sort: str,
                        parsed: syntax.Parsed | None = None) -> tuple:
        """Every match in the order asked: (parsed, filters, query, matches, ranked), ``matches`` a
        list of Match and ``ranked`` the same passages as the ranker's Ranked (relevance; empty in a
        date order), which the answer reads."""
        parsed, filters, query, rows, best = self.matches(question, filters, parsed)
        archive = self.archive()
        if sort == "relevance" and query is not None:
            ranked = self.ranker.rank_windows(query, archive.windows_of(rows))
            return parsed, filters, query, [Match(r.row, r.score, r.window) for r in ranked], ranked
        ordered = archive.chronological(rows, newest=sort != "oldest")
        first_window = archive.table.first_window
        return parsed, filters, query, [
            Match(int(row), round(float(best[row]), 4) if best is not None else 0.0, int(first_window[row]))
            for row in ordered.tolist()], []

    def search(self, question: str, parsed: syntax.Parsed, k: int, filters: Filters, sort: str, offset: int,
               began: float) -> Answer:
        """A query with syntax or a date order: the page ``offset:offset+k`` of every passage it matches."""
        parsed, filters, query, matched, ranked = self.ordered_matches(question, filters, sort, parsed)
        total = len(matched)
        idf = query.idf if query is not None else {}
        passages = [self.passage(item.row, item.score, rank, item.window, idf, parsed.phrases)
                    for rank, item in enumerate(matched[offset : offset + k], start=offset + 1)]
        next_offset = offset + k if total > offset + k else None
        if sort == "relevance" and query is not None and parsed.asks:
            # The answer is an official's reply (a reporter's question only when questions alone are asked for).
            answering_filters = filters if filters.role == "questions" else replace(filters, role="answers")
            is_question = self.archive().is_question
            replies = ranked if filters.role == "questions" else [item for item in ranked if not is_question[item.row]]
            answer = self.quoted_question_answer(question, parsed, answering_filters, replies, began)
            if answer is None:
                answer = self.answer(question, query, replies, filters, began)
            if not total:
                answer = replace(answer, reason="No passage matches this query.")
        else:
            reason = ("No passage matches this query." if not total else
                      f"Listed by date ({sort} first): no answer is picked in a date order."
                      if sort != "relevance" else "Listed by date: the query has no words to rank by."
                      if query is None else "A search for phrases or filters alone asks no question: "
                      "every match is listed, counted and charted.")
            answer = Answer(question=question, passages=(), took_ms=0.0, answered=False, reason=reason, filters=filters)
        return replace(answer, passages=tuple(passages), took_ms=round((time.perf_counter() - began) * 1000, 2),
                       total=total, offset=offset, next_offset=next_offset, sort=sort, parsed=parsed)

    def quoted_question_answer(self, question: str, parsed: syntax.Parsed, filters: Filters,
                               matched: list[Ranked], began: float) -> Answer | None:
        """A question whose only syntax is quoted phrases (``Parsed.quotes_only``) is answered from the
        question as written, ranked over the archive, when its best passage holds the phrases (is
        among the matches); None otherwise (the answer then comes from the matches). Ranking only
        the matching passages, by the words outside the quotes, changes the evidence the answer
        model was fitted on (the margin to the next passage, the question's own words)."""
        if not parsed.quotes_only or not matched:
            return None
        plain = self.query(question)  # the question as written, as it was asked before the syntax
        ranked = self.ranker.rank(plain, answering.ANSWER_PASSAGES, filters).passages
        rows = {item.row for item in matched}
        if not ranked or ranked[0].row not in rows:
            return None
        return self.answer(question, plain, ranked, filters, began)

    def weigh(self, query: Query, ranked: list[Ranked]) -> tuple[list[Ranked], Evidence | None]:
        """The answer's evidence from the best passages, and the ranking with those passages put in
        the order of their fused score plus the cross-encoder's verdict on their best sentence
        (``rerank`` times its logit, relative to the best one's), when the answer model uses it."""
        evidence = self.evidence(query, ranked)
        cross = self.answer_model.cross
        if evidence is None or cross is None:
            return ranked, evidence
        return answering.reorder(ranked, evidence, cross.rerank), evidence

    def answer(self, question: str, query: Query, ranked: list[Ranked], filters: Filters, began: float,
               evidence: Evidence | None = None) -> Answer:
        """The answer chosen from the best passages (``ranked``, after ``weigh`` when ``evidence`` is
        given); passages are filled in by the caller."""
        if evidence is None:
            ranked, evidence = self.weigh(query, ranked)
        rank_of = {item.row: rank for rank, item in enumerate(ranked[: answering.ANSWER_PASSAGES], start=1)}
        choice = answering.choose(query, evidence, self.answer_model, rank_of) if evidence is not None else None
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
            reason = None if answered else _withheld_reason(confidence, self.answer_model.threshold, ranked,
                                                            self.answer_model.floors.weak_match)
        return Answer(
            question=question,
            passages=(),
            took_ms=round((time.perf_counter() - began) * 1000, 2),
            answered=answered,
            reason=reason,
            answer=proposed if answered else None,
            filters=filters,
            proposed=proposed,
            confidence=round(confidence, 4),
        )

    def evidence(self, query: Query, ranked: list[Ranked], cross: bool | None = None) -> Evidence | None:
        """The answer's evidence from the best passages (``answering.evidence``), with the shipped
        cross-encoder's logits when the answer model reads them (``cross`` True or False: whatever
        the model)."""
        use = self.answer_model.cross is not None if cross is None else cross
        return answering.evidence(self.index, query, ranked, self.answer_model.sentence,
                                  crossencoder.default() if use else None)

    def citation(self, row: int, start: int | None = None, end: int | None = None) -> Citation:
        chunk = self.index.chunks[row]
        return Citation.of(self.index.documents[chunk.doc_id], chunk, start, end)

    def passage(self, row: int, score: float, rank: int, window: int, query_idf: dict[str, float],
                phrases: tuple[str, ...] = (), shown: AnswerSentence | None = None) -> Passage:
        chunk = self.index.chunks[row]
        document = self.index.documents[chunk.doc_id]
        raw = document.raw
        # A phrase query marks the phrase where it stands; the passage of the shown answer, the
        # answer; any other passage of a question, the sentences that answer it best.
        holds_answer = (shown is not None and shown.citation.doc_id == chunk.doc_id
                        and chunk.start <= shown.citation.start and shown.citation.end <= chunk.end)
        marks = (phrase_marks(raw, chunk.start, chunk.end, phrases) if phrases
                 else [(shown.citation.start, shown.citation.end)] if holds_answer
                 else answering.highlights(raw, self.index.window_span(window), query_idf, self.index.sentences(row))
                 if query_idf else [])
        # The text is recomputed from the stored raw file, so it is the cited slice by construction.
        return Passage(
            rank=rank,
            score=round(score, 4),
            text=collapse_whitespace(raw[chunk.start : chunk.end]),
            citation=self.citation(row),
            in_reply_to=chunk.question,
            highlights=tuple(Highlight(s, e) for s, e in marks),
            role="question" if chunk.is_question else "answer",
            reply=reply_preview(document, chunk),
        )
