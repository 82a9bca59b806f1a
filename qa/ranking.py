"""Hybrid ranking: dense windows, BM25 windows, the question a reply answers, and the briefing itself.

Every passage (chunk) is scored through its windows (runs of a few sentences). Six signals:

- ``dense``: cosine of the question and the window (FAISS).
- ``window_lexical``: BM25 of the question against the window's words.
- ``pair_lexical``: BM25 against the passage together with the reporter's question it answers,
  so that a reply is found through the question it answers.
- ``document``: BM25 against the briefing's title, date and speakers, since questions name
  the occasion ("in the November 2021 background call").
- ``document_dense``: the best cosine of any candidate window of the same briefing, so that a
  passage in a briefing that is about the question as a whole gains over a stray match.
- ``speaker``: 1 when the question names the passage's speaker ("according to John Kirby"),
  by a word of the speaker's label other than a title ("Mr.", "Secretary", ...).

Questions name their occasion, and the words that do so ("President Biden's November 2021
virtual meeting with President Xi") match the moderator's welcome and the opening remarks of
that very briefing better than the reply that answers them. So the two passage-level BM25
signals leave out, for each passage, the question's words that are in its own briefing's
profile (title, date, speakers): those words pick the briefing (``document``), not the
passage within it (``occasion_free``, on by default; measured in README.md).

Candidates are the best few hundred windows of dense and the two BM25 signals (all words); on
them each signal is standardised (z-score) and the weighted sum ranks the windows (the speaker
signal is added as it is). A passage scores as its best window, which is also where its
highlight is looked for. The weights were chosen on the project's own question set
(tests/data/questions.jsonl) on a coarse grid and checked on the shared dev set; README.md has
the ablation.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from qa import vectors as vector_index
from qa.lexical import LexicalIndex, tokenize


@dataclass(frozen=True)
class Weights:
    dense: float = 1.0
    window_lexical: float = 0.6
    pair_lexical: float = 1.2
    document: float = 1.4
    document_dense: float = 0.6
    speaker: float = 2.0


# Words of a speaker label that say what someone is, not who (stemmed like the questions):
# a question saying "the Secretary" or "President Biden" does not name "Secretary Granholm"
# or "The President".
TITLE_WORDS = frozenset(tokenize(
    """mr mrs ms miss dr doctor prof professor sir madam madame secretary ambassador senior
    administration administrator official officials moderator operator president vice deputy
    assistant director chair chairman chairwoman general admiral governor spokesperson spokesman
    spokeswoman host minister white house aide military national security adviser advisor
    coordinator press reporter special envoy representative staff the"""
))


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
class Signals:
    """The candidate windows of one question and each signal's raw value on them, in the same order."""

    candidates: np.ndarray  # window numbers
    dense: np.ndarray
    window_lexical: np.ndarray
    pair_lexical: np.ndarray
    document: np.ndarray
    document_dense: np.ndarray
    speaker: np.ndarray  # 1.0 where the question names the passage's speaker


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
        doc_profiles: list[str],
        window_lexical: LexicalIndex,
        pair_lexical: LexicalIndex,
        document_lexical: LexicalIndex,
        weights: Weights = Weights(),
        candidates: int = 300,
        fusion: str = "zscore",
        occasion_free: bool = True,
    ) -> None:
        self.vectors = vectors
        self.window_chunk = window_chunk
        self.window_doc = chunk_doc[window_chunk]
        self.chunk_is_question = chunk_is_question
        self.window_is_question = chunk_is_question[window_chunk]
        self.chunk_speaker_key = np.array([(s or "").casefold() for s in chunk_speaker], dtype=object)
        # Speaker labels by number, each with the words that name the person.
        labels = sorted({s for s in chunk_speaker if s})
        label_number = {label: i for i, label in enumerate(labels)}
        self.chunk_label = np.array([label_number.get(s, -1) if s else -1 for s in chunk_speaker], dtype=np.int64)
        self.label_names = [frozenset(tokenize(label)) - TITLE_WORDS for label in labels]
        # For each word of any briefing's profile, the briefings whose profile has it.
        docs_with: dict[str, list[int]] = {}
        for number, profile in enumerate(doc_profiles):
            for token in set(tokenize(profile)):
                docs_with.setdefault(token, []).append(number)
        self.profile_docs = {token: np.array(numbers, dtype=np.int64) for token, numbers in docs_with.items()}
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
        # Leave the words naming a passage's own briefing out of its passage-level BM25.
        self.occasion_free = occasion_free

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
        signals = self.signals(question, query_vector, filters)
        if signals is None:
            return Ranking([], 0.0, 0)
        fused = self.fuse(signals)
        # A passage scores as its best window.
        order = np.argsort(-fused, kind="stable")
        seen: set[int] = set()
        ranked: list[Ranked] = []
        for position in order:
            window = int(signals.candidates[position])
            row = int(self.window_chunk[window])
            if row in seen:
                continue
            seen.add(row)
            ranked.append(Ranked(row, float(fused[position]), window, float(signals.dense[position])))
            if len(ranked) == k:
                break
        return Ranking(ranked, float(signals.dense.max()), len(signals.candidates))

    def signals(self, question: str, query_vector: np.ndarray, filters: Filters = Filters()) -> Signals | None:
        """The candidate windows for a question and each signal's raw value on them (None: no window allowed)."""
        allowed = self.allowed_windows(filters)
        if not allowed.any():
            return None
        depth = min(self.candidates, int(allowed.sum()))
        query = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)

        dense_ids = self._dense_candidates(query, depth, allowed, filtered=not filters.is_empty())
        tokens = list(dict.fromkeys(tokenize(question)))
        window_lex = np.where(allowed, self.window_lexical.token_scores(tokens), -np.inf)
        pair_lex = np.where(allowed, self.pair_lexical.token_scores(tokens)[self.window_chunk], -np.inf)
        candidates = np.unique(
            np.concatenate([dense_ids, _top(window_lex, depth), _top(pair_lex, depth)])
        )
        return self.signals_at(question, query_vector, candidates[allowed[candidates]])

    def signals_at(self, question: str, query_vector: np.ndarray, candidates: np.ndarray) -> Signals:
        """Each signal's raw value on the given candidate windows."""
        tokens = list(dict.fromkeys(tokenize(question)))
        cosine = self.vectors.reconstruct_batch(candidates) @ np.asarray(query_vector, dtype=np.float32).reshape(-1)
        candidate_doc = self.window_doc[candidates]
        candidate_chunk = self.window_chunk[candidates]
        # keep[t, c]: token t counts for candidate c; with occasion_free, not when it is a word of
        # c's own briefing profile.
        keep = np.ones((len(tokens), len(candidates)), dtype=bool)
        if self.occasion_free:
            for i, token in enumerate(tokens):
                docs = self.profile_docs.get(token)
                if docs is not None:
                    keep[i] = ~np.isin(candidate_doc, docs)
        window_score = (self.window_lexical.token_scores_at(tokens, candidates) * keep).sum(axis=0)
        pair_score = (self.pair_lexical.token_scores_at(tokens, candidate_chunk) * keep).sum(axis=0)
        document = self.document_lexical.scores(question)[candidate_doc]
        # The best cosine among each briefing's candidate windows.
        best_in_doc = np.full(len(self.doc_ids), -1.0, dtype=np.float64)
        np.maximum.at(best_in_doc, candidate_doc, cosine)
        named = set(tokens)
        label_named = np.array([bool(names & named) for names in self.label_names] + [False], dtype=np.float64)
        return Signals(
            candidates=candidates,
            dense=cosine,
            window_lexical=window_score,
            pair_lexical=pair_score,
            document=document,
            document_dense=best_in_doc[candidate_doc],
            speaker=label_named[self.chunk_label[candidate_chunk]],  # label -1 (none) reads the False at the end
        )

    def fuse(self, signals: Signals) -> np.ndarray:
        """The fused score of each candidate window: the weighted sum of its standardised signals."""
        combine = _reciprocal_ranks if self.fusion == "rrf" else _standardise
        weights = self.weights
        return (
            weights.dense * combine(signals.dense)
            + weights.window_lexical * combine(signals.window_lexical)
            + weights.pair_lexical * combine(signals.pair_lexical)
            + weights.document * combine(signals.document)
            + weights.document_dense * combine(signals.document_dense)
            # A bonus on the scale of the fused signals: one standard deviation, or one rank-1 share.
            + weights.speaker * signals.speaker * (1.0 if self.fusion == "zscore" else 1.0 / 61)
        )

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
