"""Dense retrieval alone, and with truncated (Matryoshka) dimensions: Hit@1, Hit@5 and MRR@10 of the
right passage when passages are ranked by their best window's cosine only.

The index's own vectors and its encoder (with its query prompt) are used; ``--dims`` keeps the
first N dimensions of both and normalises them again, as a Matryoshka-trained model such as
EmbeddingGemma allows (768, 512, 256, 128).

    .venv/bin/python bench/dense_only.py --index .cache/eval-index-embeddinggemma \\
        --questions ../shared/eval/dev.jsonl --dims 768,512,256,128
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from qa.embedding import get_encoder  # noqa: E402
from qa.evaluation import holds_gold, load_questions  # noqa: E402
from qa.stores.embedded import Index  # noqa: E402
from qa.stores.seam import IndexLoadError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, action="append", required=True, metavar="FILE")
    parser.add_argument("--dims", default="", help="comma-separated truncations to measure (default: the full dimension)")
    args = parser.parse_args()
    try:
        index = Index.load(args.index)
    except IndexLoadError as error:
        print(f"dense_only: error: {error}", file=sys.stderr)
        return 2
    encoder = get_encoder(index.model, index.encoder_backend)
    vectors = index.vectors.reconstruct_n(0, index.vectors.ntotal).astype(np.float32)
    window_chunk = np.asarray(index.window_chunk)
    dims = [int(d) for d in args.dims.split(",") if d] or [vectors.shape[1]]
    encode = getattr(encoder, "encode_queries", encoder.encode)
    print(f"{args.index}: {len(vectors)} windows, model {index.model} ({index.encoder_backend})")
    print("questions                      dims  hit@1  hit@5  mrr@10")
    for path in args.questions:
        questions = load_questions(path)
        asked = encode([q.question for q in questions])
        for dim in dims:
            windows = vectors[:, :dim] / np.linalg.norm(vectors[:, :dim], axis=1, keepdims=True)
            hits1 = hits5 = mrr = 0.0
            for gold, vector in zip(questions, asked):
                query = vector[:dim] / np.linalg.norm(vector[:dim])
                order = np.argsort(-(windows @ query))
                seen: list[int] = []
                for window in order:
                    row = int(window_chunk[window])
                    if row not in seen:
                        seen.append(row)
                    if len(seen) == 10:
                        break
                for rank, row in enumerate(seen, start=1):
                    chunk = index.chunks[row]
                    document = index.documents[chunk.doc_id]
                    if holds_gold(document.path, document.raw[chunk.start : chunk.end], gold, document.copies):
                        hits1 += rank == 1
                        hits5 += rank <= 5
                        mrr += 1.0 / rank
                        break
            n = max(len(questions), 1)
            print(f"{path.name:<30} {dim:>4}  {hits1 / n:.2f}   {hits5 / n:.2f}   {mrr / n:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
