"""Knowledge: ingestion, chunking, SQLite + FTS5 store, FAISS index, filtered hybrid search."""

from desktop.engine.knowledge.builder import BuildOptions, Progress, build
from desktop.engine.knowledge.chunker import ChunkParams
from desktop.engine.knowledge.errors import FileRejected, IndexUnusable
from desktop.engine.knowledge.search import FusionParams, Hit, Retriever
from desktop.engine.knowledge.store import KnowledgeStore

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
