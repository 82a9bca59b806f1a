"""A running server picks up a rebuilt index without a restart and without a failed request."""

from __future__ import annotations

import os
import shutil
import threading
import time

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
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=base, timeout=30) as http:
            while True:
                ids = {d["doc_id"] for d in http.get("/api/documents").json()}
                if "2024-05-01_new-briefing" in ids:
                    break
                assert time.monotonic() < deadline, "the rebuilt index was not picked up within 30 s"
                time.sleep(0.2)
            answer = http.post("/api/ask", json={"question": "How many harbour pilots will the lighthouse programme train?", "k": 1}).json()
            assert "300 harbour pilots" in answer["passages"][0]["text"]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == [] and answered[0] > 0


def test_a_damaged_new_index_leaves_the_old_one_serving(served_index):
    base, source, out = served_index
    target = os.path.realpath(out)
    manifest = os.path.join(target, "manifest.json")
    with open(manifest, "a") as handle:
        handle.write(" ")  # the manifest changes: the server tries to reload and must refuse
    time.sleep(2.5)
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/healthz").status_code == 200
        assert http.post("/api/ask", json={"question": "stock exchange", "k": 1}).status_code == 200


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
