"""Tests for qa.chunking: content-free turns, splitting long turns, and the citation invariant."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qa.chunking import (
    MAX_WORDS,
    QUESTION_PREVIEW_WORDS,
    Chunk,
    chunk_all,
    chunk_transcript,
    embedding_text,
    is_content_free,
)
from qa.text import collapse_whitespace
from qa.readers import load_folder, load_transcript
from qa.transcripts import REPORTER, Transcript, parse

REPO = Path(__file__).resolve().parents[1]
SEED_FILES = [REPO / "seeds" / "000_05a47eddf0c07e42.txt", REPO / "seeds" / "003_cd57cd5aac821783.txt"]


def shared_dir() -> Path:
    """The team's shared folder: $QA_SHARED, else ../shared beside the repository."""
    configured = os.environ.get("QA_SHARED")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared"


def expected_question(transcript: Transcript, question_turn: int) -> str:
    """The question preview, computed independently: its first words, whitespace collapsed."""
    words = transcript.turn_text(transcript.turns[question_turn]).split()
    if len(words) <= QUESTION_PREVIEW_WORDS:
        return " ".join(words)
    return " ".join(words[:QUESTION_PREVIEW_WORDS]) + " \u2026"


def assert_citation_invariant(transcript: Transcript, chunks: list[Chunk]) -> None:
    """Every chunk is an exact, trimmed slice of its turn in the raw file, with the turn's speaker."""
    raw = transcript.raw
    for chunk in chunks:
        where = (transcript.path, chunk.chunk_id)
        turn = transcript.turns[chunk.turn]
        assert chunk.doc_id == transcript.doc_id, where
        assert chunk.start < chunk.end, where
        assert turn.start <= chunk.start and chunk.end <= turn.end, where
        assert not raw[chunk.start].isspace() and not raw[chunk.end - 1].isspace(), where
        assert collapse_whitespace(raw[chunk.start : chunk.end]) == chunk.text, where
        assert chunk.speaker == turn.speaker, where
        assert chunk.is_question == turn.is_question, where
        assert chunk.question_turn == turn.question_turn, where
        assert len(chunk.text.split()) <= MAX_WORDS, where
        if chunk.question_turn is None:
            assert chunk.question is None, where
        else:
            assert chunk.question == expected_question(transcript, chunk.question_turn), where


def assert_turns_fully_covered(transcript: Transcript, chunks: list[Chunk]) -> None:
    """Each kept turn's chunks are its parts 0, 1, 2 ... in order and lose none of its words."""
    by_turn: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        by_turn.setdefault(chunk.turn, []).append(chunk)
    for turn in transcript.turns:
        parts = by_turn.get(turn.index, [])
        if not parts:
            assert is_content_free(transcript.turn_text(turn)), (transcript.path, turn.index)
            continue
        assert [c.part for c in parts] == list(range(len(parts))), (transcript.path, turn.index)
        assert all(a.end <= b.start for a, b in zip(parts, parts[1:])), (transcript.path, turn.index)
        words = [w for c in parts for w in c.text.split()]
        assert words == transcript.turn_text(turn).split(), (transcript.path, turn.index)


# ---------------------------------------------------------------------------------------------
# is_content_free


@pytest.mark.parametrize(
    "text",
    [
        "Thank you.",
        "Thanks, Karine.",
        "Go ahead, Steve.",
        "(Laughter.)",
        "(Cross-talk.)",
        "Okay.\u00a0 Go ahead.",
        "Thank you very much.",
        "All right.\u00a0 Thanks, everybody.",
        "Thanks, guys.",
        "Good afternoon, everybody.",
        "Good morning.",
        "\\[inaudible\\]",
        "",
    ],
)
def test_content_free(text: str) -> None:
    assert is_content_free(text)


@pytest.mark.parametrize(
    "text",
    [
        "No, it did not come up.",
        "Yes.",
        "No.",
        "Biden.",
        "China.",
        "Thanks.\u00a0 On Taiwan: will he call Xi?",
        "Thank you.\u00a0 The President spoke to President Xi today.",
        "Go ahead, Steve, Karine and Jake.",
    ],
)
def test_not_content_free(text: str) -> None:
    assert not is_content_free(text)


# ---------------------------------------------------------------------------------------------
# Long turns


