"""Where each briefing's rows lie in a Milvus generation: its slot, and the positions the ranker sees.

A manifest lists the briefings of one publish in the embedded index's order, each with its slot
(``qa.stores.milvus``: rows are keyed ``slot << SLOT_SHIFT | n``) and its counts of windows and
passages. ``Layout`` turns row keys into the embedded index's positions (window number, passage
row, document number) and back, with arrays by briefing only; ``visible`` is the filter that
keeps a reader to the rows its manifest lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SLOT_SHIFT = 20
_LOCAL = (1 << SLOT_SHIFT) - 1


@dataclass(frozen=True)
class Layout:
    """The briefings one manifest serves, in order: ids, slots, and where their rows start."""

    doc_ids: tuple[str, ...]
    slots: np.ndarray  # int64, by document number
    window_start: np.ndarray  # int64, documents + 1: the first window number of each document
    chunk_start: np.ndarray  # int64, documents + 1: the first passage row of each document
    slot_order: np.ndarray  # the document numbers in the order of their slots

    @classmethod
    def of(cls, doc_ids: Sequence[str], slots: Sequence[int], windows: Sequence[int], chunks: Sequence[int]) -> Layout:
        def starts(counts: Sequence[int]) -> np.ndarray:
            out = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(np.asarray(counts, dtype=np.int64), out=out[1:])
            return out

        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        return cls(tuple(doc_ids), slots, starts(windows), starts(chunks), np.argsort(slots, kind="stable"))

    @classmethod
    def from_json(cls, data: dict) -> Layout:
        return cls.of(data["doc_ids"], data["slots"], data["windows"], data["chunks"])

    def to_json(self) -> dict:
        return {"doc_ids": list(self.doc_ids), "slots": self.slots.tolist(),
                "windows": np.diff(self.window_start).tolist(), "chunks": np.diff(self.chunk_start).tolist()}

    @property
    def last_slot(self) -> int:
        return int(self.slots.max()) if len(self.slots) else 0

    def documents_of(self, slots: np.ndarray) -> np.ndarray:
        """The document number of each slot (each must be listed)."""
        order = self.slot_order
        found = np.searchsorted(self.slots[order], slots)
        return order[np.minimum(found, len(order) - 1)]

    def window_keys(self, numbers: np.ndarray) -> np.ndarray:
        return self._keys(np.asarray(numbers, dtype=np.int64), self.window_start)

    def chunk_keys(self, rows: np.ndarray) -> np.ndarray:
        return self._keys(np.asarray(rows, dtype=np.int64), self.chunk_start)

    def window_numbers(self, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.int64)
        return self.window_start[self.documents_of(keys >> SLOT_SHIFT)] + (keys & _LOCAL)

    def chunk_rows(self, slots: np.ndarray, local: np.ndarray) -> np.ndarray:
        """Passage rows from (slot, passage number within the briefing) pairs."""
        return self.chunk_start[self.documents_of(np.asarray(slots, dtype=np.int64))] + np.asarray(local, dtype=np.int64)

    def _keys(self, numbers: np.ndarray, start: np.ndarray) -> np.ndarray:
        docs = np.searchsorted(start, numbers, side="right") - 1
        return (self.slots[docs] << SLOT_SHIFT) | (numbers - start[docs])


def row_key(slot: int, number: int) -> int:
    """The key of a briefing's window or passage ``number`` (within the briefing)."""
    return (int(slot) << SLOT_SHIFT) | int(number)


def visible(last_slot: int, hidden: Sequence[int]) -> str:
    """The filter on ``slot`` that keeps a reader to its manifest's briefing versions."""
    expression = f"slot <= {int(last_slot)}"
    if hidden:
        expression += f" and slot not in {[int(s) for s in sorted(hidden)]}"
    return expression
