"""End-to-end tests in a real Chromium against ``qa serve`` running as a real process.

They drive Debian's chromium (/usr/bin/chromium) through playwright's sync API; ``playwright
install`` is never used. Screenshots for humans land in /tmp/briefing-qa-shots/.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlsplit

import httpx
import pytest

from conftest import requires_shared, shared_available

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SHOTS = Path("/tmp/briefing-qa-shots")

MIIT_QUESTION = "Which stock exchange did MIIT sign a strategic cooperation agreement with?"
SME_QUESTION = "How did SMEs perform in the first quarter?"
OLYMPICS_QUESTION = "Did the Beijing Winter Olympics come up in the virtual meeting with President Xi?"
OLYMPICS_DOC = "2021-11-16_wh_bg-call-sao-on-president-bidens-virtual-meeting-with-2"
XSS_QUESTION = "<script>alert(1)</script><img src=x onerror=alert(2)>"
MEASURES_QUESTION = "How many specific support measures did the SME service initiative introduce?"
OFF_TOPIC_QUESTION = "What is a good recipe for banana bread?"
SME_DOC = "000_05a47eddf0c07e42"
NARRATIVE_DOC = "003_cd57cd5aac821783"
VAGUE_QUESTION = "What does the MIIT think about SMEs?"



def _in_view(selector: str) -> str:
    """JavaScript: whether the first element matching ``selector`` is on screen."""
    return f"""() => {{
    const mark = document.querySelector("{selector}");
    if (!mark) return false;
    const rect = mark.getBoundingClientRect();
    return rect.top >= 0 && rect.top < window.innerHeight && rect.bottom > 0;
}}"""


def _geometry(selector: str) -> str:
    """JavaScript: where the first element matching ``selector`` stands against the viewport."""
    return f"""() => {{
    const mark = document.querySelector("{selector}");
    if (!mark) return null;
    const rect = mark.getBoundingClientRect();
    return {{top: rect.top, bottom: rect.bottom, innerHeight: window.innerHeight,
            scrollY: window.scrollY, docTop: rect.top + window.scrollY}};
}}"""


MARK_GEOMETRY, MARK_IN_VIEW = _geometry("mark#cite"), _in_view("mark#cite")
# The first answer sentence marked inside the cited passage.
HL_GEOMETRY, HL_IN_VIEW = _geometry("mark#cite mark.hl"), _in_view("mark#cite mark.hl")


def collapse(text: str | None) -> str:
    return " ".join((text or "").split())


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package (`make test` installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run the browser tests", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def ask_url(base: str, question: str) -> str:
    return f"{base}/ask?q={quote_plus(question)}"


def ask_via_form(page, base: str, question: str) -> None:
    """Type the question into the search box on the home page and submit it."""
    page.goto(f"{base}/")
    box = page.locator("#q")
    box.fill(question)
    with page.expect_navigation():
        box.press("Enter")
    parts = urlsplit(page.url)
    assert parts.path == "/ask", page.url
    assert parse_qs(parts.query).get("q") == [question], page.url


def submit_question(page, question: str) -> dict[str, list[str]]:
    """Type the question into the box of the page already open, submit, return the query."""
    box = page.locator("#q")
    box.fill(question)
    with page.expect_navigation():
        box.press("Enter")
    parts = urlsplit(page.url)
    assert parts.path == "/ask", page.url
    query = parse_qs(parts.query, keep_blank_values=True)
    assert query.get("q") == [question], page.url
    return query


def open_filters(page) -> None:
    details = page.locator("details.filters")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    assert details.get_attribute("open") is not None
    assert page.locator("#speaker").is_visible()


def results(page):
    items = page.locator("ol.results > li.result")
    assert items.count() > 0, f"no results on {page.url}:\n{page.locator('main').inner_text()}"
    return items


def follow(page, link) -> tuple[str, int, int]:
    """Click a source link, check where it landed, and return (doc_id, start, end)."""
    with page.expect_navigation():
        link.click()
    page.wait_for_load_state("load")
    parts = urlsplit(page.url)
    match = re.fullmatch(r"/documents/([A-Za-z0-9._-]+)", parts.path)
    assert match, page.url
    query = parse_qs(parts.query)
    assert parts.fragment == "cite", page.url
    start, end = int(query["start"][0]), int(query["end"][0])
    assert 0 <= start < end
    return match.group(1), start, end


# ---------------------------------------------------------------------------------------------
# 1. Asking from the search box


def test_search_box_shows_the_answering_passage(page, live_server):
    ask_via_form(page, live_server, MIIT_QUESTION)
    assert page.locator("h1.question").inner_text() == MIIT_QUESTION
    # The box on the results page keeps the question.
    assert page.locator("#q").input_value() == MIIT_QUESTION
    first = results(page).first
    assert "Beijing Stock Exchange" in collapse(first.locator("blockquote.passage").text_content())
    assert page.title() == f"{MIIT_QUESTION} - briefing-qa"


def test_results_show_speaker_title_and_date(page, live_server):
    ask_via_form(page, live_server, SME_QUESTION)
    items = results(page)
    seen = []
    for i in range(items.count()):
        meta = items.nth(i).locator("p.meta")
        speaker = meta.locator(".speaker").inner_text()
        title = meta.locator(".title").inner_text()
        dates = meta.locator("time")
        date = dates.inner_text() if dates.count() else None
        seen.append((speaker, title, date))
        if speaker == "Xie Shaofeng" and date == "2025-10-22":
            assert dates.get_attribute("datetime") == "2025-10-22"
            assert "SCIO briefing" in title, title
            break
    else:
        pytest.fail(f"no result by Xie Shaofeng dated 2025-10-22; saw {seen}")


# ---------------------------------------------------------------------------------------------
# 2. Following the citation


def test_source_link_highlights_the_passage(page, live_server):
    page.goto(ask_url(live_server, MIIT_QUESTION))
    first = results(page).first
    shown = collapse(first.locator("blockquote.passage").text_content())
    doc_id, start, end = follow(page, first.locator("a.source-link"))
    mark = page.locator("mark#cite")
    assert mark.count() == 1
    assert collapse(mark.text_content()) == shown
    assert end - start >= len(shown)  # the raw span is at least as long as the collapsed text


@requires_shared
def test_source_link_scrolls_deep_passage_into_view(page, live_server):
    page.goto(ask_url(live_server, OLYMPICS_QUESTION))
    # The reply that answers it stands deep in the transcript; which rank it gets is the
    # ranking's business (tests/test_quality.py), this test is about the page.
    answering = [
        item for item in results(page).all()
        if "did not come up" in collapse(item.locator("blockquote.passage").text_content())
    ]
    assert answering, "the reply 'on the Olympics, it did not come up' should be among the results"
    item = answering[0]
    link = item.locator("a.source-link")
    assert f"/documents/{OLYMPICS_DOC}?" in link.get_attribute("href")
    shown = collapse(item.locator("blockquote.passage").text_content())
    doc_id, start, end = follow(page, link)
    assert doc_id == OLYMPICS_DOC, doc_id

    mark = page.locator("mark#cite")
    assert mark.count() == 1
    assert collapse(mark.text_content()) == shown

    # The browser scrolls to #cite itself; give it a moment, then insist.
    try:
        page.wait_for_function(MARK_IN_VIEW, timeout=5_000)
    except Exception:
        pass
    geometry = page.evaluate(MARK_GEOMETRY)
    assert geometry is not None
    # The check means something only if the passage starts below the first screen.
    assert geometry["docTop"] > geometry["innerHeight"], f"passage is not far down: {geometry}"
    assert geometry["scrollY"] > 0, f"page did not scroll: {geometry}"
    assert 0 <= geometry["top"] < geometry["innerHeight"] and geometry["bottom"] > 0, (
        f"cited passage not in the viewport: {geometry}"
    )
    assert mark.is_visible()


# ---------------------------------------------------------------------------------------------
# 3. The answer sentence and the highlighted sentences


def test_answer_sentence_links_to_its_words(page, live_server):
    ask_via_form(page, live_server, MEASURES_QUESTION)
    answer = page.locator("section.answer")
    assert answer.count() == 1
    assert page.locator("p.abstain").count() == 0
    text = collapse(answer.locator("p.answer-text").text_content())
    assert "73 specific support measures" in text, text
    assert answer.locator(".speaker").inner_text() == "Xie Shaofeng"
    assert answer.locator("time").get_attribute("datetime") == "2025-10-22"
    confidence = collapse(answer.locator(".confidence").text_content())
    assert re.fullmatch(r"confidence \d{1,3}%", confidence), confidence
    # The answer stands in one of the listed passages (it is taken from the best three).
    passages = [collapse(t) for t in results(page).locator("blockquote.passage").all_text_contents()]
    assert any(text in passage for passage in passages), (text, passages)

    doc_id, start, end = follow(page, answer.locator("a.answer-link"))
    assert doc_id == SME_DOC, doc_id
    hl = parse_qs(urlsplit(page.url).query)["hl"]
    assert hl == [f"{start}-{end}"], page.url

    cite = page.locator("mark#cite")
    assert cite.count() == 1
    assert collapse(cite.text_content()) == text
    marked = page.locator("mark#cite mark.hl")
    assert marked.count() >= 1
    assert collapse(" ".join(marked.all_text_contents())) == text
    try:
        page.wait_for_function(HL_IN_VIEW, timeout=5_000)
    except Exception:
        pass
    geometry = page.evaluate(HL_GEOMETRY)
    assert geometry is not None
    assert geometry["scrollY"] > 0, f"page did not scroll to the answer: {geometry}"
    assert 0 <= geometry["top"] < geometry["innerHeight"] and geometry["bottom"] > 0, (
        f"answer sentence not in the viewport: {geometry}"
    )
    assert marked.first.is_visible()


def test_passages_mark_their_best_sentences(page, live_server):
    api = httpx.get(f"{live_server}/api/ask", params={"q": MIIT_QUESTION, "k": 5}, timeout=60).json()
    top = api["passages"][0]
    assert top["highlights"], top

    page.goto(ask_url(live_server, MIIT_QUESTION))
    first = results(page).first
    quote = first.locator("blockquote.passage")
    marks = quote.locator("mark.hl")
    assert marks.count() >= 1
    # The marks only wrap words: the passage reads exactly as the API's text.
    assert collapse(quote.text_content()) == top["text"]
    shown_marks = [collapse(t) for t in marks.all_text_contents()]
    assert all(m and m in top["text"] for m in shown_marks), shown_marks

    # The marked words are the API's highlight offsets into the raw file.
    citation = top["citation"]
    raw = httpx.get(f"{live_server}/api/documents/{citation['doc_id']}", timeout=30).json()["raw"]
    expected = [collapse(raw[h["start"]:h["end"]]) for h in top["highlights"]]
    assert shown_marks == expected

    link = first.locator("a.source-link")
    hl = parse_qs(urlsplit(link.get_attribute("href") or "").query).get("hl")
    assert hl == [",".join(f"{h['start']}-{h['end']}" for h in top["highlights"])], hl

    doc_id, start, end = follow(page, link)
    assert (doc_id, start, end) == (citation["doc_id"], citation["start"], citation["end"])
    assert collapse(page.locator("mark#cite").text_content()) == top["text"]
    cited_marks = page.locator("mark#cite mark.hl")
    assert cited_marks.count() == len(expected)
    texts = [collapse(t) for t in cited_marks.all_text_contents()]
    for text in texts:
        assert text and text in top["text"], (text, top["text"])
    assert texts == shown_marks
    # No highlight outside the cited passage.
    assert page.locator("mark.hl").count() == len(expected)


# ---------------------------------------------------------------------------------------------
# 4. Filters


def test_filters_narrow_the_results(page, live_server):
    page.goto(f"{live_server}/")
    open_filters(page)
    speakers = [collapse(t) for t in page.locator("#speaker option").all_text_contents()]
    assert speakers[0] == "Any speaker"
    assert "Xie Shaofeng" in speakers, speakers
    page.locator("#speaker").select_option(label="Xie Shaofeng")

    query = submit_question(page, "What did the official say about SMEs?")
    assert query.get("speaker") == ["Xie Shaofeng"], page.url
    assert "speaker=Xie+Shaofeng" in page.url, page.url
    items = results(page)
    speakers_seen = [collapse(items.nth(i).locator(".speaker").text_content()) for i in range(items.count())]
    assert set(speakers_seen) == {"Xie Shaofeng"}, speakers_seen
    # The results page keeps the filter, open and selected.
    assert page.locator("details.filters").get_attribute("open") is not None
    assert page.locator("#speaker").input_value() == "Xie Shaofeng"

    # A date range, any speaker: a year of the White House sample, or of the seeds when the
    # shared corpus is absent (the hostile transcript, of 2024, is outside both).
    year, question = ("2021", "What did the President discuss with Xi?") if shared_available() else (
        "2025", "What did the official say about SMEs?")
    open_filters(page)
    page.locator("#speaker").select_option(value="")
    page.locator("#date_from").fill(f"{year}-01-01")
    page.locator("#date_to").fill(f"{year}-12-31")
    query = submit_question(page, question)
    assert query.get("speaker") == [""], page.url
    assert query.get("date_from") == [f"{year}-01-01"] and query.get("date_to") == [f"{year}-12-31"], page.url
    items = results(page)
    dates = []
    for i in range(items.count()):
        time = items.nth(i).locator("p.meta time")
        assert time.count() == 1, f"result {i + 1} has no date"
        dates.append(time.get_attribute("datetime") or "")
    assert all(d.startswith(year) for d in dates), dates
    assert page.locator("#date_from").input_value() == f"{year}-01-01"
    assert page.locator("#date_to").input_value() == f"{year}-12-31"
    assert page.locator("#speaker").input_value() == ""


def test_search_within_one_briefing(page, live_server):
    page.goto(f"{live_server}/documents/{SME_DOC}")
    title = collapse(page.locator("article.document h1").text_content())
    form = page.locator("form.within")
    assert form.count() == 1
    assert "Search this briefing" in form.inner_text()
    box = form.locator("#q-within")
    question = "What was done about late payments to SMEs?"
    box.fill(question)
    with page.expect_navigation():
        box.press("Enter")
    parts = urlsplit(page.url)
    query = parse_qs(parts.query)
    assert parts.path == "/ask" and query.get("doc_id") == [SME_DOC] and query.get("q") == [question], page.url

    items = results(page)
    for i in range(items.count()):
        href = items.nth(i).locator("a.source-link").get_attribute("href") or ""
        assert href.startswith(f"/documents/{SME_DOC}?"), href
    scope = page.locator("p.scope")
    assert scope.is_visible()
    assert collapse(scope.text_content()).startswith(f"Only in: {title}"), scope.text_content()
    hidden = page.locator("form.ask input[type=hidden][name=doc_id]")
    assert hidden.count() == 1 and hidden.get_attribute("value") == SME_DOC

    # Asking again from the results page stays inside the briefing.
    query = submit_question(page, "How did SMEs perform in the first quarter?")
    assert query.get("doc_id") == [SME_DOC], page.url
    items = results(page)
    hrefs = [items.nth(i).locator("a.source-link").get_attribute("href") or "" for i in range(items.count())]
    assert all(h.startswith(f"/documents/{SME_DOC}?") for h in hrefs), hrefs

    # "search all briefings" drops the scope and keeps the question.
    with page.expect_navigation():
        scope.locator("a").click()
    query = parse_qs(urlsplit(page.url).query)
    assert "doc_id" not in query and query.get("q") == ["How did SMEs perform in the first quarter?"], page.url
    assert page.locator("p.scope").count() == 0
    results(page)


def test_search_all_briefings_from_a_document_page(page, live_server):
    # The header box on a document page searches that briefing; its way out must not be an error.
    page.goto(f"{live_server}/documents/{SME_DOC}")
    scope = page.locator("p.scope")
    assert scope.is_visible()
    with page.expect_navigation() as navigation:
        scope.locator("a").click()
    assert navigation.value is not None and navigation.value.status == 200, page.url
    assert page.locator("p.error").count() == 0, page.locator("main").inner_text()
    assert page.locator("p.scope").count() == 0
    assert page.locator("form.ask input[name=doc_id]").count() == 0
    ask_via_form(page, live_server, MIIT_QUESTION)
    results(page)


# ---------------------------------------------------------------------------------------------
# 5. Abstaining


def test_an_answer_not_sure_enough_is_withheld_and_the_passages_still_shown(page, live_server):
    # The passages are about the MIIT and SMEs, but no sentence says what the ministry thinks of
    # them, and the model is not sure enough of any.
    ask_via_form(page, live_server, VAGUE_QUESTION)
    assert page.locator("section.answer").count() == 0
    abstain = page.locator("p.abstain")
    assert abstain.count() == 1 and abstain.is_visible()
    said = collapse(abstain.text_content())
    assert said.startswith("Not answered.") and "enough confidence" in said, said
    heading = page.locator("h2.results-heading")
    assert collapse(heading.text_content()) == "Closest passages (they may not answer the question)"
    items = results(page)
    assert items.count() == 5
    doc_id, _, _ = follow(page, items.first.locator("a.source-link"))
    assert doc_id == NARRATIVE_DOC


def test_off_topic_question_is_not_answered(page, live_server):
    ask_via_form(page, live_server, OFF_TOPIC_QUESTION)
    abstain = page.locator("p.abstain")
    assert abstain.count() == 1
    assert abstain.is_visible()
    assert collapse(abstain.text_content()).startswith("Not answered."), abstain.text_content()
    assert page.locator("section.answer").count() == 0
    assert page.locator("a.answer-link").count() == 0
    heading = page.locator("h2.results-heading")
    assert collapse(heading.text_content()) == "Closest passages (they may not answer the question)", heading.text_content()
    items = results(page)
    assert items.count() >= 1
    assert page.locator("ol.results.closest").count() == 1
    # The closest passages still link to their place in the source.
    follow(page, items.first.locator("a.source-link"))
    assert page.locator("mark#cite").count() == 1


# ---------------------------------------------------------------------------------------------
# 6. Without JavaScript


def test_works_without_javascript(browser, live_server):
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        # Native form submission, no script involved.
        ask_via_form(page, live_server, MIIT_QUESTION)
        first = results(page).first
        shown = collapse(first.locator("blockquote.passage").text_content())
        assert "Beijing Stock Exchange" in shown

        page.goto(ask_url(live_server, SME_QUESTION))
        assert "Xie Shaofeng" in [s.strip() for s in page.locator(".speaker").all_inner_texts()]

        page.goto(ask_url(live_server, MIIT_QUESTION))
        follow(page, results(page).first.locator("a.source-link"))
        mark = page.locator("mark#cite")
        assert mark.count() == 1
        assert mark.is_visible()
        assert collapse(mark.text_content()) == shown
        box = mark.bounding_box()
        viewport = page.viewport_size
        assert box is not None and viewport is not None
        assert box["y"] < viewport["height"] and box["y"] + box["height"] > 0, (
            f"cited passage not in the viewport: {box} vs {viewport}"
        )
    finally:
        ctx.close()


# ---------------------------------------------------------------------------------------------
# 7. Escaping


def test_question_markup_is_shown_as_text(page, live_server):
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    ask_via_form(page, live_server, XSS_QUESTION)
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)

    heading = page.locator("h1.question")
    assert heading.count() == 1
    assert heading.inner_text() == XSS_QUESTION
    assert "<script>" in heading.inner_text()
    assert page.locator("#q").input_value() == XSS_QUESTION
    assert XSS_QUESTION in page.title()
    assert page.locator("img").count() == 0
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script").count() == 0  # the pages run no script at all
    assert dialogs == []

    # The same question arriving straight in the URL.
    page.goto(ask_url(live_server, XSS_QUESTION))
    page.wait_for_timeout(300)
    assert page.locator("h1.question").inner_text() == XSS_QUESTION
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_transcript_markup_is_shown_as_text(page, live_server):
    """A transcript carrying <script> and an onerror image: shown as text in results and source."""
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    ask_via_form(page, live_server, "When does the tulip festival open?")
    page.wait_for_timeout(300)
    hostile = [
        item for item in results(page).all()
        if "tulip festival" in collapse(item.locator("blockquote.passage").text_content())
    ]
    assert hostile, "the hostile transcript's passage should be found"
    shown = collapse(hostile[0].locator("blockquote.passage").text_content())
    assert "<script>alert('transcript')</script>" in shown and "onerror=" in shown
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    follow(page, hostile[0].locator("a.source-link"))
    page.wait_for_timeout(300)
    source = page.locator("pre.source").text_content()
    assert "<script>alert('transcript')</script>" in source
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    assert dialogs == []
    csp = httpx.get(page.url).headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp


# ---------------------------------------------------------------------------------------------
# 8. Phone layout


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize(
    "question",
    [SME_QUESTION, "What did the spokesperson say about " + "supercalifragilistic" * 6 + "?"],
    ids=["plain", "long-word"],
)
def test_phone_results_page_has_no_horizontal_scroll(browser, live_server, question):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    try:
        page = ctx.new_page()
        page.goto(ask_url(live_server, question))
        results(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"results page is {width}px wide on a {PHONE['width']}px phone"
        open_filters(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"results page with filters open is {width}px wide"
        for control in ("#speaker", "#date_from", "#date_to"):
            box = page.locator(control).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (control, box)

        follow(page, results(page).first.locator("a.source-link"))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"document page is {width}px wide on a {PHONE['width']}px phone"
        open_filters(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"document page with filters open is {width}px wide"
    finally:
        ctx.close()


# ---------------------------------------------------------------------------------------------
# 9. Screenshots for humans (not asserted beyond being written)


def test_screenshots(browser, live_server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    question = OLYMPICS_QUESTION
    for name, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", PHONE)):
        ctx = browser.new_context(viewport=viewport)
        try:
            page = ctx.new_page()
            page.goto(f"{live_server}/")
            page.screenshot(path=str(SHOTS / f"home-{name}.png"))
            page.goto(ask_url(live_server, question))
            results(page)
            page.screenshot(path=str(SHOTS / f"results-{name}.png"), full_page=True)
            follow(page, results(page).first.locator("a.source-link"))
            page.wait_for_timeout(200)
            page.screenshot(path=str(SHOTS / f"document-{name}.png"))
        finally:
            ctx.close()
    for name, viewport in (("desktop", {"width": 1280, "height": 800}), ("phone", PHONE)):
        ctx = browser.new_context(viewport=viewport)
        try:
            page = ctx.new_page()
            page.goto(ask_url(live_server, MEASURES_QUESTION))
            results(page)
            open_filters(page)
            page.screenshot(path=str(SHOTS / f"answered-{name}.png"), full_page=name == "desktop")
            with page.expect_navigation():
                page.locator("a.answer-link").click()
            page.wait_for_timeout(200)
            page.screenshot(path=str(SHOTS / f"answer-document-{name}.png"))
            page.goto(ask_url(live_server, MIIT_QUESTION))
            follow(page, results(page).first.locator("a.source-link"))
            page.wait_for_timeout(200)
            page.screenshot(path=str(SHOTS / f"highlights-document-{name}.png"))
            page.goto(ask_url(live_server, OFF_TOPIC_QUESTION))
            results(page)
            page.screenshot(path=str(SHOTS / f"abstained-{name}.png"), full_page=name == "desktop")
        finally:
            ctx.close()
    for name in ("results-desktop", "document-desktop", "answered-desktop", "abstained-desktop",
                 "highlights-document-desktop"):
        assert (SHOTS / f"{name}.png").stat().st_size > 0


# ---------------------------------------------------------------------------------------------
# 10. The API's own docs, as a person meets them at /docs


def test_api_docs_render_and_try_it_out_answers(page, live_server):
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server}/docs")
    ask = page.locator(".opblock.opblock-post").filter(has=page.locator('[data-path="/api/ask"]'))
    ask.wait_for()
    body_text = page.locator("body").inner_text()
    assert "Unable to render this definition" not in body_text, body_text[:500]
    # Every operation of the API is listed.
    paths = set(page.locator(".opblock-summary-path").evaluate_all("nodes => nodes.map(n => n.dataset.path)"))
    assert {"/api/ask", "/api/documents", "/api/documents/{doc_id}", "/api/speakers", "/healthz"} <= paths, paths
    # A Swagger UI that reads OpenAPI 3.1 (4.x reads only 2.0 and 3.0).
    version = page.evaluate("() => window.versions && window.versions.swaggerUI.version")
    assert version and int(version.split(".")[0]) >= 5, version

    ask.locator(".opblock-summary").click()
    ask.get_by_role("button", name="Try it out").click()
    editor = ask.locator("textarea.body-param__text")
    editor.fill(f'{{"question": "{MEASURES_QUESTION}", "k": 3}}')
    ask.get_by_role("button", name="Execute").click()
    live = ask.locator(".live-responses-table")
    status = live.locator("tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    shown = live.locator("tr.response .response-col_description pre").first.inner_text()
    answer = json.loads(shown)
    assert answer["question"] == MEASURES_QUESTION and len(answer["passages"]) == 3
    assert answer["answered"] and "73 specific support measures" in answer["answer"]["text"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api-docs.png"), full_page=True)
    assert not problems, problems


# ---------------------------------------------------------------------------------------------
# 10. Exact phrases, date order, the timeline chart and paging (issue 16)

PHRASE_QUERY = '"Taiwan"' if shared_available() else '"support measures"'


def _chart_checks(page, base: str) -> None:
    """The chart is drawn, fits its box, and its tallest bar links to that month's matches, oldest first."""
    chart = page.locator("svg.timeline-chart")
    assert chart.count() == 1 and chart.is_visible()
    heading = collapse(page.locator("#timeline-heading").text_content())
    assert re.match(r"\d+ matching passages? in \d+ briefings?, per (month|year)", heading), heading
    box = chart.bounding_box()
    viewport = page.viewport_size
    assert box is not None and box["width"] > 100 and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    rows = page.locator("details.timeline-table tbody tr")
    assert rows.count() >= 1
    # The table (for screen readers, and anyone who opens it) has the same counts as the bars.
    months = {collapse(r.locator("th").text_content()): int(r.locator("td").first.text_content()) for r in rows.all()}
    assert sum(months.values()) == int(heading.split()[0])
    drawn = page.locator("svg.timeline-chart rect.bar")
    assert drawn.count() == len(months)
    period, count = max(months.items(), key=lambda item: item[1])
    link = page.locator("details.timeline-table tbody tr th a", has_text=period)
    href = link.get_attribute("href")
    assert "sort=oldest" in href and f"date_from={period}" in href
    page.goto(base + href)
    dates = [t.get_attribute("datetime") for t in page.locator("ol.results li.result p.meta time").all()]
    assert dates and all(d.startswith(period) for d in dates), (period, dates)
    assert f"{count} passage" in collapse(page.locator("p.listing").text_content())


