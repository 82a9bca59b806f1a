"""Whole-archive matches: which passages a query matches, in date order, and how many per month.

A passage *matches* a query when it passes the filters (the same rule as ranking: reporters'
questions only when the speaker filter asks for them), holds every quoted phrase, holds none of
the excluded words and phrases, and, for a query without a phrase, when the cosine of its best
window to the query's words is at least ``MATCH_FLOOR`` (chosen by measurement:
bench/match_floor.py, README.md). A query of filters alone matches every passage they allow.

The scans read the store only through ``passage_table()`` and ``dense_scan()`` (``qa.stores.seam``),
so both stores answer the same.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date

import numpy as np

from qa.query import Filters
from qa.stores.seam import passage_mask, PassageTable, Store, conditions
from qa.syntax import Parsed, normalise

# The cosine a passage's best window must reach to match a query without a phrase: the lowest at
# which the off-topic and near-topic questions each match almost nothing (at most 10% of them
# anything, at most 0.1 passages a question), measured by bench/match_floor.py over the eval index
# (README.md, "Exact phrases, dates and counts").
MATCH_FLOOR = 0.63

# Above this many months between the first and last date, the timeline counts per year.
MAX_MONTHS = 60

# Which passages hold a phrase, kept for the next queries (paging, the timeline, the export ask
# again) for this many phrases before the cache starts over.
PHRASES_KEPT = 256
# The phrase marks highlighted in one passage at most (a page stays readable).
MAX_MARKS = 20


@dataclass(frozen=True)
class Match:
    """One passage a query matches across the archive, in the order asked."""

    row: int
    # What the passage shows: its fused score (relevance), or its best window's cosine in a date
    # order (0.0 when the query has no words to rank by).
    score: float
    window: int  # the window its highlights are read from


@dataclass(frozen=True)
class Bucket:
    period: str  # "2022-03" (a month) or "2022" (a year)
    date_from: str  # its first day, ISO
    date_to: str  # its last day
    passages: int
    briefings: int


@dataclass(frozen=True)
class Timeline:
    unit: str  # "month" or "year"
    buckets: tuple[Bucket, ...]
    passages: int  # all matches, undated included
    briefings: int
    undated_passages: int  # matches in briefings without a date (in no bucket)
    undated_briefings: int


class Archive:
    """Every passage of one store as the scans read it: filter columns, normalised text, date order."""

    def __init__(self, table: PassageTable, doc_number: dict[str, int]) -> None:
        self.table = table
        self.doc_number = doc_number
        chunks = table.chunks
        count = len(chunks)
        self.docs = np.asarray(table.docs, dtype=np.int64)
        self.is_question = np.fromiter((c.is_question for c in chunks), dtype=bool, count=count)
        self.speaker_key = np.array([(c.speaker or "").casefold() for c in chunks], dtype=object)
        self.starts = np.fromiter((c.start for c in chunks), dtype=np.int64, count=count)
        doc_dates = [d or "" for d in table.doc_dates]
        self.doc_dates = np.array(doc_dates, dtype="U10")
        self.dates = self.doc_dates[self.docs] if count else np.zeros(0, dtype="U10")
        self.dated = self.dates != ""
        # Every passage's normalised words in one string, " words \n" each, for phrase search.
        pieces = [f" {normalise(c.text)} \n" for c in chunks]
        lengths = np.fromiter((len(p) for p in pieces), dtype=np.int64, count=count)
        self.offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if count else lengths
        self.corpus = "".join(pieces)
        # Date orders: oldest first and newest first; within a briefing, in reading order; undated last.
        date_rank = np.unique(self.dates, return_inverse=True)[1] if count else self.docs
        self.oldest = np.lexsort((self.starts, self.docs, date_rank, ~self.dated))
        self.newest = np.lexsort((self.starts, self.docs, -date_rank, ~self.dated))
        self._holding: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.docs)

    def allowed(self, filters: Filters, speakers: tuple[str, ...] = ()) -> np.ndarray:
        """The passages the filters allow (the embedded store's rule for windows, per passage); ``speakers``,
        several labels of one name (``speaker:Kirby``), stands for the speaker filter."""
        return passage_mask(conditions(filters, speakers), self.speaker_key, self.is_question, self.docs,
                            self.doc_number, self.table.doc_dates)

    def holding(self, phrase: str) -> np.ndarray:
        """Which passages hold the normalised ``phrase`` as whole words (kept for the next query)."""
        with self._lock:
            found = self._holding.get(phrase)
        if found is not None:
            return found
        mask = np.zeros(len(self), dtype=bool)
        if phrase:
            positions = [m.start() for m in re.finditer(re.escape(f" {phrase} "), self.corpus)]
            if positions:
                mask[np.searchsorted(self.offsets, np.array(positions), side="right") - 1] = True
        with self._lock:
            if len(self._holding) >= PHRASES_KEPT:
                self._holding.clear()
            self._holding[phrase] = mask
        return mask

    def chronological(self, rows: np.ndarray, newest: bool) -> np.ndarray:
        """``rows`` in date order (undated last), each briefing's passages in reading order."""
        order = self.newest if newest else self.oldest
        chosen = np.zeros(len(self), dtype=bool)
        chosen[rows] = True
        return order[chosen[order]]

    def windows_of(self, rows: np.ndarray) -> np.ndarray:
        """Every window of the given passages."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.int64)
        first = self.table.first_window[rows]
        counts = self.table.window_count[rows]
        starts = np.repeat(first - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        return (starts + np.arange(int(counts.sum()))).astype(np.int64)

    def timeline(self, rows: np.ndarray, filters: Filters, all_dates: list[str]) -> Timeline:
        """Matches per month (per year over more than ``MAX_MONTHS`` months), zero buckets included,
        over the span of the archive's dates within the date filters."""
        dates = self.dates[rows]
        dated = dates != ""
        span = [d for d in all_dates if d and (not filters.date_from or d >= filters.date_from)
                and (not filters.date_to or d <= filters.date_to)]
        undated_rows = rows[~dated]
        buckets: list[Bucket] = []
        unit = "month"
        if span:
            first, last = date.fromisoformat(span[0]), date.fromisoformat(span[-1])
            months = (last.year - first.year) * 12 + last.month - first.month + 1
            unit = "year" if months > MAX_MONTHS else "month"
            width = 4 if unit == "year" else 7
            keys = dates[dated].astype(f"U{width}").tolist()
            passages: dict[str, int] = {}
            seen: set[tuple[str, int]] = set()
            for key, doc in zip(keys, self.docs[rows][dated].tolist()):
                passages[key] = passages.get(key, 0) + 1
                seen.add((key, doc))
            briefings: dict[str, int] = {}
            for key, _ in seen:
                briefings[key] = briefings.get(key, 0) + 1
            for period, low, high in _periods(first, last, unit):
                buckets.append(Bucket(period, low, high, passages.get(period, 0), briefings.get(period, 0)))
        return Timeline(
            unit=unit, buckets=tuple(buckets), passages=int(len(rows)),
            briefings=int(len(np.unique(self.docs[rows]))),
            undated_passages=int(len(undated_rows)), undated_briefings=int(len(np.unique(self.docs[undated_rows]))),
        )


def _periods(first: date, last: date, unit: str) -> list[tuple[str, str, str]]:
    """Each month (or year) from ``first`` to ``last``: (label, first day, last day)."""
    import calendar

    periods = []
    if unit == "year":
        for year in range(first.year, last.year + 1):
            periods.append((f"{year:04d}", f"{year:04d}-01-01", f"{year:04d}-12-31"))
        return periods
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        end = calendar.monthrange(year, month)[1]
        periods.append((f"{year:04d}-{month:02d}", f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-{end:02d}"))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return periods


def match_rows(archive: Archive, store: Store, parsed: Parsed, filters: Filters,
               query_vector: np.ndarray | None, floor: float = MATCH_FLOOR) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows of the passages that match, in row order, and (for a query matched by meaning)
    each passage's best cosine by row (None otherwise)."""
    mask = archive.allowed(filters, parsed.speakers)
    for phrase in parsed.phrases:
        mask = mask & archive.holding(phrase)
    for phrase in parsed.excluded:
        mask = mask & ~archive.holding(phrase)
    best = None
    if not parsed.phrases and query_vector is not None:
        chunks, cosines = store.dense_scan(query_vector, floor)
        best = np.full(len(archive), -1.0, dtype=np.float32)
        if len(chunks):
            np.maximum.at(best, chunks, cosines)
        mask = mask & (best >= floor)
    return np.flatnonzero(mask), best


def phrase_pattern(phrase: str) -> re.Pattern:
    """A regex finding a normalised phrase in raw text: its words, any non-word run between them."""
    words = phrase.split()
    return re.compile(r"(?<![^\W_])" + r"[\W_]+".join(re.escape(w) for w in words) + r"(?![^\W_])", re.IGNORECASE)


def phrase_marks(raw: str, start: int, end: int, phrases: tuple[str, ...]) -> list[tuple[int, int]]:
    """Raw-file offsets of every occurrence of the phrases inside ``raw[start:end]``, in order, not overlapping."""
    found = []
    for phrase in phrases:
        for match in phrase_pattern(phrase).finditer(raw, start, end):
            found.append((match.start(), match.end()))
    marks: list[tuple[int, int]] = []
    for mark in sorted(found):
        if not marks or mark[0] >= marks[-1][1]:
            marks.append(mark)
    return marks[:MAX_MARKS]
