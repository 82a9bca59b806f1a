"""Tests for qa.transcripts: format detection, metadata, speaker turns and their offsets, bad files."""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from qa.text import collapse_whitespace
from qa.readers import load_folder, load_transcript
from qa.transcripts import (
    REPORTER,
    Transcript,
    display_speaker,
    make_doc_id,
    markdown_text,
    parse,
)

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SCIO_SEED = SEEDS / "000_05a47eddf0c07e42.txt"
NARRATIVE_SEED = SEEDS / "003_cd57cd5aac821783.txt"


def shared_dir() -> Path:
    """The team's shared folder: $QA_SHARED, else ../shared beside the repository."""
    configured = os.environ.get("QA_SHARED")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared"


def wh_corpus_dir() -> Path:
    folder = shared_dir() / "corpus" / "wh-press-briefings"
    if not folder.is_dir():
        pytest.skip(f"White House corpus not found at {folder} (set QA_SHARED to the shared folder)")
    return folder


def texts(transcript: Transcript) -> list[str]:
    return [transcript.turn_text(turn) for turn in transcript.turns]


def assert_turns_well_formed(transcript: Transcript) -> None:
    """Turns are numbered, ordered, non-overlapping, trimmed, and answers point back to questions."""
    raw = transcript.raw
    previous_end = 0
    for position, turn in enumerate(transcript.turns):
        assert turn.index == position
        assert previous_end <= turn.start < turn.end <= len(raw), (transcript.path, turn)
        assert not raw[turn.start].isspace() and not raw[turn.end - 1].isspace(), (transcript.path, turn)
        previous_end = turn.end
        if turn.is_question:
            assert turn.question_turn is None
        if turn.question_turn is not None:
            assert turn.question_turn < turn.index
            assert transcript.turns[turn.question_turn].is_question


# ---------------------------------------------------------------------------------------------
# Seed files


@pytest.fixture(scope="module")
def scio() -> Transcript:
    return load_transcript(SCIO_SEED)


@pytest.fixture(scope="module")
def narrative() -> Transcript:
    return load_transcript(NARRATIVE_SEED)


def test_scio_seed_metadata(scio: Transcript) -> None:
    assert scio.format == "scio"
    assert scio.title == (
        "SCIO briefing on development of industry and information technology in the first quarter of 2025"
    )
    assert scio.date == "2025-10-22"
    assert scio.source == "China.org.cn"
    assert scio.url is None
    assert scio.doc_id == "000_05a47eddf0c07e42"
    assert scio.path == "000_05a47eddf0c07e42.txt"
    assert scio.raw == SCIO_SEED.read_text(encoding="utf-8")
    assert len(scio.content_hash) == 64


def test_scio_seed_turns(scio: Transcript) -> None:
    assert [(t.speaker, t.is_question, t.question_turn) for t in scio.turns] == [
        ("Hong Kong Bauhinia Magazine", True, None),
        ("Xie Shaofeng", False, 0),
    ]
    assert_turns_well_formed(scio)
    question, answer = texts(scio)
    assert question.startswith("The changing external environment has created significant challenges for SMEs.")
    assert question.endswith("What measures will be taken next to better assist enterprise development? Thank you.")
    assert answer.startswith("Thank you for your questions. I will answer them.")
    assert answer.endswith("to strongly support the high-quality development of SMEs. Thank you.")
    # Four paragraphs of the answer stay in the one turn.
    assert answer.count("\n\n") == 3


def test_scio_seed_breadcrumb_header_and_pagination_are_outside_turns(scio: Transcript) -> None:
    raw = scio.raw
    first, last = scio.turns[0], scio.turns[-1]
    assert raw.index("Press RoomPress Conference Transcripts") < first.start
    assert raw.index("China.org.cn | October 22, 2025") < first.start
    assert raw.index("Xie Shaofeng:") < last.start
    footer = raw.index("<\u00a0\u00a01\u00a0\u00a02\u00a0\u00a03")
    assert last.end < footer
    assert all("<\u00a0" not in text and "11\u00a0" not in text for text in texts(scio))


