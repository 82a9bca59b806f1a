"""The Milvus publisher: an embedded index written as a new generation, the alias moved to it.

The collections and the generation protocol are described in ``qa.stores.milvus`` (the store a
server reads). Here: their schemas and index parameters, ``publish`` (fill a generation, move
the alias in one step, drop generations older than the previous one), what a generation was
made from (``source_digest``, ``published_digest``), and ``seed_vectors``, which lends a
published generation's vectors to a build that has no local index folder.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from qa import vectors as vector_index
from qa.chunking import Chunk
from qa.lexical import tokenize
from qa.stores.milvus import (
    DEFAULT_PREFIX, KINDS, SCHEMA_VERSION, TIMEOUT, MilvusStore, escape, collection_name, read_blob, check_prefix, connect,
    current_generation,
)
from qa.stores.seam import IndexLoadError, StoreUnavailable
from qa.transcripts import Transcript, turn_rows

if TYPE_CHECKING:
    from qa.embedding import TextEncoder
    from qa.stores.embedded import Index

_MAX_TEXT = 65535  # Milvus's longest VARCHAR, in bytes
_BLOB_PART = 16000  # characters: at most 64,000 bytes of UTF-8
_PLACEHOLDER_DIM = 2  # Milvus wants a vector field in every collection
_BATCH = 1000


def _schemas(client, dimension: int) -> dict:
    from pymilvus import DataType, Function, FunctionType

    def base(primary: DataType, **options):
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", primary, is_primary=True, **options)
        return schema

    def analysed(schema):
        schema.add_field("tokens", DataType.VARCHAR, max_length=_MAX_TEXT, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("length", DataType.INT64)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["tokens"], output_field_names=["sparse"]))

    def filterable(schema):
        schema.add_field("doc", DataType.INT64)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=512)
        schema.add_field("speaker", DataType.VARCHAR, max_length=1024)
        schema.add_field("speaker_key", DataType.VARCHAR, max_length=1024)
        schema.add_field("is_question", DataType.BOOL)
        schema.add_field("date", DataType.VARCHAR, max_length=16)

    def placeholder(schema):
        schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=_PLACEHOLDER_DIM)

    windows = base(DataType.INT64)
    windows.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    analysed(windows)
    filterable(windows)
    windows.add_field("chunk", DataType.INT64)
    windows.add_field("start", DataType.INT64)
    windows.add_field("end", DataType.INT64)

    chunks = base(DataType.INT64)
    analysed(chunks)
    filterable(chunks)
    chunks.add_field("chunk", DataType.VARCHAR, max_length=_MAX_TEXT)
    chunks.add_field("first_window", DataType.INT64)
    chunks.add_field("window_count", DataType.INT64)

    documents = base(DataType.VARCHAR, max_length=512)
    for name in ("doc_id", "path", "title", "source", "url", "format", "content_hash"):
        documents.add_field(name, DataType.VARCHAR, max_length=4096)
    documents.add_field("copies", DataType.VARCHAR, max_length=_MAX_TEXT)  # JSON: [[path, url], ...]
    documents.add_field("number", DataType.INT64)
    documents.add_field("date", DataType.VARCHAR, max_length=16)
    documents.add_field("tokens", DataType.VARCHAR, max_length=_MAX_TEXT)
    placeholder(documents)

    terms = base(DataType.VARCHAR, max_length=1024)
    terms.add_field("token", DataType.VARCHAR, max_length=1024)
    for name in ("windows", "pairs", "documents"):
        terms.add_field(name, DataType.INT64)
    placeholder(terms)

    blobs = base(DataType.VARCHAR, max_length=1200)
    blobs.add_field("name", DataType.VARCHAR, max_length=1024)
    blobs.add_field("part", DataType.INT64)
    blobs.add_field("text", DataType.VARCHAR, max_length=_MAX_TEXT)
    placeholder(blobs)
    return {"windows": windows, "chunks": chunks, "documents": documents, "terms": terms, "blobs": blobs}


def _index_params(client, kind: str, windows: int):
    params = client.prepare_index_params()
    if kind == "windows" and windows <= vector_index.IVF_THRESHOLD:
        # Exact search, as the embedded store below the same size: the two rank alike.
        params.add_index("vector", index_type="FLAT", metric_type="IP")
    elif kind == "windows":
        params.add_index("vector", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200})
    if kind in ("windows", "chunks"):
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    else:
        params.add_index("placeholder", index_type="FLAT", metric_type="L2")
    return params


def _clip(text: str) -> str:
    """At most 65,535 bytes of UTF-8, cut at a word."""
    data = text.encode("utf-8")
    if len(data) <= _MAX_TEXT:
        return text
    return data[:_MAX_TEXT].decode("utf-8", errors="ignore").rsplit(" ", 1)[0]


def source_digest(manifest: dict) -> str:
    """What a published generation was made from: the code, model, backend and documents."""
    import hashlib

    basis = {key: manifest.get(key) for key in ("pipeline", "model", "backend", "dimension", "documents")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:24]


def published_digest(uri: str, prefix: str) -> str | None:
    blobs = current_generation(uri, prefix)
    if blobs is None:
        return None
    try:
        return json.loads(read_blob(connect(uri), blobs, "manifest")).get("source_digest")
    except Exception:
        return None


def publish(index: Index, uri: str, prefix: str = DEFAULT_PREFIX, progress=None, shards: int | None = None,
            replicas: int | None = None) -> dict:
    """Write ``index`` (an embedded index, with its vectors and tokens) as a new generation and
    move the alias to it. Returns what was done (generation, rows, seconds).

    ``shards`` (the windows and chunks collections; default Milvus's) spread a publish's inserts
    and the archive's segments; ``replicas`` (default 1) are the in-memory copies each search
    can be served from, for query load. milvus-lite accepts both and has one of each.
    """
    from qa.stores.embedded import TOKENS, document_profile
    from qa.lexical import TokenStore

    check_prefix(prefix)
    began = time.perf_counter()
    client = connect(uri)
    generation = f"g{time.time_ns()}"
    if index.directory is None:
        raise ValueError("only an index loaded from its folder can be published (it needs its tokens/)")
    store, parts = TokenStore.load(index.directory / TOKENS, ("windows", "pairs"))
    vocab = store.vocab
    created = []
    try:
        for kind, schema in _schemas(client, int(index.manifest["dimension"])).items():
            name = collection_name(prefix, kind, generation)
            sharding = {"num_shards": shards} if shards and kind in ("windows", "chunks") else {}
            client.create_collection(name, schema=schema, index_params=_index_params(client, kind, len(index.windows)),
                                     timeout=60, **sharding)
            created.append(name)
        placeholder = [0.0] * _PLACEHOLDER_DIM

        def insert(kind: str, rows: Iterable[dict]) -> None:
            # Rows are made batch by batch: 46,217 windows as Python lists at once took 1.8 GB.
            batch, written = [], 0
            for row in rows:
                batch.append(row)
                if len(batch) == _BATCH:
                    client.insert(collection_name(prefix, kind, generation), batch, timeout=120)
                    written, batch = written + len(batch), []
                    if progress:
                        progress(kind, written)
            if batch:
                client.insert(collection_name(prefix, kind, generation), batch, timeout=120)

        def filter_fields(chunk: Chunk) -> dict:
            document = index.documents[chunk.doc_id]
            return {"doc": index.doc_number[chunk.doc_id], "doc_id": chunk.doc_id, "speaker": chunk.speaker or "",
                    "speaker_key": (chunk.speaker or "").casefold(), "is_question": bool(chunk.is_question),
                    "date": document.date or ""}

        chunk_filters = [filter_fields(chunk) for chunk in index.chunks]
        window_tokens = parts["windows"]

        def window_rows() -> Iterator[dict]:
            vectors = np.zeros((0, 0), dtype=np.float32)
            for number, (row, start, end) in enumerate(index.windows.tolist()):
                if number % _BATCH == 0:
                    vectors = index.vectors.reconstruct_n(number, min(_BATCH, len(index.windows) - number))
                ids = window_tokens[number]
                yield {
                    "id": number, "vector": vectors[number % _BATCH].astype(np.float32).tolist(),
                    "tokens": _clip(" ".join(vocab[i] for i in ids)), "length": len(ids),
                    **chunk_filters[row], "chunk": row, "start": start, "end": end,
                }

        insert("windows", window_rows())
        first_window = np.searchsorted(index.window_chunk, np.arange(len(index.chunks)), side="left")
        last_window = np.searchsorted(index.window_chunk, np.arange(len(index.chunks)), side="right")

        def chunk_rows() -> Iterator[dict]:
            for row, chunk in enumerate(index.chunks):
                ids = parts["pairs"][row]
                yield {
                    "id": row, "tokens": _clip(" ".join(vocab[i] for i in ids)), "length": len(ids), **chunk_filters[row],
                    "chunk": _clip(chunk.to_json()),
                    "first_window": int(first_window[row]), "window_count": int(last_window[row] - first_window[row]),
                }

        insert("chunks", chunk_rows())

        document_rows, blob_rows, profile_lengths = [], [], []
        for number, doc_id in enumerate(index.doc_ids):
            document = index.documents[doc_id]
            profile = tokenize(document_profile(document)) or [""]
            profile_lengths.append(len(profile))
            document_rows.append({
                "id": doc_id, "doc_id": doc_id, "number": number, "path": document.path, "title": document.title,
                "source": document.source or "", "url": document.url or "", "format": document.format,
                "content_hash": document.content_hash, "date": document.date or "",
                "copies": json.dumps(document.copies, ensure_ascii=False),
                "tokens": _clip(" ".join(profile)), "placeholder": placeholder,
            })
            blob_rows.extend(_blob_rows(f"raw:{doc_id}", document.raw, placeholder))
            blob_rows.extend(_blob_rows(f"turns:{doc_id}", json.dumps(turn_rows(document.turns), ensure_ascii=False), placeholder))
        insert("documents", document_rows)

        frequencies: dict[str, dict[str, int]] = {}
        for part in ("windows", "pairs", "documents"):
            for token, df in index.lexical[part].document_frequencies().items():
                frequencies.setdefault(token, {"windows": 0, "pairs": 0, "documents": 0})[part] = df
        insert("terms", [{"id": token, "token": token, **counts, "placeholder": placeholder}
                         for token, counts in frequencies.items() if len(token.encode()) <= 1000])

        def stats(lengths: Sequence[int]) -> dict:
            return {"count": len(lengths), "average_length": float(np.mean(lengths)) if len(lengths) else 1.0}

        manifest = {
            key: index.manifest.get(key)
            for key in ("format_version", "model", "backend", "dimension", "prompts", "max_tokens", "chunk_count", "window_count",
                        "document_count", "built_at", "pipeline", "sources")
        }
        manifest.update({
            "schema_version": SCHEMA_VERSION, "generation": generation, "source_digest": source_digest(index.manifest),
            "shards": shards, "replicas": replicas,
            "speakers": index.speakers,
            "statistics": {"windows": stats([len(r) for r in parts["windows"]]), "pairs": stats([len(r) for r in parts["pairs"]]),
                           "documents": stats(profile_lengths)},
            "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        insert("blobs", blob_rows)
        # The manifest last: a generation without one was never finished.
        insert("blobs", _blob_rows("manifest", json.dumps(manifest, ensure_ascii=False), placeholder))
        for name in created:
            # Flushed segments are searched far faster than growing ones (20k rows: 36 ms, not 650).
            client.flush(name, timeout=300)
            client.load_collection(name, timeout=300, **({"replica_number": replicas} if replicas else {}))
        # One step moves every reader to the new generation.
        blobs = collection_name(prefix, "blobs", generation)
        served = current_generation(uri, prefix)
        previous = served.removeprefix(f"{prefix}_blobs_") if served else None
        if prefix in client.list_aliases(timeout=TIMEOUT).get("aliases", []):
            client.alter_alias(blobs, prefix, timeout=TIMEOUT)
        else:
            client.create_alias(blobs, prefix, timeout=TIMEOUT)
    except BaseException:
        for name in created:
            try:
                client.drop_collection(name, timeout=TIMEOUT)
            except Exception:
                pass
        raise
    dropped = drop_old_generations(client, prefix, keep={generation, previous} - {None})
    return {"generation": generation, "windows": len(index.windows), "chunks": len(index.chunks),
            "documents": len(index.doc_ids), "seconds": time.perf_counter() - began, "dropped": dropped}


def _blob_rows(name: str, text: str, placeholder: list[float]) -> list[dict]:
    pieces = [text[i : i + _BLOB_PART] for i in range(0, len(text), _BLOB_PART)] or [""]
    return [{"id": f"{name}#{n}", "name": name, "part": n, "text": piece, "placeholder": placeholder}
            for n, piece in enumerate(pieces)]


def drop_old_generations(client, prefix: str, keep: set[str]) -> list[str]:
    """Drop every generation of ``prefix`` but those in ``keep`` (the one now served and the one
    served before, which readers may still be on), including those of publishes that were killed."""
    pattern = re.compile(rf"{re.escape(prefix)}_({'|'.join(KINDS)})_(g\d+)")
    dropped = []
    for name in client.list_collections(timeout=TIMEOUT):
        match = pattern.fullmatch(name)
        if match and match.group(2) not in keep:
            client.drop_collection(name, timeout=TIMEOUT)
            dropped.append(name)
    return dropped


def seed_vectors(uri: str, prefix: str, encoder: TextEncoder):
    """For a build with no local folder: a document -> {window text: vector} from the generation the
    alias serves, when it was embedded by the same model and backend (None: nothing to reuse)."""
    from qa.chunking import clean_for_model

    try:
        store = MilvusStore.open(uri, prefix, model=encoder.name)
    except (IndexLoadError, StoreUnavailable):
        return None
    if store.encoder_backend != encoder.backend or store.manifest.get("dimension") != encoder.dimension:
        return None

    def vectors_of(document: Transcript) -> dict[str, np.ndarray]:
        if document.doc_id not in store.doc_number:
            return {}
        raw = store.transcript(document.doc_id).raw
        rows = store.call("query", store.collection("windows"), filter=f"doc_id == {escape(document.doc_id)}",
                           output_fields=["start", "end", "vector"])
        return {clean_for_model(raw[row["start"] : row["end"]]): np.asarray(row["vector"], dtype=np.float32) for row in rows}

    return vectors_of
