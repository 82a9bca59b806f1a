"""Readers for briefings that are not plain text: web pages, PDF transcripts, video captions.

Each reader turns a file's bytes into the same ``Transcript`` as a text file: title, date, and
speaker turns. Its ``raw`` is the text extracted from the file (what a reader of the page, the
PDF or the video sees, see the README's "Formats"); the turns' and the citations' offsets point
into that text, which the index stores (``documents.jsonl``), the document page shows and
``/api/documents/{id}`` returns. ``content_hash`` stays the SHA-256 of the file's bytes, so an
incremental rebuild sees an unchanged file as unchanged.

Which library reads which format, and why (speed and fidelity measured on the shared corpus),
is in the README and in ``bench/parse_speed.py``.
"""

from __future__ import annotations

from collections.abc import Callable

# Suffix -> (format name, what it is, for the document page and /api/documents/{id}).
KINDS = {
    "html": "web page (HTML)",
    "pdf": "PDF transcript",
    "vtt": "video captions (WebVTT)",
    "srt": "video captions (SubRip)",
}
_FORMAT_OF_SUFFIX = {".html": "html", ".htm": "html", ".pdf": "pdf", ".vtt": "vtt", ".srt": "srt"}
SUFFIXES = frozenset(_FORMAT_OF_SUFFIX)


def kind_of(format_name: str) -> str:
    """What kind of file a document was read from, in words ('text' for text files)."""
    return KINDS.get(format_name, "text")


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
