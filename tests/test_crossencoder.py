"""The cross-encoder: its inputs, the shipped model and its record, and training end to end (small)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from qa import crossencoder, training
from qa.evaluation import GoldQuestion
from qa.text import collapse_whitespace, sentence_spans

from conftest import SEEDS

# Questions about the seeds (from the shared dev set), each with the words of its answering sentence.
SEED_QUESTIONS = [
    GoldQuestion("s1", "How quickly did the output of China's larger small- and mid-sized manufacturers expand "
                 "in the first three months of 2025 compared with a year earlier?", "000_05a47eddf0c07e42.txt",
                 "industrial SMEs above designated size grew 8.2% year on year"),
    GoldQuestion("s2", "How many specific support measures did the SME service initiative introduce?",
                 "000_05a47eddf0c07e42.txt", "introducing 73 specific support measures"),
    GoldQuestion("s3", "What output value did China's 300 national-level SME industrial clusters create last year?",
                 "000_05a47eddf0c07e42.txt", "created an output value of 8.7 trillion yuan"),
    GoldQuestion("s4", "How much money did Beijing's central budget set aside for the second group of cities "
                 "piloting the digital upgrade of small firms?", "003_cd57cd5aac821783.txt",
                 "The central government has allocated 2.7 billion yuan for these efforts"),
    GoldQuestion("s5", "With which stock exchange did MIIT sign a strategic cooperation agreement to open financing "
                 "channels for specialized new SMEs?", "003_cd57cd5aac821783.txt",
                 "signed a strategic cooperation agreement with the Beijing Stock Exchange"),
    GoldQuestion("s6", "According to Vice Minister Wang Jiangping, how many specialized new SMEs and little giant "
                 "enterprises are there in China?", "003_cd57cd5aac821783.txt",
                 "there are 141,000 specialized new SMEs and 14,600"),
]


@pytest.fixture(scope="module")
def shipped() -> crossencoder.CrossEncoder:
    return crossencoder.CrossEncoder()


def neighbourhood(gold: GoldQuestion, around: int = 2) -> tuple[list[str], int]:
    """The sentence holding the phrase and up to ``around`` sentences either side, and its position."""
    raw = (SEEDS / gold.doc).read_text(encoding="utf-8")
    (start, end), = training.phrase_spans(raw, gold.phrase)[:1]
    spans = sentence_spans(raw)
    at = next(n for n, (s, e) in enumerate(spans) if training.overlaps((s, e), [(start, end)]))
    first = max(0, at - around)
    return [collapse_whitespace(raw[s:e]) for s, e in spans[first : at + around + 1]], at - first


def test_a_pair_is_the_question_then_the_sentence_each_cut_to_its_cap(shipped):
    tokenizer = crossencoder.load_tokenizer(crossencoder.MODEL_DIR / "tokenizer.json")
    question = "How long did the call last?"
    long_text = " ".join(["word"] * 200)
    made = crossencoder.pairs(tokenizer, question, ["About two hours.", long_text], question_tokens=4, sentence_tokens=6)
    cls, sep, pad = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    asked = tokenizer.encode(question, add_special_tokens=False).ids[:4]
    short = tokenizer.encode("About two hours.", add_special_tokens=False).ids
    assert made.input_ids.shape == (2, 1 + 4 + 1 + 6 + 1)
    assert made.input_ids[0].tolist() == [cls, *asked, sep, *short, sep] + [pad] * (6 - len(short))
    assert made.input_ids[1, -1] == sep and made.attention_mask[1].all()
    assert made.attention_mask[0].tolist() == [1] * (7 + len(short)) + [0] * (6 - len(short))
    # Segment 1 is the sentence with its closing [SEP]; padding stays 0.
    assert made.token_type_ids[0].tolist() == [0] * 6 + [1] * (len(short) + 1) + [0] * (6 - len(short))


def test_the_shipped_model_is_int8_onnx_under_30_mb_with_its_digest_and_training_record(shipped):
    record = json.loads((crossencoder.MODEL_DIR / "model.json").read_text(encoding="utf-8"))
    model_file = crossencoder.MODEL_DIR / "model.onnx"
    assert model_file.stat().st_size <= 30 * 1024 * 1024 and record["bytes"] == model_file.stat().st_size
    assert crossencoder.file_digest(model_file) == record["sha256"] == shipped.sha256
    assert record["commit"] and record["seed"] == training.SEED and record["examples"] >= 1000
    assert all(path.startswith("tests/data/blind2k/") for path in record["trained_on"] + record["validated_on"])
    import onnx

    graph = onnx.load(str(model_file)).graph
    assert any(node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "QAttention") for node in graph.node)


def test_the_shipped_model_puts_the_answering_sentence_above_its_neighbours(shipped):
    """Its job: of a sentence and the ones around it, the one that answers scores highest."""
    firsts = []
    for gold in SEED_QUESTIONS:
        texts, right = neighbourhood(gold)
        logits = shipped.score(gold.question, texts)
        assert logits.shape == (len(texts),) and np.isfinite(logits).all()
        firsts.append(int(np.argmax(logits)) == right)
    assert sum(firsts) >= 5, firsts


def test_scores_hardly_depend_on_the_batch(shipped):
    """int8 activations are scaled per batch, so a sentence's logit moves a little with its company;
    the same question and sentences give the same logits every time."""
    gold = SEED_QUESTIONS[1]
    texts, _ = neighbourhood(gold)
    together = shipped.score(gold.question, texts)
    assert np.array_equal(together, shipped.score(gold.question, texts))
    alone = np.array([shipped.score(gold.question, [text])[0] for text in texts])
    assert np.abs(together - alone).max() <= 0.1 * max(1.0, float(np.ptp(together)))
    assert int(np.argmax(together)) == int(np.argmax(alone))
    assert shipped.score(gold.question, []).shape == (0,)


def test_a_changed_or_missing_model_is_refused_with_what_to_do(tmp_path):
    copy = tmp_path / "crossencoder"
    shutil.copytree(crossencoder.MODEL_DIR, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(crossencoder.CrossEncoderError, match="SHA-256"):
        crossencoder.CrossEncoder(copy)
    (copy / "model.json").unlink()
    with pytest.raises(crossencoder.CrossEncoderError, match="make train"):
        crossencoder.CrossEncoder(copy)


def test_phrases_are_found_across_line_breaks_and_case_and_sentences_hold_them():
    raw = "MR. X:  We talked\nfor about THREE hours. Then we ate.  It was late."
    spans = training.phrase_spans(raw, "for about three hours. then")
    assert [raw[s:e] for s, e in spans] == ["for about THREE hours. Then"]
    sentences = sentence_spans(raw, 8, len(raw))
    held = [training.overlaps(span, spans) for span in sentences]
    assert held == [True, False, False]  # most of the phrase is in the first sentence


@pytest.mark.slow
def test_training_exports_a_model_that_scores_as_the_trained_one(tmp_path, built_index, encoder):
    """A few steps on the seed questions, end to end: candidate lists from the pipeline, listwise
    training, the int8 export; the exported model ranks the candidates as the trained one does."""
    import torch

    from qa.search import Searcher
    from qa.stores.embedded import Index

    searcher = Searcher(Index.load(built_index, model=encoder.name), encoder)
    made, skipped = training.examples_of(searcher, SEED_QUESTIONS, list_size=8)
    assert skipped == 0 and len(made) == len(SEED_QUESTIONS)
    for example in made:
        assert 2 <= len(example.texts) <= 8 and 1 <= sum(example.labels) <= 2
        right = [t for t, label in zip(example.texts, example.labels) if label]
        gold = next(g for g in SEED_QUESTIONS if g.question == example.question)
        # The right sentence holds (at least part of) the phrase.
        assert any(set(gold.phrase.lower().split()[:3]) & set(t.lower().split()) for t in right)
    report = training.TrainingReport()
    model = training.train(made, made[:2], layers=2, epochs=1, report=report)
    assert report.epochs and report.epochs[0]["loss"] > 0
    record = training.export(model, tmp_path / "ce", {"name": "test"})
    exported = crossencoder.CrossEncoder(tmp_path / "ce")
    assert exported.sha256 == record["sha256"]
    tokenizer = crossencoder.load_tokenizer(tmp_path / "ce" / "tokenizer.json")
    for example in made:
        with torch.no_grad():
            trained = model(*(torch.from_numpy(a) for a in crossencoder.pairs(tokenizer, example.question,
                                                                              example.texts).feed().values())).numpy()
        onnx = exported.score(example.question, example.texts)
        assert np.corrcoef(trained, onnx)[0, 1] > 0.95
