"""The build pipeline: transcripts -> chunks -> sentences and windows -> vectors -> the embedded store's files.

``build_index`` parses, chunks and embeds every transcript below the sources and writes the
folder that ``qa.stores.embedded.Index`` loads, reusing what an earlier index built by the same
code and model already holds (its vectors and tokens, document by document); the finished build
is swapped into place atomically, under a lock.
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
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from qa.answer_types import kinds_present
from qa.chunking import Chunk, chunk_transcript, clean_for_model, window_spans
from qa.embedding import NO_PROMPTS, TextEncoder
from qa import vectors as vector_index
from qa.lexical import LexicalIndex, TokenStore
from qa.stores.embedded import (
    BM25, CHUNKS, DOCUMENTS, FORMAT_VERSION, MANIFEST, SENTENCES, TOKENS, VECTORS, WINDOWS, Index, document_profile,
    file_checksums,
)
from qa.stores.seam import IndexLoadError
from qa.text import sentence_spans
from qa.readers import load_folder
from qa.transcripts import Skipped, Transcript


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
_PIPELINE_FILES = ("transcripts.py", "text.py", "chunking.py", "answer_types.py", "lexical.py", "build.py",
                   "stores/embedded.py", "vectors.py", "readers/__init__.py", "readers/web_page.py",
                   "readers/pdf.py", "readers/captions.py")


def pipeline_hash() -> str:
    digest = hashlib.sha256()
    for name in _PIPELINE_FILES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


def build_index(sources: Iterable[Path], out_dir: Path, encoder: TextEncoder, wait: bool = True, **options) -> BuildReport:
    """Build under the index's lock (see ``_build``), clearing what killed builds left behind."""
    out_dir = Path(out_dir)
    with build_lock(out_dir, wait=wait):
        for leftover in out_dir.parent.glob(f".{out_dir.name}.building-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        return _build(sources, out_dir, encoder, **options)


def _build(
    sources: Iterable[Path],
    out_dir: Path,
    encoder: TextEncoder,
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
    hashes = {d.doc_id: {"path": d.path, "sha256": d.content_hash, **({"copies": [p for p, _ in d.copies]} if d.copies else {})}
              for d in transcripts}
    if previous is not None and previous.manifest.get("documents") == hashes:
        # Same code, same model, same documents: the index on disk is what a rebuild would write.
        return BuildReport(len(transcripts), len(previous.chunks), tuple(skipped), time.perf_counter() - began,
                           out_dir, reused=len(previous.windows), up_to_date=True)
    # 1. Each document's passages, windows, sentences and tokens: an unchanged one's as they were.
    earlier = _Earlier.of(previous) if previous is not None else None
    parts = _Parts(earlier.store if earlier is not None else TokenStore(), encoder.dimension)
    for document in transcripts:
        if earlier is not None and earlier.hashes.get(document.doc_id) == hashes[document.doc_id]:
            parts.add(earlier.document(document.doc_id, first_row=len(parts.chunks)))
            continue
        # A changed document is re-embedded only where its words changed.
        known = earlier.vectors_by_text(document.doc_id) if earlier is not None else {}
        if not known and seed_vectors is not None:
            known = seed_vectors(document)
        parts.add(_new_part(document, parts.store, len(parts.chunks), known, encoder.dimension))
    # 2. The windows no earlier index or store lends a vector for, embedded.
    vectors = parts.vectors()
    missing_at, missing_texts = parts.missing()
    if on_total:
        on_total(len(missing_texts))
    if missing_texts:
        vectors[missing_at] = _embed(missing_texts, encoder, batch_size, progress)
    # 3. The files, written beside the index and swapped into place.
    seconds = _write(out_dir, parts, vectors, transcripts, began, lambda seconds, files: {
        "format_version": FORMAT_VERSION,
        "model": encoder.name,
        "backend": encoder.backend,
        "dimension": encoder.dimension,
        # Questions are encoded with the query prompt recorded here, passages were with the document one.
        "prompts": encoder.prompts,
        "max_tokens": encoder.max_tokens,
        "vector_index": files["vector_index"],
        "chunk_count": len(parts.chunks),
        "window_count": len(vectors),
        "document_count": len(transcripts),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 2),
        "pipeline": pipeline_hash(),
        "encoded_windows": len(missing_texts),
        "sources": [str(s) for s in sources],
        "documents": hashes,
        "skipped": [asdict(s) for s in skipped],
        "files": files["checksums"],
    })
    return BuildReport(len(transcripts), len(parts.chunks), tuple(skipped), seconds, out_dir,
                       encoded=len(missing_texts), reused=len(vectors) - len(missing_texts))


def _new_part(document: Transcript, store: TokenStore, first_row: int, known: dict[str, np.ndarray],
              dimension: int) -> _Part:
    """A new or changed document's passages, windows, sentences and tokens; its windows' vectors
    where ``known`` (window text -> vector) has them, the others listed as missing."""
    own = chunk_transcript(document, first_id=first_row)
    # Each passage's sentences, split once: the windows are runs of them, and the answer and
    # the highlights read them (with their words) instead of splitting per question.
    sentences = [(chunk, sentence_spans(document.raw, chunk.start, chunk.end)) for chunk in own]
    rows = [
        (chunk.chunk_id, start, end) for chunk, spans in sentences
        for start, end in window_spans(document.raw, chunk, sentences=spans)
    ]
    sentence_rows = [(chunk.chunk_id, start, end, kinds_present(document.raw[start:end]))
                     for chunk, spans in sentences for start, end in spans]
    texts = [clean_for_model(document.raw[start:end]) for _, start, end in rows]
    vectors = np.zeros((len(rows), dimension), dtype=np.float32)
    missing = []
    for position, text in enumerate(texts):
        vector = known.get(text)
        if vector is None:
            missing.append((position, text))
        else:
            vectors[position] = vector
    return _Part(
        chunks=own,
        windows=np.array(rows, dtype=np.int64).reshape(-1, 3),
        vectors=vectors,
        window_ids=[store.encode(text) for text in texts],
        pair_ids=[store.encode(_pair_text(document, chunk)) for chunk in own],
        sentences=np.array(sentence_rows, dtype=np.int64).reshape(-1, 4),
        sentence_ids=[store.encode(document.raw[start:end]) for _, start, end, _ in sentence_rows],
        missing=tuple(missing),
    )


def _write(out_dir: Path, parts: _Parts, vectors: np.ndarray, transcripts: list[Transcript], began: float,
           manifest_of: Callable[[float, dict], dict]) -> float:
    """Write the index's files to a folder beside ``out_dir``, the manifest last, and swap it into
    place; returns the build's seconds. ``manifest_of(seconds, files)`` gives the manifest."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        index = vector_index.build(vectors, vectors.shape[1])
        faiss.write_index(index, str(staging / VECTORS))
        np.save(staging / WINDOWS, parts.table("windows"), allow_pickle=False)
        np.save(staging / SENTENCES, parts.table("sentences"), allow_pickle=False)
        LexicalIndex.from_ids(parts.window_ids, parts.store).save(staging / BM25 / "windows")
        LexicalIndex.from_ids(parts.pair_ids, parts.store).save(staging / BM25 / "pairs")
        LexicalIndex.build([document_profile(t) for t in transcripts]).save(staging / BM25 / "documents")
        parts.store.save(staging / TOKENS, {"windows": parts.window_ids, "pairs": parts.pair_ids,
                                             "sentences": parts.sentence_ids})
        with open(staging / CHUNKS, "w", encoding="utf-8") as handle:
            for chunk in parts.chunks:
                handle.write(chunk.to_json() + "\n")
        with open(staging / DOCUMENTS, "w", encoding="utf-8") as handle:
            for document in transcripts:
                handle.write(json.dumps(document.to_record(), ensure_ascii=False) + "\n")
        seconds = time.perf_counter() - began
        manifest = manifest_of(seconds, {"vector_index": vector_index.kind(index), "checksums": file_checksums(staging)})
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return seconds


def _previous_index(out_dir: Path, encoder: TextEncoder) -> Index | None:
    """The index at ``out_dir`` if it was built by this code with this model and backend."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        if (
            manifest.get("pipeline") != pipeline_hash()
            or manifest.get("backend", "torch") != encoder.backend
            or manifest.get("dimension") != encoder.dimension
            or (manifest.get("prompts") or NO_PROMPTS) != encoder.prompts
        ):
            return None
        return Index.load(out_dir, model=encoder.name)
    except (OSError, ValueError, IndexLoadError):
        return None


