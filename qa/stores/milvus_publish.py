"""The Milvus publisher: an embedded index sent to Milvus briefing by briefing, or as a new generation.

The collections, keys and the visibility rule are described in ``qa.stores.milvus`` (the store a
server reads). ``publish`` runs as named steps a reader can follow:

1. ``plan``: compare the index with the manifest served now, briefing by briefing (each one's
   digest of its manifest entry: path and SHA-256), and decide between a new generation (the
   schema, encoder, pipeline or vector index kind changed, most briefings changed, or ``full``)
   and a publish by briefing (new, changed and removed ones only).
2. ``collections``: create a new generation's five collections, or, for a publish by briefing,
   delete what a killed publish left (rows above the served manifest's last slot, its terms)
   and finish the clean-up the previous publish owed.
3. ``rows``: the rows of each new or changed briefing under a fresh slot (windows with
   vectors, passages, the documents row, the raw text, turns and words as blobs).
4. ``statistics``: the document frequencies of every word those briefings (and the replaced or
   removed ones) hold, tagged with this publish's number; the corpus statistics go in the manifest.
5. ``flush``: the rows written are flushed (and a new generation loaded) before any reader may use them.
6. ``switch``: the manifest in a new small collection, then the alias moved to it in one step.
7. ``clean-up``: rows hidden since the publish before, superseded terms, manifests and
   generations older than the previous one, deleted.

Also: what a publish was made from (``source_digest``, ``published_digest``), and
``seed_vectors``, which lends a published generation's vectors to a build that has no local
index folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from qa import vectors as vector_index
from qa.lexical import TokenStore, tokenize
from qa.stores.milvus import (
    DEFAULT_PREFIX, KINDS, SCHEMA_VERSION, TIMEOUT, MilvusStore, check_prefix, collection_name, connect,
    current_generation, escape, manifest_name, parse_manifest_name, read_blob, read_manifest,
)
from qa.stores.milvus_slots import row_key
from qa.stores.seam import IndexLoadError, StoreUnavailable
from qa.transcripts import Transcript, turn_rows

if TYPE_CHECKING:
    from qa.embedding import TextEncoder
    from qa.stores.embedded import Index

_MAX_TEXT = 65535  # Milvus's longest VARCHAR, in bytes
_BLOB_PART = 16000  # characters: at most 64,000 bytes of UTF-8
_PLACEHOLDER_DIM = 2  # Milvus wants a vector field in every collection
_PLACEHOLDER = [0.0] * _PLACEHOLDER_DIM
_BATCH = 1000
# Hidden slots one manifest may list (every search filters them out): past that, and when most
# briefings changed, a new generation is written instead.
_MOST_HIDDEN = 1000
_ROW_KINDS = ("windows", "chunks", "documents", "blobs")  # the collections whose rows carry a slot
# A test hook: the publish kills itself (SIGKILL, no clean-up) right after the named step (plan,
# collections, rows, statistics, flush, switch, clean-up) or after the first batch sent to the
# named collection (windows, chunks, documents, blobs, terms), as a crash or a kill -9 would.
KILL_AFTER = "QA_PUBLISH_KILL_AFTER"

Progress = Callable[[str, int], None]


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
        schema.add_field("slot", DataType.INT64)
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

    documents = base(DataType.INT64)
    for name in ("doc_id", "path", "title", "source", "url", "format", "content_hash"):
        documents.add_field(name, DataType.VARCHAR, max_length=4096)
    documents.add_field("copies", DataType.VARCHAR, max_length=_MAX_TEXT)  # JSON: [[path, url], ...]
    documents.add_field("slot", DataType.INT64)
    documents.add_field("date", DataType.VARCHAR, max_length=16)
    documents.add_field("tokens", DataType.VARCHAR, max_length=_MAX_TEXT)
    placeholder(documents)

    terms = base(DataType.VARCHAR, max_length=1100)
    terms.add_field("token", DataType.VARCHAR, max_length=1024)
    terms.add_field("publish", DataType.INT64)
    for name in ("windows", "pairs", "documents"):
        terms.add_field(name, DataType.INT64)
    placeholder(terms)

    blobs = base(DataType.VARCHAR, max_length=1200)
    blobs.add_field("name", DataType.VARCHAR, max_length=1024)
    blobs.add_field("part", DataType.INT64)
    blobs.add_field("slot", DataType.INT64)
    blobs.add_field("text", DataType.VARCHAR, max_length=_MAX_TEXT)
    placeholder(blobs)
    return {"windows": windows, "chunks": chunks, "documents": documents, "terms": terms, "blobs": blobs}


def _vector_index_kind(windows: int) -> str:
    # Exact search, as the embedded store below the same size: the two rank alike.
    return "FLAT" if windows <= vector_index.IVF_THRESHOLD else "HNSW"


def _index_params(client, kind: str, windows: int):
    params = client.prepare_index_params()
    if kind == "windows" and _vector_index_kind(windows) == "FLAT":
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
    basis = {key: manifest.get(key) for key in ("pipeline", "model", "backend", "dimension", "documents")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:24]


def document_digest(entry: dict) -> str:
    """A briefing's digest: its whole entry in the index manifest (path, SHA-256, and whatever
    else a later build records there), so any change to it republishes the briefing."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:24]


