"""The Milvus store: one index as a set of Milvus collections behind one alias, as a server reads it.

A published index is one *generation* of five collections, named ``{prefix}_{kind}_{generation}``,
updated in place by later publishes, document by document:

- ``windows``: one row per window: its key, the 384-dimension unit vector (FLAT up to 200,000
  windows, HNSW above; inner product), the app's stemmed tokens (``tokens``, analysed by Milvus's
  ``standard`` analyser into the ``sparse`` field by a BM25 function), the token count, its
  document's ``slot``, its passage (``chunk``, numbered within the document), raw-file offsets,
  and the filter fields (``doc_id``, ``speaker_key``, ``is_question``, ``date``).
- ``chunks``: one row per passage: the passage as JSON, the tokens of the passage with the
  question it answers (``tokens`` -> ``sparse``, BM25), its windows (numbered within the
  document), the slot and the same filter fields.
- ``documents``: one row per briefing version, keyed by its slot: metadata, content hash and
  profile tokens (title, date in words, speakers).
- ``terms``: per stemmed word and publish, how many windows, passages-with-question and
  profiles hold it (the corpus statistics the app's BM25 needs); a publish writes a row only
  for the words of the briefings it adds, changes or removes, tagged with its number.
- ``blobs``: texts too long for one field (raw transcripts, turns, each briefing's words), in
  parts, each tagged with its slot.

**Slots and keys.** Each version of a briefing gets a *slot*, a number never used before in the
generation (a changed briefing gets a new one); its rows are keyed ``slot << 20 | n``, ``n``
its window or passage number within the briefing, so an unchanged briefing keeps its keys
whatever else is published. The numbers the ranker sees are the embedded index's positions
(``qa.stores.seam``): the manifest lists the briefings in the index's order with each one's
slot and its counts of windows and passages, and the reader turns keys into positions with
those offsets (memory by briefing, never by row).

**The visibility rule.** A reader uses only the rows of the briefing versions its manifest
lists: the manifest names the highest slot it uses and the *hidden* slots (versions replaced or
removed by this publish or the one before, which may still be stored), every search and query
filters ``slot <= last_slot and slot not in hidden`` (and ``terms`` rows ``publish <= its
number``, the newest one per word), and rows are read by keys computed from listed slots only.
A publish writes the new versions' rows under fresh slots, flushes them, and only then writes its
manifest into a new small collection ``{prefix}_manifest_{generation}_{publish}`` and moves the
alias ``{prefix}`` to it in one step (``alter_alias``), so every reader passes from the whole
old archive to the whole new one; rows of versions hidden since the publish before are deleted
after the switch (readers of the previous manifest still find theirs). A publish killed at any
point leaves the alias on the previous manifest, whose readers never see the unswitched rows;
the next publish first deletes them (slots above the live manifest's last slot, terms of later
publishes) and finishes the clean-up the killed one owed. A new generation (all five
collections written again, then the alias moved) is made when the schema, the encoder, the
pipeline or the vector index kind changes, when most briefings changed, and on ``--full``.

``qa.stores.milvus_publish`` writes generations and publishes; this module reads them, and
holds what both need (the names, keys, schema version, the connection, the filter expressions).
The alias names the manifest collection now served: that name is the archive's version
(``current_generation``, read by the reloader and shown by ``/healthz`` through the store).

The BM25 search of Milvus picks the lexical *candidates*; the BM25 values the ranker fuses are
computed from the stored tokens and ``terms`` by ``qa.lexical.token_scores_of_rows`` (one formula),
so they equal the embedded store's, and occasion-free BM25 and the document prior work as there.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import numpy as np

from qa.chunking import Chunk
from qa.lexical import idf, token_scores_of_rows
from qa.query import Filters
from qa.stores.milvus_slots import SLOT_SHIFT, Layout, row_key, visible
from qa.stores.seam import Catalogue, IndexLoadError, PassageTable, StoreUnavailable, WindowRows, conditions
from qa.transcripts import Transcript, turns_from_rows

SCHEMA_VERSION = 2  # 2: rows keyed by slot, briefings published one by one; documents carry their copies
DEFAULT_PREFIX = "briefing_qa"
KINDS = ("windows", "chunks", "documents", "terms", "blobs")
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,120}")
TIMEOUT = 10.0  # seconds: a store call that takes longer is "unavailable"
_ROW_CACHE = 20_000  # rows of each kind kept: a published manifest's rows never change
_SCAN_LIMIT = 16_384  # the most hits one Milvus search returns (dense_scan)


def check_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix or ""):
        raise ValueError(f"collection prefix {prefix!r} must be letters, digits and _ (not starting with a digit)")
    return prefix


_clients: dict[str, object] = {}


def connect(uri: str):
    """One ``MilvusClient`` per URI and process: a milvus-lite file path or ``http://host:19530``."""
    client = _clients.get(uri)
    if client is None:
        # pymilvus logs every failed call with a traceback; the errors reach the user as messages.
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        try:
            from pymilvus import MilvusClient

            client = _clients[uri] = MilvusClient(uri=uri, timeout=TIMEOUT)
        except Exception as error:  # pymilvus raises its own and grpc's errors
            raise StoreUnavailable(f"cannot reach the Milvus store at {uri}: {_short(error)}") from None
    return client


