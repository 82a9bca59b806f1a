"""Building and loading the on-disk index, with the stand-in encoder (fast, no model)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from conftest import SEEDS, StandInEncoder, read_raw
from qa.build import build_index
from qa.chunking import clean_for_model
from qa.query import Filters, Query
from qa.ranking import Ranker
from qa.search import Searcher
from qa.validation import QuestionError
from qa.stores.embedded import (
    BM25, CHUNKS, DOCUMENTS, FORMAT_VERSION, MANIFEST, SENTENCES, TOKENS, VECTORS, WINDOWS, Index,
)
from qa.stores.seam import IndexLoadError


@pytest.fixture()
def seed_index(tmp_path, stand_in_encoder):
    out = tmp_path / "index"
    report = build_index([SEEDS], out, stand_in_encoder)
    assert report.documents == 2 and not report.skipped
    return out


def test_index_folder_holds_the_documented_files(seed_index):
    assert sorted(p.name for p in seed_index.iterdir()) == sorted(
        [MANIFEST, VECTORS, CHUNKS, WINDOWS, SENTENCES, DOCUMENTS, BM25, TOKENS])
    assert sorted(p.name for p in (seed_index / BM25).iterdir()) == ["documents", "pairs", "windows"]
    assert sorted(p.name for p in (seed_index / TOKENS).iterdir()) == [
        "pairs.ids.npy", "pairs.offsets.npy", "sentences.ids.npy", "sentences.offsets.npy", "vocab.json",
        "windows.ids.npy", "windows.offsets.npy"
    ]
    manifest = json.loads((seed_index / MANIFEST).read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["model"] == StandInEncoder.name
    assert manifest["dimension"] == StandInEncoder.dimension
    assert manifest["document_count"] == 2
    chunk_lines = (seed_index / CHUNKS).read_text().splitlines()
    assert manifest["chunk_count"] == len(chunk_lines) > 5
    assert set(manifest["documents"]) == {"000_05a47eddf0c07e42", "003_cd57cd5aac821783"}
    import hashlib

    seed = SEEDS / "000_05a47eddf0c07e42.txt"
    assert manifest["documents"]["000_05a47eddf0c07e42"] == {
        "path": seed.name, "sha256": hashlib.sha256(seed.read_bytes()).hexdigest(),
    }
    assert manifest["built_at"] and manifest["build_seconds"] >= 0


def test_loaded_index_round_trips_documents_and_chunks(seed_index):
    index = Index.load(seed_index, model=StandInEncoder.name)
    document = index.documents["000_05a47eddf0c07e42"]
    assert document.raw == read_raw(SEEDS / "000_05a47eddf0c07e42.txt")
    assert [t.speaker for t in document.turns] == ["Hong Kong Bauhinia Magazine", "Xie Shaofeng"]
    for chunk in index.chunks:
        raw = index.documents[chunk.doc_id].raw
        assert " ".join(raw[chunk.start : chunk.end].split()) == chunk.text


def test_loading_with_another_model_fails_clearly(seed_index):
    with pytest.raises(IndexLoadError, match="built with model 'stand-in-hash-256'.*configured model is 'all-MiniLM-L6-v2'"):
        Index.load(seed_index, model="all-MiniLM-L6-v2")


def test_loading_another_format_version_fails_clearly(seed_index):
    manifest_path = seed_index / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexLoadError, match=f"format version {FORMAT_VERSION + 1}.*reads version {FORMAT_VERSION}.*rebuild"):
        Index.load(seed_index)


def test_missing_or_inconsistent_index_fails_clearly(tmp_path, seed_index):
    with pytest.raises(IndexLoadError, match="no index at .*manifest.json is missing"):
        Index.load(tmp_path / "nothing-here")
    lines = (seed_index / CHUNKS).read_text().splitlines(keepends=True)
    (seed_index / CHUNKS).write_text("".join(lines[:-1]))
    with pytest.raises(IndexLoadError, match="inconsistent"):
        Index.load(seed_index)
    # The sentences the answer reads are part of the index: one missing is named, not skipped.
    (seed_index / CHUNKS).write_text("".join(lines))
    (seed_index / SENTENCES).unlink()
    with pytest.raises(IndexLoadError, match="damaged: sentences.npy is missing"):
        Index.load(seed_index)


def test_windows_cover_each_passage_and_dense_search_matches_brute_force(seed_index, stand_in_encoder):
    index = Index.load(seed_index)
    assert index.vectors.ntotal == len(index.windows) >= len(index.chunks)
    texts = []
    for row, start, end in index.windows:
        chunk = index.chunks[row]
        assert chunk.start <= start < end <= chunk.end
        texts.append(clean_for_model(index.documents[chunk.doc_id].raw[start:end]))
    assert set(index.windows[:, 0]) == set(range(len(index.chunks)))
    vectors = stand_in_encoder.encode(texts)
    for question in ["Beijing Stock Exchange agreement", "SMEs first quarter growth", "digital transformation pilot cities"]:
        query = stand_in_encoder.encode([question])
        scores, ids = index.vectors.search(query, 5)
        reference = vectors @ query[0]
        # The index stores 16-bit floats: cosines agree to about 1e-4.
        assert np.allclose(scores[0], np.sort(reference)[::-1][:5], atol=1e-3)
        assert all(abs(reference[i] - s) < 1e-3 for i, s in zip(ids[0], scores[0]))


def test_searcher_validates_and_ranks(seed_index, stand_in_encoder):
    searcher = Searcher(Index.load(seed_index), stand_in_encoder)
    answer = searcher.ask("  Beijing Stock Exchange  ", 3)
    assert answer.question == "Beijing Stock Exchange"
    assert [p.rank for p in answer.passages] == [1, 2, 3]
    assert any("Beijing Stock Exchange" in p.text for p in answer.passages)
    # Reporters' questions are context, not answers: they come back only when asked for by speaker.
    answers = [c for c in searcher.index.chunks if not c.is_question]
    assert len(searcher.ask("SMEs", 50).passages) == len(answers) < len(searcher.index.chunks)
    asked = searcher.ask("SMEs", 5, Filters(speaker="hong kong bauhinia magazine")).passages
    assert [p.citation.speaker for p in asked] == ["Hong Kong Bauhinia Magazine"]
    for bad, k in [("", 5), ("   ", 5), ("x" * 1001, 5), ("ok", 0), ("ok", 51), ("ok", True)]:
        with pytest.raises(QuestionError):
            searcher.ask(bad, k)


def test_bad_files_are_reported_and_good_ones_indexed(tmp_path, stand_in_encoder):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(SEEDS / "003_cd57cd5aac821783.txt", source / "good.txt")
    (source / "empty.txt").write_bytes(b"")
    (source / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (source / "latin1.txt").write_bytes("Caf\xe9 au lait".encode("latin-1"))
    report = build_index([source], tmp_path / "index", stand_in_encoder)
    assert report.documents == 1
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons == {
        "binary.txt": "binary file (contains NUL bytes)",
        "empty.txt": "empty file",
        "latin1.txt": "not valid UTF-8 (byte 3)",
    }
    manifest = json.loads((tmp_path / "index" / MANIFEST).read_text())
    assert {s["path"] for s in manifest["skipped"]} == set(reasons)


def test_rebuild_replaces_the_old_index_and_refuses_foreign_folders(tmp_path, stand_in_encoder):
    out = tmp_path / "index"
    build_index([SEEDS / "003_cd57cd5aac821783.txt"], out, stand_in_encoder)
    assert Index.load(out).manifest["document_count"] == 1
    build_index([SEEDS], out, stand_in_encoder)
    assert Index.load(out).manifest["document_count"] == 2
    # index is a link to the newest build; the previous build is kept for readers still on it.
    assert out.is_symlink() and (tmp_path / os.readlink(out)).name.startswith(".index.v-")
    versions = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".index.v-"))
    assert len(versions) == 2 and os.readlink(out) == versions[-1]
    assert not [p for p in tmp_path.iterdir() if ".building-" in p.name]
    build_index([SEEDS], out, stand_in_encoder, incremental=False)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".index.v-")]) == 2
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep-me.txt").write_text("precious")
    with pytest.raises(IndexLoadError, match="not an index"):
        build_index([SEEDS], foreign, stand_in_encoder)
    assert (foreign / "keep-me.txt").read_text() == "precious"


def test_large_indexes_use_ivf_and_rank_like_exact_search(tmp_path, stand_in_encoder, monkeypatch):
    from qa import vectors as vector_index

    exact = tmp_path / "exact"
    build_index([SEEDS], exact, stand_in_encoder)
    monkeypatch.setattr(vector_index, "IVF_THRESHOLD", 5)
    ivf = tmp_path / "ivf"
    build_index([SEEDS], ivf, stand_in_encoder)
    assert json.loads((ivf / MANIFEST).read_text())["vector_index"] == "ivf-flat"
    loaded_exact, loaded_ivf = Index.load(exact), Index.load(ivf)
    assert vector_index.kind(loaded_ivf.vectors) == "ivf-flat"
    assert vector_index.kind(loaded_exact.vectors) == "flat-fp16"
    assert json.loads((exact / MANIFEST).read_text())["vector_index"] == "flat-fp16"
    question = "Beijing Stock Exchange strategic cooperation agreement"
    vector = stand_in_encoder.encode([question])[0]
    # With every list probed (these lists are fewer than NPROBE), IVF is exact.
    for filters in (Filters(), Filters(doc_id="003_cd57cd5aac821783")):
        left = Ranker(loaded_exact).rank(Query.of(question, vector), 5, filters).passages
        right = Ranker(loaded_ivf).rank(Query.of(question, vector), 5, filters).passages
        # The exact index holds 16-bit floats, IVF 32-bit ones: same passages, scores within rounding.
        assert [p.row for p in left] == [p.row for p in right]
        assert [p.score for p in left] == pytest.approx([p.score for p in right], abs=1e-2)


def test_sentences_are_read_from_the_index_as_the_answer_would_split_them(seed_index, stand_in_encoder):
    """The sentences the build stored (offsets and words) are what splitting and tokenizing each
    passage gives; each window is a run of them; and a searcher answers the same when they are
    split per question, as the Milvus store does (qa.stores.seam.Catalogue.sentences)."""
    from functools import partial

    from qa.chunking import Sentences
    from qa.stores.seam import Catalogue

    index = Index.load(seed_index)
    assert index.sentence_table is not None
    for row, chunk in enumerate(index.chunks):
        raw = index.documents[chunk.doc_id].raw
        stored = index.sentences(row)
        assert stored == Sentences.of(raw, chunk.start, chunk.end)
        assert all(chunk.start <= s < e <= chunk.end for s, e in stored.spans)
        for window in index.chunk_windows(row):
            start, end = index.window_span(int(window))
            inside = [span for span, _ in stored.inside(start, end)]
            assert inside and inside[0][0] == start and inside[-1][1] == end
    without = Index.load(seed_index)
    without.sentences = partial(Catalogue.sentences, without)
    for question in ("How many specific support measures did the SME service initiative introduce?",
                     "What did the Beijing Stock Exchange sign?"):
        with_table = Searcher(index, stand_in_encoder).ask(question, 5)
        split_here = Searcher(without, stand_in_encoder).ask(question, 5)
        assert with_table.passages == split_here.passages and with_table.proposed == split_here.proposed
