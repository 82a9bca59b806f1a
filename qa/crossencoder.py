"""The cross-encoder: how well one sentence answers a question, read together by one small transformer.

The bi-encoder (qa.embedding) embeds the question and the passages apart, so it finds the right
passage but cannot tell the sentence that answers from its neighbour. This model reads the question
and a candidate sentence as one input (``[CLS] question [SEP] sentence [SEP]``) and gives a logit:
higher is a better answer. It was trained here (``make train``, qa.training) on questions written
blind over the shared archive, listwise: the answering sentence against the other sentences of the
pipeline's best passages, its neighbours above all.

It ships as ONNX int8 in ``qa/models/crossencoder/`` (``model.onnx``, ``tokenizer.json`` and
``model.json``: how and on what it was trained, its SHA-256). The inputs are built here, by the
same function for training and for answering, so both see the same tokens.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).with_name("models") / "crossencoder"
# Token caps, from the measured lengths of the blind-written training questions and of the
# archive's sentences (qa.training prints them): a question of more than QUESTION_TOKENS word
# pieces keeps its first ones; a sentence of more than SENTENCE_TOKENS keeps its first ones.
QUESTION_TOKENS = 48
SENTENCE_TOKENS = 48
# From this many pairs on, a question's pairs run as two batches of similar lengths.
SPLIT_FROM = 6


class CrossEncoderError(RuntimeError):
    """The shipped cross-encoder is missing or does not match its record."""


@dataclass(frozen=True)
class Pairs:
    """Token ids of (question, sentence) pairs, padded to the longest: the model's three inputs."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray

    def feed(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                "token_type_ids": self.token_type_ids}


def load_tokenizer(path: Path):
    """The word-piece tokenizer, with no truncation or padding of its own (``pairs`` does both)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def pairs(tokenizer, question: str, texts: Sequence[str], question_tokens: int = QUESTION_TOKENS,
          sentence_tokens: int = SENTENCE_TOKENS) -> Pairs:
    """``[CLS] question [SEP] text [SEP]`` for each text, each part cut to its cap, padded to the longest."""
    cls, sep, pad = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    asked = tokenizer.encode(question, add_special_tokens=False).ids[:question_tokens]
    encoded = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    rows = [[cls, *asked, sep, *e.ids[:sentence_tokens], sep] for e in encoded]
    width = max((len(r) for r in rows), default=0)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    types = np.zeros((len(rows), width), dtype=np.int64)
    first = len(asked) + 2
    for number, row in enumerate(rows):
        ids[number, : len(row)] = row
        mask[number, : len(row)] = 1
        types[number, first : len(row)] = 1
    return Pairs(ids, mask, types)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CrossEncoder:
    """The ONNX cross-encoder: ``score(question, sentences)`` gives one logit a sentence."""

    def __init__(self, folder: Path = MODEL_DIR, threads: int | None = None) -> None:
        import onnxruntime

        folder = Path(folder)
        record_file = folder / "model.json"
        if not record_file.is_file():
            raise CrossEncoderError(f"no cross-encoder in {folder} (model.json missing; 'make train' builds one)")
        self.record = json.loads(record_file.read_text(encoding="utf-8"))
        model_file = folder / "model.onnx"
        if not model_file.is_file():
            raise CrossEncoderError(f"{model_file} is missing ('make train' builds it)")
        expected = self.record.get("sha256")
        self.sha256 = file_digest(model_file)
        if expected and self.sha256 != expected:
            raise CrossEncoderError(f"{model_file} does not match the SHA-256 in {record_file}: rebuild it with 'make train'")
        self.folder = folder
        self.question_tokens = int(self.record.get("question_tokens", QUESTION_TOKENS))
        self.sentence_tokens = int(self.record.get("sentence_tokens", SENTENCE_TOKENS))
        self._tokenizer = load_tokenizer(folder / "tokenizer.json")
        options = onnxruntime.SessionOptions()
        # One question's pairs are worth both cores; more threads only wait. Idle threads do not
        # spin between questions: spinning ones took the other core from concurrent requests
        # (qa.reloader says the same of the question encoder).
        options.intra_op_num_threads = threads or 2
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.record.get("name", self.folder.name))

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One logit per text: how well it answers ``question`` (comparable within one question)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        batch = pairs(self._tokenizer, question, texts, self.question_tokens, self.sentence_tokens)
        lengths = batch.attention_mask.sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        logits = np.zeros(len(texts), dtype=np.float32)
        # Shorter pairs apart from longer ones, each part padded to its own longest: less padding
        # (14 pairs: 46 ms against 54 in one batch on this session's machine).
        for part in np.array_split(order, 2 if len(texts) >= SPLIT_FROM else 1):
            width = int(lengths[part].max())
            feed = {name: values[part, :width] for name, values in batch.feed().items()}
            logits[part] = np.asarray(self._session.run(None, feed)[0], dtype=np.float32).reshape(-1)
        return logits


_default: CrossEncoder | None = None
_default_lock = threading.Lock()
_absent_said = False


def default() -> CrossEncoder | None:
    """The shipped cross-encoder, loaded once; None (said once in the log) when it is not there."""
    global _default, _absent_said
    if _default is None:
        with _default_lock:
            if _default is None:
                try:
                    _default = CrossEncoder()
                except CrossEncoderError as error:
                    if not _absent_said:
                        logging.getLogger("qa.crossencoder").warning("%s; answers are chosen without it", error)
                        _absent_said = True
                    return None
    return _default