def live_manifest(uri: str, prefix: str) -> dict | None:
    """The manifest the alias serves now (None: nothing published, or one this code cannot read)."""
    served = current_generation(uri, prefix)
    if served is None:
        return None
    try:
        manifest = read_manifest(connect(uri), served)
    except Exception:
        return None
    return manifest if parse_manifest_name(prefix, served) else None


def published_digest(uri: str, prefix: str) -> str | None:
    manifest = live_manifest(uri, prefix)
    return manifest.get("source_digest") if manifest else None


# ---------------------------------------------------------------------------------------------
# 1. plan


@dataclass(frozen=True)
class Plan:
    """What one publish does."""

    generation: str
    publish: int  # this publish's number in the generation (1: a new generation)
    live: dict | None  # the manifest served now
    reason: str  # why a new generation is written ("": a publish by briefing)
    write: tuple[str, ...]  # the briefings whose rows are written (new or changed)
    retired: tuple[int, ...]  # slots this publish replaces or removes
    slots: dict[str, int]  # every briefing's slot after this publish
    last_slot: int  # the highest slot allocated in the generation

    @property
    def new_generation(self) -> bool:
        return bool(self.reason)

    @property
    def changes(self) -> bool:
        return self.new_generation or bool(self.write or self.retired)


def plan_publish(index: Index, live: dict | None, full: bool = False, shards: int | None = None,
                 replicas: int | None = None) -> Plan:
    digests = {doc_id: document_digest(index.manifest["documents"][doc_id]) for doc_id in index.doc_ids}
    reason = generation_reason(index, live, full, shards, replicas)
    if not reason:
        assert live is not None
        served = dict(zip(live["catalogue"]["doc_ids"], live["catalogue"]["slots"]))
        write = tuple(d for d in index.doc_ids if live["digests"].get(d) != digests[d])
        retired = tuple(sorted(served[d] for d in served if d not in digests or d in write))
        if len(retired) + len(live["retired"]) > _MOST_HIDDEN or len(write) > max(1, len(index.doc_ids) // 2):
            reason = f"{len(write)} of {len(index.doc_ids)} briefings new or changed, {len(retired)} replaced or removed"
        else:
            slots = {d: served[d] for d in index.doc_ids if d not in write}
            slots.update({d: live["last_slot"] + n for n, d in enumerate(write, start=1)})
            return Plan(live["generation"], live["publish"] + 1, live, "", write, retired, slots,
                        live["last_slot"] + len(write))
    slots = {d: n for n, d in enumerate(index.doc_ids, start=1)}
    return Plan(f"g{time.time_ns()}", 1, live, reason, tuple(index.doc_ids), (), slots, len(slots))


def generation_reason(index: Index, live: dict | None, full: bool, shards: int | None, replicas: int | None) -> str:
    """Why a new generation must be written ("" when the served one can take this index by briefing)."""
    if live is None:
        return "nothing published"
    if full:
        return "--full"
    if live.get("schema_version") != SCHEMA_VERSION:
        return f"schema version {live.get('schema_version')} -> {SCHEMA_VERSION}"
    for key in ("model", "backend", "dimension", "prompts", "max_tokens", "pipeline"):
        if live.get(key) != index.manifest.get(key):
            return f"the {key} changed"
    if live.get("vector_index") != _vector_index_kind(len(index.windows)):
        return f"the vector index becomes {_vector_index_kind(len(index.windows))}"
    if (shards and shards != live.get("shards")) or (replicas and replicas != live.get("replicas")):
        return "other shards or replicas"
    return ""


# ---------------------------------------------------------------------------------------------
# The index, as the steps read it


@dataclass(frozen=True)
class Source:
    """The embedded index with what the rows are made of: its tokens, and where each briefing's
    passages and windows lie."""

    index: Index
    vocab: list[str]
    windows_tokens: list[list[int]]
    pairs_tokens: list[list[int]]
    chunk_start: np.ndarray  # by document number, documents + 1
    window_start: np.ndarray
    profiles: list[list[str]]  # each briefing's profile tokens

    @classmethod
    def of(cls, index: Index) -> Source:
        from qa.stores.embedded import TOKENS, document_profile

        if index.directory is None:
            raise ValueError("only an index loaded from its folder can be published (it needs its tokens/)")
        store, parts = TokenStore.load(index.directory / TOKENS, ("windows", "pairs"))
        documents = np.arange(len(index.doc_ids) + 1)
        chunk_start = np.searchsorted(index.chunk_doc, documents, side="left")
        window_start = np.searchsorted(index.window_chunk, chunk_start, side="left")
        profiles = [tokenize(document_profile(index.documents[d])) or [""] for d in index.doc_ids]
        return cls(index, store.vocab, parts["windows"], parts["pairs"], chunk_start, window_start, profiles)

    def words(self, doc: int) -> set[str]:
        """Every word of a briefing's windows, passages with their question, and profile."""
        ids = set()
        for rows, start in ((self.windows_tokens, self.window_start), (self.pairs_tokens, self.chunk_start)):
            for row in rows[start[doc] : start[doc + 1]]:
                ids.update(row)
        return {self.vocab[i] for i in ids} | set(self.profiles[doc])

    def statistics(self) -> dict:
        def stats(lengths: list[int]) -> dict:
            return {"count": len(lengths), "average_length": float(np.mean(lengths)) if len(lengths) else 1.0}

        return {"windows": stats([len(r) for r in self.windows_tokens]), "pairs": stats([len(r) for r in self.pairs_tokens]),
                "documents": stats([len(p) for p in self.profiles])}


# ---------------------------------------------------------------------------------------------
# publish


def publish(index: Index, uri: str, prefix: str = DEFAULT_PREFIX, progress: Progress | None = None,
            shards: int | None = None, replicas: int | None = None, full: bool = False) -> dict:
    """Publish ``index`` (an embedded index, with its vectors and tokens): by briefing into the
    generation served, or as a new generation (see the module's steps). Returns what was done:
    generation, publish number, what was written and removed, seconds.

    ``shards`` (the windows and chunks collections; default Milvus's) spread a publish's inserts
    and the archive's segments; ``replicas`` (default 1) are the in-memory copies each search
    can be served from, for query load. milvus-lite accepts both and has one of each.
    """
    check_prefix(prefix)
    began = time.perf_counter()
    client = connect(uri)
    source = Source.of(index)
    plan = plan_publish(index, live_manifest(uri, prefix), full, shards, replicas)
    _reached("plan", progress)
    report = {"generation": plan.generation, "publish": plan.publish, "new_generation": plan.new_generation,
              "reason": plan.reason, "written": len(plan.write), "retired": len(plan.retired),
              "windows": len(index.windows), "chunks": len(index.chunks), "documents": len(index.doc_ids)}
    if not plan.new_generation:
        finish_previous(client, prefix, plan.live)
        _reached("collections", progress)
        if not plan.changes:
            return {**report, "up_to_date": True, "seconds": time.perf_counter() - began, "dropped": []}
        return {**report, **_fill(client, prefix, plan, source, progress, shards, replicas), "seconds": time.perf_counter() - began}
    created = create_collections(client, prefix, plan, source, shards)
    _reached("collections", progress)
    try:
        done = _fill(client, prefix, plan, source, progress, shards, replicas)
    except BaseException:
        if current_generation(uri, prefix) != manifest_name(prefix, plan.generation, plan.publish):
            for name in created:
                _quietly(client.drop_collection, name, timeout=TIMEOUT)
        raise
    return {**report, **done, "seconds": time.perf_counter() - began}


def _fill(client, prefix: str, plan: Plan, source: Source, progress: Progress | None, shards, replicas) -> dict:
    """Steps 3 to 7, the same for a new generation and a publish by briefing."""
    write_documents(client, prefix, plan, source, progress)
    _reached("rows", progress)
    tokens = write_terms(client, prefix, plan, source, progress)
    _reached("statistics", progress)
    flush(client, prefix, plan, replicas)
    _reached("flush", progress)
    switch(client, prefix, plan, manifest_of(plan, source, shards, replicas), tokens)
    _reached("switch", progress)
    dropped = clean_up(client, prefix, plan)
    _reached("clean-up", progress)
    return {"terms": len(tokens), "dropped": dropped}


def _reached(step: str, progress: Progress | None, count: int = 0) -> None:
    if progress:
        progress(step, count)
    if os.environ.get(KILL_AFTER) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _quietly(call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------
# 2. collections


def create_collections(client, prefix: str, plan: Plan, source: Source, shards: int | None) -> list[str]:
    created = []
    try:
        for kind, schema in _schemas(client, int(source.index.manifest["dimension"])).items():
            name = collection_name(prefix, kind, plan.generation)
            sharding = {"num_shards": shards} if shards and kind in ("windows", "chunks") else {}
            client.create_collection(name, schema=schema, index_params=_index_params(client, kind, len(source.index.windows)),
                                     timeout=60, **sharding)
            created.append(name)
    except BaseException:
        for name in created:
            _quietly(client.drop_collection, name, timeout=TIMEOUT)
        raise
    return created


def finish_previous(client, prefix: str, live: dict) -> None:
    """Before a publish by briefing: delete what a killed publish wrote after the served manifest
    (slots above its last slot, terms of later publishes; no reader uses them), and the rows and
    terms whose deletion the served manifest's publish owed (it may have been killed after its switch)."""
    generation, publish_number = live["generation"], int(live["publish"])
    for kind in _ROW_KINDS:
        client.delete(collection_name(prefix, kind, generation), filter=f"slot > {int(live['last_slot'])}", timeout=120)
    client.delete(collection_name(prefix, "terms", generation), filter=f"publish > {publish_number}", timeout=120)
    _delete_slots(client, prefix, generation, sorted(set(live["hidden"]) - set(live["retired"])))
    written = json.loads(read_blob(client, manifest_name(prefix, generation, publish_number), "terms"))
    drop_superseded_terms(client, collection_name(prefix, "terms", generation), publish_number, written)


def _delete_slots(client, prefix: str, generation: str, slots: list[int]) -> None:
    for first in range(0, len(slots), 1000):
        expression = f"slot in {[int(s) for s in slots[first : first + 1000]]}"
        for kind in _ROW_KINDS:
            client.delete(collection_name(prefix, kind, generation), filter=expression, timeout=120)


# ---------------------------------------------------------------------------------------------
# 3. documents


def write_documents(client, prefix: str, plan: Plan, source: Source, progress: Progress | None) -> None:
    docs = [source.index.doc_number[doc_id] for doc_id in plan.write]
    name = lambda kind: collection_name(prefix, kind, plan.generation)  # noqa: E731
    _insert(client, name("windows"), (row for doc in docs for row in window_rows(source, doc, plan.slots)), progress, "windows")
    _insert(client, name("chunks"), (row for doc in docs for row in chunk_rows(source, doc, plan.slots)), progress, "chunks")
    _insert(client, name("documents"), (document_row(source, doc, plan.slots) for doc in docs), progress, "documents")
    _insert(client, name("blobs"), (row for doc in docs for row in document_blobs(source, doc, plan.slots)), progress, "blobs")


def _insert(client, collection: str, rows: Iterable[dict], progress: Progress | None, kind: str) -> int:
    """Rows made and sent batch by batch: 46,217 windows as Python lists at once took 1.8 GB."""
    batch, written = [], 0
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            client.insert(collection, batch, timeout=120)
            written, batch = written + len(batch), []
            _reached(kind, progress, written)
    if batch:
        client.insert(collection, batch, timeout=120)
        written += len(batch)
        _reached(kind, progress, written)
    return written


def _filter_fields(source: Source, doc: int, slots: dict[str, int], row: int) -> dict:
    chunk, document = source.index.chunks[row], source.index.documents[source.index.doc_ids[doc]]
    return {"slot": slots[chunk.doc_id], "doc_id": chunk.doc_id, "speaker": chunk.speaker or "",
            "speaker_key": (chunk.speaker or "").casefold(), "is_question": bool(chunk.is_question),
            "date": document.date or ""}


def window_rows(source: Source, doc: int, slots: dict[str, int]) -> Iterator[dict]:
    """A briefing's windows, numbered (and their passages numbered) within the briefing."""
    first, last = int(source.window_start[doc]), int(source.window_start[doc + 1])
    slot, chunk_start = slots[source.index.doc_ids[doc]], int(source.chunk_start[doc])
    vectors = source.index.vectors.reconstruct_n(first, last - first) if last > first else None
    fields = {}
    for n, (row, start, end) in enumerate(source.index.windows[first:last].tolist()):
        if row not in fields:
            fields = {row: _filter_fields(source, doc, slots, row)}
        ids = source.windows_tokens[first + n]
        yield {"id": row_key(slot, n), "vector": vectors[n].astype(np.float32).tolist(),
               "tokens": _clip(" ".join(source.vocab[i] for i in ids)), "length": len(ids),
               **fields[row], "chunk": row - chunk_start, "start": start, "end": end}


def chunk_rows(source: Source, doc: int, slots: dict[str, int]) -> Iterator[dict]:
    """A briefing's passages; the stored passage's ``chunk_id`` is its number within the briefing
    (the reader gives it its row)."""
    first, last = int(source.chunk_start[doc]), int(source.chunk_start[doc + 1])
    window_first = np.searchsorted(source.index.window_chunk, np.arange(first, last + 1), side="left")
    slot, base = slots[source.index.doc_ids[doc]], int(source.window_start[doc])
    for n, row in enumerate(range(first, last)):
        ids = source.pairs_tokens[row]
        yield {"id": row_key(slot, n), "tokens": _clip(" ".join(source.vocab[i] for i in ids)), "length": len(ids),
               **_filter_fields(source, doc, slots, row), "chunk": _clip(replace(source.index.chunks[row], chunk_id=n).to_json()),
               "first_window": int(window_first[n]) - base, "window_count": int(window_first[n + 1] - window_first[n])}


def document_row(source: Source, doc: int, slots: dict[str, int]) -> dict:
    doc_id = source.index.doc_ids[doc]
    document = source.index.documents[doc_id]
    return {"id": slots[doc_id], "slot": slots[doc_id], "doc_id": doc_id, "path": document.path, "title": document.title,
            "source": document.source or "", "url": document.url or "", "format": document.format,
            "content_hash": document.content_hash, "date": document.date or "",
            "copies": json.dumps(document.copies, ensure_ascii=False),
            "tokens": _clip(" ".join(source.profiles[doc])), "placeholder": _PLACEHOLDER}


def document_blobs(source: Source, doc: int, slots: dict[str, int]) -> list[dict]:
    """The raw text (what citations point into), the turns, and the words (so that a later publish
    that replaces or removes the briefing knows whose frequencies change)."""
    doc_id = source.index.doc_ids[doc]
    document, slot = source.index.documents[doc_id], slots[doc_id]
    return (_blob_rows(f"raw:{slot}", document.raw, slot)
            + _blob_rows(f"turns:{slot}", json.dumps(turn_rows(document.turns), ensure_ascii=False), slot)
            + _blob_rows(f"words:{slot}", json.dumps(sorted(source.words(doc)), ensure_ascii=False), slot))


def _blob_rows(name: str, text: str, slot: int = 0) -> list[dict]:
    pieces = [text[i : i + _BLOB_PART] for i in range(0, len(text), _BLOB_PART)] or [""]
    return [{"id": f"{name}#{n}", "name": name, "part": n, "slot": slot, "text": piece, "placeholder": _PLACEHOLDER}
            for n, piece in enumerate(pieces)]


# ---------------------------------------------------------------------------------------------
# 4. terms


def write_terms(client, prefix: str, plan: Plan, source: Source, progress: Progress | None) -> list[str]:
    """The frequencies of the words whose counts may have changed (all of them in a new
    generation), as rows of this publish; returns those words."""
    frequencies = {part: source.index.lexical[part].document_frequencies() for part in ("windows", "pairs", "documents")}
    if plan.new_generation:
        tokens = set().union(*frequencies.values())
    else:
        tokens = set().union(*(source.words(source.index.doc_number[d]) for d in plan.write))
        tokens |= _retired_words(client, prefix, plan)
    tokens = sorted(t for t in tokens if len(t.encode()) <= 1000)
    rows = ({"id": f"{plan.publish}:{t}", "token": t, "publish": plan.publish, "placeholder": _PLACEHOLDER,
             **{part: counts.get(t, 0) for part, counts in frequencies.items()}} for t in tokens)
    _insert(client, collection_name(prefix, "terms", plan.generation), rows, progress, "terms")
    return tokens


def _retired_words(client, prefix: str, plan: Plan) -> set[str]:
    words: set[str] = set()
    blobs = collection_name(prefix, "blobs", plan.generation)
    for slot in plan.retired:
        words.update(json.loads(read_blob(client, blobs, f"words:{slot}")))
    return words


def drop_superseded_terms(client, collection: str, publish_number: int, tokens: list[str]) -> None:
    """For the words written by publish ``publish_number``: delete their rows older than the newest
    one before it (the one the readers of the previous manifest use)."""
    for first in range(0, len(tokens), 1000):
        rows = client.query(collection, filter=f"token in {escape(tokens[first : first + 1000])} and publish < {publish_number}",
                            output_fields=["token", "publish"], timeout=TIMEOUT)
        newest: dict[str, int] = {}
        for row in rows:
            newest[row["token"]] = max(newest.get(row["token"], 0), row["publish"])
        old = [row["id"] for row in rows if row["publish"] < newest[row["token"]]]
        if old:
            client.delete(collection, ids=old, timeout=120)


# ---------------------------------------------------------------------------------------------
# 5. flush, 6. switch


def flush(client, prefix: str, plan: Plan, replicas: int | None) -> None:
    """Flushed segments are searched far faster than growing ones (20k rows: 36 ms, not 650);
    a new generation is loaded too."""
    for kind in KINDS:
        name = collection_name(prefix, kind, plan.generation)
        client.flush(name, timeout=300)
        if plan.new_generation:
            client.load_collection(name, timeout=300, **({"replica_number": replicas} if replicas else {}))


def manifest_of(plan: Plan, source: Source, shards: int | None, replicas: int | None) -> dict:
    index = source.index
    manifest = {key: index.manifest.get(key) for key in (
        "format_version", "model", "backend", "dimension", "prompts", "max_tokens", "chunk_count", "window_count",
        "document_count", "built_at", "pipeline", "sources")}
    retired_before = list(plan.live["retired"]) if plan.live and not plan.new_generation else []
    counts = zip(np.diff(source.window_start).tolist(), np.diff(source.chunk_start).tolist())
    windows, chunks = zip(*counts) if index.doc_ids else ((), ())
    manifest.update({
        "schema_version": SCHEMA_VERSION, "generation": plan.generation, "publish": plan.publish,
        "source_digest": source_digest(index.manifest), "shards": shards, "replicas": replicas,
        "vector_index": _vector_index_kind(len(index.windows)), "speakers": index.speakers,
        "statistics": source.statistics(),
        "catalogue": {"doc_ids": list(index.doc_ids), "slots": [plan.slots[d] for d in index.doc_ids],
                      "windows": list(windows), "chunks": list(chunks)},
        "digests": {d: document_digest(index.manifest["documents"][d]) for d in index.doc_ids},
        "last_slot": plan.last_slot, "retired": list(plan.retired),
        "hidden": sorted(set(plan.retired) | set(retired_before)),
        "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    if plan.live and not plan.new_generation:
        manifest["shards"], manifest["replicas"] = plan.live.get("shards"), plan.live.get("replicas")
    return manifest


def switch(client, prefix: str, plan: Plan, manifest: dict, tokens: list[str]) -> None:
    """The manifest (and the words this publish wrote terms for) into a new collection, then the
    alias moved to it: one step moves every reader to the new archive."""
    name = manifest_name(prefix, plan.generation, plan.publish)
    if client.has_collection(name, timeout=TIMEOUT):  # left by a publish killed before its switch
        client.drop_collection(name, timeout=TIMEOUT)
    client.create_collection(name, schema=_schemas(client, 2)["blobs"], index_params=_index_params(client, "blobs", 0),
                             timeout=60)
    rows = _blob_rows("manifest", json.dumps(manifest, ensure_ascii=False)) + _blob_rows("terms", json.dumps(tokens, ensure_ascii=False))
    for first in range(0, len(rows), _BATCH):
        client.insert(name, rows[first : first + _BATCH], timeout=120)
    client.flush(name, timeout=300)
    client.load_collection(name, timeout=300)
    if prefix in client.list_aliases(timeout=TIMEOUT).get("aliases", []):
        client.alter_alias(name, prefix, timeout=TIMEOUT)
    else:
        client.create_alias(name, prefix, timeout=TIMEOUT)


# ---------------------------------------------------------------------------------------------
# 7. clean-up


def clean_up(client, prefix: str, plan: Plan) -> list[str]:
    """Delete what no reader of this manifest or the previous one uses: rows of the slots the
    previous publish retired, terms superseded by this publish, older manifests and generations."""
    served = manifest_name(prefix, plan.generation, plan.publish)
    previous = manifest_name(prefix, plan.live["generation"], plan.live["publish"]) if plan.live else None
    if not plan.new_generation:
        _delete_slots(client, prefix, plan.generation, sorted(plan.live["retired"]))
        written = json.loads(read_blob(client, served, "terms"))
        drop_superseded_terms(client, collection_name(prefix, "terms", plan.generation), plan.publish, written)
    keep = {plan.generation} | ({plan.live["generation"]} if plan.live else set())
    return drop_old_generations(client, prefix, keep) + _drop_old_manifests(client, prefix, {served, previous})


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


def _drop_old_manifests(client, prefix: str, keep: set[str | None]) -> list[str]:
    dropped = []
    for name in client.list_collections(timeout=TIMEOUT):
        if parse_manifest_name(prefix, name) and name not in keep:
            client.drop_collection(name, timeout=TIMEOUT)
            dropped.append(name)
    return dropped


def seed_vectors(uri: str, prefix: str, encoder: TextEncoder):
    """For a build with no local folder: a document -> {window text: vector} from the archive the
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
        return {clean_for_model(raw[row["start"] : row["end"]]): np.asarray(row["vector"], dtype=np.float32)
                for row in store.window_vectors(document.doc_id)}

    return vectors_of
