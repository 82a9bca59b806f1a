"""CORS: pages of the origins in QA_CORS_ORIGINS may call the JSON API from a browser; no others."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa.settings import Settings, parse_origins

ALLOWED = "https://newsroom.example"
REFUSED = "https://elsewhere.example"


def preflight(client: TestClient, origin: str, method: str = "POST"):
    return client.options("/api/ask", headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "content-type",
    })


@pytest.fixture(scope="module")
def cors_client(searcher):
    from qa.api import create_app

    settings = Settings.from_env({"QA_CORS_ORIGINS": f"{ALLOWED}, https://second.example/"})
    with TestClient(create_app(settings, searcher=searcher)) as client:
        yield client


def test_origins_are_read_as_a_list_from_the_environment():
    assert Settings.from_env({}).cors_origins == ()
    assert Settings.from_env({"QA_CORS_ORIGINS": "https://a.example/, https://b.example:8443 https://a.example"}).cors_origins == (
        "https://a.example", "https://b.example:8443",
    )
    assert parse_origins(" , ") == ()


def test_preflight_from_an_allowed_origin(cors_client):
    response = preflight(cors_client, ALLOWED)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers
    # The request that follows gets its answer with the header the browser needs to read it.
    answer = cors_client.post("/api/ask", json={"question": "How did SMEs perform?", "k": 1}, headers={"Origin": ALLOWED})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ALLOWED
    second = preflight(cors_client, "https://second.example", method="GET")
    assert second.status_code == 200 and second.headers["access-control-allow-origin"] == "https://second.example"


def test_preflight_from_a_refused_origin(cors_client):
    response = preflight(cors_client, REFUSED)
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    answer = cors_client.get("/api/ask", params={"q": "How did SMEs perform?", "k": 1}, headers={"Origin": REFUSED})
    # Served (CORS is enforced by the browser), but without the header that would let it read the answer.
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


def test_no_cors_by_default(client):
    response = preflight(client, ALLOWED)
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": ALLOWED}).headers
