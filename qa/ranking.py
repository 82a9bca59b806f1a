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
from typing import TYPE_CHECKING

import numpy as np

from qa.lexical import tokenize
from qa.query import Filters

if TYPE_CHECKING:
    from qa.query import Query
    from qa.stores.seam import Store


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
class Ranked:
    row: int  # the chunk's row
    score: float  # fused score (a sum of weighted z-scores: comparable within one query only)
    window: int  # the chunk's best window
    cosine: float  # dense cosine of that window
    # Whether the question's words name this passage's briefing (title, date, speakers) best of
    # all the candidates' briefings.
    named: bool = False


@dataclass(frozen=True)
class Signals:
    """The candidate windows of one question and each signal's raw value on them, in the same order."""

    candidates: np.ndarray  # window numbers
    chunks: np.ndarray  # each candidate's chunk row
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
    """Ranks the chunks of one store for a question vector and text.

    It reads the store only through the seam in ``qa.stores.seam``: candidate windows (dense and
    lexical, filters pushed down), the candidates' rows and vectors, per-word BM25 on the
    candidates and the corpus statistics; the fusion is computed here, so both stores rank alike.
    """

    def __init__(
        self,
        store: Store,
        weights: Weights = Weights(),
        candidates: int = 300,
        fusion: str = "zscore",
        occasion_free: bool = True,
    ) -> None:
        self.store = store
        self.weights = weights
        self.candidates = candidates
        # "zscore" (the default, chosen by measurement) or "rrf" (reciprocal rank fusion, k=60).
        self.fusion = fusion
        # Leave the words naming a passage's own briefing out of its passage-level BM25.
        self.occasion_free = occasion_free
        self._label_names: dict[str, frozenset[str]] = {}

    def using(self, *, weights: Weights | None = None, fusion: str | None = None,
              occasion_free: bool | None = None) -> Ranker:
        """A ranker of the same store with these settings changed (``None``: as here)."""
        other = Ranker(self.store, self.weights if weights is None else weights, self.candidates,
                       self.fusion if fusion is None else fusion,
                       self.occasion_free if occasion_free is None else occasion_free)
        return other

    def label_names(self, label: str | None) -> frozenset[str]:
        """The words of a speaker label that name the person (not a title such as "Mr.")."""
        if not label:
            return frozenset()
        names = self._label_names.get(label)
        if names is None:
            names = self._label_names[label] = frozenset(tokenize(label)) - TITLE_WORDS
        return names

    # -- ranking ---------------------------------------------------------------------------

    def rank(self, query: Query, k: int, filters: Filters = Filters()) -> Ranking:
        signals = self.signals(query, filters)
        if signals is None:
            return Ranking([], 0.0, 0)
        return Ranking(self.passages_of(signals, k), float(signals.dense.max()), len(signals.candidates))

    def rank_windows(self, query: Query, candidates: np.ndarray) -> list[Ranked]:
        """Every passage of the given windows, best first, scored on those windows alone (the
        relevance order of a whole-archive match set)."""
        if len(candidates) == 0:
            return []
        return self.passages_of(self.signals_at(query, np.unique(candidates.astype(np.int64))), len(candidates))

    def passages_of(self, signals: Signals, k: int) -> list[Ranked]:
        """The best ``k`` passages of the candidate windows, each scored as its best window."""
        fused = self.fuse(signals)
        best_document = float(signals.document.max())
        # A passage scores as its best window.
        order = np.argsort(-fused, kind="stable")
        seen: set[int] = set()
        ranked: list[Ranked] = []
        for position in order:
            window = int(signals.candidates[position])
            row = int(signals.chunks[position])
            if row in seen:
                continue
            seen.add(row)
            ranked.append(Ranked(row, float(fused[position]), window, float(signals.dense[position]),
                                 bool(signals.document[position] >= best_document > 0)))
            if len(ranked) == k:
                break
        return ranked

    def signals(self, query: Query, filters: Filters = Filters()) -> Signals | None:
        """The candidate windows for a question and each signal's raw value on them (None: no window allowed)."""
        depth = self.store.candidate_depth(self.candidates, filters)
        if depth == 0:
            return None
        tokens = list(query.tokens)
        candidates = np.unique(np.concatenate([
            self.store.dense_candidates(query.vector, depth, filters),
            self.store.lexical_candidates("windows", tokens, depth, filters),
            self.store.lexical_candidates("pairs", tokens, depth, filters),
        ]).astype(np.int64))
        if len(candidates) == 0:
            return None
        return self.signals_at(query, candidates)

    def signals_at(self, query: Query, candidates: np.ndarray) -> Signals:
        """Each signal's raw value on the given candidate windows."""
        tokens = list(query.tokens)
        rows = self.store.window_rows(candidates)
        cosine = rows.vectors @ np.asarray(query.vector, dtype=np.float32).reshape(-1)
        docs, candidate_doc = np.unique(rows.docs, return_inverse=True)
        # keep[t, c]: token t counts for candidate c; with occasion_free, not when it is a word of
        # c's own briefing profile.
        keep = np.ones((len(tokens), len(candidates)), dtype=bool)
        if self.occasion_free and tokens:
            # Each briefing's profile met once (a few of the question's words at most), not each word
            # looked up in every profile.
            position = {token: i for i, token in enumerate(tokens)}
            in_profile = np.zeros((len(tokens), len(docs)), dtype=bool)
            for number, profile in enumerate(self.store.profile_tokens(docs)):
                for token in profile.intersection(position):
                    in_profile[position[token], number] = True
            keep = ~in_profile[:, candidate_doc]
        window_score = (self.store.token_scores_at("windows", tokens, candidates) * keep).sum(axis=0)
        pair_score = (self.store.token_scores_at("pairs", tokens, rows.chunks) * keep).sum(axis=0)
        document = self.store.document_scores(list(query.words), docs)[candidate_doc]
        # The best cosine among each briefing's candidate windows.
        best_in_doc = np.full(len(docs), -1.0, dtype=np.float64)
        np.maximum.at(best_in_doc, candidate_doc, cosine)
        named = set(tokens)
        naming = {label: 1.0 if self.label_names(label) & named else 0.0 for label in set(rows.speakers)}
        speaker = np.array([naming[label] for label in rows.speakers], dtype=np.float64)
        return Signals(
            candidates=candidates,
            chunks=rows.chunks,
            dense=cosine,
            window_lexical=window_score,
            pair_lexical=pair_score,
            document=document,
            document_dense=best_in_doc[candidate_doc],
            speaker=speaker,
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
            + weights.speaker * signals.speaker * (1.0 if self.fusion == "zscore" else 1.0 / (RRF_K + 1))
        )


# Reciprocal rank fusion's constant (Cormack et al.'s k = 60): a signal's rank-1 share is 1/61.
RRF_K = 60


def _reciprocal_ranks(values: np.ndarray, k: int = RRF_K) -> np.ndarray:
    """1 / (k + rank) of each value among the candidates, best rank 1."""
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(1, len(values) + 1)
    return 1.0 / (k + ranks)


def _standardise(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    if not np.isfinite(spread) or spread == 0.0:
        return np.zeros_like(values, dtype=np.float64)
    return (values - values.mean()) / spread
