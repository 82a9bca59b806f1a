"""Serving one index for as long as a server runs: load it, swap in a rebuilt one, give memory back."""

from __future__ import annotations

import logging
import threading
import time

from qa.answering import AnswerModel
from qa.search import Searcher
from qa.settings import Settings
from qa.stores.open import open_store, store_version, version_is_remote

logger = logging.getLogger("qa.api")


def load_searcher(settings: Settings) -> Searcher:
    """Load the index and the model named in settings (one model load per process).

    Each query then runs on one core: its numeric libraries (OpenBLAS, FAISS's OpenMP) are
    limited to one thread in this process, as the query encoder is. A query is too small to
    gain from more, and idle pool threads spinning between calls took the other core from
    concurrent requests (measured: the same p50, half the CPU per query; README.md).
    """
    from threadpoolctl import threadpool_limits

    from qa.embedding import check_prompts, get_encoder

    threadpool_limits(1)

    index = open_store(settings)
    # Questions are embedded the way the index's passages were: its model (unless one is named,
    # which must then be the index's), its backend, its prompts.
    encoder = get_encoder(settings.model or index.model, index.encoder_backend)
    check_prompts(index.manifest.get("prompts"), encoder, "the index")
    answer_model = AnswerModel.load(settings.answer_model) if settings.answer_model else None
    return Searcher(index, encoder, settings.max_question_chars, settings.max_k, answer_model=answer_model)


class Reloader:
    """Holds the current searcher and swaps in a newly built index without a restart.

    At most once a second a request looks at where the index link points and at its manifest;
    when they changed, a background thread loads the new index while requests go on with the
    old one, then swaps it in with one assignment. A new index that fails to load is logged and
    the old one kept.
    """

    CHECK_EVERY = 1.0

    def __init__(self, settings: Settings, searcher: Searcher | None, watch: bool) -> None:
        self.settings = settings
        self.searcher = searcher
        self.watch = watch
        self.reloads = 0
        self.refused: str | None = None  # why the last rebuilt index was refused (None: it was not)
        self._stamp = self._read_stamp()
        self._checked = time.monotonic()
        self._loading = threading.Lock()

    def _read_stamp(self) -> tuple | None:
        return store_version(self.settings)

    def current(self) -> Searcher:
        if self.watch and time.monotonic() - self._checked >= self.CHECK_EVERY:
            self._checked = time.monotonic()
            if version_is_remote(self.settings):
                # A network call: never in a request.
                if self._loading.acquire(blocking=False):
                    threading.Thread(target=self._check_in_background, daemon=True).start()
            else:
                stamp = self._read_stamp()
                if stamp is not None and stamp != self._stamp and self._loading.acquire(blocking=False):
                    threading.Thread(target=self._reload, args=(stamp,), daemon=True).start()
        return self.searcher

    def _check_in_background(self) -> None:
        """With the lock held: reload when the stamp changed, else just let the lock go."""
        stamp = self._read_stamp()
        if stamp is not None and stamp != self._stamp:
            self._reload(stamp)
        else:
            self._loading.release()

    def _reload(self, stamp: tuple) -> None:
        try:
            self.searcher = load_searcher(self.settings)
            self.reloads += 1
            self.refused = None
            logger.info("loaded the new index at %s", stamp[0])
            # Requests still on the old index finish within seconds; then give its memory back,
            # and once more later for what the slowest of them held.
            time.sleep(5)
            _release_memory()
            later = threading.Timer(30, _release_memory)
            later.daemon = True
            later.start()
        except Exception as error:  # keep serving the old index
            self.refused = f"the new index at {stamp[0]} did not load: {error}"
            logger.error("the new index at %s did not load, still serving the old one: %s", stamp[0], error)
        finally:
            self._stamp = stamp
            self._loading.release()


def return_large_blocks_to_the_system() -> None:
    """Make glibc give every block of 128 KB or more its own mapping, returned on free.

    By default glibc raises that threshold as large blocks are freed, and then keeps freed
    blocks in per-thread heaps: a query's arrays (BM25 over every window, hundreds of KB each)
    freed by 32 concurrent request threads stayed resident, and the server grew by a fifth
    under load. With the threshold fixed they go back to the system at once (measured: RSS
    +6% instead of +27% across a load test with an index swap; the same query latency).
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc: its allocator decides
        pass


_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


def _release_memory() -> None:
    """Collect the old index and return freed heap to the system (glibc keeps it otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
