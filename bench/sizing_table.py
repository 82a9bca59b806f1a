"""The Milvus sizing table in docs/deploying.md, computed from bench/milvus_sizing.json.

    .venv/bin/python bench/sizing_table.py

Reads what ``bench/milvus_sizing.py`` measured on milvus-lite (bytes per window at two sizes) and
writes, between the markers in docs/deploying.md, two tables: what was measured (milvus-lite, this
machine) and what is computed from it for a Milvus cluster at 1M, 10M and 100M windows, with
every assumption named (``ASSUMPTIONS``, each with the page it comes from) and the arithmetic
shown. ``tests/test_bench_scripts.py`` checks that the block is what this script writes, so no
figure in it is typed by hand.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIGURES = REPO / "bench" / "milvus_sizing.json"
# Recall at 1M windows: runs of bench/milvus_sizing.py whose larger size is 1,000,000 (--out these files).
RUNS_1M = (REPO / "bench" / "milvus_sizing_1m.json", REPO / "bench" / "milvus_sizing_1m_hnsw.json")
DOC = REPO / "docs" / "deploying.md"
START = "<!-- sizing: written by bench/sizing_table.py from bench/milvus_sizing.json; do not edit -->"
END = "<!-- /sizing -->"

SIZES = (1_000_000, 10_000_000, 100_000_000)
LOADS = (50, 500)
DIMENSION = 384
GB = 1e9

# Every figure below that was not measured here, with where it comes from.
ASSUMPTIONS = {
    "hnsw_m": (16, "HNSW's M, as qa.stores.milvus_publish builds it"),
    "link_bytes": (4, "bytes per HNSW graph link (a 4-byte id; 2M links per vector on the base layer): "
                      "https://milvus.io/ai-quick-reference/how-much-memory-overhead-is-typically-introduced-by-indexes-"
                      "like-hnsw-or-ivf-for-a-given-number-of-vectors-and-how-can-this-overhead-be-managed-or-configured"),
    "sq8_ratio": (0.25, "IVF_SQ8 keeps one byte per dimension, 'reducing memory by 70-75%': "
                        "https://zilliz.com/blog/demystify-milvus-sizing-tool"),
    "diskann_pq_ratio": (0.125, "DiskANN's PQ codes in memory, as a share of the raw vectors "
                                "(pq_code_budget_gb_ratio): https://milvus.io/docs/v2.5.x/configure_knowhere.md"),
    "diskann_cache_ratio": (0.1, "DiskANN's cached graph nodes in memory, as a share of the raw vectors "
                                 "(search_cache_budget_gb_ratio), same page"),
    "diskann_degree": (56, "DiskANN's graph degree on disk (max_degree), same page"),
    "scalar_factor": (2.0, "scalar fields are loaded into memory; reserve twice their raw size: "
                           "https://cloud.tencent.com/developer/article/2208003 (Zilliz)"),
    "object_store_factor": (6.0, "object storage (MinIO) holds at least 6x the data: same page"),
    "load_share": (0.9, "what is loaded must stay under 90% of the query nodes' memory: "
                        "https://milvus.io/docs/v2.1.x/load_collection.md"),
    "node_memory_gb": (32, "a query node of 8 cores and 32 GB (1 core : 4 GB, the ratio of "
                           "https://www.alibabacloud.com/help/en/milvus/user-guide/milvus-resource-estimation-and-"
                           "configuration-recommendations)"),
    "node_cores": (8, "same node"),
    "cpu_ms_per_question_per_million": (14.0, "NOT from a page (none found gives a per-core rate for this mix): a "
                                              "question makes 1 dense search (ef 600), 2 BM25 searches (600 "
                                              "candidates) and about 4 look-ups (qa/stores/milvus.py); taken as "
                                              "2 + 2 x 5 + 4 x 0.5 ms of query-node CPU per million windows, growing "
                                              "linearly with the windows (one index per segment). Replace with a "
                                              "measurement on a cluster"),
    "cpu_utilisation": (0.7, "query nodes planned at 70% CPU"),
    "replica_threshold": (5_000_000, "below some 5M vectors scale queries with replicas (at most 10); above, add query "
                                     "nodes to the one replica (segments are balanced over them): "
                                     "https://cloud.tencent.com/developer/article/2208003 (Zilliz)"),
    "linear_scaling": (True, "QPS grows linearly with query-node cores (8 to 32) and with replicas (1 to 8): "
                             "https://milvus.io/docs/v2.2.x/benchmark.md, https://milvus.io/docs/replica.md"),
}


def value(name: str):
    return ASSUMPTIONS[name][0]


def slope(sizes: list[dict], get) -> float:
    """Bytes per window between the two sizes measured (the fixed cost of an empty collection drops out)."""
    small, large = sizes[0], sizes[-1]
    if small["windows"] == large["windows"]:
        return get(large) / large["windows"]
    return (get(large) - get(small)) / (large["windows"] - small["windows"])


def disk_bytes(entry: dict, kinds: tuple[str, ...] | None = None) -> int:
    return sum(v["du_bytes"] for k, v in entry.items() if kinds is None or k in kinds)


def measured(figures: dict) -> dict:
    """Per window, from the two sizes: disk (milvus-lite files), memory (server RSS) and field bytes."""
    sizes = figures["sizes"]
    large = sizes[-1]
    out: dict = {"dense": {}, "collections": {}}
    flat = "FLAT"
    for index_type, entry in large["dense"].items():
        if "refused" in entry:
            out["dense"][index_type] = {"refused": entry["refused"]}
            continue
        key = f"index:vector.{index_type.lower()}"
        out["dense"][index_type] = {
            "index_disk": slope(sizes, lambda s, k=key, t=index_type: s["dense"][t]["disk"].get(k, {}).get("du_bytes", 0)),
            "index_memory": slope(sizes, lambda s, t=index_type: s["dense"][t]["rss_bytes"]["loaded"]
                                  - s["dense"][t]["rss_bytes"]["opened"]),
            "recall": entry["recall_at_10"],
        }
    out["windows_rows_disk"] = slope(sizes, lambda s: disk_bytes(s["dense"][flat]["disk"], ("rows",)))
    out["windows_rows_memory"] = slope(sizes, lambda s: s["dense"][flat]["rss_bytes"]["opened"]
                                       - s["dense"][flat]["rss_bytes"]["fresh"])
    out["windows_bm25_memory"] = slope(sizes, lambda s: s["dense"][flat]["rss_bytes"]["bm25_searched"]
                                       - s["dense"][flat]["rss_bytes"]["loaded"])
    for kind in ("chunks", "documents", "blobs", "terms"):
        out["collections"][kind] = {
            "disk": slope(sizes, lambda s, k=kind: disk_bytes(s["collections"][k]["disk"], ("rows",))),
            "memory": slope(sizes, lambda s, k=kind: s["collections"][k]["rss_bytes"]["opened"]
                            - s["collections"][k]["rss_bytes"]["fresh"]),
        }
    out["chunks_bm25_memory"] = slope(sizes, lambda s: s["collections"]["chunks"]["rss_bytes"]["bm25_searched"]
                                      - s["collections"]["chunks"]["rss_bytes"]["loaded"])

    def field_bytes(kind: str, which: str, fields: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()):
        return slope(sizes, lambda s: sum(v[which] for f, v in s["fields"][kind].items()
                                          if (fields is None or f in fields) and f not in exclude))

    out["fields"] = {
        "windows_vector": field_bytes("windows", "uncompressed_bytes", ("vector",)),
        "windows_sparse": field_bytes("windows", "uncompressed_bytes", ("sparse",)),
        "windows_scalars": field_bytes("windows", "uncompressed_bytes", exclude=("vector", "sparse")),
        "windows_stored": field_bytes("windows", "stored_bytes"),
        "chunks_sparse": field_bytes("chunks", "uncompressed_bytes", ("sparse",)),
        "chunks_scalars": field_bytes("chunks", "uncompressed_bytes", exclude=("sparse", "placeholder")),
        "chunks_stored": field_bytes("chunks", "stored_bytes"),
        "documents": field_bytes("documents", "uncompressed_bytes", exclude=("placeholder",)),
        "documents_stored": field_bytes("documents", "stored_bytes"),
        "blobs": field_bytes("blobs", "uncompressed_bytes", exclude=("placeholder",)),
        "blobs_stored": field_bytes("blobs", "stored_bytes"),
    }
    out["terms_rows"] = large["rows"]["terms"]
    out["terms_bytes"] = sum(v["uncompressed_bytes"] for v in large["fields"]["terms"].values())
    return out


def vector_memory(index_type: str) -> tuple[float, str]:
    """Query-node memory per window of the dense index, and how it is computed."""
    raw = DIMENSION * 4
    if index_type == "HNSW":
        links = 2 * value("hnsw_m") * value("link_bytes")
        return raw + links, f"{DIMENSION} x 4 + 2 x {value('hnsw_m')} x {value('link_bytes')} = {raw + links} B"
    if index_type == "IVF_SQ8":
        size = raw * value("sq8_ratio") + 8
        return size, f"{raw} x {value('sq8_ratio')} + 8 (id) = {size:.0f} B"
    if index_type == "DISKANN":
        size = raw * (value("diskann_pq_ratio") + value("diskann_cache_ratio"))
        return size, f"{raw} x ({value('diskann_pq_ratio')} + {value('diskann_cache_ratio')}) = {size:.0f} B"
    raise ValueError(index_type)


def vector_disk(index_type: str, m: dict) -> tuple[float, str]:
    """Index bytes per window kept in object storage (measured where milvus-lite builds the type)."""
    if index_type == "DISKANN":
        size = DIMENSION * 4 + value("diskann_degree") * 4
        return size, f"{DIMENSION} x 4 + {value('diskann_degree')} x 4 = {size} B (computed: milvus-lite has no DiskANN)"
    entry = m["dense"].get(index_type, {})
    if "index_disk" not in entry:
        size = vector_memory(index_type)[0]
        return size, f"{size:.0f} B (computed as its memory: not measured)"
    size = entry["index_disk"]
    return size, f"{size:,.0f} B (the measured index file)"


def plan(m: dict, index_type: str, windows: int) -> dict:
    """Memory, disk, query nodes and replicas of one archive size with one dense index type."""
    f, s = m["fields"], value("scalar_factor")
    per_window = {
        "windows": vector_memory(index_type)[0] + s * f["windows_scalars"] + f["windows_sparse"] * (s + 1),
        # the passages' figures are per window already (their bytes over the windows drawn)
        "chunks": s * f["chunks_scalars"] + f["chunks_sparse"] * (s + 1),
        "documents": s * f["documents"],
        "blobs": s * f["blobs"],
    }
    memory = {kind: b * windows for kind, b in per_window.items()}
    memory["terms"] = s * m["terms_bytes"]
    total_memory = sum(memory.values())
    stored = f["windows_stored"] + f["chunks_stored"] + f["documents_stored"] + f["blobs_stored"]
    disk = (stored + vector_disk(index_type, m)[0]) * windows * value("object_store_factor")
    usable = value("node_memory_gb") * GB * value("load_share")
    memory_nodes = max(1, math.ceil(total_memory / usable))
    cpu_s = value("cpu_ms_per_question_per_million") * windows / 1e6 / 1000
    loads = {}
    for qps in LOADS:
        cores = qps * cpu_s / value("cpu_utilisation")
        cpu_nodes = max(1, math.ceil(cores / value("node_cores")))
        if windows < value("replica_threshold"):
            replicas = max(1, math.ceil(cpu_nodes / memory_nodes))
            per_replica = memory_nodes
        else:
            replicas, per_replica = 1, max(memory_nodes, cpu_nodes)
        loads[qps] = {"cores": cores, "replicas": replicas, "per_replica": per_replica, "nodes": replicas * per_replica}
    return {"memory": memory, "total_memory": total_memory, "disk": disk, "memory_nodes": memory_nodes,
            "cpu_s": cpu_s, "loads": loads}


def best_recall(m: dict, index_type: str) -> float | None:
    entry = m["dense"].get(index_type)
    if not entry or "recall" not in entry:
        return None
    return max(r["recall"] for r in entry["recall"])


def choose(m: dict, windows: int) -> tuple[str, str]:
    """The type with the fewest query nodes at 50 questions/s; ties go to the best measured recall@10
    (HNSW, then IVF_SQ8; DiskANN last: its recall was not measured here)."""
    order = ("HNSW", "IVF_SQ8", "DISKANN")
    candidates = [t for t in order if t == "DISKANN" or (t in m["dense"] and "recall" in m["dense"][t])]
    nodes = {t: plan(m, t, windows)["loads"][LOADS[0]]["nodes"] for t in candidates}
    fewest = min(nodes.values())
    pick = next(t for t in candidates if nodes[t] == fewest)
    return pick, ", ".join(f"{t} {n}" for t, n in nodes.items())


def gb(value_bytes: float) -> str:
    return f"{value_bytes / GB:,.1f} GB" if value_bytes >= 0.1 * GB else f"{value_bytes / 1e6:,.0f} MB"


def render(figures: dict | None) -> str:
    if not figures:
        return "(no `bench/milvus_sizing.py` run recorded yet)"
    m = measured(figures)
    sizes = figures["sizes"]
    machine = figures.get("machine", {})
    where = (f"measured by `bench/milvus_sizing.py --windows {' '.join(str(s['windows']) for s in sizes)}` on "
             f"milvus-lite {figures['engine']['milvus_lite']} (a Python engine with FAISS indexes, not a Milvus "
             f"cluster: none can run here), commit {figures.get('commit')}, {figures.get('when', '')[:10]}, "
             f"{machine.get('cores')} cores, {machine.get('cpu')}, {machine.get('memory')} of memory; per window = "
             f"the difference between the two sizes divided by the difference in windows")
    lines = [f"**Measured** ({where}):", "",
             "| what, per window | disk (milvus-lite files) | memory (milvus-lite server RSS) |",
             "| --- | --- | --- |",
             f"| windows: rows (vector, tokens, BM25 sparse vector, filter fields) | {m['windows_rows_disk']:,.0f} B | "
             f"{m['windows_rows_memory']:,.0f} B (read in when the collection is opened) |"]
    for index_type, entry in m["dense"].items():
        if "refused" in entry:
            continue
        lines.append(f"| windows: {index_type} index | {entry['index_disk']:,.0f} B | {entry['index_memory']:,.0f} B |")
    lines.append(f"| windows: BM25 sparse index | none (built in memory at the first search) | "
                 f"{m['windows_bm25_memory']:,.0f} B |")
    for kind, label in (("chunks", "passages (chunks)"), ("documents", "documents"), ("blobs", "blobs (raw transcripts)")):
        entry = m["collections"][kind]
        lines.append(f"| {label}: rows | {entry['disk']:,.1f} B | {entry['memory']:,.1f} B |")
    lines.append(f"| passages: BM25 sparse index | none | {m['chunks_bm25_memory']:,.0f} B |")
    lines.append(f"| terms (the vocabulary: {m['terms_rows']:,} words, does not grow per window) | "
                 f"{m['terms_bytes'] / 1e6:,.1f} MB uncompressed in all | |")
    f = m["fields"]
    lines += ["", f"Field bytes per window, uncompressed (Parquet's figures): vector {f['windows_vector']:,.0f} B, "
                  f"BM25 sparse vector {f['windows_sparse']:,.0f} B, the other window fields {f['windows_scalars']:,.0f} B; "
                  f"passages {f['chunks_scalars'] + f['chunks_sparse']:,.0f} B (sparse {f['chunks_sparse']:,.0f}); "
                  f"documents {f['documents']:,.1f} B; blobs {f['blobs']:,.0f} B.", ""]
    refused = {t: e["refused"] for t, e in m["dense"].items() if "refused" in e}
    if refused:
        lines.append("Refused by milvus-lite: " + "; ".join(f"{t}: `{r}`" for t, r in refused.items()) + ".")
        lines.append("")
    large = sizes[-1]
    lines += [f"Recall@10 against numpy brute force on the same {large['windows']:,} vectors "
              f"({large['recall_queries']} held-out query vectors; vectors drawn from the real ones, median cosine "
              f"to the nearest other {large['vectors'].get('drawn_median_nearest_cosine')} against "
              f"{large['vectors'].get('real_median_nearest_cosine')} in the real index):", ""]
    for index_type, entry in m["dense"].items():
        if "recall" in entry:
            sweep = ", ".join(f"{json.dumps(r['params']) if r['params'] else 'default'}: {r['recall']:.3f}"
                              for r in entry["recall"])
            lines.append(f"- {index_type}: {sweep}")
    lines += recall_at_a_million()
    per_doc = figures["source"]["windows_per_document"]
    lines += ["", f"**Computed** for a Milvus cluster (not measured: no cluster can run here). Windows per briefing: "
                  f"{per_doc:,.1f} (the real index: {figures['source']['windows']:,} windows, "
                  f"{figures['source']['documents']:,} documents). Assumptions:", ""]
    for name, (v, source) in ASSUMPTIONS.items():
        lines.append(f"- `{name}` = {v}: {source}")
    lines += ["", "Memory per window on the query nodes = the dense index (below) + "
                  f"{value('scalar_factor')} x the other window fields + ({value('scalar_factor')} + 1) x the BM25 sparse "
                  "vector (the raw field and its inverted index) + the same for a window's share of passages, "
                  "documents and blobs; disk = (the stored rows + the index file) x "
                  f"{value('object_store_factor')}. Dense index memory per window:", ""]
    for index_type in ("HNSW", "IVF_SQ8", "DISKANN"):
        lines.append(f"- {index_type}: {vector_memory(index_type)[1]}; on disk {vector_disk(index_type, m)[1]}")
    lines += ["", "| windows (briefings) | index | memory: windows / passages / documents+blobs+terms = total | "
                  "object storage | query nodes for memory | query nodes at 50 questions/s | at 500 questions/s |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for windows in SIZES:
        pick, compared = choose(m, windows)
        for index_type in ("HNSW", "IVF_SQ8", "DISKANN"):
            p = plan(m, index_type, windows)
            mem = p["memory"]
            loads = "|".join(f" {l['nodes']}: {l['replicas']} replica x {l['per_replica']} node "
                             f"({qps} x {p['cpu_s'] * 1000:,.0f} ms / {value('cpu_utilisation')} = {l['cores']:,.1f} cores) "
                             for qps, l in p["loads"].items())
            chosen = " **(choose)**" if index_type == pick else ""
            lines.append(
                f"| {windows / 1e6:,.0f}M ({windows / per_doc:,.0f}) | {index_type}{chosen} | {gb(mem['windows'])} / "
                f"{gb(mem['chunks'])} / {gb(mem['documents'] + mem['blobs'] + mem['terms'])} = {gb(p['total_memory'])} | "
                f"{gb(p['disk'])} | {p['memory_nodes']} ({gb(p['total_memory'])} / ({value('node_memory_gb')} GB x "
                f"{value('load_share')})) |{loads}|")
    lines += ["", "The choice: the index type with the fewest query nodes at 50 questions/s; on a tie the best "
                  "measured recall@10 (HNSW, then IVF_SQ8; DiskANN last, its recall unmeasured here). For an "
                  "always-on service, two replicas at least (a node lost leaves a copy), which doubles the nodes of "
                  "a one-replica row."]
    return "\n".join(lines)


def replace_block(text: str, body: str, start: str = START, end: str = END) -> str:
    """``text`` with what stands between the markers ``start`` and ``end`` replaced by ``body``."""
    if start not in text or end not in text:
        raise SystemExit(f"the markers {start!r} are missing")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def recall_at_a_million() -> list[str]:
    """The recall@10 lines of the runs at 1,000,000 windows (``RUNS_1M``), when there are any."""
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in RUNS_1M if path.exists()]
    if not runs:
        return []
    lines = ["", "Recall@10 at 1,000,000 windows (the same measurement, 200 held-out query vectors; runs at commit "
             + ", ".join(f"{run['commit']} ({run['when'][:10]}, {len(run['sizes'])} sizes, "
                         f"{run['seconds']:,.0f} s)" for run in runs) + "):", ""]
    measured = {t for run in runs for t, e in run["sizes"][-1]["dense"].items() if "recall_at_10" in e}
    for run in runs:
        for index_type, entry in run["sizes"][-1]["dense"].items():
            if index_type in measured and "recall_at_10" not in entry:
                continue  # measured in another run
            if "recall_at_10" in entry and not (index_type == "FLAT" and run is not runs[0]):
                sweep = ", ".join(f"{json.dumps(r['params']) if r['params'] else 'default'}: {r['recall']:.3f}"
                                  for r in entry["recall_at_10"])
                lines.append(f"- {index_type}: {sweep}")
            elif "refused" in entry and index_type in ("HNSW", "IVF_SQ8"):
                lines.append(f"- {index_type}: not measured in this run (`{entry['refused'][:90]}`)")
    return lines


def rendered() -> dict[Path, str]:
    figures = json.loads(FIGURES.read_text(encoding="utf-8")) if FIGURES.exists() else None
    return {DOC: replace_block(DOC.read_text(encoding="utf-8"), render(figures))}


def main() -> int:
    from glance import write_pages

    write_pages(rendered())
    return 0


if __name__ == "__main__":
    sys.exit(main())
