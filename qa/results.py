"""What a search gives back (``Answer``: the passages, each with its ``Citation``, and the answer)
and its JSON: the shapes of the API's requests and replies (pydantic models, which the OpenAPI
schema is made from) and the conversion of the one into the other. The API serves this JSON and
the command line prints the same, without loading the web framework."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, field_validator

from qa import syntax
from qa.matching import MATCH_FLOOR, Timeline
from qa.query import Filters
from qa.stores.seam import default_role
from qa.settings import MAX_K, MAX_OFFSET, MAX_QUESTION_CHARS, ROLES, SORTS

if TYPE_CHECKING:
    from qa.chunking import Chunk
    from qa.transcripts import Transcript

# ---------------------------------------------------------------------------------------------
# The result types

# The document's fields a citation and the document list carry (the Transcript's names).
DOCUMENT_FIELDS = ("doc_id", "path", "title", "date", "source", "url", "copies")


@dataclass(frozen=True)
class Citation:
    """Where a passage stands: the document, its metadata, the speaker, and raw-file offsets."""

    doc_id: str
    path: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    speaker: str | None
    turn: int
    start: int
    end: int
    # Video captions: seconds into the video where the cited words begin (else None).
    t: float | None = None
    # The same briefing's other postings: (path, url) of each.
    copies: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def of(cls, document: Transcript, chunk: Chunk, start: int | None = None, end: int | None = None) -> Citation:
        """The citation of ``chunk`` of ``document``, or of the words at ``start``:``end`` within it."""
        return cls(
            **{name: getattr(document, name) for name in DOCUMENT_FIELDS},
            speaker=chunk.speaker,
            turn=chunk.turn,
            start=chunk.start if start is None else start,
            end=chunk.end if end is None else end,
            t=document.time_at(start) if start is not None and document.times else chunk.t,
        )


@dataclass(frozen=True)
class Highlight:
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    rank: int
    score: float
    text: str
    citation: Citation
    # The question this passage replies to, shortened, when it is an answer.
    in_reply_to: str | None = None
    highlights: tuple[Highlight, ...] = ()
    # "question" (a reporter's) or "answer" (everything else: officials' replies, narrative).
    role: str = "answer"
    # For a question: the reply it got, shortened.
    reply: str | None = None


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: Citation
    confidence: float = 0.0  # 0..1: how likely the answer is right (calibrated by qa calibrate)


@dataclass(frozen=True)
class Answer:
    question: str
    passages: tuple[Passage, ...]
    took_ms: float
    answered: bool = True
    reason: str | None = None
    answer: AnswerSentence | None = None
    filters: Filters = field(default_factory=Filters)
    # The best answer found, shown or not (``answer`` is it when shown), and its confidence: for
    # evaluation and calibration.
    proposed: AnswerSentence | None = None
    confidence: float = 0.0
    # Paging and the query syntax (qa.syntax): how many passages match across the archive (None
    # for a plain question ranked by meaning, whose passages are the closest, not a match set),
    # where this page starts, where the next one does (None: the last page), the order, and the
    # query as read.
    total: int | None = None
    offset: int = 0
    next_offset: int | None = None
    sort: str = "relevance"
    parsed: syntax.Parsed | None = None


# ---------------------------------------------------------------------------------------------
# The JSON contract

SYNTAX_HELP = (
    "A question in plain English, optionally with search syntax: `\"exact phrase\"` keeps only passages holding "
    "those words in that order (case, punctuation and line breaks ignored; curly or straight quotes), `-word` and "
    "`-\"phrase\"` drop passages holding them, `speaker:Kirby` (or `speaker:\"Mr. Kirby\"`), `after:2023-06-01` and "
    "`before:2024-01-01` (inclusive; `after:2023`, `before:2023-06` too) and `role:questions` (`role:answers`, "
    "`role:both`) set the filters and win over the parameters; `sort:newest` (`sort:oldest`, `sort:relevance`) "
    "sorts when the `sort` parameter is left at relevance. A search of phrases or filters alone asks no question: "
    "it lists, counts and charts the matches, with no answer. Anything else, an unclosed quote or an unknown "
    "`word:` included, is read as words."
)
Sort = Literal[SORTS]
Role = Literal[ROLES]
ROLE_HELP = ("Which passages: `answers` (officials' replies and narrative), `questions` (reporters' questions) or "
             "`both`. Default: `both` when the query has an exact phrase or names a speaker (every time the words "
             "were said), `answers` for words alone. The answer is always an official's reply, unless only "
             "questions are asked for.")
SORT_HELP = ("relevance (default), or newest / oldest: every matching passage in date order (undated last), "
             "each briefing's passages in reading order.")
OFFSET_HELP = "Skip this many passages (paging: the next page starts at `next_offset`)."


class AskRequest(BaseModel):
    question: str = Field(
        ..., max_length=MAX_QUESTION_CHARS, description=SYNTAX_HELP,
        examples=["How many support measures did the SME service initiative introduce?",
                  '"wolf warrior" -diplomacy after:2021-01-01'],
    )
    k: int = Field(5, ge=1, le=MAX_K, description="How many passages to return.")
    sort: Sort = Field("relevance", description=SORT_HELP)
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description=OFFSET_HELP)
    speaker: str | None = Field(None, max_length=200, description="Only passages by this speaker (GET /api/speakers).")
    date_from: date | None = Field(None, description="Only briefings on or after this date (YYYY-MM-DD).")
    date_to: date | None = Field(None, description="Only briefings on or before this date (YYYY-MM-DD).")
    doc_id: str | None = Field(None, max_length=200, description="Only passages of this document.")
    role: Role | None = Field(None, description=ROLE_HELP)

    model_config = {"extra": "forbid"}

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be empty or only whitespace")
        return value

    def filters(self) -> Filters:
        return Filters(
            speaker=self.speaker or None,
            date_from=self.date_from.isoformat() if self.date_from else None,
            date_to=self.date_to.isoformat() if self.date_to else None,
            doc_id=self.doc_id or None,
            role=self.role,
        )


class PostingOut(BaseModel):
    path: str
    url: str | None


class DocumentMeta(BaseModel):
    doc_id: str
    path: str = Field(description="The file's path relative to the folder it was indexed from.")
    title: str
    date: str | None = Field(description="ISO date of the briefing, when the file gives one.")
    source: str | None
    url: str | None
    copies: list[PostingOut] = Field(
        default_factory=list, description="The same briefing posted again under other addresses (the same "
        "turns, another header or date): each posting's path and url. The archive holds it once, under `path`.")

    @field_validator("copies", mode="before")
    @classmethod
    def _postings(cls, value: object) -> object:
        # Stored as (path, url) pairs.
        return [{"path": p[0], "url": p[1]} if isinstance(p, (list, tuple)) else p for p in value or ()]


class CitationOut(DocumentMeta):
    speaker: str | None
    turn: int = Field(description="Index of the speaker turn in the document.")
    start: int = Field(description="Character offset of the first cited character in the raw file.")
    end: int = Field(description="Character offset just past the last cited character.")
    t: float | None = Field(None, description="Video captions only: seconds into the video where the cited "
                            "words begin; null for other formats.")


class HighlightOut(BaseModel):
    start: int = Field(description="Character offset into the raw file.")
    end: int


class PassageOut(BaseModel):
    rank: int
    score: float = Field(description="Fused relevance; comparable between passages of one answer only. The best "
                         "three are ordered by it and by how well their best sentence answers (the answer reader's "
                         "verdict), so their scores may be out of order among themselves; each is above the rest's.")
    text: str = Field(description="Exactly raw[start:end] with every whitespace run collapsed to one space.")
    citation: CitationOut
    in_reply_to: str | None = Field(None, description="The question this passage answers, shortened.")
    highlights: list[HighlightOut] = Field(
        default_factory=list, description="The sentences that best answer the question, as raw-file offsets."
    )
    role: Literal["question", "answer"] = Field(
        "answer", description="'question' for a reporter's question, 'answer' for everything else (an official's "
        "reply, narrative). The `role` filter chooses which are returned.")
    reply: str | None = Field(None, description="For a question: the reply it got, shortened.")


class AnswerOut(BaseModel):
    text: str = Field(description="The words that best answer the question: a sentence, or a sentence with the "
                      "neighbour it needs (60 words at most); raw[start:end], whitespace collapsed.")
    citation: CitationOut
    confidence: float = Field(ge=0, le=1, description="How likely the answer is right, calibrated on questions "
                              "with known answers; answers below the threshold are not shown.")


class QueryOut(BaseModel):
    """The query as read by the syntax parser."""

    text: str = Field(description="The words passages are ranked by (syntax removed).")
    phrases: list[str] = Field(description="Exact phrases every match holds (normalised: lower case, words only).")
    excluded: list[str] = Field(description="Words and phrases no match holds (normalised).")
    speaker: str | None = Field(description="The speaker filter in force, when it is one label.")
    speakers: list[str] = Field(description="Every speaker label the query allows: the speaker filter's, or all the "
                                "labels `speaker:` names (`speaker:Kirby`: 'Mr. Kirby', 'Mr Kirby', ...).")
    date_from: str | None
    date_to: str | None
    role: Role | None = Field(None, description="Which passages the search returned (see the `role` parameter).")
    matched_by: Literal["phrase", "meaning", "filters"] = Field(
        description="How a passage is counted as a match: it holds the phrases; or its best window's cosine to the "
        f"words is at least the floor ({MATCH_FLOOR}); or (no words) the filters allow it.")
    notes: list[str] = Field(description="What was read literally, and why.")


class AskResponse(BaseModel):
    question: str
    answered: bool = Field(description="False when no answer is confident enough to show: `answer` is then null "
                           "and the passages are still listed.")
    reason: str | None = Field(None, description="Why no answer is shown.")
    answer: AnswerOut | None = None
    passages: list[PassageOut]
    took_ms: float
    total: int | None = Field(None, description="How many passages match across the whole archive; null for a plain "
                              "question in relevance order, whose passages are the closest ones, not a counted set.")
    offset: int = Field(0, description="Where this page starts.")
    next_offset: int | None = Field(None, description="The offset of the next page; null on the last one.")
    sort: Sort = "relevance"
    query: QueryOut | None = None


class BucketOut(BaseModel):
    period: str = Field(description="The month (YYYY-MM) or year (YYYY).")
    date_from: str
    date_to: str
    passages: int = Field(description="Matching passages in briefings of this period.")
    briefings: int = Field(description="Briefings with at least one matching passage.")


class TimelineResponse(BaseModel):
    question: str
    query: QueryOut
    unit: Literal["month", "year"] = Field(description="Months, or years when the dates span over 60 months.")
    passages: int = Field(description="Every matching passage across the archive, undated ones included.")
    briefings: int
    undated_passages: int = Field(description="Matches in briefings without a date (in no bucket).")
    undated_briefings: int
    buckets: list[BucketOut] = Field(description="Every period from the first to the last briefing date within "
                                     "the date filters, empty ones included.")
    took_ms: float


class TurnOut(BaseModel):
    index: int
    speaker: str | None
    start: int
    end: int
    is_question: bool
    question_turn: int | None


class DocumentSummary(DocumentMeta):
    turns: int


class DocumentDetail(DocumentMeta):
    format: str
    kind: str = Field(description="What the file at `path` is: 'text', 'web page (HTML)', 'PDF transcript', "
                      "'video captions (WebVTT)' or 'video captions (SubRip)'.")
    raw: str = Field(description="The text every offset points into: a text file as decoded; for a web page, "
                     "PDF or captions, the text extracted from it (see the README's Formats).")
    turns: list[TurnOut]


class ErrorOut(BaseModel):
    detail: str


class Health(BaseModel):
    status: str
    version: str
    model: str
    backend: str
    documents: int
    chunks: int
    archive: str = Field("", description="Which version of the archive this process serves: the index folder "
                         "and when it was built, or the Milvus generation and publish.")
    reloads: int = Field(0, description="How many rebuilt indexes this process has swapped in.")
    reload_refused: str | None = Field(
        None, description="Why the last rebuilt index this process saw was refused (the old one kept "
        "serving); null when none was, or when a later one loaded.")


class Ready(BaseModel):
    status: str = Field(description="'ready', or 'unavailable' with a 503.")
    store: str = Field(description="Which store serves the index: 'embedded' or 'milvus'.")
    archive: str = Field("", description="Which version of the archive is served (as in /healthz).")
    detail: str | None = None


def query_json(parsed: syntax.Parsed | None, filters: Filters) -> QueryOut | None:
    if parsed is None:
        return None
    matched_by = "phrase" if parsed.phrases else "meaning" if parsed.ranking_text.strip() else "filters"
    speakers = list(parsed.speakers) or ([filters.speaker] if filters.speaker else [])
    return QueryOut(text=parsed.text, phrases=list(parsed.phrases), excluded=list(parsed.excluded),
                    speaker=filters.speaker, speakers=speakers, date_from=filters.date_from, date_to=filters.date_to,
                    role=filters.role or default_role(exact=False, speaker=bool(filters.speaker)), matched_by=matched_by, notes=list(parsed.notes))


def answer_json(answer: Answer) -> dict:
    """The API's JSON for an answer; the CLI prints exactly this too."""
    return answer_model(answer).model_dump(mode="json")


def answer_model(answer: Answer) -> AskResponse:
    return AskResponse(
        question=answer.question,
        answered=answer.answered,
        reason=answer.reason,
        answer=AnswerOut(**asdict(answer.answer)) if answer.answer else None,
        passages=[PassageOut(**asdict(p)) for p in answer.passages],
        took_ms=answer.took_ms,
        total=answer.total, offset=answer.offset, next_offset=answer.next_offset, sort=answer.sort,
        query=query_json(answer.parsed, answer.filters),
    )


def timeline_json(question: str, parsed: syntax.Parsed, filters: Filters, timeline: Timeline, took_ms: float) -> dict:
    """The API's JSON for a timeline; ``qa timeline --json`` prints exactly this too."""
    return TimelineResponse(
        question=question, query=query_json(parsed, filters), unit=timeline.unit, passages=timeline.passages,
        briefings=timeline.briefings, undated_passages=timeline.undated_passages,
        undated_briefings=timeline.undated_briefings, buckets=[BucketOut(**asdict(b)) for b in timeline.buckets],
        took_ms=took_ms,
    ).model_dump(mode="json")
