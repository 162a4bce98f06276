"""Retrieval speed: B5 (build), B7 (vector query), B8 (filtered query), B9 (keyword query).

    ENCLAVE_MODELS_DIR=... .venv/bin/python bench/bench_retrieval.py [--large] [--only B5,B7,...]

Each figure is ours / raw, measured alternately in this run (ABAB, median of >= 3 repetitions):
- B5: chunks/s of a whole pack build of real 18F handbook pages (parse, chunk, embed, SQLite + FTS5,
  FAISS, manifest) over a plain llama-cpp-python `Llama.embed` of the same chunk texts (the same
  token lists), one per call, same model and threads. Target >= 0.85. Also prints the embedder with
  packing (`batch_tokens`, flash attention) against one text per call, on the same texts.
- B7: vector queries per second through `Retriever.search(mode="dense")` (search + chunk fetch +
  hits) over the raw FAISS `index.search` alone, one query at a time; recall@10 against exact
  search. Flat at 100k; the IVF path forced at 100k, and by default at 1M (`--large`).
- B8: filtered vector search (1 % and 10 % of the partitions allowed): the allowed set from SQLite
  (`Retriever.allowed_ids`, cached per generation) + `index.search(allowed=...)`, against exact
  top-k over the allowed vectors (gather + inner product + top-k, rows known in advance). Targets
  recall@10 >= 0.95 (also checked through `Retriever.search`) and latency <= 1.5x. The full
  `Retriever.search` latency, chunk fetch included (B7's overhead), is printed beside it.
- B9: keyword queries (a mixed set: rare, mid, common and stopword-laden) through
  `KnowledgeStore.keyword_search` against raw FTS5 `MATCH ... ORDER BY rank LIMIT k`, with the same
  expression (overhead only, the PASS/FAIL figure) and with every query term (the naive query).
  Target >= 0.9 throughput.
Scale figures use synthetic clustered vectors and Zipf-distributed synthetic text (100k chunks, or
1M with `--large`); the synthetic database is cached under --work.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.engine.knowledge import Retriever, build  # noqa: E402
from desktop.engine.knowledge.chunker import ChunkParams, chunk_document  # noqa: E402
from desktop.engine.knowledge.parsers import parse_file  # noqa: E402
from desktop.engine.knowledge.store import KnowledgeStore  # noqa: E402
from desktop.engine.knowledge.vector_index import FlatIvfIndex  # noqa: E402

HANDBOOK = ROOT.parent / "shared" / "corpora" / "18f-handbook"
Matrix = npt.NDArray[np.float32]
DIM = 384
K = 10
PARTITIONS = 100


def _faiss_flat(vectors: Any) -> Any:
    """The raw baseline for a flat index: FAISS's own IndexFlatIP over the same vectors."""
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return flat


def abab(ours: Callable[[], float], raw: Callable[[], float], reps: int) -> tuple[float, float]:
    """Median seconds of each, run alternately after one untimed warm-up of each."""
    ours()
    raw()
    a: list[float] = []
    b: list[float] = []
    for _ in range(reps):
        a.append(ours())
        b.append(raw())
    return statistics.median(a), statistics.median(b)


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    return run


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# -- B5: build throughput, and embedder packing ------------------------------------------------------


def handbook_sample(folder: Path, n_files: int) -> Path:
    files = sorted(p for p in HANDBOOK.rglob("*.md") if not p.name.isupper())[:n_files]
    for path in files:
        target = folder / path.relative_to(HANDBOOK)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return folder


def chunk_texts(source: Path, count_tokens: Callable[[str], int]) -> list[str]:
    texts: list[str] = []
    for path in sorted(source.rglob("*.md")):
        doc = parse_file(path)
        texts += [
            c.embed_text for c in chunk_document(doc.title, doc.blocks, count_tokens, ChunkParams())
        ]
    return texts


