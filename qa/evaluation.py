"""Evaluation: Hit@1, Hit@5, MRR@10, words read, and the answer's precision, coverage and abstention."""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path

from qa.results import AnswerSentence, Passage
from qa.search import Searcher
from qa.text import collapse_whitespace

DEPTH = 10
# An answer holds the gold answer when it has the phrase, or this share of its longer words.
ANSWER_WORD_SHARE = 0.6
_WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    doc: str
    phrase: str


@dataclass(frozen=True)
class Outcome:
    question: GoldQuestion
    rank: int | None  # 1-based rank of the first correct passage within DEPTH, or None
    words_read: float  # words of the passages read up to and including the first correct one
    top: tuple[Passage, ...]
    answered: bool = False  # an answer was shown
    answer_right: bool = False  # the best answer found (shown or not) holds the gold answer
    confidence: float = 0.0  # of that answer
    proposed: AnswerSentence | None = None


def load_questions(path: Path) -> list[GoldQuestion]:
    """Read a JSON-lines question file; each line needs id, question, doc and phrase."""
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            questions.append(GoldQuestion(str(record["id"]), record["question"], record["doc"], record["phrase"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: not a question record ({error})") from None
    return questions


def is_correct(passage: Passage, gold: GoldQuestion) -> bool:
    """From the gold file and containing the phrase, whitespace collapsed and case ignored."""
    return holds_gold(passage.citation.path, passage.text, gold, passage.citation.copies)


def from_gold_file(path: str, gold: GoldQuestion, copies: Sequence[tuple[str, str | None]] = ()) -> bool:
    """The document at ``path`` (or one of its other postings, ``copies``) is the gold file."""
    return any(Path(p).name == Path(gold.doc).name for p in (path, *(c[0] for c in copies)))


def holds_gold(path: str, text: str, gold: GoldQuestion, copies: Sequence[tuple[str, str | None]] = ()) -> bool:
    """``text`` of the file at ``path`` is from the gold file and contains the phrase."""
    if not from_gold_file(path, gold, copies):
        return False
    return collapse_whitespace(gold.phrase).lower() in collapse_whitespace(text).lower()


def answer_holds(answer: AnswerSentence | None, gold: GoldQuestion) -> bool:
    """From the gold file, and holding the phrase or ANSWER_WORD_SHARE of its words of four or more letters."""
    if answer is None or not from_gold_file(answer.citation.path, gold, answer.citation.copies):
        return False
    text = collapse_whitespace(answer.text).lower()
    phrase = collapse_whitespace(gold.phrase).lower()
    if phrase in text:
        return True
    wanted = {w for w in _WORD.findall(phrase) if len(w) >= 4}
    if not wanted:
        return False
    return len(wanted & set(_WORD.findall(text))) >= ANSWER_WORD_SHARE * len(wanted)


def evaluate(searcher: Searcher, questions: list[GoldQuestion]) -> list[Outcome]:
    outcomes = []
    for gold in questions:
        answer = searcher.ask(gold.question, DEPTH)
        passages = answer.passages
        rank, words = None, 0.0
        for passage in passages:
            words += len(passage.text.split())
            if is_correct(passage, gold):
                rank = passage.rank
                break
        outcomes.append(Outcome(
            gold, rank, words if rank else float("inf"), passages, answer.answered,
            answer_holds(answer.proposed, gold), answer.confidence, answer.proposed,
        ))
    return outcomes


def abstention(searcher: Searcher, questions: list[str]) -> dict:
    """How many questions the corpus cannot answer were left without an answer."""
    answered = [q for q in questions if searcher.ask(q, 5).answered]
    count = len(questions) or 1
    return {
        "questions": len(questions),
        "abstained": len(questions) - len(answered),
        "abstention": round((len(questions) - len(answered)) / count, 4),
        "answered": answered,
    }


def load_offtopic(path: Path) -> list[str]:
    """Read a JSON-lines file of questions the corpus cannot answer (each line needs "question")."""
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                questions.append(str(json.loads(line)["question"]))
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a question record ({error})") from None
    return questions


def answer_curve(outcomes: list[Outcome], thresholds: tuple[float, ...] = tuple(i / 20 for i in range(20))) -> list[dict]:
    """Answer precision and coverage had the answer been shown from each confidence threshold on."""
    curve = []
    for threshold in thresholds:
        shown = [o for o in outcomes if o.proposed is not None and o.confidence >= threshold]
        right = sum(o.answer_right for o in shown)
        curve.append({
            "threshold": threshold,
            "precision": round(right / len(shown), 4) if shown else None,
            "coverage": round(len(shown) / (len(outcomes) or 1), 4),
            "shown": len(shown),
            "right": right,
        })
    return curve


def summarise(outcomes: list[Outcome]) -> dict:
    count = len(outcomes) or 1
    ranks = [o.rank for o in outcomes]
    return {
        "questions": len(outcomes),
        "hit@1": round(sum(r == 1 for r in ranks) / count, 4),
        "hit@5": round(sum(r is not None and r <= 5 for r in ranks) / count, 4),
        "mrr@10": round(sum(1 / r for r in ranks if r) / count, 4),
        "median_words_read": statistics.median(o.words_read for o in outcomes) if outcomes else None,
        "answers_shown": sum(o.answered for o in outcomes),
        "answers_right": sum(o.answered and o.answer_right for o in outcomes),
        "answer_precision": (
            round(sum(o.answered and o.answer_right for o in outcomes) / shown, 4)
            if (shown := sum(o.answered for o in outcomes)) else None
        ),
        "answer_coverage": round(sum(o.answered for o in outcomes) / count, 4),
        "best_answer_right": round(sum(o.answer_right for o in outcomes) / count, 4),
        "answer_curve": answer_curve(outcomes),
        "misses": [
            {
                "id": o.question.id,
                "question": o.question.question,
                "gold_doc": o.question.doc,
                "phrase": o.question.phrase,
                "rank": o.rank,
                "got": [
                    {"rank": p.rank, "path": p.citation.path, "speaker": p.citation.speaker, "text": p.text[:160]}
                    for p in o.top[:3]
                ],
            }
            for o in outcomes
            if o.rank != 1
        ],
        "wrong_answers": [
            {"id": o.question.id, "question": o.question.question, "phrase": o.question.phrase,
             "answer": o.proposed.text if o.proposed else None, "confidence": o.confidence}
            for o in outcomes
            if o.answered and not o.answer_right
        ],
    }
