"""Pack open speed (issue 5, item 8): verify and open a signed pack at 10k and 100k chunks.

    .venv/bin/python bench/bench_packs.py [--sizes 10000,100000] [--reps 5] [--rebuild]

ours = the app's open path for one pack with one readable audience, as `KnowledgeAccess` runs it:
`verify_folder` (manifest signature, file list, every file's length + sha256), `open_grant` (grant
signature, then X25519 unseal of the audience key) and `Shard` (SQLCipher read-only open with that
key, `KnowledgeStore`, the sealed vector file `shards/<audience>.vectors` decrypted and
authenticated (`vector_file.read`), `FlatIvfIndex.from_bytes` over the decrypted buffer, and
`Retriever`'s check that the index's ids are SQLite's live chunk ids).
raw = `hashlib.file_digest(..., "sha256")` over the same pack files + `faiss.read_index` of the same
flat index written to a plain file with `faiss.write_index`.
Sides alternate (ABAB) after one untimed warm-up of each; medians of `--reps` (>= 3). Files are
read from the page cache on both sides (a warm open; a cold one adds the disk read to both).

The synthetic shards are built once (cached under --work, `--rebuild` to redo) through the real
`KnowledgeStore` API into a SQLCipher database laid out like `shards.build_shard` leaves it: ~800-char
chunk texts of Zipf-distributed words, 20 chunks per document, random normalised float32 384-d
vectors (speed depends on sizes, not content), the build's embedding cache dropped and VACUUMed,
the index sealed beside it with `vector_file.write` (`--old-layout`: the index blob inside the
shard's `shard_vectors` table, format 1, as packs were built before); the
folder is signed with an ad-hoc Ed25519 key (`sign_folder`) and a grant sealed to an ad-hoc X25519
user key. No embedding model is loaded: opening needs only `embedder.dimension`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.engine.knowledge import search  # noqa: E402
from desktop.engine.knowledge.chunker import Chunk  # noqa: E402
from desktop.engine.knowledge.store import FileStatus, KnowledgeStore  # noqa: E402
from desktop.engine.knowledge.vector_index import FlatIvfIndex  # noqa: E402
from desktop.engine.packs import archive, shards, vector_file  # noqa: E402
from desktop.engine.packs.grants import (  # noqa: E402
    REQUEST_TYPE,
    fingerprint,
    issue_grant,
    open_grant,
)
from desktop.engine.packs.manifest import format_time  # noqa: E402
from desktop.engine.packs.publish import sign_folder  # noqa: E402
from desktop.engine.packs.signing import (  # noqa: E402
    generate_signing_key,
    key_id,
    load_private_key,
    load_public_key,
)
from desktop.engine.storage import sealing  # noqa: E402
from desktop.engine.storage.encrypted_db import open_database  # noqa: E402

DIM = 384
CHUNKS_PER_DOC = 20
CHUNK_CHARS = 800
AUDIENCE = "staff"
PACK_ID = "bench"
FORMAT = 2  # bump when the synthetic layout changes, so cached data is rebuilt
STAGES = (
    "hash", "signature", "unseal", "sqlcipher open", "vector read", "index load", "id check", "other"
)  # fmt: skip


class EmbedderStub:
    """Opening a shard needs only the dimension; nothing is embedded."""

    dimension = DIM

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        raise NotImplementedError("the pack-open benchmark embeds nothing")

    def count_tokens(self, text: str) -> int:
        return len(text.split())


# -- synthetic data --------------------------------------------------------------------------------


def vocabulary(rng: np.random.Generator, size: int = 20_000) -> list[str]:
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    weights = np.linspace(2.0, 0.2, len(letters))
    weights /= weights.sum()
    lengths = np.clip(rng.poisson(6, size), 2, 14)
    return ["".join(rng.choice(letters, n, p=weights)) for n in lengths]


def chunk_texts(rng: np.random.Generator, words: list[str], n: int) -> list[str]:
    """`n` texts of ~CHUNK_CHARS characters, words drawn Zipf-like from `words`."""
    ranks = np.minimum(rng.zipf(1.2, size=n * 150), len(words)) - 1
    texts, pos = [], 0
    for _ in range(n):
        parts: list[str] = []
        length = 0
        while length < CHUNK_CHARS:
            word = words[ranks[pos % len(ranks)]]
            pos += 1
            parts.append(word)
            length += len(word) + 1
        texts.append(" ".join(parts).capitalize() + ".")
    return texts


def build_pack(work: Path, n: int, layout: str) -> None:
    """A signed pack folder with one audience shard of `n` chunks, a grant and a plain index file."""
    started = time.perf_counter()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rng = np.random.default_rng(n)
    words = vocabulary(rng)
    texts = chunk_texts(rng, words, n)
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    folder = work / "pack"
    shard_path = folder / "shards" / f"{AUDIENCE}.db"
    shard_path.parent.mkdir(parents=True)
    audience_key = secrets.token_bytes(32)
    db = open_database(shard_path, audience_key, durable=False)
    try:
        store = KnowledgeStore(db)
        store.set_meta("embedding_model", "bench-stub")
        db.execute("BEGIN")
        for d, first in enumerate(range(0, n, CHUNKS_PER_DOC)):
            rel = f"section-{d // 100:03d}/page-{d:05d}.md"
            doc_texts = texts[first : first + CHUNKS_PER_DOC]
            chunks, hashes, pos = [], [], 0
            for ordinal, text in enumerate(doc_texts):
                line = 1 + ordinal * 12
                heading = (f"Page {d}", f"Part {ordinal // 5 + 1}")
                chunks.append(
                    Chunk(ordinal, text, heading, None, line, line + 11, pos, pos + len(text),
                          len(text) // 4, text)
                )  # fmt: skip
                hashes.append(hashlib.sha256(text.encode()).hexdigest())
                pos += len(text) + 2
            body = "\n\n".join(doc_texts)
            store.add_pending_document(
                path=rel,
                partition=rel.split("/")[0],
                sha256=hashlib.sha256(body.encode()).hexdigest(),
                title=f"Page {d}",
                keywords=[],
                text=body,
                chunks=chunks,
                hashes=hashes,
                vectors={h: vectors[first + i] for i, h in enumerate(hashes)},
            )
            store.set_file_status(
                FileStatus(rel, hashlib.sha256(body.encode()).hexdigest(), len(body), "indexed",
                           "", "", len(chunks))
            )  # fmt: skip
        db.execute("COMMIT")
        ids, live_vectors = store.next_live_vectors([])
        index = FlatIvfIndex.build(ids, live_vectors)
        store.commit_generation(1, [])
        db.execute(shards._VECTORS_TABLE)
        if layout == "old":
            db.execute(
                "INSERT INTO shard_vectors (generation, manifest, data) VALUES (?, ?, ?)",
                [1, json.dumps({"counts": {"chunks": n}}), format_1_blob(index)],
            )
        else:
            vector_file.write(vector_file.path_for(shard_path), index, audience_key)
        db.execute("DELETE FROM embeddings")  # as build_shard does
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute("VACUUM")
    finally:
        db.conn.close()

    flat = faiss.IndexFlatIP(DIM)
    flat.add(live_vectors)
    faiss.write_index(flat, str(work / "plain.faiss"))

    key_path, _ = generate_signing_key(work / "keys")
    admin = load_private_key(key_path)
    now = datetime.now(UTC)
    fields = {
        "pack_id": PACK_ID,
        "title": f"Synthetic pack, {n} chunks",
        "version": 1,
        "created": format_time(now),
        "expires": format_time(now + timedelta(days=3650)),
        "knowledge_as_of": now.date().isoformat(),
        "embedding": {"id": "bench-stub", "sha256": "0" * 64, "dimension": DIM},
        "audiences": {
            AUDIENCE: {
                "shard": f"shards/{AUDIENCE}.db",
                "documents": -(-n // CHUNKS_PER_DOC),
                "chunks": n,
            }
        },
        "ingest": {"indexed": -(-n // CHUNKS_PER_DOC), "skipped": 0, "failed": 0},
    }
    sign_folder(folder, fields, admin)

    user = X25519PrivateKey.generate()
    public = sealing.public_bytes(user.public_key())
    request = {
        "type": REQUEST_TYPE,
        "user": "bench",
        "machine": "bench",
        "public_key": base64.b64encode(public).decode(),
        "fingerprint": fingerprint(public),
        "created": format_time(now),
    }
    grant = issue_grant(
        request,
        pack_id=PACK_ID,
        pack_version=1,
        roles=["staff"],
        audience_keys={AUDIENCE: audience_key},
        expires=now + timedelta(days=3650),
        admin_key=admin,
    )
    (work / "grant.json").write_text(json.dumps(grant, indent=2, sort_keys=True))
    (work / "keys" / "user.x25519").write_bytes(sealing.private_bytes(user))
    marker = {"format": FORMAT, "n": n, "dim": DIM, "layout": layout}
    (work / "ready.json").write_text(json.dumps(marker))
    print(f"  built {n:,} chunks in {time.perf_counter() - started:.0f} s", flush=True)


def format_1_blob(index: FlatIvfIndex) -> bytes:
    """The index blob of packs built before the vector file (a serialized IndexFlatIP, ids)."""
    flat = faiss.IndexFlatIP(index.dimension)
    flat.add(np.ascontiguousarray(index.vectors()))
    parts = [faiss.serialize_index(flat).tobytes(), index.ids().astype("<i8").tobytes(), b""]
    header = json.dumps(
        {"format": 1, "dim": index.dimension, "nprobe": index.nprobe,
         "sizes": [len(p) for p in parts]}
    ).encode()  # fmt: skip
    return len(header).to_bytes(4, "little") + header + b"".join(parts)


def ensure_pack(work: Path, n: int, rebuild: bool, layout: str = "sealed") -> None:
    marker = work / "ready.json"
    if not rebuild and marker.is_file():
        with contextlib.suppress(ValueError):
            wanted = {"format": FORMAT, "n": n, "dim": DIM, "layout": layout}
            if json.loads(marker.read_text()) == wanted:
                return
    build_pack(work, n, layout)


# -- measurement -----------------------------------------------------------------------------------


class Clock:
    """Seconds spent in named stages of one open (wrapping the real functions, ~1 us each)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - started

        return timed