def bench_build(reps: int, n_files: int) -> None:
    import llama_cpp

    from desktop.engine.runtime import hardware, modelfiles
    from desktop.engine.runtime.catalog import Catalog
    from desktop.engine.runtime.embedder import BATCH_TOKENS, Embedder

    entry = Catalog.load().default("embedding")
    plan = hardware.plan_threads()
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        source = handbook_sample(work / "source", n_files)
        embedder = Embedder(entry)
        texts = chunk_texts(source, embedder.count_tokens)
        tokens = sum(embedder.count_tokens(t) for t in texts)
        raw_llama = llama_cpp.Llama(
            model_path=str(modelfiles.verify(entry)), embedding=True, n_ctx=512, n_batch=512,
            n_ubatch=512, n_threads=plan.n_threads, n_threads_batch=plan.n_threads_batch,
            verbose=False,
        )  # fmt: skip
        builds = iter(range(1_000))

        def ours() -> None:
            folder = work / f"kb{next(builds)}"
            steps = list(build(source, folder, embedder))
            assert steps[-1].kind == "commit" and steps[-1].chunks == len(texts), steps[-1]
            shutil.rmtree(folder)

        def raw() -> None:
            for text in texts:
                raw_llama.embed(text, normalize=True, truncate=True)

        print(
            f"   B5: {len(texts)} chunks from {n_files} pages, timing build vs raw embed",
            flush=True,
        )
        t_ours, t_raw = abab(timed(ours), timed(raw), reps)
        n = len(texts)
        ratio = t_raw / t_ours
        print(f"B5 build: {n_files} handbook pages, {n} chunks, {tokens / n:.0f} tokens/chunk, "
              f"embedder batch_tokens={BATCH_TOKENS}")  # fmt: skip
        print(f"   ours {n / t_ours:6.1f} chunks/s   raw embed {n / t_raw:6.1f} chunks/s   "
              f"ratio {ratio:.3f} (>= 0.85) {verdict(ratio >= 0.85)}")  # fmt: skip
        raw_llama.close()
        embedder.close()

        one = Embedder(entry, batch_tokens=0)
        packed = Embedder(entry, batch_tokens=2048)
        groups = [texts[i : i + 64] for i in range(0, len(texts), 64)]
        diff = float(np.max(np.abs(one.embed(texts[:64]) - packed.embed(texts[:64]))))
        t_packed, t_one = abab(
            timed(lambda: [packed.embed(g) for g in groups]),
            timed(lambda: [one.embed(g) for g in groups]),
            reps,
        )
        print(f"   embedder packing: packed(2048, flash attn) {n / t_packed:6.1f} chunks/s   "
              f"one per call {n / t_one:6.1f} chunks/s   packed/one {t_one / t_packed:.3f}   "
              f"max |diff| {diff:.2e}")  # fmt: skip
        one.close()
        packed.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- synthetic scale store ---------------------------------------------------------------------------


