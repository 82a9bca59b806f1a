"""The answer, step by step: answer precision and coverage of each way of choosing and showing it.

    .venv/bin/python bench/answer_ablation.py --index .cache/eval-index

Rows (README.md, "The answer", has the table this prints):

1. ``overlap rule``: before the answer model: the sentence of the best passage with most of the
   question's IDF weight, in its best window above all, shown when that window's cosine is at
   least 0.43 (``AnswerModel.by_overlap``).
2. ``sentence model, all shown``: the fitted sentence model picks among every sentence of the
   best three passages (a sentence with the neighbour it needs); every answer is shown.
3. ``+ cross-encoder's choice``: the cross-encoder (with the fitted blend) picks among the sentence
   model's shortlist; every answer shown.
4. ``+ re-ranking``: and the best three passages reordered by it.
5. ``+ threshold``: the shipped model: shown only when the calibrated confidence reaches the
   shipped threshold (``qa/answer_model.json``).

Questions are graded as ``qa eval`` grades them (``qa.evaluation.answer_holds``). Then the
calibration of the shipped model on the questions it was not fitted on (dev, check, hard): how
often answers in each band of confidence were right.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SETS = (
    ("dev", REPO.parent / "shared" / "eval" / "dev.jsonl"),
    ("own (fit)", REPO / "tests" / "data" / "questions.jsonl"),
    ("tune (fit)", REPO / "tests" / "data" / "answers_tune.jsonl"),
    ("check", REPO / "tests" / "data" / "answers_check.jsonl"),
    ("hard (check)", REPO / "tests" / "data" / "answers_hard.jsonl"),
    ("blind2k validation (fit)", REPO / "tests" / "data" / "blind2k" / "validation.jsonl"),
    ("blind2k sealed test", REPO / "tests" / "data" / "blind2k" / "sealed_test.jsonl"),
)
OFFTOPIC = (
    ("off-topic", REPO / "tests" / "data" / "offtopic.jsonl"),
    ("near-topic", REPO / "tests" / "data" / "offtopic_near.jsonl"),
    ("blind2k unanswerable sealed", REPO / "tests" / "data" / "blind2k" / "unanswerable_sealed_test.jsonl"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / ".cache" / "eval-index")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "answer_ablation.md",
                        help="where the tables are written as Markdown (docs/answers.md links to it)")
    args = parser.parse_args()
    lines: list[str] = []

    def say(line: str = "") -> None:
        print(line)
        lines.append(line)

    from qa import answering
    from qa.reloader import load_searcher
    from qa.evaluation import abstention, evaluate, load_offtopic, load_questions, summarise
    from qa.stores.seam import IndexLoadError
    from qa.settings import Settings

    try:
        searcher = load_searcher(Settings(index_dir=args.index))
    except IndexLoadError as error:
        print(f"answer_ablation: error: {error}", file=sys.stderr)
        return 2
    shipped = answering.AnswerModel.load()
    rows = [("overlap rule", answering.AnswerModel.by_overlap()),
            ("sentence model, all shown", replace(shipped, threshold=0.0, cross=None))]
    if shipped.cross is not None:
        rows += [("+ cross-encoder's choice, all shown", replace(shipped, threshold=0.0,
                                                               cross=replace(shipped.cross, rerank=0.0))),
                 (f"+ re-ranking the best three ({shipped.cross.rerank})", replace(shipped, threshold=0.0))]
    rows.append((f"+ threshold {shipped.threshold:.3f} (shipped)", shipped))
    questions = [(name, load_questions(path)) for name, path in SETS if path.exists()]
    offtopic = [(name, load_offtopic(path)) for name, path in OFFTOPIC]
    header = ["step"] + [f"{name} ({len(q)})" for name, q in questions] + [f"{name} ({len(q)})" for name, q in offtopic]
    sys.path.insert(0, str(REPO / "bench"))
    from glance import commit, machine

    found = machine()
    say("# The answer, step by step")
    say()
    say(f"Written by `bench/answer_ablation.py --index {args.index}` (commit {commit()}, {found['cores']} cores, "
        f"{found['cpu']}). Cells: answer precision / coverage (right answers over answers shown / answers shown "
        "over questions); the unanswerable columns: abstention.")
    say()
    say("| " + " | ".join(header) + " |")
    say("|" + " --- |" * len(header))
    for label, model in rows:
        searcher.answer_model = model
        cells = [label]
        for _, gold in questions:
            report = summarise(evaluate(searcher, gold))
            precision = report["answer_precision"]
            cells.append(f"{precision:.2f} / {report['answer_coverage']:.2f}" if precision is not None
                         else f"- / {report['answer_coverage']:.2f}")
        for _, asked in offtopic:
            cells.append(f"{abstention(searcher, asked)['abstention']:.2f}")
        say("| " + " | ".join(cells) + " |")

    searcher.answer_model = shipped
    unfitted = [o for name, gold in questions if "fit" not in name for o in evaluate(searcher, gold)]
    say()
    say(f"Calibration on the {len(unfitted)} questions of these sets not fitted on: how often the best answer "
        "was right, by its confidence.")
    say()
    say("| confidence | answers | right |")
    say("| --- | --- | --- |")
    for low, high in ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 0.9), (0.9, 1.01)):
        band = [o for o in unfitted if low <= o.confidence < high]
        right = sum(o.answer_right for o in band)
        share = f"{right / len(band):.2f}" if band else "-"
        say(f"| {low:.1f}-{min(high, 1.0):.1f} | {len(band)} | {share} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
