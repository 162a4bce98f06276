"""Filtered hybrid search: the one retrieval entry point over a knowledge base (or a shard).

Access is decided before ranking: the caller passes the documents and/or partitions (audiences)
the user may see, they become a set of allowed chunk ids, and both BM25 and the vector search run
only over that set, exactly, so top-k never starves. The two rankings are merged with weighted
reciprocal rank fusion; a re-ranker, if given, reorders the fused candidates.

A document's standing (`doc_dates`) then applies: a withdrawn document's chunks are taken out of
the searched set (never retrieved, so never cited), and a superseded document's hits rank below
its successor's best hit when both were found (scores lowered to just under it, so a merge of
several shards by score keeps that order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from desktop.engine.knowledge import vector_index
from desktop.engine.knowledge.builder import DB_NAME, VECTORS_DIR, EmbedderLike, model_identity
from desktop.engine.knowledge.errors import EmbeddingModelMismatch, IndexUnusable
from desktop.engine.knowledge.store import ChunkRecord, KnowledgeStore
from desktop.engine.knowledge.vector_index import FlatIvfIndex

Mode = Literal["hybrid", "bm25", "dense"]
# Up to this many withdrawn chunks are dropped from an over-fetched ranking; above, they are taken
# out of the searched set instead (one set difference per generation, day and filter).
MAX_SKIPPED = 1000
Reranker = Callable[[str, Sequence["Hit"]], Sequence["Hit"]]


@dataclass(frozen=True)
class FusionParams:
    """Weighted RRF: score = sum(weight / (rrf_k + rank)) over the top `candidates` of each side.

    Defaults measured on Cranfield (bench/eval_cranfield.py --tune, all-MiniLM-L6-v2, 222 judged
    queries): nDCG@10 BM25 0.357, dense 0.363, hybrid 0.390 (1.07x the better one). All 60 swept
    settings (bm25 weight 0.5-2, rrf_k 10-100, 30-100 candidates) scored 0.385-0.393, so the usual
    1:1, rrf_k 60 stays: the best setting (rrf_k 10) was ahead by 0.003, within noise. A weight of 0
    turns that side off (the fallback to a single ranking if a corpus ever favours one side).
    """

    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    rrf_k: int = 60
    candidates: int = 50


@dataclass(frozen=True)
class Hit:
    chunk: ChunkRecord
    score: float
    bm25_rank: int | None = None
    dense_rank: int | None = None
    extra: dict[str, float] = field(default_factory=dict)


def verify_index(store: KnowledgeStore, index: FlatIvfIndex) -> None:
    """Refuse to serve when the vector index and SQLite's live chunks disagree."""
    live = store.live_ids()
    if index.ntotal != len(live):
        raise IndexUnusable(f"vector index has {index.ntotal} vectors, database {len(live)} chunks")
    if not np.array_equal(np.sort(index.ids()), live):
        raise IndexUnusable("vector ids do not match the database's chunk ids")


