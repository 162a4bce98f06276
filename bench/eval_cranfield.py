"""Cranfield retrieval quality: nDCG@10 and Recall@10 for BM25, dense and hybrid, side by side.

    ENCLAVE_MODELS_DIR=... .venv/bin/python bench/eval_cranfield.py [--data DIR] [--work DIR] [--tune]

Builds the 1,400 abstracts through the real pipeline (parse, chunk, embed with the catalog's
embedding GGUF, SQLite FTS5, FAISS), then runs the 225 queries. cranqrel numbers queries 1..225 in
file order (not by .I); relevance codes 1-3 count as relevant, graded gain 4 - code for nDCG.
Queries whose judgments are all code 4 / -1 have no relevant document and are left out (222 remain).
`--work` keeps the index and resumes a partial build. `--tune` also sweeps the fusion parameters
(weights, rrf_k, candidate depth) that chose the FusionParams defaults.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.engine.knowledge import FusionParams, Retriever, build
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.embedder import Embedder

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/datasets/retrieval/cranfield"


def _records(path: Path) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    field = ""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(".I"):
            records.append({"id": line.split()[1]})
            field = ""
        elif line[:2] in (".T", ".A", ".B", ".W") and len(line.strip()) == 2:
            field = line[1]
        elif records and field:
            records[-1][field] = records[-1].get(field, "") + line + "\n"
    return records


def load(data: Path) -> tuple[list[dict[str, str]], list[str], dict[int, dict[int, int]]]:
    docs = _records(data / "cran.all.1400")
    queries = [" ".join(q.get("W", "").split()) for q in _records(data / "cran.qry")]
    qrels: dict[int, dict[int, int]] = {}
    for line in (data / "cranqrel").read_text().split("\n"):
        parts = line.split()
        if len(parts) == 3 and 1 <= int(parts[2]) <= 3:
            qrels.setdefault(int(parts[0]), {})[int(parts[1])] = 4 - int(parts[2])
    return docs, queries, qrels


def ndcg_recall(ranked: list[int], gains: dict[int, int], k: int = 10) -> tuple[float, float]:
    dcg = sum(gains.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    recall = len(set(ranked[:k]) & set(gains)) / len(gains)
    return (dcg / idcg if idcg else 0.0), recall


class CachedEmbedder:
    """The real embedder, remembering query vectors so each configuration embeds nothing twice."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.entry = inner.entry
        self.dimension = inner.dimension
        self._cache: dict[str, npt.NDArray[np.float32]] = {}

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self.inner.embed(missing), strict=True))
        return np.stack([self._cache[t] for t in texts])


def evaluate(
    retriever: Retriever,
    queries: list[str],
    qrels: dict[int, dict[int, int]],
    mode: str,
    fusion: FusionParams,
) -> tuple[float, float]:
    ndcgs, recalls = [], []
    for qnum, gains in sorted(qrels.items()):
        hits = retriever.search(queries[qnum - 1], 30, mode=mode, fusion=fusion)  # type: ignore[arg-type]
        ranked: list[int] = []
        for hit in hits:
            doc_id = int(Path(hit.chunk.document_path).stem)
            if doc_id not in ranked:
                ranked.append(doc_id)
        n, r = ndcg_recall(ranked, gains)
        ndcgs.append(n)
        recalls.append(r)
    return sum(ndcgs) / len(ndcgs), sum(recalls) / len(recalls)


def tune(retriever: Retriever, queries: list[str], qrels: dict[int, dict[int, int]]) -> None:
    results: list[tuple[float, float, FusionParams]] = []
    grid: Any = product((0.5, 0.75, 1.0, 1.5, 2.0), (10, 30, 60, 100), (30, 50, 100))
    for bm25_w, rrf_k, candidates in grid:
        params = FusionParams(bm25_w, 1.0, rrf_k, candidates)
        results.append((*evaluate(retriever, queries, qrels, "hybrid", params), params))
    results.sort(key=lambda r: -r[0])
    print(f"\nfusion sweep ({len(results)} settings, dense weight 1.0), best first:")
    print(f"{'bm25_w':>7} {'rrf_k':>6} {'cands':>6} {'nDCG@10':>8} {'Recall@10':>10}")
    for ndcg, recall, p in results[:10] + [r for r in results[10:] if r[2] == FusionParams()]:
        print(f"{p.bm25_weight:7.2f} {p.rrf_k:6d} {p.candidates:6d} {ndcg:8.4f} {recall:10.4f}")
    print(f"worst: nDCG@10 {results[-1][0]:.4f} ({results[-1][2]})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=None, help="keep the built index here")
    parser.add_argument("--tune", action="store_true", help="also sweep the fusion parameters")
    args = parser.parse_args()
    docs, queries, qrels = load(args.data)
    work = args.work or Path(tempfile.mkdtemp(prefix="cranfield-"))
    source = work / "source"
    source.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        title = " ".join(doc.get("T", "").split())
        body = doc.get("W", "")
        (source / f"{int(doc['id']):04d}.txt").write_text(f"{title}\n\n{body}")
    embedder = CachedEmbedder(Embedder(Catalog.load().default("embedding")))
    started = time.perf_counter()
    for step in build(source, work / "kb", embedder):
        if step.kind == "commit":
            print(f"built {step.chunks} chunks from {step.total} files in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    retriever = Retriever.open(work / "kb", embedder)
    default = retriever.fusion
    configs: list[tuple[str, str, FusionParams]] = [
        ("bm25", "bm25", default),
        ("dense", "dense", default),
        ("hybrid (default)", "hybrid", default),
        ("hybrid rrf 1:1 k=60", "hybrid", FusionParams(1.0, 1.0, 60, 50)),
        ("hybrid rrf 1:2 dense", "hybrid", FusionParams(1.0, 2.0, default.rrf_k)),
        ("hybrid rrf 2:1 bm25", "hybrid", FusionParams(2.0, 1.0, default.rrf_k)),
    ]
    print(f"default fusion: {default}")
    print(f"{'method':<22} {'nDCG@10':>8} {'Recall@10':>10}   ({len(qrels)} judged queries)")
    scores: dict[str, float] = {}
    for name, mode, fusion in configs:
        ndcg, recall = evaluate(retriever, queries, qrels, mode, fusion)
        scores[name] = ndcg
        print(f"{name:<22} {ndcg:8.4f} {recall:10.4f}", flush=True)
    better = max(scores["bm25"], scores["dense"])
    verdict = "PASS" if scores["hybrid (default)"] >= better else "FAIL"
    print(f"B10 hybrid / better single: {scores['hybrid (default)'] / better:.3f}  {verdict}")
    if args.tune:
        tune(retriever, queries, qrels)
    retriever.close()
    embedder.inner.close()


if __name__ == "__main__":
    main()
