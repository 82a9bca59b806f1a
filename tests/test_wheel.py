"""The package as a newcomer installs it: the built wheel in a fresh venv, then `qa index` and `qa serve`."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from conftest import REPO, SEEDS, free_port

pytestmark = pytest.mark.slow

# What a warning from the one-off ONNX export looked like before it was silenced (qa/embedding.py).
EXPORT_NOISE = ("TracerWarning", "pre-processing before quantization", "aten::index", "Loading weights")


def run(command: list, cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (the checkout gets no build/ or egg-info)."""
    # Never a silent skip: setuptools is in the dev extra that `make install` installs.
    assert importlib.util.find_spec("setuptools") is not None, (
        "cannot build the wheel: setuptools is missing (pip install -e '.[dev]' installs it)")
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("qa", "web"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the build backend (setuptools) is the one already installed here.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out), "."],
        source, os.environ.copy(), timeout=120)
    (built,) = out.glob("briefing_qa-*.whl")
    return built


def test_wheel_holds_the_templates_and_static_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"qa/web/templates/{p.name}" for p in (REPO / "web" / "templates").glob("*.html")}
    expected.add("qa/answer_model.json")  # the fitted answer model
    expected |= {f"qa/web/static/{p.name}" for p in (REPO / "web" / "static").iterdir() if p.is_file()}
    assert expected and expected <= names, expected - names


def test_installed_wheel_indexes_and_serves(wheel, tmp_path):
    venv = tmp_path / "venv"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "QA_CACHE": str(tmp_path / "cache"),
           "PYTHONUNBUFFERED": "1"}
    for name in ("QA_INDEX", "QA_SOURCES", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)
    run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, timeout=120)
    # As the Makefile does: torch pinned in the same pip command (its CPU wheel), from pip's cache;
    # without compiling every installed module to bytecode first (torch alone has thousands), which
    # Python does on first import anyway.
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", "torch==2.13.0", str(wheel)],
        tmp_path, env, timeout=600)

    # A working folder that is not the checkout: the defaults (seeds/ in, index/ out) are relative to it.
    work = tmp_path / "work"
    shutil.copytree(SEEDS, work / "seeds")
    qa = str(venv / "bin" / "qa")
    built = run([qa, "index"], work, env, timeout=300)
    assert (work / "index" / "manifest.json").is_file(), built.stdout + built.stderr
    noise = [line for line in built.stderr.splitlines() if any(n in line for n in EXPORT_NOISE)]
    assert not noise, built.stderr

    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen([qa, "serve", "--index", "index", "--port", str(port)], cwd=work, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"qa serve exited with {server.returncode}:\n{log.seek(0) or log.read()}"
            try:
                home = httpx.get(f"{base}/", timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, f"qa serve did not answer:\n{log.seek(0) or log.read()}"
                time.sleep(0.5)
        assert home.status_code == 200 and "briefing-qa" in home.text
        assert httpx.get(f"{base}/static/style.css").status_code == 200
        assert httpx.get(f"{base}/swagger/swagger-ui-bundle.js").status_code == 200
        answer = httpx.get(f"{base}/api/ask", params={"q": "How many support measures were introduced?"}).json()
        assert answer["passages"]
    finally:
        server.terminate()
        server.wait(timeout=20)