def test_narrative_seed_is_paragraphs(narrative: Transcript) -> None:
    assert narrative.format == "paragraphs"
    # No title line: the first sentence, shortened at a word boundary, not the file name.
    assert narrative.title == (
        "On October 14, the State Council Information Office held a press conference to\u2026"
    )
    # "October 14" has no year, so date stays empty; the words stay in the title, where they show.
    assert narrative.date is None
    assert narrative.source is None
    assert narrative.url is None
    assert len(narrative.turns) == 6
    assert all(t.speaker is None and not t.is_question and t.question_turn is None for t in narrative.turns)
    assert_turns_well_formed(narrative)
    paragraphs = texts(narrative)
    assert paragraphs[0] == (
        "On October 14, the State Council Information Office held a press conference to discuss "
        "initiatives aimed at enhancing support for businesses."
    )
    assert paragraphs[1].startswith("Wang Jiangping, the Vice Minister of Industry and Information Technology")
    assert paragraphs[5].startswith("In terms of service assurances, support will be provided for \u201clittle giant\u201d")
    assert all("\n" not in p for p in paragraphs)


# ---------------------------------------------------------------------------------------------
# White House format on small literal inputs

WH_RAW = (
    "---\n"
    "tags: press-briefings\n"
    "date: '2021-03-09'\n"
    "modified_time: 2021-03-09 18:08:06-05:00\n"
    "source_url: https://bidenwhitehouse.archives.gov/briefing-room/press-briefings/2021/03/09/press-briefing-test/\n"
    "published_time: 2021-03-09 17:59:20-05:00\n"
    'title: "Press Briefing by Press Secretary Jen\\_Psaki and National Security Advisor\\\n'
    "  \\ Jake Sullivan on the President\\u2019s Trip, March\\_9,\\_2021\"\n"
    "---\n"
    " \n"
    "James S. Brady Press Briefing Room  \n"
    "\n"
    "\u00a01:17 P.M. EST  \n"
    "  \n"
    "\u00a0\u00a0\u00a0\u00a0 MS. PSAKI:\u00a0 Good afternoon.\u00a0 We have a special guest <s>today</s> this\n"
    "afternoon.\u00a0  \n"
    "  \n"
    "MR. SULLIVAN:\u00a0 Thank you, Jen.\u00a0 The President\u2019s trip to Asia will\n"
    "focus on the Quad.  \n"
    "  \n"
    "Q\u00a0\u00a0\u00a0 Thanks, Jen.\u00a0 Jake, on China: did the tariffs come up?  \n"
    "  \n"
    "MR. SULLIVAN:\u00a0 No, it did not come up.\u00a0 The talks were \\[sic\\] about\n"
    "trade.  \n"
    "  \n"
    "Q\u00a0\u00a0\u00a0 Follow-up?  \n"
    "  \n"
    "MS. PSAKI:\u00a0 (Laughter.)\u00a0 Go ahead.  \n"
    "  \n"
    "Q\u00a0\u00a0\u00a0 Thanks, Jen.  \n"
    "  \n"
    "MS. PSAKI:\u00a0 Thank you, everyone.  \n"
    "  \n"
    "2:37 P.M. EST  \n"
)


@pytest.fixture(scope="module")
def wh() -> Transcript:
    return parse(WH_RAW, "2020-01-01_wh_pb-test.txt")


def test_wh_literal_metadata(wh: Transcript) -> None:
    assert wh.format == "markdown"
    # The date comes from the front matter, not from the file name.
    assert wh.date == "2021-03-09"
    assert wh.url == (
        "https://bidenwhitehouse.archives.gov/briefing-room/press-briefings/2021/03/09/press-briefing-test/"
    )
    assert wh.source == "bidenwhitehouse.archives.gov"
    # "\_" is a YAML escape for U+00A0; the folded title is joined and its NBSPs collapsed.
    assert wh.title == (
        "Press Briefing by Press Secretary Jen Psaki and National Security Advisor "
        "Jake Sullivan on the President\u2019s Trip, March 9, 2021"
    )
    assert wh.doc_id == "2020-01-01_wh_pb-test"


def test_wh_literal_speakers_and_links(wh: Transcript) -> None:
    assert [(t.speaker, t.is_question, t.question_turn) for t in wh.turns] == [
        ("Ms. Psaki", False, None),
        ("Mr. Sullivan", False, None),
        (REPORTER, True, None),
        ("Mr. Sullivan", False, 2),
        (REPORTER, True, None),
        ("Ms. Psaki", False, 4),
        (REPORTER, True, None),
        ("Ms. Psaki", False, 6),
    ]
    assert_turns_well_formed(wh)


