"""The answer: answer kinds, answer spans, candidates, the fitted model's file, and answer scoring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa import answering
from qa.chunking import Sentences
from qa.answer_types import expected_kind, has_kind, kind_near
from qa.evaluation import GoldQuestion, answer_holds
from qa.lexical import tokenize
from qa.query import Query
from qa.results import AnswerSentence, Citation
from qa.text import sentence_spans


@pytest.mark.parametrize(("question", "kind"), [
    ("How many specific support measures did the initiative introduce?", "number"),
    ("How much money did the central budget set aside?", "number"),
    ("What percentage of tariffs were lifted?", "number"),
    ("How long did the two leaders talk?", "duration"),
    ("How many years had the median line been respected?", "duration"),
    ("When will the President travel to Hanoi?", "date"),
    ("On what date was the call held?", "date"),
    ("Who led the American delegation?", "person"),
    ("Which official chaired the meeting?", "person"),
    ("Where will the summit take place?", "place"),
    ("Which two cities will the Secretary visit?", "place"),
    ("Why did the administration keep the tariffs?", None),
    ("What did Psaki say about the approach to China?", None),
])
def test_the_kind_a_question_asks_for(question, kind):
    assert expected_kind(question) == kind


@pytest.mark.parametrize(("text", "kind", "expected"), [
    ("They talked for about three and a half hours.", "duration", True),
    ("It has been respected for more than 60 years.", "duration", True),
    ("The meeting went well.", "duration", False),
    ("The initiative introduced 73 specific support measures.", "number", True),
    ("We have not decided.", "number", False),
    ("The call took place on Tuesday, March 18.", "date", True),
    ("The President will travel to Burlington, New Jersey.", "place", True),
    ("He will meet Pope Francis on Friday.", "person", True),
    ("anything", None, False),
])
def test_a_sentence_has_words_of_a_kind(text, kind, expected):
    assert has_kind(text, kind) is expected


@pytest.mark.parametrize(("text", "kind", "question", "expected"), [
    # the question's own date does not answer "on what date"
    ("One trip was to Thailand in November of 2022.", "date", "On what date in November 2022 did she leave?", False),
    ("She will depart tomorrow, Wednesday, November 16th.", "date", "On what date in November 2022 did she leave?", True),
    # a date or a time of day is not a count
    ("The meeting is on Friday, June 17th, at 8:30 a.m.", "number", "How many participants were expected on June 17?", False),
    ("We have 23 participants that will be attending.", "number", "How many participants were expected on June 17?", True),
    ("It was launched in 2004.", "number", "How many measures were there?", False),
    # the question's own name is not the person asked for
    ("President Biden spoke about it.", "person", "Who did President Biden meet?", False),
    ("He met with Jake Sullivan today.", "person", "Who did President Biden meet?", True),
])
def test_words_of_a_kind_count_only_when_they_answer_rather_than_repeat(text, kind, question, expected):
    assert has_kind(text, kind, question) is expected


def test_kind_near_wants_the_figure_beside_the_topic():
    topic = frozenset(tokenize("support measures"))
    assert kind_near("The initiative introduced 73 specific support measures.", "number", topic)
    far = "In 2023 we met many times, and the long discussion that followed, over several long sessions, covered support."
    assert not kind_near(far, "number", frozenset(tokenize("measures")))


RAW = (
    "MR. SULLIVAN:  We met in Vienna on May 10th. They talked for about three and a half hours. "
    "That was longer than planned. The agenda covered:  trade, climate and fentanyl."
)


def spans(raw: str = RAW) -> list[tuple[int, int]]:
    return sentence_spans(raw, raw.index("We met"), len(raw))


def test_an_answer_that_refers_back_takes_the_sentence_before():
    sentences = spans()
    start, end = answering.answer_span(RAW, sentences, 2)  # "That was longer than planned."
    assert RAW[start:end] == "They talked for about three and a half hours. That was longer than planned."
    start, end = answering.answer_span(RAW, sentences, 1)  # "They talked ..."
    assert RAW[start:end] == "We met in Vienna on May 10th. They talked for about three and a half hours."


def test_an_answer_that_announces_takes_the_sentence_after():
    text = "MR. X:  We will talk about the following:\nTrade and climate are first on the list."
    sentences = sentence_spans(text, text.index("We will"), len(text))
    start, end = answering.answer_span(text, sentences, 0)
    assert text[start:end] == text[text.index("We will"):]


def test_a_sentence_that_stands_alone_is_the_answer():
    sentences = spans()
    start, end = answering.answer_span(RAW, sentences, 0)
    assert RAW[start:end] == "We met in Vienna on May 10th."


def test_a_long_sentence_is_cut_at_a_clause_within_sixty_words():
    words = ", ".join(f"item number {i} of the long list" for i in range(20)) + "."
    raw = "MR. X:  " + words
    sentences = sentence_spans(raw, 8, len(raw))
    start, end = answering.answer_span(raw, sentences, 0)
    assert len(raw[start:end].split()) <= answering.MAX_ANSWER_WORDS
    assert raw[start:end] == raw[start:end].strip() and not raw[start:end].endswith(",")
    assert raw[start:end].endswith("of the long list")


def view(raw: str = RAW, rank: int = 1, score: float = 3.0) -> answering.PassageView:
    start = raw.index("We met")
    return answering.PassageView(
        rank=rank, row=rank, score=score, raw=raw, start=start, end=len(raw), windows=((start, len(raw)),),
        window_cosines=(0.6,), best_window=0, sentences=Sentences.of(raw, start, len(raw)),
        occasion=frozenset(tokenize("Sullivan Vienna")), doc_id="d",
    )


def query(text: str) -> Query:
    return Query.of(text, np.zeros(4, dtype=np.float32))


def test_candidates_cover_every_sentence_with_their_features():
    found = answering.candidates(query("How long did Sullivan and Wang Yi talk in Vienna?"), [view()])
    assert len(found) == 4
    named = [dict(zip(answering.SENTENCE_FEATURES, c.features)) for c in found]
    # "They talked for about three and a half hours." has the duration, beside "talk".
    assert named[1]["kind_match"] == 1.0 and named[1]["kind_near"] == 1.0
    # "We met in Vienna on May 10th." lacks a duration: its answer takes the neighbour that has one.
    assert RAW[found[0].start:found[0].end] == "We met in Vienna on May 10th. They talked for about three and a half hours."
    assert named[0]["kind_match"] == 1.0
    # Words naming the occasion (Sullivan, Vienna) do not count as topic overlap.
    assert named[0]["overlap"] > named[0]["overlap_topic"]
    for candidate in found:
        assert RAW[candidate.start:candidate.end] == RAW[candidate.start:candidate.end].strip()
        assert candidate.start <= candidate.sentence[0] < candidate.sentence[1] <= candidate.end


def evidence(question: str, found: list, model: answering.AnswerModel,
             cross: answering.CrossScores | None = None) -> answering.Evidence:
    scores = model.sentence.predict(np.stack([c.features for c in found]))
    return answering.Evidence(found, scores, top_cosine=0.6, score_margin=1.0, window_coverage=0.5,
                              named_document="d", cross=cross)


def test_choose_uses_the_models_and_reports_a_confidence():
    found = answering.candidates(query("How long did they talk?"), [view()])
    model = answering.AnswerModel(
        answering._hand_set(answering.SENTENCE_FEATURES, {"kind_near": 5.0}, 0.0),
        answering._hand_set(answering.CONFIDENCE_FEATURES, {"kind_near": 4.0}, -2.0),
        threshold=0.5,
    )
    choice = answering.choose(query("How long did they talk?"), evidence("How long did they talk?", found, model), model)
    # The duration, with the sentence that "They" refers back to.
    assert RAW[choice.candidate.start:choice.candidate.end] == (
        "We met in Vienna on May 10th. They talked for about three and a half hours."
    )
    assert choice.confidence == pytest.approx(1 / (1 + np.exp(-2.0)))
    named = dict(zip(answering.CONFIDENCE_FEATURES, choice.features))
    assert named["document_named"] == 1.0 and named["same_document"] == 1.0
    # Without the cross-encoder its features are 0; the passage's place is its rank.
    assert named["cross_logit"] == named["cross_share"] == 0.0 and named["passage_rank"] == 1.0


def test_with_the_cross_encoder_the_choice_is_among_its_shortlist_by_its_logit_and_the_blend():
    question = "How long did they talk?"
    found = answering.candidates(query(question), [view()])
    sentence = answering._hand_set(answering.SENTENCE_FEATURES, {"kind_near": 5.0}, 0.0)
    confidence = answering._hand_set(answering.CONFIDENCE_FEATURES, {"cross_share": 4.0}, -2.0)
    # The cross-encoder read candidates 0, 2 and 3 and likes the third sentence best.
    cross = answering.CrossScores((0, 2, 3), np.array([0.5, 3.0, -1.0], dtype=np.float32))
    model = answering.AnswerModel(sentence, confidence, 0.5, cross=answering.CrossUse(0.0, 0.0, "sha"))
    choice = answering.choose(query(question), evidence(question, found, model, cross), model)
    assert choice.candidate is found[2]
    named = dict(zip(answering.CONFIDENCE_FEATURES, choice.features))
    shares = np.exp([0.5, 3.0, -1.0]) / np.exp([0.5, 3.0, -1.0]).sum()
    assert named["cross_logit"] == pytest.approx(3.0) and named["cross_margin"] == pytest.approx(2.5)
    assert named["cross_share"] == pytest.approx(shares[1], rel=1e-5)
    assert choice.confidence == pytest.approx(1 / (1 + np.exp(-(4.0 * shares[1] - 2.0))), rel=1e-5)
    # With a large blend the sentence model's favourite (the duration, candidate 1) would win, but
    # the cross-encoder did not read it: the choice stays within what it read.
    heavy = answering.AnswerModel(sentence, confidence, 0.5, cross=answering.CrossUse(50.0, 0.0, "sha"))
    scores = evidence(question, found, heavy, cross).sentence_scores
    chosen = answering.choose(query(question), evidence(question, found, heavy, cross), heavy).candidate
    assert chosen is found[max((0, 2, 3), key=lambda p: 3.0 * (p == 2) + 50 * np.log(scores[p] / (1 - scores[p])))]
    # A model fitted without the cross-encoder ignores its logits.
    plain = answering.AnswerModel(sentence, confidence, 0.5)
    proof = evidence(question, found, plain, cross)
    assert answering.choose(query(question), proof, plain).candidate is found[int(np.argmax(proof.sentence_scores))]
    assert int(np.argmax(proof.sentence_scores)) != 2


def test_the_shortlist_keeps_each_passages_best_candidates():
    found = answering.candidates(query("How long did they talk?"), [view(rank=1), view(rank=2)])
    scores = np.arange(len(found), dtype=np.float64)
    kept = answering.shortlist(found, scores, per_passage=2)
    per = len(found) // 2
    assert kept == [per - 2, per - 1, 2 * per - 2, 2 * per - 1]


def test_the_best_passages_are_reordered_by_their_best_sentence_and_the_rest_stay():
    from qa.ranking import Ranked

    ranked = [Ranked(row, score, 0, 0.5) for row, score in ((1, 3.0), (2, 2.5), (3, 2.0), (4, 1.0))]
    found = answering.candidates(query("How long did they talk?"), [view(rank=r) for r in (1, 2, 3)])
    per = len(found) // 3
    # Passage 3's sentence is far better than the others'.
    cross = answering.CrossScores((0, per, 2 * per), np.array([-2.0, -1.0, 4.0], dtype=np.float32))
    model = answering.AnswerModel.by_overlap()
    proof = evidence("How long did they talk?", found, model, cross)
    assert [r.row for r in answering.reorder(ranked, proof, 0.0)] == [1, 2, 3, 4]
    assert [r.row for r in answering.reorder(ranked, proof, 0.1)] == [1, 2, 3, 4]  # 3.0 - 0.6 > 2.5 - 0.5 > 2.0
    reordered = answering.reorder(ranked, proof, 1.0)
    assert [r.row for r in reordered] == [3, 2, 1, 4]
    assert [r.score for r in reordered] == [2.0, 2.5 - 5.0, 3.0 - 6.0, 1.0]


def test_the_model_file_round_trips_and_refuses_other_features(tmp_path):
    model = answering.AnswerModel.by_overlap()
    path = tmp_path / "model.json"
    model.save(path)
    assert answering.AnswerModel.load(path) == model
    crossed = answering.AnswerModel(model.sentence, model.confidence, 0.7, cross=answering.CrossUse(0.5, 0.3, "ab12"))
    crossed.save(path)
    assert answering.AnswerModel.load(path) == crossed
    record = json.loads(path.read_text())
    record["sentence"]["names"] = record["sentence"]["names"][:-1]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="qa calibrate"):
        answering.AnswerModel.load(path)


def test_the_shipped_model_loads_and_has_a_threshold_between_zero_and_one():
    model = answering.AnswerModel.load()
    assert 0 < model.threshold < 1
    assert model.fitted_on.get("questions", 0) >= 60


def answer(text: str, path: str = "a.txt") -> AnswerSentence:
    return AnswerSentence(text, Citation("a", path, "t", None, None, None, None, 0, 0, 1))


def test_an_answer_holds_the_phrase_or_most_of_its_longer_words():
    gold = GoldQuestion("x", "q?", "a.txt", "They talked for about three and a half hours")
    assert answer_holds(answer("It was long. They talked for about three and a half hours."), gold)
    # 60% of the words of four letters or more: they, talked, about, three, half, hours -> 4 of 6.
    assert answer_holds(answer("They talked for three hours."), gold)
    assert not answer_holds(answer("The leaders talked for three hours."), gold)  # 3 of 6
    assert not answer_holds(answer("The leaders met for a while."), gold)
    assert not answer_holds(answer("They talked for about three and a half hours.", "b.txt"), gold)
    assert not answer_holds(None, gold)


def test_a_query_is_analysed_once_with_its_kind_and_weights():
    made = Query.of("How many measures? How many SMEs?", np.ones(3), lambda tokens: {t: 2.0 for t in tokens})
    assert made.words.count("mani") == 2 and made.tokens.count("mani") == 1
    assert made.kind == "number" and set(made.idf.values()) == {2.0} and made.vector.dtype == np.float32


def test_a_model_fitted_on_other_features_gives_way_to_the_overlap_rule(tmp_path, monkeypatch, caplog):
    from qa import search

    record = json.loads(answering.MODEL_FILE.read_text(encoding="utf-8"))
    record["sentence"]["names"] = record["sentence"]["names"][:-1]
    stale = tmp_path / "answer_model.json"
    stale.write_text(json.dumps(record), encoding="utf-8")
    monkeypatch.setattr(answering, "MODEL_FILE", stale)
    with pytest.raises(ValueError, match="qa calibrate"):
        answering.AnswerModel.load(stale)
    model = search.default_answer_model()
    assert model.fitted_on == answering.AnswerModel.by_overlap().fitted_on
    assert "qa calibrate" in caplog.text


def test_each_encoder_reads_its_own_fit():
    assert answering.model_file_for(None) == answering.MODEL_FILE
    assert answering.model_file_for("all-MiniLM-L6-v2") == answering.MODEL_FILE
    for name in ("models/embeddinggemma-300m", "google/embeddinggemma-300m", "/opt/models/EmbeddingGemma-300M/"):
        assert answering.model_file_for(name).name == "answer_model-embeddinggemma-300m.json"


def test_an_encoder_with_no_fit_of_its_own_falls_back_with_a_warning(tmp_path, monkeypatch, caplog):
    from types import SimpleNamespace

    from qa import search

    default = tmp_path / "answer_model.json"
    record = json.loads(answering.MODEL_FILE.read_text(encoding="utf-8"))
    record.pop("weights", None)
    default.write_text(json.dumps(record), encoding="utf-8")
    monkeypatch.setattr(answering, "MODEL_FILE", default)
    model = search.default_answer_model("models/some-unfitted-encoder")
    assert model.threshold == record["threshold"]
    assert "no answer model or fusion weights were fitted for the encoder 'models/some-unfitted-encoder'" in caplog.text

    # An encoder's own fit brings its fusion weights to the ranking.
    own = dict(record, weights={"dense": 2.0, "window_lexical": 0.3, "pair_lexical": 1.2, "document": 1.4,
                                "document_dense": 0.0, "speaker": 2.0})
    (tmp_path / "answer_model-fitted-encoder.json").write_text(json.dumps(own), encoding="utf-8")
    searcher = search.Searcher(SimpleNamespace(model="models/fitted-encoder"), encoder=None)
    assert searcher.answer_model.weights == own["weights"]
    assert searcher.ranker.weights.dense == 2.0 and searcher.ranker.weights.document_dense == 0.0
    plain = search.Searcher(SimpleNamespace(model="all-MiniLM-L6-v2"), encoder=None)
    assert plain.ranker.weights == search.Weights()


def test_the_floors_are_read_with_the_answer_model(tmp_path):
    # The weak-match and relevance floors are cosines of one encoder: they travel with the answer
    # model fitted for it, and the searcher reads them from there.
    from dataclasses import replace

    from conftest import StandInEncoder
    from qa.matching import MATCH_FLOOR
    from qa.search import Searcher

    shipped = answering.AnswerModel.load()
    assert shipped.floors == answering.Floors(answering.WEAK_MATCH, MATCH_FLOOR)
    other = replace(shipped, floors=answering.Floors(weak_match=0.2, match_floor=0.5))
    other.save(tmp_path / "model.json")
    assert answering.AnswerModel.load(tmp_path / "model.json").floors == other.floors
    record = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    del record["floors"]  # a model fitted before the floors were recorded reads MiniLM's
    (tmp_path / "older.json").write_text(json.dumps(record), encoding="utf-8")
    assert answering.AnswerModel.load(tmp_path / "older.json").floors == answering.Floors()

    class NoStore:
        model = None

    assert Searcher(NoStore(), StandInEncoder(), answer_model=other).match_floor == 0.5
