"""Calibration: fit the answer model (which sentence answers, and how sure) on questions with gold answers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from qa import answering
from qa.evaluation import GoldQuestion, answer_holds, holds_gold
from qa.query import Query
from qa.answering import Evidence
from qa.results import AnswerSentence
from qa.search import Searcher
from qa.text import collapse_whitespace

FOLDS = 5
SEED = 13
# The confidence features of a model fitted without the cross-encoder (its own verdicts left out).
BASE_FEATURES = answering.CONFIDENCE_FEATURES[: answering.CONFIDENCE_FEATURES.index("cross_logit")]
# With it: the weights tried for the sentence model's logit beside the cross-encoder's (the
# choice) and for the cross-encoder's verdict beside the fused score (the passages' order).
BLENDS = (0.0, 0.25, 0.5, 1.0, 2.0)
RERANKS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass
class QuestionData:
    """One question's answer candidates, their labels and the question-level signals."""

    question: str
    evidence: Evidence
    labels: np.ndarray  # 1 where the candidate holds the gold answer
    query: Query
    answerable: bool
    ranked: list = field(default_factory=list)  # the best passages (qa.ranking.Ranked), as ranked
    right_rows: frozenset = frozenset()  # which of them hold the gold answer


def collect(searcher: Searcher, questions: list[GoldQuestion], offtopic: list[str],
            cross: bool = False) -> list[QuestionData]:
    """The candidates of each question (off-topic ones have no right candidate); ``cross``: with the
    cross-encoder's logits for each passage's shortlist."""
    data = []
    for gold in [*questions, *offtopic]:
        text = gold.question if isinstance(gold, GoldQuestion) else gold
        query = searcher.query(text)
        ranked = list(searcher.ranker.rank(query, answering.ANSWER_PASSAGES).passages)
        evidence = searcher.evidence(query, ranked, cross=cross)
        if evidence is None or not evidence.candidates:
            continue
        labels = np.array([
            isinstance(gold, GoldQuestion) and answer_holds(_as_answer(searcher, c), gold) for c in evidence.candidates
        ], dtype=np.int64)
        right = frozenset(
            item.row for item in ranked if isinstance(gold, GoldQuestion)
            and _passage_holds(searcher, item.row, gold))
        data.append(QuestionData(text, evidence, labels, query, isinstance(gold, GoldQuestion), ranked, right))
    return data


def _passage_holds(searcher: Searcher, row: int, gold: GoldQuestion) -> bool:
    chunk = searcher.index.chunks[row]
    document = searcher.index.documents[chunk.doc_id]
    return holds_gold(document.path, document.raw[chunk.start : chunk.end], gold, document.copies)


def _as_answer(searcher: Searcher, candidate: answering.Candidate) -> AnswerSentence:
    text = collapse_whitespace(candidate.passage.raw[candidate.start : candidate.end])
    return AnswerSentence(text, searcher.citation(candidate.passage.row, candidate.start, candidate.end))


def _fit_linear(features: np.ndarray, labels: np.ndarray, names: tuple[str, ...], c: float) -> answering.LinearModel:
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=1000).fit((features - mean) / scale, labels)
    return answering.LinearModel(
        names, tuple(float(x) for x in mean), tuple(float(x) for x in scale),
        tuple(float(x) for x in model.coef_[0]), float(model.intercept_[0]),
    )


def _folds(count: int) -> np.ndarray:
    return np.random.default_rng(SEED).permutation(count) % FOLDS


def fit_sentence_model(data: list[QuestionData], c: float = 1.0) -> answering.LinearModel:
    """A model that ranks a question's candidates: logistic regression on the differences between
    a right and a wrong candidate of the same question (so it learns what makes one candidate
    better than another of the same question, not which questions are easy)."""
    from sklearn.linear_model import LogisticRegression

    answerable = [d for d in data if d.answerable and d.labels.any() and not d.labels.all()]
    features = np.concatenate([np.stack([x.features for x in d.evidence.candidates]) for d in answerable])
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    differences, labels = [], []
    for item in answerable:
        standard = (np.stack([x.features for x in item.evidence.candidates]) - mean) / scale
        right, wrong = standard[item.labels == 1], standard[item.labels == 0]
        pairs = (right[:, None, :] - wrong[None, :, :]).reshape(-1, standard.shape[1])
        differences.extend([pairs, -pairs])
        labels.extend([np.ones(len(pairs)), np.zeros(len(pairs))])
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=5000).fit(
        np.concatenate(differences), np.concatenate(labels))
    return answering.LinearModel(
        answering.SENTENCE_FEATURES, tuple(float(x) for x in mean), tuple(float(x) for x in scale),
        tuple(float(x) for x in model.coef_[0]), 0.0,
    )


