"""PDF transcripts (.pdf), read with pypdfium2 (Google's PDFium).

The extracted text is the transcript as its reader sees it:

- running headers and footers are dropped: a line among the first or last three of a page that
  recurs (digits aside) on at least half the pages, and "Page N of M" or a lone page number;
- lines are joined into paragraphs: a paragraph begins at an indented first line or a speaker's
  label, and its lines are joined with one space (none after an em dash); a word PDFium marks as
  hyphenated across two lines (U+FFFE) is joined with its hyphen ("well-understood");
- speakers are labelled in capitals ending in a full stop (``CHAIR POWELL.``, ``MICHELLE SMITH.``,
  ``COLBY SMITH.``); a speaker's turn runs to the next label, over as many paragraphs as it has.

Paragraphs are separated by a blank line. A broken, encrypted or image-only (scanned) PDF is
refused with the reason.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import pypdfium2 as pdfium

from qa.transcripts import (
    Transcript,
    TranscriptError,
    Turn,
    clean_title,
    date_from_name,
    is_preamble,
    iso_date,
    number_turns,
    display_speaker,
    make_doc_id,
)

# "CHAIR POWELL.  Good afternoon." - two to six words in capitals (initials allowed), a full
# stop, then the words. "U.S. inflation" and "OK. So" are no labels.
_LABEL = re.compile(
    r"^(?P<label>(?:[A-Z][A-Z'\u2019-]+|[A-Z]\.)(?:[ \u00a0]+(?:[A-Z][A-Z'\u2019-]+|[A-Z]\.)){1,5})\.(?:[ \u00a0]+|$)"
)
_PAGE_NUMBER = re.compile(r"(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?|-\s*\d{1,4}\s*-", re.I)
_MONTH_DATE = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{1,2},\s*\d{4}"
)
_EDGE_LINES = 3  # where running headers and footers are looked for, at each end of a page
_INDENT_POINTS = 12.0  # a first line indented this much (in points) more than the margin


def read_pdf(data: bytes, relative_path: str, digest: str) -> Transcript:
    pages, metadata = _pages(data, relative_path)
    if not any(any(ch.isalnum() for ch in text) for lines in pages for text, _ in lines):
        raise TranscriptError(
            f"{relative_path}: no text layer (a scanned, image-only PDF: it needs OCR first)"
        )
    lines = _drop_running_lines(pages)
    paragraphs = _paragraphs(lines)
    raw, turns = _compose(paragraphs)
    if not turns:
        raise TranscriptError(f"{relative_path}: no text in the PDF once headers and footers are dropped")
    title = clean_title(metadata.get("Title")) or _first_line(paragraphs) or relative_path.rsplit("/", 1)[-1]
    found = _MONTH_DATE.search(title) or _MONTH_DATE.search(raw[:2000])
    day = iso_date(" ".join(found.group().split())) if found else None
    return Transcript(
        doc_id=make_doc_id(relative_path),
        path=relative_path,
        title=title,
        date=date_from_name(relative_path) or day,
        source=None,
        url=None,
        raw=raw,
        turns=turns,
        format="pdf",
        content_hash=digest,
    )


def _pages(data: bytes, relative_path: str) -> tuple[list[list[tuple[str, float | None]]], dict]:
    """Each page's lines of text, with the left edge (points) of each line's first character."""
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        message = str(error)
        if "password" in message.lower():
            raise TranscriptError(f"{relative_path}: encrypted PDF (it needs a password)") from None
        raise TranscriptError(f"{relative_path}: not a readable PDF ({message})") from None
    try:
        try:
            metadata = document.get_metadata_dict(skip_empty=True)
        except Exception:  # noqa: BLE001 - metadata is a nicety; the text is what matters
            metadata = {}
        pages = []
        for page in document:
            textpage = page.get_textpage()
            try:
                pages.append(_page_lines(textpage))
            finally:
                textpage.close()
                page.close()
        return pages, metadata
    except pdfium.PdfiumError as error:
        raise TranscriptError(f"{relative_path}: not a readable PDF ({error})") from None
    finally:
        document.close()


def _page_lines(textpage) -> list[tuple[str, float | None]]:
    count = textpage.count_chars()
    text = textpage.get_text_range(0, count) if count > 0 else ""
    # Offsets map to PDFium's characters one to one only when no character was expanded.
    boxes = len(text) == count
    lines = []
    position = 0
    for line in text.split("\r\n"):
        stripped = line.strip()
        if stripped:
            first = position + len(line) - len(line.lstrip())
            left = textpage.get_charbox(first)[0] if boxes else None
            lines.append((_clean(stripped), left))
        position += len(line) + 2
    return lines


def _clean(line: str) -> str:
    # U+FFFE: PDFium's mark for a hyphen at the end of a line, the two halves already joined.
    line = line.replace("\ufffe", "-").replace("\u00ad", "")
    line = "".join(ch if ch >= " " or ch == "\t" else " " for ch in line)
    return " ".join(line.split())


def _drop_running_lines(pages: list[list[tuple[str, float | None]]]) -> list[tuple[str, float | None]]:
    """All pages' lines in order, without running headers, footers and page numbers."""
    def key(text: str) -> str:
        return re.sub(r"\d+", "#", text.casefold())

    recurring: Counter[str] = Counter()
    for lines in pages:
        edges = lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]
        recurring.update({key(text) for text, _ in edges})
    threshold = max(2, math.ceil(len(pages) / 2))
    kept = []
    for lines in pages:
        for position, (text, left) in enumerate(lines):
            at_edge = position < _EDGE_LINES or position >= len(lines) - _EDGE_LINES
            if at_edge and (_PAGE_NUMBER.fullmatch(text) or (len(pages) > 1 and recurring[key(text)] >= threshold)):
                continue
            kept.append((text, left))
    return kept