def test_wh_literal_turn_text(wh: Transcript) -> None:
    assert texts(wh) == [
        "Good afternoon.\u00a0 We have a special guest <s>today</s> this\nafternoon.",
        "Thank you, Jen.\u00a0 The President\u2019s trip to Asia will\nfocus on the Quad.",
        "Thanks, Jen.\u00a0 Jake, on China: did the tariffs come up?",
        "No, it did not come up.\u00a0 The talks were [sic] about\ntrade.",
        "Follow-up?",
        "(Laughter.)\u00a0 Go ahead.",
        "Thanks, Jen.",
        "Thank you, everyone.",
    ]


def test_markdown_is_read_as_the_text_it_shows() -> None:
    body = ("# A heading\n\nMS. PSAKI:\u00a0 Thanks, \\[moderator\\]. It is \\*final\\*, the new\\_rule.\n\n"
            "*Q\u00a0\u00a0\u00a0 Hi, Jen.  Can you hear me?*\n\n"
            "MS. PSAKI:\u00a0 We **will** act, in_place names and 2 * 3 * 4 kept.\n\n\\###\n")
    front = "---\ntitle: Test\ndate: '2021-03-09'\n---\n"
    transcript = parse(front + body, "briefing.txt")  # the heading is a preamble, in no turn
    assert transcript.format == "markdown"
    assert transcript.raw.startswith(front)  # the front matter as written
    shown = transcript.raw[len(front):]
    assert "\\" not in shown and "**" not in shown and not shown.startswith("#")
    assert [(t.speaker, transcript.raw[t.start : t.end]) for t in transcript.turns] == [
        ("Ms. Psaki", "Thanks, [moderator]. It is *final*, the new_rule."),
        (REPORTER, "Hi, Jen.  Can you hear me?"),
        ("Ms. Psaki", "We will act, in_place names and 2 * 3 * 4 kept."),
    ]
    # A file named .md without front matter is Markdown too; a plain text file stays as written.
    assert parse(body, "notes.md").raw == markdown_text(body)
    assert parse(body, "notes.txt").raw == body


def test_wh_literal_venue_and_time_lines_are_in_no_turn(wh: Transcript) -> None:
    joined = "\n".join(texts(wh))
    assert "Brady" not in joined
    assert "1:17" not in joined
    assert "2:37" not in joined
    assert wh.turns[0].start == wh.raw.index("Good afternoon.")
    assert wh.turns[-1].end == wh.raw.index("Thank you, everyone.") + len("Thank you, everyone.")


def test_wh_label_spacing_and_case_variants() -> None:
    # Seen in the corpus: NBSP plus a space inside a label, a title-case honorific, a label
    # with one ordinary space after the colon, a stray "Q" before a label, a doubled "Q", and a
    # reporter's turn that starts in lower case.
    raw = (
        "---\ndate: '2023-02-13'\ntitle: Test\n---\n \n1:00 P.M. EST\n\n"
        "MS. JEAN-PIERRE:\u00a0 Good afternoon.\n\n"
        "Q\u00a0\u00a0\u00a0 A question?\n\n"
        "MR.\u00a0 SULLIVAN:\u00a0 Sorry, I was looking at the wrong person.\n\n"
        "Q\u00a0\u00a0\u00a0 Another question?\n\n"
        "Mr. KIRBY:\u00a0 The President was anything but helpless.\n\n"
        "Q\u00a0\u00a0\u00a0 MR. KIRBY:\u00a0 So, two thoughts here.\n\n"
        "Q\u00a0\u00a0\u00a0 Q\u00a0\u00a0\u00a0 I\u2019m asking about in general \u2014\n\n"
        "MS.\u00a0 JEAN-PIERRE:\u00a0 By the United States?\n\n"
        "Q\u00a0\u00a0\u00a0 in order to broker this deal \u2014\n\n"
        "MODERATOR: Thanks, everyone.\n"
    )
    transcript = parse(raw, "t.md")
    assert [(t.speaker, t.is_question) for t in transcript.turns] == [
        ("Ms. Jean-Pierre", False),
        (REPORTER, True),
        ("Mr. Sullivan", False),
        (REPORTER, True),
        ("Mr. Kirby", False),
        ("Mr. Kirby", False),
        (REPORTER, True),
        ("Ms. Jean-Pierre", False),
        (REPORTER, True),
        ("Moderator", False),
    ]
    assert texts(transcript) == [
        "Good afternoon.",
        "A question?",
        "Sorry, I was looking at the wrong person.",
        "Another question?",
        "The President was anything but helpless.",
        "So, two thoughts here.",
        "I\u2019m asking about in general \u2014",
        "By the United States?",
        "in order to broker this deal \u2014",
        "Thanks, everyone.",
    ]
    assert_turns_well_formed(transcript)


