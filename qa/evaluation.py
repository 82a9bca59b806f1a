"""Evaluation: Hit@1, Hit@5, MRR@10 and words read, over a file of questions with gold passages."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from qa.search import Passage, Searcher
from qa.text import collapse_whitespace

DEPTH = 10


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
    if Path(passage.citation.path).name != Path(gold.doc).name:
        return False
    return collapse_whitespace(gold.phrase).lower() in collapse_whitespace(passage.text).lower()


def evaluate(searcher: Searcher, questions: list[GoldQuestion]) -> list[Outcome]:
    outcomes = []
    for gold in questions:
        passages = searcher.ask(gold.question, DEPTH).passages
        rank, words = None, 0.0
        for passage in passages:
            words += len(passage.text.split())
            if is_correct(passage, gold):
                rank = passage.rank
                break
        outcomes.append(Outcome(gold, rank, words if rank else float("inf"), passages))
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict:
    count = len(outcomes) or 1
    ranks = [o.rank for o in outcomes]
    return {
        "questions": len(outcomes),
        "hit@1": round(sum(r == 1 for r in ranks) / count, 4),
        "hit@5": round(sum(r is not None and r <= 5 for r in ranks) / count, 4),
        "mrr@10": round(sum(1 / r for r in ranks if r) / count, 4),
        "median_words_read": statistics.median(o.words_read for o in outcomes) if outcomes else None,
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
    }
