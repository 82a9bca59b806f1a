"""The Transcript (metadata and speaker turns with offsets into its text), what every format shares
(decoding, the content hash, the document id, turn numbering, titles, dates), and plain text and
Markdown read into it. Finding and reading files, by format: ``qa.readers``."""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass, field, fields
from datetime import date as Date
from datetime import datetime
from pathlib import Path

import yaml

from qa.text import collapse_whitespace, sentence_spans, trim_span, without_strike_tags

REPORTER = "Reporter"


# Format name -> what it is, for the document page and /api/documents/{id} (text files: "text").
KINDS = {
    "html": "web page (HTML)",
    "pdf": "PDF transcript",
    "vtt": "video captions (WebVTT)",
    "srt": "video captions (SubRip)",
}


def kind_of(format_name: str) -> str:
    """What kind of file a document was read from, in words ('text' for text files)."""
    return KINDS.get(format_name, "text")


@dataclass(frozen=True, slots=True)
class Turn:
    """One speaker's uninterrupted contribution; ``start``/``end`` are offsets into the raw file."""

    index: int
    speaker: str | None
    start: int
    end: int
    is_question: bool = False
    # For an answer: the index of the question turn it replies to.
    question_turn: int | None = None


def turn_rows(turns: tuple[Turn, ...]) -> list[list]:
    """Turns as the rows an index stores: ``[speaker, start, end, is_question, question_turn]``."""
    return [[t.speaker, t.start, t.end, t.is_question, t.question_turn] for t in turns]


def turns_from_rows(rows: list) -> tuple[Turn, ...]:
    """The turns ``turn_rows`` wrote, numbered in order."""
    return tuple(Turn(index=i, speaker=speaker, start=start, end=end, is_question=is_question, question_turn=question_turn)
                 for i, (speaker, start, end, is_question, question_turn) in enumerate(rows))


@dataclass(frozen=True)
class Transcript:
    """A parsed file: metadata, the raw text exactly as decoded, and its turns."""

    doc_id: str
    path: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    raw: str
    turns: tuple[Turn, ...]
    format: str
    content_hash: str = field(default="")
    # Captions only: (offset into raw, seconds into the video) where each caption line begins.
    times: tuple[tuple[int, float], ...] = ()
    # The same briefing posted again under other addresses: (path, url) of each other posting.
    copies: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        # Read back from JSON (documents.jsonl) or Milvus, the marks are lists (an empty one too):
        # always kept as a tuple of tuples, so a document compares equal whichever store it came from.
        if not isinstance(self.times, tuple) or (self.times and not isinstance(self.times[0], tuple)):
            object.__setattr__(self, "times", tuple((int(o), float(t)) for o, t in (self.times or ())))
        if not isinstance(self.copies, tuple) or (self.copies and not isinstance(self.copies[0], tuple)):
            object.__setattr__(self, "copies", tuple((path, url) for path, url in (self.copies or ())))

    def to_record(self) -> dict:
        """The document as one JSON object (documents.jsonl, a Milvus blob): its fields, and its
        turns as rows ``[speaker, start, end, is_question, question_turn]``."""
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        record["turns"] = turn_rows(self.turns)
        return record

    @classmethod
    def from_record(cls, record: dict) -> Transcript:
        """A document read back from ``to_record``'s object."""
        return cls(**{**record, "turns": turns_from_rows(record["turns"])})

    def posting_key(self) -> str:
        """What two postings of one briefing share: the speakers' words, turn by turn, whitespace
        collapsed and strike-out tags taken out (a different header or footer, front matter or
        address does not count, nor a correction marked in one posting only); the whole text for a
        document without turns."""
        def words(start: int, end: int) -> str:
            return collapse_whitespace(without_strike_tags(self.raw[start:end]))

        turns = [(t.speaker or "", words(t.start, t.end)) for t in self.turns]
        basis = repr(turns) if turns else words(0, len(self.raw))
        return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()

    def reply_to(self, question: int) -> Turn | None:
        """The turn that replies to the question turn numbered ``question`` (None: no reply)."""
        return next((t for t in self.turns[question + 1 :] if t.question_turn == question), None)

    def turn_text(self, turn: Turn) -> str:
        return self.raw[turn.start : turn.end]

    @property
    def kind(self) -> str:
        """What the file is, in words: 'text', 'web page (HTML)', 'PDF transcript', 'video captions (...)'."""
        return kind_of(self.format)

    def time_at(self, offset: int) -> float | None:
        """Seconds into the video of the words at ``offset`` (captions), else None."""
        if not self.times:
            return None
        position = bisect.bisect_right(self.times, offset, key=lambda mark: mark[0]) - 1
        return self.times[max(position, 0)][1]