@contextlib.contextmanager
def instrumented(clock: Clock) -> Iterator[None]:
    """Time the stages inside `verify_folder` and `Shard` without changing what they run."""
    originals = [
        (archive, "_check_file", archive._check_file),
        (archive, "verify_bytes", archive.verify_bytes),
        (shards, "open_database", shards.open_database),
        (search, "verify_index", search.verify_index),
        (vector_file, "read", vector_file.read),
    ]
    from_bytes = FlatIvfIndex.__dict__["from_bytes"]
    load = clock.wrap("index load", FlatIvfIndex.from_bytes)
    try:
        archive._check_file = clock.wrap("hash", archive._check_file)  # type: ignore[assignment]
        archive.verify_bytes = clock.wrap("signature", archive.verify_bytes)  # type: ignore[assignment]
        shards.open_database = clock.wrap("sqlcipher open", shards.open_database)  # type: ignore[assignment]
        search.verify_index = clock.wrap("id check", search.verify_index)  # type: ignore[assignment]
        vector_file.read = clock.wrap("vector file", vector_file.read)  # type: ignore[assignment]
        FlatIvfIndex.from_bytes = classmethod(lambda cls, blob: load(blob))  # type: ignore[assignment,method-assign]
        yield
    finally:
        for module, name, value in originals:
            setattr(module, name, value)
        FlatIvfIndex.from_bytes = from_bytes  # type: ignore[method-assign]


