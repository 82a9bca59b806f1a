"""The on-disk index: FAISS vectors, the chunk table, the documents and a manifest, in one folder.

Files (all plain and documented, so anyone can open them with standard tools):

- ``manifest.json``: format version, model, dimension, counts, build time, each document's hash.
- ``vectors.faiss``: a FAISS inner-product index over unit vectors; row ``i`` is chunk ``i``.
- ``chunks.jsonl``: one JSON object per chunk, in row order.
- ``documents.jsonl``: one JSON object per document: metadata, turns and the raw text the
  citations point into (a copy, so citations stay right even if the source file changes later).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from qa.chunking import Chunk, chunk_all, embedding_text
from qa.transcripts import Skipped, Transcript, Turn, load_folder

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
CHUNKS = "chunks.jsonl"
DOCUMENTS = "documents.jsonl"


class IndexLoadError(RuntimeError):
    """An index that is missing, unreadable, or built with another model or format."""


@dataclass(frozen=True)
class BuildReport:
    documents: int
    chunks: int
    skipped: tuple[Skipped, ...]
    seconds: float
    out_dir: Path


class Index:
    """A loaded index: documents by id, chunks by row, and the vector index."""

    def __init__(self, manifest: dict, documents: dict[str, Transcript], chunks: list[Chunk], vectors: faiss.Index) -> None:
        self.manifest = manifest
        self.documents = documents
        self.chunks = chunks
        self.vectors = vectors

    @property
    def model(self) -> str:
        return str(self.manifest["model"])

    def search_vectors(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest chunks to one unit query vector, as ``(row, cosine)``, best first."""
        if not self.chunks:
            return []
        k = min(k, len(self.chunks))
        scores, rows = self.vectors.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        return [(int(row), float(score)) for row, score in zip(rows[0], scores[0]) if row >= 0]

    @classmethod
    def load(cls, directory: Path, model: str | None = None) -> Index:
        """Load an index, refusing one built for another format version or (if given) model."""
        directory = Path(directory)
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
        try:
            documents = {}
            with open(directory / DOCUMENTS, encoding="utf-8") as handle:
                for line in handle:
                    document = _document_from_json(json.loads(line))
                    documents[document.doc_id] = document
            with open(directory / CHUNKS, encoding="utf-8") as handle:
                chunks = [Chunk(**json.loads(line)) for line in handle]
            vectors = faiss.read_index(str(directory / VECTORS))
        except (OSError, ValueError, TypeError, RuntimeError) as error:
            raise IndexLoadError(f"the index at {directory} is damaged or incomplete: {error}") from None
        if vectors.ntotal != len(chunks) or manifest.get("chunk_count") != len(chunks):
            raise IndexLoadError(
                f"the index at {directory} is inconsistent: {vectors.ntotal} vectors, {len(chunks)} chunks, "
                f"manifest says {manifest.get('chunk_count')}: rebuild it"
            )
        if vectors.d != manifest.get("dimension"):
            raise IndexLoadError(f"the index at {directory} has vectors of dimension {vectors.d}, manifest says {manifest.get('dimension')}")
        return cls(manifest, documents, chunks, vectors)


def _document_to_json(document: Transcript) -> dict:
    record = asdict(document)
    record["turns"] = [[t.speaker, t.start, t.end, t.is_question, t.question_turn] for t in document.turns]
    return record


def _document_from_json(record: dict) -> Transcript:
    turns = tuple(
        Turn(index=i, speaker=speaker, start=start, end=end, is_question=is_question, question_turn=question_turn)
        for i, (speaker, start, end, is_question, question_turn) in enumerate(record.pop("turns"))
    )
    return Transcript(turns=turns, **record)


def build_index(
    sources: Iterable[Path],
    out_dir: Path,
    encoder: object,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> BuildReport:
    """Parse, chunk and embed every transcript below ``sources`` and write the index to ``out_dir``.

    ``encoder`` has ``name``, ``dimension`` and ``encode(texts, batch_size)``. The index is written
    to a temporary folder beside ``out_dir`` and moved into place at the end, so a failed build
    never leaves a half-written index where a good one was.
    """
    began = time.perf_counter()
    transcripts, skipped = load_folder(list(sources))
    chunks = chunk_all(transcripts)
    if on_total:
        on_total(len(chunks))
    vectors = _embed(chunks, encoder, batch_size, progress)

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.building-", dir=out_dir.parent))
    try:
        flat = faiss.IndexFlatIP(encoder.dimension)
        if len(vectors):
            flat.add(vectors)
        faiss.write_index(flat, str(staging / VECTORS))
        with open(staging / CHUNKS, "w", encoding="utf-8") as handle:
            for chunk in chunks:
                handle.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        with open(staging / DOCUMENTS, "w", encoding="utf-8") as handle:
            for document in transcripts:
                handle.write(json.dumps(_document_to_json(document), ensure_ascii=False) + "\n")
        seconds = time.perf_counter() - began
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": encoder.name,
            "dimension": encoder.dimension,
            "chunk_count": len(chunks),
            "document_count": len(transcripts),
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(seconds, 2),
            "sources": [str(Path(s)) for s in sources],
            "documents": {d.doc_id: {"path": d.path, "sha256": d.content_hash} for d in transcripts},
            "skipped": [asdict(s) for s in skipped],
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildReport(len(transcripts), len(chunks), tuple(skipped), seconds, out_dir)


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    if out_dir.exists() and not (out_dir / MANIFEST).exists() and any(out_dir.iterdir()):
        raise IndexLoadError(
            f"{out_dir} exists and is not an index (no {MANIFEST}); refusing to replace it"
        )
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{int(time.time() * 1000)}")
        out_dir.rename(old)
    staging.rename(out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _embed(chunks: list[Chunk], encoder: object, batch_size: int, progress: Callable[[int], None] | None) -> np.ndarray:
    texts = [embedding_text(chunk) for chunk in chunks]
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
