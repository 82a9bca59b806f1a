"""Vector indexes: exact inner product for ordinary archives, IVF above a size where exact search slows.

The exact index keeps the vectors as 16-bit floats (FAISS's scalar quantizer, fp16): half the
memory and half the bytes read per query of 32-bit floats, for cosines within 1e-4 of them
(measured: the same rankings on the dev and own question sets). Scoring all windows of the
shared corpus this way takes about 1.7 ms on one core, against 2.7-4 ms for a float32 NumPy
matrix-vector product, which is bound by memory bandwidth.

One place decides the FAISS index type (``build``), how it is searched (``search_params``) and how
it is loaded (``load``: memory-mapped where FAISS allows).
"""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

# Chosen by measurement (bench/scale.py, README.md): below this many windows exact search over
# all of them stays within a few milliseconds on 2 cores; above it, IVF keeps queries fast.
IVF_THRESHOLD = 200_000
# Lists probed per query: the smallest that kept recall@10 >= 0.95 against exact search at 1M.
NPROBE = 32


def build(vectors: np.ndarray, dimension: int) -> faiss.Index:
    """An exact index for up to IVF_THRESHOLD vectors, an inverted-file index above."""
    count = len(vectors)
    if count <= IVF_THRESHOLD:
        index = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors[:1] if count else np.zeros((1, dimension), dtype=np.float32))  # fp16 learns nothing
    else:
        lists = int(4 * math.sqrt(count))
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).choice(count, size=min(count, 40 * lists), replace=False)]
        index.train(sample)
    if count:
        index.add(vectors)
    return index


def load(path: Path) -> faiss.Index:
    """Read an index; IVF lists are memory-mapped, and given a direct map for reconstruction."""
    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        index = faiss.read_index(str(path))
    ivf = _ivf(index)
    if ivf is not None:
        ivf.make_direct_map()
    return index


def kind(index: faiss.Index) -> str:
    if _ivf(index) is not None:
        return "ivf-flat"
    return "flat-fp16" if isinstance(index, faiss.IndexScalarQuantizer) else "flat"


def search_params(index: faiss.Index, selector: faiss.IDSelector | None = None) -> faiss.SearchParameters | None:
    if _ivf(index) is not None:
        return faiss.SearchParametersIVF(sel=selector, nprobe=NPROBE) if selector else faiss.SearchParametersIVF(nprobe=NPROBE)
    return faiss.SearchParameters(sel=selector) if selector else None


def _ivf(index: faiss.Index):
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None
