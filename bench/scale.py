"""Big indexes, synthetically: build time, memory, search p50/p99 and recall@10 against exact search.

The vectors are clustered like real passage embeddings (random unit centres, each point a centre
plus noise, normalised), since uniformly random 384-dimensional vectors have no neighbours worth
finding. The index type and parameters are the ones `qa index` uses (qa/vectors.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPO, latency_summary, rss_mb  # noqa: E402

from qa import vectors as vector_index  # noqa: E402

DIMENSION = 384


def clustered(count: int, rng: np.random.Generator, centres: int = 5000, noise: float = 0.6) -> np.ndarray:
    centre_vectors = rng.standard_normal((centres, DIMENSION), dtype=np.float32)
    centre_vectors /= np.linalg.norm(centre_vectors, axis=1, keepdims=True)
    out = np.empty((count, DIMENSION), dtype=np.float32)
    for first in range(0, count, 100_000):
        size = min(100_000, count - first)
        block = centre_vectors[rng.integers(0, centres, size)]
        block += noise * rng.standard_normal((size, DIMENSION), dtype=np.float32) / np.sqrt(DIMENSION)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[first : first + size] = block
    return out


def run(count: int, queries: int, seed: int = 0) -> dict:
    import os

    rng = np.random.default_rng(seed)
    data = clustered(count, rng)
    probes = data[rng.choice(count, queries, replace=False)] + 0.3 * rng.standard_normal((queries, DIMENSION), dtype=np.float32) / np.sqrt(DIMENSION)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)

    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(data)
    _, truth = exact.search(probes, 10)
    del exact

    before = rss_mb(os.getpid())
    began = time.perf_counter()
    index = vector_index.build(data, DIMENSION)
    build_seconds = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vectors.faiss"
        faiss.write_index(index, str(path))
        file_mb = round(path.stat().st_size / 1e6, 1)
        del index
        loaded_before = rss_mb(os.getpid())
        index = vector_index.load(path)
        loaded_rss = rss_mb(os.getpid()) - loaded_before
        params = vector_index.search_params(index)
        timings, hits = [], 0
        for row in range(queries):
            began = time.perf_counter()
            _, ids = index.search(probes[row : row + 1], 10, params=params)
            timings.append((time.perf_counter() - began) * 1000)
            hits += len(set(ids[0]) & set(truth[row]))
    return {
        "vectors": count,
        "index": vector_index.kind(index),
        "build_s": round(build_seconds, 1),
        "rss_mb_building": round(before, 1),
        "rss_mb_loading_index": round(loaded_rss, 1),
        "file_mb": file_mb,
        "search": latency_summary(timings),
        "recall_at_10": round(hits / (10 * queries), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "scale.json")
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        result = run(size, args.queries)
        results.append(result)
        print(json.dumps(result), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
