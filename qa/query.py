"""The question, analysed once: its words, their weights, its vector and the kind of answer it asks for.

``Filters``, the restrictions a question is asked with, stand beside it: ranking and both stores
read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.answer_types import expected_kind
from qa.lexical import tokenize


@dataclass(frozen=True)
class Filters:
    """Restrictions on which passages may be returned; ``None`` means no restriction."""

    speaker: str | None = None
    date_from: str | None = None  # ISO dates, inclusive
    date_to: str | None = None
    doc_id: str | None = None
    # "answers" (officials' replies), "questions" (reporters'), "both"; None: the search's default
    # (qa.stores.seam.default_role).
    role: str | None = None

    def is_empty(self) -> bool:
        return not (self.speaker or self.date_from or self.date_to or self.doc_id or self.role)


@dataclass(frozen=True)
class Query:
    """What ranking, the answer and the highlights read of a question; made once per question."""

    text: str
    words: tuple[str, ...]  # stemmed content words and numbers, repeats kept (document BM25 counts them)
    tokens: tuple[str, ...]  # the same words, each once, in order
    vector: np.ndarray  # the question's unit vector
    idf: dict[str, float]  # each token's IDF over the windows
    kind: str | None  # what it asks for (qa.answer_types), None when no pattern tells

    @classmethod
    def of(cls, text: str, vector: np.ndarray, idf_of=None) -> Query:
        """The query for ``text``; ``idf_of(tokens)`` gives the IDF (none: every weight 1)."""
        words = tuple(tokenize(text))
        tokens = tuple(dict.fromkeys(words))
        idf = idf_of(tokens) if idf_of is not None else {t: 1.0 for t in tokens}
        return cls(text, words, tokens, np.asarray(vector, dtype=np.float32), idf, expected_kind(text))