def choices(data: list[QuestionData], sentence_models: list[answering.LinearModel]) -> tuple[np.ndarray, np.ndarray]:
    """Each question's chosen answer (by the sentence model given for it): confidence features and label."""
    features, labels = [], []
    for item, model in zip(data, sentence_models):
        found = item.evidence.candidates
        scores = model.predict(np.stack([c.features for c in found]))
        best = int(np.argmax(scores))
        chosen = found[best]
        others = [s for c, s in zip(found, scores) if c.passage.row != chosen.passage.row]
        evidence = item.evidence
        features.append(answering.confidence_features(
            item.query, found, chosen, float(scores[best]), max(others, default=0.0), evidence.top_cosine,
            evidence.score_margin, evidence.window_coverage, evidence.named_document,
            (0.0, 0.0, 0.0, float(chosen.passage.rank)),
        )[: len(BASE_FEATURES)])
        labels.append(int(item.labels[best]) if item.answerable else 0)
    return np.stack(features), np.array(labels)


def out_of_fold_sentence_models(data: list[QuestionData], c: float = 1.0) -> list[answering.LinearModel]:
    """For each question, a sentence model fitted on the folds that do not hold it."""
    folds = _folds(len(data))
    models = [fit_sentence_model([d for d, f in zip(data, folds) if f != fold], c) for fold in range(FOLDS)]
    return [models[f] for f in folds]


def fit(data: list[QuestionData], target_precision: float = 0.9, c: float = 1.0) -> tuple[answering.AnswerModel, dict]:
    """The answer model, its threshold chosen on out-of-fold confidences, and the fitting report."""
    sentence = fit_sentence_model(data, c)
    confidence_features, labels = choices(data, out_of_fold_sentence_models(data, c))
    folds = _folds(len(data))
    out_of_fold = np.zeros(len(data))
    for fold in range(FOLDS):
        train, test = folds != fold, folds == fold
        model = _fit_linear(confidence_features[train], labels[train], BASE_FEATURES, c)
        out_of_fold[test] = model.predict(confidence_features[test])
    confidence = _fit_linear(confidence_features, labels, BASE_FEATURES, c)
    answerable = np.array([d.answerable for d in data])
    threshold, curve = choose_threshold(out_of_fold, labels, answerable, target_precision)
    report = {
        "questions": int(answerable.sum()), "offtopic": int((~answerable).sum()),
        "best_answer_right": round(float(labels[answerable].mean()), 4) if answerable.any() else None,
        "threshold": threshold, "target_precision": target_precision, "out_of_fold_curve": curve,
    }
    return answering.AnswerModel(sentence, confidence, threshold, report), report


def fit_cross(data: list[QuestionData], sentence: answering.LinearModel, cross_model: str,
              target_precision: float = 0.9, c: float = 1.0) -> tuple[answering.AnswerModel, dict]:
    """The answer model that reads the cross-encoder (``data`` collected with ``cross=True``), the
    sentence model kept as it is (it makes the shortlist): the blend that picks the most right
    answers, the re-ranking weight that puts the most right passages first, then the confidence
    model with its threshold chosen on out-of-fold confidences, as ``fit`` does."""
    answerable = [d for d in data if d.answerable]
    unfitted = answering.LinearModel(answering.CONFIDENCE_FEATURES, (0.0,) * len(answering.CONFIDENCE_FEATURES),
                                     (1.0,) * len(answering.CONFIDENCE_FEATURES),
                                     (0.0,) * len(answering.CONFIDENCE_FEATURES), 0.0)

    def model_with(blend: float, rerank: float) -> answering.AnswerModel:
        return answering.AnswerModel(sentence, unfitted, 1.0, cross=answering.CrossUse(blend, rerank, cross_model))

    def chosen(item: QuestionData, model: answering.AnswerModel) -> tuple[answering.Choice | None, int]:
        ranked = answering.reorder(item.ranked, item.evidence, model.cross.rerank)
        rank_of = {r.row: n for n, r in enumerate(ranked[: answering.ANSWER_PASSAGES], start=1)}
        choice = answering.choose(item.query, item.evidence, model, rank_of)
        if choice is None:
            return None, 0
        position = next(i for i, x in enumerate(item.evidence.candidates) if x is choice.candidate)
        return choice, int(item.labels[position]) if item.answerable else 0

    def right_choices(blend: float) -> int:
        model = model_with(blend, 0.0)
        return sum(chosen(item, model)[1] for item in answerable)

    def right_first(rerank: float) -> int:
        return sum(bool(item.ranked) and answering.reorder(item.ranked, item.evidence, rerank)[0].row in item.right_rows
                   for item in answerable)

    blends = {blend: right_choices(blend) for blend in BLENDS}
    blend = max(BLENDS, key=lambda b: (blends[b], -b))
    reranks = {rerank: right_first(rerank) for rerank in RERANKS}
    rerank = max(RERANKS, key=lambda r: (reranks[r], -r))
    model = model_with(blend, rerank)
    features, labels = [], []
    for item in data:
        choice, label = chosen(item, model)
        features.append(choice.features)
        labels.append(label)
    features, labels = np.stack(features), np.array(labels)
    folds = _folds(len(data))
    out_of_fold = np.zeros(len(data))
    for fold in range(FOLDS):
        train, test = folds != fold, folds == fold
        fitted = _fit_linear(features[train], labels[train], answering.CONFIDENCE_FEATURES, c)
        out_of_fold[test] = fitted.predict(features[test])
    confidence = _fit_linear(features, labels, answering.CONFIDENCE_FEATURES, c)
    is_answerable = np.array([d.answerable for d in data])
    threshold, curve = choose_threshold(out_of_fold, labels, is_answerable, target_precision)
    report = {
        "questions": int(is_answerable.sum()), "offtopic": int((~is_answerable).sum()),
        "best_answer_right": round(float(labels[is_answerable].mean()), 4) if is_answerable.any() else None,
        "right_choices_by_blend": {str(b): n for b, n in blends.items()}, "blend": blend,
        "right_first_by_rerank": {str(r): n for r, n in reranks.items()}, "rerank": rerank,
        "threshold": threshold, "target_precision": target_precision, "out_of_fold_curve": curve,
    }
    return replace(model, confidence=confidence, threshold=threshold, fitted_on=report), report


