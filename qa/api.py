"""HTTP edge: the JSON API over ``qa.search``, and the app that serves it with the pages.

The pages are ``qa.pages``; loading the index and swapping in a rebuilt one, ``qa.reloader``;
the request body limit, ``qa.body_limit``.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse

from qa import __version__
from qa.body_limit import BodyLimit
from qa.pages import find_document, mount_pages
from qa.query import Filters
from qa.reloader import Reloader, load_searcher, return_large_blocks_to_the_system
from qa.results import (
    OFFSET_HELP, ROLE_HELP, SORT_HELP, SYNTAX_HELP, Role, Answer, AskRequest, AskResponse, DocumentDetail, DocumentMeta,
    DocumentSummary, ErrorOut, Health, Ready, Sort, TimelineResponse, TurnOut, answer_model, timeline_json,
)
from qa import export
from qa.search import Searcher
from qa.validation import QuestionError
from qa.settings import MAX_K, MAX_OFFSET, MAX_QUESTION_CHARS, Settings
from qa.stores.seam import StoreUnavailable

__all__ = ["create_app", "app_from_env"]

MAX_BODY_BYTES = 64 * 1024
logger = logging.getLogger("qa.api")

# Our pages run no inline script and load nothing from elsewhere.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# Swagger UI starts itself with one inline script.
DOCS_CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def readiness(searcher: Searcher | None) -> JSONResponse:
    """/readyz: the model and index are loaded and the store answers now (a bounded call)."""
    if searcher is None:
        return JSONResponse({"status": "unavailable", "store": "", "detail": "still loading"}, status_code=503)
    store, archive = searcher.index.kind, searcher.index.version
    try:
        searcher.index.check()
    except StoreUnavailable as error:
        return JSONResponse({"status": "unavailable", "store": store, "archive": archive, "detail": str(error)},
                            status_code=503)
    return JSONResponse({"status": "ready", "store": store, "archive": archive, "detail": None})


def answer_response(answer: Answer) -> Response:
    """The answer as the HTTP response: serialised once, by pydantic (returning the model or a dict
    would have FastAPI validate and encode it all again, about a millisecond a query)."""
    return Response(answer_model(answer).model_dump_json(), media_type="application/json")


# ---------------------------------------------------------------------------------------------
# The application


def store_unavailable_response(error: StoreUnavailable) -> JSONResponse:
    """503 with what is wrong: the store is down or slow; the client may retry (it recovers by itself)."""
    logger.warning("store unavailable: %s", error)
    return JSONResponse(
        {"detail": f"the index store is unavailable, try again shortly: {error}"}, status_code=503,
        headers={"Retry-After": "2"},
    )


class SecurityHeaders:
    """Headers every response carries, the pages' Content-Security-Policy among them. Plain ASGI:
    Starlette's ``@app.middleware("http")`` runs each request through an extra task and stream."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        csp = (DOCS_CSP if scope["path"] == "/docs" else PAGE_CSP).encode()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {name.lower() for name, _ in headers}
                for name, value in ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")):
                    if name not in names:
                        headers.append((name, value))
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", csp))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None, searcher: Searcher | None = None, watch: bool | None = None) -> FastAPI:
    """The app for one index. Pass a ready ``searcher`` (tests) or let it load from ``settings``.

    ``watch`` (default: on when the app loads its own index) reloads the index when it is rebuilt.
    """
    settings = settings or Settings.from_env()
    return_large_blocks_to_the_system()
    reloader = Reloader(settings, searcher, watch=searcher is None if watch is None else watch)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if reloader.searcher is None:
            reloader.searcher = load_searcher(settings)
        yield

    app = FastAPI(
        title="briefing-qa",
        version=__version__,
        description="Ask questions of press-briefing transcripts; every passage comes with a citation "
        "(document, date, speaker and character offsets into the source file).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )

    def current() -> Searcher:
        return reloader.current()

    app.state.reloader = reloader
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    if settings.cors_origins:
        # Other sites' pages may call the JSON API (QA_CORS_ORIGINS); without credentials, as it has none.
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"], max_age=600,
        )

    app.add_middleware(SecurityHeaders)

    app.add_exception_handler(StoreUnavailable, lambda _request, error: store_unavailable_response(error))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler, but what it echoes is made encodable first: a refused value may be
        # a lone surrogate or an infinite number, which JSON cannot carry.
        return JSONResponse({"detail": encodable(jsonable_encoder(error.errors()))}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        # Never a stack trace in a response; the server log has it.
        return JSONResponse({"detail": "internal error"}, status_code=500)

    for router in (meta, asking, documents):
        app.include_router(router)
    mount_pages(app, current)
    return app


def app_from_env() -> FastAPI:
    """The app for ``qa serve --workers N``: each worker process builds its own from QA_* settings."""
    return create_app(Settings.from_env(), watch=True)


# ---------------------------------------------------------------------------------------------
# The routes: what a client may ask (meta, asking, documents), each reading the index serving now


def serving(request: Request) -> Searcher:
    """The searcher of the index serving now (a rebuilt index is swapped in by the reloader)."""
    return request.app.state.reloader.current()


def question_param(q: Annotated[str, Query(max_length=MAX_QUESTION_CHARS, description=SYNTAX_HELP)]) -> str:
    """The ``q`` of a GET: refused when empty or only whitespace."""
    if not q.strip():
        raise _invalid("query", "q", q, "question must not be empty or only whitespace")
    return q


def filter_params(
    speaker: Annotated[str | None, Query(max_length=200)] = None,
    date_from: Annotated[date | None, Query()] = None,
    date_to: Annotated[date | None, Query()] = None,
    doc_id: Annotated[str | None, Query(max_length=200)] = None,
    role: Annotated[Role | None, Query(description=ROLE_HELP)] = None,
) -> Filters:
    """The filters of a GET, as the search reads them."""
    return Filters(speaker or None, date_from.isoformat() if date_from else None,
                   date_to.isoformat() if date_to else None, doc_id or None, role)


Serving = Annotated[Searcher, Depends(serving)]
Question = Annotated[str, Depends(question_param)]
Filtered = Annotated[Filters, Depends(filter_params)]

meta = APIRouter(tags=["meta"])
asking = APIRouter(tags=["ask"])
documents = APIRouter(tags=["documents"])


@meta.get("/healthz", response_model=Health)
def healthz(request: Request, searcher: Serving) -> Health:
    reloader = request.app.state.reloader
    return Health(
        status="ok", version=__version__, model=searcher.index.model, backend=searcher.index.encoder_backend,
        documents=len(searcher.index.documents), chunks=len(searcher.index.chunks), archive=searcher.index.version,
        reloads=reloader.reloads, reload_refused=reloader.refused,
    )


@meta.get("/readyz", response_model=Ready, responses={503: {"description": "Not ready"}})
def readyz(request: Request) -> JSONResponse:
    """Ready to answer: the model is loaded and the index store answers (503 with why, otherwise)."""
    return readiness(request.app.state.reloader.searcher)


@asking.post(
    "/api/ask", response_model=AskResponse,
    responses={
        400: {"model": ErrorOut, "description": "The body could not be read (not UTF-8)"},
        413: {"model": ErrorOut, "description": f"The body is over {MAX_BODY_BYTES} bytes"},
    },
)
def ask_post(body: AskRequest, searcher: Serving) -> Response:
    """Ask a question; returns the top ``k`` passages with citations, highlights and the answer.

    The question may carry search syntax (`"exact phrase"`, `-word`, `-"phrase"`, `speaker:`, `after:`,
    `before:`); `sort` orders the matching passages by date; `offset` pages through them to the end.
    """
    return answer_response(_ask(searcher, body.question, body.k, body.filters(), "body", body.sort, body.offset))


@asking.get("/api/ask", response_model=AskResponse)
def ask_get(
    q: Question,
    searcher: Serving,
    filters: Filtered,
    k: Annotated[int, Query(ge=1, le=MAX_K, description="How many passages.")] = 5,
    sort: Annotated[Sort, Query(description=SORT_HELP)] = "relevance",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description=OFFSET_HELP)] = 0,
) -> Response:
    """The same as ``POST /api/ask``, with the question and filters in the query string."""
    return answer_response(_ask(searcher, q, k, filters, "query", sort, offset))


