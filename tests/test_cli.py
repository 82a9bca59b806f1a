"""The `qa` command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, SEEDS

pytestmark = pytest.mark.slow


def run_qa(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qa.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_ask_json_prints_exactly_the_api_json(store_args, client):
    question = "Which stock exchange did MIIT sign a strategic cooperation agreement with?"
    result = run_qa("ask", question, "-k", "3", "--json", *store_args)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    api = client.post("/api/ask", json={"question": question, "k": 3}).json()
    printed.pop("took_ms"), api.pop("took_ms")
    assert printed == api


def test_ask_prints_readable_citations(store_args):
    result = run_qa("ask", "How many specific support measures did the SME service initiative introduce?", "-k", "2", *store_args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Answer: ")
    *answer, where = result.stdout.split("\n\n")[0].splitlines()
    assert "73 specific support measures" in " ".join(line.strip() for line in answer)
    # The answer's confidence and citation.
    confidence, cited = where.split("; ")
    assert 0.5 <= float(confidence.removeprefix("   confidence ")) <= 1.0
    assert cited.startswith("Xie Shaofeng, 000_05a47eddf0c07e42.txt [")
    assert "\n1. [" in result.stdout
    assert "000_05a47eddf0c07e42.txt [" in result.stdout


def test_ask_filters_and_bad_filters(store_args):
    result = run_qa("ask", "What did the official say?", "-k", "3", "--speaker", "xie shaofeng", "--json", *store_args)
    assert result.returncode == 0, result.stderr
    assert {p["citation"]["speaker"] for p in json.loads(result.stdout)["passages"]} == {"Xie Shaofeng"}
    result = run_qa("ask", "anything", "--date-from", "2021-02-30", *store_args)
    assert result.returncode == 2 and "date_from must be a date written YYYY-MM-DD" in result.stderr


def test_ask_rejects_bad_questions_without_loading_anything(tmp_path):
    result = run_qa("ask", "   ", "--index", str(tmp_path))
    assert result.returncode == 2 and "question must not be empty" in result.stderr
    result = run_qa("ask", "ok", "-k", "0", "--index", str(tmp_path))
    assert result.returncode == 2 and "k must be a whole number from 1 to 50" in result.stderr


def test_ask_without_an_index_says_how_to_build_one(tmp_path):
    result = run_qa("ask", "anything", "--index", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "no index at" in result.stderr and "qa index" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_with_another_model_refuses_the_index(store_args):
    result = run_qa("ask", "anything", *store_args, env={"QA_MODEL": "some/other-model"})
    assert result.returncode == 1
    assert "built with model 'all-MiniLM-L6-v2'" in result.stderr and "some/other-model" in result.stderr


def test_index_builds_and_reports_bad_files(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "seed.txt").write_bytes((SEEDS / "003_cd57cd5aac821783.txt").read_bytes())
    (source / "broken.txt").write_bytes(b"\xff\xfe\x00junk")
    out = tmp_path / "idx"
    result = run_qa("index", "--source", str(source), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "skipped broken.txt: binary file" in result.stderr
    assert "indexed 1 documents" in result.stdout
    assert json.loads((out / "manifest.json").read_text())["document_count"] == 1


def test_index_with_a_missing_source_fails_clearly(tmp_path):
    result = run_qa("index", "--source", str(tmp_path / "absent"), "--out", str(tmp_path / "idx"))
    assert result.returncode == 2
    assert "source folder not found" in result.stderr
    assert not (tmp_path / "idx").exists()


def test_index_on_a_gpu_this_machine_lacks_fails_clearly(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: test_index_on_the_gpu covers it")
    result = run_qa("index", "--source", str(SEEDS), "--out", str(tmp_path / "idx"), "--device", "cuda")
    assert result.returncode == 1
    assert "no CUDA GPU is usable here" in result.stderr and "Traceback" not in result.stderr


def test_index_on_the_gpu(tmp_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine (torch.cuda.is_available() is False)")
    result = run_qa("index", "--source", str(SEEDS), "--out", str(tmp_path / "idx"), "--device", "cuda")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["backend"] == "torch"


@pytest.mark.parametrize("option", ["--milvus-shards", "--milvus-replicas"])
def test_index_refuses_a_shard_or_replica_count_below_one_before_building(tmp_path, option):
    out = tmp_path / "index"
    result = run_qa("index", "--source", str(SEEDS), "--out", str(out), "--store", "milvus",
                    "--milvus-uri", str(tmp_path / "milvus.db"), option, "0")
    assert result.returncode == 2
    assert f"{option} must be at least 1, not 0" in result.stderr
    # Nothing was built or published.
    assert not out.exists() and not (tmp_path / "milvus.db").exists()


def test_sort_offset_timeline_and_export_print_what_the_api_returns(store_args, client):
    query = '"support measures" -tulip'
    result = run_qa("ask", query, "-k", "2", "--sort", "oldest", "--offset", "1", "--json", *store_args)
    assert result.returncode == 0, result.stderr
    printed, api = json.loads(result.stdout), client.get("/api/ask", params={"q": query, "k": 2, "sort": "oldest", "offset": 1}).json()
    printed.pop("took_ms"), api.pop("took_ms")
    assert printed == api and printed["total"] >= 1
    result = run_qa("timeline", query, "--json", *store_args)
    assert result.returncode == 0, result.stderr
    printed, api = json.loads(result.stdout), client.get("/api/timeline", params={"q": query}).json()
    printed.pop("took_ms"), api.pop("took_ms")
    assert printed == api
    result = run_qa("export", query, "--format", "jsonl", *store_args)
    assert result.returncode == 0, result.stderr
    assert result.stdout == client.get("/api/export", params={"q": query, "format": "jsonl"}).text
    readable = run_qa("timeline", query, *store_args)
    assert readable.returncode == 0 and "passages in" in readable.stdout


def test_global_options_go_before_or_after_the_subcommand(capsys):
    from qa.cli import build_parser, main

    parser = build_parser()
    after = parser.parse_args(["index", "--backend", "onnx", "--model", "some/folder", "--source", "seeds"])
    before = parser.parse_args(["--backend", "onnx", "--model", "some/folder", "index", "--source", "seeds"])
    neither = parser.parse_args(["ask", "How?"])
    assert (after.model, after.backend) == (before.model, before.backend) == ("some/folder", "onnx")
    assert (neither.model, neither.backend) == (None, None)
    # Each subcommand's help says what it does, with an example.
    for name in ("index", "ask", "timeline", "export", "eval", "calibrate", "train", "serve"):
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        assert "example:" in text and f"qa {name}" in text and "--model" in text, name
