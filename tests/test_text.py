"""Tests for qa.text: whitespace collapsing, span trimming and offset-exact sentence splitting."""

from __future__ import annotations

import pytest

from qa.text import collapse_whitespace, sentence_spans, trim_span, word_count


def sentences(raw: str, start: int = 0, end: int | None = None) -> list[str]:
    return [raw[a:b] for a, b in sentence_spans(raw, start, end)]


def non_space(text: str) -> str:
    return "".join(text.split())


# ---------------------------------------------------------------------------------------------
# collapse_whitespace


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Good afternoon.\u00a0 Happy Monday.", "Good afternoon. Happy Monday."),
        ("\u00a0\u00a0\u00a0 MS. PSAKI:\u00a0 Hi.", "MS. PSAKI: Hi."),
        ("a\tb\t\tc", "a b c"),
        ("line one\nline two  \n  \nline three", "line one line two line three"),
        ("  \n\t\u00a0 padded \u00a0\n", "padded"),
        ("on the\u202fPresident", "on the President"),
        ("already clean", "already clean"),
        ("", ""),
        (" \u00a0\t\n ", ""),
    ],
)
def test_collapse_whitespace(raw: str, expected: str) -> None:
    assert collapse_whitespace(raw) == expected


def test_collapse_whitespace_keeps_non_space_characters_in_order() -> None:
    raw = "We\u2019re\u00a0 here \u2014 \t with\n(Laughter.)  \\[sic\\]"
    assert collapse_whitespace(raw) == "We\u2019re here \u2014 with (Laughter.) \\[sic\\]"


def test_word_count_counts_nbsp_as_a_separator() -> None:
    assert word_count("one\u00a0two\tthree\nfour  ") == 4
    assert word_count(" \u00a0 ") == 0


# ---------------------------------------------------------------------------------------------
# trim_span


def test_trim_span_strips_both_ends() -> None:
    raw = "xx  \u00a0Hello there.\n \u00a0yy"
    start, end = trim_span(raw, 2, raw.index("yy"))
    assert raw[start:end] == "Hello there."
    assert (start, end) == (5, 17)


def test_trim_span_leaves_a_clean_span_alone() -> None:
    raw = "abc def"
    assert trim_span(raw, 0, 7) == (0, 7)
    assert trim_span(raw, 4, 7) == (4, 7)


def test_trim_span_of_only_whitespace_is_empty() -> None:
    raw = "ab \u00a0\t\n cd"
    start, end = trim_span(raw, 2, 7)
    assert start == end


def test_trim_span_of_empty_span() -> None:
    assert trim_span("abc", 1, 1) == (1, 1)


# ---------------------------------------------------------------------------------------------
# sentence_spans


def test_simple_sentences() -> None:
    assert sentences("It rained. We stayed in! Did you? Yes.") == [
        "It rained.",
        "We stayed in!",
        "Did you?",
        "Yes.",
    ]


def test_nbsp_after_full_stop_separates_sentences() -> None:
    raw = "Good afternoon.\u00a0 Happy Monday to everyone.\u00a0 A couple of\nannouncements."
    assert sentences(raw) == [
        "Good afternoon.",
        "Happy Monday to everyone.",
        "A couple of\nannouncements.",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "Mr. Smith went to Washington. He met Ms. Jones and Dr. Lee there.",
            ["Mr. Smith went to Washington.", "He met Ms. Jones and Dr. Lee there."],
        ),
        ("The U.S. and China met today. They talked.", ["The U.S. and China met today.", "They talked."]),
        (
            "The U.N. Security Council met. It voted.",
            ["The U.N. Security Council met.", "It voted."],
        ),
        ("The briefing began at 1:17 P.M. EST and ran long.", ["The briefing began at 1:17 P.M. EST and ran long."]),
        (
            "Welcome to the James S. Brady Press Briefing Room. Please sit.",
            ["Welcome to the James S. Brady Press Briefing Room.", "Please sit."],
        ),
        ("Ask Gov. Newsom and Sen. Warner. Both agreed.", ["Ask Gov. Newsom and Sen. Warner.", "Both agreed."]),
        ("See No. 5 on the list. Then stop.", ["See No. 5 on the list.", "Then stop."]),
    ],
)
def test_abbreviations_and_initials_do_not_end_sentences(raw: str, expected: list[str]) -> None:
    assert sentences(raw) == expected


def test_no_as_an_answer_ends_a_sentence() -> None:
    # "No." is an abbreviation only before a number ("No. 5"); as an answer it is a sentence.
    assert sentences("No. It did not come up. The answer is no. We moved on.") == [
        "No.",
        "It did not come up.",
        "The answer is no.",
        "We moved on.",
    ]


