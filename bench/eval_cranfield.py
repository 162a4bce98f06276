"""Cranfield retrieval quality: nDCG@10 and Recall@10 for BM25, dense and hybrid, side by side.

    .venv/bin/python bench/eval_cranfield.py [--data DIR] [--work DIR]

Builds the 1,400 abstracts through the real pipeline (parse, chunk, embed with the catalog's
embedding GGUF, SQLite FTS5, FAISS), then runs the 225 queries. cranqrel numbers queries 1..225 in
file order (not by .I); relevance codes 1-3 count as relevant, graded gain 4 - code for nDCG.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.engine.catalog import Catalog
from desktop.engine.embedder import Embedder
from desktop.engine.knowledge import FusionParams, Retriever, build

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=None, help="keep the built index here")
    args = parser.parse_args()
    docs, queries, qrels = load(args.data)
    work = args.work or Path(tempfile.mkdtemp(prefix="cranfield-"))
    source = work / "source"
    source.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        title = " ".join(doc.get("T", "").split())
        body = doc.get("W", "")
        (source / f"{int(doc['id']):04d}.txt").write_text(f"{title}\n\n{body}")
    embedder = Embedder(Catalog.load().default("embedding"))
    started = time.perf_counter()
    for step in build(source, work / "kb", embedder):
        if step.kind == "commit":
            print(f"built {step.chunks} chunks from {step.total} files in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    retriever = Retriever.open(work / "kb", embedder)
    configs: list[tuple[str, str, FusionParams]] = [
        ("bm25", "bm25", FusionParams()),
        ("dense", "dense", FusionParams()),
        ("hybrid (default)", "hybrid", retriever.fusion),
        ("hybrid rrf 1:1", "hybrid", FusionParams(1.0, 1.0)),
        ("hybrid rrf 1:2 dense", "hybrid", FusionParams(1.0, 2.0)),
        ("hybrid rrf 2:1 bm25", "hybrid", FusionParams(2.0, 1.0)),
    ]
    print(f"{'method':<22} {'nDCG@10':>8} {'Recall@10':>10}   ({len(qrels)} judged queries)")
    for name, mode, fusion in configs:
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
        print(f"{name:<22} {sum(ndcgs) / len(ndcgs):8.4f} {sum(recalls) / len(recalls):10.4f}")
    retriever.close()
    embedder.close()


if __name__ == "__main__":
    main()
