"""The store seam: what ranking and answering read from storage.

Two stores implement it: the embedded one (``qa.stores.embedded.Index``: FAISS and bm25s files
under ``index/``, the default) and ``qa.stores.milvus.MilvusStore`` (a Milvus collection set
behind an alias); ``qa.stores.open.open_store`` chooses between them. This module imports
neither. The ranker (``qa.ranking``) asks a store for candidate windows (filters pushed down), for
the candidates' rows and vectors, for per-word BM25 on the candidates and for the corpus
statistics (IDF); everything it fuses it computes itself, so both stores rank alike.

Ids: a *window* is a run of a passage's sentences, a *chunk* (row) a passage, a *document
number* a briefing's position in the store; all three are the embedded index's positions, and a
Milvus store published from an embedded index keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.chunking import Sentences

if TYPE_CHECKING:
    from qa.chunking import Chunk
    from qa.query import Filters
    from qa.transcripts import Transcript

STORES = ("embedded", "milvus")


@dataclass(frozen=True)
class Conditions:
    """What the filters ask of a passage, as conditions on its fields; each store (and the
    whole-archive matcher) translates these, so the rules stand here once."""

    speaker_keys: tuple[str, ...]  # by one of these speakers (case-folded labels); () for any speaker
    questions: bool  # whether reporters' questions may be returned
    answers: bool  # whether everything else (officials' replies, narrative) may be returned
    doc_id: str | None  # of this briefing only
    dates: tuple[str, str] | None  # a dated briefing between these ISO dates (inclusive)


def default_role(exact: bool, speaker: bool) -> str:
    """The role a search has when none is asked for: an exact phrase, or a named speaker (the
    reporters are speakers too), finds every time the words were said, questions included;
    words alone are answered from the officials' replies."""
    return "both" if exact or speaker else "answers"


def conditions(filters: Filters, speakers: Sequence[str] = ()) -> Conditions:
    """The conditions of ``filters``; ``speakers``, several labels of one name (``speaker:Kirby``),
    stands for the speaker filter. ``filters.role`` chooses questions, answers or both (when
    None, ``default_role`` for a search without phrases)."""
    keys = tuple(s.casefold() for s in speakers) or ((filters.speaker.casefold(),) if filters.speaker else ())
    dates = ((filters.date_from or "0000-00-00", filters.date_to or "9999-99-99")
             if filters.date_from or filters.date_to else None)
    role = filters.role or default_role(exact=False, speaker=bool(keys))
    return Conditions(keys, questions=role != "answers", answers=role != "questions", doc_id=filters.doc_id,
                      dates=dates)


def passage_mask(wanted: Conditions, speaker_keys: np.ndarray, is_question: np.ndarray, docs: np.ndarray,
                 doc_number: Mapping[str, int], doc_dates: Sequence[str | None]) -> np.ndarray:
    """The conditions evaluated over passages held in memory: each passage's case-folded speaker,
    whether it is a question, its document number; each document's date (by number)."""
    mask = np.ones(len(is_question), dtype=bool)
    if wanted.speaker_keys:
        mask &= np.isin(speaker_keys, wanted.speaker_keys)
    if not wanted.questions:
        mask &= ~is_question
    if not wanted.answers:
        mask &= is_question
    if wanted.doc_id:
        mask &= docs == doc_number.get(wanted.doc_id, -1)
    if wanted.dates:
        low, high = wanted.dates
        dated = np.array([bool(d) and low <= d <= high for d in doc_dates], dtype=bool)
        mask &= dated[docs]
    return mask


# Lexical parts: BM25 over windows, over passages with the question they answer, over documents.
LEXICAL_PARTS = ("windows", "pairs", "documents")


@dataclass(frozen=True)
class WindowRows:
    """What the ranker needs of some windows, in the order asked."""

    chunks: np.ndarray  # chunk row of each window
    docs: np.ndarray  # document number of each window
    speakers: list[str | None]  # the speaker label of each window's passage
    vectors: np.ndarray  # (windows, dimension) unit vectors, float32