def test_lower_case_after_full_stop_does_not_split() -> None:
    assert sentences("It was 4 p.m. and raining. OK.") == ["It was 4 p.m. and raining.", "OK."]


def test_question_marks_and_closing_quotes() -> None:
    raw = "He asked, \u201cWhere is it?\u201d She did not know. Is that \"final?\" Yes, it is."
    assert sentences(raw) == [
        "He asked, \u201cWhere is it?\u201d",
        "She did not know.",
        "Is that \"final?\"",
        "Yes, it is.",
    ]


def test_opening_quote_and_bracket_can_start_a_sentence() -> None:
    raw = "He left. \u201cGood riddance,\u201d she said. (Laughter.) We went on."
    assert sentences(raw) == [
        "He left.",
        "\u201cGood riddance,\u201d she said.",
        "(Laughter.)",
        "We went on.",
    ]


def test_paragraph_breaks_are_hard_boundaries() -> None:
    raw = "A heading without a stop\n\nlower-case start of the next paragraph. Next one."
    assert sentences(raw) == [
        "A heading without a stop",
        "lower-case start of the next paragraph.",
        "Next one.",
    ]


def test_blank_lines_holding_spaces_and_nbsp_are_paragraph_breaks() -> None:
    raw = "first part  \n \u00a0 \nsecond part\n\t\nthird part"
    assert sentences(raw) == ["first part", "second part", "third part"]


def test_crlf_blank_line_is_a_paragraph_break() -> None:
    raw = "A heading\r\n\r\nlower-case text. More.\r\n"
    assert sentences(raw) == ["A heading", "lower-case text.", "More."]


def test_line_of_other_unicode_spaces_is_a_paragraph_break() -> None:
    # The White House files have a few "blank" lines holding U+2003 or U+202F.
    raw = "a week ahead:\u2003\n\u2003  \nthe President will\n\u202f\ntravel"
    assert sentences(raw) == ["a week ahead:", "the President will", "travel"]


def test_single_line_break_is_not_a_boundary() -> None:
    raw = "The President is committed to\nbuilding an America that is more inclusive."
    assert sentences(raw) == [raw]


def test_offsets_index_into_the_whole_string_when_given_a_range() -> None:
    raw = "PREFIX: One here. Two here.\n\nSUFFIX"
    start = raw.index("One")
    end = raw.index("SUFFIX")
    spans = sentence_spans(raw, start, end)
    assert spans == [(start, start + len("One here.")), (raw.index("Two"), raw.index("Two") + len("Two here."))]


def test_empty_and_blank_ranges_have_no_sentences() -> None:
    assert sentence_spans("") == []
    assert sentence_spans(" \u00a0\n\n\t ") == []
    assert sentence_spans("abc def", 3, 4) == []


SAMPLE = (
    "\u00a0\u00a0 Good afternoon.\u00a0 Mr. Sullivan is here from the U.S. delegation \u2014 he\n"
    "met P.R.C. officials at 4:00 P.M. EST.\u00a0 \u201cIt went well,\u201d he said?!\u00a0  \n"
    "\u00a0  \n"
    "(Laughter.)\u00a0 Next question.\u00a0 Is that a \\[sic\\] note?\u00a0 <s>No</s> Yes.\n"
    "\n"
    "James S. Brady would have liked it.  Thanks, Karine.\u00a0 \n"
)


@pytest.mark.parametrize(("start", "end"), [(0, len(SAMPLE)), (5, len(SAMPLE) - 3), (20, 140)])
def test_spans_are_trimmed_ordered_inside_the_range_and_lose_nothing(start: int, end: int) -> None:
    spans = sentence_spans(SAMPLE, start, end)
    assert len(spans) >= 2
    previous_end = start
    for span_start, span_end in spans:
        assert previous_end <= span_start < span_end <= end
        assert not SAMPLE[span_start].isspace()
        assert not SAMPLE[span_end - 1].isspace()
        previous_end = span_end
    joined = "".join(SAMPLE[a:b] for a, b in spans)
    assert non_space(joined) == non_space(SAMPLE[start:end])


def test_sample_sentences() -> None:
    assert [collapse_whitespace(s) for s in sentences(SAMPLE)] == [
        "Good afternoon.",
        "Mr. Sullivan is here from the U.S. delegation \u2014 he met P.R.C. officials at 4:00 P.M. EST.",
        "\u201cIt went well,\u201d he said?!",
        "(Laughter.)",
        "Next question.",
        # "<" cannot open a sentence, so the struck-out word stays with the question before it.
        "Is that a \\[sic\\] note? <s>No</s> Yes.",
        "James S. Brady would have liked it.",
        "Thanks, Karine.",
    ]