@pytest.mark.parametrize(
    "closing",
    [
        "2:37 P.M. EST",
        "\u00a0END\u00a0 5:10 P.M. EDT",
        "END \u00a0\u00a0\u00a0\u00a0\u00a0 2:01 P.M. EST",
        "2:36 PM",
        "2:45 P.M EDT",
        "4:34 P.M. EDT\n\n\\###",
        "END",
    ],
)
def test_wh_closing_lines_are_not_in_the_last_turn(closing: str) -> None:
    raw = (
        "---\ndate: '2021-02-02'\ntitle: Test\n---\n \n1:00 P.M. EST\n\n"
        "MS. PSAKI:\u00a0 Hi.\n\nQ\u00a0\u00a0\u00a0 Thank you, Jen.\n\n"
        f"MS. PSAKI:\u00a0 Great.\u00a0 See you tomorrow.  \n  \n{closing}\n"
    )
    transcript = parse(raw, "t.md")
    assert texts(transcript)[-1] == "Great.\u00a0 See you tomorrow."


def test_wh_time_like_text_inside_a_turn_is_kept() -> None:
    raw = (
        "---\ndate: '2021-02-02'\ntitle: Test\n---\n \n"
        "MS. PSAKI:\u00a0 The call is at\n4:00 P.M. EST\ntomorrow.\n\nQ\u00a0\u00a0\u00a0 Thanks.\n"
    )
    transcript = parse(raw, "t.md")
    assert texts(transcript) == ["The call is at\n4:00 P.M. EST\ntomorrow.", "Thanks."]


@pytest.mark.parametrize(
    ("label", "shown"),
    [
        ("MS. JEAN-PIERRE", "Ms. Jean-Pierre"),
        ("MR. KIRBY", "Mr. Kirby"),
        ("SECRETARY RAIMONDO", "Secretary Raimondo"),
        ("SENIOR ADMINISTRATION OFFICIAL", "Senior Administration Official"),
        ("ADMINISTRATOR MCCARTHY", "Administrator McCarthy"),
        ("DR. SHERWOOD-RANDALL", "Dr. Sherwood-Randall"),
        ("MR.\u00a0 SULLIVAN", "Mr. Sullivan"),
        ("Mr. KIRBY", "Mr. Kirby"),
        ("THE PRESIDENT\u2019S AIDE", "The President\u2019s Aide"),
        ("Q", REPORTER),
        ("Xie Shaofeng", "Xie Shaofeng"),
    ],
)
def test_display_speaker(label: str, shown: str) -> None:
    assert display_speaker(label) == shown


# ---------------------------------------------------------------------------------------------
# The real White House corpus

# A speaker label at the start of a line: "MS. PSAKI:", "Mr. KIRBY:", or a reporter's "Q" followed
# by NBSP or several spaces.
_LABEL_AT_LINE_START = re.compile(
    r"^[ \t\u00a0]*(?:Q(?:\u00a0|[ \t]{2,}|[ \t]*$)"
    r"|(?:M(?:R|S|RS|r|s|rs)\.?|DR\.|[A-Z]{2,}\.?)(?:[ \u00a0]+[A-Z][A-Z.\u2019'-]*){0,4}:(?:[ \u00a0]|$))",
    re.M,
)
_Q_LINE = re.compile(r"^[ \t\u00a0]*Q(?=[ \t\u00a0]|$)(?![ \t\u00a0]+M[RS]\. [A-Z]+:)", re.M)


@pytest.fixture(scope="module")
def corpus() -> list[Transcript]:
    transcripts, skipped = load_folder([wh_corpus_dir()])
    assert skipped == []
    return transcripts


