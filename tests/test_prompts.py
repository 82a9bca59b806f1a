"""Encoders with query and document prompts: applied, recorded in the manifest, a mismatch refused.

The model is a copy of MiniLM made here with a prompts configuration, as EmbeddingGemma, e5 or
bge name theirs, so the test runs on every machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SEEDS

pytestmark = pytest.mark.slow

PROMPTS = {"query": "query: ", "document": "passage: "}


def _minilm_folder() -> Path:
    from qa.embedding import resolve_model
    from qa.settings import DEFAULT_MODEL

    return Path(resolve_model(DEFAULT_MODEL))


@pytest.fixture(scope="module")
def prompted_model(tmp_path_factory) -> Path:
    """A copy of MiniLM whose configuration names a query and a document prompt."""
    folder = tmp_path_factory.mktemp("models") / "minilm-with-prompts"
    shutil.copytree(_minilm_folder(), folder)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    config["prompts"] = dict(PROMPTS)
    config_path.write_text(json.dumps(config))
    return folder


def test_prompts_read_from_the_configuration(prompted_model):
    from qa.embedding import read_prompts

    assert read_prompts(prompted_model) == PROMPTS
    assert read_prompts(_minilm_folder()) == {"query": "", "document": ""}


def test_other_spellings_of_the_document_prompt(tmp_path):
    from qa.embedding import read_prompts

    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q: ", "passage": "p: "}}))
    assert read_prompts(tmp_path) == {"query": "q: ", "document": "p: "}
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "Represent: "}}))
    assert read_prompts(tmp_path) == {"query": "Represent: ", "document": ""}


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_questions_and_passages_get_their_prompts(prompted_model, backend, encoder):
    """Encoding "x" with the prompted model is encoding "query: x" / "passage: x" with plain MiniLM."""
    from qa.embedding import get_encoder
    from qa.settings import DEFAULT_MODEL

    prompted = get_encoder(str(prompted_model), backend)
    plain = get_encoder(DEFAULT_MODEL, backend)
    assert prompted.prompts == PROMPTS and plain.prompts == {"query": "", "document": ""}
    text = "What did the press secretary say about the infrastructure bill?"
    as_question = prompted.encode_queries([text])[0]
    as_passage = prompted.encode([text])[0]
    assert float(as_question @ plain.encode(["query: " + text])[0]) > 0.999
    assert float(as_passage @ plain.encode(["passage: " + text])[0]) > 0.999
    # The prompts change the vectors: a test that would pass without them would be worthless.
    assert float(as_question @ as_passage) < 0.999
    assert float(as_question @ plain.encode([text])[0]) < 0.999


def _qa(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    environment = {**os.environ, **(env or {})}
    environment.pop("QA_MODEL", None)
    return subprocess.run([sys.executable, "-m", "qa.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env=environment, timeout=300)


def test_manifest_records_the_prompts_and_serving_follows_them(prompted_model, tmp_path):
    """Built with --model, the index names its model and prompts; asking needs no --model again,
    and the question is encoded with the query prompt."""
    from qa.embedding import get_encoder
    from qa.reloader import load_searcher
    from qa.settings import Settings

    out = tmp_path / "index"
    built = _qa("--model", str(prompted_model), "--backend", "torch", "index", "--source", str(SEEDS), "--out", str(out))
    assert built.returncode == 0, built.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == str(prompted_model)
    assert manifest["prompts"] == PROMPTS
    assert manifest["backend"] == "torch" and manifest["dimension"] == 384

    searcher = load_searcher(Settings(index_dir=out))
    assert searcher.encoder.prompts == PROMPTS
    question = "How much is the vaccine donation?"
    query = searcher.query(question)
    expected = get_encoder(str(prompted_model), "torch").encode_queries([question])[0]
    assert np.allclose(query.vector, expected, atol=1e-5)

    asked = _qa("ask", question, "--index", str(out))
    assert asked.returncode == 0, asked.stderr
    assert "built with model" not in asked.stderr


def test_prompts_changed_after_the_build_are_refused(prompted_model, tmp_path):
    from qa.embedding import ModelError, get_encoder
    from qa.reloader import load_searcher
    from qa.settings import Settings

    model = tmp_path / "model"
    shutil.copytree(prompted_model, model)
    out = tmp_path / "index"
    assert _qa("--model", str(model), "--backend", "torch", "index", "--source", str(SEEDS), "--out", str(out)).returncode == 0
    config_path = model / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["prompts"] = {"query": "search_query: ", "document": "search_document: "}
    config_path.write_text(json.dumps(config))
    get_encoder.cache_clear()
    with pytest.raises(ModelError, match="built with the prompts"):
        load_searcher(Settings(index_dir=out))
    asked = _qa("ask", "anything", "--index", str(out))
    assert asked.returncode == 1
    assert "built with the prompts" in asked.stderr and "rebuild the index" in asked.stderr
    # A rebuild that reuses vectors must not reuse ones made with the old prompts.
    rebuilt = _qa("--model", str(model), "--backend", "torch", "index", "--source", str(SEEDS), "--out", str(out))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "0 reused" in rebuilt.stdout
    assert json.loads((out / "manifest.json").read_text())["prompts"]["query"] == "search_query: "
