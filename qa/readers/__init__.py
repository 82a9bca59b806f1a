"""Reading briefings: which reader reads a file (by its suffix), one file, a whole folder.

Plain text and Markdown are read by ``qa.transcripts.parse``; web pages, PDF transcripts and
video captions by the modules here, each with the public helpers of ``qa.transcripts`` that all
formats share (turn numbering, titles, dates). Each reader turns a file's bytes into the same ``Transcript`` as a text file: title, date, and
speaker turns. Its ``raw`` is the text extracted from the file (what a reader of the page, the
PDF or the video sees, see the README's "Formats"); the turns' and the citations' offsets point
into that text, which the index stores (``documents.jsonl``), the document page shows and
``/api/documents/{id}`` returns. ``content_hash`` stays the SHA-256 of the file's bytes, so an
incremental rebuild sees an unchanged file as unchanged.

Which library reads which format, and why (speed and fidelity measured on the shared corpus),
is in the README and in ``bench/parse_speed.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from qa.transcripts import Skipped, Transcript, TranscriptError, content_hash, decode, parse

_FORMAT_OF_SUFFIX = {".html": "html", ".htm": "html", ".pdf": "pdf", ".vtt": "vtt", ".srt": "srt"}
SUFFIXES = frozenset(_FORMAT_OF_SUFFIX)


def reader_for(suffix: str) -> Callable | None:
    """The reader of files with this suffix (``read(data, relative_path, digest)``), or None for text."""
    name = _FORMAT_OF_SUFFIX.get(suffix.lower())
    if name == "html":
        from qa.readers.web_page import read_html

        return read_html
    if name == "pdf":
        from qa.readers.pdf import read_pdf

        return read_pdf
    if name in ("vtt", "srt"):
        from qa.readers.captions import read_srt, read_vtt

        return read_vtt if name == "vtt" else read_srt
    return None


# ---------------------------------------------------------------------------------------------
# Reading files: the dispatch by suffix, one file, a whole folder

_TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text"}


def iter_source_files(root: Path) -> Iterator[Path]:
    """The candidate transcript files below ``root``, in a stable order."""
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts):
            if path.suffix.lower() in _TEXT_SUFFIXES or path.suffix.lower() in SUFFIXES:
                yield path


# Real briefings run to about 100 KB; a file this large is refused before it is read, so that
# one broken or hostile file cannot exhaust memory or swamp the index.
MAX_FILE_BYTES = 20 * 1024 * 1024


def load_transcript(path: Path, root: Path | None = None, max_bytes: int = MAX_FILE_BYTES) -> Transcript:
    """Read and parse one file; ``root`` is the folder the file's ``path`` is given relative to."""
    relative = path.name if root is None or root == path else str(path.relative_to(root))
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TranscriptError(
                f"{relative}: file too large ({size:,} bytes; the limit is {max_bytes:,})"
            )
        data = path.read_bytes()
    except OSError as error:
        raise TranscriptError(f"{relative}: cannot be read ({error.strerror or error})") from None
    reader = reader_for(path.suffix)
    if reader is not None:
        if not data.strip():
            raise TranscriptError(f"{relative}: empty file")
        return reader(data, relative, content_hash(data))
    raw = decode(data, relative)
    return parse(raw, relative, content_hash(data))


def load_folder(roots: Iterable[Path]) -> tuple[list[Transcript], list[Skipped]]:
    """Parse every transcript below the given folders; bad files are reported, not fatal.

    One briefing posted under several addresses (the same turns, whatever the header) is one
    document: the first posting in path order, with the others listed as its ``copies``."""
    transcripts: list[Transcript] = []
    skipped: list[Skipped] = []
    seen_ids: dict[str, str] = {}
    kept: dict[str, int] = {}  # posting key -> position in ``transcripts``
    for root in roots:
        if not root.exists():
            raise FileNotFoundError(f"source folder not found: {root}")
        base = root if root.is_dir() else root.parent
        for path in iter_source_files(root):
            relative = str(path.relative_to(base))
            try:
                transcript = load_transcript(path, base)
            except TranscriptError as error:
                skipped.append(Skipped(relative, str(error).removeprefix(f"{relative}: ")))
                continue
            if transcript.doc_id in seen_ids:
                skipped.append(
                    Skipped(relative, f"same document id as {seen_ids[transcript.doc_id]}")
                )
                continue
            seen_ids[transcript.doc_id] = relative
            key = transcript.posting_key()
            if key in kept:
                first = transcripts[kept[key]]
                transcripts[kept[key]] = replace(first, copies=(*first.copies, (transcript.path, transcript.url)))
                continue
            kept[key] = len(transcripts)
            transcripts.append(transcript)
    return transcripts, skipped
