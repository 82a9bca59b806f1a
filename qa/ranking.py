"""Hybrid ranking: dense windows, BM25 windows, the question a reply answers, and the briefing itself.

Every passage (chunk) is scored through its windows (runs of a few sentences). Four signals:

- ``dense``: cosine of the question and the window (FAISS).
- ``window_lexical``: BM25 of the question against the window's words.
- ``pair_lexical``: BM25 against the passage together with the reporter's question it answers,
  so that a reply is found through the question it answers.
- ``document``: BM25 against the briefing's title, date and speakers, since questions name
  the occasion ("in the November 2021 background call").

Candidates are the best few hundred windows of the first three signals; on them each signal
is standardised (z-score) and the weighted sum ranks the windows. A passage scores as its best
window, which is also where its highlight is looked for. The weights were chosen on the
project's own question set (tests/data/questions.jsonl) and checked on the shared dev set;
README.md has the ablation.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from qa import vectors as vector_index
from qa.lexical import LexicalIndex


@dataclass(frozen=True)
class Weights:
    dense: float = 1.0
    window_lexical: float = 0.5
    pair_lexical: float = 0.3
    document: float = 0.7


@dataclass(frozen=True)
class Filters:
    """Restrictions on which passages may be returned; ``None`` means no restriction."""

    speaker: str | None = None
    date_from: str | None = None  # ISO dates, inclusive
    date_to: str | None = None
    doc_id: str | None = None

    def is_empty(self) -> bool:
        return not (self.speaker or self.date_from or self.date_to or self.doc_id)


@dataclass(frozen=True)
class Ranked:
    row: int  # the chunk's row
    score: float  # fused score (a sum of weighted z-scores: comparable within one query only)
    window: int  # the chunk's best window
    cosine: float  # dense cosine of that window


@dataclass(frozen=True)
class Ranking:
    passages: list[Ranked]
    best_cosine: float  # over all candidates, for abstention
    candidates: int


class Ranker:
    """Ranks the chunks of one index for a question vector and text."""

    def __init__(
        self,
        vectors: faiss.Index,
        window_chunk: np.ndarray,
        chunk_doc: np.ndarray,
        chunk_is_question: np.ndarray,
        chunk_speaker: list[str | None],
        doc_ids: list[str],
        doc_dates: list[str | None],
        window_lexical: LexicalIndex,
        pair_lexical: LexicalIndex,
        document_lexical: LexicalIndex,
        weights: Weights = Weights(),
        candidates: int = 300,
        fusion: str = "zscore",
    ) -> None:
        self.vectors = vectors
        self.matrix = vector_index.flat_matrix(vectors)  # a view into ``vectors``, which it keeps alive
        self.window_chunk = window_chunk
        self.window_doc = chunk_doc[window_chunk]
        self.chunk_is_question = chunk_is_question
        self.window_is_question = chunk_is_question[window_chunk]
        self.chunk_speaker_key = np.array([(s or "").casefold() for s in chunk_speaker], dtype=object)
        self.doc_ids = doc_ids
        self.doc_number = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        self.doc_dates = doc_dates
        self.window_lexical = window_lexical
        self.pair_lexical = pair_lexical
        self.document_lexical = document_lexical
        self.weights = weights
        self.candidates = candidates
        # "zscore" (the default, chosen by measurement) or "rrf" (reciprocal rank fusion, k=60).
        self.fusion = fusion

    # -- filters ---------------------------------------------------------------------------

    def allowed_windows(self, filters: Filters) -> np.ndarray:
        """Which windows may be returned. Reporters' questions only when asked for by speaker."""
        if filters.speaker:
            allowed = (self.chunk_speaker_key == filters.speaker.casefold())[self.window_chunk]
        else:
            allowed = ~self.window_is_question
        if filters.doc_id:
            allowed &= self.window_doc == self.doc_number.get(filters.doc_id, -1)
        if filters.date_from or filters.date_to:
            low, high = filters.date_from or "0000-00-00", filters.date_to or "9999-99-99"
            doc_ok = np.array([bool(d) and low <= d <= high for d in self.doc_dates], dtype=bool)
            allowed &= doc_ok[self.window_doc]
        return allowed

    # -- ranking ---------------------------------------------------------------------------

    def rank(self, question: str, query_vector: np.ndarray, k: int, filters: Filters = Filters()) -> Ranking:
        allowed = self.allowed_windows(filters)
        if not allowed.any():
            return Ranking([], 0.0, 0)
        depth = min(self.candidates, int(allowed.sum()))
        query = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)

        if self.matrix is not None:
            dense_all = self.matrix @ query[0]
            dense_ids = _top(np.where(allowed, dense_all, -np.inf), depth)
        else:
            dense_all = None
            dense_ids = self._dense_candidates(query, depth, allowed, filtered=not filters.is_empty())
        window_lex = np.where(allowed, self.window_lexical.scores(question), -np.inf)
        pair_lex = np.where(allowed, self.pair_lexical.scores(question)[self.window_chunk], -np.inf)
        candidates = np.unique(
            np.concatenate([dense_ids, _top(window_lex, depth), _top(pair_lex, depth)])
        )
        candidates = candidates[allowed[candidates]]
        cosine = dense_all[candidates] if dense_all is not None else self.vectors.reconstruct_batch(candidates) @ query[0]
        document = self.document_lexical.scores(question)[self.window_doc[candidates]]
        combine = _reciprocal_ranks if self.fusion == "rrf" else _standardise
        fused = (
            self.weights.dense * combine(cosine)
            + self.weights.window_lexical * combine(window_lex[candidates])
            + self.weights.pair_lexical * combine(pair_lex[candidates])
            + self.weights.document * combine(document)
        )
        # A passage scores as its best window.
        order = np.argsort(-fused, kind="stable")
        seen: set[int] = set()
        ranked: list[Ranked] = []
        for position in order:
            window = int(candidates[position])
            row = int(self.window_chunk[window])
            if row in seen:
                continue
            seen.add(row)
            ranked.append(Ranked(row, float(fused[position]), window, float(cosine[position])))
            if len(ranked) == k:
                break
        return Ranking(ranked, float(cosine.max()), len(candidates))

    def _dense_candidates(self, query: np.ndarray, depth: int, allowed: np.ndarray, filtered: bool) -> np.ndarray:
        if filtered:
            bits = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            _, ids = self.vectors.search(query, depth, params=vector_index.search_params(self.vectors, selector))
        else:
            # Reporters' questions are excluded afterwards; search a little deeper for them.
            _, ids = self.vectors.search(query, min(depth * 2, len(allowed)), params=vector_index.search_params(self.vectors))
        ids = ids[0]
        ids = ids[ids >= 0]
        return ids[allowed[ids]][:depth]


def _top(scores: np.ndarray, depth: int) -> np.ndarray:
    finite = np.isfinite(scores)
    depth = min(depth, int(finite.sum()))
    if depth == 0:
        return np.zeros(0, dtype=np.int64)
    masked = np.where(finite, scores, -np.inf)
    return np.argpartition(-masked, depth - 1)[:depth]


def _reciprocal_ranks(values: np.ndarray, k: int = 60) -> np.ndarray:
    """1 / (k + rank) of each value among the candidates, best rank 1."""
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return 1.0 / (k + ranks)


def _standardise(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    if not np.isfinite(spread) or spread == 0.0:
        return np.zeros_like(values, dtype=np.float64)
    return (values - values.mean()) / spread
