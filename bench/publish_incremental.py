"""Publishing to Milvus: a whole new generation against one briefing added by briefing.

    .venv/bin/qa index --source seeds --source ../shared/corpus/wh-press-briefings --out /tmp/x
    .venv/bin/python bench/publish_incremental.py --index /tmp/x --root .

The index named (read, never changed: it is copied) is the archive with every briefing (B). A
copy without one White House briefing (A) is rebuilt from it incrementally (nothing is embedded:
every other briefing keeps its rows). On a ``milvus-lite server`` started here: A is published as
a new generation (the full publish), then B by briefing (one briefing added: the incremental
publish), then B again with ``full`` (a new generation of the same archive). Writes
``bench/publish_incremental.json``. milvus-lite is a light engine for development on this
machine's cores: its figures say nothing about a Milvus cluster's speed, only how the two kinds of
publish compare on the same engine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from glance import write_pages  # noqa: E402


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}


def without_one(index_dir: Path, root: Path, work: Path, leave_out: str) -> Path:
    """The sources of ``index_dir`` (relative to ``root``, where it was built) as links, less the
    file ``leave_out``: the index built from them incrementally (from a copy of ``index_dir``)
    lacks that one briefing."""
    from qa.build import build_index
    from qa.embedding import get_encoder
    from qa.settings import DEFAULT_BACKEND

    manifest = json.loads((index_dir / "manifest.json").read_text())
    sources = []
    for n, folder in enumerate(manifest["sources"]):
        original = root / folder
        linked = work / "sources" / f"{n}-{Path(folder).name}"
        linked.mkdir(parents=True)
        for path in sorted(original.resolve().iterdir()):
            if path.name != leave_out:
                (linked / path.name).symlink_to(path)
        sources.append(linked)
    out = work / "without-one"
    shutil.copytree(index_dir.resolve(), out)
    report = build_index(sources, out, get_encoder(manifest["model"], manifest.get("backend", DEFAULT_BACKEND)))
    assert report.encoded == 0, f"{report.encoded} windows embedded: the sources are not the index's"
    return out


DOC = REPO / "docs" / "deploying.md"
FIGURES = REPO / "bench" / "publish_incremental.json"
START = "<!-- publish: written by bench/publish_incremental.py from bench/publish_incremental.json; do not edit -->"
END = "<!-- /publish -->"


def render(report: dict) -> str:
    """The sentence of docs/deploying.md that quotes the measurement."""
    machine, archive = report["machine"], report["archive"]
    return (f"On {report['engine']} ({machine['cores']} cores, {machine['cpu']}; commit {report['commit']}, "
            f"{report['date']}), adding one {report['added_briefing']['windows']:,}-window briefing to the "
            f"{archive['windows']:,}-window archive of `make eval` ({archive['documents']} documents) took "
            f"{report['incremental_add_one_s']} s, a new generation of the same archive "
            f"{report['full_publish_same_archive_s']} s: {report['ratio_full_to_incremental']} times less.")


def rendered() -> dict[Path, str]:
    from sizing_table import replace_block

    report = json.loads(FIGURES.read_text(encoding="utf-8"))
    return {DOC: replace_block(DOC.read_text(encoding="utf-8"), render(report), START, END)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=REPO / ".cache" / "eval-index")
    parser.add_argument("--root", type=Path, help="where the index was built (its sources are relative to it; "
                        "default: the folder above the index's folder, as for .cache/eval-index)")
    parser.add_argument("--leave-out", default="2023-08-22_wh_gaggle-nsa-sullivan-2.txt",
                        help="the briefing added by the incremental publish")
    parser.add_argument("--out", type=Path, default=FIGURES)
    parser.add_argument("--docs", action="store_true", help="only write docs/deploying.md's sentence from the figures")
    args = parser.parse_args()
    if args.docs:
        write_pages(rendered())
        return

    from run import start_milvus

    from qa.stores.embedded import Index
    from qa.stores.milvus import MilvusStore
    from qa.stores.milvus_publish import publish

    work = Path(tempfile.mkdtemp(prefix="qa-publish-bench-"))
    server, uri = start_milvus(work / "milvus")
    try:
        smaller, whole = Index.load(without_one(args.index, args.root or args.index.absolute().parent.parent, work, args.leave_out)), Index.load(args.index)
        full = publish(smaller, uri, "bench")
        added = publish(whole, uri, "bench")
        assert not added["new_generation"] and (added["written"], added["retired"]) == (1, 0)
        store = MilvusStore.open(uri, "bench")
        assert store.doc_ids == whole.doc_ids and len(store.chunks) == len(whole.chunks)
        again = publish(whole, uri, "bench", full=True)
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "what": "qa publish to Milvus: a new generation (every row) against one briefing added by briefing",
        "engine": "milvus-lite 3.2.2 server on this machine, not a cluster",
        "machine": machine(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip(),
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python", "bench/publish_incremental.py", *sys.argv[1:]]),
        "archive": {"documents": len(whole.doc_ids), "passages": len(whole.chunks), "windows": len(whole.windows)},
        "added_briefing": {"file": args.leave_out, "windows": len(whole.windows) - len(smaller.windows)},
        "full_publish_s": round(full["seconds"], 2),
        "full_publish_same_archive_s": round(again["seconds"], 2),
        "incremental_add_one_s": round(added["seconds"], 2),
        "incremental_terms_written": added["terms"],
        "ratio_full_to_incremental": round(again["seconds"] / added["seconds"], 1),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if args.out == FIGURES:
        write_pages(rendered())


if __name__ == "__main__":
    main()