@dataclass(frozen=True)
class PassageTable:
    """Every passage of the store, by row, for the whole-archive scans (phrases, counts, date order)."""

    chunks: Sequence[Chunk]  # every passage, by row (its text is raw[start:end], whitespace collapsed)
    docs: np.ndarray  # document number of each passage
    first_window: np.ndarray  # each passage's first window; its windows are consecutive
    window_count: np.ndarray
    doc_dates: list[str | None]  # each document's ISO date, by document number


class StoreUnavailable(RuntimeError):
    """The store (a Milvus server) cannot be reached or did not answer in time."""


class IndexLoadError(RuntimeError):
    """An index that is missing, unreadable, or built with another model or format."""


class Store(Protocol):
    """Storage as ranking and answering see it."""

    manifest: dict
    documents: Mapping[str, Transcript]  # by doc_id
    chunks: Sequence[Chunk]  # by row
    doc_number: dict[str, int]  # each document's number, by doc_id
    speakers: list[str]
    speaker_by_key: dict[str, str]
    dates: list[str]

    kind: str  # which store this is: one of STORES

    @property
    def version(self) -> str:
        """Which version of the archive the store reads (readiness and /healthz say it)."""
        ...

    @property
    def model(self) -> str: ...

    @property
    def encoder_backend(self) -> str: ...

    def window_span(self, window: int) -> tuple[int, int]: ...

    def candidate_depth(self, depth: int, filters: Filters) -> int:
        """``depth``, or fewer when fewer windows pass the filters (0: none does)."""
        ...

    def dense_candidates(self, query_vector: np.ndarray, depth: int, filters: Filters) -> np.ndarray:
        """The ``depth`` windows closest to the question that pass the filters."""
        ...

    def lexical_candidates(self, part: str, tokens: Sequence[str], depth: int, filters: Filters) -> np.ndarray:
        """The ``depth`` windows with the best BM25 of ``part`` ("windows" or "pairs") that pass the filters."""
        ...

    def window_rows(self, windows: np.ndarray) -> WindowRows: ...

    def chunk_windows(self, row: int) -> np.ndarray:
        """The windows of one passage, in order (the answer reads each one's span and vector)."""
        ...

    def sentences(self, row: int) -> Sentences:
        """One passage's sentences and the words of each (the answer and the highlights read them)."""
        ...

    def token_scores_at(self, part: str, tokens: Sequence[str], ids: np.ndarray) -> np.ndarray:
        """BM25 of each token alone on the given windows ("windows") or chunks ("pairs"): (tokens, ids)."""
        ...

    def document_scores(self, tokens: Sequence[str], docs: np.ndarray) -> np.ndarray:
        """BM25 of the tokenized question (repeats count) on the given documents' profiles."""
        ...

    def profile_tokens(self, docs: np.ndarray) -> list[frozenset[str]]:
        """The words of each given document's profile (title, date in words, speakers)."""
        ...

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each distinct token over the windows."""
        ...

    def check(self) -> None:
        """Raise ``StoreUnavailable`` when the store cannot answer now (for /readyz)."""
        ...

    def passage_table(self) -> PassageTable:
        """Every passage with its document, windows and date (read once per store; the scans keep it)."""
        ...

    def dense_scan(self, query_vector: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
        """Every window whose cosine to the question is at least ``floor``: (its passage row, its cosine)."""
        ...


class Catalogue:
    """What both stores derive the same way from their manifest and their list of briefings."""

    manifest: dict

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    @property
    def encoder_backend(self) -> str:
        """The runtime the encoder ran on when the vectors were made (questions are encoded on it too)."""
        return str(self.manifest.get("backend", "torch"))

    def _catalogue(self, doc_ids: list[str], speakers: list[str], dates) -> None:
        """Documents by number, speakers by case-folded label, the sorted dates."""
        self.doc_ids = doc_ids
        self.doc_number = {doc_id: i for i, doc_id in enumerate(doc_ids)}
        self.speakers = speakers
        self.speaker_by_key = {s.casefold(): s for s in speakers}
        self.dates = sorted(d for d in dates if d)

    def sentences(self, row: int) -> Sentences:
        """A passage's sentences split and tokenized from its text (the embedded store reads the
        ones its build computed instead)."""
        chunk = self.chunks[row]
        return Sentences.of(self.documents[chunk.doc_id].raw, chunk.start, chunk.end)
