"""The web pages: the search page, the results, a transcript with the cited words, and /docs.

Server-rendered from the jinja2 templates in ``web/`` (installed as the package ``qa.web``);
they run no inline script and work with JavaScript off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from qa import syntax
from qa.query import Filters
from qa.search import Searcher
from qa.settings import SORTS
from qa.validation import QuestionError

# The templates and CSS, found the same way from a checkout, an editable install and a wheel.
WEB_DIR = Path(str(files("qa.web")))
_DOC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def mount_pages(app: FastAPI, current: Callable[[], Searcher]) -> None:
    """Add the pages, their static files and /docs to ``app``; ``current()`` gives the searcher."""
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")
    _mount_swagger_assets(app)

    def page_context(**values: object) -> dict:
        index = current().index
        return {
            "speakers": index.speakers,
            "date_min": index.dates[0] if index.dates else "",
            "date_max": index.dates[-1] if index.dates else "",
            "documents": len(index.documents),
            "chunks": len(index.chunks),
            "q": "", "k": 5, "filters": Filters(), "sort": "relevance", "offset": 0,
            "doc_title": None, "syntax_hint": syntax.HINT,
            **values,
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", page_context())

    @app.get("/ask", response_class=HTMLResponse, include_in_schema=False)
    def ask_page(
        request: Request, q: str = "", k: str = "5", speaker: str = "", date_from: str = "",
        date_to: str = "", doc_id: str = "", role: str = "", sort: str = "relevance", offset: str = "0",
    ) -> HTMLResponse:
        filters = Filters(speaker.strip() or None, date_from or None, date_to or None, doc_id or None, role or None)
        searcher_ = current()
        doc = searcher_.index.documents.get(doc_id) if doc_id else None
        sort = sort if sort in SORTS else "relevance"
        context = page_context(q=q, k=k, filters=filters, doc_title=doc.title if doc else None, sort=sort)
        try:
            k_value = int(k) if k.strip().isdigit() else -1
            offset_value = int(offset) if offset.strip().isdigit() and len(offset.strip()) <= 6 else -1
            answer = searcher_.ask(q, k_value, filters, sort, offset_value)
            _, _, timeline = searcher_.timeline(q, filters)
        except QuestionError as error:
            return templates.TemplateResponse(
                request, "results.html", {**context, "error": str(error), "answer": None}, status_code=422,
            )
        context["sort"] = answer.sort  # sort:newest typed in the box sorts
        rendered = [
            (passage, _marked_segments(searcher_.index.documents[passage.citation.doc_id].raw, passage))
            for passage in answer.passages
        ]
        return templates.TemplateResponse(
            request, "results.html",
            {**context, "k": k_value, "offset": offset_value, "error": None, "answer": answer, "rendered": rendered,
             "chart": _chart(timeline), "timeline": timeline, "floor": searcher_.match_floor,
             "links": _page_links(q, k_value, filters, sort, offset_value, answer)},
        )

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(
        request: Request, doc_id: str, start: int | None = None, end: int | None = None, hl: str = "",
    ) -> HTMLResponse:
        transcript = find_document(current(), doc_id)
        raw = transcript.raw
        cited = (start, end) if start is not None and end is not None and 0 <= start < end <= len(raw) else None
        marks = _parse_highlights(hl, cited) if cited else []
        return templates.TemplateResponse(
            request, "document.html",
            page_context(doc=transcript, segments=_source_segments(raw, cited, marks), highlight=cited is not None,
                         filters=Filters(doc_id=transcript.doc_id), doc_title=transcript.title),
        )

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="briefing-qa API",
            swagger_js_url="/swagger/swagger-ui-bundle.js", swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon.png",
        )


def find_document(searcher: Searcher, doc_id: str):
    """The loaded document with this id, or a 404 (ids are looked up, never used as a path)."""
    if not _DOC_ID.fullmatch(doc_id) or doc_id not in searcher.index.documents:
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id[:200]!r}")
    return searcher.index.documents[doc_id]


def _mount_swagger_assets(app: FastAPI) -> None:
    """Serve Swagger UI from the installed package: this machine cannot reach a CDN.

    ``fastapi-offline`` ships a Swagger UI 5 bundle, which reads the OpenAPI 3.1 that FastAPI
    writes (``swagger-ui-bundle`` shipped 4.15, which reads only 2.0 and 3.0: /docs then showed
    "Unable to render this definition"). Only its static files are used; /docs is ours.
    """
    try:
        import fastapi_offline
    except ImportError:  # pragma: no cover - /docs then shows a blank page; /openapi.json still works
        return
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/swagger", StaticFiles(directory=str(assets)), name="swagger")


def _query_string(**values: object) -> str:
    from urllib.parse import urlencode

    return urlencode({name: value for name, value in values.items() if value not in (None, "")})


def _page_links(q: str, k: int, filters: Filters, sort: str, offset: int, answer) -> dict:
    """The URLs of the previous and next pages, of each sort, and of the exports, for this query."""
    base = {"q": q, "speaker": filters.speaker, "date_from": filters.date_from, "date_to": filters.date_to,
            "doc_id": filters.doc_id, "role": filters.role}
    page = {**base, "k": k if k != 5 else None}
    # A sort typed in the box (sort:newest) gives way to the sort links.
    unsorted = {**page, "q": syntax.without_sort(q)}
    return {
        "previous": f"/ask?{_query_string(**page, sort=sort, offset=max(0, offset - k))}" if offset > 0 else None,
        "next": f"/ask?{_query_string(**page, sort=sort, offset=answer.next_offset)}"
        if answer.next_offset is not None else None,
        "sorts": {name: f"/ask?{_query_string(**unsorted, sort=name)}" for name in SORTS},
        "csv": f"/api/export?{_query_string(**base, sort=sort if sort != 'relevance' else 'oldest', format='csv')}",
        "jsonl": f"/api/export?{_query_string(**base, sort=sort if sort != 'relevance' else 'oldest', format='jsonl')}",
        "bar": lambda bucket: "/ask?" + _query_string(
            q=syntax.without_sort(q), speaker=filters.speaker, date_from=bucket.date_from, date_to=bucket.date_to,
            doc_id=filters.doc_id, role=filters.role, sort="oldest"),
    }


def _chart(timeline) -> dict | None:
    """The bars of the timeline chart (SVG user units: one bar 10 wide, the tallest 60 high)."""
    if not timeline.buckets:
        return None
    tallest = max(bucket.passages for bucket in timeline.buckets)
    bars = []
    for i, bucket in enumerate(timeline.buckets):
        height = 60 * bucket.passages / tallest if tallest else 0
        if bucket.passages and height < 1.5:
            height = 1.5  # a single match stays visible
        bars.append({"bucket": bucket, "x": i * 10 + 1, "y": round(64 - height, 2), "height": round(height, 2)})
    return {"bars": bars, "width": len(bars) * 10, "tallest": tallest,
            "first": timeline.buckets[0].period, "last": timeline.buckets[-1].period}


def _marked_segments(raw: str, passage) -> list[tuple[str, bool]]:
    """The passage as (text, highlighted) pieces whose joined text is exactly ``passage.text``."""
    start, end = passage.citation.start, passage.citation.end
    cuts = [(h.start, h.end) for h in passage.highlights if start <= h.start < h.end <= end]
    pieces: list[tuple[str, bool]] = []
    cursor = start
    for mark_start, mark_end in cuts:
        if mark_start < cursor:
            continue
        pieces.append((raw[cursor:mark_start], False))
        pieces.append((raw[mark_start:mark_end], True))
        cursor = mark_end
    pieces.append((raw[cursor:end], False))
    # Highlights begin and end on non-space characters, so no whitespace run straddles two pieces:
    # collapsing each piece (keeping one space at an edge that had some) collapses the whole.
    pieces = [(_collapse_keeping_edges(text), marked) for text, marked in pieces]
    pieces[0] = (pieces[0][0].lstrip(), pieces[0][1])
    pieces[-1] = (pieces[-1][0].rstrip(), pieces[-1][1])
    return [(text, marked) for text, marked in pieces if text]


def _collapse_keeping_edges(text: str) -> str:
    core = " ".join(text.split())
    if not core:
        return " " if text else ""
    return (" " if text[0].isspace() else "") + core + (" " if text[-1].isspace() else "")


def _parse_highlights(value: str, cited: tuple[int, int]) -> list[tuple[int, int]]:
    """``hl=12-40,55-90`` from a result link; anything malformed or outside the citation is ignored."""
    marks = []
    for part in value.split(",")[:20]:
        match = re.fullmatch(r"(\d{1,9})-(\d{1,9})", part.strip())
        if match:
            mark_start, mark_end = int(match.group(1)), int(match.group(2))
            if cited[0] <= mark_start < mark_end <= cited[1] and (not marks or mark_start >= marks[-1][1]):
                marks.append((mark_start, mark_end))
    return marks


def _source_segments(raw: str, cited: tuple[int, int] | None, marks: list[tuple[int, int]]) -> dict:
    """The raw text split for the source view: before, the cited pieces (text, is answer), after."""
    if cited is None:
        return {"before": raw, "cited": [], "after": ""}
    pieces = []
    cursor = cited[0]
    for mark_start, mark_end in marks:
        pieces.append((raw[cursor:mark_start], False))
        pieces.append((raw[mark_start:mark_end], True))
        cursor = mark_end
    pieces.append((raw[cursor : cited[1]], False))
    return {"before": raw[: cited[0]], "cited": [p for p in pieces if p[0]], "after": raw[cited[1] :]}
