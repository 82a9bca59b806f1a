"""The embedded store: the on-disk index (FAISS vectors, the chunk table, the documents and a
manifest, in one folder), loaded and read. ``qa.build`` writes it.

Files (all plain and documented, so anyone can open them with standard tools):

- ``manifest.json``: format version, model, dimension, counts, build time, each document's hash.
- ``chunks.jsonl``: one JSON object per passage (chunk), in row order.
- ``windows.npy``: one row per window (a run of a passage's sentences): chunk row, start, end.
- ``vectors.faiss``: a FAISS inner-product index over the windows' unit vectors, in window order.
- ``bm25/windows``, ``bm25/pairs``, ``bm25/documents``: bm25s indexes over the windows, over each
  passage with the question it answers, and over each document's title, date and speakers.
- ``sentences.npy``: one row per sentence of every passage: chunk row, start, end, and the kinds
  of answer words it may hold (bits, ``qa.answer_types.kinds_present``): what the answer and the
  highlights read, computed once at build time.
- ``tokens/``: the stemmed tokens of every window, every passage-with-question and every sentence,
  as ids into ``tokens/vocab.json`` (NumPy files), so that a rebuild re-tokenizes only what
  changed and a question reads a sentence's words instead of tokenizing it.
- ``documents.jsonl``: one JSON object per document: metadata, turns and the raw text the
  citations point into (a copy, so citations stay right even if the source file changes later).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import faiss
import numpy as np

from qa.chunking import Chunk, Sentences
from qa import vectors as vector_index
from qa.lexical import LexicalIndex, tokenize
from qa.query import Filters
from qa.stores.seam import (
    LEXICAL_PARTS, Catalogue, IndexLoadError, PassageTable, WindowRows, conditions, passage_mask,
)
from qa.transcripts import Transcript

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
CHUNKS = "chunks.jsonl"
WINDOWS = "windows.npy"
SENTENCES = "sentences.npy"
DOCUMENTS = "documents.jsonl"
BM25 = "bm25"
TOKENS = "tokens"
_MONTHS = "January February March April May June July August September October November December".split()


class Index(Catalogue):
    """A loaded index: documents by id, chunks by row, windows, vectors and the BM25 indexes.

    It is the embedded store of ``qa.stores.seam``: the candidates and rows the ranker reads.
    """

    kind = "embedded"

    def __init__(
        self,
        manifest: dict,
        documents: dict[str, Transcript],
        chunks: list[Chunk],
        windows: np.ndarray,
        vectors: faiss.Index,
        lexical: dict[str, LexicalIndex],
        sentences: SentenceTable,
        directory: Path | None = None,
    ) -> None:
        self.directory = directory  # the build folder it was loaded from (the link resolved)
        self.sentence_table = sentences
        self.manifest = manifest
        self.documents = documents
        self.chunks = chunks
        self.windows = windows
        self.vectors = vectors
        self.lexical = lexical
        self._catalogue(list(documents), sorted({c.speaker for c in chunks if c.speaker}, key=str.casefold),
                        (d.date for d in documents.values()))
        # Per-window and per-chunk columns that filters and the ranker's rows read.
        self.window_chunk = windows[:, 0] if len(windows) else np.zeros(0, dtype=np.int64)
        self.chunk_doc = np.array([self.doc_number[c.doc_id] for c in chunks], dtype=np.int64)
        self.window_doc = self.chunk_doc[self.window_chunk]
        self.chunk_is_question = np.array([c.is_question for c in chunks], dtype=bool)
        self.chunk_speaker = [c.speaker for c in chunks]
        self.chunk_speaker_key = np.array([(c.speaker or "").casefold() for c in chunks], dtype=object)
        self.doc_dates = [documents[d].date for d in self.doc_ids]
        self.doc_profiles = [frozenset(tokenize(document_profile(documents[d]))) for d in self.doc_ids]
        self._allowed: dict[Filters, np.ndarray] = {}

    # -- the store seam (qa.stores.seam.Store) --------------------------------------------------

    @property
    def version(self) -> str:
        """The build this index is: its versioned folder and when it was built."""
        folder = self.directory.name if self.directory is not None else "memory"
        return f"{folder} built {self.manifest.get('built_at', '?')}"

    def check(self) -> None:
        """An embedded index in memory is always there."""

    def allowed_windows(self, filters: Filters) -> np.ndarray:
        """Which windows may be returned (``qa.stores.seam.conditions``)."""
        allowed = self._allowed.get(filters)
        if allowed is not None:
            return allowed
        allowed = passage_mask(conditions(filters), self.chunk_speaker_key, self.chunk_is_question, self.chunk_doc,
                               self.doc_number, self.doc_dates)[self.window_chunk]
        if len(self._allowed) >= 16:  # a query computes it three times; keep the last few
            self._allowed.clear()
        self._allowed[filters] = allowed
        return allowed

    def candidate_depth(self, depth: int, filters: Filters) -> int:
        return min(depth, int(self.allowed_windows(filters).sum()))

    def dense_candidates(self, query_vector: np.ndarray, depth: int, filters: Filters) -> np.ndarray:
        allowed = self.allowed_windows(filters)
        query = np.ascontiguousarray(np.asarray(query_vector).reshape(1, -1), dtype=np.float32)
        if not filters.is_empty():
            bits = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            _, ids = self.vectors.search(query, depth, params=vector_index.search_params(self.vectors, selector))
        else:
            # Reporters' questions are excluded afterwards; search a little deeper for them.
            _, ids = self.vectors.search(query, min(depth * 2, len(allowed)), params=vector_index.search_params(self.vectors))
        ids = ids[0]
        ids = ids[ids >= 0]
        return ids[allowed[ids]][:depth]

    def lexical_candidates(self, part: str, tokens: Sequence[str], depth: int, filters: Filters) -> np.ndarray:
        allowed = self.allowed_windows(filters)
        scores = self.lexical[part].token_scores(tokens)
        if part == "pairs":
            scores = scores[self.window_chunk]
        return _top(np.where(allowed, scores, -np.inf), depth)

    def window_rows(self, windows: np.ndarray) -> WindowRows:
        chunks = self.window_chunk[windows]
        return WindowRows(
            chunks=chunks, docs=self.window_doc[windows], speakers=[self.chunk_speaker[row] for row in chunks.tolist()],
            vectors=self.vectors.reconstruct_batch(windows),
        )

    def chunk_windows(self, row: int) -> np.ndarray:
        return np.arange(*np.searchsorted(self.window_chunk, [row, row + 1]), dtype=np.int64)

    def sentences(self, row: int) -> Sentences:
        return self.sentence_table.of(row)

    def token_scores_at(self, part: str, tokens: Sequence[str], ids: np.ndarray) -> np.ndarray:
        return self.lexical[part].token_scores_at(tokens, ids)

    def document_scores(self, tokens: Sequence[str], docs: np.ndarray) -> np.ndarray:
        return self.lexical["documents"].scores_of_tokens(tokens)[docs]

    def profile_tokens(self, docs: np.ndarray) -> list[frozenset[str]]:
        return [self.doc_profiles[int(d)] for d in docs]

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        return self.lexical["windows"].idf(tokens)

    def window_span(self, window: int) -> tuple[int, int]:
        return int(self.windows[window, 1]), int(self.windows[window, 2])

    def passage_table(self) -> PassageTable:
        counts = np.bincount(self.window_chunk, minlength=len(self.chunks)).astype(np.int64)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if len(counts) else counts
        return PassageTable(self.chunks, self.chunk_doc, first, counts, list(self.doc_dates))

    def dense_scan(self, query_vector: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
        # A k-nearest search, k growing until the k-th cosine is under the floor: exact, and some
        # 50 times faster than FAISS's range_search over the fp16 codes (measured: 3 ms against 160).
        query = np.ascontiguousarray(np.asarray(query_vector).reshape(1, -1), dtype=np.float32)
        total, depth = len(self.window_chunk), 512
        while True:
            cosines, ids = self.vectors.search(query, min(depth, total), params=vector_index.search_params(self.vectors))
            cosines, ids = cosines[0], ids[0]
            if depth >= total or len(ids) == 0 or cosines[-1] < floor:
                break
            depth *= 4
        keep = (ids >= 0) & (cosines >= floor)
        return self.window_chunk[ids[keep].astype(np.int64)], cosines[keep].astype(np.float32)

    @classmethod
    def load(cls, directory: Path, model: str | None = None) -> Index:
        """Load an index, refusing one built for another format version or (if given) model."""
        # Resolve the link once, so that every file comes from the same build even if a new
        # one is swapped in while this one loads.
        directory = Path(directory).resolve()
        manifest_path = directory / MANIFEST
        if not manifest_path.is_file():
            raise IndexLoadError(f"no index at {directory}: {MANIFEST} is missing (build one with 'qa index')")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise IndexLoadError(f"the index manifest {manifest_path} is unreadable: {error}") from None
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexLoadError(
                f"the index at {directory} has format version {version}, this program reads version "
                f"{FORMAT_VERSION}: rebuild it with 'qa index --out {directory}'"
            )
        if model is not None and manifest.get("model") != model:
            raise IndexLoadError(
                f"the index at {directory} was built with model {manifest.get('model')!r}, but the "
                f"configured model is {model!r}: use --model {manifest.get('model')!r} (or QA_MODEL), "
                f"or rebuild the index with 'qa index --model {model}'"
            )
        expected = manifest.get("files")
        if not isinstance(expected, dict):
            raise IndexLoadError(f"the index at {directory} has no file checksums in its manifest: rebuild it")
        actual = file_checksums(directory)
        damaged = sorted(name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name))
        if damaged:
            raise IndexLoadError(
                f"the index at {directory} is damaged: {', '.join(damaged[:5])} "
                f"{'is' if len(damaged) == 1 else 'are'} missing or not as built (checksum mismatch): rebuild it"
            )
        try:
            documents = {}
            with open(directory / DOCUMENTS, encoding="utf-8") as handle:
                for line in handle:
                    document = Transcript.from_record(json.loads(line))
                    documents[document.doc_id] = document
            with open(directory / CHUNKS, encoding="utf-8") as handle:
                chunks = [Chunk.from_json(line) for line in handle]
            windows = np.load(directory / WINDOWS, allow_pickle=False)
            vectors = vector_index.load(directory / VECTORS)
            lexical = {part: LexicalIndex.load(directory / BM25 / part) for part in LEXICAL_PARTS}
            sentences = SentenceTable.load(directory, len(chunks)) if (directory / SENTENCES).exists() else None
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
            raise IndexLoadError(f"the index at {directory} is damaged or incomplete: {error}") from None
        counts = (manifest.get("chunk_count"), manifest.get("window_count"))
        if (
            counts != (len(chunks), len(windows))
            or vectors.ntotal != len(windows)
            or lexical["windows"].size != len(windows)
            or lexical["pairs"].size != len(chunks)
            or lexical["documents"].size != len(documents)
            or (len(windows) and (windows.ndim != 2 or windows[:, 0].max() >= len(chunks)))
        ):
            raise IndexLoadError(
                f"the index at {directory} is inconsistent ({len(chunks)} chunks, {len(windows)} windows, "
                f"{vectors.ntotal} vectors; manifest says {counts[0]} and {counts[1]}): rebuild it"
            )
        if vectors.d != manifest.get("dimension"):
            raise IndexLoadError(
                f"the index at {directory} has vectors of dimension {vectors.d}, manifest says {manifest.get('dimension')}"
            )
        return cls(manifest, documents, chunks, windows, vectors, lexical, directory=directory, sentences=sentences)


class SentenceTable:
    """Every passage's sentences (``sentences.npy``: chunk row, start, end, kinds; in row order) and each
    sentence's token ids (``tokens/sentences.*.npy`` into ``tokens/vocab.json``), as built."""

    def __init__(self, rows: np.ndarray, ids: np.ndarray, offsets: np.ndarray, vocab: list[str]) -> None:
        self.rows = rows
        # The passages questions read most often (the best of each question) are kept as read.
        self.of = lru_cache(maxsize=4096)(self._of)
        self.row_of = np.ascontiguousarray(rows[:, 0]) if len(rows) else np.zeros(0, dtype=np.int64)
        self.ids = ids
        self.offsets = offsets
        self.vocab = vocab

    @classmethod
    def load(cls, directory: Path, chunk_count: int) -> SentenceTable:
        rows = np.load(directory / SENTENCES, allow_pickle=False)
        tokens = directory / TOKENS
        vocab = json.loads((tokens / "vocab.json").read_text(encoding="utf-8"))
        ids = np.load(tokens / "sentences.ids.npy", allow_pickle=False)
        offsets = np.load(tokens / "sentences.offsets.npy", allow_pickle=False)
        if (
            rows.ndim != 2 or rows.shape[1] != 4 or len(offsets) != len(rows) + 1 or offsets[-1] != len(ids)
            or (len(ids) and int(ids.max()) >= len(vocab))
            or (len(rows) and (int(rows[:, 0].max()) >= chunk_count or bool(np.any(np.diff(rows[:, 0]) < 0))))
        ):
            raise ValueError(f"the sentences ({SENTENCES}, {TOKENS}/sentences.*) disagree with each other or the chunks")
        return cls(rows, ids, offsets, vocab)

    def _of(self, row: int) -> Sentences:
        first, last = np.searchsorted(self.row_of, [row, row + 1]).tolist()
        bounds = self.offsets[first : last + 1].tolist()
        ids = self.ids[bounds[0] : bounds[-1]].tolist() if bounds else []
        vocab, base = self.vocab, bounds[0] if bounds else 0
        # Id 0 is the empty token (what a sentence without words is stored as).
        words = tuple(frozenset(vocab[i] for i in ids[a - base : b - base] if i) for a, b in zip(bounds, bounds[1:]))
        rows = self.rows[first:last].tolist()
        return Sentences(tuple((s, e) for _, s, e, _ in rows), words, tuple(kinds for *_, kinds in rows))


def document_profile(document: Transcript) -> str:
    """What the document-level BM25 reads: title, date in words, and the speakers' names."""
    parts = [document.title, document.source or ""]
    if document.date:
        year, month, day = document.date.split("-")
        month_name = _MONTHS[int(month) - 1]
        parts.append(f"{month_name} {int(day)} {year} {month_name} {year}")
    parts.extend(sorted({t.speaker for t in document.turns if t.speaker and not t.is_question}))
    return " ".join(parts)


def file_checksums(directory: Path) -> dict[str, str]:
    """SHA-256 of every file of an index folder but the manifest, by relative path."""
    sums = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            sums[str(path.relative_to(directory))] = digest.hexdigest()
    return sums


def _top(scores: np.ndarray, depth: int) -> np.ndarray:
    finite = np.isfinite(scores)
    depth = min(depth, int(finite.sum()))
    if depth == 0:
        return np.zeros(0, dtype=np.int64)
    masked = np.where(finite, scores, -np.inf)
    return np.argpartition(-masked, depth - 1)[:depth]
