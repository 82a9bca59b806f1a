"""The ranking signals on small made-up briefings (stand-in encoder: fast, no model)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa.answering import AnswerModel
from qa.build import build_index
from qa.lexical import LexicalIndex, token_scores_of_rows, tokenize
from qa.query import Filters
from qa.ranking import TITLE_WORDS
from qa.search import Searcher
from qa.stores.embedded import Index

# Two briefings. In the first, the moderator's welcome repeats the occasion (the words a
# journalist uses to name the briefing); the answer to the question is in a later reply.
SUMMIT = """---
date: '2022-05-20'
title: "Background Press Call on the Harbour Summit with President Novak"
---

MODERATOR:  Good evening, everyone, and welcome to this background press call on the
Harbour Summit with President Novak. Our speaker will give an overview of the Harbour
Summit with President Novak and then take your questions.

MS. ADLER:  Thanks. The leaders met for three hours and covered trade, energy and the
fishing agreement.

Q:  Did the two leaders discuss the lighthouse loan?

MS. ADLER:  Yes. The lighthouse loan was settled: the lenders agreed to extend it by twelve
years, and the first payment moves to 2030.
"""

BRIEFING = """---
date: '2022-05-22'
title: "Press Briefing by Press Secretary Bell"
---

MR. BELL:  Good afternoon. A few notes on the week ahead: the lighthouse loan will be
discussed by the finance committee, and the fishing season opens on Monday.

Q:  Anything on the harbour?