@dataclass(frozen=True)
class Skipped:
    """A file that could not be read as a transcript, and why."""

    path: str
    reason: str


class TranscriptError(ValueError):
    """A file that is not a readable transcript (empty, binary, not UTF-8)."""


# ---------------------------------------------------------------------------------------------
# What every format shares: decoding, the content hash, the document id


def decode(data: bytes, name: str) -> str:
    """Decode a file's bytes as UTF-8, refusing empty, binary and non-UTF-8 content."""
    if not data.strip():
        raise TranscriptError(f"{name}: empty file")
    if b"\x00" in data:
        raise TranscriptError(f"{name}: binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TranscriptError(f"{name}: not valid UTF-8 (byte {error.start})") from None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_doc_id(relative_path: str) -> str:
    """A URL-safe, readable id from a file's relative path (its stem, folders joined with '__')."""
    stem = str(Path(relative_path).with_suffix(""))
    doc_id = re.sub(r"[^A-Za-z0-9._-]+", "-", stem.replace("/", "__")).strip("-.")
    return doc_id or "document"


# ---------------------------------------------------------------------------------------------
# Format detection and dispatch


def parse(raw: str, relative_path: str, digest: str = "") -> Transcript:
    """Parse decoded text into a Transcript, choosing the parser from the text's shape."""
    doc_id = make_doc_id(relative_path)
    fallback_title = Path(relative_path).stem
    file_date = date_from_name(relative_path)
    digest = digest or content_hash(raw.encode("utf-8"))

    front = _front_matter(raw)
    if front is not None or Path(relative_path).suffix.lower() in MARKDOWN_SUFFIXES:
        # Markdown (a front-matter file is one): read as the text it shows.
        meta, body_start = front or ({}, 0)
        raw = raw[:body_start] + markdown_text(raw[body_start:])
        turns = inline_turns(raw, body_start)
        return Transcript(
            doc_id=doc_id,
            path=relative_path,
            title=clean_title(meta.get("title")) or fallback_title,
            date=iso_date(meta.get("date")) or file_date,
            source=host_of(meta.get("source_url")),
            url=_str_or_none(meta.get("source_url")),
            raw=raw,
            turns=turns,
            format="markdown",
            content_hash=digest,
        )

    scio = _scio_header(raw)
    if scio is not None:
        title, source, day, body_start = scio
        return Transcript(
            doc_id=doc_id,
            path=relative_path,
            title=title or fallback_title,
            date=day or file_date,
            source=source,
            url=None,
            raw=raw,
            turns=_block_turns(raw, body_start),
            format="scio",
            content_hash=digest,
        )

    # Unknown files: speaker labels if the text has them, plain paragraphs otherwise.
    if len(_INLINE_LABEL.findall(raw)) >= 2:
        turns, fmt = inline_turns(raw, 0), "inline-speakers"
    elif len([m for m in _BLOCK_LABEL.finditer(raw) if _is_name(m.group("name"))]) >= 2:
        turns, fmt = _block_turns(raw, 0), "block-speakers"
    else:
        turns, fmt = _paragraph_turns(raw, 0, len(raw)), "paragraphs"
    return Transcript(
        doc_id=doc_id,
        path=relative_path,
        title=_first_sentence_title(raw, turns) or fallback_title,
        date=file_date,
        source=None,
        url=None,
        raw=raw,
        turns=turns,
        format=fmt,
        content_hash=digest,
    )


MAX_TITLE_CHARS = 80


def _first_sentence_title(raw: str, turns: tuple[Turn, ...]) -> str | None:
    """A title for a file without a title line: its first sentence, shortened at a word boundary.

    The first words of the file count, even a short line that is no passage ("Harbour briefing"
    before the first speaker), but not the first speaker's label or a time line. The sentence is
    kept as written, so a date given without a year ("On October 14, ...") stays in the title,
    where a reader sees it, while ``date`` stays empty.
    """
    if not turns:
        return None
    before = [trim_span(raw, m.start(), m.end()) for m in _PARAGRAPH.finditer(raw, 0, turns[0].start)]
    if turns[0].speaker is not None and before:
        before.pop()  # the first turn's own label
    candidates = [span for span in before if not _TIME_LINE.fullmatch(raw[span[0] : span[1]])]
    candidates += [(turn.start, turn.end) for turn in turns[:5]]
    for start, end in candidates:
        for sentence_start, sentence_end in sentence_spans(raw, start, end)[:1]:
            sentence = collapse_whitespace(raw[sentence_start:sentence_end])
            if any(character.isalnum() for character in sentence):
                return _shortened(sentence)
    return None


def _shortened(sentence: str) -> str:
    if len(sentence) <= MAX_TITLE_CHARS:
        return sentence.rstrip(".")
    cut = sentence.rfind(" ", 0, MAX_TITLE_CHARS)
    kept = sentence[: cut if cut > 0 else MAX_TITLE_CHARS].rstrip(" ,;:-\u2013\u2014")
    return kept + "\u2026"


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def date_from_name(relative_path: str) -> str | None:
    match = re.match(r"(\d{4}-\d{2}-\d{2})(?!\d)", Path(relative_path).name)
    return iso_date(match.group(1)) if match else None


def iso_date(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, Date):
        return value.isoformat()
    text = _str_or_none(value)
    if text is None:
        return None
    for fmt in ("%Y-%m-%d", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def host_of(url: object) -> str | None:
    text = _str_or_none(url)
    if not text:
        return None
    match = re.match(r"[a-z]+://([^/:]+)", text)
    return match.group(1).removeprefix("www.") if match else None


def clean_title(value: object) -> str | None:
    text = _str_or_none(value)
    return " ".join(text.split()) if text else None


# ---------------------------------------------------------------------------------------------
# Markdown: text files with YAML front matter (the White House scrape, and Markdown archives in
# general) or a Markdown suffix. The document's text is the text the Markdown shows: backslash
# escapes ("\\[sic\\]"), emphasis marks ("*Q  Hi, Jen.*", "**,**") and heading marks resolved, the
# file's words otherwise unchanged, so that a quote copied from a passage is the transcript's.

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
_HEADING = re.compile(r"^[ ]{0,3}#{1,6}[ \t]+(?=\S)", re.M)
# Emphasis: *a*, **a**, ***a***, and _a_ ... not within a word; neither mark escaped nor
# crossing a blank line. The text inside is kept.
_EMPHASIS = re.compile(
    r"(?<![\\*])(?P<star>\*{1,3})(?=[^\s*])(?P<s>(?:(?!\n[ \t]*\n)[^*])+?)(?<=[^\s\\*])(?P=star)(?!\*)"
    r"|(?<![\\\w])(?P<line>_{1,3})(?=[^\s_])(?P<u>(?:(?!\n[ \t]*\n)[^_])+?)(?<=[^\s\\_])(?P=line)(?!\w)"
)
# A backslash before ASCII punctuation is Markdown's escape of that character.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def markdown_text(body: str) -> str:
    """The text a Markdown body shows: heading marks, emphasis marks and escapes resolved."""
    body = _HEADING.sub("", body)
    body = _EMPHASIS.sub(lambda m: m.group("s") if m.group("star") else m.group("u"), body)
    return _ESCAPE.sub(r"\1", body)


_FRONT_MATTER = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)


def _front_matter(raw: str) -> tuple[dict, int] | None:
    match = _FRONT_MATTER.match(raw)
    if not match:
        return None
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict):
        return None
    return meta, match.end()


