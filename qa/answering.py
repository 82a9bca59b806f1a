"""The answer, highlights and confidence: which words of the best passages answer, and how sure that is."""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.answer_types import kind_near, kind_spans, may_hold
from qa.chunking import Sentences
from qa.matching import MATCH_FLOOR
from qa.query import Query
from qa.text import collapse_whitespace, word_count

if TYPE_CHECKING:
    from qa.crossencoder import CrossEncoder
    from qa.ranking import Ranked
    from qa.stores.seam import Store

# A sentence is highlighted when it carries at least this share of the best sentence's weight.
HIGHLIGHT_SHARE = 0.6
# Below this cosine (MiniLM's) the best passage matches the question only weakly: the overlap
# rule shows no answer then, and a withheld answer's reason says so. Set on the 70 dev and own
# questions against the 25 off-topic ones: at 0.43, 66 of 70 were answered and 24 of 25 abstained.
WEAK_MATCH = 0.43
# The answer is looked for in this many of the best passages.
ANSWER_PASSAGES = 3
# An answer is a sentence, or a sentence with the neighbour it needs, of at most this many words.
MAX_ANSWER_WORDS = 60
MODEL_FILE = Path(__file__).with_name("answer_model.json")


def model_file_for(encoder_model: str | None) -> Path:
    """The shipped fit for an encoder: answer_model.json for the default (MiniLM), and
    answer_model-NAME.json for another, NAME being its folder's or hub id's last part
    ("models/embeddinggemma-300m" and "google/embeddinggemma-300m" both read the same file)."""
    from qa.settings import DEFAULT_MODEL

    name = Path(str(encoder_model or DEFAULT_MODEL).rstrip("/")).name
    if name == DEFAULT_MODEL:
        return MODEL_FILE
    return MODEL_FILE.with_name(f"answer_model-{name.lower()}.json")

# A sentence that opens with one of these refers back to the one before ("That was...", "It
# will..."): alone it does not say what it answers.
_REFERS_BACK = re.compile(
    r"^(?:it|its|that|this|these|those|they|them|their|he|she|his|her|so|and|but|which|there|such|both|"
    r"here|then|also|yes|no)\b", re.I)


@dataclass(frozen=True)
class PassageView:
    """What the answer needs of one ranked passage: its place, its text and its windows' cosines."""

    rank: int
    row: int
    score: float
    raw: str
    start: int
    end: int
    windows: tuple[tuple[int, int], ...]
    window_cosines: tuple[float, ...]
    best_window: int  # position in ``windows``
    sentences: Sentences  # its sentences, their words and kinds (the store's)
    occasion: frozenset[str] = frozenset()  # the words naming its briefing (title, date, speakers)
    doc_id: str = ""


# Features of one candidate answer (a sentence, maybe with its neighbour), for choosing among them.
SENTENCE_FEATURES = (
    "overlap",  # share of the question's IDF weight in the answer's words
    "overlap_topic",  # the same, leaving out the words that name the passage's briefing
    "overlap_context",  # share in the answer with one sentence either side
    "window_cosine",  # cosine of the question and the window holding the sentence
    "in_best_window",  # 1 when the sentence is in its passage's best window
    "kind_match",  # 1 when the question asks for a kind (number, date...) and the answer has one
    "kind_near",  # 1 when such words stand within a few words of the question's topic words
    "passage_gap",  # the passage's fused score below the best passage's (0 for the best)
    "first_in_turn",  # 1 for a turn's first sentence
    "log_words",
    "is_question",  # 1 when the sentence ends in "?"
)
# Features of the chosen answer, for the confidence that it is right.
CONFIDENCE_FEATURES = (
    "sentence_score",  # the choosing model's probability for the chosen answer
    "runner_up_gap",  # how far the next-best candidate from another passage is below it
    "top_cosine",  # the best passage's best-window cosine
    "score_margin",  # the best passage's fused score over the second's
    "window_coverage",  # share of the question's IDF weight in the best passage's best window
    "kind_expected",
    "kind_match",
    "kind_near",
    "overlap_topic",
    "same_document",  # how many of the best passages are from the chosen answer's briefing
    "document_named",  # 1 when the question's words name the chosen answer's briefing best of all
    # The cross-encoder's verdict (qa.crossencoder; 0 for a model fitted without it):
    "cross_logit",  # its logit for the chosen sentence
    "cross_margin",  # that logit over the best other sentence's it scored
    "cross_share",  # the chosen sentence's share of a softmax over the sentences it scored
    "passage_rank",  # the chosen answer's passage's place among the best passages (1 = first)
)
# Candidates the cross-encoder reads, per passage: the sentence model's best ones there. Measured
# on blind-train-428 (pipeline's best three passages): the right sentence is the sentence model's
# first in its passage for 47%, in its best three for 79%, its best five for 93%; the 6-layer
# cross-encoder reads three passages' best three (about 9 pairs) in 48 ms at p50 and their best
# five (14) in 69 ms (2 threads, this session's Xeon with VNNI).
SHORTLIST = 3