MR. BELL:  The Harbour Summit went well, and the harbour itself reopens to ferries next week.
"""


@pytest.fixture(scope="module")
def made_up_index(tmp_path_factory):
    from conftest import StandInEncoder

    folder = tmp_path_factory.mktemp("briefings")
    (folder / "2022-05-20_summit.txt").write_text(SUMMIT, encoding="utf-8")
    (folder / "2022-05-22_briefing.txt").write_text(BRIEFING, encoding="utf-8")
    out = tmp_path_factory.mktemp("index") / "index"
    build_index([folder], out, StandInEncoder())
    # Ranking alone: the answer model's re-ordering of the best three by the cross-encoder is
    # tested in test_answering.
    return Searcher(Index.load(out), StandInEncoder(), answer_model=AnswerModel.by_overlap())


def test_token_scores_are_the_query_score_split_by_word(tmp_path):
    texts = ["the lighthouse loan was settled", "the harbour reopens to ferries", "loan loan lighthouse", ""]
    lexical = LexicalIndex.build(texts)
    tokens = list(dict.fromkeys(tokenize("Was the lighthouse loan settled at the harbour? zebra")))
    everything = np.arange(len(texts))
    rows = lexical.token_scores_at(tokens, everything)
    assert rows.shape == (len(tokens), len(texts))
    assert np.allclose(rows.sum(axis=0), lexical.scores(" ".join(tokens)))
    assert np.allclose(rows.sum(axis=0), lexical.token_scores(tokens))
    assert not rows[tokens.index("zebra")].any()  # a word the index has never seen scores nothing
    # Any passages, in any order, repeated: the same values as the full rows.
    some = np.array([2, 0, 2, 3])
    assert np.array_equal(lexical.token_scores_at(tokens, some), rows[:, some])
    # After a save and load too (postings sorted within each word on load).
    lexical.save(tmp_path / "bm25")
    assert np.array_equal(LexicalIndex.load(tmp_path / "bm25").token_scores_at(tokens, some), rows[:, some])


def test_bm25_from_tokens_and_frequencies_equals_the_index():
    # The Milvus store keeps each passage's tokens and each word's document frequency, not bm25s's
    # matrix; the one formula it calls gives the embedded index's values.
    texts = ["the lighthouse loan was settled", "the harbour reopens to ferries", "loan loan lighthouse", ""]
    lexical = LexicalIndex.build(texts)
    rows = [tokenize(text) or [""] for text in texts]  # a text without words is the empty token, as stored
    tokens = list(dict.fromkeys(tokenize("lighthouse loan harbour zebra")))
    frequencies = [sum(token in row for row in rows) for token in tokens]
    computed = token_scores_of_rows(tokens, rows, [len(row) for row in rows], frequencies, len(rows),
                                    sum(map(len, rows)) / len(rows))
    assert computed.any()
    assert np.allclose(computed, lexical.token_scores_at(tokens, np.arange(len(texts))), rtol=1e-6, atol=0)


def test_words_naming_the_briefing_pick_the_briefing_not_the_passage(made_up_index):
    question = "At the Harbour Summit with President Novak, what happened to the lighthouse loan?"
    ranker = made_up_index.ranker
    answer = made_up_index.ask(question, 3)
    top = answer.passages[0]
    # The reply about the loan, in the summit's briefing: not the welcome that repeats the
    # occasion, and not the other briefing that only mentions the loan.
    assert "extend it by twelve years" in top.text
    assert top.citation.doc_id.endswith("summit")
    # Without leaving the occasion's words out, the moderator's welcome comes first: the
    # signal is what puts the reply on top.
    with_occasion = made_up_index.ranked_by(ranker.using(occasion_free=False))
    assert with_occasion.ask(question, 3).passages[0].citation.speaker == "Moderator"


def test_a_named_speaker_lifts_their_passages_by_the_speaker_weight(made_up_index):
    ranker = made_up_index.ranker
    question = "What did Bell say about the fishing?"

    def scores(weight):
        searcher = made_up_index.ranked_by(ranker.using(weights=replace(ranker.weights, speaker=weight)))
        return [(p.citation.speaker, p.citation.start, p.score) for p in searcher.ask(question, 5).passages]

    default = ranker.weights
    without, with_ = scores(0.0), scores(default.speaker)
    assert default.speaker > 0
    before = {(speaker, start): score for speaker, start, score in without}
    for speaker, start, score in with_:
        lift = default.speaker if speaker == "Mr. Bell" else 0.0
        assert score == pytest.approx(before[(speaker, start)] + lift, abs=1e-3)
    # Both of Bell's passages now come before Ms. Adler's.
    assert [s for s, _, _ in with_[:2]] == ["Mr. Bell", "Mr. Bell"] != [s for s, _, _ in without[:2]]
    names = {c.speaker: ranker.label_names(c.speaker) for c in made_up_index.index.chunks if c.speaker}
    assert names["Ms. Adler"] == {"adler"} and names["Moderator"] == frozenset()
    assert {"secretari", "presid", "mr", "ms"} <= TITLE_WORDS


def test_filters_still_apply_with_the_new_signals(made_up_index):
    answer = made_up_index.ask("lighthouse loan", 5, Filters(doc_id="2022-05-22_briefing"))
    assert answer.passages and {p.citation.doc_id for p in answer.passages} == {"2022-05-22_briefing"}


def test_the_filters_conditions_are_written_once_for_every_store():
    """Reporters' questions only when a speaker is asked for; several labels of one name stand for
    the speaker; the dates bound a dated briefing (qa.stores.seam.conditions, which the embedded
    store, Milvus and the whole-archive matcher translate)."""
    from qa.stores.milvus import filter_expression
    from qa.stores.seam import conditions

    plain = conditions(Filters())
    assert (plain.speaker_keys, plain.questions, plain.doc_id, plain.dates) == ((), False, None, None)
    asked = conditions(Filters(speaker="Mr. Kirby", date_from="2023-01-01"))
    assert asked.speaker_keys == ("mr. kirby",) and asked.questions and asked.dates == ("2023-01-01", "9999-99-99")
    assert conditions(Filters(speaker="X"), ["Mr. Kirby", "Admiral Kirby"]).speaker_keys == ("mr. kirby", "admiral kirby")
    assert filter_expression(Filters()) == "is_question == false"
    assert filter_expression(Filters(speaker="Q", doc_id="d", date_to="2022-12-31")) == (
        'speaker_key == "q" and doc_id == "d" and date != "" and date <= "2022-12-31"')
