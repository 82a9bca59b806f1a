"""Quality probe: adapt the packaged MiniLM to the corpus with its own (reporter question, reply) pairs.

Domain adaptation without any labelled question: every reply in the transcripts follows the
reporter's question it answers, so the corpus itself holds thousands of question/answer pairs.
This fine-tunes all-MiniLM-L6-v2 on a sample of them with in-batch negatives
(MultipleNegativesRankingLoss, batch 32, one pass, learning rate 2e-5 with warm-up and linear
decay) and saves a sentence-transformers folder that ``qa --model FOLDER`` can use. Not in the
product: README.md ("Tried and not kept") has the figures. To rerun:

    .venv/bin/python bench/adaptation_probe.py --index .cache/eval-index --out /tmp/adapted --pairs 3200
    .venv/bin/qa --model /tmp/adapted index --source seeds --source ../shared/corpus/wh-press-briefings --out /tmp/adapted-index
    .venv/bin/qa --model /tmp/adapted eval --questions ../shared/eval/dev.jsonl --index /tmp/adapted-index

On 2 cores a step of 32 pairs takes about 5.5 s (3,200 pairs: about 9 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.chunking import Chunk  # noqa: E402
from qa.embedding import resolve_model  # noqa: E402
from qa.stores.embedded import Index  # noqa: E402
from qa.stores.seam import IndexLoadError  # noqa: E402
from qa.settings import DEFAULT_MODEL  # noqa: E402


BATCH = 32  # pairs a step; each question's reply is told apart from the other 31 replies


def question_reply_pairs(chunks: Sequence[Chunk]) -> list[tuple[str, str]]:
    """(the reporter's whole question, the reply passage) for every reply of a usable length."""
    questions: dict[tuple[str, int], str] = {}
    for chunk in chunks:
        if chunk.is_question:  # a long question is split into parts: join them again
            key = (chunk.doc_id, chunk.turn)
            questions[key] = f"{questions.get(key, '')} {chunk.text}".strip()
    pairs = []
    for chunk in chunks:
        if chunk.is_question or chunk.question_turn is None:
            continue
        question = questions.get((chunk.doc_id, chunk.question_turn))
        if question and len(question.split()) >= 6 and len(chunk.text.split()) >= 12:
            pairs.append((" ".join(question.split()[:120]), chunk.text))
    return pairs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an index folder (its passages give the pairs)")
    parser.add_argument("--out", type=Path, required=True, help="where to save the adapted model folder")
    parser.add_argument("--pairs", type=int, default=3200, help=f"how many pairs to train on (a random sample; at least {BATCH})")
    parser.add_argument("--max-tokens", type=int, default=128, help="word-pieces per text while training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.pairs < BATCH:
        parser.error(f"--pairs must be at least {BATCH} (one training step), not {args.pairs}")
    if not 16 <= args.max_tokens <= 256:
        parser.error(f"--max-tokens must be from 16 to 256 (the model reads 256 at most), not {args.max_tokens}")
    if args.out.exists():
        parser.error(f"--out {args.out} exists already; give a new folder (nothing is overwritten)")

    try:
        chunks = Index.load(args.index).chunks
    except IndexLoadError as error:
        print(f"adaptation_probe: error: {error}", file=sys.stderr)
        return 2
    pairs = question_reply_pairs(chunks)
    if len(pairs) < BATCH:
        print(f"adaptation_probe: error: the index at {args.index} has {len(pairs)} question/reply pairs; "
              f"training needs at least {BATCH}", file=sys.stderr)
        return 2

    import torch
    from sentence_transformers import SentenceTransformer, losses

    torch.set_num_threads(os.cpu_count() or 1)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    random.shuffle(pairs)
    print(f"{len(pairs)} question/reply pairs; training on {min(args.pairs, len(pairs))}", flush=True)
    pairs = pairs[: args.pairs]

    model = SentenceTransformer(resolve_model(DEFAULT_MODEL), device="cpu")
    model.max_seq_length = args.max_tokens
    loss = losses.MultipleNegativesRankingLoss(model)
    steps = len(pairs) // BATCH
    warmup = max(1, steps // 10)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps))
    model.train()
    began = time.perf_counter()
    for step in range(steps):
        part = pairs[step * BATCH : (step + 1) * BATCH]
        value = loss([model.tokenize([q for q, _ in part]), model.tokenize([a for _, a in part])], None)
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        if step % 20 == 0:
            print(f"step {step}/{steps} loss {value.item():.3f} ({time.perf_counter() - began:.0f} s)", flush=True)
    model.eval()
    model.max_seq_length = 256  # as the packaged model reads at search time
    model.save(str(args.out))
    print(f"saved {args.out} after {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