@dataclass(frozen=True)
class Candidate:
    passage: PassageView
    start: int
    end: int
    sentence: tuple[int, int]  # the sentence the answer is built around
    features: np.ndarray  # SENTENCE_FEATURES


@dataclass(frozen=True)
class CrossScores:
    """The cross-encoder's logits for some candidates (positions in the question's candidate list)."""

    positions: tuple[int, ...]
    logits: np.ndarray


@dataclass(frozen=True)
class Evidence:
    """What the answer is chosen from: candidates of the best passages and question-level signals."""

    candidates: list[Candidate]
    sentence_scores: np.ndarray  # the sentence model's probability for each candidate
    top_cosine: float
    score_margin: float
    window_coverage: float
    named_document: str | None  # the briefing whose title, date and speakers the question names best
    cross: CrossScores | None = None  # the cross-encoder's logits for the shortlist (None: not read)

    def passage_cross(self) -> dict[int, float]:
        """Each passage's (row's) best cross-encoder logit among its scored sentences."""
        best: dict[int, float] = {}
        if self.cross is not None:
            for position, logit in zip(self.cross.positions, self.cross.logits.tolist()):
                row = self.candidates[position].passage.row
                best[row] = max(best.get(row, -math.inf), logit)
        return best


@dataclass(frozen=True)
class CrossUse:
    """How an answer model uses the cross-encoder: the choice is the shortlisted candidate with the
    best ``logit + blend * sentence model's logit``; a passage among the best gains ``rerank`` times
    its best sentence's logit; ``model`` is the SHA-256 of the cross-encoder it was fitted with."""

    blend: float
    rerank: float
    model: str


@dataclass(frozen=True)
class Choice:
    """The answer picked for a question, with its confidence and the features that gave it."""

    candidate: Candidate
    confidence: float
    features: np.ndarray  # CONFIDENCE_FEATURES


