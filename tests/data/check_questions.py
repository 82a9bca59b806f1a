"""Check answerable-question files: each phrase must be found, within one speaker turn, in its gold file.

Usage: python3 tests/data/check_questions.py FILE.jsonl [FILE.jsonl ...]

For every question it checks that
  * the line is JSON with the fields id, question, doc, phrase, kind, note;
  * ids are unique across all the files given;
  * the gold file exists in the corpus (White House folder or SCIO seeds);
  * the phrase, whitespace-collapsed and lowercased, is a substring of the gold file,
    whitespace-collapsed and lowercased;
  * the phrase is 4 to 14 words long;
  * at least one occurrence of the phrase lies inside one speaker turn, i.e. the raw span it
    covers holds no line break followed by a speaker label (`MS. X:`, `Q  `), and that turn is
    not a reporter's question (`Q` turn);
  * the doc is not one used by the dev set or the earlier own set (not checked when the file
    is one of those two), so the new sets stay disjoint from them.
Prints each failure and exits with status 1 if there is any.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
if not SHARED.exists():
    SHARED = Path("/work/shared")
CORPUS_DIRS = [SHARED / "corpus" / "wh-press-briefings", SHARED / "seeds"]
DEV_FILE = SHARED / "eval" / "dev.jsonl"
OWN_FILE = ROOT / "tests" / "data" / "questions.jsonl"

FIELDS = ("id", "question", "doc", "phrase", "kind", "note")
# A new speaker turn: line break, then an ALL-CAPS label ending in a colon, or a reporter's `Q`.
TURN_START = re.compile(r"\n[ \t\u00a0]*(?:[A-Z][A-Z.'’\- ]*[A-Z.](?:\s*\\\[[^\]]*\\\])?:|Q[ \t\u00a0])")


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def docs_in(path: Path) -> set[str]:
    return {q["doc"] for q in load_jsonl(path)} if path.exists() else set()


def collapse_with_offsets(text: str) -> tuple[str, list[int]]:
    """Lowercase and collapse whitespace runs to one space; keep each output char's raw offset."""
    out, offsets, in_space = [], [], False
    for i, ch in enumerate(text):
        if ch.isspace():
            if not in_space:
                out.append(" ")
                offsets.append(i)
            in_space = True
        else:
            out.append(ch.lower())
            offsets.append(i)
            in_space = False
    return "".join(out), offsets


def find_doc(name: str) -> Path | None:
    for folder in CORPUS_DIRS:
        if (folder / name).exists():
            return folder / name
    return None


def in_reporter_turn(text: str, offset: int) -> bool:
    """True if the turn holding raw offset `offset` is a reporter's question."""
    starts = list(TURN_START.finditer(text, 0, offset))
    return bool(starts) and starts[-1].group().lstrip().startswith("Q")


def check_phrase(text: str, phrase: str) -> str | None:
    """Return None if the phrase occurs inside one official's turn, else the reason it fails."""
    collapsed, offsets = collapse_with_offsets(text)
    needle = " ".join(phrase.split()).lower()
    start = collapsed.find(needle)
    if start < 0:
        return "phrase not found in doc"
    reason = "phrase spans two speaker turns"
    while start >= 0:
        raw = text[offsets[start]: offsets[start + len(needle) - 1] + 1]
        if not TURN_START.search(raw):
            if not in_reporter_turn(text, offsets[start]):
                return None
            reason = "phrase only in a reporter's question (Q turn)"
        start = collapsed.find(needle, start + 1)
    return reason


def main(paths: list[str]) -> int:
    failures: list[str] = []
    seen_ids: set[str] = set()
    for path_name in paths:
        path = Path(path_name).resolve()
        # New sets must not reuse a gold file of the dev or own set; those two are exempt.
        excluded = set()
        if path not in (DEV_FILE.resolve(), OWN_FILE.resolve()):
            excluded = docs_in(DEV_FILE) | docs_in(OWN_FILE)
        texts: dict[str, str] = {}
        checked = 0
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                q = json.loads(line)
            except json.JSONDecodeError as err:
                failures.append(f"{where}: bad JSON ({err})")
                continue
            missing = [f for f in FIELDS if not q.get(f)]
            if missing:
                failures.append(f"{where}: missing fields {missing}")
                continue
            checked += 1
            where = f"{where} {q['id']}"
            words = len(q["phrase"].split())
            if not 4 <= words <= 14:
                failures.append(f"{where}: phrase has {words} words (want 4 to 14)")
            if q["id"] in seen_ids:
                failures.append(f"{where}: duplicate id")
            seen_ids.add(q["id"])
            if q["doc"] in excluded:
                failures.append(f"{where}: doc already used by dev or own set: {q['doc']}")
            doc_path = find_doc(q["doc"])
            if doc_path is None:
                failures.append(f"{where}: doc not found: {q['doc']}")
                continue
            if q["doc"] not in texts:
                texts[q["doc"]] = doc_path.read_text(encoding="utf-8")
            reason = check_phrase(texts[q["doc"]], q["phrase"])
            if reason:
                failures.append(f"{where}: {reason}: {q['phrase']!r}")
        print(f"{path_name}: {checked} questions checked")
    for failure in failures:
        print("FAIL", failure)
    print(f"{len(seen_ids)} questions, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
