"""make bench: index build against raw encoder throughput, query latency, concurrency, memory, start-up.

Both stores side by side: the embedded index, and the same index published to a Milvus store
(a ``milvus-lite server`` started here, unless ``--milvus-uri`` names another): publish (insert)
throughput, query latency in-process and over HTTP, and the memory of one ``qa serve`` replica
(the Milvus server's own memory apart). milvus-lite is a light pure-Python engine: its speed says
nothing about a Milvus cluster's.

Writes bench/results.json and prints a table. Run on an otherwise idle machine: the figures are
wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

from qa.settings import DEFAULT_BACKEND
from pathlib import Path

from glance import commit, machine  # noqa: E402  (bench/ is on the path when run as a script)

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("QA_SHARED", REPO.parent / "shared"))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return round(ordered[position], 2)


def latency_summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": percentile(values, 0.5), "p95_ms": percentile(values, 0.95), "p99_ms": percentile(values, 0.99)}


def questions() -> list[str]:
    files = [SHARED / "eval" / "dev.jsonl", REPO / "tests" / "data" / "questions.jsonl"]
    found = [json.loads(line)["question"] for f in files if f.exists() for line in f.read_text().splitlines() if line.strip()]
    return found or ["How many specific support measures did the SME service initiative introduce?"]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the workers of ``qa serve --workers``)."""
    total = 0.0
    for process in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:  # gone meanwhile
            pass
    return round(total, 1)


def descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        found.extend(int(c) for c in children)
        queue.extend(int(c) for c in children)
    return found


def bench_build(sources: list[Path], backend: str, workdir: Path) -> tuple[dict, Path]:
    from qa.chunking import chunk_all, clean_for_model, window_spans
    from qa.embedding import get_encoder
    from qa.build import build_index
    from qa.readers import load_folder

    began = time.perf_counter()
    encoder = get_encoder("all-MiniLM-L6-v2", backend)
    encoder.encode(["warm up"])
    load_seconds = time.perf_counter() - began

    # The raw encoder on exactly the texts the build embeds, batched the same way.
    transcripts, _ = load_folder(sources)
    by_id = {t.doc_id: t for t in transcripts}
    texts = [
        clean_for_model(by_id[chunk.doc_id].raw[start:end])
        for chunk in chunk_all(transcripts)
        for start, end in window_spans(by_id[chunk.doc_id].raw, chunk)
    ]
    ordered = sorted(texts, key=len)
    began = time.perf_counter()
    for first in range(0, len(ordered), 256):
        encoder.encode(ordered[first : first + 256], batch_size=32)
    encode_seconds = time.perf_counter() - began

    # The build reads a copy of the corpus, so that a briefing can be taken out and put back.
    corpus = workdir / "corpus"
    corpus.mkdir()
    for source in sources:
        for path in sorted(source.rglob("*.txt")):
            shutil.copy(path, corpus / path.name)
    out = workdir / "index"
    began = time.perf_counter()
    report = build_index([corpus], out, encoder)
    build_seconds = time.perf_counter() - began
    raw_rate = len(texts) / encode_seconds

    # Rebuilds: nothing changed; the newest briefing taken out; put back (it is embedded again).
    newest = sorted(corpus.glob("*.txt"))[-1]
    rebuilds = {}
    began = time.perf_counter()
    build_index([corpus], out, encoder)
    rebuilds["nothing_changed_s"] = round(time.perf_counter() - began, 2)
    kept = newest.read_bytes()
    newest.unlink()
    began = time.perf_counter()
    build_index([corpus], out, encoder)
    rebuilds["one_removed_s"] = round(time.perf_counter() - began, 2)
    newest.write_bytes(kept)
    began = time.perf_counter()
    added = build_index([corpus], out, encoder)
    rebuilds["one_added_s"] = round(time.perf_counter() - began, 2)
    rebuilds["one_added_windows"] = added.encoded
    # That briefing's own encode time, on the raw encoder, batched like the build.
    (briefing,), _ = load_folder([newest])
    own = [clean_for_model(briefing.raw[start:end]) for chunk in chunk_all([briefing]) for start, end in window_spans(briefing.raw, chunk)]
    began = time.perf_counter()
    encoder.encode(sorted(own, key=len), batch_size=32)
    rebuilds["one_added_encode_s"] = round(time.perf_counter() - began, 2)
    rebuilds["one_added_over_encode_s"] = round(rebuilds["one_added_s"] - rebuilds["one_added_encode_s"], 2)
    rebuilds["briefing"] = newest.name
    build_rate = len(texts) / build_seconds
    return {
        "backend": backend,
        "documents": report.documents,
        "passages": report.chunks,
        "windows": len(texts),
        "model_load_s": round(load_seconds, 2),
        "raw_encoder_windows_per_s": round(raw_rate, 1),
        "raw_encode_s": round(encode_seconds, 1),
        "build_s": round(build_seconds, 1),
        "build_windows_per_s": round(build_rate, 1),
        "build_share_of_raw_encoder": round(build_rate / raw_rate, 3),
        "rebuild": rebuilds,
    }, out


