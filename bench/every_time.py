"""Every time it was said, over the whole archive: issue 25's check on ``make eval``'s index.

    .venv/bin/python bench/every_time.py [--index .cache/eval-index] [--sources DIR ...] [--milvus]

For phrases said both by reporters and by officials, a quoted-phrase search paged to the end must
list passages from exactly the briefings whose turns hold the phrase (found by a regex of this
script's own in the files read again from disk through the public reader), hold every occurrence
once, and the timeline add up to the same count. It also checks that no passage shown holds a
Markdown escape, that each briefing posted twice appears once, that a phrase-only search shows no
answer, and (``--milvus``: the index published to a milvus-lite server started here) that the
Milvus store lists the same passages. Writes ``bench/every_time.json``; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from glance import machine  # noqa: E402

SHARED = REPO.parent / "shared"
SOURCES = [REPO / "seeds", SHARED / "corpus" / "wh-press-briefings", SHARED / "corpus" / "formats" / "html",
           SHARED / "corpus" / "formats" / "pdf", SHARED / "corpus" / "formats" / "vtt"]
# Said by reporters and by officials in the archive (the script checks both roles occur).
PHRASES = ("Red Sea", "fentanyl", "Taiwan Strait", "supply chain", "student debt", "Title 42", "Nord Stream",
           "debt ceiling")
MARKDOWN_ESCAPE = re.compile(r"\\[\[\]_*#`\\]")


def pattern_of(phrase: str) -> re.Pattern:
    return re.compile(r"(?<![^\W_])" + r"[\W_]+".join(map(re.escape, phrase.split())) + r"(?![^\W_])", re.I)


def every_page(searcher, query: str) -> list:
    passages, offset = [], 0
    while offset is not None:
        answer = searcher.ask(query, 50, None, "oldest", offset)
        passages += answer.passages
        offset = answer.next_offset
    return passages


def files_by_path(sources: list[Path]) -> dict[str, Path]:
    from qa.readers import iter_source_files

    found = {}
    for root in sources:
        for path in iter_source_files(root):
            found[str(path.relative_to(root))] = path
    return found


def check_phrase(searcher, phrase: str, texts: dict[str, tuple[str, list]]) -> dict:
    """The phrase's passages against the files: ``texts`` maps each indexed path to the document's
    text read again from disk and its turns."""
    pattern = pattern_of(phrase)
    expected, roles = defaultdict(list), set()
    for path, (raw, turns) in texts.items():
        for match in pattern.finditer(raw):
            turn = next((t for t in turns if t.start <= match.start() < t.end), None)
            if turn is not None:
                expected[path].append(match.start())
                roles.add("question" if turn.is_question else "answer")
    listed = every_page(searcher, f'"{phrase}"')
    problems = []
    holding = defaultdict(int)
    for path, hits in expected.items():
        for hit in hits:
            inside = [p for p in listed if p.citation.path == path and p.citation.start <= hit < p.citation.end]
            if len(inside) != 1:
                problems.append(f"{path}:{hit} lies in {len(inside)} passages")
            for passage in inside:
                holding[(path, passage.citation.start)] += 1
    empty = [p for p in listed if (p.citation.path, p.citation.start) not in holding]
    problems += [f"{p.citation.path}:{p.citation.start} holds no occurrence" for p in empty]
    for passage in listed:
        raw = texts[passage.citation.path][0]
        if " ".join(raw[passage.citation.start : passage.citation.end].split()) != passage.text:
            problems.append(f"{passage.citation.path}:{passage.citation.start} is not its slice")
        if MARKDOWN_ESCAPE.search(passage.text):
            problems.append(f"{passage.citation.path}:{passage.citation.start} holds a Markdown escape")
    _, _, timeline = searcher.timeline(f'"{phrase}"')
    if timeline.passages != len(listed):
        problems.append(f"the timeline counts {timeline.passages}, the search lists {len(listed)}")
    if timeline.briefings != len(expected):
        problems.append(f"the timeline counts {timeline.briefings} briefings, the files {len(expected)}")
    if {p.citation.path for p in listed} != set(expected):
        problems.append("the briefings listed are not the briefings whose text holds the phrase")
    asked = searcher.ask(f'"{phrase}"', 5)
    if asked.answered or asked.answer is not None:
        problems.append("a phrase-only search showed an answer")
    return {
        "phrase": phrase, "briefings": len(expected), "occurrences": sum(map(len, expected.values())),
        "passages": len(listed), "questions": sum(p.role == "question" for p in listed),
        "answers": sum(p.role == "answer" for p in listed), "timeline_passages": timeline.passages,
        "said_by": sorted(roles), "problems": problems,
        "listed": [(p.citation.path, p.citation.start, p.citation.end) for p in listed],
    }


def start_milvus(folder: Path):
    port = 19530 + int(time.time()) % 1000
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder),
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from qa.stores.milvus import connect

    uri = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            connect(uri).list_collections()
            return process, uri
        except Exception:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("milvus-lite did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / ".cache" / "eval-index")
    parser.add_argument("--sources", type=Path, nargs="*", default=SOURCES)
    parser.add_argument("--milvus", action="store_true", help="also publish to milvus-lite and compare")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "every_time.json")
    args = parser.parse_args()

    from qa.embedding import get_encoder
    from qa.readers import load_transcript
    from qa.search import Searcher
    from qa.stores.embedded import Index

    index = Index.load(args.index)
    encoder = get_encoder(index.model, index.encoder_backend)
    searcher = Searcher(index, encoder)
    files = files_by_path(args.sources)
    texts = {}
    for document in index.documents.values():
        again = load_transcript(files[document.path])  # the file read again, through the public reader
        texts[document.path] = (again.raw, again.turns)
    keys = defaultdict(list)
    for document in index.documents.values():
        keys[document.posting_key()].append(document.path)
    report = {"machine": machine(), "index": str(args.index), "documents": len(index.documents),
              "postings_kept_once": {d.path: [p for p, _ in d.copies] for d in index.documents.values() if d.copies},
              "duplicate_documents": [paths for paths in keys.values() if len(paths) > 1],
              "phrases": [check_phrase(searcher, phrase, texts) for phrase in PHRASES]}
    failed = bool(report["duplicate_documents"]) or any(p["problems"] for p in report["phrases"])
    failed |= any(p["said_by"] != ["answer", "question"] for p in report["phrases"])
    if args.milvus:
        from qa.stores.milvus import MilvusStore
        from qa.stores.milvus_publish import publish

        with tempfile.TemporaryDirectory() as folder:
            process, uri = start_milvus(Path(folder))
            try:
                publish(index, uri, "every_time")
                other = Searcher(MilvusStore.open(uri, "every_time"), encoder)
                agree = {phrase["phrase"]: [(p.citation.path, p.citation.start, p.citation.end)
                                            for p in every_page(other, f'"{phrase["phrase"]}"')] == phrase["listed"]
                         for phrase in report["phrases"]}
            finally:
                process.kill()
        report["milvus_agrees"] = agree
        failed |= not all(agree.values())
    for phrase in report["phrases"]:
        phrase.pop("listed")
        print(f"{phrase['phrase']!r}: {phrase['briefings']} briefings, {phrase['passages']} passages "
              f"({phrase['questions']} questions), timeline {phrase['timeline_passages']}; "
              f"{len(phrase['problems'])} problems", *phrase["problems"][:5], sep="\n  ")
    report["failed"] = failed
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("FAILED" if failed else "every phrase, every time: OK", f"({args.out})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
