"""A running server picks up a rebuilt index without a restart and without a failed request."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import SEEDS, start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture()
def served_index(tmp_path, encoder):
    from qa.build import build_index

    source = tmp_path / "source"
    shutil.copytree(SEEDS, source)
    out = tmp_path / "index"
    build_index([source], out, encoder)
    process, base = start_server(out, tmp_path / "server.log")
    yield base, source, out
    stop_server(process)


def test_rebuilt_index_is_served_without_restart_or_failed_request(served_index, encoder):
    from qa.build import build_index

    base, source, out = served_index
    failures, answered, stop = [], [0], threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = http.post("/api/ask", json={"question": "Which stock exchange did MIIT sign with?", "k": 3})
                    if response.status_code != 200:
                        failures.append(response.status_code)
                    else:
                        answered[0] += 1
                except httpx.HTTPError as error:
                    failures.append(repr(error))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        (source / "2024-05-01_new-briefing.txt").write_text(
            "MR. SPOKESMAN:  The new lighthouse programme will train 300 harbour pilots next year.\n"
        )
        build_index([source], out, encoder)
        deadline = time.monotonic() + 300  # bounds a hang only: the event is the new document listed
        with httpx.Client(base_url=base, timeout=30) as http:
            while True:
                ids = {d["doc_id"] for d in http.get("/api/documents").json()}
                if "2024-05-01_new-briefing" in ids:
                    break
                assert time.monotonic() < deadline, "the rebuilt index was never picked up"
                time.sleep(0.2)
            answer = http.post("/api/ask", json={"question": "How many harbour pilots will the lighthouse programme train?", "k": 1}).json()
            assert "300 harbour pilots" in answer["passages"][0]["text"]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == [] and answered[0] > 0


def damage(folder: Path, how: str) -> None:
    if how == "manifest not JSON":
        (folder / "manifest.json").write_text('{"format_version": 2, "model": ', encoding="utf-8")
    elif how == "vectors truncated":
        vectors = folder / "vectors.faiss"
        vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
    else:  # one byte of the passages changed: their checksum no longer matches the manifest's
        chunks = folder / "chunks.jsonl"
        data = bytearray(chunks.read_bytes())
        data[10] = ord("X") if data[10] != ord("X") else ord("Y")
        chunks.write_bytes(bytes(data))


@pytest.mark.parametrize(("how", "said"), [("manifest not JSON", "manifest"), ("vectors truncated", "vectors.faiss"),
                                          ("checksum mismatch", "chunks.jsonl")])
def test_a_damaged_new_index_is_refused_and_the_old_one_keeps_serving(served_index, how, said):
    """A rebuilt index that is damaged is put in place as a build would (a new folder, the link
    swapped); the server must refuse it, say why in /healthz, and keep answering from the old one."""
    base, _, out = served_index
    question = {"question": "Which stock exchange did MIIT sign with?", "k": 1}
    with httpx.Client(base_url=base, timeout=30) as http:
        before = http.post("/api/ask", json=question).json()["passages"][0]["citation"]
        assert http.get("/healthz").json()["reload_refused"] is None
        built = Path(os.path.realpath(out))
        damaged = built.with_name(built.name + "-damaged")
        shutil.copytree(built, damaged)
        damage(damaged, how)
        link = out.with_name(".index.link-test")
        os.symlink(damaged.name, link)
        os.replace(link, out)
        # Wait for the server to try it, refused or loaded (no wall-clock assertion: the outer
        # limit is generous).
        deadline = time.monotonic() + 300
        while (health := http.get("/healthz").json())["reload_refused"] is None and health["reloads"] == 0:
            assert time.monotonic() < deadline, "the server never tried the damaged index"
            time.sleep(0.2)
        assert said in health["reload_refused"] and health["reloads"] == 0, health
        after = http.post("/api/ask", json=question)
        assert after.status_code == 200 and after.json()["passages"][0]["citation"] == before


def test_request_bodies_are_limited(served_index):
    base, _, _ = served_index
    with httpx.Client(base_url=base, timeout=30) as http:
        big = http.post("/api/ask", content=b'{"question": "' + b"x" * 100_000 + b'"}', headers={"content-type": "application/json"})
        assert big.status_code == 413 and "too large" in big.json()["detail"]

        def chunks():
            for _ in range(100):
                yield b"x" * 1024

        streamed = http.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert http.post("/api/ask", json={"question": "stock exchange", "k": 1}).status_code == 200
