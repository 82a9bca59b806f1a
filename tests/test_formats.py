"""Briefings as published: web pages, PDF transcripts and video captions (qa/readers, issue 17).

The real files are in ../shared/corpus/formats (see its SOURCES.md); the tests that read them
skip with the reason where it is absent. Small files written here cover what the shared ones do
not: SubRip captions, WebVTT voices, broken, empty, encrypted and image-only files.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import SHARED
from qa.build import build_index
from qa.stores.embedded import MANIFEST, Index
from qa.text import collapse_whitespace
from qa.readers import load_folder, load_transcript
from qa.transcripts import TranscriptError

FORMATS = SHARED / "corpus" / "formats"
KIND_DIRS = ("html", "pdf", "vtt")
requires_formats = pytest.mark.skipif(
    not all((FORMATS / kind).is_dir() for kind in KIND_DIRS),
    reason=f"needs the real web pages, PDFs and captions at {FORMATS} (set QA_SHARED to the shared folder); CI has it",
)

HTML_FILE = "html/2020-03-24_whitehouse-gov_coronavirus-task-force-press-briefing.html"
PDF_FILE = "pdf/2023-03-22_federalreserve-gov_FOMC-press-conference.pdf"
VTT_FILE = "vtt/2026-03-10_youtube-auto-captions_whitehouse-press-briefing.en.vtt"

# What must never reach a passage, whatever the format: page furniture, running headers,
# caption timing and markup.
LEAKS = {
    "html": re.compile(
        r"Share this page|Copy URL|All News|Issued on|Briefing Statements|James S\. Brady|"
        r"\d{1,2}:\d{2} [AP]\.M\. E[SD]T|\bEND\b|window\.|function\s*\(|NREUM|<[a-z/!]|&[a-z]+;"
    ),
    "pdf": re.compile(r"Page \d+ of \d+|FINAL|Chair Powell\u2019s Press Conference|\ufffe|\r"),
    "vtt": re.compile(r"-->|<\d\d:\d\d|</?c>|\d\d:\d\d:\d\d[.,]\d{3}|>>|&gt;|align:start|position:\d|WEBVTT|Kind: captions"),
}


def all_transcripts():
    transcripts, skipped = load_folder([FORMATS / kind for kind in KIND_DIRS])
    assert skipped == []
    return transcripts


# ---------------------------------------------------------------------------------------------
# One file of each kind, its speakers and turns counted by hand


@requires_formats
def test_web_page_speakers_and_turns_as_counted_by_hand() -> None:
    # Counted in the page's <p> elements: 21 labels and 11 "Q" paragraphs.
    transcript = load_transcript(FORMATS / HTML_FILE, FORMATS)
    assert transcript.format == "html" and transcript.kind == "web page (HTML)"
    assert Counter(turn.speaker for turn in transcript.turns) == {
        "The President": 15, "Reporter": 11, "Dr. Fauci": 2, "Mr. Kudlow": 2, "Dr. Birx": 1, "The Vice President": 1,
    }
    assert all(turn.is_question == (turn.speaker == "Reporter") for turn in transcript.turns)
    assert transcript.title == (
        "Remarks by President Trump, Vice President Pence, and Members of Coronavirus Task Force in Press Briefing"
    )
    assert transcript.date == "2020-03-24" and transcript.source == "whitehouse.gov"
    assert transcript.url.startswith("https://www.whitehouse.gov/briefings-statements/")
    raw = transcript.raw
    # The body only: the meta description's repeat of the opening words is not read, so the
    # opening appears once; paragraphs are kept, one blank line apart.
    assert raw.count(transcript.turn_text(transcript.turns[0])[:60]) == 1
    assert "\n\n" in raw and "\n\n\n" not in raw
    first = transcript.turns[0]
    assert transcript.turn_text(first).startswith("Thank you very much.")
    question = transcript.turns[[t.speaker for t in transcript.turns].index("Reporter")]
    assert transcript.turn_text(question).startswith("Mr. President, you just reiterated")


@requires_formats
def test_pdf_speakers_and_turns_as_counted_by_hand() -> None:
    # Counted in the PDF's text: 87 lines open with capitals and a full stop, one of them
    # "U.S. ..." (no speaker): 86 turns.
    transcript = load_transcript(FORMATS / PDF_FILE, FORMATS)
    assert transcript.format == "pdf" and transcript.kind == "PDF transcript"
    speakers = Counter(turn.speaker for turn in transcript.turns)
    assert len(transcript.turns) == 86 and len(speakers) == 21
    assert speakers["Chair Powell"] == 34 and speakers["Michelle Smith"] == 19
    assert speakers["Nancy Marshall-Genzer"] == 3 and speakers["Colby Smith"] == 2 and speakers["Jean Yung"] == 1
    # Reporters are named in these transcripts: their turns are the questions, not the chair's
    # nor the moderator's.
    asking = {turn.speaker for turn in transcript.turns if turn.is_question}
    assert asking == set(speakers) - {"Chair Powell", "Michelle Smith"}
    assert transcript.title == "Transcript of Chair Powell's Press Conference -- March 22, 2023"
    assert transcript.date == "2023-03-22"
    opening = transcript.turn_text(transcript.turns[0])
    assert opening.startswith("Good afternoon. Before discussing today\u2019s meeting")
    # Lines joined into paragraphs; a word split across two lines is whole again.
    assert "\n" not in opening.split("\n\n")[0]
    assert "long-duration securities" in transcript.raw


@requires_formats
def test_captions_turns_as_counted_by_hand() -> None:
    # Counted in the file: 66 ">>" among the lines that are new in their cue (a cue repeats
    # the line before), so 67 turns with the opening "Afternoon everyone."; 5,927 words.
    transcript = load_transcript(FORMATS / VTT_FILE, FORMATS)
    assert transcript.format == "vtt" and transcript.kind == "video captions (WebVTT)"
    assert len(transcript.turns) == 67 and {turn.speaker for turn in transcript.turns} == {None}
    assert len(transcript.raw.split()) == 5927
    assert transcript.date == "2026-03-10"
    texts = [transcript.turn_text(turn) for turn in transcript.turns]
    assert texts[:2] == ["Afternoon everyone.", "Good afternoon."]
    assert texts[2].startswith("Let's begin with some scheduling updates. Tomorrow, President Trump will travel")
    # Each word once: the rolling repeat of every line is gone.
    assert transcript.raw.count("Let's begin with some scheduling updates.") == 1
    # Sentences made readable: a turn begins with a capital, so does a sentence the recogniser
    # left in lower case.
    assert all(text[0].isupper() or not text[0].isalpha() for text in texts)
    assert "Raise their Iranian missile industry to the ground. Ensure their terrorist proxies" in transcript.raw
    # The time of each caption line, in order, into the video.
    assert transcript.time_at(0) == 0.0
    assert transcript.time_at(transcript.turns[1].start) == 3.76
    marks = [seconds for _, seconds in transcript.times]
    assert marks == sorted(marks) and marks[-1] == 1903.6
    questions = [turn for turn in transcript.turns if turn.is_question]
    assert texts[questions[0].index].startswith("Thank you, Caroline. So, my first question")


# ---------------------------------------------------------------------------------------------
# Every file of every kind


@requires_formats
def test_every_file_is_read_and_has_speakers() -> None:
    transcripts = all_transcripts()
    kinds = Counter(t.format for t in transcripts)
    assert kinds == {"html": 12, "pdf": 5, "vtt": 1}
    for transcript in transcripts:
        named = [turn for turn in transcript.turns if turn.speaker]
        assert transcript.date and transcript.title, transcript.path
        if transcript.format != "vtt":
            assert len(named) >= 10 and named == list(transcript.turns), transcript.path
        assert sum(turn.is_question for turn in transcript.turns) >= 3, transcript.path


@requires_formats
def test_no_navigation_header_or_caption_timing_text_in_any_passage(stand_in_encoder, tmp_path) -> None:
    index = _stand_in_index(tmp_path, stand_in_encoder)
    for chunk in index.chunks:
        kind = index.documents[chunk.doc_id].format
        leak = LEAKS[kind].search(chunk.text)
        assert leak is None, (chunk.doc_id, leak.group(), chunk.text[max(0, leak.start() - 80) : leak.end() + 40])


@requires_formats
def test_citation_invariant_on_every_passage_of_every_format(stand_in_encoder, tmp_path) -> None:
    index = _stand_in_index(tmp_path, stand_in_encoder)
    assert {d.format for d in index.documents.values()} == {"html", "pdf", "vtt"}
    for chunk in index.chunks:
        document = index.documents[chunk.doc_id]
        assert 0 <= chunk.start < chunk.end <= len(document.raw)
        assert chunk.text == collapse_whitespace(document.raw[chunk.start : chunk.end])
        assert (chunk.t is not None) == (document.format == "vtt")
        if chunk.t is not None:
            assert chunk.t == document.time_at(chunk.start)
    for window in range(len(index.windows)):
        start, end = index.window_span(window)
        chunk = index.chunks[int(index.windows[window, 0])]
        assert chunk.start <= start < end <= chunk.end


def _stand_in_index(tmp_path: Path, encoder) -> Index:
    out = tmp_path / "index"
    build_index([FORMATS / kind for kind in KIND_DIRS], out, encoder)
    return Index.load(out)


@requires_formats
def test_incremental_rebuilds_work_for_every_format(tmp_path, stand_in_encoder) -> None:
    from test_incremental import CountingEncoder, same_index

    source = tmp_path / "source"
    source.mkdir()
    for name in (HTML_FILE, PDF_FILE, VTT_FILE):
        shutil.copy(FORMATS / name, source / Path(name).name)
    out = tmp_path / "index"
    build_index([source], out, stand_in_encoder)
    again = CountingEncoder(stand_in_encoder)
    assert build_index([source], out, again).up_to_date and again.texts == 0
    # A word changed in the captions, the web page removed: only the changed words are embedded.
    captions = source / Path(VTT_FILE).name
    captions.write_bytes(captions.read_bytes().replace(b"scheduling", b"calendar"))
    (source / Path(HTML_FILE).name).unlink()
    changed = CountingEncoder(stand_in_encoder)
    report = build_index([source], out, changed)
    assert not report.up_to_date and 0 < changed.texts <= 2 and report.reused > 100
    full = tmp_path / "full"
    build_index([source], full, stand_in_encoder, incremental=False)
    for name in ("chunks.jsonl", "documents.jsonl"):
        assert (out / name).read_text() == (full / name).read_text(), name
    assert {d.format for d in Index.load(out).documents.values()} == {"pdf", "vtt"}
    assert "calendar updates" in Index.load(out).documents[Path(VTT_FILE).stem].raw.casefold()
    del same_index  # the seeds-specific comparison is not needed here


# ---------------------------------------------------------------------------------------------
# Files written here: SubRip, voices, and the files that must be skipped with a reason


SRT = """1
00:00:01,000 --> 00:00:03,500
>> GOOD AFTERNOON, EVERYONE.
<i>let's get started.</i>

