"""The query syntax parser (qa.syntax) and the whole-archive matching it drives (qa.matching), without a model."""

from __future__ import annotations

import numpy as np
import pytest

from qa.chunking import Chunk
from qa.matching import Archive, match_rows, phrase_marks
from qa.query import Filters
from qa.stores.seam import PassageTable
from qa.syntax import Parsed, contains, normalise, parse


def test_plain_question_is_not_syntax():
    parsed = parse("How long did Biden and Xi talk in November 2021?")
    assert parsed == Parsed(text="How long did Biden and Xi talk in November 2021?")
    assert not parsed.has_syntax and parsed.ranking_text == parsed.text


@pytest.mark.parametrize("query", ['"Wolf  Warrior"', "\u201cwolf warrior\u201d", "\u201ewolf\nwarrior\u201d", '"WOLF-warrior!"'])
def test_phrase_in_straight_or_curly_quotes(query):
    parsed = parse(query)
    assert parsed.phrases == ("wolf warrior",) and parsed.text == ""
    assert parsed.ranking_text == "wolf warrior"


def test_phrase_with_other_words_ranks_by_the_other_words():
    parsed = parse('when did they first call it "a genocide" -Uyghur')
    assert parsed.phrases == ("a genocide",)
    assert parsed.excluded == ("uyghur",)
    assert parsed.text == "when did they first call it" == parsed.ranking_text


def test_exclusions_words_and_phrases():
    parsed = parse('taiwan -strait -"One China" well-known - alone')
    assert parsed.excluded == ("strait", "one china")
    assert parsed.text == "taiwan well-known - alone"


def test_operators_set_filters():
    parsed = parse('speaker:Kirby balloon after:2023-02-01 before:2023-03')
    assert (parsed.speaker, parsed.date_from, parsed.date_to) == ("Kirby", "2023-02-01", "2023-03-31")
    assert parsed.text == "balloon"
    assert parse('speaker:"Mr.  Kirby" x').speaker == "Mr. Kirby"
    assert parse("after:2022 before:2022").date_from == "2022-01-01"
    assert parse("before:2024-02").date_to == "2024-02-29"
    assert parse("SPEAKER:psaki").speaker == "psaki"


@pytest.mark.parametrize("query", ['"unclosed quote about tariffs', "site:example.com tariffs", "note: tariffs",
                                   "after:yesterday tariffs", "before:2023-13-01 tariffs", "speaker: tariffs",
                                   '""', "-", '-"', "\u201c", "after:", "::::", "-\u00e9t\u00e9"])
def test_anything_unknown_is_read_literally_and_never_fails(query):
    parsed = parse(query)
    assert isinstance(parsed, Parsed)
    if "tariffs" in query:
        assert "tariffs" in parsed.text
    assert parsed.date_from is None and parsed.date_to is None or query.startswith("-")


def test_unclosed_quote_and_bad_date_say_so():
    assert parse('"unclosed').notes == ("an unclosed quote was read as ordinary words",)
    assert "after:yesterday" in parse("after:yesterday x").text
    assert parse("after:yesterday x").notes


def test_normalise_and_contains():
    assert normalise("Xi\u2019s  \u201cRED\u201d\nline, 2022!") == "xi s red line 2022"
    assert contains("the red line was", "red line")
    assert not contains("the redline was", "red line")
    assert not contains("bred line", "red line")


def _archive() -> Archive:
    texts = [
        ("a", False, "Ms. Psaki", "We discussed the wolf warrior diplomacy at length."),
        ("a", True, None, "Is that wolf-warrior diplomacy?"),
        ("b", False, "Mr. Kirby", "Wolf\nWarrior is not a phrase we use."),
        ("c", False, "Mr. Kirby", "Nothing about wolves here, only warriors."),
        ("d", False, "Mr. Kirby", "The WOLF WARRIOR, again: wolf warrior."),
    ]
    chunks = [Chunk(i, doc, 0, 0, speaker, 0, len(text), text, is_question=q) for i, (doc, q, speaker, text) in enumerate(texts)]
    numbers = {"a": 0, "b": 1, "c": 2, "d": 3}
    return Archive(PassageTable(chunks, np.array([numbers[c.doc_id] for c in chunks]), np.arange(5), np.ones(5, dtype=np.int64),
                                ["2021-03-02", "2022-01-05", "2021-01-01", None]), numbers)