@pytest.fixture(scope="module")
def manifest_urls() -> dict[str, str]:
    path = wh_corpus_dir().parent / "MANIFEST_wh-press-briefings.tsv"
    if not path.is_file():
        pytest.skip(f"manifest not found at {path}")
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["file"]: row["source_url"] for row in csv.DictReader(handle, delimiter="\t")}


def test_corpus_every_file_parses_with_front_matter_metadata(corpus: list[Transcript]) -> None:
    # 214 files, two briefings posted twice: 212 documents, each kept once with its other posting.
    assert len(corpus) == 212
    assert sorted(path for t in corpus for path, _ in t.copies) == [
        "2022-07-20_wh_pb-jean-pierre-and-nsc-kirby-3.txt", "2022-09-01_wh_pb-jean-pierre-september-1-2022.txt"]
    for transcript in corpus:
        assert transcript.format == "markdown", transcript.path
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", transcript.date or ""), transcript.path
        assert transcript.date == transcript.path[:10], transcript.path
        assert transcript.title and transcript.title != Path(transcript.path).stem, transcript.path
        assert transcript.title == collapse_whitespace(transcript.title)
        assert transcript.url and transcript.url.startswith("https://bidenwhitehouse.archives.gov/briefing-room/")
        assert transcript.source == "bidenwhitehouse.archives.gov"
        assert len(transcript.turns) >= 5, transcript.path


def test_corpus_urls_match_the_manifest(corpus: list[Transcript], manifest_urls: dict[str, str]) -> None:
    assert len(manifest_urls) == 214
    assert {t.path: t.url for t in corpus} | {path: url for t in corpus for path, url in t.copies} == manifest_urls


def test_corpus_turns_are_ordered_and_trimmed(corpus: list[Transcript]) -> None:
    for transcript in corpus:
        assert_turns_well_formed(transcript)


def test_corpus_no_turn_contains_a_speaker_label(corpus: list[Transcript]) -> None:
    offenders = []
    for transcript in corpus:
        for turn in transcript.turns:
            text = transcript.turn_text(turn)
            match = _LABEL_AT_LINE_START.search(text)
            if match:
                offenders.append((transcript.path, turn.index, text[match.start() : match.start() + 40]))
    assert offenders == []


def test_corpus_no_turn_contains_a_closing_time_line(corpus: list[Transcript]) -> None:
    closing = re.compile(r"^[ \t\u00a0]*(?:END[ \t\u00a0]*)?\d{1,2}:\d{2}[ \t\u00a0]+[AP]\.?M\.?(?:[ \t\u00a0]+[A-Z]{2,4})?[ \t\u00a0]*$", re.M)
    for transcript in corpus:
        last = transcript.turn_text(transcript.turns[-1])
        assert not closing.search(last), transcript.path
        assert not re.search(r"(?m)^[ \t\u00a0]*(?:END|\\?###)[ \t\u00a0]*$", last), transcript.path


def test_corpus_every_reporter_q_is_a_question_turn(corpus: list[Transcript]) -> None:
    for transcript in corpus:
        reporter_turns = [t for t in transcript.turns if t.speaker == REPORTER]
        assert all(t.is_question for t in reporter_turns)
        assert sum(t.is_question for t in transcript.turns) == len(reporter_turns)
        assert len(reporter_turns) == len(_Q_LINE.findall(transcript.raw)), transcript.path


def test_corpus_speakers(corpus: list[Transcript]) -> None:
    speakers = Counter(turn.speaker for transcript in corpus for turn in transcript.turns)
    # The two briefings posted twice count once (they were 5708, 1964 and 13642 counted twice), and
    # Markdown resolved finds 4 more reporters' turns, printed in emphasis ("*Q  Hi, Jen.*").
    assert speakers["Ms. Jean-Pierre"] == 5589
    assert speakers["Ms. Psaki"] == 4983
    assert speakers["Mr. Kirby"] == 1933
    assert speakers["Mr. Sullivan"] == 896
    assert speakers[REPORTER] == 13508
    assert speakers["Senior Administration Official"] == 486
    assert speakers["Secretary Raimondo"] == 49
    assert speakers["Administrator McCarthy"] == 12
    # Labels are shown in title case, never as the capitals of the source.
    assert not [s for s in speakers if s and s.isupper()]
    # One stage direction before the first label is the only turn without a speaker.
    assert speakers[None] == 1


