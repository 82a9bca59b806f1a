"""Quality probes: ranking signals and rerankers tried beside the default ranking, measured.

Each probe adds one signal to the default fusion (``Ranker.fuse``) at a few weights and reports
Hit@1 / Hit@5 / MRR@10 on each question file, graded as ``qa eval`` grades. None of them is in
the product: README.md ("Tried and not kept") has the figures, and this script reruns them:

    .venv/bin/python bench/quality_probes.py --index .cache/eval-index \
        --questions ../shared/eval/dev.jsonl --questions tests/data/questions.jsonl

The probes, all on the candidates the ranker itself picks for a question:

- ``occasion_free_dense``: cosine with the question encoded again without the words of the
  profile (title, date, speakers) of the briefing that the question names best.
- ``neighbour_dense``: the best cosine of the windows beside the candidate in its passage.
- ``passage_dense``: the mean cosine of all windows of the candidate's passage.
- ``question_dense``: the best cosine of the reporter's question that the passage answers.
- ``wider_candidates``: every window of the three briefings the question names best joins the
  candidates (standardised on the usual candidates, so their scores are unchanged).
- ``answer_type``: 1 for a window with a number, a number word or a month name when the
  question asks for a quantity or a time ("how many", "how long", "when", "what year"), else 0.
- ``sentence_rerank``: the best 40 windows reranked by the best cosine of their sentences, each
  encoded alone at query time.
- ``late_chunking`` (``--late-chunking``, PyTorch): the same with sentence vectors pooled from the
  window's own token embeddings, so each sentence is read in its context.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.chunking import clean_for_model  # noqa: E402
from qa.evaluation import DEPTH, GoldQuestion, load_questions  # noqa: E402
from qa.stores.embedded import document_profile  # noqa: E402
from qa.lexical import tokenize  # noqa: E402
from qa.ranking import _standardise  # noqa: E402
from qa.search import Searcher  # noqa: E402
from qa.text import collapse_whitespace, sentence_spans  # noqa: E402
from qa.query import Query

WEIGHTS = (0.3, 0.6, 1.0)
RERANK_DEPTH = 40


class Probe:
    """What one question needs: its signals, its gold candidates, and the searcher's parts."""

    def __init__(self, searcher: Searcher, gold: GoldQuestion) -> None:
        self.searcher, self.gold = searcher, gold
        index, ranker = searcher.index, searcher.ranker
        self.vector = searcher.encoder.encode([gold.question])[0]
        self.signals = ranker.signals(Query.of(gold.question, self.vector))
        self.fused = ranker.fuse(self.signals)
        self.index, self.ranker = index, ranker

    def correct(self, candidates: np.ndarray) -> np.ndarray:
        phrase = collapse_whitespace(self.gold.phrase).lower()
        marks = []
        for window in candidates:
            chunk = self.index.chunks[int(self.index.window_chunk[window])]
            document = self.index.documents[chunk.doc_id]
            text = collapse_whitespace(document.raw[chunk.start : chunk.end]).lower()
            marks.append(Path(document.path).name == Path(self.gold.doc).name and phrase in text)
        return np.array(marks, dtype=bool)

    def rank_of_first_correct(self, candidates: np.ndarray, scores: np.ndarray) -> int | None:
        """1-based passage rank of the first correct passage within DEPTH (passages score as their best window)."""
        correct = self.correct(candidates)
        seen: set[int] = set()
        for position in np.argsort(-scores, kind="stable"):
            row = int(self.index.window_chunk[candidates[position]])
            if row in seen:
                continue
            seen.add(row)
            if correct[position]:
                return len(seen)
            if len(seen) == DEPTH:
                return None
        return None

    def window_raw(self, window: int) -> tuple[str, int, int]:
        """The raw text of the window's document, and the window's offsets in it."""
        start, end = self.index.window_span(int(window))
        return self.index.documents[self.index.chunks[int(self.index.window_chunk[window])].doc_id].raw, start, end

    def window_cosines(self, row: int, vector: np.ndarray) -> np.ndarray:
        windows = np.flatnonzero(self.index.window_chunk == row)
        return self.index.vectors.reconstruct_batch(windows) @ vector, windows


