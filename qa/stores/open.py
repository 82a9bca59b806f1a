"""The one place a store is chosen: the embedded index folder or a Milvus collection set.

It stands above both stores (``qa.stores.embedded``, ``qa.stores.milvus``) and imports each only
when the settings name it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa.stores.seam import STORES, Store

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
