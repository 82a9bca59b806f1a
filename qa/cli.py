"""The ``qa`` command: build an index, ask a question, or serve the web page and JSON API."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
import os
import sys
from pathlib import Path

from qa.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env().with_overrides(
        model=args.model, backend=args.backend,
        index_dir=getattr(args, "index", None) or getattr(args, "out", None),
    )
    try:
        return args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except (OSError, RuntimeError, ValueError) as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Question answering over press-briefing transcripts.")
    parser.add_argument("--model", help="embedding model name or folder (default: QA_MODEL or all-MiniLM-L6-v2)")
    parser.add_argument("--backend", choices=("torch", "onnx", "onnx-int8"),
                        help="runtime that embeds passages when indexing (default: QA_BACKEND or onnx-int8)")
    commands = parser.add_subparsers(dest="command", required=True)

    index = commands.add_parser("index", help="build the index from transcript folders")
    index.add_argument("--source", action="append", type=Path, metavar="DIR",
                       help="a folder (or file) of transcripts; repeat for several (default: seeds/)")
    index.add_argument("--out", type=Path, metavar="DIR", help="where to write the index (default: index/)")
    index.add_argument("--batch-size", type=int, default=None, help="encoder batch size")
    index.add_argument("--full", action="store_true",
                       help="embed everything again instead of reusing the vectors of unchanged text")
    index.set_defaults(handler=run_index)

    ask = commands.add_parser("ask", help="ask a question and print the cited passages")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=5, help="how many passages (1-50, default 5)")
    ask.add_argument("--json", action="store_true", help="print exactly the JSON the API returns")
    ask.add_argument("--index", type=Path, metavar="DIR", help="the index folder (default: index/)")
    ask.add_argument("--speaker", help="only passages by this speaker")
    ask.add_argument("--date-from", metavar="YYYY-MM-DD", help="only briefings on or after this date")
    ask.add_argument("--date-to", metavar="YYYY-MM-DD", help="only briefings on or before this date")
    ask.add_argument("--doc-id", help="only passages of this document")
    ask.set_defaults(handler=run_ask)

    evaluate = commands.add_parser(
        "eval", help="measure Hit@1, Hit@5, MRR@10 and the answer's precision, coverage and abstention")
    evaluate.add_argument("--questions", type=Path, action="append", required=True, metavar="FILE",
                          help="JSON lines with id, question, doc (gold file name) and phrase; repeat for more files, "
                          "each reported on its own")
    evaluate.add_argument("--offtopic", type=Path, action="append", default=[], metavar="FILE",
                          help="JSON lines of questions the corpus cannot answer: reports how many get no answer")
    evaluate.add_argument("--index", type=Path, metavar="DIR", help="the index folder (default: index/)")
    evaluate.add_argument("--json", action="store_true", help="print the full report as JSON")
    evaluate.add_argument("--answer-model", type=Path, metavar="FILE",
                          help="the answer model to use (default: the one shipped, qa/answer_model.json)")
    evaluate.add_argument("--curve", action="store_true", help="print the answer's precision/coverage curve")
    evaluate.add_argument("--weights", metavar="NAME=W,...",
                          help="ranking weights for an ablation, e.g. dense=1,window_lexical=0,pair_lexical=0,document=0")
    evaluate.add_argument("--fusion", choices=("zscore", "rrf"), help="how the signals are combined (default zscore)")
    evaluate.add_argument("--keep-occasion-words", action="store_true",
                          help="ablation: passage-level BM25 keeps the words naming the passage's own briefing")
    evaluate.set_defaults(handler=run_eval)

    calibrate = commands.add_parser(
        "calibrate", help="fit the answer model (which sentence answers, and the confidence to show it)")
    calibrate.add_argument("--questions", type=Path, action="append", required=True, metavar="FILE",
                           help="questions with gold answers to fit on (JSON lines, as for eval)")
    calibrate.add_argument("--offtopic", type=Path, action="append", default=[], metavar="FILE",
                           help="questions the corpus cannot answer, fitted as ones to abstain on")
    calibrate.add_argument("--index", type=Path, metavar="DIR", help="the index folder (default: index/)")
    calibrate.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write the model (JSON)")
    calibrate.add_argument("--target-precision", type=float, default=0.9,
                           help="the threshold is the lowest at which the out-of-fold precision holds this")
    calibrate.set_defaults(handler=run_calibrate)

    serve = commands.add_parser("serve", help="serve the web page and JSON API")
    serve.add_argument("--index", type=Path, metavar="DIR", help="the index folder (default: index/)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes sharing the on-disk index (default 1)")
    serve.set_defaults(handler=run_serve)
    return parser


def run_index(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from qa.embedding import get_encoder
    from qa.index import build_index

    sources = tuple(args.source) if args.source else settings.sources
    for source in sources:
        if not source.exists():
            print(f"qa: error: source folder not found: {source}", file=sys.stderr)
            return 2
    encoder = get_encoder(settings.model, settings.backend)
    bar = tqdm(total=0, unit="chunk", desc="embedding", disable=None)
    try:
        report = build_index(
            sources, settings.index_dir, encoder, batch_size=args.batch_size or settings.batch_size,
            progress=bar.update, on_total=lambda total: setattr(bar, "total", total) or bar.refresh(),
            incremental=not args.full,
        )
    finally:
        bar.close()
    for skipped in report.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    if report.up_to_date:
        print(f"index at {report.out_dir} is up to date ({report.documents} documents, {report.chunks} passages; "
              f"checked in {report.seconds:.1f} s)")
        return 0
    print(
        f"indexed {report.documents} documents, {report.chunks} passages in {report.seconds:.1f} s "
        f"({report.encoded} windows embedded, {report.reused} reused) -> {report.out_dir}"
        + (f" ({len(report.skipped)} files skipped)" if report.skipped else "")
    )
    return 0 if report.documents else 1


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    from qa.api import answer_json, load_searcher
    from qa.ranking import Filters
    from qa.search import QuestionError, validate

    try:
        validate(args.question, args.k, settings.max_question_chars, settings.max_k)
        filters = Filters(args.speaker, args.date_from, args.date_to, args.doc_id)
        answer = load_searcher(settings).ask(args.question, args.k, filters)
    except QuestionError as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
        return 0
    if not answer.answered:
        print(f"Not answered. {answer.reason}\nClosest passages:\n")
    elif answer.answer:
        print(f"Answer: {answer.answer.text}\n")
    if not answer.passages:
        print("No passages found.")
    for passage in answer.passages:
        citation = passage.citation
        print(f"{passage.rank}. [{passage.score:.3f}] {citation.speaker or 'Narrative'} - {citation.title}"
              + (f" ({citation.date})" if citation.date else ""))
        if passage.in_reply_to:
            print(f"   In reply to: {passage.in_reply_to}")
        print(f"   {passage.text}")
        print(f"   {citation.path} [{citation.start}:{citation.end}]\n")
    return 0


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    from qa.answering import AnswerModel
    from qa.api import load_searcher
    from qa.evaluation import abstention, evaluate, load_offtopic, load_questions, summarise

    question_sets = {str(path): load_questions(path) for path in args.questions}
    offtopic_sets = {str(path): load_offtopic(path) for path in args.offtopic}
    searcher = load_searcher(settings)
    if args.answer_model:
        searcher.answer_model = AnswerModel.load(args.answer_model)
    if args.weights:
        searcher.index.ranker.weights = parse_weights(args.weights)
    if args.fusion:
        searcher.index.ranker.fusion = args.fusion
    if args.keep_occasion_words:
        searcher.index.ranker.occasion_free = False
    reports = {path: summarise(evaluate(searcher, questions)) for path, questions in question_sets.items()}
    abstentions = {path: abstention(searcher, questions) for path, questions in offtopic_sets.items()}
    if args.json:
        print(json.dumps({
            "weights": asdict(searcher.index.ranker.weights), "fusion": searcher.index.ranker.fusion,
            "occasion_free": searcher.index.ranker.occasion_free,
            "answer_threshold": searcher.answer_model.threshold,
            "questions": reports, "offtopic": abstentions,
        }, ensure_ascii=False, indent=2))
        return 0
    print(f"weights            {asdict(searcher.index.ranker.weights)} ({searcher.index.ranker.fusion} fusion)")
    print(f"answer threshold   {searcher.answer_model.threshold}")
    for path, report in reports.items():
        print(f"\n== {path}: {report['questions']} questions")
        for miss in report["misses"]:
            where = f"rank {miss['rank']}" if miss["rank"] else "not in top 10"
            print(f"{miss['id']} ({where}): {miss['question']}\n  gold: {miss['gold_doc']}: {miss['phrase']!r}")
            for got in miss["got"]:
                print(f"  got {got['rank']}. {got['path']} ({got['speaker']}): {got['text'][:100]}")
        for wrong in report["wrong_answers"]:
            print(f"{wrong['id']} (wrong answer, confidence {wrong['confidence']:.2f}): {wrong['question']}\n"
                  f"  gold: {wrong['phrase']!r}\n  answer: {wrong['answer'][:200]!r}")
        if args.curve:
            print("threshold  precision  coverage")
            for point in report["answer_curve"]:
                precision = "-" if point["precision"] is None else f"{point['precision']:.2f}"
                print(f"{point['threshold']:>9.2f}  {precision:>9}  {point['coverage']:>8.2f}")
    for path, result in abstentions.items():
        print(f"\n== {path}: {result['questions']} questions the corpus cannot answer")
        for question in result["answered"]:
            print(f"  answered: {question}")
    print("\nset                                  questions  hit@1  hit@5  mrr@10  words  precision  coverage  shown")
    for path, report in reports.items():
        precision = "-" if report["answer_precision"] is None else f"{report['answer_precision']:.2f}"
        print(f"{Path(path).name:<36} {report['questions']:>9}  {report['hit@1']:.2f}   {report['hit@5']:.2f}   "
              f"{report['mrr@10']:.2f}    {report['median_words_read']!s:>5}  {precision:>9}  "
              f"{report['answer_coverage']:>8.2f}  {report['answers_right']}/{report['answers_shown']}")
    for path, result in abstentions.items():
        print(f"{Path(path).name:<36} {result['questions']:>9}  abstention {result['abstention']:.2f} "
              f"({result['abstained']}/{result['questions']})")
    return 0


def run_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from qa.api import load_searcher
    from qa.calibration import collect, fit
    from qa.evaluation import load_offtopic, load_questions

    questions = [q for path in args.questions for q in load_questions(path)]
    offtopic = [q for path in args.offtopic for q in load_offtopic(path)]
    if not 0 < args.target_precision <= 1:
        print("qa: error: --target-precision must be above 0 and at most 1", file=sys.stderr)
        return 2
    searcher = load_searcher(settings)
    model, report = fit(collect(searcher, questions, offtopic), args.target_precision)
    model = type(model)(model.sentence, model.confidence, model.threshold, {
        **report, "question_files": [str(p) for p in args.questions],
        "offtopic_files": [str(p) for p in args.offtopic],
    })
    model.save(args.out)
    print(f"fitted on {report['questions']} questions and {report['offtopic']} off-topic ones; "
          f"best answer right for {report['best_answer_right']:.0%}; threshold {report['threshold']:.3f} "
          f"(out-of-fold precision >= {args.target_precision}); written to {args.out}")
    return 0


def parse_weights(text: str):
    """'dense=1,document=0' -> Weights; names not given keep their defaults."""
    from dataclasses import fields, replace

    from qa.ranking import Weights

    names = {f.name for f in fields(Weights)}
    changes = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in names:
            raise ValueError(f"unknown weight {name!r}; the weights are {', '.join(sorted(names))}")
        try:
            changes[name] = float(value)
        except ValueError:
            raise ValueError(f"weight {name} needs a number, not {value!r}") from None
    return replace(Weights(), **changes)


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from qa.api import create_app, load_searcher

    settings = settings.with_overrides(host=args.host, port=args.port)
    if args.workers < 1:
        print("qa: error: --workers must be at least 1", file=sys.stderr)
        return 2
    searcher = load_searcher(settings)  # fail here, with a clear message, before listening
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(f"serving {len(searcher.index.documents)} documents on http://{settings.host}:{settings.port}/"
          + (f" with {args.workers} workers" if args.workers > 1 else ""), file=sys.stderr)
    if args.workers > 1:
        # Each worker loads the same on-disk index (and reloads it when it is rebuilt). This
        # process, having checked that the index and model load, becomes uvicorn's supervisor by
        # exec: a fresh interpreter holding neither the index nor the model (about 30 MB instead
        # of 140).
        del searcher
        os.environ["QA_INDEX"] = str(Path(settings.index_dir).absolute())
        os.environ["QA_MODEL"] = settings.model
        command = [
            sys.executable, "-m", "uvicorn", "qa.api:app_from_env", "--factory",
            "--host", settings.host, "--port", str(settings.port), "--workers", str(args.workers),
            "--timeout-keep-alive", "30", "--log-level", "info",
        ]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, command)
    # Keep-alive longer than uvicorn's 5 s, so that a busy client's pooled connection is not closed
    # under it between two requests.
    app = create_app(settings, searcher, watch=True)
    # The app holds the searcher from here; a reference kept in this frame, which lives as long
    # as the server, would keep the first index in memory after every later swap.
    del searcher
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", timeout_keep_alive=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