def occasion_free_dense(probe: Probe) -> np.ndarray:
    ranker = probe.ranker
    best = int(np.argmax(probe.index.lexical["documents"].scores(probe.gold.question)))
    profile = set(tokenize(document_profile(probe.index.documents[probe.index.doc_ids[best]])))
    words = probe.gold.question.split()
    kept = [word for word in words if not set(tokenize(word)) & profile] or words
    vector = probe.searcher.encoder.encode([" ".join(kept)])[0]
    return probe.index.vectors.reconstruct_batch(probe.signals.candidates) @ vector


def neighbour_dense(probe: Probe) -> np.ndarray:
    values = []
    for window in probe.signals.candidates:
        cosines, windows = probe.window_cosines(int(probe.index.window_chunk[window]), probe.vector)
        at = int(np.flatnonzero(windows == window)[0])
        beside = [cosines[i] for i in (at - 1, at + 1) if 0 <= i < len(cosines)]
        values.append(max(beside) if beside else cosines[at])
    return np.array(values)


def passage_dense(probe: Probe) -> np.ndarray:
    return np.array([
        probe.window_cosines(int(probe.index.window_chunk[w]), probe.vector)[0].mean() for w in probe.signals.candidates
    ])


def question_dense(probe: Probe) -> np.ndarray:
    chunks = probe.index.chunks
    question_row = {(c.doc_id, c.turn): row for row, c in enumerate(chunks) if c.is_question}
    values = np.full(len(probe.signals.candidates), np.nan)
    for i, window in enumerate(probe.signals.candidates):
        chunk = chunks[int(probe.index.window_chunk[window])]
        row = question_row.get((chunk.doc_id, chunk.question_turn))
        if row is not None:
            values[i] = probe.window_cosines(row, probe.vector)[0].max()
    floor = np.nanmin(values) if np.isfinite(values).any() else 0.0
    return np.where(np.isnan(values), floor, values)


# Questions that ask for a quantity or a time, and the words that carry one in an answer.
QUANTITY_QUESTION = re.compile(
    r"\bhow (many|much|long|large|big|often|far|quickly|fast|high|old|soon|small)\b|\bby how much\b"
    r"|\bwhat (percentage|share|number|amount|size|value|output value|level of|year|date|day|month|time)\b"
    r"|^\s*(when|since when)\b",
    re.IGNORECASE,
)
QUANTITY_WORDS = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty"
    r"|sixty|seventy|eighty|ninety|hundred|thousand|million|billion|trillion|dozen|dozens|half|percent|first"
    r"|second|third|fourth|fifth|double|twice|January|February|March|April|May|June|July|August|September"
    r"|October|November|December)\b",
    re.IGNORECASE,
)


def answer_type(probe: Probe) -> np.ndarray:
    if not QUANTITY_QUESTION.search(probe.gold.question):
        return np.zeros(len(probe.signals.candidates))
    values = []
    for window in probe.signals.candidates:
        raw, start, end = probe.window_raw(window)
        values.append(bool(QUANTITY_WORDS.search(raw[start:end])))
    return np.array(values, dtype=np.float64)


def sentence_cosines(encode_sentences: Callable[[str, int, int], np.ndarray]):
    def signal(probe: Probe) -> tuple[np.ndarray, np.ndarray]:
        top = np.argsort(-probe.fused, kind="stable")[:RERANK_DEPTH]
        values = []
        for position in top:
            vectors = encode_sentences(*probe.window_raw(probe.signals.candidates[position]))
            values.append(float((vectors @ probe.vector).max()) if len(vectors) else 0.0)
        return top, np.array(values)

    return signal


def isolated_sentences(searcher: Searcher) -> Callable[[str, int, int], np.ndarray]:
    def encode(raw: str, start: int, end: int) -> np.ndarray:
        texts = [clean_for_model(raw[s:e]) for s, e in sentence_spans(raw, start, end)]
        return searcher.encoder.encode([t for t in texts if t] or [" "])

    return encode


def late_chunked_sentences(model_name: str) -> Callable[[str, int, int], np.ndarray]:
    import torch
    from sentence_transformers import SentenceTransformer

    from qa.embedding import resolve_model

    model = SentenceTransformer(resolve_model(model_name), device="cpu")
    tokenizer, transformer = model.tokenizer, model[0].auto_model

    def encode(raw: str, start: int, end: int) -> np.ndarray:
        texts, ranges, cursor = [], [], 0
        for s, e in sentence_spans(raw, start, end):
            text = clean_for_model(raw[s:e])
            if text:
                texts.append(text)
                ranges.append((cursor, cursor + len(text)))
                cursor += len(text) + 1
        encoded = tokenizer(" ".join(texts), return_offsets_mapping=True, truncation=True, max_length=256, return_tensors="pt")
        offsets = encoded.pop("offset_mapping")[0].numpy()
        with torch.no_grad():
            tokens = transformer(**encoded).last_hidden_state[0].numpy()
        vectors = []
        for low, high in ranges:
            inside = (offsets[:, 0] >= low) & (offsets[:, 1] <= high) & (offsets[:, 1] > offsets[:, 0])
            if inside.any():
                vector = tokens[inside].mean(axis=0)
                vectors.append(vector / np.linalg.norm(vector))
        return np.array(vectors)

    return encode