def choose_threshold(confidence: np.ndarray, labels: np.ndarray, answerable: np.ndarray,
                     target: float, least_shown: int = 10) -> tuple[float, list[dict]]:
    """The lowest threshold at which the answers shown to the answerable questions are right at
    least ``target`` of the time (counted from ``least_shown`` answers on, so that one early
    miss among the most confident does not decide), and the curve it was read from."""
    curve = []
    for threshold in sorted(set(np.round(confidence, 4)), reverse=True):
        shown = answerable & (confidence >= threshold)
        curve.append({
            "threshold": float(threshold),
            "precision": round(float(labels[shown].mean()), 4) if shown.any() else None,
            "coverage": round(float(shown.sum() / max(answerable.sum(), 1)), 4),
            "offtopic_answered": int((~answerable & (confidence >= threshold)).sum()),
        })
    chosen = 1.0
    for point in curve:
        shown = round(point["coverage"] * answerable.sum())
        if point["precision"] is not None and shown >= least_shown and point["precision"] >= target:
            chosen = point["threshold"]
    return float(chosen), curve[::-1]


# Fusion weights: each tried at these values, one at a time, the others held (coordinate ascent).
WEIGHT_GRID = {
    "dense": (0.5, 0.75, 1.0, 1.5, 2.0, 3.0),
    "window_lexical": (0.0, 0.3, 0.6, 1.0),
    "pair_lexical": (0.0, 0.6, 1.2, 1.8),
    "document": (0.0, 0.7, 1.4, 2.0),
    "document_dense": (0.0, 0.3, 0.6, 1.0),
    "speaker": (0.0, 1.0, 2.0, 3.0),
}


def fit_weights(searcher: Searcher, questions: list[GoldQuestion], rounds: int = 2) -> tuple[dict, dict]:
    """Fusion weights that maximise MRR@10 of the right passage on ``questions``, from the current ones.

    Each question's signals are computed once; only the fusion is redone per trial. A change is
    kept only when it raises the mean MRR@10 (ties keep the weights as they were), so an encoder
    for which the defaults are best keeps them.
    """
    from dataclasses import asdict, replace

    from qa.ranking import Weights

    ranker = searcher.ranker
    store = searcher.index

    def is_right(row: int, gold: GoldQuestion) -> bool:
        chunk = store.chunks[row]
        document = store.documents[chunk.doc_id]
        return holds_gold(document.path, document.raw[chunk.start : chunk.end], gold, document.copies)

    prepared = []
    for gold in questions:
        signals = ranker.signals(searcher.query(gold.question))
        if signals is None:
            prepared.append(None)
            continue
        right = {row for row in set(int(r) for r in signals.chunks) if is_right(row, gold)}
        prepared.append((signals, right))

    def mrr(weights: Weights) -> float:
        trial = ranker.using(weights=weights)
        total = 0.0
        for item in prepared:
            if item is None or not item[1]:
                continue
            for rank, ranked in enumerate(trial.passages_of(item[0], 10), start=1):
                if ranked.row in item[1]:
                    total += 1.0 / rank
                    break
        return total / max(len(prepared), 1)

    best, best_score = ranker.weights, mrr(ranker.weights)
    start_score = best_score
    for _ in range(rounds):
        changed = False
        for name, values in WEIGHT_GRID.items():
            for value in values:
                trial = replace(best, **{name: value})
                score = mrr(trial)
                if score > best_score + 1e-9:
                    best, best_score, changed = trial, score, True
        if not changed:
            break
    return asdict(best), {"mrr@10_before": round(start_score, 4), "mrr@10_after": round(best_score, 4),
                          "weights_questions": len(questions)}
