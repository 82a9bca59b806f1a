"""The measurement scripts in bench/ refuse bad arguments with a clear message and touch nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "bench" / name), *args], capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )


def run_probe(*args: str) -> subprocess.CompletedProcess:
    return run_script("adaptation_probe.py", *args)


def test_adaptation_probe_refuses_too_few_pairs(tmp_path):
    result = run_probe("--index", str(tmp_path), "--out", str(tmp_path / "model"), "--pairs", "0")
    assert result.returncode == 2
    assert "--pairs must be at least 32 (one training step), not 0" in result.stderr
    assert not (tmp_path / "model").exists()


def test_adaptation_probe_refuses_a_folder_without_an_index(tmp_path):
    result = run_probe("--index", str(tmp_path / "nowhere"), "--out", str(tmp_path / "model"))
    assert result.returncode == 2
    assert "adaptation_probe: error: no index at" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "model").exists()


def test_adaptation_probe_never_overwrites_an_existing_model_folder(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_probe("--index", str(tmp_path), "--out", str(out))
    assert result.returncode == 2
    assert "exists already" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("script", ["encoder_variants.py", "profile_query.py", "answer_ablation.py", "match_floor.py",
                                    "timeline.py"])
def test_measurement_scripts_refuse_a_folder_without_an_index(tmp_path, script):
    result = run_script(script, "--index", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert f"{script.removesuffix('.py')}: error: no index at" in result.stderr
    assert "Traceback" not in result.stderr


def test_encoder_variants_refuses_a_sample_step_below_one(tmp_path):
    result = run_script("encoder_variants.py", "--index", str(tmp_path), "--every", "0")
    assert result.returncode == 2
    assert "--every must be at least 1, not 0" in result.stderr
