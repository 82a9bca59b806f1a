"""The relevance floor for "match" (qa.matching.MATCH_FLOOR), measured: for a question without a
quoted phrase, a passage matches when its best window's cosine to the question is at least the
floor. At each floor this prints, for the off-topic and near-topic sets, how many questions match
anything and how many passages they match on average (both should be near zero), and for the
answerable sets how often the gold passage matches and how many passages match (the recall the
floor costs):

    .venv/bin/python bench/match_floor.py --index .cache/eval-index
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ANSWERABLE = [REPO.parent / "shared" / "eval" / "dev.jsonl", REPO / "tests/data/questions.jsonl",
              REPO / "tests/data/answers_tune.jsonl", REPO / "tests/data/answers_check.jsonl",
              REPO / "tests/data/answers_hard.jsonl"]
UNANSWERABLE = [REPO / "tests/data/offtopic.jsonl", REPO / "tests/data/offtopic_near.jsonl"]
FLOORS = [round(0.30 + 0.01 * i, 2) for i in range(51)]
# "Almost nothing": the most questions of an unanswerable set that may match anything, and the
# most passages they may match on average.
MOST_QUESTIONS, MOST_MEAN = 0.10, 0.10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, action="append", help="answerable sets (default: dev and ours)")
    parser.add_argument("--offtopic", type=Path, action="append", help="unanswerable sets (default: off-topic, near-topic)")
    parser.add_argument("--json", action="store_true", help="print every floor's figures as JSON")
    args = parser.parse_args()
    if not (args.index / "manifest.json").exists():
        print(f"match_floor: error: no index at {args.index} (build one: make eval builds .cache/eval-index)",
              file=sys.stderr)
        return 2

    import numpy as np

    from qa.reloader import load_searcher
    from qa.query import Filters
    from qa.settings import Settings
    from qa.syntax import normalise

    searcher = load_searcher(Settings.from_env().with_overrides(index_dir=args.index))
    archive = searcher.archive()
    allowed = archive.allowed(Filters())
    lowest = FLOORS[0]

    def best_cosines(question: str) -> np.ndarray:
        vector = searcher.encoder.encode([question])[0]
        chunks, cosines = searcher.index.dense_scan(vector, lowest)
        best = np.full(len(archive), -1.0, dtype=np.float32)
        np.maximum.at(best, chunks, cosines)
        return np.where(allowed, best, -1.0)

    def load(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    chunks = archive.table.chunks
    path_of = {doc_id: document.path for doc_id, document in searcher.index.documents.items()}
    report: dict[str, dict] = {}
    for path in args.offtopic or UNANSWERABLE:
        bests = [best_cosines(q["question"]) for q in load(path)]
        report[path.name] = {"kind": "unanswerable", "questions": len(bests), "floors": {
            floor: {"questions_matching": sum(int((b >= floor).any()) for b in bests) / len(bests),
                    "mean_matches": float(np.mean([(b >= floor).sum() for b in bests]))} for floor in FLOORS}}
    for path in args.questions or ANSWERABLE:
        if not path.exists():
            continue
        rows = []
        for q in load(path):
            best = best_cosines(q["question"])
            phrase = normalise(q.get("phrase") or "")
            gold = [i for i, c in enumerate(chunks) if path_of[c.doc_id] == q["doc"] and phrase and
                    f" {phrase} " in f" {normalise(c.text)} "]
            rows.append((best, float(best[gold].max()) if gold else None))
        report[path.name] = {"kind": "answerable", "questions": len(rows), "floors": {
            floor: {"gold_matching": sum(1 for _, g in rows if g is not None and g >= floor) / len(rows),
                    "median_matches": float(statistics.median((b >= floor).sum() for b, _ in rows))}
            for floor in FLOORS}}
    # The floor: the lowest at which every unanswerable set matches almost nothing.
    chosen = next((floor for floor in FLOORS if all(
        r["floors"][floor]["questions_matching"] <= MOST_QUESTIONS and r["floors"][floor]["mean_matches"] <= MOST_MEAN
        for r in report.values() if r["kind"] == "unanswerable")), None)
    if args.json:
        print(json.dumps({"chosen_floor": chosen, "sets": report}, indent=2))
        return 0
    names = list(report)
    print("floor  " + "  ".join(f"{n[:22]:>22}" for n in names))
    print("       " + "  ".join(f"{'any-match / mean':>22}" if report[n]["kind"] == "unanswerable"
                                else f"{'gold found / median':>22}" for n in names))
    for floor in FLOORS:
        cells = []
        for name in names:
            figures = report[name]["floors"][floor]
            if report[name]["kind"] == "unanswerable":
                cells.append(f"{figures['questions_matching']:>11.2f} / {figures['mean_matches']:<8.2f}")
            else:
                cells.append(f"{figures['gold_matching']:>11.2f} / {figures['median_matches']:<8.0f}")
        print(f"{floor:5.2f}  " + "  ".join(f"{c:>22}" for c in cells))
    print(f"\nlowest floor at which each unanswerable set has at most {MOST_QUESTIONS:.0%} of its questions matching "
          f"anything and at most {MOST_MEAN} passages a question: {chosen} (qa.matching.MATCH_FLOOR)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