def numbered_sentences(count: int, words_each: int) -> list[str]:
    """Distinct sentences, so that a lost or repeated one shows up as a changed word list."""
    filler = " ".join(f"w{i}" for i in range(words_each - 2))
    return [f"Sentence{n} says {filler}." for n in range(count)]


def wh_document(answer: str) -> str:
    return (
        "---\ndate: '2022-01-01'\ntitle: Long turns\n---\n \n1:00 P.M. EST\n\n"
        "Q\u00a0\u00a0\u00a0 What about the long answer?\n\n"
        f"MS. PSAKI:\u00a0 {answer}\n\n"
        "Q\u00a0\u00a0\u00a0 Thanks.\n\n"
        "2:00 P.M. EST\n"
    )


def test_long_turn_is_split_at_sentence_boundaries() -> None:
    sentences = numbered_sentences(37, 13)  # 481 words in all
    # Hard-wrapped lines and an NBSP paragraph break, as in the White House files.
    answer = "\u00a0 ".join(sentences[:20]).replace(" w5 ", "\nw5 ") + "\n\u00a0 \n" + "  ".join(sentences[20:])
    transcript = parse(wh_document(answer), "long.md")
    chunks = chunk_transcript(transcript)

    answer_chunks = [c for c in chunks if c.turn == 1]
    assert len(answer_chunks) == 3
    assert [c.part for c in answer_chunks] == [0, 1, 2]
    assert {c.speaker for c in answer_chunks} == {"Ms. Psaki"}
    assert all(len(c.text.split()) <= MAX_WORDS for c in answer_chunks)
    # Balanced pieces, each made of whole sentences.
    assert [len(c.text.split()) for c in answer_chunks] == [169, 169, 143]
    assert all(c.text.startswith("Sentence") and c.text.endswith(".") for c in answer_chunks)
    assert answer_chunks[1].text.startswith("Sentence13 says")
    assert [w for c in answer_chunks for w in c.text.split()] == answer.split()
    assert_citation_invariant(transcript, chunks)
    assert_turns_fully_covered(transcript, chunks)
    # The closing "Thanks." question is content-free and left out.
    assert [c.turn for c in chunks] == [0, 1, 1, 1]


def test_a_run_on_sentence_longer_than_the_limit_is_cut_at_words() -> None:
    run_on = " ".join(f"word{i}" for i in range(450)) + "."
    answer = "Short start.\u00a0 " + run_on + "\u00a0 Short end."
    transcript = parse(wh_document(answer), "runon.md")
    chunks = [c for c in chunk_transcript(transcript) if c.turn == 1]
    assert len(chunks) >= 3
    assert all(len(c.text.split()) <= MAX_WORDS for c in chunks)
    assert [w for c in chunks for w in c.text.split()] == answer.split()
    assert chunks[0].text.startswith("Short start.")
    assert chunks[-1].text.endswith("Short end.")
    assert_citation_invariant(transcript, chunks)


def test_a_turn_of_exactly_the_limit_is_one_chunk() -> None:
    answer = " ".join(numbered_sentences(20, 10))  # 200 words
    transcript = parse(wh_document(answer), "exact.md")
    chunks = [c for c in chunk_transcript(transcript) if c.turn == 1]
    assert len(chunks) == 1
    assert chunks[0].text == answer


def test_chunk_ids_are_numbered_across_transcripts() -> None:
    first = parse(wh_document("One answer."), "a.md")
    second = parse(wh_document("Another answer."), "b.md")
    chunks = chunk_all([first, second])
    assert [c.chunk_id for c in chunks] == list(range(len(chunks)))
    assert [c.doc_id for c in chunks] == ["a", "a", "b", "b"]
    assert chunk_transcript(second, first_id=7)[0].chunk_id == 7


# ---------------------------------------------------------------------------------------------
# Seeds


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.stem)
def test_seed_citation_invariant(path: Path) -> None:
    transcript = load_transcript(path)
    chunks = chunk_transcript(transcript)
    assert chunks
    assert_citation_invariant(transcript, chunks)
    assert_turns_fully_covered(transcript, chunks)


