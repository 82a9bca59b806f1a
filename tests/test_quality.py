"""Answer quality on the whole corpus (seeds + 214 White House briefings): a regression test.

The thresholds sit a little under what `make eval` measured when they were set (README.md has
the figures), so that a change which makes answers worse fails here.
"""

from __future__ import annotations

import pytest

from conftest import DEV_SET, REPO, SEEDS, WH_DIR, assert_citation_invariant, read_raw, requires_shared
from qa.evaluation import abstention, evaluate, load_offtopic, load_questions, summarise

pytestmark = [pytest.mark.slow, requires_shared]

OWN_SET = REPO / "tests" / "data" / "questions.jsonl"
OFF_TOPIC = REPO / "tests" / "data" / "offtopic.jsonl"
NEAR_TOPIC = REPO / "tests" / "data" / "offtopic_near.jsonl"
CHECK_SET = REPO / "tests" / "data" / "answers_check.jsonl"


@pytest.fixture(scope="module")
def full_searcher(tmp_path_factory, encoder):
    from qa.index import Index, build_index
    from qa.search import Searcher

    out = tmp_path_factory.mktemp("full") / "index"
    build_index([SEEDS, WH_DIR], out, encoder)
    return Searcher(Index.load(out, model=encoder.name), encoder)


@pytest.fixture(scope="module")
def raw_by_path():
    paths = list(SEEDS.glob("*.txt")) + list(WH_DIR.glob("*.txt"))
    return {path.name: read_raw(path) for path in paths}


def test_own_question_set_meets_its_thresholds(full_searcher):
    report = summarise(evaluate(full_searcher, load_questions(OWN_SET)))
    assert report["questions"] == 40
    assert report["hit@5"] >= 0.90, report
    assert report["hit@1"] >= 0.62, report
    assert report["mrr@10"] >= 0.72, report


def test_dev_set_meets_its_thresholds(full_searcher):
    report = summarise(evaluate(full_searcher, load_questions(DEV_SET)))
    assert report["hit@5"] >= 0.80, report
    assert report["hit@1"] >= 0.60, report
    assert report["mrr@10"] >= 0.68, report


@pytest.mark.parametrize(("path", "least_precision", "least_coverage"), [
    # measured (make eval): 0.97 at 0.62 (28 of 29 shown answers right)
    (CHECK_SET, 0.90, 0.50),
    # measured: 1.00 at 0.20 (6 of 6); the dev set's best answer is right for only 16 of 30, so
    # few are shown: one wrong answer more would still pass, two would not
    (DEV_SET, 0.80, 0.15),
])
def test_shown_answers_are_right(full_searcher, path, least_precision, least_coverage):
    report = summarise(evaluate(full_searcher, load_questions(path)))
    assert report["answer_coverage"] >= least_coverage, report["answer_curve"]
    assert report["answer_precision"] >= least_precision, report["wrong_answers"]


@pytest.mark.parametrize("path", [OFF_TOPIC, NEAR_TOPIC])
def test_questions_the_corpus_cannot_answer_get_no_answer(full_searcher, path):
    report = abstention(full_searcher, load_offtopic(path))
    # measured: 1.00 on both (25 of 25, 30 of 30)
    assert report["abstention"] >= 0.9, report["answered"]


def test_every_citation_answer_and_highlight_points_at_the_right_words(full_searcher, raw_by_path):
    from qa.api import answer_json

    for gold in load_questions(DEV_SET)[:15] + load_questions(OWN_SET)[:15]:
        body = answer_json(full_searcher.ask(gold.question, 10))
        for passage in body["passages"]:
            assert_citation_invariant(passage, raw_by_path)
            citation = passage["citation"]
            for mark in passage["highlights"]:
                assert citation["start"] <= mark["start"] < mark["end"] <= citation["end"]
        if body["answer"]:
            assert_citation_invariant(body["answer"], raw_by_path)
            # the answer stands inside one of the listed passages
            cited = body["answer"]["citation"]
            assert any(
                p["citation"]["path"] == cited["path"] and p["citation"]["start"] <= cited["start"] < cited["end"] <= p["citation"]["end"]
                for p in body["passages"]
            ), (gold.question, cited)
