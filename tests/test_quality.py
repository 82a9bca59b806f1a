"""Answer quality on a real archive: a regression test.

The archive is the seeds and every White House briefing that a question of the dev, own or check
set is about (94 of the 214; about a third of the windows of `make eval`'s index, so that
`make test` stays within its time), the other briefings' passages being what `make eval` adds.
The thresholds sit a little under what this archive gave when they were set (`make eval`'s
whole-corpus figures are in README.md), so that a change which makes answers worse fails here.
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


def gold_briefings() -> list[str]:
    """The briefings the dev, own and check questions are about."""
    names = {gold.doc for path in (DEV_SET, OWN_SET, CHECK_SET) for gold in load_questions(path)}
    return sorted(name for name in names if (WH_DIR / name).is_file())


@pytest.fixture(scope="module")
def full_searcher(tmp_path_factory, encoder):
    import shutil

    from qa.build import build_index
    from qa.stores.embedded import Index
    from qa.search import Searcher

    briefings = tmp_path_factory.mktemp("briefings")
    for name in gold_briefings():
        shutil.copy(WH_DIR / name, briefings / name)
    out = tmp_path_factory.mktemp("full") / "index"
    build_index([SEEDS, briefings], out, encoder)
    return Searcher(Index.load(out, model=encoder.name), encoder)


@pytest.fixture(scope="module")
def raw_by_path():
    paths = list(SEEDS.glob("*.txt")) + list(WH_DIR.glob("*.txt"))
    return {path.name: read_raw(path) for path in paths}


def test_own_question_set_meets_its_thresholds(full_searcher):
    report = summarise(evaluate(full_searcher, load_questions(OWN_SET)))
    assert report["questions"] == 40
    # measured on this archive (2026-12-01, AMD EPYC without VNNI): 0.70 / 0.95 / 0.81
    assert report["hit@5"] >= 0.90, report
    assert report["hit@1"] >= 0.64, report
    assert report["mrr@10"] >= 0.75, report


def test_dev_set_meets_its_thresholds(full_searcher):
    report = summarise(evaluate(full_searcher, load_questions(DEV_SET)))
    # measured on this archive: 0.70 / 0.87 / 0.78
    assert report["hit@5"] >= 0.80, report
    assert report["hit@1"] >= 0.63, report
    assert report["mrr@10"] >= 0.72, report


@pytest.mark.parametrize(("path", "least_precision", "least_coverage"), [
    # measured on this archive: 0.94 at 0.68 (30 of 32 shown answers right)
    (CHECK_SET, 0.90, 0.58),
    # measured: 1.00 at 0.30 (9 of 9); the dev set's best answer is often not right, so few are
    # shown: one wrong answer more would still pass, two would not
    (DEV_SET, 0.80, 0.20),
])
def test_shown_answers_are_right(full_searcher, path, least_precision, least_coverage):
    report = summarise(evaluate(full_searcher, load_questions(path)))
    assert report["answer_coverage"] >= least_coverage, report["answer_curve"]
    assert report["answer_precision"] >= least_precision, report["wrong_answers"]


@pytest.mark.parametrize("path", [OFF_TOPIC, NEAR_TOPIC])
def test_questions_the_corpus_cannot_answer_get_no_answer(full_searcher, path):
    report = abstention(full_searcher, load_offtopic(path))
    # measured on this archive: 0.96 and 1.00 (24 of 25, 30 of 30)
    assert report["abstention"] >= 0.9, report["answered"]


def test_every_citation_answer_and_highlight_points_at_the_right_words(full_searcher, raw_by_path):
    from qa.results import answer_json

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


# Issue 16 over the whole archive: a phrase's count against the raw files, and the relevance floor.

@pytest.mark.parametrize("phrase", ["wolf warrior", "genocide", "Taiwan Strait", "one China policy"])
def test_phrase_counts_over_the_whole_archive_agree_with_the_raw_files(full_searcher, raw_by_path, phrase):
    """Every occurrence of the phrase in a turn, a reporter's question included (found by a regex
    of its own in the files read again), lies in exactly one exported passage, every exported
    passage holds one, and the timeline's briefings per month are the raw files'."""
    import re
    from collections import Counter

    from qa import export

    pattern = re.compile(r"(?<![^\W_])" + r"[\W_]+".join(map(re.escape, phrase.split())) + r"(?![^\W_])", re.I)
    occurrences, dates = {}, {}
    for document in full_searcher.index.documents.values():
        raw = raw_by_path[document.path]
        spans = [(t.start, t.end) for t in document.turns]
        hits = [m.start() for m in pattern.finditer(raw) if any(a <= m.start() < b for a, b in spans)]
        if hits:
            occurrences[document.path], dates[document.path] = hits, document.date
    assert occurrences, phrase
    exported = list(export.matches(full_searcher, f'"{phrase}"'))
    spans = {(e["citation"]["path"], e["citation"]["start"], e["citation"]["end"]) for e in exported}
    holding = Counter()
    for path, hits in occurrences.items():
        for hit in hits:
            inside = [s for s in spans if s[0] == path and s[1] <= hit < s[2]]
            assert len(inside) == 1, (phrase, path, hit)
            holding[inside[0]] += 1
    assert set(holding) == spans and len(spans) == len(exported)
    for row in exported:
        assert_citation_invariant(row, raw_by_path)
    _, _, timeline = full_searcher.timeline(f'"{phrase}"')
    assert timeline.passages == len(exported)
    by_month = Counter(dates[path][:7] for path in occurrences if dates[path])
    assert {b.period: b.briefings for b in timeline.buckets if b.briefings} == dict(by_month)


def test_off_topic_and_near_topic_questions_match_almost_nothing(full_searcher):
    """The relevance floor (qa.matching.MATCH_FLOOR): measured at 0 and 0.07 passages a question."""
    for path in (OFF_TOPIC, NEAR_TOPIC):
        questions = load_offtopic(path)
        counts = [full_searcher.timeline(q)[2].passages for q in questions]
        assert sum(1 for c in counts if c) <= 0.15 * len(counts), (path.name, counts)
        assert sum(counts) <= 0.2 * len(counts), (path.name, counts)