def unit(x: Matrix) -> Matrix:
    out: Matrix = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def clustered(n: int, n_queries: int, seed: int = 0) -> tuple[Matrix, Matrix]:
    """Unit vectors around n/100 random centres (like embeddings of topical text), and queries."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((max(n // 100, 10), DIM)).astype(np.float32))
    vectors = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        noise = rng.standard_normal((stop - start, DIM)).astype(np.float32) * 0.06
        vectors[start:stop] = unit(centres[rng.integers(0, len(centres), stop - start)] + noise)
    noise = rng.standard_normal((n_queries, DIM)).astype(np.float32) * 0.06
    queries = unit(centres[rng.integers(0, len(centres), n_queries)] + noise)
    return vectors, queries


def vocabulary(size: int, seed: int = 1) -> list[str]:
    rng = np.random.default_rng(seed)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        word = "".join(syllables[i] for i in rng.integers(0, len(syllables), rng.integers(2, 5)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def synthetic_store(path: Path, n: int, words: list[str]) -> KnowledgeStore:
    """n chunks of Zipf-distributed words in n/100 live documents over 100 partitions (cached)."""
    if path.exists():
        store = KnowledgeStore.open(path)
        if store.generation() == 1 and store.chunk_count() == n:
            return store
        store.close()
        path.unlink()
    started = time.perf_counter()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    store = KnowledgeStore(conn)
    rng = np.random.default_rng(2)
    p = 1.0 / np.arange(1, len(words) + 1) ** 1.05
    p /= p.sum()
    per_doc = 100
    conn.execute("BEGIN")
    for d in range(n // per_doc):
        doc_id = conn.execute(
            "INSERT INTO documents(path, partition, sha256, state, title, keywords, text, n_chunks)"
            " VALUES (?, ?, ?, 'live', ?, '[]', '', ?)",
            (f"doc{d:06d}.md", f"p{d % PARTITIONS:02d}", f"{d:064x}", f"Document {d}", per_doc),
        ).lastrowid
        picks = rng.choice(len(words), size=(per_doc, 40), p=p)
        conn.executemany(
            "INSERT INTO chunks(document_id, ordinal, text, title, heading, page, line_start, "
            "line_end, char_start, char_end, n_tokens, content_hash) "
            "VALUES (?, ?, ?, ?, '', NULL, NULL, NULL, 0, 0, 40, ?)",
            [
                (doc_id, i, " ".join(words[w] for w in row), f"Document {d}", f"{d}-{i}")
                for i, row in enumerate(picks)
            ],
        )
    conn.execute("INSERT INTO kb_meta(key, value) VALUES ('generation', '1')")
    conn.execute("COMMIT")
    conn.execute("PRAGMA optimize")
    conn.close()
    print(f"   (built synthetic store of {n:,} chunks in {time.perf_counter() - started:.0f} s)")
    return KnowledgeStore.open(path)


class QueryVectors:
    """Stands in for the embedder: the query text names a precomputed query vector."""

    def __init__(self, queries: Matrix) -> None:
        self.queries = queries
        self.dimension = queries.shape[1]

    def embed(self, texts: Sequence[str]) -> Matrix:
        return self.queries[[int(t[1:]) for t in texts]]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def recall(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def bench_vectors(store: KnowledgeStore, n: int, reps: int, n_queries: int) -> None:
    import faiss

    vectors, queries = clustered(n, n_queries)
    ids = store.live_ids()
    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    _, truth_rows = exact.search(queries, K)
    truth = ids[truth_rows]
    names = [f"q{i}" for i in range(n_queries)]
    qv = QueryVectors(queries)

    kinds = [("flat", 10**12), ("ivf", 0 if n < 200_000 else 200_000)]
    for kind, threshold in kinds:
        started = time.perf_counter()
        index = FlatIvfIndex.build(ids, vectors, ivf_threshold=threshold)
        built = time.perf_counter() - started
        retriever = Retriever(store, index, qv)
        raw_index = index._ivf if index._ivf is not None else _faiss_flat(vectors)

        def ours(r: Retriever = retriever) -> None:
            for name in names:
                r.search(name, K, mode="dense")

        def raw(ix: Any = raw_index) -> None:
            for q in queries:
                ix.search(q[None, :], K)

        t_ours, t_raw = abab(timed(ours), timed(raw), reps)
        got = [[h.chunk.id for h in retriever.search(name, K, mode="dense")] for name in names]
        rec = recall(got, truth.tolist())
        ratio = t_raw / t_ours
        ok = ratio >= 0.8 and rec >= 0.95
        extra = f", nprobe {index.nprobe}, built in {built:.0f} s" if kind == "ivf" else ""
        print(f"B7 vector query {kind} at {n:,}{extra}: ours {1000 * t_ours / n_queries:.2f} ms  "
              f"raw index.search {1000 * t_raw / n_queries:.2f} ms  throughput {ratio:.3f} (>= 0.8)"
              f"  recall@10 {rec:.3f} (>= 0.95)  {verdict(ok)}")  # fmt: skip

    index = FlatIvfIndex.build(ids, vectors, ivf_threshold=10**12)
    retriever = Retriever(store, index, qv)
    rows_of = {pid: np.flatnonzero(np.isin(ids, store.allowed_chunk_ids(None, [pid]))) for pid in
               [f"p{i:02d}" for i in range(PARTITIONS)]}  # fmt: skip
    for share in (1, 10):
        allowed = [f"p{i:02d}" for i in range(0, PARTITIONS, PARTITIONS // share)][:share]
        rows = np.sort(np.concatenate([rows_of[p] for p in allowed]))

        def ours_f(allowed: list[str] = allowed) -> list[list[int]]:
            out = []
            for q in queries:
                subset = retriever.allowed_ids(None, allowed)  # SQL, cached per generation
                out.append(index.search(q, K, subset)[1][0].tolist())
            return out

        def raw_f(rows: npt.NDArray[np.int64] = rows) -> list[list[int]]:
            out = []
            for q in queries:
                sims = vectors[rows] @ q
                top = np.argpartition(-sims, K - 1)[:K]
                out.append(ids[rows[top[np.argsort(-sims[top])]]].tolist())
            return out

        def full(allowed: list[str] = allowed) -> list[list[int]]:
            return [
                [
                    h.chunk.id
                    for h in retriever.search(nm, K, allowed_partitions=allowed, mode="dense")
                ]
                for nm in names
            ]

        t_ours, t_raw = abab(timed(ours_f), timed(raw_f), reps)
        t_full = statistics.median(timed(full)() for _ in range(reps))
        truth_f = raw_f()
        rec, rec_full = recall(ours_f(), truth_f), recall(full(), truth_f)
        ratio = t_ours / t_raw
        ok = ratio <= 1.5 and rec >= 0.95 and rec_full >= 0.95
        print(f"B8 filtered query {share:>2}% allowed ({len(rows):,} chunks): ours "
              f"{1000 * t_ours / n_queries:.2f} ms  raw exact subset {1000 * t_raw / n_queries:.2f}"
              f" ms  latency {ratio:.3f}x (<= 1.5)  recall@10 {rec:.3f} (full search {rec_full:.3f})"
              f"  {verdict(ok)};  with chunk fetch {1000 * t_full / n_queries:.2f} ms")  # fmt: skip


# -- B9: keyword queries -----------------------------------------------------------------------------

_TERM = re.compile(r"\w+")


def keyword_queries(words: list[str], n_each: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)

    def pick(lo: int, hi: int, count: int) -> list[str]:
        return [words[i] for i in rng.integers(lo, hi, count)]

    queries: list[str] = []
    for _ in range(n_each):
        queries.append(" ".join(pick(2_000, len(words), 2)))  # rare terms
        queries.append(" ".join(pick(100, 2_000, 3)))  # mid-frequency terms
        queries.append(f"what is the {' '.join(pick(0, 10, 2))} of {pick(500, 5_000, 1)[0]}")
        queries.append(" ".join(pick(0, 5, 2)))  # only very common terms
    return queries


def bench_keyword(store: KnowledgeStore, n: int, words: list[str], reps: int) -> None:
    queries = keyword_queries(words, 10)
    conn = store.conn
    expressions = [store.match_expression(q) for q in queries]
    naive = [" OR ".join(f'"{t}"' for t in _TERM.findall(q.lower())) for q in queries]
    sql = "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?"

    def ours() -> None:
        for q in queries:
            store.keyword_search(q, K)

    def raw_same() -> None:
        for e in expressions:
            if e is not None:
                conn.execute(sql, (e, K)).fetchall()

    def raw_naive() -> None:
        for e in naive:
            conn.execute(sql, (e, K)).fetchall()

    t_ours, t_same = abab(timed(ours), timed(raw_same), reps)
    _, t_naive = abab(timed(ours), timed(raw_naive), reps)
    m = len(queries)
    ratio = t_same / t_ours
    print(f"B9 keyword query at {n:,} ({m} mixed queries): ours {1000 * t_ours / m:.2f} ms  "
          f"raw FTS5 same expression {1000 * t_same / m:.2f} ms  throughput {ratio:.3f} (>= 0.9) "
          f"{verdict(ratio >= 0.9)};  raw with every term {1000 * t_naive / m:.2f} ms "
          f"(ours {t_naive / t_ours:.1f}x faster)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", action="store_true", help="1M chunks instead of 100k")
    parser.add_argument("--only", default="B5,B7,B8,B9")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--files", type=int, default=12, help="handbook pages for B5")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "enclave-bench")
    args = parser.parse_args()
    only = set(args.only.upper().split(","))
    reps = max(args.reps, 3)
    started = time.perf_counter()
    if "B5" in only:
        bench_build(reps, args.files)
    if only & {"B7", "B8", "B9"}:
        n = 1_000_000 if args.large else 100_000
        args.work.mkdir(parents=True, exist_ok=True)
        words = vocabulary(30_000)
        store = synthetic_store(args.work / f"synthetic-{n}.sqlite", n, words)
        if only & {"B7", "B8"}:
            bench_vectors(store, n, reps, args.queries)
        if "B9" in only:
            bench_keyword(store, n, words, reps)
        store.close()
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