def bench_in_process(index_dir: Path, asked: list[str], rounds: int, **store) -> dict:
    from qa.reloader import load_searcher
    from qa.settings import Settings

    searcher = load_searcher(Settings(index_dir=index_dir, **store))
    searcher.ask(asked[0], 5)
    timings = []
    for _ in range(rounds):
        for question in asked:
            began = time.perf_counter()
            searcher.ask(question, 5)
            timings.append((time.perf_counter() - began) * 1000)
    return latency_summary(timings)


def bench_cross(index_dir: Path, asked: list[str], rounds: int, workdir: Path) -> dict:
    """What the cross-encoder adds to a question: the same searcher answering with the shipped answer
    model and with that model less the cross-encoder (the query as it was before it: the sentence
    model alone picks the answer, no re-ranking), question by question and in turn (which goes first
    alternates); then over HTTP, a ``qa serve`` of each, one request at a time."""
    from dataclasses import replace

    from qa.reloader import load_searcher
    from qa.settings import Settings

    searcher = load_searcher(Settings(index_dir=index_dir))
    shipped = searcher.answer_model
    if shipped.cross is None:
        return {"note": "the shipped answer model does not read the cross-encoder"}
    without = replace(shipped, cross=None)
    models = {"with": shipped, "without": without}
    timings = {"with": [], "without": []}
    for name, model in models.items():
        searcher.answer_model = model
        searcher.ask(asked[0], 5)
    for round_number in range(rounds):
        for number, question in enumerate(asked):
            order = ("with", "without") if (number + round_number) % 2 == 0 else ("without", "with")
            for name in order:
                searcher.answer_model = models[name]
                began = time.perf_counter()
                searcher.ask(question, 5)
                timings[name].append((time.perf_counter() - began) * 1000)
    searcher.answer_model = shipped
    plain_file = workdir / "answer_model-without-cross.json"
    without.save(plain_file)
    http = {}
    for name, env in (("with", {}), ("without", {"QA_ANSWER_MODEL": str(plain_file)}),
                      ("with_again", {})):
        http[name] = bench_server(index_dir, asked, 0, clients=0, env=env)["http_one_at_a_time"]
    in_process = {name: latency_summary(values) for name, values in timings.items()}
    return {
        "in_process": in_process,
        "in_process_p50_added_ms": round(in_process["with"]["p50_ms"] - in_process["without"]["p50_ms"], 2),
        "http_one_at_a_time": http,
        "http_p50_added_ms": round((http["with"]["p50_ms"] + http["with_again"]["p50_ms"]) / 2
                                   - http["without"]["p50_ms"], 2),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(base: str, process: subprocess.Popen, timeout: float = 120) -> None:
    """Return once ``qa serve`` answers /healthz; raise if it exits or takes too long."""
    import httpx

    began = time.perf_counter()
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.perf_counter() - began > timeout:
            raise RuntimeError("qa serve did not start")
        time.sleep(0.05)


def bench_server(index_dir: Path, asked: list[str], seconds: float, clients: int, workers: int = 1,
                 store_args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> dict:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "serve", "--index", str(index_dir), "--port", str(port), "--workers", str(workers),
         *store_args],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )
    try:
        wait_for_server(base, process)
        ready_seconds = time.perf_counter() - began
        if workers > 1:
            time.sleep(5)  # the first worker answers /healthz; let the others finish loading too
        rss_start = rss_mb(process.pid)

        sequential = []
        with httpx.Client(base_url=base, timeout=30) as http:
            for question in asked:
                began = time.perf_counter()
                http.post("/api/ask", json={"question": question, "k": 5}).raise_for_status()
                sequential.append((time.perf_counter() - began) * 1000)

        done, failed, concurrent = [0], [0], []
        lock = threading.Lock()
        deadline = time.perf_counter() + seconds

        def client(offset: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as http:
                position = offset
                while time.perf_counter() < deadline:
                    question = asked[position % len(asked)]
                    position += 1
                    began = time.perf_counter()
                    try:
                        ok = http.post("/api/ask", json={"question": question, "k": 5}).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    took = (time.perf_counter() - began) * 1000
                    with lock:
                        done[0] += ok
                        failed[0] += not ok
                        concurrent.append(took)

        threads = [threading.Thread(target=client, args=(i * 7,)) for i in range(clients)]
        if not threads:
            return {"ready_s": round(ready_seconds, 2), "http_one_at_a_time": latency_summary(sequential)}
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        return {
            "ready_s": round(ready_seconds, 2),
            "rss_mb_at_start": rss_start,
            "rss_mb_after_load": rss_mb(process.pid),
            "http_one_at_a_time": latency_summary(sequential),
            "concurrent_clients": clients,
            "workers": workers,
            "store": "milvus" if store_args else "embedded",
            "concurrent_seconds": round(elapsed, 1),
            "concurrent_requests": done[0],
            "concurrent_failures": failed[0],
            "queries_per_s": round(done[0] / elapsed, 1),
            "http_concurrent": latency_summary(concurrent),
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def start_milvus(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """``milvus-lite server`` on a free port, once it accepts connections."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.perf_counter() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            if process.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError("milvus-lite server did not start") from None
            time.sleep(0.2)


def bench_milvus(index_dir: Path, uri: str, server_pid: int | None, asked: list[str], args) -> dict:
    """Publish the index to Milvus, then the same query measurements as for the embedded store."""
    from qa.stores.embedded import Index
    from qa.stores.milvus_publish import publish

    index = Index.load(index_dir)
    began = time.perf_counter()
    report = publish(index, uri, "bench")
    seconds = time.perf_counter() - began
    rows = report["windows"] + report["chunks"]
    store = {"store": "milvus", "milvus_uri": uri, "milvus_prefix": "bench"}
    in_process = bench_in_process(index_dir, asked, args.rounds, **store)
    store_args = ("--store", "milvus", "--milvus-uri", uri, "--milvus-prefix", "bench")
    servers = [bench_server(index_dir, asked, args.seconds, clients=8, workers=int(n), store_args=store_args)
               for n in args.workers.split(",")]
    return {
        "uri": uri,
        "publish_s": round(seconds, 1),
        "publish_windows_per_s": round(report["windows"] / seconds, 1),
        "publish_rows_per_s": round(rows / seconds, 1),
        "milvus_server_rss_mb": rss_mb(server_pid) if server_pid else None,
        "query_in_process": in_process,
        "server": servers[0],
        "servers": servers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", action="append", type=Path, help="transcript folders (default: seeds + the shared corpus)")
    parser.add_argument("--backend", default=os.environ.get("QA_BACKEND", DEFAULT_BACKEND))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the concurrency run")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions in-process")
    parser.add_argument("--keep", type=Path, help="copy the built index to this folder")
    parser.add_argument("--workers", default="1,2", help="qa serve --workers for the HTTP runs, e.g. 1,2 (each is run)")
    parser.add_argument("--stores", default="embedded,milvus", help="which stores to measure (default both)")
    parser.add_argument("--milvus-uri", help="a Milvus to publish to (default: a milvus-lite server started here)")
    parser.add_argument("--prebuilt", type=Path, help="measure this index instead of building one (no build figures)")
    args = parser.parse_args()
    stores = set(args.stores.split(","))
    sources = args.source or [REPO / "seeds", SHARED / "corpus" / "wh-press-briefings"]
    missing = [s for s in sources if not s.exists()]
    if missing:
        print(f"bench: source folder not found: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    asked = questions()
    from parse_speed import FORMATS, bench_parse_speed

    # Reading web pages, PDFs and captions (MB of file per second, per format): a few seconds.
    parse_speed = bench_parse_speed() if FORMATS.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as workdir:
        if args.prebuilt:
            build, index_dir = None, args.prebuilt
        else:
            build, index_dir = bench_build(sources, args.backend, Path(workdir))
        in_process, servers, milvus, timeline, cross = None, [], None, None, None
        if "embedded" in stores:
            in_process = bench_in_process(index_dir, asked, args.rounds)
            cross = bench_cross(index_dir, asked, args.rounds, Path(workdir))
            from timeline import bench_timeline

            timeline = bench_timeline(index_dir, args.rounds)
            servers = [bench_server(index_dir, asked, args.seconds, clients=8, workers=int(n)) for n in args.workers.split(",")]
        if "milvus" in stores:
            server = None
            if args.milvus_uri:
                uri = args.milvus_uri
            else:
                server, uri = start_milvus(Path(workdir) / "milvus")
            try:
                milvus = bench_milvus(index_dir, uri, server.pid if server else None, asked, args)
            finally:
                if server is not None:
                    server.terminate()
                    server.wait(timeout=30)
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(os.path.realpath(index_dir), args.keep)
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "sources": [str(s) for s in sources],
        "build": build,
        "query_in_process": in_process,
        "cross_encoder": cross,
        "timeline_in_process": timeline,
        "server": servers[0] if servers else None,
        "servers": servers,
        "milvus": milvus,
        "parse_speed": parse_speed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(render(results))
    return 0


def render(results: dict) -> str:
    build, query, server = results["build"], results["query_in_process"], results["server"]
    servers = results.get("servers") or []
    rows = [("machine", f"{results['machine']['cores']} cores, {results['machine']['cpu']}, {results['machine']['memory']}")]
    if build:
        rows += [
            ("corpus", f"{build['documents']} documents, {build['passages']} passages, {build['windows']} windows"),
            ("encoder backend", build["backend"]),
            ("raw encoder", f"{build['raw_encoder_windows_per_s']} windows/s ({build['raw_encode_s']} s)"),
            ("index build", f"{build['build_s']} s, {build['build_windows_per_s']} windows/s ({build['build_share_of_raw_encoder']:.0%} of raw)"),
            ("rebuild, nothing changed", f"{build['rebuild']['nothing_changed_s']} s"),
            ("rebuild, one briefing added", "{one_added_s} s ({one_added_windows} windows; their encoding {one_added_encode_s} s, the rest {one_added_over_encode_s} s)".format(**build["rebuild"])),
            ("rebuild, one briefing removed", f"{build['rebuild']['one_removed_s']} s"),
        ]
    timeline = results.get("timeline_in_process")
    if timeline:
        rows.append(("embedded: timeline in-process, phrases", "p50 {p50_ms} ms, p95 {p95_ms} ms, p99 {p99_ms} ms".format(**timeline["phrases"])))
        rows.append(("embedded: timeline in-process, questions", "p50 {p50_ms} ms, p95 {p95_ms} ms, p99 {p99_ms} ms".format(**timeline["questions"])))
        rows.append(("embedded: archive read for the scans (once)", f"{timeline['archive_first_read_ms']} ms"))
    milvus = results.get("milvus")
    if milvus:
        rows.append(("milvus: publish (insert)", f"{milvus['publish_s']} s, {milvus['publish_windows_per_s']} windows/s ({milvus['publish_rows_per_s']} rows/s)"))
    for name, in_process, one_servers in (("embedded", query, servers), ("milvus", milvus and milvus["query_in_process"], milvus and milvus["servers"] or [])):
        if in_process:
            rows.append((f"{name}: query in-process (k=5)", f"p50 {in_process['p50_ms']} ms, p95 {in_process['p95_ms']} ms, p99 {in_process['p99_ms']} ms"))
        if one_servers:
            http = one_servers[0]["http_one_at_a_time"]
            rows.append((f"{name}: query over HTTP, one at a time", "p50 {p50_ms} ms, p95 {p95_ms} ms, p99 {p99_ms} ms".format(**http)))
            if in_process:
                # What serving over HTTP adds (the client's own time included): the p50s' difference.
                rows.append((f"{name}: HTTP's own share (p50 over HTTP - p50 in-process)",
                             f"{round(http['p50_ms'] - in_process['p50_ms'], 2)} ms"))
        for one in one_servers:
            workers = f"{one['workers']} worker" + ("s" if one["workers"] > 1 else "")
            rows += [
                (f"{name}: {one['concurrent_clients']} concurrent clients, {workers}", f"{one['queries_per_s']} queries/s, {one['concurrent_failures']} failed, p99 {one['http_concurrent']['p99_ms']} ms"),
                (f"{name}: server ready after start, {workers}", f"{one['ready_s']} s"),
                (f"{name}: qa serve resident memory, {workers}", f"{one['rss_mb_at_start']} MB at start, {one['rss_mb_after_load']} MB after the load"),
            ]
    cross = results.get("cross_encoder")
    if cross and "in_process" in cross:
        with_, without = cross["in_process"]["with"], cross["in_process"]["without"]
        rows.append(("embedded: query in-process without / with the cross-encoder",
                     f"p50 {without['p50_ms']} / {with_['p50_ms']} ms: adds {cross['in_process_p50_added_ms']} ms"))
        http = cross["http_one_at_a_time"]
        rows.append(("embedded: query over HTTP without / with the cross-encoder",
                     f"p50 {http['without']['p50_ms']} / {http['with']['p50_ms']} and {http['with_again']['p50_ms']} ms: "
                     f"adds {cross['http_p50_added_ms']} ms"))
    if milvus and milvus.get("milvus_server_rss_mb"):
        rows.append(("milvus: milvus-lite server resident memory", f"{milvus['milvus_server_rss_mb']} MB"))
    for kind, speed in (results.get("parse_speed") or {}).items():
        rows.append((f"reading {kind} into a transcript", f"{speed['mb_per_s']} MB/s ({speed['files']} files, {speed['mb']} MB; {speed['ms_per_file']} ms a file)"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"| {name.ljust(width)} | {value} |" for name, value in rows)


if __name__ == "__main__":
    sys.exit(main())
