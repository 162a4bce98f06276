"""The shard's sealed vector file (`packs/vector_file.py`): round trip without a copy, refusal of
wrong keys and damaged bytes before parsing, and shards of older packs (index blob in SQLCipher,
format 1) still opening."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import faiss
import numpy as np
import pytest

from desktop.engine.knowledge.errors import IndexUnusable
from desktop.engine.knowledge.vector_index import FlatIvfIndex
from desktop.engine.packs import vector_file
from desktop.engine.packs.shards import Shard, build_shard
from desktop.engine.storage.encrypted_db import open_database

from .conftest import write_source


def _index(n: int = 300, dim: int = 16, ivf_threshold: int = 10_000) -> FlatIvfIndex:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return FlatIvfIndex.build(
        np.arange(n, dtype=np.int64) * 2 + 7, vectors, ivf_threshold=ivf_threshold, nprobe=8
    )


@pytest.mark.parametrize("ivf_threshold", [10_000, 100])
def test_sealed_index_round_trips_and_searches_in_place(tmp_path: Path, ivf_threshold: int) -> None:
    index, key = _index(ivf_threshold=ivf_threshold), secrets.token_bytes(32)
    path = tmp_path / "staff.vectors"
    vector_file.write(path, index, key)
    assert path.read_bytes()[: len(vector_file.MAGIC)] == vector_file.MAGIC
    assert index.vectors().tobytes() not in path.read_bytes()  # sealed, not stored in clear
    opened = vector_file.read(path, key)
    assert not opened.vectors().flags.owndata  # a view of the decrypted buffer, no copy
    assert not opened.vectors().flags.writeable
    queries = index.vectors()[:4]
    for allowed in (None, index.ids()[::3], index.ids()[:250]):
        s1, i1 = index.search(queries, 5, allowed)
        s2, i2 = opened.search(queries, 5, allowed)
        assert np.array_equal(i1, i2) and np.allclose(s1, s2)


def test_wrong_key_damage_and_truncation_are_refused(tmp_path: Path) -> None:
    index, key = _index(), secrets.token_bytes(32)
    path = tmp_path / "staff.vectors"
    vector_file.write(path, index, key)
    good = path.read_bytes()
    with pytest.raises(IndexUnusable, match="does not decrypt"):
        vector_file.read(path, secrets.token_bytes(32))
    for position in (len(vector_file.MAGIC), len(vector_file.MAGIC) + 12, 60, len(good) - 1):
        bad = bytearray(good)
        bad[position] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(IndexUnusable):
            vector_file.read(path, key)
    for bad_bytes in (good[:-10], good[:20], b"", b"SQLite format 3\x00" + good[16:]):
        path.write_bytes(bad_bytes)
        with pytest.raises(IndexUnusable):
            vector_file.read(path, key)


def _format_1_blob(index: FlatIvfIndex) -> bytes:
    """The blob older packs stored in `shard_vectors` (a serialized IndexFlatIP, then ids)."""
    flat = faiss.IndexFlatIP(index.dimension)
    flat.add(np.ascontiguousarray(index.vectors()))
    parts = [faiss.serialize_index(flat).tobytes(), index.ids().astype("<i8").tobytes(), b""]
    header = json.dumps(
        {
            "format": 1,
            "dim": index.dimension,
            "nprobe": index.nprobe,
            "sizes": [len(p) for p in parts],
        }
    ).encode()
    return len(header).to_bytes(4, "little") + header + b"".join(parts)


def test_built_shard_has_a_sealed_index_and_old_shards_still_open(
    tmp_path: Path, embedder: object
) -> None:
    source = write_source(tmp_path / "source")
    files = [(p.relative_to(source).as_posix(), p) for p in sorted(source.rglob("*.md"))]
    shard_path, key = tmp_path / "shards" / "staff.db", secrets.token_bytes(32)
    shard_path.parent.mkdir()
    for _progress in build_shard(files, shard_path, key, embedder):  # type: ignore[arg-type]
        pass
    sealed = vector_file.path_for(shard_path)
    assert sealed.is_file() and sorted(p.name for p in shard_path.parent.iterdir()) == [
        "staff.db",
        "staff.vectors",
    ]
    shard = Shard(shard_path, key, embedder)  # type: ignore[arg-type]
    try:
        assert shard.db.execute("SELECT count(*) FROM shard_vectors").fetchone()[0] == 0
        index = shard.retriever.index
        hits = [h.chunk.id for h in shard.retriever.search("annual leave", k=3, mode="dense")]
    finally:
        shard.close()
    assert hits and index.ntotal > 3

    # the layout of packs built before the vector file: the blob inside the shard, format 1
    db = open_database(shard_path, key)
    db.execute(
        "INSERT INTO shard_vectors (generation, manifest, data) VALUES (1, '{}', ?)",
        [_format_1_blob(index)],
    )
    db.conn.commit()
    db.conn.close()
    sealed.unlink()
    old = Shard(shard_path, key, embedder)  # type: ignore[arg-type]
    try:
        assert [h.chunk.id for h in old.retriever.search("annual leave", k=3, mode="dense")] == hits
        assert np.array_equal(old.retriever.index.vectors(), index.vectors())
    finally:
        old.close()