@dataclass(frozen=True)
class LinearModel:
    """Logistic regression on standardised features (fitted by qa.calibration)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def predict(self, features: np.ndarray, names: tuple[str, ...] | None = None) -> np.ndarray:
        """The probability for each row of ``features``, whose columns are ``names`` (default: this
        model's own); a model reads the columns it was fitted on, by name."""
        features = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if names is not None and names != self.names:
            features = features[:, [names.index(name) for name in self.names]]
        z = ((features - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class Floors:
    """The cosines a search reads as thresholds, which depend on the encoder's vector space: the
    weak match below which no answer is clearly there (``WEAK_MATCH``) and the relevance floor of
    a match by meaning (``qa.matching.MATCH_FLOOR``). Both were measured for MiniLM; an answer
    model that records none (EmbeddingGemma's) reads MiniLM's."""

    weak_match: float = WEAK_MATCH
    match_floor: float = MATCH_FLOOR


@dataclass(frozen=True)
class AnswerModel:
    """How answers are chosen and when they are shown; ``qa calibrate`` writes it. Loaded for the
    index's encoder and handed to the searcher with the ranking weights and floors fitted with it."""

    sentence: LinearModel
    confidence: LinearModel
    threshold: float  # an answer is shown when its confidence is at least this
    fitted_on: dict = field(default_factory=dict)  # what it was fitted on, for the record
    # The ranking's fusion weights fitted with it for the same encoder (None: the defaults).
    weights: dict | None = None
    # How it reads the cross-encoder (None: it was fitted without one).
    cross: CrossUse | None = None
    floors: Floors = field(default_factory=Floors)

    @classmethod
    def by_overlap(cls) -> AnswerModel:
        """Before any fitting: the sentence with most of the question's weight, in the best passage's
        best window above all, shown when that window's cosine is at least WEAK_MATCH (the
        ablation's first row)."""
        return cls(
            _hand_set(SENTENCE_FEATURES, {"overlap": 4.0, "in_best_window": 4.0, "passage_gap": -4.0}, 0.0),
            _hand_set(CONFIDENCE_FEATURES, {"top_cosine": 40.0}, -40.0 * WEAK_MATCH),
            0.5, {"rule": f"overlap, cosine >= {WEAK_MATCH}"},
        )

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerModel:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
        sentence, confidence = (_linear(record[name]) for name in ("sentence", "confidence"))
        if sentence.names != SENTENCE_FEATURES or not set(confidence.names) <= set(CONFIDENCE_FEATURES):
            raise ValueError(f"{path} was fitted on other features: refit it with 'qa calibrate'")
        cross = record.get("cross")
        return cls(sentence, confidence, float(record["threshold"]), record.get("fitted_on", {}), record.get("weights"),
                   CrossUse(float(cross["blend"]), float(cross["rerank"]), str(cross["model"])) if cross else None,
                   Floors(**record["floors"]) if "floors" in record else Floors())

    def save(self, path: Path = MODEL_FILE) -> None:
        record = {
            "threshold": self.threshold,
            "sentence": _linear_json(self.sentence),
            "confidence": _linear_json(self.confidence),
            "fitted_on": self.fitted_on,
        }
        if self.weights is not None:
            record["weights"] = self.weights
        record["floors"] = asdict(self.floors)
        if self.cross is not None:
            record["cross"] = {"blend": self.cross.blend, "rerank": self.cross.rerank, "model": self.cross.model}
        Path(path).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _hand_set(names: tuple[str, ...], coef: dict[str, float], intercept: float) -> LinearModel:
    return LinearModel(names, (0.0,) * len(names), (1.0,) * len(names),
                       tuple(coef.get(name, 0.0) for name in names), intercept)


def _linear(record: dict) -> LinearModel:
    return LinearModel(
        tuple(record["names"]), tuple(record["mean"]), tuple(record["scale"]), tuple(record["coef"]),
        float(record["intercept"]),
    )


def _linear_json(model: LinearModel) -> dict:
    return {"names": list(model.names), "mean": list(model.mean), "scale": list(model.scale),
            "coef": list(model.coef), "intercept": model.intercept}


# -- candidates --------------------------------------------------------------------------------


def candidates(query: Query, passages: list[PassageView]) -> list[Candidate]:
    """Every sentence of the given passages as an answer candidate, with its features.

    What a passage's sentences are and which words each holds is read from the passage (the index
    computed it when it was built); what depends on the question (the kind of words it asks for,
    the words it shares) is computed once per text and question, however many candidates read it.
    """
    found: list[Candidate] = []
    if not passages:
        return found
    best_score = passages[0].score
    total = sum(query.idf.values()) or 1.0
    kinds_of = _once(lambda text: kind_spans(text, query.kind, query.text))

    def share(words: frozenset[str], leave_out: frozenset[str] = frozenset()) -> float:
        return sum(w for t, w in query.idf.items() if t in words and t not in leave_out) / total

    for passage in passages:
        raw = passage.raw
        topic = frozenset(query.tokens) - passage.occasion
        near = _once(lambda text, topic=topic: kind_near(text, query.kind, topic, spans=kinds_of(text)))
        sentences = passage.sentences
        spans, words = list(sentences.spans), sentences.words
        # A sentence whose stored kinds leave out the question's holds none of its kind's words.
        lacking = {span for span, kinds in zip(spans, sentences.kinds) if query.kind and not may_hold(kinds, query.kind)}
        kinds_at = _once(lambda start, end: [] if (start, end) in lacking else kinds_of(raw[start:end]))
        starts, ends = [s for s, _ in spans], [e for _, e in spans]
        union = _once(lambda first, last: frozenset().union(*words[first:last]))
        for number, (start, end) in enumerate(spans):
            span_start, span_end = answer_span(raw, spans, number, query.kind, query.text, kinds_at)
            # The words of the sentences wholly inside the answer (a cut one is left out).
            span_words = union(bisect_left(starts, span_start), bisect_right(ends, span_end))
            window = _window_of(passage, start)
            text = raw[span_start:span_end]
            features = np.array([
                share(span_words),
                share(span_words, passage.occasion),
                share(union(max(0, number - 1), number + 2)),
                passage.window_cosines[window],
                1.0 if window == passage.best_window else 0.0,
                1.0 if kinds_at(span_start, span_end) else 0.0,
                1.0 if near(text) else 0.0,
                best_score - passage.score,
                1.0 if number == 0 else 0.0,
                math.log1p(word_count(raw[start:end])),
                1.0 if raw[start:end].rstrip("\"'\u201d) ").endswith("?") else 0.0,
            ])
            found.append(Candidate(passage, span_start, span_end, (start, end), features))
    return found


def _once(function: Callable) -> Callable:
    """``function`` computing each distinct argument once (for one question's candidates)."""
    done: dict = {}

    def once(*args):
        value = done.get(args, done)
        if value is done:
            value = done[args] = function(*args)
        return value

    return once


def answer_span(raw: str, sentences: list[tuple[int, int]], number: int, kind: str | None = None,
                question: str = "", kinds_at: Callable[[int, int], list] | None = None) -> tuple[int, int]:
    """Sentence ``number`` of a passage with the neighbour it needs, at most MAX_ANSWER_WORDS words:
    the sentence before when it refers back to it ("That was...", "They...") or is too short to
    stand alone; the one after when it only announces it (ends in ':'); and, when the question
    asks for a kind of answer (a number, a date...) that the sentence lacks, the neighbour that
    has it. A sentence longer than the limit is cut at a clause boundary. ``kinds_at(start, end)``:
    the words of the kind in ``raw[start:end]`` (``kind_spans``; a caller asking for many sentences
    remembers them)."""
    if kinds_at is None:
        kinds_at = lambda start, end: kind_spans(raw[start:end], kind, question)  # noqa: E731
    start, end = sentences[number]
    text = raw[start:end]
    first, last = number, number

    def fits(other: int) -> bool:
        return word_count(raw[start:end]) + word_count(raw[slice(*sentences[other])]) <= MAX_ANSWER_WORDS

    if number > 0 and (_REFERS_BACK.match(text) or word_count(text) < 6) and fits(number - 1):
        first = number - 1
        start = sentences[first][0]
    if text.rstrip().endswith(":") and number + 1 < len(sentences) and fits(number + 1):
        last = number + 1
        end = sentences[last][1]
    if kind is not None and not kinds_at(start, end):
        if last + 1 < len(sentences) and kinds_at(*sentences[last + 1]) and fits(last + 1):
            end = sentences[last + 1][1]
        elif first > 0 and kinds_at(*sentences[first - 1]) and fits(first - 1):
            start = sentences[first - 1][0]
    if word_count(raw[start:end]) > MAX_ANSWER_WORDS:
        end = _cut_after_words(raw, start, end, MAX_ANSWER_WORDS)
    return start, end


def _cut_after_words(raw: str, start: int, end: int, limit: int) -> int:
    """The end of the last clause (or, failing one, word) within the first ``limit`` words."""
    word_ends = [start + m.end() for m in re.finditer(r"\S+", raw[start:end])][:limit]
    if not word_ends:
        return end
    # A clause end in the second half, so that a cut keeps most of the sentence.
    clause_ends = [e - 1 for e in word_ends[limit // 2 :] if raw[e - 1] in ",;:"]
    return clause_ends[-1] if clause_ends else word_ends[-1]


def _window_of(passage: PassageView, offset: int) -> int:
    for number, (start, end) in enumerate(passage.windows):
        if start <= offset < end:
            return number
    return passage.best_window


def shortlist(evidence_candidates: list[Candidate], scores: np.ndarray, per_passage: int = SHORTLIST) -> list[int]:
    """The positions of each passage's ``per_passage`` candidates the sentence model likes best."""
    by_passage: dict[int, list[int]] = {}
    for position in np.argsort(-np.asarray(scores), kind="stable").tolist():
        kept = by_passage.setdefault(evidence_candidates[position].passage.row, [])
        if len(kept) < per_passage:
            kept.append(position)
    return sorted(p for kept in by_passage.values() for p in kept)


def choose(query: Query, evidence: Evidence, model: AnswerModel, rank_of: dict[int, int] | None = None) -> Choice | None:
    """The candidate the model likes best, with the confidence model's verdict on it.

    Without the cross-encoder the sentence model chooses among all candidates; with it, the
    choice is among the shortlist it read (its logit plus ``blend`` times the sentence model's).
    ``rank_of``: each passage's (row's) place among the best passages, after any re-ranking.
    """
    found = evidence.candidates
    if not found:
        return None
    scores = evidence.sentence_scores
    cross = evidence.cross if model.cross is not None else None
    if cross is not None and cross.positions:
        positions = np.asarray(cross.positions)
        combined = cross.logits + model.cross.blend * _logit(scores[positions])
        at = int(np.argmax(combined))
        best = int(positions[at])
        others = np.delete(cross.logits, at)
        shares = np.exp(cross.logits - cross.logits.max())
        cross_values = (float(cross.logits[at]), float(cross.logits[at] - (others.max() if len(others) else 0.0)),
                        float(shares[at] / shares.sum()))
    else:
        best = int(np.argmax(scores))
        cross_values = (0.0, 0.0, 0.0)
    chosen = found[best]
    others = [s for c, s in zip(found, scores) if c.passage.row != chosen.passage.row]
    rank = (rank_of or {}).get(chosen.passage.row, chosen.passage.rank)
    features = confidence_features(query, found, chosen, float(scores[best]), max(others, default=0.0),
                                   evidence.top_cosine, evidence.score_margin, evidence.window_coverage,
                                   evidence.named_document, (*cross_values, float(rank)))
    return Choice(chosen, float(model.confidence.predict(features, CONFIDENCE_FEATURES)[0]), features)


def reorder(ranked: list, evidence: Evidence, weight: float) -> list:
    """The best ANSWER_PASSAGES of ``ranked`` (``qa.ranking.Ranked``) in the order of their fused score
    plus ``weight`` times their best sentence's cross-encoder logit relative to the best passage's
    (a passage the cross-encoder did not read counts as the best); the rest as they were."""
    best = evidence.passage_cross()
    if not weight or not best:
        return list(ranked)
    ceiling = max(best.values())
    top = [replace(item, score=item.score + weight * (best.get(item.row, ceiling) - ceiling))
           for item in ranked[:ANSWER_PASSAGES]]
    top.sort(key=lambda item: -item.score)
    return top + list(ranked[ANSWER_PASSAGES:])


def _logit(probability: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def confidence_features(query: Query, found: list[Candidate], chosen: Candidate, score: float, runner_up: float,
                        top_cosine: float, score_margin: float, window_coverage: float,
                        named_document: str | None, cross: tuple[float, float, float, float]) -> np.ndarray:
    """CONFIDENCE_FEATURES of the chosen candidate (``cross``: logit, margin, share, passage rank)."""
    named = dict(zip(SENTENCE_FEATURES, chosen.features))
    passages = {c.passage.row: c.passage for c in found}.values()
    return np.array([
        score, score - runner_up, top_cosine, score_margin, window_coverage,
        1.0 if query.kind else 0.0, named["kind_match"], named["kind_near"], named["overlap_topic"],
        float(sum(p.doc_id == chosen.passage.doc_id for p in passages)),
        1.0 if named_document == chosen.passage.doc_id else 0.0,
        *cross,
    ])


# -- the evidence ------------------------------------------------------------------------------


def passage_views(store: Store, query: Query, ranked: list[Ranked]) -> list[PassageView]:
    """The best passages as the answer sees them: text, sentences, windows and each window's cosine."""
    if not ranked:
        return []
    numbers = [store.chunk_windows(item.row) for item in ranked]
    # One read of the passages' window vectors (and of their briefings' profiles) for all of them.
    vectors = store.window_rows(np.concatenate(numbers)).vectors
    cosines = (vectors @ np.asarray(query.vector, dtype=np.float32)).tolist()
    chunks = [store.chunks[item.row] for item in ranked]
    occasions = store.profile_tokens(np.array([store.doc_number[c.doc_id] for c in chunks]))
    views, at = [], 0
    for rank, (item, chunk, windows, occasion) in enumerate(zip(ranked, chunks, numbers, occasions), start=1):
        views.append(PassageView(
            rank=rank, row=item.row, score=item.score, raw=store.documents[chunk.doc_id].raw,
            start=chunk.start, end=chunk.end,
            windows=tuple(store.window_span(int(n)) for n in windows),
            window_cosines=tuple(cosines[at : at + len(windows)]),
            best_window=int(np.searchsorted(windows, item.window)),
            occasion=occasion, doc_id=chunk.doc_id, sentences=store.sentences(item.row),
        ))
        at += len(windows)
    return views


def evidence(store: Store, query: Query, ranked: list[Ranked], sentence_model: LinearModel,
             cross_encoder: CrossEncoder | None) -> Evidence | None:
    """The answer candidates of the best ANSWER_PASSAGES of ``ranked`` and the question-level signals
    on them, with ``cross_encoder``'s logits for each passage's shortlist when one is given."""
    views = passage_views(store, query, ranked[:ANSWER_PASSAGES])
    if not views:
        return None
    top = views[0]
    named = next((view.doc_id for view, item in zip(views, ranked) if item.named), None)
    found = candidates(query, views)
    scores = sentence_model.predict(np.stack([c.features for c in found])) if found else np.zeros(0)
    scored = None
    if cross_encoder is not None and found:
        positions = shortlist(found, scores)
        texts = [collapse_whitespace(found[p].passage.raw[slice(*found[p].sentence)]) for p in positions]
        scored = CrossScores(tuple(positions), cross_encoder.score(query.text, texts))
    return Evidence(
        candidates=found,
        sentence_scores=scores,
        top_cosine=ranked[0].cosine,
        score_margin=ranked[0].score - ranked[1].score if len(ranked) > 1 else 0.0,
        window_coverage=coverage(top.windows[top.best_window], query.idf, top.sentences),
        named_document=named,
        cross=scored,
    )


# -- highlights --------------------------------------------------------------------------------


def sentence_weights(start: int, end: int, query_idf: dict[str, float],
                     sentences: Sentences) -> list[tuple[int, int, float]]:
    """Each sentence of the passage inside ``[start, end)`` with the summed IDF of the question's
    words it contains (``sentences``: the passage's, read from the store)."""
    return [(s, e, sum(w for t, w in query_idf.items() if t in words))
            for (s, e), words in sentences.inside(start, end)]


def highlights(raw: str, window: tuple[int, int], query_idf: dict[str, float],
               sentences: Sentences) -> list[tuple[int, int]]:
    """The sentences of a passage's best window that best answer the question, as raw offsets.

    When no sentence shares a word with the question (a paraphrase matched by meaning alone),
    the whole window is the highlight: it is where the passage matched.
    """
    scored = sentence_weights(window[0], window[1], query_idf, sentences)
    best = max((weight for _, _, weight in scored), default=0.0)
    if best <= 0:
        return [window]
    spans = [(s, e) for s, e, weight in scored if weight >= HIGHLIGHT_SHARE * best]
    return _merge_adjacent(raw, spans)


def coverage(window: tuple[int, int], query_idf: dict[str, float], sentences: Sentences) -> float:
    """The share of the question's IDF weight found in the window (``sentences``: its passage's)."""
    total = sum(query_idf.values())
    if total <= 0:
        return 0.0
    words = frozenset().union(*(w for _, w in sentences.inside(*window)))
    return sum(w for t, w in query_idf.items() if t in words) / total


def _merge_adjacent(raw: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join highlighted sentences separated by whitespace only."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and not raw[merged[-1][1] : start].strip():
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
