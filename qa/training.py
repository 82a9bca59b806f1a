"""Training the cross-encoder (``make train``): which sentence of the best passages answers a question.

The data are questions written blind over the shared archive (tests/data/blind2k: a reader's
words, a phrase copied from the answering sentence). For each training question the pipeline
ranks passages as it does when answering; the candidates are the sentences of its best passages
and of the passage that holds the answer. A sentence is right when it holds (part of) the gold
phrase in the gold file, or has the very words of such a sentence (a briefing posted twice).

Each question's list (its right sentences and LIST_SIZE - 1 wrong ones: the right sentence's
neighbours first, then the sentences the answer model already likes best, then others of the
best passages) is scored together and trained with a softmax over the list (listwise: trained
on each pair alone, the model learned only the share of right pairs). The start is the packaged
MiniLM's first LAYERS layers with a linear head on the mean of the last hidden states. The
result is exported to ONNX, its graph fused and its matrix multiplications and embeddings
quantised to int8 (qa.crossencoder reads it).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa import answering, crossencoder
from qa.evaluation import GoldQuestion
from qa.ranking import Ranked
from qa.search import Searcher
from qa.text import collapse_whitespace

log = logging.getLogger("qa.training")

SEED = 20261202
# The base: the packaged MiniLM (all-MiniLM-L6-v2), all 6 layers. Its first 3 alone take half the
# time a question, but after one epoch on the first 1,350 training questions they put the right
# sentence first in 26% of the validation lists against 39% for all 6 (35% after three epochs).
LAYERS = 6
# Sentences scored together for one question: its right ones and the rest wrong (16 took 60%
# longer a step than 10; the neighbours and the sentence model's favourites fit in 10).
LIST_SIZE = 10
# The passages a question's candidates come from (the answer reads the best ANSWER_PASSAGES).
PASSAGES = 5
EPOCHS = 2
LEARNING_RATE = 6e-5
WARMUP = 0.1
QUESTIONS_PER_STEP = 4


@dataclass
class Example:
    """One question's list: candidate sentences (text) and which of them answer it."""

    question: str
    texts: list[str]
    labels: list[int]
    id: str = ""


@dataclass
class TrainingReport:
    examples: int = 0
    skipped: int = 0
    pairs: int = 0
    epochs: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def phrase_spans(raw: str, phrase: str) -> list[tuple[int, int]]:
    """Every place ``phrase`` stands in ``raw``, whitespace collapsed and case ignored, as raw offsets."""
    words = [re.escape(w) for w in phrase.split()]
    if not words:
        return []
    pattern = re.compile(r"\s+".join(words), re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(raw)]


def overlaps(span: tuple[int, int], targets: list[tuple[int, int]]) -> bool:
    """The sentence ``span`` holds at least half of a target (or lies wholly inside one)."""
    start, end = span
    for t_start, t_end in targets:
        shared = min(end, t_end) - max(start, t_start)
        if shared > 0 and (shared * 2 >= t_end - t_start or (t_start <= start and end <= t_end)):
            return True
    return False


def gold_rows(searcher: Searcher, gold: GoldQuestion) -> tuple[list[int], list[tuple[int, int]]]:
    """The passages (rows) of the gold file that hold the phrase, and where it stands in that file."""
    index = searcher.index
    document = next((d for d in index.documents.values() if Path(d.path).name == Path(gold.doc).name), None)
    if document is None:
        return [], []
    spans = phrase_spans(document.raw, gold.phrase)
    rows = [row for row, chunk in enumerate(index.chunks)
            if chunk.doc_id == document.doc_id and any(chunk.start < e and s < chunk.end for s, e in spans)]
    return rows, spans