def test_corpus_sample_file(corpus: list[Transcript]) -> None:
    transcript = next(t for t in corpus if t.path == "2021-02-04_wh_pb-psaki-and-nsa-sullivan-february-4-2021.txt")
    assert transcript.title == (
        "Press Briefing by Press Secretary Jen Psaki and National Security Advisor Jake Sullivan, February 4, 2021"
    )
    assert transcript.date == "2021-02-04"
    assert transcript.doc_id == "2021-02-04_wh_pb-psaki-and-nsa-sullivan-february-4-2021"
    turns = transcript.turns
    assert len(turns) == 134
    assert Counter(t.speaker for t in turns) == {REPORTER: 64, "Ms. Psaki": 58, "Mr. Sullivan": 12}
    assert [t.speaker for t in turns[:4]] == ["Ms. Psaki", "Mr. Sullivan", REPORTER, "Mr. Sullivan"]
    first_words = [collapse_whitespace(transcript.turn_text(t)) for t in turns[:4]]
    assert first_words[0].startswith("Hi, everyone. We have a very special guest today. Since his inauguration,")
    assert first_words[1].startswith("Hi, everybody. It\u2019s great to have the opportunity to be here.")
    assert first_words[2].startswith("Jake, thanks for being in the room. We appreciate it. First, I want")
    assert first_words[3].startswith("Well, first of all, unlike the previous administration,")
    assert turns[0].start == transcript.raw.index("Hi, everyone.")
    assert [t.question_turn for t in turns[:4]] == [None, None, None, 2]
    assert turns[-1].speaker == "Ms. Psaki"
    assert transcript.turn_text(turns[-1]) == "Thank you, everyone."
    assert turns[-1].question_turn == 132


def test_corpus_regressions(corpus: list[Transcript]) -> None:
    """Turns the parser once gave to the wrong speaker."""
    by_path = {t.path: t for t in corpus}

    def turn_starting(path: str, words: str):
        transcript = by_path[path]
        found = [t for t in transcript.turns if transcript.turn_text(t).startswith(words)]
        assert len(found) == 1, (path, words)
        return found[0]

    cases = [
        ("2021-08-17_wh_pb-psaki-and-nsa-sullivan-august-17-2021.txt", "Sorry, I was looking at the wrong person.", "Mr. Sullivan"),
        ("2023-04-06_wh_pb-jean-pierre-and-national-security-council-coordinator-9.txt", "The President was anything but helpless.", "Mr. Kirby"),
        ("2023-02-27_wh_pb-jean-pierre-and-national-security-council-coordinator-6.txt", "I have not heard that report until just now.", "Mr. Kirby"),
        ("2023-02-13_wh_pb-jean-pierre-and-national-security-council-coordinator.txt", "So, two thoughts here.", "Mr. Kirby"),
        ("2023-06-14_wh_pb-jean-pierre-40.txt", "Okay.\u00a0 Way in the back.", "Ms. Jean-Pierre"),
        ("2023-10-31_wh_pb-jean-pierre-and-nsc-kirby-25.txt", "I\u2019m asking about in general", REPORTER),
        ("2021-05-21_wh_pb-psaki-may-21-2021.txt", "in order to broker this deal", REPORTER),
    ]
    for path, words, speaker in cases:
        assert turn_starting(path, words).speaker == speaker, (path, words)


# ---------------------------------------------------------------------------------------------
# Other inputs


def test_plain_text_without_speakers_is_paragraphs() -> None:
    raw = "First paragraph, line one\nline two.\n\n  \nSecond paragraph.\n\u00a0\nThird.\n"
    transcript = parse(raw, "notes/report.txt")
    assert transcript.format == "paragraphs"
    # The first sentence, whitespace collapsed, without its full stop.
    assert transcript.title == "First paragraph, line one line two"
    assert transcript.doc_id == "notes__report"
    assert transcript.date is None and transcript.url is None and transcript.source is None
    assert texts(transcript) == ["First paragraph, line one\nline two.", "Second paragraph.", "Third."]
    assert all(t.speaker is None for t in transcript.turns)