2
00:00:03,500 --> 00:00:06,000
let's get started.
>> what time does the summit begin?

3
00:00:06,000 --> 00:00:09,250
- it begins at nine.
- and it ends at noon?

4
00:01:10,000 --> 00:01:12,000
>> MS. JONES: the tulip parade follows on the first of May.
"""


def test_subrip_captions_are_merged_into_turns_with_times(tmp_path) -> None:
    path = tmp_path / "2024-05-01_briefing.srt"
    path.write_text(SRT, encoding="utf-8")
    transcript = load_transcript(path, tmp_path)
    assert transcript.format == "srt" and transcript.kind == "video captions (SubRip)"
    texts = [transcript.turn_text(turn) for turn in transcript.turns]
    assert texts == [
        "GOOD AFTERNOON, EVERYONE. Let's get started.",
        "What time does the summit begin?",
        "It begins at nine.",
        "And it ends at noon?",
        "The tulip parade follows on the first of May.",
    ]
    assert [turn.speaker for turn in transcript.turns] == [None, None, None, None, "Ms. Jones"]
    assert [turn.is_question for turn in transcript.turns] == [False, True, False, True, False]
    assert transcript.turns[2].question_turn == 1
    assert [transcript.time_at(turn.start) for turn in transcript.turns] == [1.0, 3.5, 6.0, 6.0, 70.0]
    assert transcript.date == "2024-05-01" and transcript.title == "Briefing"


def test_webvtt_voices_name_the_speakers(tmp_path) -> None:
    path = tmp_path / "voices.vtt"
    path.write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n<v Karine Jean-Pierre>Good afternoon.\n\n"
        "00:00:02.000 --> 00:00:04.000\n<v Karine Jean-Pierre>We have three announcements.\n\n"
        "00:00:04.500 --> 00:00:06.000\n<v Reporter>Which ones?\n",
        encoding="utf-8",
    )
    transcript = load_transcript(path, tmp_path)
    assert [(t.speaker, transcript.turn_text(t)) for t in transcript.turns] == [
        ("Karine Jean-Pierre", "Good afternoon. We have three announcements."), ("Reporter", "Which ones?"),
    ]
    assert transcript.time_at(transcript.raw.index("We have")) == 2.0


def test_web_page_body_only_in_its_declared_charset(tmp_path) -> None:
    page = (
        "<html><head><meta charset='windows-1252'><title>Harbour briefing | Port Office</title>"
        "<meta name='description' content='MR. LEE: The caf\xe9 reopens.'><script>var x = 1;</script></head>"
        "<body><nav><a href='/'>Home</a> <a href='/news'>All News</a></nav><main><h1>Harbour briefing</h1>"
        "<p>MR.\xa0LEE:\xa0 The caf\xe9 on the pier   reopens\n   on Monday.<br>It seats forty.</p>"
        "<aside>Share this page</aside><p>Q\xa0\xa0\xa0When does the ferry run?</p>"
        "<p>MR. LEE:\xa0 Every hour.</p><footer>Contact us</footer></main></body></html>"
    ).encode("cp1252")
    (tmp_path / "harbour.html").write_bytes(page)
    transcript = load_transcript(tmp_path / "harbour.html", tmp_path)
    assert transcript.title == "Harbour briefing"
    assert "Home" not in transcript.raw and "Share" not in transcript.raw and "Contact" not in transcript.raw
    assert "var x" not in transcript.raw and transcript.raw.count("caf\u00e9") == 1
    assert [(t.speaker, transcript.turn_text(t)) for t in transcript.turns] == [
        ("Mr. Lee", "The caf\u00e9 on the pier reopens on Monday.\nIt seats forty."),
        ("Reporter", "When does the ferry run?"),
        ("Mr. Lee", "Every hour."),
    ]


def make_pdf(lines: list[str] | None = None, encrypt: bool = False) -> bytes:
    """A one-page PDF written by hand: lines of text, none (like a scan), or encrypted."""
    content = b""
    for number, line in enumerate(lines or []):
        indent = 36 if line.startswith("\t") else 0
        content += f"BT /F1 12 Tf {72 + indent} {720 - 14 * number} Td ({line.strip()}) Tj ET\n".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if encrypt:
        objects.append(b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objects) + 1)
    if encrypt:
        trailer += b" /Encrypt %d 0 R /ID [<%s> <%s>]" % (len(objects), b"ab" * 16, b"ab" * 16)
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def test_a_pdf_written_here_is_read_into_paragraphs_and_turns(tmp_path) -> None:
    (tmp_path / "2025-01-02_small.pdf").write_bytes(make_pdf([
        "\tPress Conference", "CHAIR LEE. Good afternoon. Rates are", "unchanged today.",
        "\tWe will watch the data.", "ANNA BELL. Thank you. Will rates fall?", "CHAIR LEE. We will see.",
    ]))
    transcript = load_transcript(tmp_path / "2025-01-02_small.pdf", tmp_path)
    assert transcript.raw == (
        "Press Conference\n\nCHAIR LEE. Good afternoon. Rates are unchanged today.\n\nWe will watch the data."
        "\n\nANNA BELL. Thank you. Will rates fall?\n\nCHAIR LEE. We will see."
    )
    assert [(t.speaker, t.is_question, transcript.turn_text(t)) for t in transcript.turns] == [
        ("Chair Lee", False, "Good afternoon. Rates are unchanged today.\n\nWe will watch the data."),
        ("Anna Bell", True, "Thank you. Will rates fall?"),
        ("Chair Lee", False, "We will see."),
    ]
    assert transcript.title == "Press Conference" and transcript.date == "2025-01-02"


def test_broken_empty_encrypted_and_scanned_files_are_skipped_with_their_reason(tmp_path) -> None:
    (tmp_path / "good.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello there.\n", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "empty.html").write_bytes(b"  \n")
    (tmp_path / "encrypted.pdf").write_bytes(make_pdf(["Secret."], encrypt=True))
    (tmp_path / "scanned.pdf").write_bytes(make_pdf(None))
    (tmp_path / "no-body.html").write_bytes(b"<html><head><title>T</title></head><body><nav>Home</nav><script>x()</script></body></html>")
    (tmp_path / "not-captions.vtt").write_text("Hello, this is no WebVTT file.\n", encoding="utf-8")
    (tmp_path / "latin1.srt").write_bytes("1\n00:00:01,000 --> 00:00:02,000\nCaf\u00e9\n".encode("latin-1"))
    (tmp_path / "garbage.srt").write_text("not a subtitle\nat all\n", encoding="utf-8")

    transcripts, skipped = load_folder([tmp_path])

    assert [t.path for t in transcripts] == ["good.vtt"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["broken.pdf"].startswith("not a readable PDF")
    assert reasons["empty.pdf"] == reasons["empty.html"] == "empty file"
    assert reasons["encrypted.pdf"] == "encrypted PDF (it needs a password)"
    assert reasons["scanned.pdf"].startswith("no text layer (a scanned, image-only PDF")
    assert reasons["no-body.html"] == "no text in the page body"
    assert reasons["not-captions.vtt"].startswith("not a readable WebVTT file")
    assert reasons["latin1.srt"] == "not valid UTF-8 (byte 35)"
    assert reasons["garbage.srt"].startswith(("not a readable SubRip file", "no caption text"))
    assert len(reasons) == 9


def test_a_build_with_bad_files_goes_on_and_lists_them_in_the_manifest(tmp_path, stand_in_encoder) -> None:
    import json

    (tmp_path / "good.srt").write_text(SRT, encoding="utf-8")
    (tmp_path / "scanned.pdf").write_bytes(make_pdf(None))
    report = build_index([tmp_path], tmp_path.parent / "out", stand_in_encoder)
    manifest = json.loads((tmp_path.parent / "out" / MANIFEST).read_text())
    assert report.documents == 1
    assert [s["path"] for s in manifest["skipped"]] == ["scanned.pdf"]
    assert "image-only" in manifest["skipped"][0]["reason"]


def test_reader_errors_are_transcript_errors(tmp_path) -> None:
    (tmp_path / "x.pdf").write_bytes(b"\x00\x01garbage")
    with pytest.raises(TranscriptError, match="not a readable PDF"):
        load_transcript(tmp_path / "x.pdf", tmp_path)


# ---------------------------------------------------------------------------------------------
# A question per format, with the real model: the right passage first

QUESTIONS = [
    # (kind, question, file, words the first passage holds)
    ("html", "How much money did Congress initially secure for the coronavirus?",
     "html/2020-03-14_whitehouse-gov_coronavirus-task-force-press-briefing.html", "$8.3 billion"),
    ("pdf", "What facility did the Federal Reserve create so banks can borrow reserves against their assets at par?",
     PDF_FILE, "Bank Term Funding Program"),
    ("vtt", "How many enemy targets have been struck in Operation Epic Fury?", VTT_FILE, "More than 5,000 enemy targets"),
]


# The real model embeds about 6,400 windows for all 18 files (3 minutes on 2 shared cores);
# the index holds every PDF and the captions, and five of the twelve web pages, the asked one
# among them: still a few thousand passages of other briefings on the same topics to beat.
WEB_PAGES = ("2020-03-14", "2020-03-16", "2020-03-24", "2020-04-19", "2020-04-24")


@pytest.fixture(scope="module")
def formats_searcher(tmp_path_factory, encoder):
    from qa.search import Searcher

    source = tmp_path_factory.mktemp("formats-source")
    for kind in KIND_DIRS:
        (source / kind).mkdir()
        for path in sorted((FORMATS / kind).iterdir()):
            if kind != "html" or path.name.startswith(WEB_PAGES):
                shutil.copy(path, source / kind / path.name)
    out = tmp_path_factory.mktemp("formats") / "index"
    build_index([source], out, encoder)
    return Searcher(Index.load(out), encoder)


@pytest.mark.slow
@requires_formats
@pytest.mark.parametrize("kind,question,path,words", QUESTIONS, ids=[q[0] for q in QUESTIONS])
def test_a_question_per_format_gets_the_right_passage_first(formats_searcher, kind, question, path, words) -> None:
    answer = formats_searcher.ask(question, 3)
    first = answer.passages[0]
    assert first.citation.path == path, [p.citation.path for p in answer.passages]
    assert words in first.text
    document = formats_searcher.index.documents[first.citation.doc_id]
    assert first.text == collapse_whitespace(document.raw[first.citation.start : first.citation.end])
    if kind == "vtt":
        # Where in the video: the passage's first caption line, and the answer's own.
        assert first.citation.t == document.time_at(first.citation.start)
        assert answer.answer is None or answer.answer.citation.t == document.time_at(answer.answer.citation.start)
    else:
        assert first.citation.t is None


@pytest.mark.slow
@requires_formats
def test_the_api_and_the_page_show_the_extracted_text_and_the_file_kind(formats_searcher) -> None:
    from fastapi.testclient import TestClient

    from qa.api import create_app

    client = TestClient(create_app(searcher=formats_searcher, watch=False))
    for kind, question, path, words in QUESTIONS:
        body = client.get("/api/ask", params={"q": question, "k": 1}).json()
        citation = body["passages"][0]["citation"]
        document = client.get(f"/api/documents/{citation['doc_id']}").json()
        assert document["kind"] == {"html": "web page (HTML)", "pdf": "PDF transcript", "vtt": "video captions (WebVTT)"}[kind]
        assert body["passages"][0]["text"] == collapse_whitespace(document["raw"][citation["start"] : citation["end"]])
        assert (citation["t"] is not None) == (kind == "vtt")
        page = client.get(f"/documents/{citation['doc_id']}").text
        assert Path(path).name in page and document["kind"] in page and "extracted from the file" in page
        if kind == "vtt":
            # The results page says where in the video a passage of captions begins.
            results = client.get("/ask", params={"q": question, "k": 1}).text
            minutes, seconds = divmod(int(citation["t"]), 60)
            assert f"at {minutes}:{seconds:02d} in the video" in results


# ---------------------------------------------------------------------------------------------
# bench/parse_speed.py (make bench runs it too)


def test_parse_speed_measures_each_format_found_and_refuses_a_missing_folder(tmp_path) -> None:
    import json
    import subprocess
    import sys

    from conftest import REPO

    (tmp_path / "a.srt").write_text(SRT, encoding="utf-8")
    (tmp_path / "b.pdf").write_bytes(make_pdf(["CHAIR LEE. Good afternoon."]))
    script = [sys.executable, str(REPO / "bench" / "parse_speed.py")]
    result = subprocess.run([*script, "--folder", str(tmp_path), "--text", str(tmp_path / "none"), "--rounds", "1", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) == {"srt", "pdf"} and all(f["files"] == 1 and f["mb_per_s"] > 0 for f in figures.values())
    missing = subprocess.run([*script, "--folder", str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "parse_speed: error: no folder at" in missing.stderr
    assert "Traceback" not in missing.stderr
