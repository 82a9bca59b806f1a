"""Fuzzing the API and the pages from an OpenAPI schema: no 5xx, and every response matches the schema.

`make test` runs a short pass (valid requests only, 80 per operation). `make fuzz` runs the deep
one: ``QA_FUZZ_EXAMPLES`` (300) requests per operation, valid and invalid (schemathesis' negative
mode), at least ``QA_FUZZ_MIN_REQUESTS`` (2,000) in all, and prints how many were sent.
"""

from __future__ import annotations

import copy
import os
import time
from collections import Counter

import pytest
import schemathesis
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

pytestmark = pytest.mark.slow

# Per operation and generation mode: the short run is enough to find a crash and keeps CI fast.
EXAMPLES = int(os.environ.get("QA_FUZZ_EXAMPLES", "80"))
DEEP = "QA_FUZZ_EXAMPLES" in os.environ
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if DEEP else [GenerationMode.POSITIVE]
# make fuzz promises at least this many requests in all (QA_FUZZ_MIN_REQUESTS, set by the Makefile).
MIN_REQUESTS = int(os.environ.get("QA_FUZZ_MIN_REQUESTS", "0"))

API_OPERATIONS = {"POST /api/ask", "GET /api/ask", "GET /api/speakers", "GET /api/documents",
                  "GET /api/documents/{doc_id}", "GET /healthz", "GET /api/timeline", "GET /api/export"}
PAGE_OPERATIONS = {"GET /", "GET /ask", "GET /documents/{doc_id}", "GET /docs"}

_HTML = {"text/html": {"schema": {"type": "string"}}}
_ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}
_NOT_FOUND_JSON = {"application/json": {"schema": {
    "type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}}}


def schema_with_pages(app) -> dict:
    """The app's OpenAPI schema plus its HTML pages, which the public schema leaves out.

    The pages' parameters come from their signatures, as for the API; their responses are
    written here: HTML, a 422 page for a refused question (or FastAPI's JSON 422 for a malformed
    offset), and the JSON 404 of an unknown document.
    """
    routes = []
    for route in app.routes:
        if isinstance(route, APIRoute) and not route.include_in_schema:
            route = copy.copy(route)
            route.include_in_schema = True
        routes.append(route)
    schema = get_openapi(title=app.title, version=app.version, routes=routes)
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if f"{method.upper()} {path}" in PAGE_OPERATIONS:
                operation["responses"] = {"200": {"description": "the page", "content": _HTML}}
                if operation.get("parameters"):
                    operation["responses"]["422"] = {
                        "description": "refused input", "content": {**_HTML, **_ERROR_JSON}}
                if "{doc_id}" in path:
                    operation["responses"]["404"] = {"description": "no such document", "content": _NOT_FOUND_JSON}
    return schema


QUESTIONS = ["How did SMEs perform in the first quarter?", "Which stock exchange did MIIT sign with?",
             "When does the tulip festival open?", "What did the spokesperson say about China?",
             # The query syntax (issue 16), well-formed and not: every one must answer, none with a 5xx.
             '"support measures" -SME', '\u201ctulip festival\u201d', 'speaker:xie "the"', 'speaker:"Xie Shaofeng" SMEs',
             '"Taiwan" after:2021-06 before:2022', '"unclosed quote about China', "site:example.com tariffs",
             "after:2030 before:2020 x", '-"" - -', "speaker:Nobody after:yesterday", '"the" -"the"']


def known_values(index) -> dict[str, st.SearchStrategy]:
    """Values the index holds, for the parameters that random text nearly never gets right.

    Random text is nearly never a known speaker, document id or digit string, so every filter
    would only ever be refused and every page would show its error. Each generated request gets
    some of these instead (each parameter, by a coin toss), so filters match and pages render.
    """
    day = st.dates().map(lambda value: value.isoformat())
    return {
        # Case is ignored: the name as listed, in capitals, in lower case.
        "speaker": st.sampled_from(index.speakers).flatmap(lambda name: st.sampled_from([name, name.upper(), name.lower()])),
        "doc_id": st.sampled_from(sorted(index.documents)),
        "q": st.sampled_from(QUESTIONS),
        "question": st.sampled_from(QUESTIONS),
        "date_from": day,
        "date_to": day,
        "k": st.integers(1, 60).map(str),  # the page's k is text; the API's is an integer already
        "offset": st.integers(0, 40),  # small enough to land inside the matches (text on the page)
        "sort": st.sampled_from(["relevance", "newest", "oldest"]),
        "hl": st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 20_000)), max_size=4).map(
            lambda pairs: ",".join(f"{a}-{b}" for a, b in pairs)),
        "start": st.integers(0, 20_000),
        "end": st.integers(0, 40_000),
    }


