"""Every time it was said: reporters' questions found, one briefing posted twice kept once, Markdown
read as the text it shows, and a search that asks nothing answered by its matches alone (issue 25).

A made-up archive, on both stores: the same briefing posted under two addresses (another front
matter, another date), a phrase said in a question and in a reply, and Markdown escapes."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from conftest import StandInEncoder, read_raw

FIRST = """---
date: '2024-02-06'
source_url: https://example.gov/briefings/2024/02/06/press-briefing-12/
title: "Press Briefing by Press Secretary Adler"
---

MS. ADLER:  Good afternoon. A note on shipping before questions.

Q    Thanks. Was it also like the January meeting about de-escalation in the Red Sea?

MS. ADLER:  The convoys in the Red Sea are protected, and the talks go on. Thanks, \\[moderator\\].

Q    And the ferries?

MS. ADLER:  The harbour reopens to *ferries* next week.
"""
# The same briefing posted again a day later under another address: the same turns.
SECOND = FIRST.replace("date: '2024-02-06'", "date: '2024-02-07'").replace("/06/press", "/07/press")
OTHER = """---
date: '2024-03-12'
title: "Press Briefing by Press Secretary Bell"
---

MR. BELL:  Good afternoon. The lighthouse loan was settled.

Q    Anything on the Red Sea?

