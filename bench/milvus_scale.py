"""The Milvus store's windows collection at a large size: insert throughput, the searches a query
makes, the row look-ups, and the server's memory.

    .venv/bin/python bench/milvus_scale.py --windows 1000000

A ``milvus-lite server`` is started here (or ``--milvus-uri`` names another Milvus), and one
collection with the windows schema of ``qa.stores.milvus_publish`` (vector index HNSW above 200,000 rows,
as a publish makes it; BM25 function over the tokens; the filter fields) is filled with synthetic
rows: clustered unit vectors as ``bench/scale.py`` makes them, 48 tokens a row drawn from a
Zipf-distributed vocabulary of 50,000 words, 500 speakers, 5,000 documents. Then, as a query of
``qa serve`` does: the dense search (300 candidates), the BM25 search (600), the same dense search
with a speaker filter, and the look-up of the 300 candidates' rows (vectors and tokens).

milvus-lite is a light pure-Python engine for development: its figures say nothing about a Milvus
cluster's speed or memory; they say what the development engine does at this size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

VOCABULARY = 50_000
TOKENS_PER_ROW = 48


def percentiles(values: list[float]) -> dict:
    ordered = np.sort(np.array(values) * 1000)
    return {"p50_ms": round(float(np.percentile(ordered, 50)), 1), "p99_ms": round(float(np.percentile(ordered, 99)), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--milvus-uri", help="a Milvus to use (default: a milvus-lite server started here)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "milvus_scale.json")
    args = parser.parse_args()

    from run import rss_mb, start_milvus
    from scale import clustered

    from qa.stores.milvus import connect
    from qa.stores.milvus_publish import _index_params, _schemas

    rng = np.random.default_rng(0)
    workdir = tempfile.TemporaryDirectory(prefix="qa-milvus-scale-")
    server = None
    if args.milvus_uri:
        uri = args.milvus_uri
    else:
        server, uri = start_milvus(Path(workdir.name) / "milvus")
    report: dict = {"windows": args.windows, "uri": uri, "engine": "milvus-lite 3.2.2" if server else uri}
    try:
        client = connect(uri)
        schema = _schemas(client, 384)["windows"]
        name = "scale_windows"
        if client.has_collection(name):
            client.drop_collection(name)
        # With its indexes from the start, as a publish creates it.
        client.create_collection(name, schema=schema, index_params=_index_params(client, "windows", args.windows))
        words = np.array([f"w{i}" for i in range(VOCABULARY)])
        weights = 1.0 / np.arange(1, VOCABULARY + 1)
        weights /= weights.sum()
        speakers = [f"Speaker {i}" for i in range(500)]
        began = time.perf_counter()
        for first in range(0, args.windows, args.batch):
            size = min(args.batch, args.windows - first)
            vectors = clustered(size, rng, centres=500)
            drawn = rng.choice(VOCABULARY, size=(size, TOKENS_PER_ROW), p=weights)
            rows = []
            for j in range(size):
                row_id = first + j
                doc = row_id // 200
                speaker = speakers[(row_id // 7) % len(speakers)]
                rows.append({
                    "id": row_id, "vector": vectors[j].tolist(), "tokens": " ".join(words[drawn[j]]),
                    "length": TOKENS_PER_ROW, "slot": doc, "doc_id": f"doc-{doc}", "speaker": speaker,
                    "speaker_key": speaker.casefold(), "is_question": bool(row_id % 9 == 0),
                    "date": f"20{21 + doc % 3}-0{1 + doc % 9}-1{doc % 10}", "chunk": row_id // 2,
                    "start": 0, "end": 400,
                })
            client.insert(name, rows)
            if (first // args.batch) % 20 == 0:
                done = first + size
                print(f"{done:,} rows, {done / (time.perf_counter() - began):,.0f} rows/s", flush=True)
        inserted = time.perf_counter() - began
        client.flush(name)
        flushed = time.perf_counter() - began
        client.load_collection(name, timeout=3600)
        ready = time.perf_counter() - began
        report.update({
            "insert_s": round(inserted, 1), "insert_rows_per_s": round(args.windows / inserted, 1),
            "flush_s": round(flushed - inserted, 1), "load_s": round(ready - flushed, 1),
        })
        print(json.dumps(report), flush=True)

        probes = clustered(args.queries, rng, centres=500)
        timings: dict[str, list[float]] = {"dense_300": [], "bm25_600": [], "dense_300_speaker": [], "rows_300": []}
        for i, probe in enumerate(probes):
            question = " ".join(words[rng.choice(VOCABULARY, size=8, p=weights)])
            t = time.perf_counter()
            hits = client.search(name, data=[probe.tolist()], anns_field="vector", limit=300, output_fields=["id"],
                                 search_params={"metric_type": "IP", "params": {"ef": 600}})
            timings["dense_300"].append(time.perf_counter() - t)
            t = time.perf_counter()
            client.search(name, data=[question], anns_field="sparse", limit=600, output_fields=["tokens", "length"],
                          search_params={"metric_type": "BM25"})
            timings["bm25_600"].append(time.perf_counter() - t)
            t = time.perf_counter()
            client.search(name, data=[probe.tolist()], anns_field="vector", limit=300, output_fields=["id"],
                          filter=f'speaker_key == "speaker {i % 500}"',
                          search_params={"metric_type": "IP", "params": {"ef": 600}})
            timings["dense_300_speaker"].append(time.perf_counter() - t)
            ids = [hit["id"] for hit in hits[0]]
            t = time.perf_counter()
            client.query(name, ids=ids, output_fields=["id", "chunk", "doc", "vector", "tokens", "length", "speaker"])
            timings["rows_300"].append(time.perf_counter() - t)
        report["searches"] = {key: percentiles(value) for key, value in timings.items()}
        report["server_rss_mb"] = rss_mb(server.pid) if server else None
        client.drop_collection(name)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=120)
        workdir.cleanup()
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