def test_timeline_chart_on_desktop_links_each_bar_to_its_month(page, live_server):
    page.goto(ask_url(live_server, PHRASE_QUERY))
    assert page.locator("#syntax-hint").is_visible()
    assert '"exact phrase"' in page.locator("#syntax-hint").text_content()
    _chart_checks(page, live_server)
    # A bar is a link too: clicking the drawn bar lands on its month.
    page.goto(ask_url(live_server, PHRASE_QUERY))
    bar = page.locator("svg.timeline-chart a.bar-link", has=page.locator("rect.bar")).first
    href = bar.get_attribute("href")
    with page.expect_navigation():
        bar.locator("rect.bar").click()
    assert urlsplit(page.url).query == urlsplit(live_server + href).query
    SHOTS.mkdir(exist_ok=True)
    page.goto(ask_url(live_server, PHRASE_QUERY))
    page.screenshot(path=str(SHOTS / "timeline-desktop.png"), full_page=True)


def test_timeline_chart_on_a_phone(browser, live_server):
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        page.goto(ask_url(live_server, PHRASE_QUERY))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"results page is {width}px wide on a {PHONE['width']}px phone"
        _chart_checks(page, live_server)
        SHOTS.mkdir(exist_ok=True)
        page.goto(ask_url(live_server, PHRASE_QUERY))
        page.screenshot(path=str(SHOTS / "timeline-phone.png"), full_page=True)
    finally:
        ctx.close()


