"""No input answers 5xx: lone surrogates, control characters, invalid UTF-8, huge numbers and deep
nesting, in every text field, unknown keys, paths and query strings, each refused with a 4xx whose
detail is valid JSON that names what was refused (issue 27). A Hypothesis pass sends random text
with those code points (``QA_FUZZ_EXAMPLES`` deepens it, as for make fuzz)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("QA_FUZZ_EXAMPLES", "60"))
FIELDS = ["question", "speaker", "doc_id", "date_from", "date_to", "sort"]


@pytest.fixture(scope="module")
def raw_client(app):
    """A client that answers a server error with its 500, as a real server does, instead of raising."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def post(client, body: bytes):
    return client.post("/api/ask", content=body, headers={"content-type": "application/json"})


def refused(response, status: int | None = None) -> str:
    """The response's detail as text, after checking it is a 4xx (``status`` when given) with a JSON body."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text[:300])
    return json.dumps(response.json()["detail"])


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\udbff\\udbff"])
def test_a_lone_surrogate_in_any_field_is_a_422_naming_it(raw_client, field, escape):
    body = {"question": "What did the official say?"}
    raw = json.dumps(body)[:-1] + f', "{field}": "a{escape}b"}}'
    if field == "question":
        raw = f'{{"question": "a{escape}b"}}'
    detail = refused(post(raw_client, raw.encode()), 422)
    assert escape.split("\\")[1] in detail.lower()


def test_a_lone_surrogate_in_an_unknown_key_is_a_422(raw_client):
    detail = refused(post(raw_client, b'{"question": "ok", "\\ud800": 1}'), 422)
    assert "ud800" in detail


@pytest.mark.parametrize("field", ["question", "speaker", "doc_id"])
@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85"])
def test_a_control_character_is_a_422_naming_its_code_point(raw_client, field, char):
    body = {"question": "What did the official say?", field: f"a{char}b"}
    detail = refused(post(raw_client, json.dumps(body).encode()), 422)
    assert f"U+{ord(char):04X}" in detail


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 5000, "NaN", "Infinity", "1.5", '"many"'])
@pytest.mark.parametrize("field", ["k", "offset"])
def test_huge_or_odd_numbers_are_refused(raw_client, field, number):
    refused(post(raw_client, f'{{"question": "ok", "{field}": {number}}}'.encode()))


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b'{"question": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                                  b'{"question": "\xff\xfe"}', b'{"question": "\xed\xa0\x80"}', b"\x00" * 10,
                                  b'{"question": "ok"', b""])
def test_malformed_deep_or_non_utf8_bodies_are_refused(raw_client, body):
    refused(post(raw_client, body))


@pytest.mark.parametrize("path", ["/api/ask?q=%ED%A0%80", "/api/ask?q=%FF", "/api/ask?q=ok&speaker=%C3",
                                  "/api/timeline?q=%ED%A0%80", "/api/export?q=%FF", "/api/documents/%ED%A0%80",
                                  "/ask?q=%FF", "/documents/%FE%FF"])
def test_invalid_utf8_in_paths_and_query_strings_is_a_400(raw_client, path):
    assert "not UTF-8" in refused(raw_client.get(path), 400)


@pytest.mark.parametrize("path", ["/api/ask?q=a%00b", "/api/timeline?q=a%01", "/api/export?q=a%1F",
                                  "/api/ask?q=ok&k=1e400", "/api/ask?q=ok&doc_id=%00", "/ask?q=a%00b"])
def test_nul_and_huge_numbers_in_query_strings_are_refused(raw_client, path):
    response = raw_client.get(path)
    assert response.status_code == 422, (response.status_code, response.text[:300])


# Text with the code points that break encoders: surrogates and controls among ordinary letters.
HOSTILE_TEXT = st.text(
    alphabet=st.one_of(st.characters(codec=None, categories=["Cs", "Cc", "Cf", "Zl", "Zp"]),
                       st.characters(codec="utf-8")),
    min_size=0, max_size=40)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from([*FIELDS, "unknown"]), text=HOSTILE_TEXT,
       k=st.one_of(st.integers(), st.floats(allow_nan=False), st.just(10 ** 400)))
def test_random_hostile_bodies_never_answer_5xx(raw_client, field, text, k):
    body = {"question": "What did the official say about China?", field: text, "k": k}
    # ensure_ascii writes a lone surrogate as its \\u escape, as a client in another language would.
    raw = json.dumps(body, ensure_ascii=True).replace('"k": Infinity', '"k": 1e400').encode()
    response = post(raw_client, raw)
    assert response.status_code < 500, (raw[:200], response.status_code, response.text[:300])
    response.json()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=30), where=st.sampled_from(["/api/ask?q=", "/api/timeline?q=", "/ask?q=",
                                                           "/api/documents/", "/api/ask?q=ok&speaker="]))
def test_random_bytes_in_urls_never_answer_5xx(raw_client, raw, where):
    from urllib.parse import quote_from_bytes

    response = raw_client.get(where + quote_from_bytes(raw, safe=""))
    assert response.status_code < 500, (raw, response.status_code, response.text[:300])
