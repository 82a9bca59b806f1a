"""Bytes, not speed: the disk and memory of the Milvus store's collections per window, and the
recall@10 of each dense index type against exact search, measured on milvus-lite.

    .venv/bin/python bench/milvus_sizing.py --eval-index .cache/eval-index --windows 100000 250000

At each size a ``milvus-lite server`` is started on an empty data folder and the collections of
one published generation are created with the real schemas (``qa.stores.milvus_publish``'s
``_schemas``, imported, not copied) and filled with synthetic rows drawn from a built index
(``--eval-index``, read only): window vectors are real window vectors resampled and perturbed
(noise set so that a drawn vector is as close to its source as a real window is to its nearest
other window), window and passage tokens are real rows resampled (so BM25's sparse index sees
real term statistics), documents and their raw texts (``blobs``) are real ones resampled at the
real index's windows per document. Without an index the vectors come from a fixed generator and
the texts from ``seeds/``.

Then, for each dense index type (the vector index is dropped and created again on the same rows):
the index files' bytes on disk (``du`` of the data folder, by collection and by index sidecar),
the server's resident memory (``/proc``, the process and its children) on a fresh server
before the collection is opened, once it is opened (milvus-lite reads every segment into memory
then), after ``load_collection`` (the vector index read), and after the first BM25 search
(milvus-lite builds the sparse index in memory then, it keeps none on disk); and recall@10 of
each index type on held-out query vectors against numpy brute force on the same vectors.
An index type milvus-lite refuses is recorded with its error, as measured.

milvus-lite is a small Python engine for development; no Milvus cluster can run here. Its bytes
say what the rows and the FAISS indexes it builds take, not what a Milvus query node holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DIMENSION = 384
K = 10
BATCH = 2_000
DEFAULT_INDEX = REPO / ".cache" / "eval-index"
DENSE = ("HNSW", "IVF_SQ8", "DISKANN", "IVF_PQ")
# Build parameters: the publisher's HNSW (qa.stores.milvus_publish), IVF with nlist ~ 4 sqrt(rows of a
# 100,000-row segment, milvus-lite's largest), DiskANN with Milvus's documented defaults.
BUILD = {
    "FLAT": {},
    "HNSW": {"M": 16, "efConstruction": 200},
    "HNSW_SQ": {"M": 16, "efConstruction": 200, "sq_type": "SQ8"},
    "IVF_FLAT": {"nlist": 1024},
    "IVF_SQ8": {"nlist": 1024},
    "IVF_PQ": {"nlist": 1024, "m": 48, "nbits": 8},
    "DISKANN": {},
}
# Search parameters swept for recall@10: the engine's default ({}), then wider searches. The
# Milvus store asks for ef = 2 x depth (600 for its 300 candidates).
SWEEP = {
    "HNSW": [{}, {"ef": 64}, {"ef": 600}],
    "HNSW_SQ": [{}, {"ef": 64}, {"ef": 600}],
    "IVF_FLAT": [{}, {"nprobe": 32}, {"nprobe": 128}],
    "IVF_SQ8": [{}, {"nprobe": 32}, {"nprobe": 128}],
    "IVF_PQ": [{}, {"nprobe": 32}, {"nprobe": 128}],
    "DISKANN": [{}, {"search_list": 100}],
    "FLAT": [{}],
}


# ── where the rows come from ───────────────────────────────────────

class Source:
    """Real rows to resample: vectors, window and passage tokens, passages, documents."""

    def __init__(self, index_dir: Path | None, rng: np.random.Generator) -> None:
        self.index_dir = index_dir if index_dir and (index_dir / "manifest.json").exists() else None
        if self.index_dir:
            self._from_index(self.index_dir)
        else:
            self._from_seeds(rng)
        self.windows_per_document = self.window_count / self.document_count
        self.chunks_per_window = self.chunk_count / self.window_count

    def _from_index(self, folder: Path) -> None:
        import faiss

        from qa.lexical import TokenStore
        from qa.stores.embedded import document_profile
        from qa.transcripts import Transcript, Turn

        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        index = faiss.read_index(str(folder / "vectors.faiss"))
        self.vectors = index.reconstruct_n(0, index.ntotal).astype(np.float32)
        self.vectors /= np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self.windows = np.load(folder / "windows.npy")  # passage row, start, end
        store, parts = TokenStore.load(folder / "tokens", ("windows", "pairs"))
        vocab = store.vocab
        self.window_tokens = [" ".join(vocab[i] for i in ids) for ids in parts["windows"]]
        self.window_lengths = [len(ids) for ids in parts["windows"]]
        self.chunk_tokens = [" ".join(vocab[i] for i in ids) for ids in parts["pairs"]]
        self.chunk_lengths = [len(ids) for ids in parts["pairs"]]
        self.chunks = [json.loads(line) for line in (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
        self.documents = []
        for line in (folder / "documents.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            turns = tuple(Turn(index=i, speaker=speaker, start=start, end=end, is_question=bool(question))
                          for i, (speaker, start, end, question, _) in enumerate(record["turns"]))
            document = Transcript(doc_id=record["doc_id"], path=record["path"], title=record["title"],
                                  date=record.get("date"), source=record.get("source"), url=record.get("url"),
                                  raw=record["raw"], turns=turns, format=record.get("format") or "")
            record["profile"] = document_profile(document)
            self.documents.append(record)
        self.vocabulary = vocab
        self.window_count, self.chunk_count = len(self.windows), len(self.chunks)
        self.document_count = len(self.documents)
        self.described = {"from": str(folder), "model": manifest.get("model"), "windows": self.window_count,
                          "passages": self.chunk_count, "documents": self.document_count}

    def _from_seeds(self, rng: np.random.Generator) -> None:
        """No index: windows of 64 tokens (step 32) of the seed transcripts; clustered random vectors."""
        from qa.lexical import tokenize

        self.documents, self.chunks, self.window_tokens, self.chunk_tokens = [], [], [], []
        windows = []
        for number, path in enumerate(sorted((REPO / "seeds").glob("*.txt"))):
            raw = path.read_text(encoding="utf-8", errors="replace")
            doc_id = path.stem
            self.documents.append({"doc_id": doc_id, "path": path.name, "title": doc_id.replace("-", " "), "date": None,
                                   "source": None, "url": None, "raw": raw, "turns": [], "format": "text",
                                   "content_hash": str(hash(raw)), "profile": doc_id.replace("-", " ")})
            for start in range(0, len(raw), 1200):
                piece = raw[start : start + 1200]
                tokens = tokenize(piece)
                if not tokens:
                    continue
                row = len(self.chunks)
                self.chunks.append({"chunk_id": row, "doc_id": doc_id, "speaker": "", "is_question": False,
                                    "start": start, "end": start + len(piece), "text": piece})
                self.chunk_tokens.append(" ".join(tokens))
                for first in range(0, max(len(tokens) - 32, 1), 32):
                    self.window_tokens.append(" ".join(tokens[first : first + 64]))
                    windows.append((row, start, start + len(piece)))
        self.windows = np.array(windows, dtype=np.int64)
        self.window_lengths = [len(t.split()) for t in self.window_tokens]
        self.chunk_lengths = [len(t.split()) for t in self.chunk_tokens]
        centres = rng.standard_normal((200, DIMENSION)).astype(np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        vectors = centres[rng.integers(0, len(centres), len(windows))]
        vectors += 0.6 * rng.standard_normal(vectors.shape).astype(np.float32) / np.sqrt(DIMENSION)
        self.vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vocabulary = sorted({token for text in self.window_tokens for token in text.split()})
        self.window_count, self.chunk_count = len(self.windows), len(self.chunks)
        self.document_count = len(self.documents)
        self.described = {"from": "seeds/ (no index: vectors from a fixed generator)", "windows": self.window_count,
                          "passages": self.chunk_count, "documents": self.document_count}

    def noise(self, rng: np.random.Generator, sample: int = 1000) -> dict:
        """The noise that makes two vectors drawn from one source as close as a real window is to its
        nearest other window: cos(u + n1, u + n2) ~ 1 / (1 + sigma^2) for n ~ N(0, sigma^2 / d)."""
        picks = rng.choice(len(self.vectors), min(sample, len(self.vectors)), replace=False)
        scores = self.vectors[picks] @ self.vectors.T
        scores[np.arange(len(picks)), picks] = -1.0
        nearest = float(np.median(scores.max(axis=1)))
        sigma = float(np.sqrt(max(1.0 / min(max(nearest, 0.05), 0.999) - 1.0, 0.0)))
        return {"real_median_nearest_cosine": round(nearest, 4), "sigma": round(sigma, 4)}

    def draw_vectors(self, sources: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
        out = self.vectors[sources].copy()
        out += sigma * rng.standard_normal(out.shape, dtype=np.float32) / np.sqrt(DIMENSION)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


# ── the server, its memory, its disk ───────────────────────────────

class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process = None
        self.uri = None

    def start(self) -> None:
        from run import start_milvus

        self.process, self.uri = start_milvus(self.data_dir)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def rss(self) -> int:
        """Resident bytes of the server and its children (settled: read twice, 0.5 s apart)."""
        from run import rss_mb

        time.sleep(0.5)
        return int(rss_mb(self.process.pid) * 1024 * 1024)

    def client(self):
        from pymilvus import MilvusClient

        return MilvusClient(uri=self.uri, timeout=3600)


def disk(data_dir: Path) -> dict:
    """Bytes on disk by collection: allocated (``du``) and apparent, split into the rows, each index
    sidecar (by field and index type) and the rest (write-ahead log, manifests)."""
    out: dict = {}
    for path in data_dir.rglob("*"):
        if not path.is_file():
            continue
        parts = path.relative_to(data_dir).parts
        collection = next((parts[i + 1] for i, part in enumerate(parts[:-1]) if part == "collections"), "(server)")
        if path.name.endswith((".idx", ".sidx")):
            stem = path.name.rsplit(".", 1)[0]
            kind = "index:" + ".".join(stem.split(".")[-2:])
        elif path.suffix == ".parquet" and path.name.startswith("data_"):
            kind = "rows"
        elif path.suffix == ".parquet":
            kind = "deletes"
        elif "wal" in path.name:
            kind = "wal"
        else:
            kind = "other"
        stat = path.stat()
        entry = out.setdefault(collection, {}).setdefault(kind, {"du_bytes": 0, "bytes": 0, "files": 0})
        entry["du_bytes"] += stat.st_blocks * 512
        entry["bytes"] += stat.st_size
        entry["files"] += 1
    return out


def columns(data_dir: Path, collection: str) -> dict:
    """Bytes of each field in the collection's row files, uncompressed and as stored (Parquet's own
    figures), summed over the files: what each field costs before and after compression."""
    import pyarrow.parquet as pq

    out: dict = {}
    for path in data_dir.rglob("data_*.parquet"):
        if collection not in path.parts:
            continue
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            for column in range(row_group.num_columns):
                chunk = row_group.column(column)
                name = chunk.path_in_schema.split(".")[0]
                entry = out.setdefault(name, {"uncompressed_bytes": 0, "stored_bytes": 0})
                entry["uncompressed_bytes"] += chunk.total_uncompressed_size
                entry["stored_bytes"] += chunk.total_compressed_size
    return out


def du(data_dir: Path) -> int:
    done = subprocess.run(["du", "-sb", str(data_dir)], capture_output=True, text=True)
    return int(done.stdout.split()[0]) if done.returncode == 0 else -1


# ── filling ────────────────────────────────────────────────────────

def fill(client, names: dict, source: Source, windows: int, rng: np.random.Generator, sigma: float,
         progress) -> tuple[np.ndarray, dict]:
    """Insert one generation's rows; returns the window vectors (for exact search) and the counts."""
    placeholder = [0.0, 0.0]
    documents = max(1, round(windows / source.windows_per_document))
    chunks = max(1, round(windows * source.chunks_per_window))
    doc_sources = rng.integers(0, source.document_count, documents)
    doc_ids = [f"{source.documents[s]['doc_id']}~{n}" for n, s in enumerate(doc_sources)]

    def insert(kind: str, rows: list[dict]) -> None:
        client.insert(names[kind], rows, timeout=600)

    vectors = np.empty((windows, DIMENSION), dtype=np.float32)
    began = time.perf_counter()
    for first in range(0, windows, BATCH):
        size = min(BATCH, windows - first)
        picks = rng.integers(0, source.window_count, size)
        block = source.draw_vectors(picks, sigma, rng)
        vectors[first : first + size] = block
        rows = []
        for j, s in enumerate(picks.tolist()):
            number = first + j
            chunk_row, start, end = (int(x) for x in source.windows[s])
            real = source.chunks[chunk_row]
            doc = min(number * documents // windows, documents - 1)
            speaker = real.get("speaker") or ""
            rows.append({
                "id": number, "vector": block[j].tolist(), "tokens": source.window_tokens[s],
                "length": source.window_lengths[s], "slot": doc, "doc_id": doc_ids[doc], "speaker": speaker,
                "speaker_key": speaker.casefold(), "is_question": bool(real.get("is_question")),
                "date": source.documents[doc_sources[doc]].get("date") or "",
                "chunk": min(number * chunks // windows, chunks - 1), "start": start, "end": end,
            })
        insert("windows", rows)
        progress("windows", first + size, began)
    began = time.perf_counter()
    for first in range(0, chunks, BATCH):
        size = min(BATCH, chunks - first)
        rows = []
        for j, s in enumerate(rng.integers(0, source.chunk_count, size).tolist()):
            number = first + j
            real = source.chunks[s]
            doc = min(number * documents // chunks, documents - 1)
            speaker = real.get("speaker") or ""
            rows.append({
                "id": number, "tokens": source.chunk_tokens[s], "length": source.chunk_lengths[s], "slot": doc,
                "doc_id": doc_ids[doc], "speaker": speaker, "speaker_key": speaker.casefold(),
                "is_question": bool(real.get("is_question")), "date": source.documents[doc_sources[doc]].get("date") or "",
                "chunk": json.dumps(real, ensure_ascii=False)[:65000],
                "first_window": number * windows // chunks, "window_count": max(1, windows // chunks),
            })
        insert("chunks", rows)
        progress("chunks", first + size, began)
    from qa.lexical import tokenize

    document_rows, blob_rows = [], []
    for number, s in enumerate(doc_sources.tolist()):
        real = source.documents[s]
        document_rows.append({
            "id": number, "doc_id": doc_ids[number], "slot": number, "path": real["path"],
            "title": real["title"], "source": real.get("source") or "", "url": real.get("url") or "",
            "format": real.get("format") or "", "content_hash": real.get("content_hash") or "", "copies": "[]",
            "date": real.get("date") or "", "tokens": " ".join(tokenize(real["profile"]))[:65000] or "",
            "placeholder": placeholder,
        })
        for name, text in ((f"raw:{doc_ids[number]}", real["raw"]),
                           (f"turns:{doc_ids[number]}", json.dumps(real.get("turns") or [], ensure_ascii=False))):
            pieces = [text[i : i + 16000] for i in range(0, len(text), 16000)] or [""]
            blob_rows += [{"id": f"{name}#{n}", "name": name, "part": n, "slot": number, "text": piece,
                           "placeholder": placeholder}
                          for n, piece in enumerate(pieces)]
        if len(blob_rows) >= 500:
            insert("blobs", blob_rows)
            blob_rows = []
    if blob_rows:
        insert("blobs", blob_rows)
    for first in range(0, len(document_rows), BATCH):
        insert("documents", document_rows[first : first + BATCH])
    # The vocabulary does not grow with the rows drawn from it: terms holds the source's words.
    term_rows = [{"id": token, "token": token, "publish": 0, "windows": 1, "pairs": 1, "documents": 1,
                  "placeholder": placeholder}
                 for token in source.vocabulary if len(token.encode()) <= 1000]
    for first in range(0, len(term_rows), BATCH):
        insert("terms", term_rows[first : first + BATCH])
    return vectors, {"windows": windows, "chunks": chunks, "documents": documents, "terms": len(term_rows)}


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """Ids of the k highest inner products of each query, by numpy brute force."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), k), dtype=np.int64)
    for first in range(0, len(vectors), 100_000):
        scores = queries @ vectors[first : first + 100_000].T
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        merged_ids = np.concatenate([best_ids, top + first], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, order, axis=1)
        best_ids = np.take_along_axis(merged_ids, order, axis=1)
    return best_ids


def recall(client, name: str, queries: np.ndarray, truth: np.ndarray, params: dict) -> float:
    found = []
    for first in range(0, len(queries), 50):
        hits = client.search(name, data=queries[first : first + 50].tolist(), anns_field="vector", limit=K,
                             output_fields=["id"], search_params={"metric_type": "IP", "params": params}, timeout=600)
        found += [[hit["id"] for hit in row] for row in hits]
    return float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth)]))


def short(error: BaseException) -> str:
    return " ".join(str(error).split())[:400]


# ── one size ───────────────────────────────────────────────────────

def measure(source: Source, windows: int, dense: list[str], queries: int, workdir: Path, seed: int, log) -> dict:
    from qa.stores.milvus_publish import _schemas

    rng = np.random.default_rng(seed)
    noise = source.noise(rng)
    data_dir = workdir / f"milvus-{windows}"
    server = Server(data_dir)
    server.start()
    report: dict = {"windows": windows, "vectors": {"drawn_from": "real windows + Gaussian noise" if source.index_dir
                                                    else "a fixed generator (no index)", **noise}}
    try:
        client = server.client()
        report["rss_empty_server_bytes"] = server.rss()
        names = {kind: f"sizing_{kind}" for kind in ("windows", "chunks", "documents", "terms", "blobs")}
        schemas = _schemas(client, DIMENSION)
        for kind, name in names.items():
            params = client.prepare_index_params()
            if kind == "windows":
                params.add_index("vector", index_type="FLAT", metric_type="IP")
            if kind in ("windows", "chunks"):
                params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            else:
                params.add_index("placeholder", index_type="FLAT", metric_type="L2")
            client.create_collection(name, schema=schemas[kind], index_params=params, timeout=120)

        def progress(kind, done, began):
            if done % 50_000 < BATCH or done == windows:
                log(f"  {windows:,}: {kind} {done:,} rows, {done / (time.perf_counter() - began):,.0f} rows/s")

        began = time.perf_counter()
        vectors, counts = fill(client, names, source, windows, rng, noise["sigma"], progress)
        report["rows"] = counts
        report["insert_s"] = round(time.perf_counter() - began, 1)
        for name in names.values():
            client.flush(name, timeout=3600)
        report["stats"] = {kind: client.get_collection_stats(name) for kind, name in names.items()}
        # Held-out questions: real vectors perturbed with fresh noise, not rows of the collection.
        probe = source.draw_vectors(rng.integers(0, source.window_count, queries), noise["sigma"], rng)
        truth = exact_top(vectors, probe)
        report["recall_queries"] = queries
        sample = rng.choice(windows, min(500, windows), replace=False)
        scores = exact_top(vectors, vectors[sample], k=2)
        report["vectors"]["drawn_median_nearest_cosine"] = round(float(np.median(
            np.einsum("ij,ij->i", vectors[sample], vectors[scores[:, 1]]))), 4)
        types: dict = {}
        for index_type in ["FLAT", *[t for t in dense if t != "FLAT"]]:
            log(f"  {windows:,}: dense index {index_type}")
            entry: dict = {"build_params": BUILD.get(index_type, {})}
            types[index_type] = entry
            client = server.client()
            # Build: a new vector index on the same rows (the first load builds and saves it).
            try:
                if index_type != "FLAT":
                    client.release_collection(names["windows"], timeout=600)
                    client.drop_index(names["windows"], "vector", timeout=600)
                    params = client.prepare_index_params()
                    params.add_index("vector", index_type=index_type, metric_type="IP", params=BUILD.get(index_type, {}))
                    try:
                        client.create_index(names["windows"], params, timeout=1800)
                    except Exception as error:
                        # A long build whose connection dropped (gRPC GOAWAY at 1M windows) is retried
                        # by pymilvus and then told the index exists: it was built, go on with it.
                        if "index already exists" not in str(error):
                            raise
                        entry["create_retried"] = short(error)
                t = time.perf_counter()
                client.load_collection(names["windows"], timeout=3600)
                entry["build_and_load_s"] = round(time.perf_counter() - t, 1)
                entry["described"] = client.describe_index(names["windows"], "vector")
            except Exception as error:  # a refusal is a finding
                entry["refused"] = short(error)
                log(f"  {windows:,}: {index_type} refused: {entry['refused']}")
                try:  # back to an index the next type can replace
                    client.release_collection(names["windows"], timeout=600)
                    client.drop_index(names["windows"], "vector", timeout=600)
                except Exception:
                    pass
                params = client.prepare_index_params()
                params.add_index("vector", index_type="FLAT", metric_type="IP")
                client.create_index(names["windows"], params, timeout=600)
                continue
            entry["disk"] = disk(data_dir).get(names["windows"], {})
            # Memory on a fresh server: nothing open, the collection opened, loaded, BM25 searched once.
            server.stop()
            server.start()
            client = server.client()
            memory = {"fresh": server.rss()}
            client.get_collection_stats(names["windows"])
            memory["opened"] = server.rss()
            client.load_collection(names["windows"], timeout=3600)
            memory["loaded"] = server.rss()
            client.search(names["windows"], data=["president economy"], anns_field="sparse", limit=10,
                          search_params={"metric_type": "BM25"}, timeout=3600)
            memory["bm25_searched"] = server.rss()
            entry["rss_bytes"] = memory
            entry["recall_at_10"] = []
            for params in SWEEP.get(index_type, [{}]):
                t = time.perf_counter()
                value = recall(client, names["windows"], probe, truth, params)
                entry["recall_at_10"].append({"params": params, "recall": round(value, 4),
                                              "seconds_per_query": round((time.perf_counter() - t) / queries, 4)})
        report["dense"] = types
        # The other collections, each on a fresh server: opened, loaded, BM25 searched (chunks).
        others: dict = {}
        for kind in ("chunks", "documents", "terms", "blobs"):
            server.stop()
            server.start()
            client = server.client()
            memory = {"fresh": server.rss()}
            client.get_collection_stats(names[kind])
            memory["opened"] = server.rss()
            client.load_collection(names[kind], timeout=3600)
            memory["loaded"] = server.rss()
            if kind == "chunks":
                client.search(names[kind], data=["president economy"], anns_field="sparse", limit=10,
                              search_params={"metric_type": "BM25"}, timeout=3600)
                memory["bm25_searched"] = server.rss()
            others[kind] = {"rss_bytes": memory}
        layout = disk(data_dir)
        for kind in others:
            others[kind]["disk"] = layout.get(names[kind], {})
        report["collections"] = others
        report["fields"] = {kind: columns(data_dir, name) for kind, name in names.items()}
        report["data_dir_du_bytes"] = du(data_dir)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return report


def machine() -> dict:
    from glance import machine as described

    return described()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, nargs="+", default=[100_000, 250_000], help="sizes, in windows")
    parser.add_argument("--dense", nargs="+", default=list(DENSE),
                        help=f"dense index types to try besides FLAT (default {' '.join(DENSE)})")
    parser.add_argument("--eval-index", type=Path, default=DEFAULT_INDEX,
                        help="a built index to draw rows from (read only); without one: seeds/ and a fixed generator")
    parser.add_argument("--queries", type=int, default=200, help="held-out query vectors for recall@10")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="where the milvus-lite data folders go (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "milvus_sizing.json")
    args = parser.parse_args(argv)
    if any(size < 1_000 for size in args.windows):
        parser.error("--windows: each size must be at least 1000")
    if args.queries < 1:
        parser.error(f"--queries must be at least 1, not {args.queries}")

    import logging

    from glance import commit

    for name in ("pymilvus", "pymilvus.decorators"):  # a refused index type is reported, not logged
        logging.getLogger(name).setLevel(logging.CRITICAL)

    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:7.1f} s] {message}", flush=True)

    rng = np.random.default_rng(args.seed)
    source = Source(args.eval_index, rng)
    log(f"source: {source.described}")
    import milvus_lite
    import pymilvus

    report = {
        "what": "bytes and memory per window of the Milvus store's collections, recall@10 of dense index types; "
                "milvus-lite on this machine, not a Milvus cluster (none can run here)",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit(),
        "machine": machine(),
        "engine": {"milvus_lite": getattr(milvus_lite, "__version__", "?"), "pymilvus": pymilvus.__version__},
        "schema": "qa.stores.milvus_publish._schemas (imported)",
        "source": {**source.described, "windows_per_document": round(source.windows_per_document, 2),
                   "passages_per_window": round(source.chunks_per_window, 4)},
        "k": K,
        "sizes": [],
    }
    temporary = None
    workdir = args.workdir
    if workdir is None:
        temporary = tempfile.TemporaryDirectory(prefix="qa-milvus-sizing-")
        workdir = Path(temporary.name)
    try:
        for size in args.windows:
            log(f"size {size:,} windows")
            report["sizes"].append(measure(source, size, args.dense, args.queries, workdir, args.seed + size, log))
    finally:
        if temporary is not None:
            temporary.cleanup()
    report["seconds"] = round(time.perf_counter() - began, 1)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