def summary(ranks: list[int | None]) -> str:
    count = len(ranks) or 1
    hit1 = sum(r == 1 for r in ranks) / count
    hit5 = sum(r is not None and r <= 5 for r in ranks) / count
    mrr = sum(1 / r for r in ranks if r) / count
    return f"{hit1:.2f} / {hit5:.2f} / {mrr:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / ".cache" / "eval-index")
    parser.add_argument("--questions", type=Path, action="append", required=True)
    parser.add_argument("--late-chunking", action="store_true", help="also the late-chunking probe (loads the PyTorch model)")
    args = parser.parse_args()

    from qa.reloader import load_searcher
    from qa.settings import Settings

    searcher = load_searcher(Settings.from_env().with_overrides(index_dir=args.index))
    additive = {
        "occasion_free_dense": occasion_free_dense,
        "neighbour_dense": neighbour_dense,
        "passage_dense": passage_dense,
        "question_dense": question_dense,
        "answer_type": answer_type,
    }
    reranks = {"sentence_rerank": sentence_cosines(isolated_sentences(searcher))}
    if args.late_chunking:
        reranks["late_chunking"] = sentence_cosines(late_chunked_sentences(searcher.encoder.name))
    rows: dict[str, list[str]] = {}
    for path in args.questions:
        probes = [Probe(searcher, gold) for gold in load_questions(path)]
        results: dict[str, list[int | None]] = {"default ranking": [p.rank_of_first_correct(p.signals.candidates, p.fused) for p in probes]}
        for name, signal in additive.items():
            values = [_standardise(signal(p)) for p in probes]
            for weight in WEIGHTS:
                results[f"+ {name} x{weight}"] = [
                    p.rank_of_first_correct(p.signals.candidates, p.fused + weight * v) for p, v in zip(probes, values)
                ]
        results["+ wider_candidates"] = [wider(p) for p in probes]
        for name, signal in reranks.items():
            values = [signal(p) for p in probes]
            for weight in WEIGHTS:
                results[f"{name} x{weight}"] = [
                    p.rank_of_first_correct(p.signals.candidates[top], p.fused[top] + weight * _standardise(v))
                    for p, (top, v) in zip(probes, values)
                ]
        for name, ranks in results.items():
            rows.setdefault(name, []).append(summary(ranks))
    width = max(map(len, rows))
    print(f"{'probe'.ljust(width)} | " + " | ".join(p.name for p in args.questions) + "   (Hit@1 / Hit@5 / MRR@10)")
    for name, cells in rows.items():
        print(f"{name.ljust(width)} | " + " | ".join(cells))
    return 0


def wider(probe: Probe) -> int | None:
    """Every window of the three best-named briefings joins the candidates, standardised as the usual ones."""
    ranker, signals = probe.ranker, probe.signals
    best_docs = np.argsort(-probe.index.lexical["documents"].scores(probe.gold.question))[:3]
    extra = np.setdiff1d(np.flatnonzero(np.isin(probe.index.window_doc, best_docs) & ~probe.index.window_is_question), signals.candidates)
    if len(extra) == 0:
        return probe.rank_of_first_correct(signals.candidates, probe.fused)
    both = ranker.signals_at(Query.of(probe.gold.question, probe.vector), np.concatenate([signals.candidates, extra]))
    usual = np.arange(len(both.candidates)) < len(signals.candidates)
    weights = ranker.weights
    fused = weights.speaker * both.speaker
    for name in ("dense", "window_lexical", "pair_lexical", "document", "document_dense"):
        values = getattr(both, name).astype(np.float64)
        reference = values[usual]
        spread = reference.std() or 1.0
        fused = fused + getattr(weights, name) * (values - reference.mean()) / spread
    return probe.rank_of_first_correct(both.candidates, fused)


if __name__ == "__main__":
    sys.exit(main())
