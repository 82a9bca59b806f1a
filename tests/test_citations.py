"""The citation invariant checked from the files on disk, on every format and through the API (issue 27).

A passage's citation start/end are offsets into its document's text (the file as decoded; for a
web page, a PDF or captions, the text its reader extracts) and the passage is exactly that slice
with whitespace collapsed. Here the text is read again from disk through the public reader
(qa.readers.load_transcript), never taken from the index, and the slice is collapsed by this
module's own regex, not by qa.text.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import SEEDS, SHARED, WH_DIR
from qa.build import build_index
from qa.readers import load_transcript
from qa.stores.embedded import Index

FORMATS = SHARED / "corpus" / "formats"
requires_formats = pytest.mark.skipif(
    not all((FORMATS / kind).is_dir() for kind in ("html", "pdf", "vtt")) or not WH_DIR.is_dir(),
    reason=f"needs the shared corpus at {SHARED} (set QA_SHARED to the shared folder); CI has it",
)


def collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip(" ")


MARKDOWN = """---
title: Briefing on the tulip festival
date: 2024-04-02
---

**MS. JONES:**  Good afternoon.   The tulip festival opens on the first of May,
and the parade follows\ton the second.

**Q:**  Will the mayor attend the parade?

**MS. JONES:**  She will attend, and she will speak at noon.
"""

SUBRIP = """1
00:00:01,000 --> 00:00:03,000
>> GOOD AFTERNOON, EVERYONE. THE TULIP PARADE

2
00:00:03,500 --> 00:00:06,000
FOLLOWS ON THE SECOND OF MAY, AND THE MAYOR WILL SPEAK.

3
00:00:06,000 --> 00:00:08,000
>> WHEN DOES SHE SPEAK?

4
00:00:08,500 --> 00:00:10,000
>> AT NOON, IN THE MAIN SQUARE.
"""

# Whitespace and invisible characters a scraped or exported transcript may hold.
UGLY_FILES = {
    "2024-04-03_bom-crlf.txt": "\ufeffMS. JONES:  Good afternoon.\r\nThe tulip festival opens on\r\nthe first of May.\r\n\r\n"
                               "Q:  Will the mayor attend?\r\n\r\nMS. JONES:  She will attend\r\nthe parade at noon.\r\n",
    "2024-04-04_separators.txt": "MS. JONES:\u2028The harbour\u2028regatta starts at ten.\u2029\u2029Q:\u0085Who sails first?\u0085\u0085"
                                 "MS. JONES:\u0085The\u00a0harbour\u00a0club sails first,\u0085then the guests.\n",
    "2024-04-05_zero-width-tabs.txt": "MS. JONES:\tThe\u200b lantern walk\t\tbegins at dusk\u200b.\n\n"
                                      "Q:\tWhere does the lantern walk end?\n\n"
                                      "MS. JONES:\t\u200bIt ends\tat the old bridge,\u200b by the river.\n",
}


def write_files(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        # newline="" keeps CR LF, NEL and the separators exactly as written
        with open(folder / name, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)


def assert_passage_is_the_slice(text: str, start: int, end: int, speaker: str | None, turn: int, transcript) -> None:
    """``text`` is transcript.raw[start:end], whitespace collapsed, inside turn ``turn`` of ``speaker``."""
    raw = transcript.raw
    where = f"{transcript.path}[{start}:{end}]"
    assert 0 <= start < end <= len(raw), where
    assert text == collapsed(raw[start:end]), where
    assert not raw[start].isspace() and not raw[end - 1].isspace(), where
    owner = next(t for t in transcript.turns if t.index == turn)
    assert owner.start <= start < end <= owner.end, where
    assert owner.speaker == speaker, where


@requires_formats
def test_every_passage_of_every_format_is_the_slice_of_the_file_read_again(tmp_path, stand_in_encoder) -> None:
    source = tmp_path / "source"
    for kind in ("html", "pdf", "vtt"):
        shutil.copytree(FORMATS / kind, source / kind)
    (source / "text").mkdir()
    for path in [*SEEDS.glob("*.txt"), WH_DIR / "2021-01-25_wh_pb-psaki-january-25-2021.txt"]:
        shutil.copy(path, source / "text" / path.name)
    write_files(source / "text", {"2024-04-02_tulips.md": MARKDOWN, "2024-04-06_parade.srt": SUBRIP, **UGLY_FILES})
    out = tmp_path / "index"
    build_index([source], out, stand_in_encoder)
    index = Index.load(out)
    formats = {document.format for document in index.documents.values()}
    assert {"html", "pdf", "vtt", "srt", "markdown", "scio"} <= formats, formats
    assert {Path(d.path).suffix for d in index.documents.values()} == {".html", ".pdf", ".vtt", ".srt", ".md", ".txt"}
    reread = {d.doc_id: load_transcript(source / d.path, source) for d in index.documents.values()}
    for chunk in index.chunks:
        assert_passage_is_the_slice(chunk.text, chunk.start, chunk.end, chunk.speaker, chunk.turn, reread[chunk.doc_id])


QUESTIONS = ["When does the tulip festival open?", "Will the mayor attend the parade?",
             "When does the harbour regatta start?", "Who sails first?", "Where does the lantern walk end?",
             "When does the lantern walk begin?"]


def test_passages_answered_by_the_api_are_slices_of_the_documents_text(tmp_path, stand_in_encoder) -> None:
    from fastapi.testclient import TestClient

    from qa.api import create_app
    from qa.search import Searcher

    source = tmp_path / "source"
    write_files(source, UGLY_FILES)
    out = tmp_path / "index"
    build_index([source], out, stand_in_encoder)
    client = TestClient(create_app(searcher=Searcher(Index.load(out), stand_in_encoder), watch=False))
    seen = set()
    for question in QUESTIONS:
        body = client.get("/api/ask", params={"q": question, "k": 10}).json()
        assert body["passages"], question
        for passage in body["passages"] + ([body["answer"]] if body.get("answer") else []):
            citation = passage["citation"]
            document = client.get(f"/api/documents/{citation['doc_id']}").json()
            transcript = load_transcript(source / citation["path"], source)
            assert document["raw"] == transcript.raw  # the API's text is the file's, as decoded
            speaker = next(t.speaker for t in transcript.turns if t.index == citation["turn"])
            assert_passage_is_the_slice(passage["text"], citation["start"], citation["end"], speaker,
                                        citation["turn"], transcript)
            seen.add(citation["path"])
    assert seen == set(UGLY_FILES)
