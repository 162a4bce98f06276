"""EmbeddingGemma-300M against all-MiniLM-L6-v2, dense retrieval only, in one run.

    ENCLAVE_MODELS_DIR=... .venv/bin/python bench/eval_embedders.py --gemma FILE.gguf [--limit N]

Both models embed the same texts with llama.cpp (MiniLM through the app's `Embedder`,
EmbeddingGemma through llama-cpp-python with its query and document prefixes, "task: search
result | query: " and "title: none | text: ", as its model card prescribes):

- Cranfield: the 1,400 abstracts, the 222 judged queries; nDCG@10 and Recall@10;
- the handbook golden set: every handbook page chunked by the app's chunker; for each answerable
  question, an expected page among the pages of the 5 nearest chunks (the multilingual questions
  asked as written, not translated: EmbeddingGemma is multilingual); the best chunk cosine as an
  answerable / unanswerable signal (ROC AUC), on the calibration split and the test split;
- speed: texts per second embedding the handbook chunks, each model in the same process.

The GGUF comes from `models/convert_gemma_embedding_gguf.py` (docs/retrieval.md says where the
checkpoint came from). Dense retrieval only: the app fuses it with BM25, which is the same for both.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import eval_cranfield as cran

from desktop.engine.knowledge import parsers
from desktop.engine.knowledge.chunker import chunk_document
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.embedder import Embedder

ROOT = Path(__file__).resolve().parents[1]
HANDBOOK = ROOT.parent / "shared" / "corpora" / "18f-handbook"
GOLDEN = ROOT / "eval" / "golden" / "handbook.jsonl"
Vectors = npt.NDArray[np.float32]


class GemmaEmbedder:
    QUERY = "task: search result | query: "
    DOCUMENT = "title: none | text: "

    def __init__(self, path: Path) -> None:
        from llama_cpp import Llama

        self.model = Llama(
            model_path=str(path),
            embedding=True,
            n_ctx=2048,
            n_batch=2048,
            n_ubatch=2048,  # a non-causal encoder takes each batch in one ubatch
            verbose=False,
        )

    def embed(self, texts: Sequence[str], *, query: bool) -> Vectors:
        prefix = self.QUERY if query else self.DOCUMENT
        out = []
        for start in range(0, len(texts), 16):
            batch = [prefix + t for t in texts[start : start + 16]]
            out.extend(self.model.embed(batch, truncate=True))
        vectors = np.asarray(out, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class MiniLM:
    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    def embed(self, texts: Sequence[str], *, query: bool) -> Vectors:
        del query  # MiniLM has no prefixes
        return np.asarray(self.inner.embed(list(texts)), dtype=np.float32)


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives)) if positives and negatives else float("nan")


def cranfield(model: MiniLM | GemmaEmbedder) -> tuple[float, float]:
    docs, queries, qrels = cran.load(cran.DEFAULT_DATA)
    texts = [" ".join(f"{d.get('T', '')} {d.get('W', '')}".split()) for d in docs]
    doc_vectors = model.embed(texts, query=False)
    doc_ids = [int(d["id"]) for d in docs]
    query_vectors = model.embed([queries[q - 1] for q in sorted(qrels)], query=True)
    ndcgs, recalls = [], []
    for row, (_, gains) in zip(query_vectors, sorted(qrels.items()), strict=True):
        order = np.argsort(-(doc_vectors @ row))[:10]
        n, r = cran.ndcg_recall([doc_ids[i] for i in order], gains)
        ndcgs.append(n)
        recalls.append(r)
    return float(np.mean(ndcgs)), float(np.mean(recalls))


def handbook_chunks(count_tokens: object) -> tuple[list[str], list[str]]:
    texts, paths = [], []
    for path in parsers.iter_source_files(HANDBOOK):
        try:
            doc = parsers.parse_file(path)
        except Exception:
            continue
        for chunk in chunk_document(doc.title, doc.blocks, count_tokens):  # type: ignore[arg-type]
            texts.append(f"{doc.title}\n{chunk.text}")
            paths.append(path.relative_to(HANDBOOK).as_posix())
    return texts, paths


def golden(
    model: MiniLM | GemmaEmbedder, texts: list[str], paths: list[str], limit: int
) -> dict[str, object]:
    rows = [json.loads(line) for line in GOLDEN.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if "restricted" not in r.get("tags", ())][: limit or None]
    started = time.monotonic()
    chunk_vectors = model.embed(texts, query=False)
    seconds = time.monotonic() - started
    questions = []
    for r in rows:
        turns = [t["content"] for t in r.get("conversation", []) if t["role"] == "user"]
        questions.append(f"{turns[-1]} {r['question']}" if turns else r["question"])
    query_vectors = model.embed(questions, query=True)
    result: dict[str, object] = {"chunks per s": len(texts) / seconds}
    for split in ("calibration", "test"):
        hits, multi, best_pos, best_neg = [], [], [], []
        for r, row in zip(rows, query_vectors, strict=True):
            if r.get("split") != split:
                continue
            sims = chunk_vectors @ row
            best = float(sims.max())
            if not r["answerable"]:
                best_neg.append(best)
                continue
            best_pos.append(best)
            top = [paths[i] for i in np.argsort(-sims)[:5]]
            hit = bool(set(top) & set(r["expected_sources"]))
            hits.append(hit)
            if "multilingual" in r.get("tags", ()):
                multi.append(hit)
        result[f"{split}: gold page in top-5"] = float(np.mean(hits))
        result[f"{split}: multilingual in top-5"] = float(np.mean(multi)) if multi else None
        result[f"{split}: best-cosine AUC"] = auc(best_pos, best_neg)
        result[f"{split}: n answerable / unanswerable"] = f"{len(best_pos)} / {len(best_neg)}"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gemma", type=Path, required=True, help="the EmbeddingGemma GGUF")
    parser.add_argument("--limit", type=int, default=0, help="golden questions (0: all)")
    parser.add_argument("--skip-cranfield", action="store_true")
    args = parser.parse_args(argv)
    minilm = Embedder(Catalog.load().default("embedding"))
    texts, paths = handbook_chunks(minilm.count_tokens)
    print(f"{len(texts)} handbook chunks", file=sys.stderr)
    results: dict[str, dict[str, object]] = {}
    for name, factory in (
        ("all-MiniLM-L6-v2", lambda: MiniLM(minilm)),
        ("EmbeddingGemma-300M", lambda: GemmaEmbedder(args.gemma)),
    ):
        model = factory()
        row = golden(model, texts, paths, args.limit)
        if not args.skip_cranfield:
            row["Cranfield nDCG@10"], row["Cranfield Recall@10"] = cranfield(model)
        results[name] = row
        print(name, json.dumps(row), file=sys.stderr)
    names = list(results)
    print(f"| measure | {' | '.join(names)} |")
    print(f"|---|{'---:|' * len(names)}")
    for key in results[names[0]]:
        cells = []
        for n in names:
            value = results[n][key]
            cells.append(f"{value:.3f}" if isinstance(value, float) else str(value))
        print(f"| {key} | {' | '.join(cells)} |")
    ratio = float(results[names[0]]["chunks per s"]) / float(results[names[1]]["chunks per s"])  # type: ignore[arg-type]
    print(f"\nembedding speed: MiniLM {ratio:.1f}x EmbeddingGemma's (same chunks, same run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