def mix_in_known_values(case, data, known: dict[str, st.SearchStrategy], query_names: list[str]) -> None:
    """Replace some generated values with known ones, keeping each request well-formed."""
    page = not case.path.startswith("/api/") and case.path != "/healthz"
    if case.path_parameters and "doc_id" in case.path_parameters and data.draw(st.booleans(), label="doc_id"):
        case.path_parameters["doc_id"] = data.draw(known["doc_id"], label="doc_id")
    for name in query_names:
        # The API's k is an integer, which generation gets right on its own.
        if name in known and (page or name != "k") and data.draw(st.booleans(), label=name):
            value = data.draw(known[name], label=name)
            case.query = {**(case.query or {}), name: str(value) if page and name == "offset" else value}
    if isinstance(case.body, dict):
        for name in ("question", "speaker", "date_from", "date_to", "doc_id", "sort", "offset"):
            if data.draw(st.booleans(), label=name):
                case.body[name] = data.draw(known[name], label=name)


def fuzz_operation(operation, mode: GenerationMode, known: dict, query_names: list[str], statuses: Counter) -> None:
    # Quiet: an operation with nothing to make invalid ends with Unsatisfiable (caught below), and
    # hypothesis would print a reproduction seed for it; a real failure still raises with its curl line.
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              verbosity=Verbosity.quiet)
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def fuzz(case, data):
        mix_in_known_values(case, data, known, query_names)
        response = case.call()
        statuses[response.status_code] += 1
        assert response.status_code < 500, (case.method, case.path, case.query, case.body, response.text[:300])
        assert "Traceback" not in response.text
        # Schema-valid is not always meaningful: an unknown speaker or doc_id is well-formed but
        # refused with 422 by design, so the "positive data is accepted" check does not apply;
        # the pages take any text for k and the filters (a bad one gets the form back with a
        # message), and a value swapped in from the index can make an invalid request valid, so
        # "negative data is rejected" does not apply either.
        excluded = [checks.positive_data_acceptance]
        if mode is GenerationMode.NEGATIVE:
            excluded.append(checks.negative_data_rejection)
        case.validate_response(response, excluded_checks=excluded)

    try:
        fuzz()
    except Unsatisfiable:
        # No invalid request exists for an operation that takes no parameters, or only free text.
        assert mode is GenerationMode.NEGATIVE, operation.label


def test_api_and_pages_never_fail_and_keep_their_contract(app):
    raw = schema_with_pages(app)
    schema = schemathesis.openapi.from_dict(raw)
    schema.app = app
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {f"{op.method.upper()} {op.path}" for op in operations}
    assert labels >= API_OPERATIONS | PAGE_OPERATIONS, labels
    known = known_values(app.state.reloader.searcher.index)
    statuses: Counter = Counter()
    began = time.perf_counter()
    for mode in MODES:
        for operation in operations:
            definition = raw["paths"][operation.path][operation.method.lower()]
            query_names = [p["name"] for p in definition.get("parameters", []) if p["in"] == "query"]
            fuzz_operation(operation, mode, known, query_names, statuses)
    seconds = time.perf_counter() - began
    requests = sum(statuses.values())
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    assert server_errors == 0
    assert requests >= max(MIN_REQUESTS, 2 * len(operations)), requests
    print(f"\nfuzzed {len(operations)} operations ({', '.join(m.value for m in MODES)}) with {requests} requests "
          f"in {seconds:.0f} s: {server_errors} responses 5xx, every response matched the schema; "
          f"status codes {dict(sorted(statuses.items()))}")


def test_public_schema_leaves_the_pages_out(app):
    """The pages are fuzzed through schema_with_pages, but /openapi.json documents the API only."""
    paths = set(app.openapi()["paths"])
    assert {"/api/ask", "/healthz"} <= paths and not paths & {"/", "/ask", "/documents/{doc_id}", "/docs"}
