"""The figures shown in README.md and bench/README.md, written from the files the measuring tools write.

    .venv/bin/python bench/glance.py [--eval REPORT]

``make eval`` runs ``qa eval --report REPORT`` and then this with ``--eval``: the report's headline
figures, with the commit and the machine, go to ``bench/eval.json``. ``make bench`` writes
``bench/results.json`` and then runs this. Either way README.md's "Quality and speed at a glance"
and bench/README.md's table of figures are written again from those two files, between their
markers; ``tests/test_docs.py`` checks that they are what this script writes, so no figure there is
typed by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVAL_FILE = REPO / "bench" / "eval.json"
RESULTS_FILE = REPO / "bench" / "results.json"
README = REPO / "README.md"
BENCH_README = REPO / "bench" / "README.md"
START = "<!-- {name}: written by bench/glance.py from bench/eval.json and bench/results.json; do not edit -->"
END = "<!-- /{name} -->"

# The sets the README names, by file name, in this order.
HEADLINE_SETS = (
    ("sealed_test.jsonl", "blind2k sealed test: readers' questions on briefings nothing was fitted on"),
    ("dev.jsonl", "dev"),
    ("answers_check.jsonl", "check: the engineers' questions"),
)
HEADLINE_ABSTENTION = (
    ("unanswerable_sealed_test.jsonl", "blind2k sealed unanswerable questions"),
    ("offtopic_near.jsonl", "near-topic questions"),
)


def machine() -> dict:
    """The processor, cores, memory, whether it has AVX-512 VNNI (int8 speed depends on it), Python."""
    cpu, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    memory = ""
    try:
        memory = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "vnni": "avx512_vnni" in flags, "memory": memory,
            "python": platform.python_version(), "platform": platform.platform()}


def commit() -> str | None:
    """The checkout's commit, with '+changes' when the code differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=REPO).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "qa"], capture_output=True, text=True,
                               cwd=REPO).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def compact(report: dict) -> dict:
    """The headline figures of a ``qa eval --report`` file, with when, where and from what."""
    keep = ("questions", "hit@1", "hit@5", "mrr@10", "answers_shown", "answers_right", "answer_precision",
            "answer_coverage", "best_answer_right")
    return {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "index": report.get("index"),
        "answer_threshold": report.get("answer_threshold"),
        "questions": {Path(path).name: {key: value[key] for key in keep} for path, value in report["questions"].items()},
        "offtopic": {Path(path).name: {key: value[key] for key in ("questions", "abstained", "abstention")}
                     for path, value in report["offtopic"].items()},
    }


def _where(record: dict, tool: str) -> str:
    found = record.get("machine") or {}
    vnni = "with" if found.get("vnni") else "without"
    return (f"`{tool}`, commit {record.get('commit') or '?'}, {str(record.get('when', ''))[:10]}, "
            f"{found.get('cores')} cores, {found.get('cpu') or 'unknown processor'} ({vnni} AVX-512 VNNI)")


def glance(evaluation: dict | None, results: dict | None) -> str:
    """The README's table: quality from ``make eval``, speed and memory from ``make bench``."""
    rows = ["| what | figure |", "| --- | --- |"]
    if evaluation:
        sets = evaluation["questions"]
        for name, label in HEADLINE_SETS:
            if name in sets:
                s = sets[name]
                precision = "-" if s["answer_precision"] is None else f"{s['answer_precision']:.2f}"
                rows.append(f"| {label} ({s['questions']}): right passage first / in the first five; answers "
                            f"right of those shown (precision at coverage) | {s['hit@1']:.2f} / {s['hit@5']:.2f}; "
                            f"{s['answers_right']} of {s['answers_shown']} ({precision} at {s['answer_coverage']:.2f}) |")
        for name, label in HEADLINE_ABSTENTION:
            if name in evaluation["offtopic"]:
                a = evaluation["offtopic"][name]
                rows.append(f"| {label} ({a['questions']}): no answer shown | {a['abstention']:.2f} |")
    if results:
        server = results.get("server") or {}
        http = server.get("http_one_at_a_time") or {}
        build = results.get("build") or {}
        if http:
            rows.append(f"| a question over HTTP, one at a time: p50 / p99 | {http['p50_ms']} / {http['p99_ms']} ms |")
        cross = results.get("cross_encoder") or {}
        if "in_process_p50_added_ms" in cross:
            rows.append(f"| what the cross-encoder adds to a question (p50, in-process / over HTTP) | "
                        f"{cross['in_process_p50_added_ms']} / {cross['http_p50_added_ms']} ms |")
        for one in (results.get("servers") or [])[-1:]:
            workers = f"{one['workers']} worker" + ("s" if one["workers"] > 1 else "")
            rows.append(f"| {one['concurrent_clients']} clients at once, {workers} | {one['queries_per_s']} questions/s |")
        if build:
            rows.append(f"| index build | {build['build_windows_per_s']} windows/s ({build['windows']} windows) |")
        if server:
            rows.append(f"| `qa serve` memory, 1 worker, after the load | {server.get('rss_mb_after_load')} MB |")
    where = []
    if evaluation:
        where.append("Quality: " + _where(evaluation, "make eval") + ".")
    if results:
        where.append("Speed: " + _where(results, "make bench") + ".")
    return "\n".join(rows) + "\n\n" + " ".join(where)


def bench_figures(results: dict | None) -> str:
    """bench/README.md's table: every figure of the last ``make bench``."""
    if not results:
        return "(no `make bench` run recorded yet)"
    sys.path.insert(0, str(Path(__file__).parent))
    from run import render

    return "| what | figure |\n| --- | --- |\n" + render(results) + "\n\n" + _where(results, "make bench") + "."


def replace_block(text: str, name: str, body: str) -> str:
    start, end = START.format(name=name), END.format(name=name)
    if start not in text or end not in text:
        raise SystemExit(f"glance: the markers of {name!r} are missing")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def load(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def rendered() -> dict[Path, str]:
    """README.md and bench/README.md as this script writes them from the current figure files."""
    evaluation, results = load(EVAL_FILE), load(RESULTS_FILE)
    return {
        README: replace_block(README.read_text(encoding="utf-8"), "glance", glance(evaluation, results)),
        BENCH_README: replace_block(BENCH_README.read_text(encoding="utf-8"), "figures", bench_figures(results)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, help="a `qa eval --report` file: its headline figures go to bench/eval.json")
    args = parser.parse_args()
    if args.eval:
        EVAL_FILE.write_text(json.dumps(compact(json.loads(args.eval.read_text(encoding="utf-8"))), indent=2) + "\n",
                             encoding="utf-8")
    write_pages(rendered())
    return 0


def write_pages(pages: dict[Path, str]) -> None:
    """Write each page's new text (what a measuring tool rendered between its markers)."""
    for path, text in pages.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    sys.exit(main())
