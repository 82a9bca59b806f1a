"""End-to-end tests in a real Chromium against ``qa serve`` running as a real process.

They drive Debian's chromium (/usr/bin/chromium) through playwright's sync API; ``playwright
install`` is never used. Screenshots for humans land in /tmp/briefing-qa-shots/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest

from conftest import requires_shared

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

# Bounding rectangle of the cited passage plus what the page knows about its viewport.
MARK_GEOMETRY = """() => {
    const mark = document.getElementById('cite');
    if (!mark) return null;
    const rect = mark.getBoundingClientRect();
    return {top: rect.top, bottom: rect.bottom, innerHeight: window.innerHeight,
            scrollY: window.scrollY, docTop: rect.top + window.scrollY};
}"""
MARK_IN_VIEW = """() => {
    const mark = document.getElementById('cite');
    if (!mark) return false;
    const rect = mark.getBoundingClientRect();
    return rect.top >= 0 && rect.top < window.innerHeight && rect.bottom > 0;
}"""


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


def results(page):
    items = page.locator("ol.results > li.result")
    assert items.count() > 0, f"no results on {page.url}:\n{page.locator('main').inner_text()}"
    return items


def first_link_to(page, doc_fragment: str):
    """The first result whose source link points into a document whose id contains ``doc_fragment``."""
    items = results(page)
    for i in range(items.count()):
        item = items.nth(i)
        link = item.locator("a.source-link")
        if doc_fragment in (link.get_attribute("href") or ""):
            return item, link
    hrefs = [items.nth(i).locator("a.source-link").get_attribute("href") for i in range(items.count())]
    pytest.fail(f"no result links to a document matching {doc_fragment!r}; links: {hrefs}")


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
    item, link = first_link_to(page, f"/documents/{OLYMPICS_DOC}?")
    shown = collapse(item.locator("blockquote.passage").text_content())
    assert "Olympics" in shown, shown
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
# 3. Without JavaScript


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
# 4. Escaping


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


# ---------------------------------------------------------------------------------------------
# 5. Phone layout


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

        follow(page, results(page).first.locator("a.source-link"))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"document page is {width}px wide on a {PHONE['width']}px phone"
    finally:
        ctx.close()


# ---------------------------------------------------------------------------------------------
# 6. Screenshots for humans (not asserted beyond being written)


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
    for name in ("results-desktop", "document-desktop"):
        assert (SHOTS / f"{name}.png").stat().st_size > 0
