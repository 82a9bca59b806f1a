"""HTTP edge: the JSON API and the server-rendered web pages, thin layers over ``qa.search``."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator

from qa import __version__
from qa.ranking import Filters
from qa.search import Answer, QuestionError, Searcher
from qa.settings import Settings
from qa.store import StoreUnavailable

# The templates and CSS, found the same way from a checkout, an editable install and a wheel.
WEB_DIR = Path(str(files("qa.web")))
MAX_QUESTION_CHARS = 1000
MAX_K = 50
MAX_BODY_BYTES = 64 * 1024
logger = logging.getLogger("qa.api")
_DOC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

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


# ---------------------------------------------------------------------------------------------
# The JSON contract


class AskRequest(BaseModel):
    question: str = Field(
        ..., max_length=MAX_QUESTION_CHARS, description="The question, in plain English.",
        examples=["How many support measures did the SME service initiative introduce?"],
    )
    k: int = Field(5, ge=1, le=MAX_K, description="How many passages to return.")
    speaker: str | None = Field(None, max_length=200, description="Only passages by this speaker (GET /api/speakers).")
    date_from: date | None = Field(None, description="Only briefings on or after this date (YYYY-MM-DD).")
    date_to: date | None = Field(None, description="Only briefings on or before this date (YYYY-MM-DD).")
    doc_id: str | None = Field(None, max_length=200, description="Only passages of this document.")

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
        )


class CitationOut(BaseModel):
    doc_id: str
    path: str = Field(description="The file's path relative to the folder it was indexed from.")
    title: str
    date: str | None = Field(description="ISO date of the briefing, when the file gives one.")
    source: str | None
    url: str | None
    speaker: str | None
    turn: int = Field(description="Index of the speaker turn in the document.")
    start: int = Field(description="Character offset of the first cited character in the raw file.")
    end: int = Field(description="Character offset just past the last cited character.")


class HighlightOut(BaseModel):
    start: int = Field(description="Character offset into the raw file.")
    end: int


class PassageOut(BaseModel):
    rank: int
    score: float = Field(description="Fused relevance; comparable between passages of one answer only.")
    text: str = Field(description="Exactly raw[start:end] with every whitespace run collapsed to one space.")
    citation: CitationOut
    in_reply_to: str | None = Field(None, description="The question this passage answers, shortened.")
    highlights: list[HighlightOut] = Field(
        default_factory=list, description="The sentences that best answer the question, as raw-file offsets."
    )


class AnswerOut(BaseModel):
    text: str = Field(description="The words that best answer the question: a sentence, or a sentence with the "
                      "neighbour it needs (60 words at most); raw[start:end], whitespace collapsed.")
    citation: CitationOut
    confidence: float = Field(ge=0, le=1, description="How likely the answer is right, calibrated on questions "
                              "with known answers; answers below the threshold are not shown.")


class AskResponse(BaseModel):
    question: str
    answered: bool = Field(description="False when no answer is confident enough to show: `answer` is then null "
                           "and the passages are still listed.")
    reason: str | None = Field(None, description="Why no answer is shown.")
    answer: AnswerOut | None = None
    passages: list[PassageOut]
    took_ms: float


class TurnOut(BaseModel):
    index: int
    speaker: str | None
    start: int
    end: int
    is_question: bool
    question_turn: int | None


class DocumentMeta(BaseModel):
    doc_id: str
    path: str
    title: str
    date: str | None
    source: str | None
    url: str | None


class DocumentSummary(DocumentMeta):
    turns: int


class DocumentDetail(DocumentMeta):
    format: str
    raw: str
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


class Ready(BaseModel):
    status: str = Field(description="'ready', or 'unavailable' with a 503.")
    store: str = Field(description="Which store serves the index: 'embedded' or 'milvus'.")
    detail: str | None = None


def readiness(searcher: Searcher | None) -> JSONResponse:
    """/readyz: the model and index are loaded and the store answers now (a bounded call)."""
    if searcher is None:
        return JSONResponse({"status": "unavailable", "store": "", "detail": "still loading"}, status_code=503)
    store = "milvus" if type(searcher.index).__name__ == "MilvusStore" else "embedded"
    try:
        searcher.index.check()
    except StoreUnavailable as error:
        return JSONResponse({"status": "unavailable", "store": store, "detail": str(error)}, status_code=503)
    return JSONResponse({"status": "ready", "store": store, "detail": None})


def answer_json(answer: Answer) -> dict:
    """The API's JSON for an answer; the CLI prints exactly this too."""
    return AskResponse(
        question=answer.question,
        answered=answer.answered,
        reason=answer.reason,
        answer=AnswerOut(**asdict(answer.answer)) if answer.answer else None,
        passages=[PassageOut(**asdict(p)) for p in answer.passages],
        took_ms=answer.took_ms,
    ).model_dump(mode="json")