class Retriever:
    def __init__(
        self,
        store: KnowledgeStore,
        index: FlatIvfIndex,
        embedder: EmbedderLike,
        *,
        fusion: FusionParams | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        verify_index(store, index)
        self.store = store
        self.index = index
        self.embedder = embedder
        self.fusion = fusion or FusionParams()
        self.reranker = reranker
        self._allowed_cache: dict[tuple[object, ...], npt.NDArray[np.int64]] = {}
        self._withdrawn: tuple[tuple[int, date], npt.NDArray[np.int64]] | None = None
        self._without_cache: dict[tuple[object, ...], npt.NDArray[np.int64]] = {}

    @classmethod
    def open(cls, folder: Path, embedder: EmbedderLike, **kwargs: object) -> Retriever:
        store = KnowledgeStore.open(folder / DB_NAME)
        try:
            generation = store.generation()
            if generation == 0:
                raise IndexUnusable(f"nothing has been built in {folder} yet")
            index, manifest = vector_index.load_generation(folder / VECTORS_DIR, generation)
            expected = model_identity(embedder)["id"]
            found = manifest.get("embedding_model", {}).get("id")
            if found != expected:
                raise EmbeddingModelMismatch(expected, str(found))
            return cls(store, index, embedder, **kwargs)  # type: ignore[arg-type]
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def allowed_ids(
        self, documents: Collection[str] | None, partitions: Collection[str] | None
    ) -> npt.NDArray[np.int64]:
        """The allowed chunk ids, remembered per filter until the database's generation moves."""
        key = (
            self.store.generation(),
            None if documents is None else frozenset(documents),
            None if partitions is None else frozenset(partitions),
        )
        found = self._allowed_cache.get(key)
        if found is None:
            if len(self._allowed_cache) >= 64 or any(k[0] != key[0] for k in self._allowed_cache):
                self._allowed_cache.clear()
            found = self.store.allowed_chunk_ids(documents, partitions)
            self._allowed_cache[key] = found
        return found

    def withdrawn_ids(self, today: date) -> npt.NDArray[np.int64]:
        """Chunk ids of documents withdrawn by `today`, remembered per generation and day."""
        key = (self.store.generation(), today)
        if self._withdrawn is None or self._withdrawn[0] != key:
            self._withdrawn = (key, self.store.withdrawn_chunk_ids(today))
        return self._withdrawn[1]

    def _without(
        self,
        withdrawn: npt.NDArray[np.int64],
        allowed: npt.NDArray[np.int64] | None,
        documents: Collection[str] | None,
        partitions: Collection[str] | None,
    ) -> npt.NDArray[np.int64]:
        key = (
            self._withdrawn[0] if self._withdrawn else None,
            None if documents is None else frozenset(documents),
            None if partitions is None else frozenset(partitions),
        )
        found = self._without_cache.get(key)
        if found is None:
            if len(self._without_cache) >= 64 or any(k[0] != key[0] for k in self._without_cache):
                self._without_cache.clear()
            base = self.store.live_ids() if allowed is None else allowed
            found = np.setdiff1d(base, withdrawn, assume_unique=True)
            self._without_cache[key] = found
        return found

    def search(
        self,
        query: str,
        k: int = 8,
        *,
        allowed_documents: Collection[str] | None = None,
        allowed_partitions: Collection[str] | None = None,
        mode: Mode = "hybrid",
        fusion: FusionParams | None = None,
        today: date | None = None,
    ) -> list[Hit]:
        fusion = fusion or self.fusion
        allowed = None
        if allowed_documents is not None or allowed_partitions is not None:
            allowed = self.allowed_ids(allowed_documents, allowed_partitions)
        withdrawn = self.withdrawn_ids(today or datetime.now(UTC).date())
        skip: set[int] = set()
        if len(withdrawn) > MAX_SKIPPED:  # many: take them out of the searched set (cached)
            allowed = self._without(withdrawn, allowed, allowed_documents, allowed_partitions)
        elif len(withdrawn):  # a few: fetch that many more of each ranking and drop them (exact)
            skip = set(withdrawn.tolist())
        if allowed is not None and len(allowed) == 0:
            return []
        depth = max(k, fusion.candidates) if mode == "hybrid" else k
        bm25: list[tuple[int, float]] = []
        dense: list[tuple[int, float]] = []
        if mode == "bm25" or (mode == "hybrid" and fusion.bm25_weight > 0):
            found = self.store.keyword_search(query, depth + len(skip), allowed)
            bm25 = [hit for hit in found if hit[0] not in skip][:depth]
        if mode == "dense" or (mode == "hybrid" and fusion.dense_weight > 0):
            qv = self.embedder.embed([query])
            scores, ids = self.index.search(qv, depth + len(skip), allowed)
            dense = [
                (int(i), float(s))
                for i, s in zip(ids[0], scores[0], strict=True)
                if i >= 0 and int(i) not in skip
            ][:depth]
        fused = fuse(bm25, dense, fusion) if mode == "hybrid" else (bm25 or dense)
        records = self.store.fetch_chunks([cid for cid, _ in fused[: max(k, depth)]])
        bm25_rank = {cid: r for r, (cid, _) in enumerate(bm25, start=1)}
        dense_rank = {cid: r for r, (cid, _) in enumerate(dense, start=1)}
        hits = [
            Hit(records[cid], score, bm25_rank.get(cid), dense_rank.get(cid))
            for cid, score in fused
            if cid in records
        ]
        if self.reranker is not None:
            hits = list(self.reranker(query, hits))
        return below_successors(hits)[:k]


def below_successors(hits: Sequence[Hit]) -> list[Hit]:
    """`hits` with each superseded document's hits moved just below its successor's best hit
    (when the successor was found too), scores lowered to match; otherwise in the given order."""
    ordered = list(hits)
    if not any(h.chunk.superseded_by for h in ordered):
        return ordered
    for _ in range(len(ordered)):  # a chain A -> B -> C settles in at most len(hits) rounds
        best: dict[str, float] = {}
        for hit in ordered:
            best[hit.chunk.document_path] = max(
                best.get(hit.chunk.document_path, -math.inf), hit.score
            )
        moved = False
        for i, hit in enumerate(ordered):
            successor = hit.chunk.superseded_by
            if successor and successor != hit.chunk.document_path and successor in best:
                ceiling = math.nextafter(best[successor], -math.inf)
                if hit.score > ceiling:
                    ordered[i] = replace(hit, score=ceiling)
                    moved = True
        if not moved:
            break
        ordered.sort(key=lambda h: -h.score)  # stable: equal scores keep their order
    return ordered


def fuse(
    bm25: Sequence[tuple[int, float]], dense: Sequence[tuple[int, float]], params: FusionParams
) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of two ranked lists of (id, score)."""
    scores: dict[int, float] = {}
    for weight, ranking in ((params.bm25_weight, bm25), (params.dense_weight, dense)):
        for rank, (cid, _) in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (params.rrf_k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