# ---------------------------------------------------------------------------------------------
# Inline speaker labels: "MS. PSAKI:  Good afternoon." and reporters' bare "Q   Thanks."

_WS = "[ \\t\\u00a0]"
# The corpus also has "MR.\u00a0 SULLIVAN:" (two spaces in a label), "Mr. KIRBY:" (a title-case
# honorific), a stray "Q" before a label, a doubled "Q   Q", and reporters' turns that start in
# lower case after the NBSPs. "Q", one plain space and a lower-case word is prose, not a label.
_INLINE_LABEL = re.compile(
    rf"^{_WS}*(?:Q{_WS}+)?(?P<label>(?:M(?:r|s|rs)\.|Dr\.|[A-Z][A-Z.'\u2019-]*)"
    rf"(?:{_WS}+[A-Z0-9#(][A-Z0-9.'\u2019#()-]*){{0,5}}):(?={_WS}|\r?$)"
    rf"|^{_WS}*(?P<q>Q)(?:{_WS}+Q(?={_WS}))*"
    rf"(?:{_WS}*\u00a0|{_WS}{{2,}}|{_WS}+(?=[^a-z\s])|{_WS}*(?=\r?$))",
    re.M,
)
_TIME_LINE = re.compile(rf"^{_WS}*\d{{1,2}}:\d{{2}}{_WS}+[AP]\.?M\.?(?:{_WS}+[A-Z]{{2,4}})?{_WS}*$", re.M)
# What closes a transcript: "2:37 P.M. EST", "END   2:01 P.M. EST", "END", "\###".
_CLOSING_LINE = re.compile(
    rf"{_WS}*(?:END{_WS}*)?\d{{1,2}}:\d{{2}}{_WS}+[AP]\.?M\.?(?:{_WS}+[A-Z]{{2,4}})?{_WS}*"
    rf"|{_WS}*END[ \t\u00a0'\u2018\u2019\"]*|{_WS}*\\?###{_WS}*"  # "END   \u2018": a stray quote too
)

