"""HTTP edge: the JSON API and the server-rendered web pages, thin layers over ``qa.search``."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, field_validator

from qa import __version__
from qa.search import Answer, QuestionError, Searcher
from qa.settings import PROJECT_ROOT, Settings

WEB_DIR = PROJECT_ROOT / "web"
MAX_QUESTION_CHARS = 1000
MAX_K = 50
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

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must not be empty or only whitespace")
        return value


class CitationOut(BaseModel):
    doc_id: str
    path: str = Field(description="The file's path relative to the folder it was indexed from.")
    title: str
    date: str | None = Field(description="ISO date of the briefing, when the file gives one.")
    source: str | None
    url: str | None
    speaker: str | None
    turn: int = Field(description="Index of the speaker turn in the document.")
    start: int = Field(description="Character offset of the passage's first character in the raw file.")
    end: int = Field(description="Character offset just past the passage's last character.")


class PassageOut(BaseModel):
    rank: int
    score: float
    text: str = Field(description="Exactly raw[start:end] with every whitespace run collapsed to one space.")
    citation: CitationOut
    in_reply_to: str | None = Field(None, description="The question this passage answers, shortened.")


class AskResponse(BaseModel):
    question: str
    passages: list[PassageOut]
    took_ms: float


class TurnOut(BaseModel):
    index: int
    speaker: str | None
    start: int
    end: int
    is_question: bool
    question_turn: int | None


class DocumentSummary(BaseModel):
    doc_id: str
    path: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    turns: int


class DocumentDetail(BaseModel):
    doc_id: str
    path: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    format: str
    raw: str
    turns: list[TurnOut]


class Health(BaseModel):
    status: str
    version: str
    model: str
    documents: int
    chunks: int


def answer_json(answer: Answer) -> dict:
    """The API's JSON for an answer; the CLI prints exactly this too."""
    return AskResponse(
        question=answer.question,
        passages=[PassageOut(**asdict(p)) for p in answer.passages],
        took_ms=answer.took_ms,
    ).model_dump(mode="json")


# ---------------------------------------------------------------------------------------------
# The application


def create_app(settings: Settings | None = None, searcher: Searcher | None = None) -> FastAPI:
    """The app for one index. Pass a ready ``searcher`` (tests) or let it load from ``settings``."""
    settings = settings or Settings.from_env()
    state: dict[str, Searcher] = {}
    if searcher is not None:
        state["searcher"] = searcher

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if "searcher" not in state:
            state["searcher"] = load_searcher(settings)
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
        return state["searcher"]

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.headers.get("content-type", "").startswith("text/html"):
            csp = DOCS_CSP if request.url.path == "/docs" else PAGE_CSP
            response.headers.setdefault("Content-Security-Policy", csp)
        return response

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        # Never a stack trace in a response; the server log has it.
        return JSONResponse({"detail": "internal error"}, status_code=500)

    # -- JSON ------------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["meta"])
    def healthz() -> Health:
        searcher_ = current()
        return Health(
            status="ok", version=__version__, model=searcher_.index.model,
            documents=len(searcher_.index.documents), chunks=len(searcher_.index.chunks),
        )

    @app.post("/api/ask", response_model=AskResponse, tags=["ask"])
    def ask_post(body: AskRequest) -> dict:
        """Ask a question; returns the top ``k`` passages with citations."""
        return answer_json(_ask(current(), body.question, body.k))

    @app.get("/api/ask", response_model=AskResponse, tags=["ask"])
    def ask_get(
        q: Annotated[str, Query(max_length=MAX_QUESTION_CHARS, description="The question.")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="How many passages.")] = 5,
    ) -> dict:
        """The same as ``POST /api/ask``, with the question in the query string."""
        if not q.strip():
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("query", "q"), "input": q,
                  "msg": "Value error, question must not be empty or only whitespace"}]
            )
        return answer_json(_ask(current(), q, k))

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
            doc_id=transcript.doc_id, path=transcript.path, title=transcript.title, date=transcript.date,
            source=transcript.source, url=transcript.url, format=transcript.format, raw=transcript.raw,
            turns=[TurnOut(**asdict(t)) for t in transcript.turns],
        )

    # -- Pages -----------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        searcher_ = current()
        return templates.TemplateResponse(
            request, "index.html",
            {"documents": len(searcher_.index.documents), "chunks": len(searcher_.index.chunks)},
        )

    @app.get("/ask", response_class=HTMLResponse, include_in_schema=False)
    def ask_page(request: Request, q: str = "", k: str = "5") -> HTMLResponse:
        try:
            k_value = int(k)
        except ValueError:
            k_value = -1
        try:
            answer = current().ask(q, k_value)
        except QuestionError as error:
            return templates.TemplateResponse(
                request, "results.html", {"q": q, "k": k, "error": str(error), "answer": None},
                status_code=422,
            )
        return templates.TemplateResponse(
            request, "results.html", {"q": q, "k": k_value, "error": None, "answer": answer}
        )

    @app.get("/documents/{doc_id}", response_class=HTMLResponse, include_in_schema=False)
    def document_page(request: Request, doc_id: str, start: int | None = None, end: int | None = None) -> HTMLResponse:
        transcript = _find_document(current(), doc_id)
        raw = transcript.raw
        highlight = start is not None and end is not None and 0 <= start < end <= len(raw)
        parts = (raw[:start], raw[start:end], raw[end:]) if highlight else (raw, "", "")
        return templates.TemplateResponse(
            request, "document.html",
            {"doc": transcript, "before": parts[0], "cited": parts[1], "after": parts[2], "highlight": highlight},
        )

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="briefing-qa API",
            swagger_js_url="/swagger/swagger-ui-bundle.js", swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
        )

    return app


def _mount_swagger_assets(app: FastAPI) -> None:
    """Serve Swagger UI from the installed package: this machine cannot reach a CDN."""
    try:
        import swagger_ui_bundle
    except ImportError:  # pragma: no cover - /docs then shows a blank page; /openapi.json still works
        return
    app.mount("/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")


def load_searcher(settings: Settings) -> Searcher:
    """Load the index and the model named in settings (one model load per process)."""
    from qa.embedding import get_encoder
    from qa.index import Index

    index = Index.load(Path(settings.index_dir), model=settings.model)
    return Searcher(index, get_encoder(settings.model), settings.max_question_chars, settings.max_k)


def _ask(searcher: Searcher, question: str, k: int) -> Answer:
    try:
        return searcher.ask(question, k)
    except QuestionError as error:  # the models validate first; this is the library's last word
        raise HTTPException(status_code=422, detail=str(error)) from None


def _sorted_documents(searcher: Searcher):
    return sorted(searcher.index.documents.values(), key=lambda d: (d.date or "", d.doc_id))


def _summary(transcript) -> DocumentSummary:
    return DocumentSummary(
        doc_id=transcript.doc_id, path=transcript.path, title=transcript.title, date=transcript.date,
        source=transcript.source, url=transcript.url, turns=len(transcript.turns),
    )


def _find_document(searcher: Searcher, doc_id: str):
    # Ids are looked up in the loaded index only, never used as a path.
    if not _DOC_ID.fullmatch(doc_id) or doc_id not in searcher.index.documents:
        raise HTTPException(status_code=404, detail=f"no document with id {doc_id[:200]!r}")
    return searcher.index.documents[doc_id]