def test_phrase_matching_exclusion_filters_and_date_order():
    archive = _archive()
    rows, best = match_rows(archive, None, parse('"wolf warrior"'), Filters(), None)
    assert rows.tolist() == [0, 2, 4] and best is None  # the reporter's question only with speaker=Reporter
    rows, _ = match_rows(archive, None, parse('"wolf warrior" -diplomacy'), Filters(), None)
    assert rows.tolist() == [2, 4]
    rows, _ = match_rows(archive, None, parse('"wolf warrior"'), Filters(speaker="mr. kirby"), None)
    assert rows.tolist() == [2, 4]
    rows, _ = match_rows(archive, None, parse('"wolf warrior"'), Filters(date_from="2021-06-01"), None)
    assert rows.tolist() == [2]  # the undated briefing is outside any date range
    rows, _ = match_rows(archive, None, parse('"wolf warrior"'), Filters(), None)
    assert archive.chronological(rows, newest=False).tolist() == [0, 2, 4]
    assert archive.chronological(rows, newest=True).tolist() == [2, 0, 4]  # undated last either way


def test_timeline_counts_and_phrase_marks():
    archive = _archive()
    rows, _ = match_rows(archive, None, parse('"wolf warrior"'), Filters(), None)
    timeline = archive.timeline(rows, Filters(), ["2021-01-01", "2021-03-02", "2022-01-05"])
    assert timeline.unit == "month" and len(timeline.buckets) == 13
    counts = {b.period: (b.passages, b.briefings) for b in timeline.buckets if b.passages}
    assert counts == {"2021-03": (1, 1), "2022-01": (1, 1)}
    assert (timeline.passages, timeline.briefings, timeline.undated_passages) == (3, 3, 1)
    raw = "The WOLF WARRIOR, again: wolf\nwarrior."
    assert [raw[a:b] for a, b in phrase_marks(raw, 0, len(raw), ("wolf warrior",))] == ["WOLF WARRIOR", "wolf\nwarrior"]


def test_speaker_names_one_label_several_or_none():
    from types import SimpleNamespace

    from qa.validation import apply_syntax, resolve_speaker

    labels = ["Mr Kirby", "Mr. Kirby", "Ms. Psaki", "Reporter"]
    index = SimpleNamespace(speakers=labels, speaker_by_key={s.casefold(): s for s in labels})
    assert resolve_speaker(index, "ms. PSAKI") == (("Ms. Psaki",), None)
    assert resolve_speaker(index, "psaki") == (("Ms. Psaki",), None)
    kirbys, note = resolve_speaker(index, "Kirby")
    assert kirbys == ("Mr Kirby", "Mr. Kirby") and "2 speaker labels" in note
    parsed, filters = apply_syntax(index, parse('speaker:Kirby "wolf warrior"'), Filters())
    assert filters.speaker is None and parsed.speakers == kirbys and parsed.has_syntax
    parsed, filters = apply_syntax(index, parse("speaker:Nobody tariffs"), Filters(speaker="Ms. Psaki"))
    assert filters.speaker == "Ms. Psaki" and parsed.text == "tariffs speaker:Nobody" and parsed.notes
    # Several labels of one name: the match set takes all of them.
    archive = _archive()
    rows, _ = match_rows(archive, None, parse('"wolf warrior"'), Filters(), None)
    assert archive.allowed(Filters(), ("Mr. Kirby", "ms. psaki"))[rows].tolist() == [True, True, True]
