"""Shared fixtures: the real model loaded once per session, small real indexes, a live server."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SHARED = Path(os.environ.get("QA_SHARED", REPO.parent / "shared"))
WH_DIR = SHARED / "corpus" / "wh-press-briefings"
DEV_SET = SHARED / "eval" / "dev.jsonl"

# A few White House briefings that several tests (and the dev questions) talk about.
WH_SAMPLE = (
    "2021-01-25_wh_pb-psaki-january-25-2021.txt",
    "2021-10-04_wh_bg-call-sao-on-the-administrations-trade-approach-to-china.txt",
    "2021-11-16_wh_bg-call-sao-on-president-bidens-virtual-meeting-with-2.txt",
    "2022-03-18_wh_bg-call-a-sao-on-president-bidens-call-with-president-xi.txt",
    "2023-08-22_wh_gaggle-nsa-sullivan-2.txt",
)


HOSTILE_FILE = "2024-04-01_hostile-markup.txt"
HOSTILE_TEXT = (
    "MR. SPOKESMAN:  <script>alert('transcript')</script><img src=x onerror=\"alert('img')\">\n"
    "The tulip festival in the capital opens on the first of May, and the tulip parade follows.\n"
)


def shared_available() -> bool:
    return WH_DIR.is_dir()


requires_shared = pytest.mark.skipif(
    not shared_available(),
    reason=f"needs the shared corpus at {WH_DIR} (set QA_SHARED to its folder); CI has it",
)


class StandInEncoder:
    """A deterministic bag-of-words embedder for fast tests of the logic around the model."""

    name = "stand-in-hash-256"
    dimension = 256
    # qa.embedding.TextEncoder: no prompts, no token limit; recorded as computed in-process ("torch").
    backend = "torch"
    prompts = {"query": "", "document": ""}
    max_tokens = None

    def encode_queries(self, texts, batch_size: int = 32) -> np.ndarray:
        return self.encode(texts, batch_size)

    def encode(self, texts, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                vectors[row, bucket % self.dimension] += 1.0
            norm = np.linalg.norm(vectors[row])
            if norm:
                vectors[row] /= norm
        return vectors


@pytest.fixture(scope="session")
def stand_in_encoder() -> StandInEncoder:
    return StandInEncoder()


@pytest.fixture(scope="session")
def encoder():
    """The real default model on the default backend, loaded once for the whole test session."""
    from qa.embedding import get_encoder
    from qa.settings import DEFAULT_BACKEND, DEFAULT_MODEL

    return get_encoder(DEFAULT_MODEL, DEFAULT_BACKEND)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """The seeds, plus the White House sample when the shared corpus is present."""
    folder = tmp_path_factory.mktemp("corpus")
    for path in SEEDS.glob("*.txt"):
        shutil.copy(path, folder / path.name)
    if shared_available():
        for name in WH_SAMPLE:
            shutil.copy(WH_DIR / name, folder / name)
    # A scraped transcript carrying markup that must only ever be shown as text.
    (folder / HOSTILE_FILE).write_text(HOSTILE_TEXT, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def built_index(tmp_path_factory, corpus_dir, encoder) -> Path:
    """A real index (real model) of ``corpus_dir``."""
    from qa.build import build_index

    out = tmp_path_factory.mktemp("index") / "index"
    build_index([corpus_dir], out, encoder)
    return out


class MilvusServer:
    """``milvus-lite server`` (Milvus's gRPC API on a port) as a real process, for the Milvus-store tests."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.data_dir, self.log_path, self.port = data_dir, log_path, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir),
             "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"milvus-lite server did not start:\n{self.log_path.read_text()}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A milvus-lite server for this test session (started here: CI needs nothing running)."""
    folder = tmp_path_factory.mktemp("milvus")
    server = MilvusServer(folder / "data", folder / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def milvus_index(milvus_server, built_index) -> tuple[str, str]:
    """``built_index`` published to the milvus-lite server: (uri, collection prefix)."""
    from qa.stores.embedded import Index
    from qa.stores.milvus_publish import publish

    publish(Index.load(built_index), milvus_server.uri, "tests")
    return milvus_server.uri, "tests"


@pytest.fixture(scope="session", params=["embedded", "milvus"])
def store_name(request) -> str:
    """Each test that asks for the searcher, app or client runs on both stores."""
    return request.param


@pytest.fixture(scope="session")
def searcher(request, store_name, built_index, encoder):
    from qa.stores.embedded import Index
    from qa.search import Searcher

    if store_name == "milvus":
        from qa.stores.milvus import MilvusStore

        uri, prefix = request.getfixturevalue("milvus_index")
        return Searcher(MilvusStore.open(uri, prefix, model=encoder.name), encoder)
    return Searcher(Index.load(built_index, model=encoder.name), encoder)


@pytest.fixture(scope="session")
def store_args(request, store_name, built_index) -> list[str]:
    """The ``qa`` options that name the same index on the store under test."""
    if store_name == "milvus":
        uri, prefix = request.getfixturevalue("milvus_index")
        return ["--store", "milvus", "--milvus-uri", uri, "--milvus-prefix", prefix]
    return ["--index", str(built_index)]


@pytest.fixture(scope="session")
def app(searcher):
    from qa.api import create_app

    return create_app(searcher=searcher)


@pytest.fixture(scope="session")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(index: Path, log_path: Path, *extra: str, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """``qa serve`` on ``index`` as a real process on 127.0.0.1, once it answers /healthz.

    Fails the test with the server's log if it exits or does not answer within ``timeout``.
    """
    import httpx

    port = free_port()
    log = open(log_path, "w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "serve", "--index", str(index), "--port", str(port), *extra],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        problem = None
        if process.poll() is not None:
            problem = f"qa serve exited with {process.returncode}"
        else:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return process, base
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                problem = f"qa serve did not answer within {timeout:.0f} s"
        if problem:
            stop_server(process)
            log.seek(0)
            pytest.fail(f"{problem}:\n{log.read()}")
        time.sleep(0.3)


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def live_server(built_index):
    """``qa serve`` as a real process on 127.0.0.1, yielding its base URL."""
    process, base = start_server(built_index, built_index.parent / "server.log")
    try:
        yield base
    finally:
        stop_server(process)


def assert_citation_invariant(passage: dict, raw_by_path: dict[str, str]) -> None:
    """The passage text is exactly raw[start:end] of its source file, whitespace collapsed."""
    citation = passage["citation"]
    raw = raw_by_path[citation["path"]]
    start, end = citation["start"], citation["end"]
    assert 0 <= start < end <= len(raw)
    assert " ".join(raw[start:end].split()) == passage["text"]
    assert not raw[start].isspace() and not raw[end - 1].isspace()


def read_raw(path: Path) -> str:
    """A source file's text, read again from disk through the public reader: a plain text file
    exactly as decoded (bytes as UTF-8, no newline translation); a Markdown file as the text it
    shows (escapes and emphasis marks resolved), which its citations point into."""
    from qa.readers import load_transcript

    return load_transcript(path).raw