@dataclass(frozen=True)
class _Part:
    """One document's share of the index (rows numbered from where it stands in the index)."""

    chunks: list[Chunk]
    windows: np.ndarray  # (chunk row, start, end) per window
    vectors: np.ndarray
    window_ids: list[list[int]]
    pair_ids: list[list[int]]
    sentences: np.ndarray  # (chunk row, start, end, answer kinds) per sentence
    sentence_ids: list[list[int]]
    missing: tuple[tuple[int, str], ...] = ()  # (window position, text) still to embed


class _Parts:
    """The documents' parts in index order, joined into the index's tables."""

    def __init__(self, store: TokenStore, dimension: int) -> None:
        self.store = store
        self.dimension = dimension
        self.parts: list[_Part] = []
        self.chunks: list[Chunk] = []
        self.window_ids: list[list[int]] = []
        self.pair_ids: list[list[int]] = []
        self.sentence_ids: list[list[int]] = []

    def add(self, part: _Part) -> None:
        self.parts.append(part)
        self.chunks.extend(part.chunks)
        self.window_ids.extend(part.window_ids)
        self.pair_ids.extend(part.pair_ids)
        self.sentence_ids.extend(part.sentence_ids)

    def table(self, name: str) -> np.ndarray:
        """The windows (3 columns) or sentences (4) of every part, one table."""
        width = {"windows": 3, "sentences": 4}[name]
        tables = [getattr(part, name) for part in self.parts]
        return np.concatenate(tables) if tables else np.zeros((0, width), dtype=np.int64)

    def vectors(self) -> np.ndarray:
        tables = [part.vectors for part in self.parts]
        return np.concatenate(tables) if tables else np.zeros((0, self.dimension), dtype=np.float32)

    def missing(self) -> tuple[list[int], list[str]]:
        """The index positions and texts of the windows still to embed."""
        positions, texts, offset = [], [], 0
        for part in self.parts:
            for position, text in part.missing:
                positions.append(offset + position)
                texts.append(text)
            offset += len(part.windows)
        return positions, texts