def test_timeline_paging_and_sort_without_javascript(browser, live_server):
    ctx = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        ask_via_form(page, live_server, PHRASE_QUERY)
        _chart_checks(page, live_server)
        # Oldest first through the sort link, then page to the end with "Next".
        page.goto(ask_url(live_server, PHRASE_QUERY) + "&k=2")
        with page.expect_navigation():
            page.locator("a.sort-link", has_text="oldest").click()
        total = int(collapse(page.locator("p.listing").text_content()).split()[0])
        seen = []
        while True:
            for item in page.locator("ol.results > li.result").all():
                time_ = item.locator("p.meta time")
                seen.append(time_.get_attribute("datetime") if time_.count() else "~")  # undated last
            following = page.locator("a.next-link")
            if following.count() == 0:
                break
            with page.expect_navigation():
                following.click()
        assert len(seen) == total and seen == sorted(seen)
        # The export link answers with every match as CSV.
        href = page.locator("a.export-link", has_text="CSV").get_attribute("href")
        exported = httpx.get(live_server + href, timeout=30)
        assert exported.status_code == 200 and exported.text.startswith("n,date,speaker")
        assert len(exported.text.strip().splitlines()) - 1 == total  # texts are whitespace-collapsed: one line each
    finally:
        ctx.close()