def candidate_list(searcher: Searcher, gold: GoldQuestion, rng: random.Random, sentence_model: answering.LinearModel,
                   list_size: int = LIST_SIZE, passages: int = PASSAGES) -> Example | None:
    """The question's training list (None when the phrase is not in any passage of the index)."""
    index = searcher.index
    rows, spans = gold_rows(searcher, gold)
    if not rows:
        return None
    query = searcher.query(gold.question)
    ranked = list(searcher.ranker.rank(query, passages).passages)
    seen = {item.row for item in ranked}
    for row in rows:
        if row not in seen:
            windows = index.chunk_windows(row)
            ranked.append(Ranked(row, ranked[-1].score if ranked else 0.0, int(windows[0]), 0.0))
    views = answering.passage_views(searcher.index, query, ranked)
    found = answering.candidates(query, views)
    liked = sentence_model.predict(np.stack([c.features for c in found])) if found else []
    gold_doc = Path(gold.doc).name
    texts, right, by_place = [], [], {}
    for candidate, score in zip(found, liked):
        view = candidate.passage
        start, end = candidate.sentence
        key = (view.doc_id, start)
        if key in by_place:
            continue
        text = collapse_whitespace(view.raw[start:end])
        is_gold_file = Path(index.documents[view.doc_id].path).name == gold_doc
        by_place[key] = len(texts)
        texts.append((text, float(score), view.row, start))
        right.append(is_gold_file and overlaps((start, end), spans))
    right_texts = {texts[i][0] for i, r in enumerate(right) if r}
    labels = [1 if r or texts[i][0] in right_texts else 0 for i, r in enumerate(right)]
    positives = [i for i, label in enumerate(labels) if label]
    if not positives:
        return None
    positives = positives[:2]
    chosen = list(positives)
    # The right sentence's neighbours in its passage, then what the answer model likes, then the rest.
    order = {i: n for n, i in enumerate(sorted(range(len(texts)), key=lambda i: (texts[i][2], texts[i][3])))}
    by_order = sorted(range(len(texts)), key=lambda i: order[i])
    neighbours = []
    for p in positives:
        at = order[p]
        for step in (1, -1, 2, -2):
            if 0 <= at + step < len(by_order):
                other = by_order[at + step]
                if texts[other][2] == texts[p][2] and not labels[other]:
                    neighbours.append(other)
    liked_order = sorted((i for i in range(len(texts)) if not labels[i]), key=lambda i: -texts[i][1])
    rest = [i for i in range(len(texts)) if not labels[i]]
    rng.shuffle(rest)
    for i in [*neighbours, *liked_order[: list_size // 2], *rest]:
        if len(chosen) >= list_size:
            break
        if i not in chosen and not labels[i]:
            chosen.append(i)
    rng.shuffle(chosen)
    return Example(gold.question, [texts[i][0] for i in chosen], [labels[i] for i in chosen], gold.id)


def examples_of(searcher: Searcher, questions: list[GoldQuestion], seed: int = SEED,
                list_size: int = LIST_SIZE) -> tuple[list[Example], int]:
    """Every question's list, and how many questions gave none (phrase not found in a passage).

    The wrong sentences the sentence model likes best come from the sentence model shipped for the
    index's encoder (whatever cross-encoder the answer model was fitted with: training does not
    depend on it)."""
    shipped = answering.model_file_for(searcher.index.model)
    sentence_model = (answering.AnswerModel.load(shipped) if shipped.exists() else answering.AnswerModel.by_overlap()).sentence
    rng = random.Random(seed)
    made, skipped = [], 0
    for gold in questions:
        example = candidate_list(searcher, gold, rng, sentence_model, list_size)
        if example is None:
            skipped += 1
        else:
            made.append(example)
    return made, skipped


# -- the model -----------------------------------------------------------------------------------


def base_location() -> Path:
    from qa.embedding import resolve_model
    from qa.settings import DEFAULT_MODEL

    return Path(resolve_model(DEFAULT_MODEL))


def build_model(layers: int = LAYERS):
    """MiniLM's first ``layers`` layers, then a linear head on the mean of the last hidden states."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(base_location()))
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(bert.config.hidden_size, 1)

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            return self.head(self.dropout(pooled)).squeeze(-1)

    return Scorer()


def _batch(tokenizer, items: list[Example]):
    """The pairs of several questions' lists, padded to one width, as torch tensors."""
    import torch

    parts = [crossencoder.pairs(tokenizer, e.question, e.texts) for e in items]
    width = max(p.input_ids.shape[1] for p in parts)

    def stack(name: str, fill: int) -> torch.Tensor:
        arrays = [np.pad(getattr(p, name), ((0, 0), (0, width - p.input_ids.shape[1])), constant_values=fill)
                  for p in parts]
        return torch.from_numpy(np.concatenate(arrays))

    pad = tokenizer.token_to_id("[PAD]")
    return stack("input_ids", pad), stack("attention_mask", 0), stack("token_type_ids", 0)


def listwise_loss(logits, labels, sizes):
    """Mean over questions of -log(the softmax's mass on the question's right sentences)."""
    import torch

    losses, at = [], 0
    for size in sizes:
        scores, right = logits[at : at + size], labels[at : at + size]
        losses.append(torch.logsumexp(scores, 0) - torch.logsumexp(scores[right > 0], 0))
        at += size
    return torch.stack(losses).mean()


def top_right(model, tokenizer, items: list[Example], batch: int = 16) -> float:
    """Share of questions whose highest-scored sentence is a right one."""
    import torch

    model.eval()
    right = 0
    with torch.no_grad():
        for first in range(0, len(items), batch):
            chunk = items[first : first + batch]
            logits = model(*_batch(tokenizer, chunk)).numpy()
            at = 0
            for e in chunk:
                right += e.labels[int(np.argmax(logits[at : at + len(e.texts)]))]
                at += len(e.texts)
    return right / max(len(items), 1)


def train(train_items: list[Example], validation: list[Example], layers: int = LAYERS, epochs: int = EPOCHS,
          seed: int = SEED, learning_rate: float = LEARNING_RATE, report: TrainingReport | None = None):
    """The trained scorer (torch), listwise, with a linear warm-up and decay of the learning rate."""
    import torch

    report = report or TrainingReport()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tokenizer = crossencoder.load_tokenizer(base_location() / "tokenizer.json")
    model = build_model(layers)
    steps = epochs * math.ceil(len(train_items) / QUESTIONS_PER_STEP)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    warm = max(1, int(WARMUP * steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warm, max(0.0, (steps - step) / max(1, steps - warm))))
    rng = random.Random(seed)
    began = time.perf_counter()
    step = 0
    for epoch in range(epochs):
        model.train()
        order = list(train_items)
        rng.shuffle(order)
        total = 0.0
        for first in range(0, len(order), QUESTIONS_PER_STEP):
            items = order[first : first + QUESTIONS_PER_STEP]
            labels = torch.tensor([label for e in items for label in e.labels])
            logits = model(*_batch(tokenizer, items))
            loss = listwise_loss(logits, labels, [len(e.texts) for e in items])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(items)
            step += 1
            if step % 50 == 0:
                log.info("epoch %d step %d/%d loss %.3f (%.0f s)", epoch + 1, step, steps, loss.item(),
                         time.perf_counter() - began)
        point = {"epoch": epoch + 1, "loss": round(total / max(len(order), 1), 4),
                 "validation_top_right": round(top_right(model, tokenizer, validation), 4),
                 "seconds": round(time.perf_counter() - began, 1)}
        log.info("%s", point)
        report.epochs.append(point)
    report.seconds = round(time.perf_counter() - began, 1)
    model.eval()
    return model


# -- export --------------------------------------------------------------------------------------


def export(model, folder: Path, record: dict) -> dict:
    """``model.onnx`` (int8) with ``tokenizer.json`` and ``model.json`` in ``folder``; returns the record."""
    import shutil
    import tempfile

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = crossencoder.load_tokenizer(base_location() / "tokenizer.json")
    sample = crossencoder.pairs(tokenizer, "a question", ["a sentence", "another, longer sentence here"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with tempfile.TemporaryDirectory() as work:
        fp32 = Path(work) / "fp32.onnx"
        int8 = Path(work) / "int8.onnx"
        with torch.no_grad():
            torch.onnx.export(
                model, tuple(torch.from_numpy(getattr(sample, n)) for n in names), str(fp32),
                input_names=names, output_names=["logit"],
                dynamic_axes={**{n: {0: "pairs", 1: "tokens"} for n in names}, "logit": {0: "pairs"}},
                opset_version=17, dynamo=False,
            )
        # The matrix multiplications in int8 (per channel), and the word-piece embeddings too (47 MB
        # of fp32 to 12 MB). ONNX Runtime's fused attention graph was slower here (31 ms against
        # 27 for 9 pairs of 50-90 word pieces, 3 layers, 2 threads, this session's Xeon with VNNI),
        # so the graph is quantised as exported.
        with _quiet_quantizer():
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Gather"])
        shutil.copyfile(int8, folder / "model.onnx")
    shutil.copyfile(base_location() / "tokenizer.json", folder / "tokenizer.json")
    record = {**record, "sha256": crossencoder.file_digest(folder / "model.onnx"),
              "bytes": (folder / "model.onnx").stat().st_size,
              "question_tokens": crossencoder.QUESTION_TOKENS, "sentence_tokens": crossencoder.SENTENCE_TOKENS}
    (folder / "model.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


class _quiet_quantizer:
    """ONNX Runtime's quantizer logs a line per tensor (and advice on pre-processing) through the root
    logger; keep them out of the training log."""

    def __enter__(self):
        self.level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)

    def __exit__(self, *exc):
        logging.getLogger().setLevel(self.level)


def commit() -> str | None:
    """The checkout's commit (with '+changes' when qa/ differs from it), for the record; None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=root).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "qa/*.py", "qa/readers", "qa/stores"],
                               capture_output=True, text=True, cwd=root).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None
