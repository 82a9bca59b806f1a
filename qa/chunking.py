"""Chunking: speaker turns into retrievable passages, long turns split at sentence boundaries."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, fields

from qa.answer_types import kinds_present
from qa.lexical import tokenize
from qa.text import collapse_whitespace, sentence_spans, trim_span, without_strike_tags, word_count
from qa.transcripts import Transcript, Turn

# The model reads at most 256 word-pieces; about 200 words fill that, so longer turns are split.
MAX_WORDS = 200
QUESTION_PREVIEW_WORDS = 40
# A turn's last few words stay with the sentences before them rather than make a chunk alone.
MIN_TAIL_WORDS = 12


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage to retrieve: a whole turn or a run of its sentences, with offsets into the raw file."""

    chunk_id: int
    doc_id: str
    turn: int
    part: int
    speaker: str | None
    start: int
    end: int
    text: str
    is_question: bool = False
    # The question this passage answers, if it is a reply (shortened, whitespace collapsed).
    question_turn: int | None = None
    question: str | None = None
    # Captions: seconds into the video where the passage begins (None for other formats).
    t: float | None = None

    def to_json(self) -> str:
        """The passage as one line of JSON (chunks.jsonl, a Milvus row)."""
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> Chunk:
        return cls(**json.loads(line))


@dataclass(frozen=True)
class Sentences:
    """A passage's sentences as the answer and the highlights read them: each one's offsets into
    the raw text, its words (``qa.lexical.tokenize``) and the kinds of answer words it may hold
    (``qa.answer_types.kinds_present``). The index computes them when it is built, so that a
    question only reads them."""

    spans: tuple[tuple[int, int], ...]
    words: tuple[frozenset[str], ...]
    kinds: tuple[int, ...]

    @classmethod
    def of(cls, raw: str, start: int, end: int) -> Sentences:
        spans = tuple(sentence_spans(raw, start, end))
        return cls(spans, tuple(frozenset(tokenize(raw[s:e])) for s, e in spans),
                   tuple(kinds_present(raw[s:e]) for s, e in spans))

    def inside(self, start: int, end: int) -> list[tuple[tuple[int, int], frozenset[str]]]:
        """The sentences within ``[start, end)`` (a window of the passage), with their words."""
        return [(span, words) for span, words in zip(self.spans, self.words) if start <= span[0] and span[1] <= end]


# Stage directions and editorial marks, which carry no content of their own.
_STAGE_DIRECTION = re.compile(r"\((?:[^()]{0,60})\)|\\?\[[^\]]{0,60}\\?\]")
_FILLER_WORDS = frozenset(
    """thank thanks you very much go ahead yeah sure okay ok all right alright great good hi hello
    everyone everybody guys folks morning afternoon evening sir ma'am please next question mm-hmm
    uh um so well oh appreciate it bye""".split()
)
_STRIP = ".,!?;:\u2014\u2013-\"'\u201c\u201d\u2019()"


def is_content_free(text: str) -> bool:
    """True for turns like 'Thank you.', 'Go ahead, Steve.', '(Laughter.)' that answer nothing."""
    words = [w.strip(_STRIP) for w in _STAGE_DIRECTION.sub(" ", text).split()]
    words = [w for w in words if w]
    fillers = sum(w.lower() in _FILLER_WORDS for w in words)
    names = sum(w[0].isupper() and w.lower() not in _FILLER_WORDS for w in words)
    # Fillers, plus at most one name being thanked or called on; "No, it did not come up." stays.
    if not words:
        return True
    return fillers >= 1 and fillers + names == len(words) and names <= 1 and len(words) <= 8


def _split_turn(raw: str, turn: Turn) -> list[tuple[int, int]]:
    """Offsets of the pieces of a turn: itself if short, else balanced runs of whole sentences."""
    words = word_count(raw[turn.start : turn.end])
    if words <= MAX_WORDS:
        return [(turn.start, turn.end)]
    sentences = sentence_spans(raw, turn.start, turn.end)
    pieces = math.ceil(words / MAX_WORDS)
    target = words / pieces
    groups: list[tuple[int, int]] = []
    group_start: int | None = None
    group_words = 0
    last_end = turn.start
    for start, end in sentences:
        sentence_words = word_count(raw[start:end])
        if group_start is not None and group_words + sentence_words > MAX_WORDS:
            groups.append((group_start, last_end))
            group_start, group_words = None, 0
        if group_start is None:
            group_start = start
        group_words += sentence_words
        last_end = end
        if group_words >= target:
            groups.append((group_start, last_end))
            group_start, group_words = None, 0
    if group_start is not None:
        if groups and group_words < MIN_TAIL_WORDS:
            # A closing "Go ahead." is no passage of its own: it joins the run before it.
            groups[-1] = (groups[-1][0], last_end)
        else:
            groups.append((group_start, last_end))
    # A run-on "sentence" longer than the limit is cut at word boundaries so no words are lost.
    result: list[tuple[int, int]] = []
    for start, end in groups:
        result.extend(_cut_words(raw, start, end))
    return result


