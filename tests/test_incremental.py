"""Incremental rebuilds: unchanged text is not embedded again, and the result equals a full rebuild."""

from __future__ import annotations

import json
import shutil

import numpy as np

from conftest import SEEDS
from qa.build import build_index
from qa.query import Query
from qa.ranking import Ranker
from qa.stores.embedded import CHUNKS, DOCUMENTS, MANIFEST, SENTENCES, WINDOWS, Index


class CountingEncoder:
    """The stand-in encoder, counting what it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dimension, self.texts = inner, inner.name, inner.dimension, 0
        self.backend, self.prompts, self.max_tokens = inner.backend, inner.prompts, inner.max_tokens

    def encode(self, texts, batch_size=32, show_progress=False):
        self.texts += len(texts)
        return self.inner.encode(texts, batch_size)

    def encode_queries(self, texts, batch_size=32):
        return self.inner.encode_queries(texts, batch_size)


def same_index(a, b) -> None:
    for name in (CHUNKS, DOCUMENTS):
        assert (a / name).read_text() == (b / name).read_text(), name
    assert np.array_equal(np.load(a / WINDOWS), np.load(b / WINDOWS))
    assert np.array_equal(np.load(a / SENTENCES), np.load(b / SENTENCES))
    left, right = Index.load(a), Index.load(b)
    # Reused sentence words equal freshly tokenized ones (the vocabularies' ids may differ).
    assert [left.sentences(row) for row in range(len(left.chunks))] == [
        right.sentences(row) for row in range(len(right.chunks))]
    assert np.allclose(left.vectors.reconstruct_n(0, left.vectors.ntotal), right.vectors.reconstruct_n(0, right.vectors.ntotal), atol=1e-6)
    ma, mb = (json.loads((d / MANIFEST).read_text()) for d in (a, b))
    for key in ("documents", "chunk_count", "window_count", "model", "pipeline"):
        assert ma[key] == mb[key], key
    # BM25 from reused token ids equals BM25 from a fresh tokenization (vocabularies may differ).
    for words in ("Beijing Stock Exchange strategic cooperation", "pilot zones SMEs", "2.8 billion yuan"):
        for part in ("windows", "pairs", "documents"):
            assert np.allclose(left.lexical[part].scores(words), right.lexical[part].scores(words)), (part, words)
    question = "Beijing Stock Exchange strategic cooperation"
    query = Ranker(left)  # same ranking on both
    from conftest import StandInEncoder

    vector = StandInEncoder().encode([question])[0]
    assert [p.row for p in query.rank(Query.of(question, vector), 5).passages] == [p.row for p in Ranker(right).rank(Query.of(question, vector), 5).passages]


def test_incremental_rebuild_embeds_only_what_changed(tmp_path, stand_in_encoder):
    source = tmp_path / "source"
    shutil.copytree(SEEDS, source)
    out = tmp_path / "index"
    first = CountingEncoder(stand_in_encoder)
    report = build_index([source], out, first)
    assert report.encoded == first.texts > 0 and report.reused == 0

    # Nothing changed: nothing embedded, nothing rewritten.
    before = (out / MANIFEST).read_text()
    again = CountingEncoder(stand_in_encoder)
    report = build_index([source], out, again)
    assert report.up_to_date and again.texts == 0
    assert (out / MANIFEST).read_text() == before

    # One document added, one changed, one removed.
    (source / "new.txt").write_text("A new briefing.\n\nThe minister announced 42 new pilot zones for SMEs this year.\n")
    narrative = source / "003_cd57cd5aac821783.txt"
    narrative.write_text(narrative.read_text().replace("2.7 billion yuan", "2.8 billion yuan"))
    (source / "000_05a47eddf0c07e42.txt").unlink()
    changed = CountingEncoder(stand_in_encoder)
    report = build_index([source], out, changed)
    assert not report.up_to_date and report.reused > 0
    assert changed.texts == report.encoded == 3  # the new file's two paragraphs and the edited one
    full = tmp_path / "full"
    build_index([source], full, stand_in_encoder, incremental=False)
    same_index(out, full)
    assert set(Index.load(out).documents) == {"003_cd57cd5aac821783", "new"}


def test_another_model_is_never_reused(tmp_path, stand_in_encoder):
    out = tmp_path / "index"
    build_index([SEEDS], out, stand_in_encoder)

    class OtherModel(CountingEncoder):
        pass

    other = OtherModel(stand_in_encoder)
    other.name = "another-model"
    report = build_index([SEEDS], out, other)
    assert report.reused == 0 and other.texts == report.encoded > 0
    assert json.loads((out / MANIFEST).read_text())["model"] == "another-model"