def test_crlf_files_parse_like_lf_files() -> None:
    lf = SCIO_SEED.read_text(encoding="utf-8")
    crlf = parse(lf.replace("\n", "\r\n"), "scio.txt")
    assert crlf.format == "scio"
    assert crlf.date == "2025-10-22"
    assert [t.speaker for t in crlf.turns] == ["Hong Kong Bauhinia Magazine", "Xie Shaofeng"]
    assert [collapse_whitespace(text) for text in texts(crlf)] == [
        collapse_whitespace(text) for text in texts(parse(lf, "scio.txt"))
    ]
    paragraphs = parse("One.\r\n\r\nTwo\r\nlines.\r\n \r\nThree.\r\n", "p.txt")
    assert texts(paragraphs) == ["One.", "Two\r\nlines.", "Three."]


def test_wh_front_matter_with_crlf() -> None:
    transcript = parse(WH_RAW.replace("\n", "\r\n"), "2020-01-01_wh_pb-test.txt")
    assert transcript.format == "markdown"
    assert transcript.date == "2021-03-09"
    assert [t.speaker for t in transcript.turns][:3] == ["Ms. Psaki", "Mr. Sullivan", REPORTER]
    assert texts(transcript)[-1] == "Thank you, everyone."


def test_file_name_date_is_used_when_the_text_has_none() -> None:
    assert parse("Some text.", "2024-05-06_notes.txt").date == "2024-05-06"
    assert parse("Some text.", "2024-13-06_notes.txt").date is None


BLOCK_RAW = (
    "Moderator:\n\n"
    "Welcome to today's briefing. The arrangements are as follows:\n"
    "first, opening remarks; second, questions.\n\n"
    "The measures are as follows:\n\n"
    "One, cut fees. Two, speed approvals. Further steps were set out by the\n"
    "Ministry of Finance as follows:\n\n"
    "Three, lower taxes.\n\n"
    "CCTV:\n\n"
    "What will be done next?\n\n"
    "Li Ming:\n\n"
    "We will keep working. Thank you.\n"
)


def test_block_speakers() -> None:
    transcript = parse(BLOCK_RAW, "briefing.txt")
    assert transcript.format == "block-speakers"
    assert [(t.speaker, t.is_question, t.question_turn) for t in transcript.turns] == [
        ("Moderator", False, None),
        ("CCTV", True, None),
        ("Li Ming", False, 1),
    ]
    moderator, question, answer = texts(transcript)
    # "The measures are as follows:" alone on a line is prose, not a speaker.
    assert moderator.startswith("Welcome to today's briefing.")
    assert "The measures are as follows:\n\nOne, cut fees. Two, speed approvals." in moderator
    assert moderator.endswith("by the\nMinistry of Finance as follows:\n\nThree, lower taxes.")
    assert question == "What will be done next?"
    assert answer == "We will keep working. Thank you."
    assert_turns_well_formed(transcript)


def test_inline_speakers_without_front_matter() -> None:
    raw = "MR. SMITH:  Hello there.\n\nQ   What happened?\n\nMR. SMITH:  Nothing.\n"
    transcript = parse(raw, "x.txt")
    assert transcript.format == "inline-speakers"
    assert [(t.speaker, t.question_turn) for t in transcript.turns] == [
        ("Mr. Smith", None),
        (REPORTER, None),
        ("Mr. Smith", 1),
    ]
    assert texts(transcript) == ["Hello there.", "What happened?", "Nothing."]


def test_make_doc_id() -> None:
    assert make_doc_id("2021-01-25_wh_pb.txt") == "2021-01-25_wh_pb"
    assert make_doc_id("sub/dir/a b.md") == "sub__dir__a-b"
    assert make_doc_id("a b.txt") == make_doc_id("a-b.txt") == "a-b"
    assert make_doc_id("???.txt") == "document"


# ---------------------------------------------------------------------------------------------
# Folders with bad files