def _cut_words(raw: str, start: int, end: int) -> list[tuple[int, int]]:
    tokens = list(re.finditer(r"\S+", raw[start:end]))
    if len(tokens) <= MAX_WORDS:
        return [(start, end)]
    pieces = math.ceil(len(tokens) / MAX_WORDS)
    size = math.ceil(len(tokens) / pieces)
    spans = []
    for i in range(0, len(tokens), size):
        group = tokens[i : i + size]
        spans.append((start + group[0].start(), start + group[-1].end()))
    return spans


def shorten(text: str, words: int = QUESTION_PREVIEW_WORDS) -> str:
    parts = text.split()
    return " ".join(parts) if len(parts) <= words else " ".join(parts[:words]) + " \u2026"


def reply_preview(transcript: Transcript, chunk: Chunk) -> str | None:
    """For a reporter's question, the reply it got, shortened as ``Chunk.question`` is; else None."""
    reply = transcript.reply_to(chunk.turn) if chunk.is_question else None
    return shorten(transcript.raw[reply.start : reply.end]) if reply is not None else None


def chunk_transcript(transcript: Transcript, first_id: int = 0) -> list[Chunk]:
    """The chunks of one transcript, numbered from ``first_id``."""
    raw = transcript.raw
    chunks: list[Chunk] = []
    for turn in transcript.turns:
        turn_text = raw[turn.start : turn.end]
        if is_content_free(turn_text):
            continue
        question = None
        if turn.question_turn is not None:
            question_turn = transcript.turns[turn.question_turn]
            question = shorten(raw[question_turn.start : question_turn.end])
        for part, (start, end) in enumerate(_split_turn(raw, turn)):
            start, end = trim_span(raw, start, end)
            if start >= end:
                continue
            chunks.append(
                Chunk(
                    chunk_id=first_id + len(chunks),
                    doc_id=transcript.doc_id,
                    turn=turn.index,
                    part=part,
                    speaker=turn.speaker,
                    start=start,
                    end=end,
                    text=collapse_whitespace(raw[start:end]),
                    is_question=turn.is_question,
                    question_turn=turn.question_turn,
                    question=question,
                    t=transcript.time_at(start),
                )
            )
    return chunks


def chunk_all(transcripts: list[Transcript]) -> list[Chunk]:
    chunks: list[Chunk] = []
    for transcript in transcripts:
        chunks.extend(chunk_transcript(transcript, first_id=len(chunks)))
    return chunks




def embedding_text(chunk: Chunk) -> str:
    """What the encoder reads for a chunk: the passage without markup and struck-out words."""
    return clean_for_model(chunk.text)


# Passages are what a reader gets; windows are what the ranker scores. A window is a run of
# whole sentences of a passage, short enough that one fact is not drowned by the rest of a
# 200-word answer in the embedding. A passage scores as its best window.
WINDOW_WORDS = 64


def window_spans(raw: str, chunk: Chunk, max_words: int = WINDOW_WORDS,
                 sentences: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """Offsets of the windows of ``chunk``: consecutive runs of its sentences, each <= max_words
    (``sentences``: the chunk's, when the caller has split it already)."""
    spans: list[tuple[int, int]] = []
    run_start: int | None = None
    run_words = 0
    last_end = chunk.start
    for start, end in sentence_spans(raw, chunk.start, chunk.end) if sentences is None else sentences:
        words = word_count(raw[start:end])
        if run_start is not None and run_words + words > max_words:
            spans.append((run_start, last_end))
            run_start, run_words = None, 0
        if run_start is None:
            run_start = start
        run_words += words
        last_end = end
    if run_start is not None:
        if spans and run_words < MIN_TAIL_WORDS:
            spans[-1] = (spans[-1][0], last_end)
        else:
            spans.append((run_start, last_end))
    return spans or [(chunk.start, chunk.end)]


def clean_for_model(text: str) -> str:
    """Text without struck-out words, for the encoder and the BM25 index."""
    text = re.sub(r"<s>.*?</s>", " ", text, flags=re.S)
    return collapse_whitespace(without_strike_tags(text))