_HONORIFIC_CASE = re.compile(r"\bMc([a-z])")
_TITLE_CASE_HONORIFIC = re.compile(r"^(?:Mrs|Mr|Ms|Dr)\.(?=[ \u00a0]+[A-Z]+\b)")


def display_speaker(label: str) -> str:
    """'MS. JEAN-PIERRE' -> 'Ms. Jean-Pierre'; 'SENIOR ADMINISTRATION OFFICIAL' kept readable."""
    label = " ".join(label.replace("\u00a0", " ").split())
    label = _TITLE_CASE_HONORIFIC.sub(lambda m: m.group(0).upper(), label)
    if label == "Q":
        return REPORTER
    if label.isupper():
        label = label.title()
        label = _HONORIFIC_CASE.sub(lambda m: "Mc" + m.group(1).upper(), label)
        label = re.sub(r"(?<=\w)['\u2019]S\b", lambda m: m.group(0).lower(), label)
    return label


def inline_turns(raw: str, body_start: int) -> tuple[Turn, ...]:
    labels = [m for m in _INLINE_LABEL.finditer(raw, body_start) if m.group("q") or _is_label(m.group("label"))]
    spans: list[tuple[str | None, int, int, bool]] = []
    if labels:
        preamble_end = labels[0].start()
        for turn in _paragraph_turns(raw, body_start, preamble_end):
            if not is_preamble(raw[turn.start : turn.end]):
                spans.append((None, turn.start, turn.end, False))
    else:
        return _paragraph_turns(raw, body_start, len(raw))
    for position, match in enumerate(labels):
        content_start = match.end()
        content_end = labels[position + 1].start() if position + 1 < len(labels) else len(raw)
        content_end = _strip_trailing_time(raw, content_start, content_end)
        start, end = trim_span(raw, content_start, content_end)
        is_question = match.group("q") is not None
        speaker = REPORTER if is_question else display_speaker(match.group("label"))
        spans.append((speaker, start, end, is_question))
    return number_turns(spans)


def _is_label(label: str) -> bool:
    label = _TITLE_CASE_HONORIFIC.sub(lambda m: m.group(0).upper(), label)
    letters = [c for c in label if c.isalpha()]
    return len(letters) >= 2 and label.upper() == label


def is_preamble(text: str) -> bool:
    """Venue and start-time lines that open a White House transcript carry no content."""
    lines = [line.strip(" \t\u00a0") for line in text.splitlines()]
    return all(not line or _TIME_LINE.fullmatch(line) or len(line.split()) <= 8 for line in lines)


def _strip_trailing_time(raw: str, start: int, end: int) -> int:
    """Drop closing lines ('2:37 P.M. EST', 'END', '###'), which belong to no speaker."""
    while True:
        tail = raw[start:end].rstrip()
        last_newline = tail.rfind("\n")
        if last_newline < 0 or not _CLOSING_LINE.fullmatch(tail[last_newline + 1 :]):
            return end
        end = start + last_newline


def number_turns(spans: list[tuple[str | None, int, int, bool]]) -> tuple[Turn, ...]:
    """Give turns their index and link each answer to the question it follows."""
    turns: list[Turn] = []
    last_question: int | None = None
    for speaker, start, end, is_question in spans:
        if start >= end:
            continue
        index = len(turns)
        if is_question:
            last_question = index
        turns.append(
            Turn(
                index=index,
                speaker=speaker,
                start=start,
                end=end,
                is_question=is_question,
                question_turn=None if is_question else last_question,
            )
        )
    return tuple(turns)


# ---------------------------------------------------------------------------------------------
# SCIO pages: breadcrumb, title, "China.org.cn | October 22, 2025", then "Name:" lines