def test_load_folder_reports_bad_files_and_keeps_good_ones(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("A paragraph.\n\nAnother one.\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_bytes(b" \n\t\n  \r\n")
    (tmp_path / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00text")
    (tmp_path / "latin1.txt").write_bytes("Caf\u00e9 cr\u00e8me".encode("latin-1"))
    (tmp_path / "ignored.docx").write_bytes(b"PK\x03\x04 a word processor's file")
    # A PDF is read now (qa/readers): a broken one is skipped with its reason, like a bad text file.
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / ".hidden.txt").write_text("hidden", encoding="utf-8")

    transcripts, skipped = load_folder([tmp_path])

    assert [t.path for t in transcripts] == ["good.txt"]
    assert texts(transcripts[0]) == ["A paragraph.", "Another one."]
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"empty.txt", "blank.txt", "binary.txt", "latin1.txt", "broken.pdf"}
    assert reasons["broken.pdf"].startswith("not a readable PDF")
    assert reasons["empty.txt"] == "empty file"
    assert reasons["blank.txt"] == "empty file"
    assert "binary" in reasons["binary.txt"] and "NUL" in reasons["binary.txt"]
    assert reasons["latin1.txt"] == "not valid UTF-8 (byte 3)"


def test_load_folder_reports_duplicate_doc_ids(tmp_path: Path) -> None:
    (tmp_path / "a b.txt").write_text("First.\n", encoding="utf-8")
    (tmp_path / "a-b.txt").write_text("Second.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a b.txt").write_text("Third.\n", encoding="utf-8")

    transcripts, skipped = load_folder([tmp_path])

    assert sorted(t.doc_id for t in transcripts) == ["a-b", "sub__a-b"]
    assert [(s.path, s.reason) for s in skipped] == [("a-b.txt", "same document id as a b.txt")]


def test_load_folder_paths_are_relative_to_each_root(tmp_path: Path) -> None:
    (tmp_path / "one" / "deep").mkdir(parents=True)
    (tmp_path / "one" / "deep" / "x.md").write_text("Text.\n", encoding="utf-8")
    transcripts, skipped = load_folder([tmp_path / "one"])
    assert skipped == []
    assert [(t.path, t.doc_id) for t in transcripts] == [("deep/x.md", "deep__x")]


def test_load_folder_accepts_a_single_file(tmp_path: Path) -> None:
    path = tmp_path / "single.txt"
    path.write_text("Only this.\n", encoding="utf-8")
    transcripts, skipped = load_folder([path])
    assert skipped == []
    assert [(t.path, t.doc_id) for t in transcripts] == [("single.txt", "single")]


def test_load_folder_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="source folder not found"):
        load_folder([tmp_path / "does-not-exist"])


def test_untitled_file_is_titled_by_its_first_sentence_shortened_at_a_word_boundary() -> None:
    raw = (
        "On March 3 the spokesperson opened the briefing with a long statement about harbour dredging "
        "and the budget. Then came questions.\n"
    )
    transcript = parse(raw, "2024-05-01_untitled.txt")
    assert transcript.title == "On March 3 the spokesperson opened the briefing with a long statement about\u2026"
    assert len(transcript.title) <= 81 and raw.startswith(transcript.title.removesuffix("\u2026"))
    # The date comes from the file name; "March 3" alone (no year) never makes a date.
    assert transcript.date == "2024-05-01"
    assert parse(raw, "untitled.txt").date is None


def test_untitled_file_with_speakers_is_titled_by_its_first_words() -> None:
    raw = "Harbour briefing\n\nMR. BELL: Good afternoon. The harbour opens.\n\nQ  When?\n\nMR. BELL: Monday.\n"
    transcript = parse(raw, "harbour.txt")
    assert transcript.format == "inline-speakers"
    assert transcript.title == "Harbour briefing"


def test_file_without_any_sentence_keeps_its_file_name_as_title() -> None:
    transcript = parse("---\n---\n", "notes/empty-ish.txt")
    assert transcript.title == "empty-ish"


def test_two_postings_of_one_briefing_share_their_key() -> None:
    # The same turns under another front matter, or with a correction marked in one posting only,
    # are one briefing (the corpus's 2022-09-01 jean-pierre-7 and september-1-2022 differ so);
    # a changed word is another.
    body = "MS. JEAN-PIERRE:  The <s>director</s> [Administrator] of FEMA is going.\n\nQ    Thanks.\n"
    first = parse("---\ndate: '2022-09-01'\ntitle: A\n---\n" + body, "a.txt")
    second = parse("---\ndate: '2022-09-02'\ntitle: B\n---\n\n" + body.replace("<s>director</s>", "director"), "b.txt")
    third = parse("---\ndate: '2022-09-01'\ntitle: A\n---\n" + body.replace("going", "staying"), "c.txt")
    assert first.posting_key() == second.posting_key() != third.posting_key()