def ours(work: Path, stages: list[dict[str, float]]) -> float:
    public = load_public_key((work / "keys" / "admin.pub").read_text())
    trusted = {key_id(public): public}
    user = X25519PrivateKey.from_private_bytes((work / "keys" / "user.x25519").read_bytes())
    folder = work / "pack"
    clock = Clock()
    with instrumented(clock):
        started = time.perf_counter()
        manifest = archive.verify_folder(folder, trusted)
        verified = time.perf_counter()
        grant = open_grant((work / "grant.json").read_bytes(), trusted, user)
        unsealed = time.perf_counter()
        key = grant.audience_keys[AUDIENCE]
        shard = shards.Shard(folder / manifest.audiences[AUDIENCE]["shard"], key, EmbedderStub())
        elapsed = time.perf_counter() - started
        opened = elapsed - (unsealed - started)
    shard.close()
    spent = clock.spent
    split = {
        "hash": spent["hash"],
        "signature": (verified - started) - spent["hash"],  # + manifest parse, file listing
        "unseal": unsealed - verified,  # grant signature + X25519/HKDF/AES-GCM
        "sqlcipher open": spent["sqlcipher open"],  # key derivation + first page, KnowledgeStore
        "index load": spent["index load"],
        "id check": spent["id check"],
        # read + decrypt + authenticate the sealed file (0 for the old layout)
        "vector read": spent.get("vector file", 0.0)
        - spent["index load"] * ("vector file" in spent),
    }
    # the rest of Shard(): KnowledgeStore's migration check (and, old layout, the blob SELECT)
    split["other"] = opened - sum(
        split[k] for k in ("sqlcipher open", "vector read", "index load", "id check")
    )
    stages.append(split)
    return elapsed