def _paragraphs(lines: list[tuple[str, float | None]]) -> list[str]:
    lefts = Counter(round(left) for _, left in lines if left is not None)
    margin = lefts.most_common(1)[0][0] if lefts else None
    paragraphs: list[list[str]] = []
    for text, left in lines:
        indented = margin is not None and left is not None and left > margin + _INDENT_POINTS
        if not paragraphs or indented or _LABEL.match(text):
            paragraphs.append([text])
        else:
            paragraphs[-1].append(text)
    return [_join(lines) for lines in paragraphs]


def _join(lines: list[str]) -> str:
    text = lines[0]
    for line in lines[1:]:
        glue = "" if text.endswith(("\u2014", "-")) and not text.endswith((" -", " \u2014")) else " "
        text += glue + line
    return text


def _first_line(paragraphs: list[str]) -> str | None:
    return clean_title(paragraphs[0]) if paragraphs else None


def _compose(paragraphs: list[str]) -> tuple[str, tuple[Turn, ...]]:
    """The extracted text (paragraphs, blank lines between) and its speaker turns."""
    raw = ""
    spans: list[list] = []  # [speaker, start, end, is_question]
    current: list | None = None
    for paragraph in paragraphs:
        if raw:
            raw += "\n\n"
        start = len(raw)
        raw += paragraph
        label = _LABEL.match(paragraph)
        if label:
            current = [display_speaker(label.group("label")), start + label.end(), len(raw), False]
            spans.append(current)
        elif current is not None:
            current[2] = len(raw)
        elif not is_preamble(paragraph):
            spans.append([None, start, len(raw), False])
    _mark_questions(raw, spans)
    return raw, number_turns([(s, a, b, q) for s, a, b, q in spans if a < b])


def _mark_questions(raw: str, spans: list[list]) -> None:
    """Reporters are named, not 'Q': every speaker but the principal and the moderator asks.

    The principal speaks the most words; the moderator, if any, is the other speaker with the
    most turns, all short ("Thank you. Let's go to Colby."). A speaker who talks at length and
    never asks (a second principal) is no reporter either.
    """
    words: Counter[str] = Counter()
    turns: Counter[str] = Counter()
    asking: Counter[str] = Counter()
    for speaker, start, end, _ in spans:
        if speaker:
            words[speaker] += len(raw[start:end].split())
            turns[speaker] += 1
            asking[speaker] += "?" in raw[start:end]
    if not words:
        return
    principal = words.most_common(1)[0][0]
    others = [s for s, _ in turns.most_common() if s != principal]
    moderator = others[0] if others and turns[others[0]] >= 3 and words[others[0]] / turns[others[0]] < 40 else None
    reporters = {
        s for s in others if s != moderator and (asking[s] or words[s] / turns[s] < 150)
    }
    for span in spans:
        span[3] = span[0] in reporters
