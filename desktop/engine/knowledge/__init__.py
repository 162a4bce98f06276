"""Knowledge: ingestion, chunking, SQLite + FTS5 store, FAISS index, filtered hybrid search.

The names below are imported on first use (PEP 562): reading a pack needs the store and the
search, not the builder's parsers, OCR and document screens, and the window imports this package
before it is shown (B14, docs/performance.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop.engine.knowledge.builder import BuildOptions, Progress, build
    from desktop.engine.knowledge.chunker import ChunkParams
    from desktop.engine.knowledge.errors import FileRejected, IndexUnusable
    from desktop.engine.knowledge.search import FusionParams, Hit, Retriever
    from desktop.engine.knowledge.store import KnowledgeStore

_WHERE = {
    "BuildOptions": "builder",
    "Progress": "builder",
    "build": "builder",
    "ChunkParams": "chunker",
    "FileRejected": "errors",
    "IndexUnusable": "errors",
    "FusionParams": "search",
    "Hit": "search",
    "Retriever": "search",
    "KnowledgeStore": "store",
}

__all__ = [
    "BuildOptions",
    "ChunkParams",
    "FileRejected",
    "FusionParams",
    "Hit",
    "IndexUnusable",
    "KnowledgeStore",
    "Progress",
    "Retriever",
    "build",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
