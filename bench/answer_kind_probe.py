"""Kind tagging for the answer: our patterns against libraries (quantulum3 for numbers, amounts and
durations, dateparser for dates), each with the answer model refitted on the tuning questions.

Not in the product (README.md, "The answer", has the figures). To rerun, with the two libraries
installed beside the project (they are not its dependencies):

    .venv/bin/pip install quantulum3==0.10.0 dateparser==1.5.0
    .venv/bin/python bench/answer_kind_probe.py patterns
    .venv/bin/python bench/answer_kind_probe.py library
"""
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from qa import answer_types
from qa.answer_types import _WORD
from qa.reloader import load_searcher
from qa.settings import Settings
from qa.evaluation import load_questions, load_offtopic, evaluate, summarise, abstention
from qa.calibration import collect, fit

variant = sys.argv[1]
original = answer_types.kind_spans
calls = [0, 0.0]

if variant == "library":
    import quantulum3.classifier as qclf

    qclf.USE_CLF = False  # its pickled classifier does not load with scikit-learn 1.9
    from quantulum3 import parser as qparser
    from dateparser.search import search_dates
    import warnings
    warnings.filterwarnings("ignore")

    def kind_spans(text, kind, question=""):
        t = time.perf_counter()
        try:
            if kind not in ("number", "duration", "date"):
                return original(text, kind, question)
            asked = set(_WORD.findall(question.casefold()))
            spans = []
            if kind in ("number", "duration"):
                for q in qparser.parse(text):
                    is_time = q.unit.entity.name == "time"
                    if (kind == "duration") != is_time:
                        continue
                    words = _WORD.findall(q.surface.casefold())
                    if words and all(w in asked for w in words):
                        continue
                    spans.append(tuple(q.span))
            else:
                found = search_dates(text, languages=["en"]) or []
                pos = 0
                for surface, _ in found:
                    i = text.find(surface, pos)
                    if i < 0: continue
                    pos = i + len(surface)
                    words = _WORD.findall(surface.casefold())
                    if words and all(w in asked for w in words):
                        continue
                    spans.append((i, i + len(surface)))
            return spans
        finally:
            calls[0] += 1; calls[1] += time.perf_counter() - t
    answer_types.kind_spans = kind_spans

s = load_searcher(Settings(index_dir=REPO / ".cache" / "eval-index"))
D = REPO / "tests" / "data"
t = time.perf_counter()
data = collect(s, load_questions(D / "questions.jsonl") + load_questions(D / "answers_tune.jsonl"), load_offtopic(D / "offtopic.jsonl"))
model, report = fit(data)
print(variant, "fit: best right", report["best_answer_right"], "threshold", report["threshold"], f"collect+fit {time.perf_counter()-t:.0f}s")
s.answer_model = model
for name in [REPO.parent / "shared" / "eval" / "dev.jsonl", D / "answers_check.jsonl", D / "answers_hard.jsonl", D / "questions.jsonl", D / "answers_tune.jsonl"]:
    r = summarise(evaluate(s, load_questions(Path(name))))
    print(f"  {Path(name).name:22s} best right {r['best_answer_right']:.2f}  shown precision {r['answer_precision']} coverage {r['answer_coverage']:.2f}")
for name in ["offtopic.jsonl", "offtopic_near.jsonl"]:
    print("  ", name, abstention(s, load_offtopic(D / name))["abstention"])
print(f"  kind tagging: {calls[0]} calls, {1000*calls[1]/max(calls[0],1):.2f} ms each")