MR. BELL:  Nothing new on shipping today.
"""
PATHS = ("2024-02-06_briefing-12.txt", "2024-02-07_briefing-12.txt", "2024-03-12_briefing-13.txt")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from qa.build import build_index

    folder = tmp_path_factory.mktemp("postings")
    for path, text in zip(PATHS, (FIRST, SECOND, OTHER)):
        (folder / path).write_text(text, encoding="utf-8")
    out = tmp_path_factory.mktemp("index") / "index"
    build_index([folder], out, StandInEncoder())
    return folder, out


@pytest.fixture(scope="module", params=["embedded", "milvus"])
def client(request, archive):
    from qa.api import create_app
    from qa.search import Searcher
    from qa.stores.embedded import Index

    index = Index.load(archive[1])
    store = index
    if request.param == "milvus":
        from qa.stores.milvus import MilvusStore
        from qa.stores.milvus_publish import publish

        server = request.getfixturevalue("milvus_server")
        publish(index, server.uri, "postings")
        store = MilvusStore.open(server.uri, "postings")
    return TestClient(create_app(searcher=Searcher(store, StandInEncoder())))


def every_page(client, q: str, **params) -> list[dict]:
    passages, offset = [], 0
    while offset is not None:
        body = client.get("/api/ask", params={"q": q, "k": 2, "sort": "oldest", "offset": offset, **params}).json()
        passages += body["passages"]
        offset = body["next_offset"]
    return passages


def test_a_briefing_posted_twice_is_one_document_listing_both_postings(client):
    documents = client.get("/api/documents").json()
    assert [d["path"] for d in documents] == [PATHS[0], PATHS[2]]
    first = documents[0]
    assert first["copies"] == [{"path": PATHS[1], "url": "https://example.gov/briefings/2024/02/07/press-briefing-12/"}]
    # One result, one count, both sources on its citation.
    found = every_page(client, '"convoys in the Red Sea"')
    assert len(found) == 1
    assert found[0]["citation"]["path"] == PATHS[0] and found[0]["citation"]["copies"] == first["copies"]
    timeline = client.get("/api/timeline", params={"q": '"convoys in the Red Sea"'}).json()
    assert timeline["passages"] == 1 and timeline["briefings"] == 1
    page = client.get(f"/documents/{first['doc_id']}").text
    assert PATHS[1] in page and "Also posted as" in page


def test_a_phrase_finds_the_reporters_questions_too(client):
    # "Red Sea": a reporter asks in both briefings, an official answers in one.
    both = every_page(client, '"Red Sea"')
    assert sorted((p["citation"]["path"], p["role"]) for p in both) == [
        (PATHS[0], "answer"), (PATHS[0], "question"), (PATHS[2], "question")]
    asked = next(p for p in both if p["role"] == "question" and p["citation"]["path"] == PATHS[0])
    assert asked["citation"]["speaker"] == "Reporter" and asked["reply"].startswith("The convoys in the Red Sea")
    answered = next(p for p in both if p["role"] == "answer")
    assert answered["in_reply_to"].startswith("Thanks. Was it also like the January meeting")
    # The exact words of a reporter's question, and role: choosing.
    assert [p["role"] for p in every_page(client, '"de-escalation in the Red Sea"')] == ["question"]
    assert [p["role"] for p in every_page(client, '"Red Sea" role:answers')] == ["answer"]
    assert len(every_page(client, '"Red Sea"', role="questions")) == 2
    # The count, the timeline and the export say the same.
    timeline = client.get("/api/timeline", params={"q": '"Red Sea"'}).json()
    assert timeline["passages"] == 3 == sum(b["passages"] for b in timeline["buckets"])
    assert timeline["briefings"] == 2
    exported = client.get("/api/export", params={"q": '"Red Sea"', "format": "jsonl"}).text.splitlines()
    assert len(exported) == 3
    # Words alone keep answering from the officials' replies, and say so.
    plain = client.get("/api/ask", params={"q": "What about the Red Sea convoys?", "k": 10}).json()
    assert {p["role"] for p in plain["passages"]} == {"answer"} and plain["query"]["role"] == "answers"
    # An unknown role is refused, naming the parameter.
    refused = client.get("/api/ask", params={"q": "Red Sea", "role": "sideways"})
    assert refused.status_code == 422 and "role" in refused.json()["detail"][0]["loc"]


def test_markdown_is_shown_as_the_text_it_shows(client, archive):
    folder, _ = archive
    for phrase in ('"Thanks, [moderator]"', '"reopens to ferries"'):
        found = every_page(client, phrase)
        assert len(found) == 1, phrase
        passage = found[0]
        assert "\\" not in passage["text"] and "*" not in passage["text"]
        # The citation points into the document's text: the file read again through the reader.
        raw = read_raw(folder / passage["citation"]["path"])
        start, end = passage["citation"]["start"], passage["citation"]["end"]
        assert " ".join(raw[start:end].split()) == passage["text"]
        document = client.get(f"/api/documents/{passage['citation']['doc_id']}").json()
        assert document["raw"] == raw


def test_a_search_that_asks_nothing_shows_its_matches_and_no_answer_box(client):
    body = client.get("/api/ask", params={"q": '"Red Sea"'}).json()
    assert body["answered"] is False and body["answer"] is None and "asks no question" in body["reason"]
    assert body["total"] == 3
    page = client.get("/ask", params={"q": '"Red Sea"'}).text
    assert 'class="answer"' not in page and 'class="abstain"' not in page
    assert "3 passages match" in page and "timeline" in page
    # A question in words still gets the answer box (answered or not).
    asked = client.get("/ask", params={"q": 'Were the convoys in the "Red Sea" protected?'}).text
    assert 'class="answer"' in asked or 'class="abstain"' in asked


def test_sort_typed_in_the_box_sorts(client):
    newest = client.get("/api/ask", params={"q": '"Red Sea" sort:newest', "k": 10}).json()
    assert newest["sort"] == "newest"
    dates = [p["citation"]["date"] for p in newest["passages"]]
    assert dates == sorted(dates, reverse=True) and dates[0] == "2024-03-12"
    # The sort parameter, when set, wins; the page's sort links leave the typed sort out.
    assert client.get("/api/ask", params={"q": '"Red Sea" sort:newest', "sort": "oldest"}).json()["sort"] == "oldest"
    page = client.get("/ask", params={"q": '"Red Sea" sort:newest'}).text
    links = re.findall(r'class="sort-link" href="([^"]+)"', page)
    assert links and all("sort%3A" not in link.lower() and "sort:" not in link for link in links)
    hint = client.get("/").text
    assert "sort:newest" in hint and "role:questions" in hint


def test_the_openapi_schema_documents_the_role(client):
    schema = client.get("/openapi.json").json()
    ask = schema["paths"]["/api/ask"]["get"]
    role = next(p for p in ask["parameters"] if p["name"] == "role")
    assert "questions" in json.dumps(role)
