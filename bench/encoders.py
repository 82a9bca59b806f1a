"""Encoders side by side on this machine: token lengths of the index's windows, build speed,
question latency, and how close a quantised backend's vectors come to fp32.

For each ``--encoder MODEL:BACKEND``: the windows' token lengths with the model's own tokenizer
and document prompt (median, 99th percentile, longest: what a length cap would cut), windows per
second on a sample of the index's windows encoded as the build encodes them (sorted by length,
batches of 32, one thread per core), and the time to encode one question (with the query prompt,
one thread, as a query does). With ``--reference BACKEND`` each encoder's vectors are compared
with that backend's for the same model (cosine, mean and lowest).

    .venv/bin/python bench/encoders.py --index .cache/eval-index \\
        --encoder all-MiniLM-L6-v2:onnx-int8 --encoder models/embeddinggemma-300m:onnx-int8 --reference onnx

README.md ("Encoders") has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from encoder_variants import sample_texts  # noqa: E402
from qa.embedding import ModelError, get_encoder, resolve_model  # noqa: E402
from qa.stores.embedded import Index  # noqa: E402
from qa.stores.seam import IndexLoadError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def token_lengths(model: str, prompt: str, texts: list[str]) -> np.ndarray:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(resolve_model(model)) / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return np.array([len(e.ids) for e in tokenizer.encode_batch([prompt + t for t in texts])])


def questions_of(paths: list[Path]) -> list[str]:
    questions = []
    for path in paths:
        questions += [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    return questions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an index folder whose windows are measured")
    parser.add_argument("--encoder", action="append", required=True, metavar="MODEL:BACKEND")
    parser.add_argument("--reference", metavar="BACKEND", help="compare each encoder's vectors with this backend's")
    parser.add_argument("--sample", type=int, default=512, help="windows encoded for the speed (default 512)")
    parser.add_argument("--questions", type=Path, action="append", metavar="FILE",
                        help="questions timed one at a time (default: tests/data/questions.jsonl)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    try:
        texts = sample_texts(Index.load(args.index), every=1)  # every window, as the build encodes it
    except IndexLoadError as error:
        print(f"encoders: error: {error}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(7)
    sample = sorted((texts[i] for i in rng.choice(len(texts), min(args.sample, len(texts)), replace=False)), key=len)
    questions = questions_of(args.questions or [REPO / "tests" / "data" / "questions.jsonl"])
    print(f"{len(texts)} windows in {args.index}; speed on {len(sample)} of them; {len(questions)} questions; "
          f"{os.cpu_count()} cores")
    results = []
    for spec in args.encoder:
        model, _, backend = spec.rpartition(":")
        if not model:
            parser.error(f"--encoder {spec!r}: write MODEL:BACKEND")
        try:
            encoder = get_encoder(model, backend)
        except ModelError as error:
            print(f"encoders: error: {error}", file=sys.stderr)
            return 2
        lengths = token_lengths(model, encoder.prompts["document"], texts)
        encoder.encode(sample[:32])  # warm up
        began = time.perf_counter()
        vectors = np.concatenate([encoder.encode(sample[i : i + 256], batch_size=32) for i in range(0, len(sample), 256)])
        rate = len(sample) / (time.perf_counter() - began)
        encode_queries = getattr(encoder, "encode_queries", encoder.encode)
        encode_queries(questions[:3])
        times = []
        for question in questions:
            began = time.perf_counter()
            encode_queries([question])
            times.append((time.perf_counter() - began) * 1000)
        row = {
            "encoder": spec, "dimension": encoder.dimension, "max_tokens": encoder.max_tokens,
            "tokens_median": float(np.median(lengths)), "tokens_p99": float(np.percentile(lengths, 99)),
            "tokens_max": int(lengths.max()), "over_cap": int((lengths > encoder.max_tokens).sum()),
            "windows_per_s": round(rate, 1), "question_ms_p50": round(float(np.percentile(times, 50)), 1),
            "question_ms_p99": round(float(np.percentile(times, 99)), 1),
        }
        if args.reference and args.reference != backend:
            reference = get_encoder(model, args.reference)
            expected = np.concatenate([reference.encode(sample[i : i + 256], batch_size=32) for i in range(0, len(sample), 256)])
            cosines = (vectors * expected).sum(axis=1)
            row.update({"reference": args.reference, "cosine_mean": round(float(cosines.mean()), 4),
                        "cosine_min": round(float(cosines.min()), 4)})
        results.append(row)
        print(json.dumps(row), flush=True)
    print("\nencoder                                   dim  tokens median/p99/max (cap)  windows/s  question p50/p99 ms  cosine to ref")
    for row in results:
        cosine = f"{row['cosine_mean']:.4f} / {row['cosine_min']:.4f}" if "cosine_mean" in row else "-"
        print(f"{row['encoder']:<40} {row['dimension']:>4}  {row['tokens_median']:.0f}/{row['tokens_p99']:.0f}/{row['tokens_max']} "
              f"({row['max_tokens']}, {row['over_cap']} over)  {row['windows_per_s']:>9}  "
              f"{row['question_ms_p50']:>7} / {row['question_ms_p99']:<7}  {cosine}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
