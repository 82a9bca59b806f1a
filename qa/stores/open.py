"""The one place a store is chosen: the embedded index folder or a Milvus collection set, and
how to tell which version of it is there now (for the reloader).

It stands above both stores (``qa.stores.embedded``, ``qa.stores.milvus``) and imports each only
when the settings name it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from qa.stores.seam import STORES, Store, StoreUnavailable

if TYPE_CHECKING:
    from qa.settings import Settings


def open_store(settings: Settings) -> Store:
    """The store the settings name: the embedded index folder, or a Milvus collection set."""
    if settings.store not in STORES:
        raise ValueError(f"unknown store {settings.store!r}: use one of {', '.join(STORES)} (QA_STORE or --store)")
    if settings.store == "milvus":
        from qa.stores.milvus import MilvusStore

        return MilvusStore.open(settings.milvus_uri, settings.milvus_prefix, model=settings.model)
    from pathlib import Path

    from qa.stores.embedded import Index

    return Index.load(Path(settings.index_dir), model=settings.model)


def version_is_remote(settings: Settings) -> bool:
    """Whether reading the store's version is a network call (never to be made in a request)."""
    return settings.store == "milvus"


def store_version(settings: Settings) -> tuple | None:
    """What changes when the store the settings name is rebuilt or republished: the index folder's
    manifest (its real path, time and size), or the collection the Milvus alias names (None: not
    known now)."""
    if settings.store == "milvus":
        from qa.stores.milvus import current_generation

        try:
            generation = current_generation(settings.milvus_uri, settings.milvus_prefix)
        except StoreUnavailable:
            return None
        return (generation,) if generation else None
    try:
        target = os.path.realpath(settings.index_dir)
        stat = os.stat(os.path.join(target, "manifest.json"))
        return target, stat.st_mtime_ns, stat.st_size
    except OSError:
        return None
