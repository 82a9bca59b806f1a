"""How fast "how often and when" answers: GET /api/timeline's work in-process (the query read, the
whole-archive match, the counts per month, the JSON), for quoted phrases and for questions matched
by meaning, after the archive's passages are read once (that first read is timed apart). Part of
``make bench`` (bench/run.py); on its own:

    .venv/bin/python bench/timeline.py --index .cache/eval-index
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from run import latency_summary, questions  # noqa: E402

PHRASES = ['"Taiwan"', '"wolf warrior"', '"genocide"', '"supply chain"', '"climate change"', '"President Xi"',
           '"the"', '"Taiwan" -strait after:2022-01-01', '"human rights" speaker:Psaki', '"Beijing"']


def bench_timeline(index_dir: Path, rounds: int = 3, **store) -> dict:
    from qa.reloader import load_searcher
    from qa.results import timeline_json
    from qa.settings import Settings

    searcher = load_searcher(Settings(index_dir=index_dir, **store))
    began = time.perf_counter()
    searcher.archive()
    first_read = (time.perf_counter() - began) * 1000
    asked = questions()
    searcher.timeline(asked[0])

    def run(queries: list[str]) -> tuple[dict, list[int]]:
        timings, counts = [], []
        for _ in range(rounds):
            for query in queries:
                began = time.perf_counter()
                parsed, filters, timeline = searcher.timeline(query)
                body = timeline_json(query, parsed, filters, timeline, 0.0)
                timings.append((time.perf_counter() - began) * 1000)
                counts.append(body["passages"])
        return latency_summary(timings), counts

    phrases, phrase_counts = run(PHRASES)
    meaning, meaning_counts = run(asked)
    return {
        "archive_first_read_ms": round(first_read, 1),
        "passages_in_archive": len(searcher.archive()),
        "phrases": {**phrases, "queries": len(PHRASES), "matches_median": sorted(phrase_counts)[len(phrase_counts) // 2]},
        "questions": {**meaning, "queries": len(asked), "matches_median": sorted(meaning_counts)[len(meaning_counts) // 2]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries")
    parser.add_argument("--store", choices=("embedded", "milvus"), default="embedded")
    parser.add_argument("--milvus-uri", help="with --store milvus")
    parser.add_argument("--milvus-prefix", help="with --store milvus")
    args = parser.parse_args()
    store = {"store": args.store}
    if args.store == "embedded" and not (args.index / "manifest.json").exists():
        print(f"timeline: error: no index at {args.index} (make eval builds .cache/eval-index)", file=sys.stderr)
        return 2
    if args.milvus_uri:
        store["milvus_uri"] = args.milvus_uri
    if args.milvus_prefix:
        store["milvus_prefix"] = args.milvus_prefix
    print(json.dumps(bench_timeline(args.index, args.rounds, **store), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
