"""The measurement scripts in bench/ refuse bad arguments with a clear message and touch nothing."""

from __future__ import annotations

import json
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


def test_milvus_sizing_refuses_a_size_below_a_thousand_windows(tmp_path):
    result = run_script("milvus_sizing.py", "--windows", "10", "--out", str(tmp_path / "sizing.json"))
    assert result.returncode == 2
    assert "each size must be at least 1000" in result.stderr
    assert not (tmp_path / "sizing.json").exists()


def test_milvus_sizing_measures_a_tiny_archive_on_milvus_lite(tmp_path):
    """1,000 and 2,000 windows, FLAT and HNSW, on a milvus-lite server; no index needed (seeds/ and a fixed generator)."""
    pytest.importorskip("milvus_lite")
    out = tmp_path / "sizing.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "milvus_sizing.py"), "--windows", "1000", "2000", "--dense", "HNSW",
         "--queries", "20", "--eval-index", str(tmp_path / "no-index"), "--workdir", str(tmp_path / "work"),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["source"]["from"].startswith("seeds/")
    assert figures["machine"]["cores"] and figures["engine"]["milvus_lite"]
    assert [size["windows"] for size in figures["sizes"]] == [1000, 2000]
    for size in figures["sizes"]:
        assert set(size["dense"]) == {"FLAT", "HNSW"}
        hnsw = size["dense"]["HNSW"]
        assert hnsw["disk"]["index:vector.hnsw"]["du_bytes"] / size["windows"] > 0
        assert hnsw["disk"]["rows"]["du_bytes"] / size["windows"] > 0
        assert hnsw["rss_bytes"]["opened"] > 0 and hnsw["rss_bytes"]["loaded"] > 0
        assert size["dense"]["FLAT"]["recall_at_10"][0]["recall"] == 1.0
        assert 0 < max(r["recall"] for r in hnsw["recall_at_10"]) <= 1
        for kind in ("chunks", "documents", "blobs"):
            assert size["collections"][kind]["disk"]["rows"]["du_bytes"] > 0
        assert size["fields"]["windows"]["vector"]["uncompressed_bytes"] / size["windows"] >= 384 * 4
    # The table is computed from such a file without error.
    sys.path.insert(0, str(REPO / "bench"))
    import sizing_table

    assert "**Computed**" in sizing_table.render(figures)


def test_the_sizing_table_in_the_docs_is_what_sizing_table_writes():
    sys.path.insert(0, str(REPO / "bench"))
    import sizing_table

    if not sizing_table.FIGURES.exists():
        pytest.skip("no bench/milvus_sizing.json recorded")
    for path, text in sizing_table.rendered().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run bench/sizing_table.py"


def test_the_publish_figures_in_the_docs_are_what_publish_incremental_writes():
    sys.path.insert(0, str(REPO / "bench"))
    import publish_incremental

    for path, text in publish_incremental.rendered().items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run bench/publish_incremental.py --docs"
