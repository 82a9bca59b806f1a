"""Where the time of one query goes, in-process: the question's encoding, the candidate signals
(dense search, BM25, per-candidate reads) and the whole ``ask()``, as medians over the dev and
own questions, then cProfile's busiest functions over one pass:

    .venv/bin/python bench/profile_query.py --index .cache/eval-index
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from run import questions  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the questions for the medians")
    parser.add_argument("--top", type=int, default=12, help="how many functions cProfile lists")
    args = parser.parse_args()

    from qa.reloader import load_searcher
    from qa.query import Query
    from qa.stores.seam import IndexLoadError
    from qa.settings import Settings

    try:
        searcher = load_searcher(Settings.from_env().with_overrides(index_dir=args.index))
    except IndexLoadError as error:
        print(f"profile_query: error: {error}", file=sys.stderr)
        return 2
    asked, ranker = questions(), searcher.ranker
    encode, signals, whole = [], [], []
    for _ in range(args.rounds):
        for question in asked:
            began = time.perf_counter()
            vector = searcher.encoder.encode([question])[0]
            encoded = time.perf_counter()
            ranker.signals(Query.of(question, vector))
            signalled = time.perf_counter()
            searcher.ask(question, 5)
            whole.append(time.perf_counter() - signalled)
            encode.append(encoded - began)
            signals.append(signalled - encoded)
    median = lambda values: f"{statistics.median(values) * 1000:.2f} ms"  # noqa: E731
    print(f"{len(asked)} questions x {args.rounds}: encoding the question {median(encode)}, "
          f"candidate signals {median(signals)}, whole ask() (k=5) {median(whole)}")
    profile = cProfile.Profile()
    profile.enable()
    for question in asked:
        searcher.ask(question, 5)
    profile.disable()
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
