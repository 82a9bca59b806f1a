"""Abstention and answer precision on questions nothing was fitted on (issue 27).

The answer model's threshold was fitted on offtopic.jsonl, the tuning sets and blind2k's
validation split; here it is checked on sets it never saw: the near-topic questions
(offtopic_near.jsonl) and blind2k's sealed test split (its README: only ever measured, nothing
tuned on it). The archive is the seeds and every third of the sealed split's briefings (17 of
51, sorted by name: about 20 s to build on 2 cores), and the questions are those about them; `make
eval` measures the whole sealed split over the whole archive (.cache/eval-report-minilm.json).
"""

from __future__ import annotations

import shutil

import pytest

from conftest import REPO, SEEDS, SHARED, WH_DIR, requires_shared
from qa.evaluation import abstention, evaluate, load_offtopic, load_questions, summarise

pytestmark = [pytest.mark.slow, requires_shared]

BLIND2K = REPO / "tests" / "data" / "blind2k"
SEALED_TEST = BLIND2K / "sealed_test.jsonl"
SEALED_UNANSWERABLE = BLIND2K / "unanswerable_sealed_test.jsonl"
NEAR_TOPIC = REPO / "tests" / "data" / "offtopic_near.jsonl"
FOLDERS = (WH_DIR, SHARED / "corpus" / "formats" / "html", SHARED / "corpus" / "formats" / "pdf")


def sealed_sample() -> list:
    """Every third briefing of the sealed split (by name) with its file: (name, path)."""
    names = sorted({gold.doc for gold in load_questions(SEALED_TEST)})
    found = [(name, next((f / name for f in FOLDERS if (f / name).is_file()), None)) for name in names]
    assert all(path for _, path in found), [name for name, path in found if path is None]
    return found[::3]


@pytest.fixture(scope="module")
def held_out_searcher(tmp_path_factory, encoder):
    from qa.build import build_index
    from qa.search import Searcher
    from qa.stores.embedded import Index

    briefings = tmp_path_factory.mktemp("sealed-briefings")
    for name, path in sealed_sample():
        shutil.copy(path, briefings / name)
    out = tmp_path_factory.mktemp("sealed") / "index"
    build_index([SEEDS, briefings], out, encoder)
    return Searcher(Index.load(out, model=encoder.name), encoder)


def test_shown_answers_to_sealed_test_questions_are_right(held_out_searcher):
    sample = {name for name, _ in sealed_sample()}
    questions = [gold for gold in load_questions(SEALED_TEST) if gold.doc in sample]
    report = summarise(evaluate(held_out_searcher, questions))
    assert report["questions"] == 155
    # measured on this archive (2026-12-03, issue 27, this test): precision 0.75 (30 of 40 shown
    # answers right) at coverage 0.26, hit@1 0.62, hit@5 0.92; the whole sealed split over the
    # whole archive (make eval, .cache/eval-report-minilm.json): 0.83 (50 of 60) at coverage 0.13.
    # The threshold was read at 0.9 precision on the fitting sets: held out, it gives less.
    # Four wrong answers more than measured would still pass, five would not.
    assert report["answer_precision"] >= 0.65, report["wrong_answers"]
    assert report["answer_coverage"] >= 0.20, report["answer_curve"]
    assert report["hit@1"] >= 0.55, report


@pytest.mark.parametrize(("path", "least"), [
    # measured on this archive (issue 27, this test): 0.99 (99 of 100); make eval over the whole
    # archive: 1.00 (100 of 100)
    (SEALED_UNANSWERABLE, 0.94),
    # measured: 1.00 (30 of 30), on this archive and over the whole archive (make eval)
    (NEAR_TOPIC, 0.93),
], ids=["sealed-unanswerable", "near-topic"])
def test_held_out_questions_the_archive_cannot_answer_get_no_answer(held_out_searcher, path, least):
    report = abstention(held_out_searcher, load_offtopic(path))
    assert report["abstention"] >= least, report["answered"]