# ---------------------------------------------------------------------------------------------
# The application


class Reloader:
    """Holds the current searcher and swaps in a newly built index without a restart.

    At most once a second a request looks at where the index link points and at its manifest;
    when they changed, a background thread loads the new index while requests go on with the
    old one, then swaps it in with one assignment. A new index that fails to load is logged and
    the old one kept.
    """

    CHECK_EVERY = 1.0

    def __init__(self, settings: Settings, searcher: Searcher | None, watch: bool) -> None:
        self.settings = settings
        self.searcher = searcher
        self.watch = watch
        self.reloads = 0
        self._stamp = self._read_stamp()
        self._checked = time.monotonic()
        self._loading = threading.Lock()

    def _read_stamp(self) -> tuple | None:
        if self.settings.store == "milvus":
            return _milvus_stamp(self.settings)
        try:
            target = os.path.realpath(self.settings.index_dir)
            stat = os.stat(os.path.join(target, "manifest.json"))
            return target, stat.st_mtime_ns, stat.st_size
        except OSError:
            return None

    def current(self) -> Searcher:
        if self.watch and time.monotonic() - self._checked >= self.CHECK_EVERY:
            self._checked = time.monotonic()
            if self.settings.store == "milvus":
                # Asking Milvus where the alias points is a network call: never in a request.
                if self._loading.acquire(blocking=False):
                    threading.Thread(target=self._check_in_background, daemon=True).start()
            else:
                stamp = self._read_stamp()
                if stamp is not None and stamp != self._stamp and self._loading.acquire(blocking=False):
                    threading.Thread(target=self._reload, args=(stamp,), daemon=True).start()
        return self.searcher

    def _check_in_background(self) -> None:
        """With the lock held: reload when the stamp changed, else just let the lock go."""
        stamp = self._read_stamp()
        if stamp is not None and stamp != self._stamp:
            self._reload(stamp)
        else:
            self._loading.release()

    def _reload(self, stamp: tuple) -> None:
        try:
            self.searcher = load_searcher(self.settings)
            self.reloads += 1
            logger.info("loaded the new index at %s", stamp[0])
            # Requests still on the old index finish within seconds; then give its memory back,
            # and once more later for what the slowest of them held.
            time.sleep(5)
            _release_memory()
            later = threading.Timer(30, _release_memory)
            later.daemon = True
            later.start()
        except Exception as error:  # keep serving the old index
            logger.error("the new index at %s did not load, still serving the old one: %s", stamp[0], error)
        finally:
            self._stamp = stamp
            self._loading.release()


def _milvus_stamp(settings: Settings) -> tuple | None:
    """The collection the Milvus alias names now: a publish moves it (None: not known now)."""
    from qa.milvus_store import current_generation

    try:
        generation = current_generation(settings.milvus_uri, settings.milvus_prefix)
    except StoreUnavailable:
        return None
    return (generation,) if generation else None


def store_unavailable_response(error: StoreUnavailable) -> JSONResponse:
    """503 with what is wrong: the store is down or slow; the client may retry (it recovers by itself)."""
    logger.warning("store unavailable: %s", error)
    return JSONResponse(
        {"detail": f"the index store is unavailable, try again shortly: {error}"}, status_code=503,
        headers={"Retry-After": "2"},
    )


