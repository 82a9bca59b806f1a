"""The real server: `qa serve` as a process on 127.0.0.1, checked against the files on disk."""

from __future__ import annotations

import httpx
import pytest

from conftest import assert_citation_invariant, read_raw

pytestmark = pytest.mark.slow

QUESTIONS = [
    "How many specific support measures did the SME service initiative introduce?",
    "How much did the central government allocate for digital transformation pilot cities?",
    "How long did Biden and Xi talk in their virtual meeting?",
    "What did the administration say about the trade relationship with China and Liu He?",
    "Which cities will Secretary Raimondo visit in China?",
]


def test_live_server_answers_with_citations_into_the_source_files(live_server, corpus_dir):
    raw_by_path = {path.name: read_raw(path) for path in corpus_dir.glob("*.txt")}
    with httpx.Client(base_url=live_server, timeout=30) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        for question in QUESTIONS:
            response = http.post("/api/ask", json={"question": question, "k": 10})
            assert response.status_code == 200, response.text
            passages = response.json()["passages"]
            assert len(passages) == 10
            for passage in passages:
                assert_citation_invariant(passage, raw_by_path)
        got = http.get("/api/ask", params={"q": QUESTIONS[0], "k": 2}).json()
        assert "73 specific support measures" in " ".join(p["text"] for p in got["passages"])


def test_live_server_errors(live_server):
    with httpx.Client(base_url=live_server, timeout=30) as http:
        assert http.post("/api/ask", json={"question": " ", "k": 5}).status_code == 422
        assert http.post("/api/ask", json={"question": "ok", "k": 99}).status_code == 422
        assert http.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
        missing = http.get("/api/documents/does-not-exist")
        assert missing.status_code == 404 and "does-not-exist" in missing.json()["detail"]
        listing = http.get("/api/documents").json()
        assert {d["doc_id"] for d in listing} >= {"000_05a47eddf0c07e42", "003_cd57cd5aac821783"}
        page = http.get("/ask", params={"q": "stock exchange"})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "Content-Security-Policy" in page.headers


def test_several_workers_serve_the_same_index(built_index):
    from conftest import start_server, stop_server

    log_path = built_index.parent / "workers.log"
    process, base = start_server(built_index, log_path, "--workers", "2")
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            for _ in range(6):
                body = http.get("/api/ask", params={"q": QUESTIONS[0], "k": 2}).json()
                assert "73 specific support measures" in " ".join(p["text"] for p in body["passages"])
        # The supervising process (qa serve, replaced by uvicorn's supervisor) keeps neither the
        # model nor the index: each worker has its own, so a copy here would be memory for nothing.
        assert _resident_mb(process.pid) < 100, f"the supervisor holds {_resident_mb(process.pid):.0f} MB"
    finally:
        stop_server(process)
    assert "with 2 workers" in log_path.read_text()


def _resident_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def test_a_client_that_sends_a_large_body_before_reading_gets_the_413(live_server):
    """urllib (and requests) send the whole body, then read: they must get the 413, not a reset."""
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{live_server}/api/ask", data=b"x" * (5 * 1024 * 1024), headers={"content-type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 413
    assert "request body too large" in json.loads(caught.value.read())["detail"]
    # A body that is not over the limit still works on the same server.
    with httpx.Client(base_url=live_server, timeout=30) as http:
        assert http.post("/api/ask", json={"question": QUESTIONS[0], "k": 1}).status_code == 200


def test_readyz_says_ready_with_the_embedded_store(live_server):
    response = httpx.get(f"{live_server}/readyz", timeout=30)
    body = response.json()
    assert response.status_code == 200 and {k: body[k] for k in ("status", "store", "detail")} == {
        "status": "ready", "store": "embedded", "detail": None}
    # Which build it serves: the index's versioned folder and when it was built, as /healthz says.
    assert body["archive"].startswith(".index.v-") and " built " in body["archive"]
    assert body["archive"] == httpx.get(f"{live_server}/healthz", timeout=30).json()["archive"]
