"""Lexical ranking: BM25 (the bm25s library) over stemmed words, names and numbers."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np

# BM25's saturation and length normalisation: bm25s's defaults (Lucene's), the same in both stores.
K1, B = 1.2, 0.75

# Numbers keep their inner points and commas ("8.2", "14,600"), so that figures match exactly.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W\d_](?:[\w'\u2019-]*\w)?", re.UNICODE)

_STOPWORDS = frozenset(
    """a an and are as at be but by for from has have he her his i if in into is it its me my of on
    or our she so that the their them then there these they this to was we were what when where
    which who whom why will with would you your do does did done been being am can could should
    shall may might must how about than too very just also only not no nor own same such both each
    few more most other some any all again further once here over under up down out off above
    below between through during before after until while because s t don""".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:  # pragma: no cover - PyStemmer is a declared dependency
        return None


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed content words and numbers of ``text``."""
    words = [w.replace("\u2019", "'").strip("'-") for w in _TOKEN.findall(text.lower())]
    words = [w.removesuffix("'s") for w in words if w and w not in _STOPWORDS]
    stemmer = _stemmer()
    if stemmer is not None:
        words = stemmer.stemWords(words)
    return [w for w in words if w]


class TokenStore:
    """The token ids of many texts over one vocabulary, kept in the index so that a rebuild
    re-tokenizes only new or changed documents. Plain files: ``vocab.json`` (a list of tokens,
    position = id), ``NAME.ids.npy`` (all ids, text after text) and ``NAME.offsets.npy``."""

    def __init__(self, vocab: list[str] | None = None) -> None:
        self.vocab: list[str] = list(vocab) if vocab else [""]  # id 0: the empty token
        self.ids: dict[str, int] = {token: i for i, token in enumerate(self.vocab)}

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (new tokens join the vocabulary); an empty text is [id of '']."""
        ids = self.ids
        out = []
        for token in tokenize(text) or [""]:
            number = ids.get(token)
            if number is None:
                number = ids[token] = len(self.vocab)
                self.vocab.append(token)
            out.append(number)
        return out

    def save(self, directory: Path, parts: dict[str, list[list[int]]]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        for name, rows in parts.items():
            lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
            offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            flat = np.fromiter(chain.from_iterable(rows), dtype=np.int32, count=int(offsets[-1]))
            np.save(directory / f"{name}.ids.npy", flat, allow_pickle=False)
            np.save(directory / f"{name}.offsets.npy", offsets, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, names: Sequence[str]) -> tuple[TokenStore, dict[str, list[list[int]]]]:
        """The store and, for each name, its rows of ids (ValueError if the files disagree)."""
        store = cls(json.loads((directory / "vocab.json").read_text(encoding="utf-8")))
        parts = {}
        for name in names:
            flat = np.load(directory / f"{name}.ids.npy", allow_pickle=False)
            offsets = np.load(directory / f"{name}.offsets.npy", allow_pickle=False)
            if len(offsets) == 0 or offsets[-1] != len(flat) or (len(flat) and int(flat.max()) >= len(store.vocab)):
                raise ValueError(f"token store {directory / name} is inconsistent")
            values = flat.tolist()
            bounds = offsets.tolist()
            parts[name] = [values[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]
        return store, parts


class LexicalIndex:
    """BM25 scores of a query against every passage, saved as bm25s's plain files."""

    def __init__(self, model) -> None:
        self._model = model

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        store = TokenStore()
        return cls.from_ids([store.encode(text) for text in texts], store)

    @classmethod
    def from_ids(cls, rows: Sequence[list[int]], store: TokenStore) -> LexicalIndex:
        """BM25 over texts already turned into ids of ``store`` (tokens no text uses score nothing)."""
        import bm25s
        from bm25s.tokenization import Tokenized

        model = bm25s.BM25(k1=K1, b=B)
        model.index(Tokenized(ids=list(rows), vocab=dict(store.ids)), show_progress=False)
        return cls(_sort_postings(model))

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        return cls(_sort_postings(bm25s.BM25.load(str(directory), mmap=False, show_progress=False)))

    def scores(self, query: str) -> np.ndarray:
        return self.scores_of_tokens(tokenize(query))

    def scores_of_tokens(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 of a tokenized query (repeated words count again), against every passage."""
        if not tokens:
            return np.zeros(self._model.scores["num_docs"], dtype=np.float32)
        return np.asarray(self._model.get_scores(list(tokens)), dtype=np.float32)

    def token_scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 of the distinct ``tokens`` taken together, against every passage."""
        known = [token for token in tokens if token in self._model.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._model.get_scores(known), dtype=np.float32)

    def document_frequencies(self) -> dict[str, int]:
        """How many passages hold each token (tokens no passage holds left out)."""
        indptr = self._model.scores["indptr"]
        return {token: df for token, number in self._model.vocab_dict.items()
                if (df := int(indptr[number + 1] - indptr[number]))}

    def token_scores_at(self, tokens: Sequence[str], passages: np.ndarray) -> np.ndarray:
        """BM25 of each token alone against the given passages: one row per token (for distinct
        tokens the rows sum to ``token_scores``), so that a caller can leave some of the query's
        words out for some passages. Read from bm25s's sparse score matrix, whose rows within
        each token's column are sorted (``_sort_postings``), without scoring all passages."""
        model = self._model
        rows = np.zeros((len(tokens), len(passages)), dtype=np.float32)
        data, indices, indptr = model.scores["data"], model.scores["indices"], model.scores["indptr"]
        for i, token in enumerate(tokens):
            number = model.vocab_dict.get(token)
            if number is None:
                continue
            postings = indices[indptr[number] : indptr[number + 1]]
            if len(postings) == 0:
                continue
            at = np.minimum(np.searchsorted(postings, passages), len(postings) - 1)
            hit = postings[at] == passages
            rows[i, hit] = data[indptr[number] + at[hit]]
        return rows

    @property
    def size(self) -> int:
        return int(self._model.scores["num_docs"])

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each distinct token (unknown tokens get the highest)."""
        vocab = self._model.vocab_dict
        indptr = self._model.scores["indptr"]
        total = self.size
        weights = {}
        for token in dict.fromkeys(tokens):
            number = vocab.get(token)
            frequency = int(indptr[number + 1] - indptr[number]) if number is not None else 0
            weights[token] = idf(total, frequency)
        return weights


def idf(total: int, frequency: int) -> float:
    """BM25's inverse document frequency of a word held by ``frequency`` of ``total`` passages
    (bm25s's Lucene formula)."""
    return float(np.log(1 + (total - frequency + 0.5) / (frequency + 0.5)))


def token_scores_of_rows(tokens: Sequence[str], rows: Sequence[Sequence[str]], lengths: Sequence[int],
                         frequencies: Sequence[int], total: int, average_length: float) -> np.ndarray:
    """BM25 of each token alone on each row of tokens, given each token's document frequency among
    ``total`` passages of ``average_length``: the formula ``LexicalIndex`` reads from bm25s's
    matrix, for a store that keeps tokens and frequencies instead of the matrix (Milvus)."""
    scores = np.zeros((len(tokens), len(rows)), dtype=np.float32)
    counted = [Counter(row) for row in rows]
    norms = np.array([K1 * ((1 - B) + B * length / average_length) for length in lengths], dtype=np.float32)
    for i, (token, frequency) in enumerate(zip(tokens, frequencies)):
        if frequency == 0:
            continue
        tf = np.array([c.get(token, 0) for c in counted], dtype=np.float32)
        scores[i] = np.float32(idf(total, frequency)) * tf / (norms + tf)
    return scores


def _sort_postings(model):
    """Sort the passage rows within each token's column of the score matrix (a no-op when
    bm25s wrote them sorted), for ``token_scores_at``; the scores are unchanged. BM25 variants
    that give absent words a score (BM25L, BM25+) are refused: per-word rows would be wrong."""
    if model.nonoccurrence_array is not None:
        raise ValueError("only BM25 variants that score absent words zero are supported")
    indptr, indices = model.scores["indptr"], model.scores["indices"]
    column = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    if len(indices) > 1:
        same_column = column[1:] == column[:-1]
        if bool(np.all(indices[1:][same_column] > indices[:-1][same_column])):
            return model
    order = np.lexsort((indices, column))
    model.scores["indices"] = indices[order]
    model.scores["data"] = model.scores["data"][order]
    return model
