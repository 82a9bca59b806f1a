"""Web pages (.html, .htm): the article body as a reader sees it, read with selectolax (Lexbor).

The text kept is the page's body only: the first of a few content containers that exists
(whitehouse.gov's ``.page-content__content``, then ``article``, ``main``, ``body``), without
scripts, styles, navigation, share buttons, asides, headers, footers or forms. The head's meta
descriptions, which repeat the opening words, are never read. Each block (paragraph, heading,
list item...) becomes one paragraph of the extracted text, separated by a blank line; a ``<br>``
is a line break; runs of spaces and newlines inside a block are one space, as a browser shows
them, while non-breaking spaces stay (they mark ``Q`` turns). Speaker turns are then found in
that text exactly as in a text transcript (``THE PRESIDENT:``, ``DR. FAUCI:``, ``Q``).
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from qa.transcripts import (
    Transcript,
    TranscriptError,
    clean_title,
    date_from_name,
    host_of,
    inline_turns,
    iso_date,
    make_doc_id,
)

# Where the article is, most specific first; the first that holds text is read.
_CONTENT = (
    "div.page-content__content", "[itemprop=articleBody]", "div.entry-content", "article",
    "main", "[role=main]", "#content", "body",
)
# Never part of what a reader reads as the briefing.
_SKIP = frozenset(
    """script style noscript template svg nav aside header footer form button iframe object embed
    select textarea input label dialog menu figure picture img video audio canvas map head title""".split()
)
_BLOCK = frozenset(
    """p div h1 h2 h3 h4 h5 h6 li ul ol dl dt dd blockquote pre table tr td th section article main
    hr address center caption tbody thead tfoot details summary""".split()
)
_BREAK = "\x00"  # a block boundary while the text is assembled (never left in the text)
_LINE = "\x01"  # a <br>, told apart from the newlines of the markup's own layout
_ASCII_SPACE = re.compile(r"[ \t\n\r\f]+")
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.I)
_SITE_SUFFIX = re.compile(r"\s+[|\u2013\u2014-]\s+[^|\u2013\u2014]{2,40}$")


def read_html(data: bytes, relative_path: str, digest: str) -> Transcript:
    tree = LexborHTMLParser(_decode(data, relative_path))
    text = _body_text(tree, relative_path)
    if not any(character.isalnum() for character in text):
        raise TranscriptError(f"{relative_path}: no text in the page body")
    url = _attribute(tree, 'link[rel="canonical"]', "href") or _attribute(tree, 'meta[property="og:url"]', "content")
    return Transcript(
        doc_id=make_doc_id(relative_path),
        path=relative_path,
        title=_title(tree) or relative_path.rsplit("/", 1)[-1].rsplit(".", 1)[0],
        # The file's name dates the briefing; a page's own date is when it was issued (often the next day).
        date=date_from_name(relative_path) or _date(tree),
        source=host_of(url),
        url=url,
        raw=text,
        turns=inline_turns(text, 0),
        format="html",
        content_hash=digest,
    )


def _decode(data: bytes, relative_path: str) -> str:
    """The page as text: UTF-8, else the charset its <meta> names, else Windows-1252."""
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TranscriptError(f"{relative_path}: binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    declared = _CHARSET.search(data[:4096])
    for encoding in ([declared.group(1).decode("ascii")] if declared else []) + ["cp1252"]:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def _body_text(tree: LexborHTMLParser, relative_path: str) -> str:
    for selector in _CONTENT:
        node = tree.css_first(selector)
        if node is None:
            continue
        pieces: list[str] = []
        try:
            _walk(node, pieces)
        except RecursionError:
            raise TranscriptError(f"{relative_path}: markup nested too deeply to read") from None
        paragraphs = [_paragraph(block) for block in "".join(pieces).split(_BREAK)]
        text = "\n\n".join(p for p in paragraphs if p)
        if any(character.isalnum() for character in text):
            return text
    return ""


def _walk(node, pieces: list[str]) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            pieces.append(child.text(deep=False))
        elif tag == "br":
            pieces.append(_LINE)
        elif tag in _SKIP or tag.startswith("-") or tag == "!doctype":
            continue
        elif tag in _BLOCK:
            pieces.append(_BREAK)
            _walk(child, pieces)
            pieces.append(_BREAK)
        else:
            _walk(child, pieces)


def _paragraph(block: str) -> str:
    """A block's text as a browser lays it out: spaces collapsed, <br> line breaks kept."""
    lines = [_ASCII_SPACE.sub(" ", line).strip(" ") for line in block.replace(_BREAK, "").split(_LINE)]
    return "\n".join(line for line in lines if line.strip())


def _attribute(tree: LexborHTMLParser, selector: str, name: str) -> str | None:
    node = tree.css_first(selector)
    value = node.attributes.get(name) if node is not None else None
    return value.strip() or None if value else None


def _title(tree: LexborHTMLParser) -> str | None:
    for selector in ("h1", 'meta[property="og:title"]', "title"):
        node = tree.css_first(selector)
        if node is None:
            continue
        text = node.attributes.get("content") if node.tag == "meta" else node.text()
        title = clean_title(text)
        if title:
            return _SITE_SUFFIX.sub("", title) if node.tag != "h1" else title
    return None


def _date(tree: LexborHTMLParser) -> str | None:
    for selector, attribute in (
        ('meta[property="article:published_time"]', "content"), ("time[datetime]", "datetime"), ("time", None),
    ):
        node = tree.css_first(selector)
        if node is None:
            continue
        value = node.attributes.get(attribute) if attribute else node.text()
        day = iso_date((value or "").strip()[:10]) or iso_date(" ".join((value or "").split()))
        if day:
            return day
    return None