@asking.get("/api/timeline", response_model=TimelineResponse)
def timeline(q: Question, searcher: Serving, filters: Filtered) -> dict:
    """How often and when: the passages and briefings that match, per month (per year over a long span),
    across the whole archive. A phrase matches exactly; a question without one matches a passage whose best
    window's cosine clears the floor (`query.matched_by` says which)."""
    began = time.perf_counter()
    try:
        parsed, filters, counted = searcher.timeline(q, filters)
    except QuestionError as error:
        raise _refused(error, q) from None
    return timeline_json(q, parsed, filters, counted, round((time.perf_counter() - began) * 1000, 2))


@asking.get(
    "/api/export",
    responses={200: {"description": "Every match with its citation, as CSV (a header row, then one row per "
                     "passage) or JSON lines (one object per passage: n, text, citation)",
                     "content": {"text/csv": {"schema": {"type": "string"}},
                                 "application/x-ndjson": {"schema": {"type": "string"}}}}},
)
def export_matches(
    q: Question,
    searcher: Serving,
    filters: Filtered,
    format: Annotated[Literal["csv", "jsonl"], Query(description="csv or jsonl (JSON lines).")] = "csv",
    sort: Annotated[Sort, Query(description=SORT_HELP)] = "oldest",
) -> StreamingResponse:
    """Every passage the query matches across the archive (not only a page), with its citation; oldest
    first by default. Made for phrase queries ("every time they said ..."); a question without a phrase
    exports the passages that clear the relevance floor."""
    try:
        rows = list(export.matches(searcher, q, filters, sort))
    except QuestionError as error:
        raise _refused(error, q) from None
    return StreamingResponse(
        export.render(iter(rows), format), media_type=export.FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="matches.{format}"'},
    )