def _return_large_blocks_to_the_system() -> None:
    """Make glibc give every block of 128 KB or more its own mapping, returned on free.

    By default glibc raises that threshold as large blocks are freed, and then keeps freed
    blocks in per-thread heaps: a query's arrays (BM25 over every window, hundreds of KB each)
    freed by 32 concurrent request threads stayed resident, and the server grew by a fifth
    under load. With the threshold fixed they go back to the system at once (measured: RSS
    +6% instead of +27% across a load test with an index swap; the same query latency).
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc: its allocator decides
        pass


_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


def _release_memory() -> None:
    """Collect the old index and return freed heap to the system (glibc keeps it otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


# A body over the limit is read and dropped up to this much before the 413 goes out: a client that
# sends its whole body before reading (urllib, requests) then reads the 413 instead of a reset.
DRAIN_LIMIT = 32 * 1024 * 1024


async def _drain(scope, receive, bound: int = DRAIN_LIMIT) -> None:
    """Read and drop the rest of a request body, up to ``bound`` bytes (as nginx's lingering close).

    Not when the client waits for "100 Continue" (curl with a large body): it has sent nothing yet.
    """
    if any(name == b"expect" and value.lower() == b"100-continue" for name, value in scope.get("headers") or []):
        return
    drained = 0
    while drained <= bound:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they declare a length."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            if declared.isdigit():
                await _drain(scope, receive)
            return await _too_large(send, self.limit)
        # Read the body first (it is small by definition), then hand it to the app.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([], message), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                if message.get("more_body", False):
                    await _drain(scope, receive)
                return await _too_large(send, self.limit)
            more = message.get("more_body", False)
        return await self.app(scope, _replay(chunks, None, receive), send)


def _replay(chunks: list[bytes], final: dict | None, receive=None):
    """A receive callable that gives back a body already read, then defers to the real one."""
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}] if final is None else [final]

    async def replay():
        if pending:
            return pending.pop()
        if receive is not None:
            return await receive()
        return {"type": "http.disconnect"}

    return replay


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"detail": f"request body too large: the limit is {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, searcher: Searcher | None = None, watch: bool | None = None) -> FastAPI:
    """The app for one index. Pass a ready ``searcher`` (tests) or let it load from ``settings``.

    ``watch`` (default: on when the app loads its own index) reloads the index when it is rebuilt.
    """
    settings = settings or Settings.from_env()
    _return_large_blocks_to_the_system()
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
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")
    _mount_swagger_assets(app)

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

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.headers.get("content-type", "").startswith("text/html"):
            csp = DOCS_CSP if request.url.path == "/docs" else PAGE_CSP
            response.headers.setdefault("Content-Security-Policy", csp)
        return response

    app.add_exception_handler(StoreUnavailable, lambda _request, error: store_unavailable_response(error))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        # Never a stack trace in a response; the server log has it.
        return JSONResponse({"detail": "internal error"}, status_code=500)

    # -- JSON ------------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["meta"])
    def healthz() -> Health:
        searcher_ = current()
        return Health(
            status="ok", version=__version__, model=searcher_.index.model, backend=searcher_.index.backend,
            documents=len(searcher_.index.documents), chunks=len(searcher_.index.chunks),
        )

    @app.get("/readyz", response_model=Ready, tags=["meta"], responses={503: {"description": "Not ready"}})
    def readyz() -> JSONResponse:
        """Ready to answer: the model is loaded and the index store answers (503 with why, otherwise)."""
        return readiness(reloader.searcher)

    @app.post(
        "/api/ask", response_model=AskResponse, tags=["ask"],
        responses={
            400: {"model": ErrorOut, "description": "The body could not be read (not UTF-8)"},
            413: {"model": ErrorOut, "description": f"The body is over {MAX_BODY_BYTES} bytes"},
        },
    )
    def ask_post(body: AskRequest) -> dict:
        """Ask a question; returns the top ``k`` passages with citations, highlights and the answer."""
        return answer_json(_ask(current(), body.question, body.k, body.filters(), "body"))

    @app.get("/api/ask", response_model=AskResponse, tags=["ask"])
    def ask_get(
        q: Annotated[str, Query(max_length=MAX_QUESTION_CHARS, description="The question.")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="How many passages.")] = 5,
        speaker: Annotated[str | None, Query(max_length=200)] = None,
        date_from: Annotated[date | None, Query()] = None,
        date_to: Annotated[date | None, Query()] = None,
        doc_id: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict:
        """The same as ``POST /api/ask``, with the question and filters in the query string."""
        if not q.strip():
            raise _invalid("query", "q", q, "question must not be empty or only whitespace")
        filters = Filters(
            speaker or None, date_from.isoformat() if date_from else None,
            date_to.isoformat() if date_to else None, doc_id or None,
        )
        return answer_json(_ask(current(), q, k, filters, "query"))

    @app.get("/api/speakers", response_model=list[str], tags=["documents"])
    def speakers() -> list[str]:
        """The speakers that can be given as the ``speaker`` filter."""
        return current().index.speakers

    @app.get("/api/documents", response_model=list[DocumentSummary], tags=["documents"])
    def documents() -> list[DocumentSummary]:
        return [_summary(d) for d in _sorted_documents(current())]

    @app.get(
        "/api/documents/{doc_id}", response_model=DocumentDetail, tags=["documents"],
        responses={404: {"description": "No document with that id"}},
    )
    def document(doc_id: str) -> DocumentDetail:
        transcript = _find_document(current(), doc_id)
        return DocumentDetail(
            **_meta(transcript), format=transcript.format, raw=transcript.raw,
            turns=[TurnOut(**asdict(t)) for t in transcript.turns],
        )

    # -- Pages -----------------------------------------------------------------------------

    def page_context(**values: object) -> dict:
        index = current().index
        return {
            "speakers": index.speakers,
            "date_min": index.dates[0] if index.dates else "",
            "date_max": index.dates[-1] if index.dates else "",
            "documents": len(index.documents),
            "chunks": len(index.chunks),
            "q": "", "k": 5, "filters": Filters(),
            "doc_title": None,
            **values,
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", page_context())

    @app.get("/ask", response_class=HTMLResponse, include_in_schema=False)
    def ask_page(
        request: Request, q: str = "", k: str = "5", speaker: str = "", date_from: str = "",
        date_to: str = "", doc_id: str = "",
    ) -> HTMLResponse:
        filters = Filters(speaker.strip() or None, date_from or None, date_to or None, doc_id or None)
        searcher_ = current()
        doc = searcher_.index.documents.get(doc_id) if doc_id else None
        context = page_context(q=q, k=k, filters=filters, doc_title=doc.title if doc else None)
        try:
            k_value = int(k) if k.strip().isdigit() else -1
            answer = searcher_.ask(q, k_value, filters)
        except QuestionError as error:
            return templates.TemplateResponse(
                request, "results.html", {**context, "error": str(error), "answer": None}, status_code=422,
            )
        rendered = [
            (passage, _marked_segments(searcher_.index.documents[passage.citation.doc_id].raw, passage))
            for passage in answer.passages
        ]
        return templates.TemplateResponse(
            request, "results.html", {**context, "k": k_value, "error": None, "answer": answer, "rendered": rendered},
        )

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(
        request: Request, doc_id: str, start: int | None = None, end: int | None = None, hl: str = "",
    ) -> HTMLResponse:
        transcript = _find_document(current(), doc_id)
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

    return app


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


def app_from_env() -> FastAPI:
    """The app for ``qa serve --workers N``: each worker process builds its own from QA_* settings."""
    return create_app(Settings.from_env(), watch=True)


def load_searcher(settings: Settings) -> Searcher:
    """Load the index and the model named in settings (one model load per process).

    Each query then runs on one core: its numeric libraries (OpenBLAS, FAISS's OpenMP) are
    limited to one thread in this process, as the query encoder is. A query is too small to
    gain from more, and idle pool threads spinning between calls took the other core from
    concurrent requests (measured: the same p50, half the CPU per query; README.md).
    """
    from threadpoolctl import threadpool_limits

    from qa.embedding import get_encoder
    from qa.store import open_store

    threadpool_limits(1)

    index = open_store(settings)
    # Questions are embedded the way the index's passages were.
    encoder = get_encoder(settings.model, index.backend)
    return Searcher(index, encoder, settings.max_question_chars, settings.max_k)


def _ask(searcher: Searcher, question: str, k: int, filters: Filters, where: str) -> Answer:
    try:
        return searcher.ask(question, k, filters)
    except QuestionError as error:
        field = "q" if where == "query" and error.field == "question" else error.field
        raise _invalid(where, field, getattr(filters, error.field, question), str(error)) from None


def _invalid(where: str, field: str, value: object, message: str) -> RequestValidationError:
    """A 422 in FastAPI's documented shape, so every error matches the OpenAPI schema."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, field), "input": value, "msg": f"Value error, {message}"}]
    )


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


def _sorted_documents(searcher: Searcher):
    return sorted(searcher.index.documents.values(), key=lambda d: (d.date or "", d.doc_id))


def _meta(transcript) -> dict:
    return {name: getattr(transcript, name) for name in DocumentMeta.model_fields}


def _summary(transcript) -> DocumentSummary:
    return DocumentSummary(**_meta(transcript), turns=len(transcript.turns))


def _find_document(searcher: Searcher, doc_id: str):
    # Ids are looked up in the loaded index only, never used as a path.
    if not _DOC_ID.fullmatch(doc_id) or doc_id not in searcher.index.documents:
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id[:200]!r}")
    return searcher.index.documents[doc_id]