def raw(work: Path) -> float:
    files = sorted(p for p in (work / "pack").rglob("*") if p.is_file())
    started = time.perf_counter()
    for path in files:
        with path.open("rb") as handle:
            hashlib.file_digest(handle, "sha256").hexdigest()
    index = faiss.read_index(str(work / "plain.faiss"))
    elapsed = time.perf_counter() - started
    assert index.ntotal > 0
    return elapsed


def measure(work: Path, n: int, reps: int) -> dict[str, Any]:
    warm: list[dict[str, float]] = []
    stages: list[dict[str, float]] = []
    ours(work, warm)  # untimed warm-up: page cache, lazy imports
    raw(work)
    a, b = [], []
    for _ in range(reps):
        a.append(ours(work, stages))
        b.append(raw(work))
    sizes = {p.name: p.stat().st_size for p in (work / "pack").rglob("*") if p.is_file()}
    return {
        "n": n,
        "ours": statistics.median(a),
        "raw": statistics.median(b),
        "stages": {s: statistics.median(x[s] for x in stages) for s in STAGES},
        "pack_bytes": sum(sizes.values()),
        "index_bytes": (work / "plain.faiss").stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts, comma-separated")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached synthetic packs")
    parser.add_argument(
        "--old-layout", action="store_true", help="the index blob inside SQLCipher (format 1)"
    )
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "enclave-bench-packs"
    )
    args = parser.parse_args()
    reps = max(args.reps, 3)
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    results = []
    for n in sizes:
        layout = "old" if args.old_layout else "sealed"
        work = args.work / (f"{n}-old" if args.old_layout else str(n))
        ensure_pack(work, n, args.rebuild, layout)
        results.append(measure(work, n, reps))

    ms = 1000.0
    print(f"\nPack open, warm page cache, ABAB median of {reps} (ms)\n")
    print("| chunks | pack MB | ours ms | raw ms | ours/raw |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['n']:,} | {r['pack_bytes'] / 1e6:.0f} | {r['ours'] * ms:.0f} | "
            f"{r['raw'] * ms:.0f} | {r['ours'] / r['raw']:.2f} |"
        )
    print("\nBreakdown of ours (median per stage, ms)\n")
    print("| chunks | " + " | ".join(STAGES) + " |")
    print("|---:|" + "---:|" * len(STAGES))
    for r in results:
        print(f"| {r['n']:,} | " + " | ".join(f"{r['stages'][s] * ms:.1f}" for s in STAGES) + " |")
    plain = ", ".join(f"{r['index_bytes'] / 1e6:.0f} MB" for r in results)
    print(f"\nplain index file: {plain}")
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
