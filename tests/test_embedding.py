"""Encoder backends: PyTorch (the reference) and ONNX Runtime fp32 / int8, on the packaged model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SEEDS
from qa.embedding import ModelError, get_encoder

pytestmark = pytest.mark.slow

SENTENCES = [
    "How many specific support measures did the SME service initiative introduce?",
    "The central government has allocated 2.7 billion yuan for these efforts.",
    "So, on the Olympics, it did not come up.",
    "Thank you.",
    "word " * 400,  # longer than the model reads: truncated the same way by every backend
]


@pytest.fixture(scope="module")
def torch_encoder():
    return get_encoder("all-MiniLM-L6-v2", "torch")


def test_default_backend_is_the_measured_fastest(encoder):
    assert encoder.backend == "onnx-int8"


def test_torch_encoder_gives_unit_vectors(torch_encoder):
    encoder = torch_encoder
    vectors = encoder.encode(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(encoder.encode(SENTENCES[:1]), vectors[:1], atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


@pytest.mark.parametrize(("backend", "lowest", "mean"), [("onnx", 0.999, 0.999), ("onnx-int8", 0.93, 0.98)])
def test_onnx_backends_agree_with_torch(torch_encoder, backend, lowest, mean):
    encoder = torch_encoder
    onnx = get_encoder(encoder.name, backend)
    assert onnx.backend == backend and onnx.dimension == encoder.dimension
    reference, vectors = encoder.encode(SENTENCES), onnx.encode(SENTENCES, batch_size=2)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (reference * vectors).sum(axis=1)
    assert cosines.min() >= lowest and cosines.mean() >= mean, cosines


def test_index_records_its_backend_and_queries_use_it(tmp_path):
    from qa.reloader import load_searcher
    from qa.build import build_index
    from qa.settings import Settings

    out = tmp_path / "index"
    build_index([SEEDS], out, get_encoder("all-MiniLM-L6-v2", "onnx-int8"))
    assert json.loads((out / "manifest.json").read_text())["backend"] == "onnx-int8"
    searcher = load_searcher(Settings(index_dir=out))
    assert searcher.encoder.backend == "onnx-int8"
    answer = searcher.ask("Which stock exchange did MIIT sign a cooperation agreement with?", 3)
    assert "Beijing Stock Exchange" in answer.passages[0].text


def test_unknown_backend_and_unreachable_model_fail_clearly():
    with pytest.raises(ModelError, match="unknown encoder backend 'gpu'"):
        get_encoder("all-MiniLM-L6-v2", "gpu")
    with pytest.raises(ModelError, match="no access to the Hugging Face hub"):
        get_encoder("someone/not-on-this-machine")
