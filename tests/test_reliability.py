"""Indexes survive killed builds, concurrent builds and damaged files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO, SEEDS
from qa.build import build_index
from qa.stores.embedded import MANIFEST, Index
from qa.stores.seam import IndexLoadError

# A build that takes a couple of seconds: the stand-in encoder, slowed down per batch.
SLOW_BUILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from conftest import StandInEncoder
    from qa.build import build_index

    class Slow(StandInEncoder):
        def encode(self, texts, batch_size=32, show_progress=False):
            if not getattr(self, "said", False):  # encoding runs with the build lock held
                print("encoding", flush=True)
                self.said = True
            time.sleep({delay} * len(texts))
            return super().encode(texts, batch_size)

    print("started", flush=True)
    build_index([Path({source!r})], Path({out!r}), Slow(), batch_size=2, incremental=False)
    print("finished", flush=True)
    """
)


def slow_build(source, out, delay=0.05) -> subprocess.Popen:
    script = SLOW_BUILD.format(tests=str(REPO / "tests"), source=str(source), out=str(out), delay=delay)
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)


@pytest.fixture()
def corpus(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(SEEDS, source)
    # More text, so that a build has many moments to be killed in.
    for copy in range(3):
        (source / f"copy-{copy}.txt").write_text((SEEDS / "003_cd57cd5aac821783.txt").read_text().replace("MIIT", f"MIIT{copy}"))
    return source


# A build that stops at each step (every batch it embeds, the writing of its files, the swap into
# place, and just after it) to say so and wait for a line on stdin: the test kills it there.
STEPPED_BUILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from conftest import StandInEncoder
    import qa.build

    def step(name):
        print(name, flush=True)
        sys.stdin.readline()

    class Stepped(StandInEncoder):
        def encode(self, texts, batch_size=32, show_progress=False):
            step("batch")
            return super().encode(texts, batch_size)

    def stepped(function, before, after=None):
        def run(*args, **kwargs):
            step(before)
            result = function(*args, **kwargs)
            if after:
                step(after)
            return result
        return run

    qa.build._write = stepped(qa.build._write, "write")
    qa.build._swap_into_place = stepped(qa.build._swap_into_place, "swap", "swapped")
    qa.build.build_index([Path({source!r})], Path({out!r}), Stepped(), batch_size=1, incremental=False)
    print("finished", flush=True)
    """
)


def stepped_build(source, out) -> subprocess.Popen:
    script = STEPPED_BUILD.format(tests=str(REPO / "tests"), source=str(source), out=str(out))
    return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def run_to(process: subprocess.Popen, stop: int | None) -> list[str]:
    """Let the build go on step after step; at step number ``stop`` (None: never) kill it there."""
    steps = []
    for line in process.stdout:
        if line.strip() == "finished":
            break
        if len(steps) == stop:
            process.send_signal(signal.SIGKILL)
            break
        steps.append(line.strip())
        process.stdin.write("\n")
        process.stdin.flush()
    process.wait(timeout=300)
    return steps


def test_a_build_killed_at_any_step_leaves_the_previous_index_loadable(tmp_path, corpus, stand_in_encoder):
    out = tmp_path / "index"
    build_index([SEEDS], out, stand_in_encoder)
    before = json.loads((out / MANIFEST).read_text())
    # The steps of a whole build, then a build killed at each kind of step: the first batches,
    # one in the middle, the last, writing the files, swapping them in, and after the swap.
    steps = run_to(stepped_build(corpus, tmp_path / "probe"), None)
    batches = [n for n, name in enumerate(steps) if name == "batch"]
    assert len(batches) >= 4 and steps[len(batches):] == ["write", "swap", "swapped"], steps
    kill_at = [0, 1, len(batches) // 2, len(batches) - 1, *range(len(batches), len(steps))]
    for stop in kill_at:
        process = stepped_build(corpus, out)
        assert len(run_to(process, stop)) == stop and process.returncode == -signal.SIGKILL
        index = Index.load(out)  # never half-written, never a mix of two builds
        expected = 5 if steps[stop] == "swapped" else before["document_count"]
        assert index.manifest["document_count"] == expected, (stop, steps[stop])
        if steps[stop] == "swap":  # killed with its files written beside the index
            assert list(tmp_path.glob(".index.building-*"))
        if expected == 5:
            # The killed build was in place: start again from the original index.
            build_index([SEEDS], out, stand_in_encoder, incremental=False)
    # Leftovers of killed builds are cleared by the next build.
    build_index([corpus], out, stand_in_encoder)
    assert not list(tmp_path.glob(".index.building-*"))
    assert Index.load(out).manifest["document_count"] == 5


def test_two_builds_at_once_are_serialised(tmp_path, corpus, stand_in_encoder):
    out = tmp_path / "index"
    first = slow_build(corpus, out, delay=0.05)
    assert first.stdout.readline().strip() == "started"
    assert first.stdout.readline().strip() == "encoding"  # it holds the lock now
    with pytest.raises(IndexLoadError, match="another build of .* is running"):
        build_index([SEEDS], out, stand_in_encoder, wait=False)
    # A waiting build starts when the first is done, and its index is the one left.
    report = build_index([SEEDS], out, stand_in_encoder, incremental=False)
    assert first.wait(timeout=120) == 0
    assert report.documents == 2 and Index.load(out).manifest["document_count"] == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "extra"])
def test_damaged_index_files_are_detected_on_load(tmp_path, stand_in_encoder, damage):
    out = tmp_path / "index"
    build_index([SEEDS], out, stand_in_encoder)
    target = out / "vectors.faiss"
    if damage == "flip":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-100])
    elif damage == "delete":
        (out / "bm25" / "windows" / "vocab.index.json").unlink()
    else:
        (out / "unexpected.bin").write_bytes(b"x")
    with pytest.raises(IndexLoadError, match="damaged"):
        Index.load(out)


def test_a_file_that_vanishes_while_indexing_is_reported(tmp_path, stand_in_encoder, monkeypatch):
    from qa import readers

    source = tmp_path / "source"
    shutil.copytree(SEEDS, source)
    doomed = source / "000_05a47eddf0c07e42.txt"
    real = readers.iter_source_files

    def listing_then_delete(root):
        files = list(real(root))
        doomed.unlink()
        return iter(files)

    monkeypatch.setattr(readers, "iter_source_files", listing_then_delete)
    report = build_index([source], tmp_path / "index", stand_in_encoder)
    assert report.documents == 1
    assert [(s.path, s.reason.split(" (")[0]) for s in report.skipped] == [("000_05a47eddf0c07e42.txt", "cannot be read")]


def test_an_old_plain_folder_index_is_replaced_cleanly(tmp_path, stand_in_encoder):
    out = tmp_path / "index"
    build_index([SEEDS], tmp_path / "elsewhere", stand_in_encoder)
    shutil.copytree(os.path.realpath(tmp_path / "elsewhere"), out)  # a plain folder, as older versions wrote
    build_index([SEEDS], out, stand_in_encoder, incremental=False)
    assert out.is_symlink() and Index.load(out).manifest["document_count"] == 2


def test_broken_transcripts_are_reported_and_the_good_ones_indexed(tmp_path, stand_in_encoder):
    source = tmp_path / "source"
    shutil.copytree(SEEDS, source)
    (source / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (source / "latin1.txt").write_bytes("Déclaration du porte-parole".encode("latin-1"))
    (source / "empty.txt").write_bytes(b"")
    shutil.copy(SEEDS / "003_cd57cd5aac821783.txt", source / "copy-of-003.txt")
    write_huge_one_line_file(source / "huge-one-line.txt")
    report = build_index([source], tmp_path / "index", stand_in_encoder)
    reasons = {s.path: s.reason for s in report.skipped}
    assert report.documents == 2
    assert reasons["binary.txt"] == "binary file (contains NUL bytes)"
    assert reasons["latin1.txt"].startswith("not valid UTF-8")
    assert reasons["empty.txt"] == "empty file"
    # The same file under another name is one briefing posted twice: kept once, listing the other posting.
    assert "copy-of-003.txt" not in reasons
    copies = {d.path: d.copies for d in Index.load(tmp_path / "index").documents.values()}
    assert copies["003_cd57cd5aac821783.txt"] == (("copy-of-003.txt", None),)
    assert reasons["huge-one-line.txt"].startswith("file too large (52,428,800 bytes")


HUGE_BYTES = 50 * 1024 * 1024


def write_huge_one_line_file(path) -> None:
    """50 MB of words on a single line, written a megabyte at a time (never whole in memory)."""
    chunk = b"word " * (1024 * 1024 // 5) + b"word"[: 1024 * 1024 % 5]
    with open(path, "wb") as handle:
        for _ in range(HUGE_BYTES // len(chunk)):
            handle.write(chunk)
    assert path.stat().st_size == HUGE_BYTES


# The files read as a build reads them (load_folder), in a fresh process, so that its peak resident
# memory (a high-water mark, never lowered) is this reading's alone: in the test session the
# model and earlier tests set a peak that a 50 MB read stays under. The peak is /proc's VmHWM, not
# getrusage's ru_maxrss, which in a child starts at its parent's size (Linux carries it over exec);
# the rise is counted from the resident memory right before the reading. (Not the whole build:
# its BM25 and FAISS steps take some 35 MB of their own.)
MEASURED_READING = textwrap.dedent(
    """
    import json
    from pathlib import Path
    from qa.readers import load_folder

    def status_kib(field):  # VmRSS: resident now; VmHWM: the peak of this process
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])

    load_folder([Path({seeds!r})])  # what a first reading imports and caches is not the file's
    before = status_kib("VmRSS")
    transcripts, skipped = load_folder([Path({source!r})])
    peak = status_kib("VmHWM")
    print(json.dumps({{"documents": len(transcripts), "rise_kib": peak - before,
                      "skipped": {{s.path: s.reason for s in skipped}}}}))
    """
)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads resident memory from /proc (Linux)")
def test_a_file_over_the_size_limit_is_refused_without_being_read_into_memory(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(SEEDS, source)
    write_huge_one_line_file(source / "huge-one-line.txt")
    script = MEASURED_READING.format(seeds=str(SEEDS), source=str(source))
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["documents"] == 2
    assert result["skipped"]["huge-one-line.txt"].startswith("file too large (52,428,800 bytes")
    # Reading the file whole raises the peak by its 51,200 KiB at least; the seeds take a few hundred.
    assert result["rise_kib"] < 20 * 1024, f"the peak rose by {result['rise_kib']:,} KiB: the 50 MB file was read"
