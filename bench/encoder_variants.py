"""Encoder variants on this processor: the ONNX model as fp32, int8 (the default), fp32 with ONNX
Runtime's BERT graph fusions, and int8 with 7-bit weights (``reduce_range``, meant for CPUs
without VNNI). Windows per second on a sample of an index's windows, encoded as the build
encodes them (sorted by length, batches of 32, one thread per core), and how close each
variant's vectors come to fp32 (cosine, mean and lowest):

    .venv/bin/python bench/encoder_variants.py --index .cache/eval-index

Only the default variant is in the product; README.md ("Speed and memory") has the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from qa.chunking import clean_for_model  # noqa: E402
from qa.embedding import OnnxEncoder, export_onnx, resolve_model  # noqa: E402
from qa.stores.embedded import Index  # noqa: E402
from qa.stores.seam import IndexLoadError  # noqa: E402
from qa.settings import DEFAULT_MODEL  # noqa: E402


class FileEncoder(OnnxEncoder):
    """The project's ONNX encoder (tokenizer, batching, pooling) over another model file."""

    def __init__(self, model_file: Path) -> None:
        super().__init__(DEFAULT_MODEL, quantized=False)
        self._model_file = str(model_file)
        self._single = self._session_with(threads=1)
        self._parallel = None


def sample_texts(index: Index, every: int) -> list[str]:
    texts = []
    for window in range(0, len(index.windows), every):
        start, end = index.window_span(window)
        raw = index.documents[index.chunks[int(index.windows[window, 0])].doc_id].raw
        texts.append(clean_for_model(raw[start:end]))
    return sorted(texts, key=len)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an index folder whose windows are the sample")
    parser.add_argument("--every", type=int, default=23, help="take every Nth window (default 23: about 2,000 of 46,217)")
    args = parser.parse_args()
    if args.every < 1:
        parser.error(f"--every must be at least 1, not {args.every}")
    try:
        texts = sample_texts(Index.load(args.index), args.every)
    except IndexLoadError as error:
        print(f"encoder_variants: error: {error}", file=sys.stderr)
        return 2

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    location = Path(resolve_model(DEFAULT_MODEL))
    fp32, int8 = export_onnx(location, quantized=False), export_onnx(location, quantized=True)
    with tempfile.TemporaryDirectory(prefix="qa-variants-") as work:
        fused, reduced = Path(work) / "fused.onnx", Path(work) / "int8-7bit.onnx"
        optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=384, opt_level=1).save_model_to_file(str(fused))
        quantize_dynamic(str(fp32), str(reduced), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=True, reduce_range=True)
        print(f"{len(texts)} windows, mean {np.mean([len(t.split()) for t in texts]):.0f} words")
        reference = None
        for name, path in (("fp32", fp32), ("int8 (default)", int8), ("fp32 + BERT fusions", fused), ("int8, 7-bit weights", reduced)):
            encoder = FileEncoder(path)
            encoder.encode(texts[:64])  # warm up
            began = time.perf_counter()
            vectors = encoder.encode(texts, batch_size=32)
            rate = len(texts) / (time.perf_counter() - began)
            reference = vectors if reference is None else reference
            cosine = (vectors * reference).sum(axis=1)
            print(f"{name:<22} {rate:6.1f} windows/s   cosine to fp32: mean {cosine.mean():.4f}, lowest {cosine.min():.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
