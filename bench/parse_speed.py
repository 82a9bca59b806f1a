"""How fast each format is read into a Transcript: megabytes of file per second, per format.

    .venv/bin/python bench/parse_speed.py [--folder ../shared/corpus/formats] [--text DIR] [--rounds 3] [--json]

Reads every web page, PDF and caption file below --folder with ``qa.readers.load_transcript``
(the reader of each format, the turns, all of it), best of --rounds passes; SubRip is measured on
the WebVTT captions written out as SubRip (the shared corpus has no .srt); text on --text (the
White House .txt/.md briefings by default), for comparison. ``make bench`` runs it too
(bench/run.py) and keeps the figures in bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("QA_SHARED", REPO.parent / "shared"))
FORMATS = SHARED / "corpus" / "formats"
TEXT = SHARED / "corpus" / "wh-press-briefings"
SUFFIXES = {"html": (".html", ".htm"), "pdf": (".pdf",), "vtt": (".vtt",), "srt": (".srt",), "text": (".txt", ".md")}


def bench_parse_speed(folder: Path = FORMATS, text: Path | None = TEXT, rounds: int = 3) -> dict:
    """{format: {files, mb, best_s, mb_per_s, ms_per_file}} for every format found."""
    from qa.readers import load_transcript

    results = {}
    with tempfile.TemporaryDirectory(prefix="qa-parse-") as scratch:
        groups = {kind: _files(folder, suffixes) for kind, suffixes in SUFFIXES.items() if kind != "text"}
        if not groups["srt"] and groups["vtt"]:
            groups["srt"] = _as_subrip(groups["vtt"], Path(scratch))
        if text is not None and text.is_dir():
            groups["text"] = _files(text, SUFFIXES["text"])
        for kind, files in groups.items():
            if not files:
                continue
            size = sum(path.stat().st_size for path in files)
            best = float("inf")
            for _ in range(max(rounds, 1)):
                began = time.perf_counter()
                for path in files:
                    load_transcript(path, path.parent)
                best = min(best, time.perf_counter() - began)
            results[kind] = {
                "files": len(files), "mb": round(size / 1e6, 3), "best_s": round(best, 3),
                # Three figures, not two decimals: a tiny file on a busy machine does not read as 0 MB/s.
                "mb_per_s": float(f"{size / 1e6 / best:.3g}"), "ms_per_file": round(1000 * best / len(files), 1),
            }
    return results


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def _as_subrip(captions: list[Path], scratch: Path) -> list[Path]:
    import webvtt

    written = []
    for path in captions:
        out = scratch / (path.stem + ".srt")
        with open(out, "w", encoding="utf-8") as handle:
            webvtt.read(str(path)).write(handle, format="srt")
        written.append(out)
    return written


def render(results: dict) -> str:
    rows = [f"| {kind} | {r['files']} files, {r['mb']} MB | {r['mb_per_s']} MB/s | {r['ms_per_file']} ms a file |"
            for kind, r in results.items()]
    return "\n".join(["| format | read | speed | per file |", "| --- | --- | --- | --- |", *rows])


def main() -> int:
    parser = argparse.ArgumentParser(prog="parse_speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=FORMATS, help="web pages, PDFs and captions (default: %(default)s)")
    parser.add_argument("--text", type=Path, default=TEXT, help="text transcripts, for comparison (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"no folder at {args.folder} (the shared corpus's formats folder; set QA_SHARED or --folder)")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, not {args.rounds}")
    results = bench_parse_speed(args.folder, args.text, args.rounds)
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
