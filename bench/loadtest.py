"""make loadtest: 32 concurrent connections against `qa serve` on 127.0.0.1 for 60 s, with an index
rebuild and swap in the middle. Reports requests, failures, latency percentiles and memory.

Traffic goes only to 127.0.0.1, and the run stops by itself after --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPO, SHARED, free_port, latency_summary, questions, rss_mb, wait_for_server  # noqa: E402


async def load(base: str, asked: list[str], seconds: float, connections: int) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:

        async def worker(offset: int) -> None:
            position = offset
            while time.perf_counter() < deadline:
                question = asked[position % len(asked)]
                position += 1
                began = time.perf_counter()
                try:
                    response = await http.post("/api/ask", json={"question": question, "k": 5})
                    if response.status_code != 200:
                        failures.append(f"HTTP {response.status_code}")
                except httpx.HTTPError as error:
                    failures.append(type(error).__name__)
                latencies.append((time.perf_counter() - began) * 1000)

        await asyncio.gather(*(worker(i * 3) for i in range(connections)))
    return {"requests": len(latencies), "failures": len(failures), "failure_kinds": sorted(set(failures)),
            "latency": latency_summary(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", action="append", type=Path, help="transcripts (default: seeds + the shared corpus)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "loadtest.json")
    parser.add_argument("--prebuilt", type=Path,
                        help="start from a copy of this index of the same sources instead of building one")
    args = parser.parse_args()
    sources = args.source or [REPO / "seeds", SHARED / "corpus" / "wh-press-briefings"]

    from qa.embedding import get_encoder
    from qa.build import build_index
    from qa.settings import DEFAULT_BACKEND

    with tempfile.TemporaryDirectory(prefix="qa-load-") as workdir:
        work = Path(workdir)
        corpus = work / "corpus"
        corpus.mkdir()
        for source in sources:
            for path in sorted(Path(source).glob("*.txt")):
                shutil.copy(path, corpus / path.name)
        encoder = get_encoder("all-MiniLM-L6-v2", os.environ.get("QA_BACKEND", DEFAULT_BACKEND))
        index = work / "index"
        if args.prebuilt:
            shutil.copytree(os.path.realpath(args.prebuilt), work / ".index.v-0")
            (work / "index").symlink_to(".index.v-0")
        print(f"building the index of {len(list(corpus.glob('*.txt')))} files ...", file=sys.stderr)
        build_index([corpus], index, encoder)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(port)],
                                  cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_server(base, server)
            asked = questions()
            # Warm up at full concurrency, so that the baseline memory includes the server's
            # thread pool and runtime arenas: the question is whether memory grows under load.
            asyncio.run(load(base, asked, 5.0, args.connections))
            rss_before = rss_mb(server.pid)

            # Halfway through, a new briefing arrives and the index is rebuilt and swapped.
            swap = {}

            def rebuild() -> None:
                time.sleep(args.seconds / 4)
                (corpus / "2024-01-02_new-briefing.txt").write_text(
                    "MR. SPOKESMAN:  The harbour programme will train 300 new pilots in 2024.\n"
                )
                began = time.perf_counter()
                build_index([corpus], index, encoder)
                swap["rebuild_s"] = round(time.perf_counter() - began, 2)
                swap["started_at_s"] = round(args.seconds / 4, 1)

            rebuilder = threading.Thread(target=rebuild)
            rebuilder.start()
            print(f"{args.connections} connections for {args.seconds:.0f} s against {base} ...", file=sys.stderr)
            result = asyncio.run(load(base, asked, args.seconds, args.connections))
            rebuilder.join()
            swapped, waited = False, time.perf_counter()
            with httpx.Client(base_url=base, timeout=30) as http:
                while not swapped and time.perf_counter() - waited < 60:
                    swapped = "2024-01-02_new-briefing" in {d["doc_id"] for d in http.get("/api/documents").json()}
                    time.sleep(0.5)
            served_after = round(time.perf_counter() - waited, 1)
            time.sleep(10)  # the server gives the old index's memory back a few seconds after a swap
            result.update({
                "seconds": args.seconds,
                "connections": args.connections,
                "requests_per_s": round(result["requests"] / args.seconds, 1),
                "rss_mb_before": rss_before,
                "rss_mb_after": rss_mb(server.pid),
                "index_rebuild": swap,
                "new_index_served": swapped,
                "seconds_after_load_until_served": served_after,
            })
        finally:
            server.terminate()
            server.wait(timeout=20)
    result["rss_growth"] = round(result["rss_mb_after"] / result["rss_mb_before"] - 1, 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = result["failures"] == 0 and result["new_index_served"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
