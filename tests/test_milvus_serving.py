"""`qa serve --store milvus` as a real process on a real milvus-lite server: a publish under load,
the store stopped and started again, and a graceful SIGTERM."""

from __future__ import annotations

import shutil
import signal
import socket
import threading
import time

import httpx
import pytest

from conftest import SEEDS, start_server, stop_server

pytestmark = pytest.mark.slow

QUESTIONS = [
    "How many specific support measures did the SME service initiative introduce?",
    "Which stock exchange did MIIT sign a strategic cooperation agreement with?",
    "How much did the central government allocate for digital transformation pilot cities?",
    "What did Xie Shaofeng say about the first quarter?",
]
PREFIX = "live"


@pytest.fixture(scope="module")
def milvus_live(milvus_server, built_index, tmp_path_factory):
    """``qa serve`` on its own published copy of ``built_index``: (base URL, process, log path)."""
    from qa.stores.embedded import Index
    from qa.stores.milvus_publish import publish

    publish(Index.load(built_index), milvus_server.uri, PREFIX)
    log_path = tmp_path_factory.mktemp("milvus-live") / "server.log"
    process, base = start_server(built_index, log_path, "--store", "milvus", "--milvus-uri", milvus_server.uri,
                                 "--milvus-prefix", PREFIX)
    try:
        yield base, process, log_path
    finally:
        stop_server(process)


def test_readyz_and_answers_from_milvus(milvus_live):
    base, _, _ = milvus_live
    with httpx.Client(base_url=base, timeout=30) as http:
        ready = http.get("/readyz").json()
        assert {k: ready[k] for k in ("status", "store", "detail")} == {"status": "ready", "store": "milvus", "detail": None}
        # It says which version of the archive it serves, as /healthz does.
        assert ready["archive"] and ready["archive"] == http.get("/healthz").json()["archive"]
        body = http.post("/api/ask", json={"question": QUESTIONS[0], "k": 3}).json()
        assert "73 specific support measures" in body["answer"]["text"]


def test_a_publish_under_load_fails_no_request(milvus_live, milvus_server, built_index, corpus_dir, encoder, tmp_path):
    from qa.build import build_index
    from qa.stores.embedded import Index
    from qa.stores.milvus_publish import publish

    base, _, _ = milvus_live
    # The next version of the archive: one briefing more (only it is embedded).
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "2025-11-02_extra.txt").write_text(
        "MS. HOLT:  The lighthouse restoration fund opens on Monday with 40 million for coastal towns.\n", encoding="utf-8")
    next_index = tmp_path / "next"
    shutil.copytree(built_index.resolve(), next_index)
    build_index([corpus_dir, extra], next_index, encoder)
    health_before = httpx.get(f"{base}/healthz", timeout=30).json()
    documents_before = health_before["documents"]

    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def client(number: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                question = QUESTIONS[(number + answered[0]) % len(QUESTIONS)]
                try:
                    response = http.post("/api/ask", json={"question": question, "k": 5})
                    if response.status_code != 200 or not response.json()["passages"]:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                    answered[0] += 1
                except httpx.HTTPError as error:
                    failures.append(repr(error))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        # Events, not times: questions answered before the publish, the new generation reported
        # at /healthz, questions answered after it; 300 s only bounds a hang.
        wait_for(lambda: answered[0] >= 8, "no questions answered before the publish")
        publish(Index.load(next_index), milvus_server.uri, PREFIX)
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=30).json()["documents"] == documents_before + 1,
                 "the new generation was never served")
        served_at = answered[0]
        wait_for(lambda: answered[0] >= served_at + 8, "no questions answered after the swap")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures[:5]
    assert answered[0] > 10
    # The replica says it serves the new version of the archive.
    health = httpx.get(f"{base}/healthz", timeout=30).json()
    assert health["archive"] != health_before["archive"]
    assert httpx.get(f"{base}/readyz", timeout=30).json()["archive"] == health["archive"]
    found = httpx.post(f"{base}/api/ask", json={"question": "lighthouse restoration fund coastal towns", "k": 1}, timeout=30)
    assert "lighthouse restoration fund" in found.json()["passages"][0]["text"]


def test_the_store_stopped_and_started_again_under_a_running_server(milvus_live, milvus_server):
    base, process, _ = milvus_live
    with httpx.Client(base_url=base, timeout=60) as http:
        assert http.post("/api/ask", json={"question": QUESTIONS[1], "k": 3}).status_code == 200
        milvus_server.stop()
        try:
            # A 503, not a hang (the client's 300 s only bounds one), however long it takes.
            down = http.post("/api/ask", json={"question": QUESTIONS[2], "k": 3}, timeout=300)
            assert down.status_code == 503, down.text
            assert "store is unavailable" in down.json()["detail"] and "Traceback" not in down.text
            assert http.get("/readyz").status_code == 503
            assert http.get("/healthz").status_code == 200  # the process itself is alive
        finally:
            milvus_server.start()
        deadline = time.monotonic() + 300
        while True:
            response = http.post("/api/ask", json={"question": QUESTIONS[2], "k": 3})
            if response.status_code == 200:
                break
            assert response.status_code == 503 and time.monotonic() < deadline, response.text
            time.sleep(0.5)
        assert http.get("/readyz").status_code == 200
    assert process.poll() is None


def test_sigterm_lets_a_request_in_flight_finish(milvus_server, built_index, tmp_path):
    from qa.stores.embedded import Index
    from qa.stores.milvus_publish import publish

    publish(Index.load(built_index), milvus_server.uri, "sigterm")
    process, base = start_server(built_index, tmp_path / "server.log", "--store", "milvus",
                                 "--milvus-uri", milvus_server.uri, "--milvus-prefix", "sigterm")
    try:
        port = int(base.rsplit(":", 1)[1])
        body = b'{"question": "Which stock exchange did MIIT sign with?", "k": 2}'
        with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
            # A request in flight when the signal arrives: its headers sent, its body not. The
            # server's "100 Continue" (sent when the app asks for the body) says it is in flight.
            connection.sendall(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               + f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode())
            assert connection.recv(65536).startswith(b"HTTP/1.1 100 Continue")
            process.send_signal(signal.SIGTERM)
            # No new connections once it is shutting down.
            wait_for(lambda: refuses_connections(port), "new connections were still accepted")
            connection.sendall(body)
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = connection.recv(65536)
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
        assert b"Beijing Stock Exchange" in reply
        # uvicorn, its requests done, exits by the signal it caught (as a supervisor expects).
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        stop_server(process)


def wait_for(condition, what: str, limit: float = 300) -> None:
    """Poll ``condition`` until it holds; ``limit`` seconds only bound a hang."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"{what} ({limit:.0f} s)"
        time.sleep(0.2)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return True
    return False