_SOURCE_DATE_LINE = re.compile(
    r"^[ \t\u00a0]*(?P<source>[^|\n]{2,60}?)[ \t\u00a0]*\|[ \t\u00a0]*"
    r"(?P<date>(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"[ \t\u00a0]+\d{1,2},[ \t\u00a0]*\d{4})[ \t\u00a0]*\r?$",
    re.M,
)
_BREADCRUMB = re.compile(r"Press Room|Press Conference|Transcripts|Home\s*>", re.I)
_PAGINATION = re.compile(r"^[ \t\u00a0]*<(?:[ \t\u00a0]*\d+)+[ \t\u00a0]*>[ \t\u00a0]*\r?$", re.M)
_BLOCK_LABEL = re.compile(r"^[ \t\u00a0]*(?P<name>[^\s:][^:\n]{0,79}?)[ \t\u00a0]*:[ \t\u00a0]*\r?$", re.M)
_NAME_CONNECTORS = {"of", "and", "the", "for", "on", "in", "de", "la", "du", "da", "van", "von", "bin", "al", "&"}


def _scio_header(raw: str) -> tuple[str | None, str | None, str | None, int] | None:
    head = raw[:3000]
    match = _SOURCE_DATE_LINE.search(head)
    if not match:
        return None
    before = [line.strip(" \t\u00a0\r") for line in head[: match.start()].splitlines()]
    before = [line for line in before if line]
    title_lines = [line for line in before if not _BREADCRUMB.search(line) or len(before) == 1]
    title = title_lines[-1] if title_lines else None
    day = iso_date(" ".join(match.group("date").split()))
    return title, match.group("source").strip(), day, match.end()


def _is_name(name: str) -> bool:
    """Whether a line ending in ':' is a speaker or outlet name rather than prose."""
    words = name.replace("\u00a0", " ").split()
    if not 1 <= len(words) <= 8 or re.search(r"[.!?;,\"]$|[!?;]", name):
        return False
    return all(word[0].isupper() or word[0].isdigit() or word.lower() in _NAME_CONNECTORS or word[0] in "(" for word in words)


def _block_turns(raw: str, body_start: int) -> tuple[Turn, ...]:
    body_end = len(raw)
    footer = _PAGINATION.search(raw, body_start)
    if footer:
        body_end = footer.start()
    labels = [m for m in _BLOCK_LABEL.finditer(raw, body_start, body_end) if _is_name(m.group("name"))]
    if not labels:
        return _paragraph_turns(raw, body_start, body_end)
    spans: list[tuple[str | None, int, int, bool]] = []
    for turn in _paragraph_turns(raw, body_start, labels[0].start()):
        spans.append((None, turn.start, turn.end, False))
    for position, match in enumerate(labels):
        content_end = labels[position + 1].start() if position + 1 < len(labels) else body_end
        start, end = trim_span(raw, match.end(), content_end)
        speaker = " ".join(match.group("name").split())
        spans.append((speaker, start, end, False))
    return number_turns(_mark_questions(raw, spans))


_OUTLET_WORDS = re.compile(
    r"\b(?:News|Daily|Times|TV|Television|Radio|Press|Post|Magazine|Journal|Agency|Media|Network|"
    r"Reuters|Bloomberg|Xinhua|CCTV|CGTN|Phoenix|Observer|Weekly|Review|Herald|Tribune|Global|"
    r"Economic|Financial|Channel|Broadcast\w*|Outlook|Paper|Online|\.com|Correspondent|Reporter)\b",
    re.I,
)


def _mark_questions(raw: str, spans: list[tuple[str | None, int, int, bool]]) -> list[tuple[str | None, int, int, bool]]:
    """In block-label transcripts reporters are named by outlet: a turn by an outlet that asks is a question."""
    marked = []
    for speaker, start, end, _ in spans:
        text = raw[start:end]
        asks = "?" in text
        is_outlet = bool(speaker and _OUTLET_WORDS.search(speaker))
        marked.append((speaker, start, end, bool(speaker) and asks and is_outlet))
    return marked


# ---------------------------------------------------------------------------------------------
# Paragraphs: narrative reports and any other text

_PARAGRAPH = re.compile(r"\S(?:.|\n(?![^\S\n]*(?:\n|\Z)))*")


def _paragraph_turns(raw: str, start: int, end: int) -> tuple[Turn, ...]:
    spans: list[tuple[str | None, int, int, bool]] = []
    for match in _PARAGRAPH.finditer(raw, start, end):
        para_start, para_end = trim_span(raw, match.start(), match.end())
        if _PAGINATION.fullmatch(raw[para_start:para_end]):
            continue
        spans.append((None, para_start, para_end, False))
    return number_turns(spans)