@documents.get("/api/speakers", response_model=list[str])
def speakers(searcher: Serving) -> list[str]:
    """The speakers that can be given as the ``speaker`` filter."""
    return searcher.index.speakers


@documents.get("/api/documents", response_model=list[DocumentSummary])
def document_list(searcher: Serving) -> list[DocumentSummary]:
    return [_summary(d) for d in _sorted_documents(searcher)]


@documents.get(
    "/api/documents/{doc_id}", response_model=DocumentDetail,
    responses={404: {"description": "No document with that id"}},
)
def document(doc_id: str, searcher: Serving) -> DocumentDetail:
    transcript = find_document(searcher, doc_id)
    return DocumentDetail(
        **_meta(transcript), format=transcript.format, kind=transcript.kind, raw=transcript.raw,
        turns=[TurnOut(**asdict(t)) for t in transcript.turns],
    )


def _ask(searcher: Searcher, question: str, k: int, filters: Filters, where: str, sort: str = "relevance",
         offset: int = 0) -> Answer:
    try:
        return searcher.ask(question, k, filters, sort, offset)
    except QuestionError as error:
        field = "q" if where == "query" and error.field == "question" else error.field
        raise _invalid(where, field, getattr(filters, error.field, question), str(error)) from None


def encodable(value: object) -> object:
    """``value`` (JSON-shaped) with every string writable as UTF-8 (a lone surrogate as its ``\\udXXX``
    escape) and every number JSON can carry (an infinite or NaN one as text)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encodable(item) for item in value]
    return value


def _refused(error: QuestionError, q: str) -> RequestValidationError:
    """A search's refusal of a GET's question or filter as a 422 naming the parameter."""
    return _invalid("query", "q" if error.field == "question" else error.field, q, str(error))


def _invalid(where: str, field: str, value: object, message: str) -> RequestValidationError:
    """A 422 in FastAPI's documented shape, so every error matches the OpenAPI schema."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, field), "input": value, "msg": f"Value error, {message}"}]
    )


def _sorted_documents(searcher: Searcher):
    return sorted(searcher.index.documents.values(), key=lambda d: (d.date or "", d.doc_id))


def _meta(transcript) -> dict:
    return {name: getattr(transcript, name) for name in DocumentMeta.model_fields}


def _summary(transcript) -> DocumentSummary:
    return DocumentSummary(**_meta(transcript), turns=len(transcript.turns))
