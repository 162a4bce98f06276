"""Vector indexes behind one small protocol, FAISS underneath; ids are SQLite chunk row ids.

Up to `ivf_threshold` vectors the index is exact inner product (flat) on normalised vectors; above
it an IVF index answers unfiltered queries (nprobe chosen so recall@10 vs exact stays >= 0.95) while
the flat vectors stay for exact filtered search. A filter is answered exactly over the allowed
subset (correct by construction: no filter-after-kNN starvation). Saved as a folder of
`index-<generation>.faiss` files beside a manifest JSON, or as bytes for a pack's sealed vector
file; no pickles anywhere.

The flat vectors are a plain float32 matrix searched with FAISS's own brute-force kernel
(`knn_inner_product`, what `IndexFlatIP.search` runs), so an index read from bytes can search
the buffer it was read into without copying it (format 2: the raw matrix at a 64-byte aligned
offset). Format 1 blobs (a serialized `IndexFlatIP`, in older packs) still load, with one copy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np
import numpy.typing as npt

from desktop.engine.knowledge.errors import IndexUnusable

Ids = npt.NDArray[np.int64]
Matrix = npt.NDArray[np.float32]

IVF_THRESHOLD = 200_000
FORMAT_VERSION = 2
_OLD_FORMAT = 1  # the flat part as a serialized faiss.IndexFlatIP
_ALIGN = 64


class VectorIndex(Protocol):
    dimension: int

    @property
    def ntotal(self) -> int: ...

    def ids(self) -> Ids: ...

    def search(self, queries: Matrix, k: int, allowed: Ids | None = None) -> tuple[Matrix, Ids]: ...

    def to_bytes(self) -> bytes: ...


@dataclass
class FlatIvfIndex:
    """Flat exact index plus an optional IVF for unfiltered queries at scale."""

    dimension: int
    _vectors: Matrix  # row i has id _row_ids[i]; read-only, may view a buffer read from bytes
    _row_ids: Ids
    _ivf: Any = None
    nprobe: int = 32
    _sorted_cache: tuple[Ids | None, Ids] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls, ids: Ids, vectors: Matrix, *, ivf_threshold: int = IVF_THRESHOLD, nprobe: int = 32
    ) -> FlatIvfIndex:
        vectors = np.array(vectors, dtype=np.float32, order="C", copy=True)
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise ValueError("ids and vectors must have the same length")
        vectors.flags.writeable = False
        order = np.asarray(ids, dtype=np.int64)
        index = cls(vectors.shape[1], vectors, order, None, nprobe)
        if len(ids) >= ivf_threshold:
            index._ivf = _train_ivf(vectors, nprobe)
        return index

    @property
    def ntotal(self) -> int:
        return len(self._vectors)

    def ids(self) -> Ids:
        return self._row_ids.copy()

    def vectors(self) -> Matrix:
        """A read-only view of the stored vectors (row i has id `ids()[i]`)."""
        return self._vectors

    def vector_of(self, chunk_id: int) -> Matrix | None:
        """The stored vector of one id (a copy), or None when the index does not hold it."""
        sorter, sorted_ids = self._sorted_ids()
        pos = int(np.searchsorted(sorted_ids, chunk_id))
        if pos >= len(sorted_ids) or int(sorted_ids[pos]) != chunk_id:
            return None
        row = pos if sorter is None else int(sorter[pos])
        return np.array(self._vectors[row], dtype=np.float32)

    def search(self, queries: Matrix, k: int, allowed: Ids | None = None) -> tuple[Matrix, Ids]:
        """Top-k (scores, ids) per query; with `allowed`, exact among those ids only."""
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        if self.ntotal == 0 or k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if allowed is None:
            kk = min(k, self.ntotal)
            if self._ivf is not None:
                scores, rows = self._ivf.search(queries, kk)
            else:
                scores, rows = _knn(queries, self._vectors, kk)
            return scores, np.where(rows >= 0, self._row_ids[np.maximum(rows, 0)], -1)
        rows = self._rows_of(allowed)
        if len(rows) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        kk = min(k, len(rows))
        if len(rows) * 2 > self.ntotal:
            scores, found = _knn(queries, self._vectors, kk, faiss.IDSelectorBatch(rows))
            return scores, self._row_ids[found]
        subset = self._vectors[rows]
        if len(queries) == 1:  # the usual case: plain 1-D ops cost a third of the 2-D ones
            sims1 = subset @ queries[0]
            top1 = np.argpartition(-sims1, kk - 1)[:kk]
            top1 = top1[np.argsort(-sims1[top1], kind="stable")]
            return sims1[top1][None, :], self._row_ids[rows[top1]][None, :]
        sims = queries @ subset.T
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        best = np.take_along_axis(top, order, axis=1)
        return np.take_along_axis(top_scores, order, axis=1), self._row_ids[rows[best]]

    def _sorted_ids(self) -> tuple[Ids | None, Ids]:
        """(sorter or None when the ids are already ascending, sorted ids), computed once."""
        cached = self._sorted_cache
        if cached is None:
            ids = self._row_ids
            if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):
                cached = (None, ids)
            else:
                sorter = np.argsort(ids, kind="stable")
                cached = (sorter, ids[sorter])
            self._sorted_cache = cached
        return cached

    def _rows_of(self, allowed: Ids) -> Ids:
        allowed = np.asarray(allowed, dtype=np.int64)
        if len(allowed) > 1 and not bool(np.all(allowed[1:] > allowed[:-1])):
            allowed = np.unique(allowed)
        sorter, sorted_ids = self._sorted_ids()
        n = len(sorted_ids)
        if sorter is None and n and sorted_ids[-1] - sorted_ids[0] == n - 1:  # ids a..a+n-1
            offsets = allowed - sorted_ids[0]
            inside: Ids = offsets[(offsets >= 0) & (offsets < n)]
            return inside
        pos = np.searchsorted(sorted_ids, allowed)
        pos = np.minimum(pos, max(len(sorted_ids) - 1, 0))
        hit = sorted_ids[pos] == allowed if len(sorted_ids) else np.zeros(0, bool)
        rows: Ids = pos[hit] if sorter is None else np.sort(sorter[pos[hit]])
        return rows

    # -- persistence -----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """One self-contained blob: a small JSON header padded to 64 bytes, the float32 vectors,
        the ids, the IVF if any (little-endian throughout)."""
        parts = [
            np.ascontiguousarray(self._vectors, dtype="<f4").tobytes(),
            self._row_ids.astype("<i8").tobytes(),
            faiss.serialize_index(self._ivf).tobytes() if self._ivf is not None else b"",
        ]
        header = json.dumps(
            {"format": FORMAT_VERSION, "dim": self.dimension, "nprobe": self.nprobe,
             "count": self.ntotal, "sizes": [len(p) for p in parts]}
        ).encode()  # fmt: skip
        header += b" " * (-(4 + len(header)) % _ALIGN)
        return len(header).to_bytes(4, "little") + header + b"".join(parts)

    @classmethod
    def from_bytes(cls, blob: bytes | bytearray | memoryview) -> FlatIvfIndex:
        """Read a blob from `to_bytes`; the vectors of a format-2 blob stay in `blob`'s memory
        (no copy): keep the buffer unchanged while the index is in use."""
        view = memoryview(blob).cast("B")
        try:
            size = int.from_bytes(view[:4], "little")
            header = json.loads(bytes(view[4 : 4 + size]))
            version = header.get("format")
            if version not in (FORMAT_VERSION, _OLD_FORMAT):
                raise IndexUnusable(f"unknown index format {version!r}")
            dim = int(header["dim"])
            pos = 4 + size
            parts = []
            for n in header["sizes"]:
                if n < 0 or pos + n > len(view):
                    raise IndexUnusable("the vector index is truncated")
                parts.append(view[pos : pos + n])
                pos += n
            if version == FORMAT_VERSION:
                vectors = np.frombuffer(parts[0], dtype="<f4").reshape(-1, dim)
                if len(vectors) != int(header["count"]):
                    raise IndexUnusable("the vector count does not match the header")
            else:
                flat: Any = faiss.deserialize_index(np.frombuffer(parts[0], dtype=np.uint8))
                xb = faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * dim)
                vectors = np.array(xb, dtype=np.float32).reshape(-1, dim)
            ids = np.frombuffer(parts[1], dtype="<i8").astype(np.int64)
            ivf: Any = None
            if len(parts[2]):
                ivf = faiss.deserialize_index(np.frombuffer(parts[2], np.uint8))
        except IndexUnusable:
            raise
        except Exception as exc:
            raise IndexUnusable(f"damaged vector index ({type(exc).__name__})") from exc
        if len(vectors) != len(ids):
            raise IndexUnusable("vector count and id count differ")
        if ivf is not None and (ivf.ntotal != len(ids) or ivf.d != dim):
            raise IndexUnusable("the IVF index does not match the vectors")
        if vectors.flags.writeable:
            vectors.flags.writeable = False
        if ivf is not None:
            ivf.nprobe = int(header["nprobe"])
        return cls(dim, vectors, ids, ivf, int(header["nprobe"]))


def _knn(queries: Matrix, vectors: Matrix, k: int, selector: Any = None) -> tuple[Matrix, Ids]:
    """FAISS's exact inner-product top-k (the kernel of `IndexFlatIP.search`) over a matrix it
    does not own; rows the selector excludes are never returned."""
    xb = vectors if vectors.flags.c_contiguous else np.ascontiguousarray(vectors)
    scores = np.empty((len(queries), k), dtype=np.float32)
    rows = np.empty((len(queries), k), dtype=np.int64)
    faiss.knn_inner_product(
        faiss.swig_ptr(queries), faiss.swig_ptr(xb), xb.shape[1], len(queries), len(xb), k,
        faiss.swig_ptr(scores), faiss.swig_ptr(rows), selector,
    )  # fmt: skip
    return scores, rows


def _train_ivf(vectors: Matrix, nprobe: int) -> Any:
    n, dim = vectors.shape
    nlist = int(4 * np.sqrt(n))
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
    ivf.train(sample)
    ivf.add(vectors)
    ivf.nprobe = nprobe
    return ivf


def build_index(ids: Ids, vectors: Matrix, **options: Any) -> FlatIvfIndex:
    """The factory: the right index kind for this many vectors."""
    return FlatIvfIndex.build(ids, vectors, **options)


# -- folder layout ---------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_generation(
    folder: Path, generation: int, index: FlatIvfIndex, manifest: dict[str, Any]
) -> None:
    """Write index + manifest for `generation`; the SQLite commit decides which one is current."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / f"index-{generation}.faiss", index.to_bytes())
    body = {
        **manifest,
        "generation": generation,
        "ntotal": index.ntotal,
        "dimension": index.dimension,
    }
    _write_atomic(folder / f"manifest-{generation}.json", json.dumps(body, indent=2).encode())


def publish_generation(folder: Path, generation: int) -> None:
    """After the SQLite commit: point manifest.json at it and drop older generations."""
    current = folder / f"manifest-{generation}.json"
    _write_atomic(folder / "manifest.json", current.read_bytes())
    for old in folder.glob("*-*.*"):
        stem = old.stem.rsplit("-", 1)[-1]
        if old.suffix in (".faiss", ".json") and stem.isdigit() and int(stem) != generation:
            old.unlink(missing_ok=True)


def load_generation(folder: Path, generation: int) -> tuple[FlatIvfIndex, dict[str, Any]]:
    index_path = folder / f"index-{generation}.faiss"
    manifest_path = folder / f"manifest-{generation}.json"
    if not index_path.exists() or not manifest_path.exists():
        raise IndexUnusable(f"vector index for generation {generation} is missing in {folder}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise IndexUnusable(f"unreadable manifest ({exc})") from exc
    return FlatIvfIndex.from_bytes(index_path.read_bytes()), manifest
