"""The on-disk index: FAISS vectors, the chunk table, the documents and a manifest, in one folder.

Files (all plain and documented, so anyone can open them with standard tools):

- ``manifest.json``: format version, model, dimension, counts, build time, each document's hash.
- ``chunks.jsonl``: one JSON object per passage (chunk), in row order.
- ``windows.npy``: one row per window (a run of a passage's sentences): chunk row, start, end.
- ``vectors.faiss``: a FAISS inner-product index over the windows' unit vectors, in window order.
- ``bm25/windows``, ``bm25/pairs``, ``bm25/documents``: bm25s indexes over the windows, over each
  passage with the question it answers, and over each document's title, date and speakers.
- ``tokens/``: the stemmed tokens of every window and every passage-with-question, as ids into
  ``tokens/vocab.json`` (NumPy files), so that a rebuild re-tokenizes only what changed.
- ``documents.jsonl``: one JSON object per document: metadata, turns and the raw text the
  citations point into (a copy, so citations stay right even if the source file changes later).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from qa.chunking import Chunk, chunk_transcript, clean_for_model, window_spans
from qa.embedding import NO_PROMPTS, prompts_of
from qa import vectors as vector_index
from qa.lexical import LexicalIndex, TokenStore, tokenize
from qa.ranking import Filters
from qa.store import LEXICAL_PARTS, Catalogue, PassageTable, WindowRows
from qa.transcripts import Skipped, Transcript, Turn, load_folder

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
CHUNKS = "chunks.jsonl"
WINDOWS = "windows.npy"
DOCUMENTS = "documents.jsonl"
BM25 = "bm25"
TOKENS = "tokens"
_MONTHS = "January February March April May June July August September October November December".split()


class IndexLoadError(RuntimeError):
    """An index that is missing, unreadable, or built with another model or format."""


@dataclass(frozen=True)
class BuildReport:
    documents: int
    chunks: int
    skipped: tuple[Skipped, ...]
    seconds: float
    out_dir: Path
    encoded: int = 0  # windows embedded in this build
    reused: int = 0  # windows whose vectors came from the previous index
    up_to_date: bool = False  # nothing changed: the previous index was kept as it was


# The code that decides what an index holds. An index built by other code is never reused.
_PIPELINE_FILES = ("transcripts.py", "text.py", "chunking.py", "lexical.py", "index.py", "vectors.py",
                   "readers/__init__.py", "readers/web_page.py", "readers/pdf.py", "readers/captions.py")


def pipeline_hash() -> str:
    digest = hashlib.sha256()
    for name in _PIPELINE_FILES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


class Index(Catalogue):
    """A loaded index: documents by id, chunks by row, windows, vectors and the BM25 indexes.

    It is the embedded store of ``qa.store``: the candidates and rows the ranker reads.
    """

    def __init__(
        self,
        manifest: dict,
        documents: dict[str, Transcript],
        chunks: list[Chunk],
        windows: np.ndarray,
        vectors: faiss.Index,
        lexical: dict[str, LexicalIndex],
        directory: Path | None = None,
    ) -> None:
        self.directory = directory  # the build folder it was loaded from (the link resolved)
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
        self.window_is_question = np.array([c.is_question for c in chunks], dtype=bool)[self.window_chunk]
        self.chunk_speaker_key = np.array([(c.speaker or "").casefold() for c in chunks], dtype=object)
        self.doc_dates = [documents[d].date for d in self.doc_ids]
        self.doc_profiles = [frozenset(tokenize(document_profile(documents[d]))) for d in self.doc_ids]
        self._allowed: dict[Filters, np.ndarray] = {}

    # -- the store seam (qa.store.Store) ---------------------------------------------------------

    def check(self) -> None:
        """An embedded index in memory is always there."""

    def allowed_windows(self, filters: Filters) -> np.ndarray:
        """Which windows may be returned. Reporters' questions only when asked for by speaker."""
        allowed = self._allowed.get(filters)
        if allowed is not None:
            return allowed
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
            chunks=chunks, docs=self.window_doc[windows], speakers=[self.chunks[int(row)].speaker for row in chunks],
            vectors=self.vectors.reconstruct_batch(windows),
        )

    def chunk_windows(self, row: int) -> np.ndarray:
        return np.arange(*np.searchsorted(self.window_chunk, [row, row + 1]), dtype=np.int64)

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
                    document = _document_from_json(json.loads(line))
                    documents[document.doc_id] = document
            with open(directory / CHUNKS, encoding="utf-8") as handle:
                chunks = [Chunk(**json.loads(line)) for line in handle]
            windows = np.load(directory / WINDOWS, allow_pickle=False)
            vectors = vector_index.load(directory / VECTORS)
            lexical = {part: LexicalIndex.load(directory / BM25 / part) for part in LEXICAL_PARTS}
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
        return cls(manifest, documents, chunks, windows, vectors, lexical, directory=directory)