class _Earlier:
    """What a rebuild can take from the previous index, document by document."""

    def __init__(self, index: Index, store: TokenStore, window_ids: list[list[int]], pair_ids: list[list[int]],
                 sentence_ids: list[list[int]]) -> None:
        self.index = index
        self.store = store
        self.window_ids = window_ids
        self.pair_ids = pair_ids
        self.sentence_ids = sentence_ids
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
        sentence_rows = index.sentence_table.row_of
        self.sentence_range = {
            doc_id: (int(np.searchsorted(sentence_rows, first)), int(np.searchsorted(sentence_rows, last)))
            for doc_id, (first, last) in self.rows.items()
        }

    @classmethod
    def of(cls, index: Index) -> _Earlier | None:
        if index.directory is None:
            return None
        try:
            store, parts = TokenStore.load(index.directory / TOKENS, ("windows", "pairs", "sentences"))
        except (OSError, ValueError):
            return None
        if (len(parts["windows"]) != len(index.windows) or len(parts["pairs"]) != len(index.chunks)
                or len(parts["sentences"]) != len(index.sentence_table.rows)):
            return None
        return cls(index, store, parts["windows"], parts["pairs"], parts["sentences"])

    def document(self, doc_id: str, first_row: int) -> _Part:
        first, last = self.rows.get(doc_id, (0, 0))
        low, high = self.window_range.get(doc_id, (0, 0))
        shift = first_row - first
        chunks = self.index.chunks[first:last]
        if shift:
            chunks = [replace(chunk, chunk_id=chunk.chunk_id + shift) for chunk in chunks]
        windows = self.index.windows[low:high].copy()
        windows[:, 0] += shift
        sentence_low, sentence_high = self.sentence_range.get(doc_id, (0, 0))
        sentences = self.index.sentence_table.rows[sentence_low:sentence_high].copy()
        sentences[:, 0] += shift
        return _Part(list(chunks), windows, self.vectors[low:high], self.window_ids[low:high], self.pair_ids[first:last],
                     sentences, self.sentence_ids[sentence_low:sentence_high])

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

# Texts are sorted by length this many batches at a time, so that a batch pads little while the
# progress still moves (and one sort does not hold the whole corpus's texts twice).
BATCHES_PER_SORT = 8


def _embed(texts: list[str], encoder: TextEncoder, batch_size: int, progress: Callable[[int], None] | None) -> np.ndarray:
    vectors = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    # Encode in order of length so that each batch pads little; put the rows back afterwards.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    step = max(batch_size * BATCHES_PER_SORT, 1)
    for first in range(0, len(order), step):
        rows = order[first : first + step]
        vectors[rows] = encoder.encode([texts[i] for i in rows], batch_size=batch_size)
        if progress:
            progress(len(rows))
    return vectors
