"""Fitting the fusion weights for an encoder: signals once per question, only changes that raise MRR@10 kept."""

from __future__ import annotations

import pytest

from conftest import DEV_SET, REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def questions(corpus_dir):
    from qa.evaluation import load_questions

    present = {path.name for path in corpus_dir.iterdir()}
    files = [REPO / "tests" / "data" / name for name in ("questions.jsonl", "answers_tune.jsonl")]
    files += [DEV_SET] if DEV_SET.is_file() else []
    chosen = [q for path in files for q in load_questions(path) if q.doc in present]
    assert len(chosen) >= 3, "the test corpus should hold the gold files of several questions"
    return chosen


def test_fitted_weights_rank_no_worse_and_repair_bad_ones(built_index, encoder, questions):
    from dataclasses import asdict

    from qa.calibration import WEIGHT_GRID, fit_weights
    from qa.stores.embedded import Index
    from qa.ranking import Weights
    from qa.search import Searcher

    searcher = Searcher(Index.load(built_index), encoder)
    weights, report = fit_weights(searcher, questions)
    assert set(weights) == set(asdict(Weights()))
    assert report["mrr@10_after"] >= report["mrr@10_before"]
    assert searcher.ranker.weights == Weights()  # the searcher is left as it was

    # From weights that ignore meaning and the briefing, the fit finds its way back up.
    bad = Weights(dense=0.5, window_lexical=0.0, pair_lexical=0.0, document=0.0, document_dense=0.0, speaker=0.0)
    repaired, report = fit_weights(searcher.ranked_by(searcher.ranker.using(weights=bad)), questions)
    assert report["mrr@10_after"] > report["mrr@10_before"]
    assert all(repaired[name] in values or repaired[name] == getattr(bad, name) for name, values in WEIGHT_GRID.items())
