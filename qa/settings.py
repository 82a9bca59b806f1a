"""Settings: paths, model and limits, read once from the environment and overridden by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_BACKEND = "onnx-int8"


# The limits on a question: its length in characters, the passages one page may ask for and how
# far paging may go. The API's schema, the command line and the searcher all read them from here.
MAX_QUESTION_CHARS = 1000
MAX_K = 50
# How far paging may go (offset), in passages.
MAX_OFFSET = 100_000
# The orders a search may list passages in: by relevance, or every match by date.
SORTS = ("relevance", "newest", "oldest")
# Which passages a search returns: the officials' replies, the reporters' questions, or both
# (the default of each kind of search: qa.stores.seam.default_role).
ROLES = ("answers", "questions", "both")


@dataclass(frozen=True)
class Settings:
    """Everything configurable. ``QA_*`` environment variables set the defaults; flags win."""

    # Relative to the working directory, as `make` and a fresh clone use them; never to where the
    # package is installed (site-packages has neither an index nor transcripts).
    index_dir: Path = Path("index")
    sources: tuple[Path, ...] = (Path("seeds"),)
    # None: the model an index names in its manifest (serving, asking), DEFAULT_MODEL when building.
    model: str | None = None
    # Which runtime embeds passages when an index is built. Questions are always embedded with
    # the backend the index was built with, which the manifest records.
    backend: str = DEFAULT_BACKEND
    batch_size: int = 32
    # Where the index is served from: "embedded" (the folder index_dir) or "milvus" (collections
    # named by milvus_prefix on the Milvus at milvus_uri: a milvus-lite file or http://host:19530).
    store: str = "embedded"
    milvus_uri: str = str(Path(".cache") / "milvus.db")
    milvus_prefix: str = "briefing_qa"
    host: str = "127.0.0.1"
    port: int = 8000
    # Origins (scheme://host[:port]) whose pages may call the JSON API from a browser; none by default.
    cors_origins: tuple[str, ...] = ()
    # The answer model to serve with (None: the one shipped for the index's encoder); make bench
    # serves one without the cross-encoder beside the shipped one to measure what it adds.
    answer_model: Path | None = None
    max_question_chars: int = MAX_QUESTION_CHARS
    max_k: int = MAX_K

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls()
        if env.get("QA_INDEX"):
            settings = replace(settings, index_dir=Path(env["QA_INDEX"]))
        if env.get("QA_MODEL"):
            settings = replace(settings, model=env["QA_MODEL"])
        if env.get("QA_BACKEND"):
            settings = replace(settings, backend=env["QA_BACKEND"])
        if env.get("QA_SOURCES"):
            paths = tuple(Path(p) for p in env["QA_SOURCES"].split(os.pathsep) if p)
            settings = replace(settings, sources=paths)
        if env.get("QA_CORS_ORIGINS"):
            settings = replace(settings, cors_origins=parse_origins(env["QA_CORS_ORIGINS"]))
        if env.get("QA_STORE"):
            settings = replace(settings, store=env["QA_STORE"])
        if env.get("QA_MILVUS_URI"):
            settings = replace(settings, milvus_uri=env["QA_MILVUS_URI"])
        if env.get("QA_MILVUS_PREFIX"):
            settings = replace(settings, milvus_prefix=env["QA_MILVUS_PREFIX"])
        if env.get("QA_ANSWER_MODEL"):
            settings = replace(settings, answer_model=Path(env["QA_ANSWER_MODEL"]))
        if env.get("QA_BATCH_SIZE"):
            settings = replace(settings, batch_size=int(env["QA_BATCH_SIZE"]))
        return settings

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields replaced; ``None`` values (flags not given) are ignored."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})


def parse_origins(text: str) -> tuple[str, ...]:
    """'https://a.example, https://b.example/' -> the origins, as a browser sends them (no final '/')."""
    return tuple(dict.fromkeys(part.strip().rstrip("/") for part in text.replace(",", " ").split() if part.strip("/ ")))
