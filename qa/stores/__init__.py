"""Storage: where the index lives and how ranking and answering read it.

- ``seam``: what ranking and answering read from a store (the ``Store`` protocol, its row
  types, ``StoreUnavailable``, ``IndexLoadError``); it imports no store.
- ``embedded``: the embedded store (``Index``): FAISS and bm25s files in one folder, the default.
  ``qa.build`` writes that folder.
- ``milvus``: the Milvus store a server reads (``MilvusStore``: one published manifest of a
  generation of collections, behind an alias), and what its publisher shares with it (names,
  schema version, the connection, the filter expressions).
- ``milvus_slots``: where each briefing's rows lie (its slot) and the positions the ranker sees.
- ``milvus_publish``: the publisher: an embedded index sent to Milvus briefing by briefing (or as
  a new generation), the alias moved to the new manifest, what no reader uses any more deleted.
- ``open``: ``open_store(settings)``, the one place a store is chosen; it stands above both.

Imports run one way: seam <- embedded, milvus_slots <- milvus <- milvus_publish, open (and ``qa.build``) <- the
search, the API and the command line.
"""