def test_scio_seed_chunks() -> None:
    transcript = load_transcript(SEED_FILES[0])
    chunks = chunk_transcript(transcript)
    question, *answer = chunks
    assert question.speaker == "Hong Kong Bauhinia Magazine"
    assert question.is_question and question.question is None
    assert question.text == collapse_whitespace(transcript.turn_text(transcript.turns[0]))
    # The 649-word answer is split into 4 parts of whole sentences.
    assert [c.part for c in answer] == [0, 1, 2, 3]
    assert {c.speaker for c in answer} == {"Xie Shaofeng"}
    assert answer[0].text.startswith("Thank you for your questions. I will answer them.")
    assert answer[-1].text.endswith("the high-quality development of SMEs. Thank you.")
    assert all(c.text.endswith(".") for c in answer)
    assert {c.question for c in answer} == {
        "The changing external environment has created significant challenges for SMEs. How did SMEs "
        "in China perform in the first quarter of this year? What are the main initiatives the MIIT "
        "has undertaken to support SMEs? What measures will be taken \u2026"
    }


def test_narrative_seed_chunks_are_its_paragraphs() -> None:
    transcript = load_transcript(SEED_FILES[1])
    chunks = chunk_transcript(transcript)
    assert [(c.turn, c.part, c.speaker, c.question) for c in chunks] == [(i, 0, None, None) for i in range(6)]


# ---------------------------------------------------------------------------------------------
# The White House corpus


@pytest.fixture(scope="module")
def corpus() -> list[Transcript]:
    folder = shared_dir() / "corpus" / "wh-press-briefings"
    if not folder.is_dir():
        pytest.skip(f"White House corpus not found at {folder} (set QA_SHARED to the shared folder)")
    transcripts, skipped = load_folder([folder])
    assert skipped == []
    assert len(transcripts) == 212  # 214 files, two briefings posted twice
    return transcripts


def test_corpus_citation_invariant(corpus: list[Transcript]) -> None:
    total = 0
    for transcript in corpus:
        chunks = chunk_transcript(transcript)
        assert chunks, transcript.path
        assert_citation_invariant(transcript, chunks)
        assert_turns_fully_covered(transcript, chunks)
        total += len(chunks)
    assert total > 25_000


def test_corpus_answers_carry_their_question(corpus: list[Transcript]) -> None:
    transcript = next(t for t in corpus if t.path == "2021-02-04_wh_pb-psaki-and-nsa-sullivan-february-4-2021.txt")
    chunks = chunk_transcript(transcript)
    answer = next(c for c in chunks if c.text.startswith("Well, first of all, unlike the previous administration"))
    assert answer.speaker == "Mr. Sullivan"
    assert answer.question_turn == 2
    assert answer.question is not None
    assert answer.question.startswith("Jake, thanks for being in the room. We appreciate it.")
    assert answer.question.endswith(" \u2026")
    assert len(answer.question.split()) == QUESTION_PREVIEW_WORDS + 1
    questions = [c for c in chunks if c.is_question]
    assert questions and all(c.speaker == REPORTER and c.question is None for c in questions)


# ---------------------------------------------------------------------------------------------
# embedding_text


def make_chunk(text: str) -> Chunk:
    return Chunk(chunk_id=0, doc_id="d", turn=0, part=0, speaker=None, start=0, end=len(text), text=text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "We will <s>raise</s> lower the tariffs.",
            "We will lower the tariffs.",
        ),
        (
            "The <s>Chinese</s> <s>PRC</s> delegation [sic] arrived.",
            "The delegation [sic] arrived.",
        ),
        (
            # A plain text file's backslashes are its words (Markdown is resolved on reading).
            "As the \\[senior administration official\\] said.",
            "As the \\[senior administration official\\] said.",
        ),
        ("A stray </s> tag and <s> another.", "A stray tag and another."),
        ("No markup here.", "No markup here."),
    ],
)
def test_embedding_text_strips_markup(text: str, expected: str) -> None:
    assert embedding_text(make_chunk(text)) == expected


def test_embedding_text_of_a_parsed_chunk() -> None:
    raw = wh_document("We <s>will</s> won\u2019t comment on \\[sic\\] that.")
    chunks = chunk_transcript(parse(raw, "markup.md"))
    answer = next(c for c in chunks if c.turn == 1)
    # The citation text is the text the Markdown shows (escapes resolved, struck-out words kept
    # as the transcript prints them); the encoder's text leaves the struck-out words out.
    assert answer.text == "We <s>will</s> won\u2019t comment on [sic] that."
    assert embedding_text(answer) == "We won\u2019t comment on [sic] that."