def _chunk_to_json(chunk: Chunk) -> dict:
    return {f.name: getattr(chunk, f.name) for f in fields(Chunk)}


def _document_to_json(document: Transcript) -> dict:
    record = {f.name: getattr(document, f.name) for f in fields(Transcript)}
    record["turns"] = [[t.speaker, t.start, t.end, t.is_question, t.question_turn] for t in document.turns]
    return record


def _document_from_json(record: dict) -> Transcript:
    turns = tuple(
        Turn(index=i, speaker=speaker, start=start, end=end, is_question=is_question, question_turn=question_turn)
        for i, (speaker, start, end, is_question, question_turn) in enumerate(record.pop("turns"))
    )
    return Transcript(turns=turns, **record)


def document_profile(document: Transcript) -> str:
    """What the document-level BM25 reads: title, date in words, and the speakers' names."""
    parts = [document.title, document.source or ""]
    if document.date:
        year, month, day = document.date.split("-")
        month_name = _MONTHS[int(month) - 1]
        parts.append(f"{month_name} {int(day)} {year} {month_name} {year}")
    parts.extend(sorted({t.speaker for t in document.turns if t.speaker and not t.is_question}))
    return " ".join(parts)


def build_index(sources: Iterable[Path], out_dir: Path, encoder: object, wait: bool = True, **options) -> BuildReport:
    """Build under the index's lock (see ``_build``), clearing what killed builds left behind."""
    out_dir = Path(out_dir)
    with build_lock(out_dir, wait=wait):
        for leftover in out_dir.parent.glob(f".{out_dir.name}.building-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        return _build(sources, out_dir, encoder, **options)


def _build(
    sources: Iterable[Path],
    out_dir: Path,
    encoder: object,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    incremental: bool = True,
    seed_vectors: Callable[[Transcript], dict[str, np.ndarray]] | None = None,
) -> BuildReport:
    """Parse, chunk and embed every transcript below ``sources`` and write the index to ``out_dir``.

    With ``incremental`` (the default), an index already at ``out_dir`` built by the same code
    and model lends the vectors of every window whose text is unchanged, and an unchanged
    corpus leaves it as it is.

    ``seed_vectors`` (a document -> {window text: vector}) lends vectors when there is no previous
    index on disk, or it does not have the document: a builder without the local folder reuses
    what a Milvus store already holds.

    ``encoder`` has ``name``, ``dimension`` and ``encode(texts, batch_size)``. The index is written
    to a temporary folder beside ``out_dir`` and moved into place at the end, so a failed build
    never leaves a half-written index where a good one was.
    """
    began = time.perf_counter()
    sources = [Path(s) for s in sources]
    out_dir = Path(out_dir)
    transcripts, skipped = load_folder(sources)
    previous = _previous_index(out_dir, encoder) if incremental else None
    hashes = {d.doc_id: {"path": d.path, "sha256": d.content_hash} for d in transcripts}
    if previous is not None and previous.manifest.get("documents") == hashes:
        # Same code, same model, same documents: the index on disk is what a rebuild would write.
        return BuildReport(len(transcripts), len(previous.chunks), tuple(skipped), time.perf_counter() - began,
                           out_dir, reused=len(previous.windows), up_to_date=True)
    earlier = _Earlier.of(previous) if previous is not None else None
    store = earlier.store if earlier is not None else TokenStore()
    chunks: list[Chunk] = []
    window_parts: list[np.ndarray] = []
    window_ids: list[list[int]] = []
    pair_ids: list[list[int]] = []
    vector_parts: list[np.ndarray] = []
    missing_texts: list[str] = []
    missing_at: list[int] = []  # window positions still to embed
    window_count = 0
    for document in transcripts:
        same = earlier is not None and earlier.hashes.get(document.doc_id) == hashes[document.doc_id]
        if same:
            # An unchanged document: its chunks, windows, vectors and tokens as they were.
            part = earlier.document(document.doc_id, first_row=len(chunks))
            chunks.extend(part.chunks)
            window_parts.append(part.windows)
            vector_parts.append(part.vectors)
            window_ids.extend(part.window_ids)
            pair_ids.extend(part.pair_ids)
            window_count += len(part.windows)
            continue
        own = chunk_transcript(document, first_id=len(chunks))
        rows = [
            (chunk.chunk_id, start, end) for chunk in own for start, end in window_spans(document.raw, chunk)
        ]
        texts = [clean_for_model(document.raw[start:end]) for _, start, end in rows]
        # A changed document is re-embedded only where its words changed.
        known = earlier.vectors_by_text(document.doc_id) if earlier is not None else {}
        if not known and seed_vectors is not None:
            known = seed_vectors(document)
        vectors = np.zeros((len(rows), encoder.dimension), dtype=np.float32)
        for position, text in enumerate(texts):
            vector = known.get(text)
            if vector is None:
                missing_texts.append(text)
                missing_at.append(window_count + position)
            else:
                vectors[position] = vector
        chunks.extend(own)
        window_parts.append(np.array(rows, dtype=np.int64).reshape(-1, 3))
        vector_parts.append(vectors)
        window_ids.extend(store.encode(text) for text in texts)
        pair_ids.extend(store.encode(_pair_text(document, chunk)) for chunk in own)
        window_count += len(rows)
    windows = np.concatenate(window_parts) if window_parts else np.zeros((0, 3), dtype=np.int64)
    vectors = np.concatenate(vector_parts) if vector_parts else np.zeros((0, encoder.dimension), dtype=np.float32)
    if on_total:
        on_total(len(missing_texts))
    if missing_texts:
        vectors[missing_at] = _embed(missing_texts, encoder, batch_size, progress)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        index = vector_index.build(vectors, encoder.dimension)
        faiss.write_index(index, str(staging / VECTORS))
        np.save(staging / WINDOWS, windows, allow_pickle=False)
        LexicalIndex.from_ids(window_ids, store).save(staging / BM25 / "windows")
        LexicalIndex.from_ids(pair_ids, store).save(staging / BM25 / "pairs")
        LexicalIndex.build([document_profile(t) for t in transcripts]).save(staging / BM25 / "documents")
        store.save(staging / TOKENS, {"windows": window_ids, "pairs": pair_ids})
        with open(staging / CHUNKS, "w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(json.dumps(_chunk_to_json(chunk), ensure_ascii=False) + "\n")
        with open(staging / DOCUMENTS, "w", encoding="utf-8") as handle:
            for document in transcripts:
                handle.write(json.dumps(_document_to_json(document), ensure_ascii=False) + "\n")
        seconds = time.perf_counter() - began
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": encoder.name,
            "backend": getattr(encoder, "backend", "torch"),
            "dimension": encoder.dimension,
            # Questions are encoded with the query prompt recorded here, passages were with the document one.
            "prompts": prompts_of(encoder),
            "max_tokens": getattr(encoder, "max_tokens", None),
            "vector_index": vector_index.kind(index),
            "chunk_count": len(chunks),
            "window_count": len(windows),
            "document_count": len(transcripts),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(seconds, 2),
            "pipeline": pipeline_hash(),
            "encoded_windows": len(missing_texts),
            "sources": [str(s) for s in sources],
            "documents": {d.doc_id: {"path": d.path, "sha256": d.content_hash} for d in transcripts},
            "skipped": [asdict(s) for s in skipped],
            "files": file_checksums(staging),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildReport(len(transcripts), len(chunks), tuple(skipped), seconds, out_dir,
                       encoded=len(missing_texts), reused=len(windows) - len(missing_texts))


def _previous_index(out_dir: Path, encoder: object) -> Index | None:
    """The index at ``out_dir`` if it was built by this code with this model and backend."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        if (
            manifest.get("pipeline") != pipeline_hash()
            or manifest.get("backend", "torch") != getattr(encoder, "backend", "torch")
            or manifest.get("dimension") != encoder.dimension
            or (manifest.get("prompts") or NO_PROMPTS) != prompts_of(encoder)
        ):
            return None
        return Index.load(out_dir, model=encoder.name)
    except (OSError, ValueError, IndexLoadError):
        return None


@dataclass(frozen=True)
class _Part:
    chunks: list[Chunk]
    windows: np.ndarray
    vectors: np.ndarray
    window_ids: list[list[int]]
    pair_ids: list[list[int]]


class _Earlier:
    """What a rebuild can take from the previous index, document by document."""

    def __init__(self, index: Index, store: TokenStore, window_ids: list[list[int]], pair_ids: list[list[int]]) -> None:
        self.index = index
        self.store = store
        self.window_ids = window_ids
        self.pair_ids = pair_ids
        self.hashes = index.manifest.get("documents", {})
        self.vectors = index.vectors.reconstruct_n(0, index.vectors.ntotal) if index.vectors.ntotal else np.zeros((0, index.vectors.d), dtype=np.float32)
        # Each document's chunk rows and window positions (both are stored document by document).
        self.rows: dict[str, tuple[int, int]] = {}
        for row, chunk in enumerate(index.chunks):
            first, _ = self.rows.get(chunk.doc_id, (row, row))
            self.rows[chunk.doc_id] = (first, row + 1)
        window_rows = index.windows[:, 0] if len(index.windows) else np.zeros(0, dtype=np.int64)
        self.window_range = {
            doc_id: (int(np.searchsorted(window_rows, first)), int(np.searchsorted(window_rows, last)))
            for doc_id, (first, last) in self.rows.items()
        }

    @classmethod
    def of(cls, index: Index) -> _Earlier | None:
        if index.directory is None:
            return None
        try:
            store, parts = TokenStore.load(index.directory / TOKENS, ("windows", "pairs"))
        except (OSError, ValueError):
            return None
        if len(parts["windows"]) != len(index.windows) or len(parts["pairs"]) != len(index.chunks):
            return None
        return cls(index, store, parts["windows"], parts["pairs"])

    def document(self, doc_id: str, first_row: int) -> _Part:
        first, last = self.rows.get(doc_id, (0, 0))
        low, high = self.window_range.get(doc_id, (0, 0))
        shift = first_row - first
        chunks = self.index.chunks[first:last]
        if shift:
            chunks = [replace(chunk, chunk_id=chunk.chunk_id + shift) for chunk in chunks]
        windows = self.index.windows[low:high].copy()
        windows[:, 0] += shift
        return _Part(list(chunks), windows, self.vectors[low:high], self.window_ids[low:high], self.pair_ids[first:last])

    def vectors_by_text(self, doc_id: str) -> dict[str, np.ndarray]:
        """The previous version of a document's window vectors, by the text they embed."""
        if doc_id not in self.window_range:
            return {}
        low, high = self.window_range[doc_id]
        raw = self.index.documents[doc_id].raw
        return {clean_for_model(raw[start:end]): self.vectors[low + i] for i, (_, start, end) in enumerate(self.index.windows[low:high])}


def _pair_text(document: Transcript, chunk: Chunk) -> str:
    """A passage with the reporter's question it answers in front, for the pair BM25."""
    text = clean_for_model(chunk.text)
    if chunk.question_turn is None:
        return text
    question = document.turns[chunk.question_turn]
    return clean_for_model(document.raw[question.start : question.end]) + " " + text


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Make ``out_dir`` point at the finished build in one atomic step.

    ``out_dir`` is a symbolic link to a versioned folder beside it; the link is replaced with
    ``os.replace``, which is atomic, so a reader sees the old index or the new one and a build
    killed at any moment leaves the old one in place. The version before the previous one is
    deleted (the previous one may still be being read by a server reloading it).
    """
    if out_dir.exists() and not out_dir.is_symlink() and not (out_dir / MANIFEST).exists() and any(out_dir.iterdir()):
        raise IndexLoadError(f"{out_dir} exists and is not an index (no {MANIFEST}); refusing to replace it")
    version = out_dir.with_name(f".{out_dir.name}.v-{time.time_ns()}")
    staging.rename(version)
    if out_dir.exists() and not out_dir.is_symlink():
        # An index written by an older version of this program, as a plain folder: moved aside once.
        out_dir.rename(out_dir.with_name(f".{out_dir.name}.v-0-plain"))
    link = out_dir.with_name(f".{out_dir.name}.link-{os.getpid()}")
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)
    os.replace(link, out_dir)
    versions = sorted(out_dir.parent.glob(f".{out_dir.name}.v-*"), key=lambda p: p.name)
    for stale in versions[:-2]:
        shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def build_lock(out_dir: Path, wait: bool = True):
    """Serialise builds of one index: a second build waits (or, with ``wait=False``, fails)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir.with_name(f".{out_dir.name}.lock")
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise IndexLoadError(f"another build of {out_dir} is running (lock {lock_path})") from None
            print(f"waiting for another build of {out_dir} to finish ...", file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def _embed(texts: list[str], encoder: object, batch_size: int, progress: Callable[[int], None] | None) -> np.ndarray:
    vectors = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    # Encode in order of length so that each batch pads little; put the rows back afterwards.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    step = max(batch_size * 8, 1)
    for first in range(0, len(order), step):
        rows = order[first : first + step]
        vectors[rows] = encoder.encode([texts[i] for i in rows], batch_size=batch_size)
        if progress:
            progress(len(rows))
    return vectors


def _top(scores: np.ndarray, depth: int) -> np.ndarray:
    finite = np.isfinite(scores)
    depth = min(depth, int(finite.sum()))
    if depth == 0:
        return np.zeros(0, dtype=np.int64)
    masked = np.where(finite, scores, -np.inf)
    return np.argpartition(-masked, depth - 1)[:depth]