def _short(error: Exception) -> str:
    return " ".join(str(error).split())[:300]


def _unavailable(uri: str, error: Exception) -> StoreUnavailable:
    return StoreUnavailable(f"the Milvus store at {uri} did not answer: {_short(error)}")


def current_generation(uri: str, prefix: str) -> str | None:
    """The collection the alias names now, ``{prefix}_manifest_{generation}_{publish}`` (None:
    nothing published): the version of the archive served, for reload checks."""
    client = connect(uri)
    try:
        if prefix not in client.list_aliases(timeout=TIMEOUT).get("aliases", []):
            return None
        return client.describe_alias(prefix, timeout=TIMEOUT)["collection_name"]
    except Exception as error:
        raise _unavailable(uri, error) from None


def collection_name(prefix: str, kind: str, generation: str) -> str:
    return f"{prefix}_{kind}_{generation}"


def manifest_name(prefix: str, generation: str, publish: int) -> str:
    """The small collection holding one publish's manifest (the alias names the one served)."""
    return f"{prefix}_manifest_{generation}_{int(publish)}"


def parse_manifest_name(prefix: str, name: str) -> tuple[str, int] | None:
    """(generation, publish) of a manifest collection's name, None for any other name."""
    match = re.fullmatch(rf"{re.escape(prefix)}_manifest_(g\d+)_(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else None


def escape(value: str | list[str]) -> str:
    """A string (or a list of them) as a literal of a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def filter_expression(filters: Filters) -> str:
    """The filters' conditions (``qa.stores.seam.conditions``) as a Milvus boolean expression over
    the filter fields."""
    wanted = conditions(filters)
    parts = []
    if len(wanted.speaker_keys) == 1:
        parts.append(f"speaker_key == {escape(wanted.speaker_keys[0])}")
    elif wanted.speaker_keys:
        parts.append(f"speaker_key in {escape(list(wanted.speaker_keys))}")
    if not wanted.questions:
        parts.append("is_question == false")
    if not wanted.answers:
        parts.append("is_question == true")
    if wanted.doc_id:
        parts.append(f"doc_id == {escape(wanted.doc_id)}")
    if wanted.dates:
        parts.append('date != ""')
        low, high = wanted.dates
        if filters.date_from:
            parts.append(f"date >= {escape(low)}")
        if filters.date_to:
            parts.append(f"date <= {escape(high)}")
    return " and ".join(parts)


def read_manifest(client, served: str) -> dict:
    """The manifest in the collection ``served`` (the one the alias names)."""
    return json.loads(read_blob(client, served, "manifest"))


def check_manifest(manifest: dict, prefix: str, model: str | None) -> None:
    """Refuse a manifest of another schema version, or of another model than the one configured."""
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexLoadError(f"the Milvus index {prefix!r} has schema version {manifest.get('schema_version')}, "
                             f"this program reads {SCHEMA_VERSION}: publish it again")
    if model is not None and manifest.get("model") != model:
        raise IndexLoadError(
            f"the Milvus index {prefix!r} was built with model {manifest.get('model')!r}, but the configured "
            f"model is {model!r}: use --model {manifest.get('model')!r} (or QA_MODEL), or rebuild it"
        )


def documents_rows(client, collection: str, slots: Sequence[int]) -> list[dict]:
    """The documents rows of these slots (read 10,000 at a time: a query returns at most 16,384)."""
    rows: list[dict] = []
    for first in range(0, len(slots), 10_000):
        rows += client.query(collection, ids=[int(s) for s in slots[first : first + 10_000]],
                             output_fields=["doc_id", "path", "title", "date", "source", "url", "format",
                                            "content_hash", "copies", "tokens"], timeout=TIMEOUT)
    return rows


# ---------------------------------------------------------------------------------------------
# Reading


class MilvusStore(Catalogue):
    """One published manifest of a generation, read through pymilvus (``qa.stores.seam.Store``)."""

    kind = "milvus"

    def __init__(self, client, uri: str, prefix: str, manifest: dict, rows: list[dict]) -> None:
        self.client = client
        self.uri = uri
        self.prefix = prefix
        self.generation = manifest["generation"]
        self.publish = int(manifest["publish"])
        self.manifest = manifest
        self.directory = None
        self.stats = manifest["statistics"]
        self.layout = Layout.from_json(manifest["catalogue"])
        # Every search and scan sees only the briefing versions this manifest lists.
        self.visible = visible(int(manifest["last_slot"]), manifest["hidden"])
        by_slot = {int(row["id"]): row for row in rows}
        rows = [by_slot[int(slot)] for slot in self.layout.slots]
        self._catalogue(list(self.layout.doc_ids), list(manifest["speakers"]), (row["date"] for row in rows))
        self._doc_rows = {row["doc_id"]: row for row in rows}
        self._profiles = [row["tokens"].split(" ") if row["tokens"] else [""] for row in rows]
        self._profile_sets = [frozenset(t for t in tokens if t) for tokens in self._profiles]
        self.documents = _Documents(self)
        self.chunks = _Chunks(self)
        self._windows: OrderedDict[int, dict] = OrderedDict()
        self._chunk_rows: OrderedDict[int, dict] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._df: dict[str, dict] = {}
        self._passage_table: PassageTable | None = None

    @property
    def version(self) -> str:
        """Which version of the archive this store reads: generation and publish number."""
        return f"{self.generation}/{self.publish}"

    def collection(self, kind: str) -> str:
        return collection_name(self.prefix, kind, self.generation)

    def where(self, expression: str = "") -> str:
        """``expression`` and the visibility rule."""
        return f"({expression}) and {self.visible}" if expression else self.visible

    @classmethod
    def open(cls, uri: str, prefix: str = DEFAULT_PREFIX, model: str | None = None) -> MilvusStore:
        check_prefix(prefix)
        client = connect(uri)
        served = current_generation(uri, prefix)
        if served is None:
            raise IndexLoadError(
                f"no index named {prefix!r} in the Milvus store at {uri}: publish one with "
                f"'qa index --store milvus --milvus-uri {uri} --milvus-prefix {prefix}'"
            )
        try:
            manifest = read_manifest(client, served)
        except Exception as error:
            raise _unavailable(uri, error) from None
        check_manifest(manifest, prefix, model)
        try:
            for kind in KINDS:
                ensure_loaded(client, collection_name(prefix, kind, manifest["generation"]))
            rows = documents_rows(client, collection_name(prefix, "documents", manifest["generation"]),
                                  manifest["catalogue"]["slots"])
        except Exception as error:
            raise _unavailable(uri, error) from None
        return cls(client, uri, prefix, manifest, rows)

    def call(self, method: str, *args, **kwargs):
        try:
            return getattr(self.client, method)(*args, timeout=TIMEOUT, **kwargs)
        except Exception as error:
            if "load()" not in str(error) or not args:
                raise _unavailable(self.uri, error) from None
        # A restarted server has the collections but not loaded: load once and ask again.
        try:
            ensure_loaded(self.client, args[0])
            return getattr(self.client, method)(*args, timeout=TIMEOUT, **kwargs)
        except Exception as error:
            raise _unavailable(self.uri, error) from None

    def check(self) -> None:
        self.call("query", self.collection("terms"), ids=[""], output_fields=["token"])

    # -- candidates ------------------------------------------------------------------------

    def candidate_depth(self, depth: int, filters: Filters) -> int:
        # Counting the allowed windows would cost a round trip: searches return what there is.
        if filters.doc_id and filters.doc_id not in self.doc_number:
            return 0
        return depth

    def dense_candidates(self, query_vector: np.ndarray, depth: int, filters: Filters) -> np.ndarray:
        """The ``depth`` closest windows, ties in window order: Milvus is asked for a few more, as
        which of tied rows it returns at the cut depends on how its segments lie (how the archive
        was published), and the app cuts."""
        hits = self.call(
            "search", self.collection("windows"), data=[np.asarray(query_vector, dtype=np.float32).tolist()],
            anns_field="vector", limit=min(depth + max(depth // 4, 16), _SCAN_LIMIT), filter=self.where(filter_expression(filters)),
            search_params={"metric_type": "IP", "params": {"ef": max(2 * depth, 64)}},  # ef: HNSW only
        )
        numbers = self.layout.window_numbers(np.array([hit["id"] for hit in hits[0]], dtype=np.int64))
        cosines = np.array([hit["distance"] for hit in hits[0]], dtype=np.float32)
        return numbers[np.lexsort((numbers, -cosines))][:depth]

    def lexical_candidates(self, part: str, tokens: Sequence[str], depth: int, filters: Filters) -> np.ndarray:
        """Milvus's BM25 search picks twice ``depth`` rows; the app's BM25 (the embedded store's
        values) keeps the best ``depth`` windows of them (ties in window order), so both stores
        choose alike."""
        if not tokens:
            return np.zeros(0, dtype=np.int64)
        kind = "windows" if part == "windows" else "chunks"
        hits = self.call(
            "search", self.collection(kind), data=[" ".join(tokens)], anns_field="sparse", limit=min(2 * depth, 16384),
            filter=self.where(filter_expression(filters)), search_params={"metric_type": "BM25"},
            output_fields=["tokens", "length", "slot"] + ([] if part == "windows" else ["first_window", "window_count"]),
        )
        entities = [hit["entity"] for hit in hits[0]]
        if not entities:
            return np.zeros(0, dtype=np.int64)
        scores = self._bm25(part, tokens, [e["tokens"].split(" ") for e in entities], [e["length"] for e in entities]).sum(axis=0)
        keys = np.array([hit["id"] for hit in hits[0]], dtype=np.int64)
        if part == "windows":
            numbers = self.layout.window_numbers(keys)
            return numbers[np.lexsort((numbers, -scores))][:depth]
        # A passage's windows in the order of its pair BM25, as the embedded store takes them.
        first = self.layout.window_numbers(np.array([row_key(e["slot"], e["first_window"]) for e in entities], dtype=np.int64))
        windows: list[int] = []
        for i in np.lexsort((first, -scores)):
            windows.extend(range(int(first[i]), int(first[i]) + entities[i]["window_count"]))
            if len(windows) >= depth:
                break
        return np.array(windows[:depth], dtype=np.int64)

    # -- rows ------------------------------------------------------------------------------

    def _fetch(self, kind: str, cache: OrderedDict, numbers: Sequence[int], fields_: list[str]) -> list[dict]:
        """The rows at these positions, from the cache (least recently used rows leave it first) or
        fetched by key. The answer is gathered apart from the cache, so neither trimming nor another
        request's trimming can take a row this request needs, however many it needs."""
        wanted = list(dict.fromkeys(int(i) for i in numbers))
        with self._cache_lock:
            found = {}
            for i in wanted:
                row = cache.get(i)
                if row is not None:
                    cache.move_to_end(i)
                    found[i] = row
        missing = np.array([i for i in wanted if i not in found], dtype=np.int64)
        keys = self.layout.window_keys(missing) if kind == "windows" else self.layout.chunk_keys(missing)
        number_of = dict(zip(keys.tolist(), missing.tolist()))
        fetched = []
        for first in range(0, len(keys), 4096):
            for row in self.call("query", self.collection(kind), ids=keys[first : first + 4096].tolist(), output_fields=fields_):
                row = self._positions(kind, number_of[int(row["id"])], row)
                fetched.append(row)
                found[row["id"]] = row
        with self._cache_lock:
            for row in fetched:
                cache[row["id"]] = row
            while len(cache) > _ROW_CACHE:
                cache.popitem(last=False)
        try:
            return [found[int(i)] for i in numbers]
        except KeyError as missing_id:
            raise StoreUnavailable(f"the Milvus index {self.prefix!r} lacks {kind} row {missing_id}") from None

    def _positions(self, kind: str, number: int, row: dict) -> dict:
        """A stored row with the embedded index's positions in place of keys and in-briefing numbers."""
        doc = int(self.layout.documents_of(np.array([row["slot"]]))[0])
        row = {**row, "id": number, "doc": doc}
        if "vector" in row:  # 1.5 KB as float32, not 10 KB as a list of Python floats
            row["vector"] = np.asarray(row["vector"], dtype=np.float32)
        if kind == "windows":
            row["chunk"] = int(self.layout.chunk_start[doc]) + int(row["chunk"])
        elif "first_window" in row:
            row["first_window"] = int(self.layout.window_start[doc]) + int(row["first_window"])
        return row

    def _window_rows(self, windows: Sequence[int]) -> list[dict]:
        return self._fetch("windows", self._windows, windows,
                           ["id", "slot", "chunk", "start", "end", "vector", "tokens", "length", "speaker"])

    def chunk_rows_of(self, rows: Sequence[int]) -> list[dict]:
        return self._fetch("chunks", self._chunk_rows, rows,
                           ["id", "slot", "chunk", "tokens", "length", "first_window", "window_count"])

    def chunk_windows(self, row: int) -> np.ndarray:
        record = self.chunk_rows_of([int(row)])[0]
        return np.arange(record["first_window"], record["first_window"] + record["window_count"], dtype=np.int64)

    def window_rows(self, windows: np.ndarray) -> WindowRows:
        rows = self._window_rows(windows.tolist())
        return WindowRows(
            chunks=np.array([row["chunk"] for row in rows], dtype=np.int64),
            docs=np.array([row["doc"] for row in rows], dtype=np.int64),
            speakers=[row["speaker"] or None for row in rows],
            vectors=np.array([row["vector"] for row in rows], dtype=np.float32).reshape(len(rows), -1),
        )

    def window_span(self, window: int) -> tuple[int, int]:
        row = self._window_rows([int(window)])[0]
        return int(row["start"]), int(row["end"])

    def window_vectors(self, doc_id: str) -> list[dict]:
        """One briefing's windows: start, end and vector (what a build without its folder reuses)."""
        slot = int(self.layout.slots[self.doc_number[doc_id]])
        return self.call("query", self.collection("windows"), filter=f"slot == {slot}", output_fields=["start", "end", "vector"])

    # -- statistics and BM25 -----------------------------------------------------------------

    def _frequencies(self, tokens: Sequence[str]) -> dict[str, dict]:
        known = {t: self._df.get(t) for t in dict.fromkeys(tokens)}
        missing = [t for t, row in known.items() if row is None]
        if missing:
            # A filter with escaped literals: pymilvus writes string ids into the expression
            # unescaped, so a word like "i'm" broke the query. A word's newest row up to this
            # publish holds its counts.
            rows = self.call("query", self.collection("terms"),
                              filter=f"token in {escape(missing)} and publish <= {self.publish}",
                              output_fields=["token", "publish", "windows", "pairs", "documents"])
            found: dict[str, dict] = {}
            for row in sorted(rows, key=lambda row: row["publish"]):
                found[row["token"]] = row
            if len(self._df) > 200_000:
                self._df.clear()
            for token in missing:
                known[token] = self._df[token] = found.get(token, {"windows": 0, "pairs": 0, "documents": 0})
        # From ``known``: another request may clear the shared dict meanwhile.
        return {t: known[t] for t in tokens}

    def _bm25(self, part: str, tokens: Sequence[str], rows: list[list[str]], lengths: Sequence[int]) -> np.ndarray:
        frequencies = self._frequencies(tokens)
        stats = self.stats[part]
        return token_scores_of_rows(tokens, rows, lengths, [frequencies[t][part] for t in tokens], stats["count"],
                                    stats["average_length"])

    def token_scores_at(self, part: str, tokens: Sequence[str], ids: np.ndarray) -> np.ndarray:
        if not tokens or len(ids) == 0:
            return np.zeros((len(tokens), len(ids)), dtype=np.float32)
        rows = self._window_rows(ids.tolist()) if part == "windows" else self.chunk_rows_of(ids.tolist())
        return self._bm25(part, tokens, [row["tokens"].split(" ") for row in rows], [row["length"] for row in rows])

    def document_scores(self, tokens: Sequence[str], docs: np.ndarray) -> np.ndarray:
        if not tokens:
            return np.zeros(len(docs), dtype=np.float32)
        known = [t for t in tokens if self._frequencies([t])[t]["documents"] > 0]
        distinct = list(dict.fromkeys(known))
        per_token = self._bm25("documents", distinct, [self._profiles[int(d)] for d in docs],
                               [len(self._profiles[int(d)]) for d in docs])
        counts = Counter(known)
        weights = np.array([counts[t] for t in distinct], dtype=np.float32).reshape(-1, 1)
        return (per_token * weights).sum(axis=0) if distinct else np.zeros(len(docs), dtype=np.float32)

    def profile_tokens(self, docs: np.ndarray) -> list[frozenset[str]]:
        return [self._profile_sets[int(d)] for d in docs]

    def idf(self, tokens: Sequence[str]) -> dict[str, float]:
        total = self.stats["windows"]["count"]
        frequencies = self._frequencies(list(dict.fromkeys(tokens)))
        return {t: idf(total, f["windows"]) for t, f in frequencies.items()}

    # -- documents and chunks ----------------------------------------------------------------

    def transcript(self, doc_id: str) -> Transcript:
        return self.transcripts([doc_id])[0]

    def transcripts(self, doc_ids: Sequence[str]) -> list[Transcript]:
        """Documents with their raw text and turns, read in one query."""
        slots = {doc_id: int(self.layout.slots[self.doc_number[doc_id]]) for doc_id in doc_ids}
        names = [f"{kind}:{slots[doc_id]}" for doc_id in doc_ids for kind in ("raw", "turns")]
        rows = self.call("query", self.collection("blobs"), filter=f"name in {escape(names)}",
                          output_fields=["name", "part", "text"])
        texts: dict[str, list[tuple[int, str]]] = {}
        for row in rows:
            texts.setdefault(row["name"], []).append((row["part"], row["text"]))
        joined = {name: "".join(text for _, text in sorted(parts)) for name, parts in texts.items()}
        missing = [name for name in names if name not in joined]
        if missing:
            raise StoreUnavailable(f"the Milvus index {self.prefix!r} lacks {missing[0]}")
        return [self._transcript(doc_id, joined[f"raw:{slots[doc_id]}"], json.loads(joined[f"turns:{slots[doc_id]}"]))
                for doc_id in doc_ids]

    def _transcript(self, doc_id: str, raw: str, turns: list) -> Transcript:
        row = self._doc_rows[doc_id]
        return Transcript(
            doc_id=doc_id, path=row["path"], title=row["title"], date=row["date"] or None, source=row["source"] or None,
            url=row["url"] or None, raw=raw, format=row["format"], content_hash=row["content_hash"],
            copies=json.loads(row["copies"] or "[]"),
            turns=turns_from_rows(turns),
        )

    def chunk(self, row: int) -> Chunk:
        record = self.chunk_rows_of([int(row)])[0]
        return replace(Chunk.from_json(record["chunk"]), chunk_id=int(row))

    # -- whole-archive scans ---------------------------------------------------------------------

    def passage_rows(self, fields_: Sequence[str]) -> Iterator[dict]:
        """Every passage's row in order (positions, not keys), read a few briefings at a time."""
        layout = self.layout
        counts = np.diff(layout.chunk_start)
        first = 0
        while first < len(layout.slots):
            last = first + 1
            while last < len(layout.slots) and layout.chunk_start[last + 1] - layout.chunk_start[first] <= 10_000:
                last += 1
            rows = self.call("query", self.collection("chunks"), filter=f"slot in {layout.slots[first:last].tolist()}",
                             output_fields=["id", "slot", *fields_])
            if len(rows) != int(counts[first:last].sum()):
                raise StoreUnavailable(f"the Milvus index {self.prefix!r} returned {len(rows)} of "
                                       f"{int(counts[first:last].sum())} passages")
            keys = np.array([row["id"] for row in rows], dtype=np.int64)
            positions = layout.chunk_rows(keys >> SLOT_SHIFT, keys & ((1 << SLOT_SHIFT) - 1))
            for position, row in sorted(zip(positions.tolist(), rows), key=lambda pair: pair[0]):
                yield self._positions("chunks", position, row)
            first = last

    def passage_table(self) -> PassageTable:
        """Every passage, read once a few briefings at a time and kept for this manifest: correct,
        but the replica then holds all passages' text (about the size of the transcripts)."""
        with self._cache_lock:
            table = self._passage_table
        if table is not None:
            return table
        records = list(self.passage_rows(["chunk", "first_window", "window_count"]))
        table = PassageTable(
            chunks=[replace(Chunk.from_json(record["chunk"]), chunk_id=record["id"]) for record in records],
            docs=np.array([record["doc"] for record in records], dtype=np.int64),
            first_window=np.array([record["first_window"] for record in records], dtype=np.int64),
            window_count=np.array([record["window_count"] for record in records], dtype=np.int64),
            doc_dates=[self._doc_rows[doc_id]["date"] or None for doc_id in self.doc_ids],
        )
        with self._cache_lock:
            self._passage_table = table
        return table

    def dense_scan(self, query_vector: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
        """A range search (cosine >= floor). Milvus returns at most 16,384 windows a search: a question
        close to more windows than that is cut there (the closest kept)."""
        hits = self.call(
            "search", self.collection("windows"), data=[np.asarray(query_vector, dtype=np.float32).tolist()],
            anns_field="vector", limit=_SCAN_LIMIT, output_fields=["chunk", "slot"], filter=self.visible,
            search_params={"metric_type": "IP", "params": {"radius": float(floor), "range_filter": 1.01,
                                                             "ef": _SCAN_LIMIT}},
        )
        kept = [(hit["entity"], hit["distance"]) for hit in hits[0] if hit["distance"] >= floor]
        rows = self.layout.chunk_rows(np.array([e["slot"] for e, _ in kept], dtype=np.int64),
                                      np.array([e["chunk"] for e, _ in kept], dtype=np.int64))
        return rows.astype(np.int64), np.array([cosine for _, cosine in kept], dtype=np.float32)


class _Documents(Mapping):
    """Documents by id, read from the store when asked (a few kept)."""

    def __init__(self, store: MilvusStore) -> None:
        self.store = store
        self._cache: OrderedDict[str, Transcript] = OrderedDict()

    def __getitem__(self, doc_id: str) -> Transcript:
        if doc_id not in self.store.doc_number:
            raise KeyError(doc_id)
        transcript = self._cache.get(doc_id)
        if transcript is None:
            transcript = self._cache[doc_id] = self.store.transcript(doc_id)
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
        return transcript

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.store.doc_number

    def values(self):  # type: ignore[override]
        """Every document, read 32 at a time (the document list of the API and pages)."""
        for first in range(0, len(self), 32):
            yield from self.store.transcripts(self.store.doc_ids[first : first + 32])

    def __iter__(self) -> Iterator[str]:
        return iter(self.store.doc_ids)

    def __len__(self) -> int:
        return len(self.store.doc_ids)


class _Chunks(Sequence):
    """Passages by row, read from the store when asked."""

    def __init__(self, store: MilvusStore) -> None:
        self.store = store

    def __len__(self) -> int:
        return int(self.store.manifest["chunk_count"])

    def __iter__(self) -> Iterator[Chunk]:
        for record in self.store.passage_rows(["chunk"]):
            yield replace(Chunk.from_json(record["chunk"]), chunk_id=record["id"])

    def __getitem__(self, row):  # type: ignore[override]
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if not 0 <= int(row) < len(self):
            raise IndexError(row)
        return self.store.chunk(int(row))



def ensure_loaded(client, collection: str) -> None:
    """Load a collection that is not loaded (a new milvus-lite process, a restarted server).

    Only then: loading one loaded with more replicas, with the default of one, would be refused.
    """
    if str(client.get_load_state(collection, timeout=TIMEOUT)["state"]) != "Loaded":
        client.load_collection(collection, timeout=TIMEOUT)


def read_blob(client, collection: str, name: str) -> str:
    ensure_loaded(client, collection)
    rows = client.query(collection, filter=f"name == {escape(name)}", output_fields=["part", "text"], timeout=TIMEOUT)
    if not rows:
        raise KeyError(f"{collection} has no {name}")
    return "".join(row["text"] for row in sorted(rows, key=lambda row: row["part"]))
