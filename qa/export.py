"""Every passage a query matches, with its citation, as CSV or JSON lines (the API's and the CLI's export)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict

from qa.query import Filters
from qa.results import Citation
from qa.search import Searcher
from qa.text import collapse_whitespace

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
CSV_COLUMNS = ("n", "date", "speaker", "title", "doc_id", "path", "turn", "start", "end", "url", "text")


def matches(searcher: Searcher, question: str, filters: Filters | None = None, sort: str = "oldest") -> Iterator[dict]:
    """Each match as ``{"n", "text", "citation"}``, in the order asked; ``text`` is ``raw[start:end]``
    of the cited file, whitespace collapsed (the citation invariant)."""
    _, _, _, ordered, _ = searcher.ordered_matches(question, filters, sort)
    table = searcher.archive().table
    documents = searcher.index.documents
    for n, item in enumerate(ordered, start=1):
        row = item.row
        chunk = table.chunks[row]
        document = documents[chunk.doc_id]
        yield {
            "n": n,
            "text": collapse_whitespace(document.raw[chunk.start : chunk.end]),
            "citation": asdict(Citation.of(document, chunk)),
        }


def as_jsonl(rows: Iterator[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"

# The CSV is streamed in pieces of about this many bytes (one row per write would be thousands of
# tiny writes; the whole file at once, all of it in memory).
FLUSH_BYTES = 64 * 1024


def as_csv(rows: Iterator[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        citation = row["citation"]
        writer.writerow([row["n"], *(citation[c] if citation[c] is not None else "" for c in CSV_COLUMNS[1:-1]),
                         row["text"]])
        if buffer.tell() > FLUSH_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def render(rows: Iterator[dict], fmt: str) -> Iterator[str]:
    return as_csv(rows) if fmt == "csv" else as_jsonl(rows)
