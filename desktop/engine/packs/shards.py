"""One audience = one shard: a SQLCipher database holding that audience's chunks, its FTS5 index and
its ingest report, keyed with the audience's own random key, and beside it the audience's vector
index as its own AES-GCM file (`vector_file`, `shards/<audience>.vectors`). Shards of packs built
before that keep the index blob in the database's `shard_vectors` table, and still open.

Without the key the file is indistinguishable from random bytes: no chunk, title, path or vector of
the audience's documents can be read from it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from desktop.engine.core.errors import StorageError
from desktop.engine.knowledge import builder
from desktop.engine.knowledge.builder import VECTORS_DIR, BuildOptions, EmbedderLike, Progress
from desktop.engine.knowledge.search import Retriever
from desktop.engine.knowledge.store import KnowledgeStore
from desktop.engine.knowledge.vector_index import FlatIvfIndex, load_generation
from desktop.engine.packs import vector_file
from desktop.engine.storage.encrypted_db import open_database

_VECTORS_TABLE = (
    "CREATE TABLE IF NOT EXISTS shard_vectors ("
    "generation INTEGER PRIMARY KEY, manifest TEXT NOT NULL, data BLOB NOT NULL)"
)


def build_shard(
    files: Sequence[tuple[str, Path]],
    shard_path: Path,
    key: bytes,
    embedder: EmbedderLike,
    options: BuildOptions | None = None,
) -> Iterator[Progress]:
    """Index `files` (relative name, source path) into a new encrypted shard at `shard_path`."""
    if shard_path.exists():
        raise StorageError(f"{shard_path} already exists; shards are built once per pack version.")
    with tempfile.TemporaryDirectory(prefix="enclave-shard-") as tmp:
        source, work = Path(tmp) / "source", Path(tmp) / "work"
        for relative, path in files:
            target = source / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        source.mkdir(exist_ok=True)
        db = open_database(shard_path, key, durable=False)
        try:
            store = KnowledgeStore(db)
            yield from builder.build(source, work, embedder, options, store=store)
            generation = store.generation()
            db.execute(_VECTORS_TABLE)
            if generation:
                index, _manifest = load_generation(work / VECTORS_DIR, generation)
                vector_file.write(vector_file.path_for(shard_path), index, key)
            # A shard is built once: drop the build's embedding cache (it duplicates the vector
            # file) so every start hashes less. Document texts stay: "open original" shows them.
            db.execute("DELETE FROM embeddings")
            db.execute("PRAGMA journal_mode = DELETE")
            db.execute("VACUUM")
        finally:
            db.conn.close()


class Shard:
    """An opened shard: its store, vector index and a retriever over both."""

    def __init__(self, path: Path, key: bytes, embedder: EmbedderLike) -> None:
        self.path = path
        self.db = open_database(path, key, read_only=True)
        try:
            self.store = KnowledgeStore(self.db)
            sealed = vector_file.path_for(path)
            if sealed.exists():
                index = vector_file.read(sealed, key)
            else:  # built before the vector file, or with no document indexed
                row = self.db.execute(
                    "SELECT data FROM shard_vectors ORDER BY generation DESC LIMIT 1"
                ).fetchone()
                index = (
                    FlatIvfIndex.from_bytes(row[0])
                    if row
                    else FlatIvfIndex.build(_empty_ids(), _empty_vectors(int(embedder.dimension)))
                )
            self.retriever = Retriever(self.store, index, embedder)
        except BaseException:
            self.db.conn.close()
            raise

    def file_report(self) -> list[dict[str, Any]]:
        return [s.__dict__ for s in self.store.file_report()]

    def close(self) -> None:
        self.db.conn.close()


def _empty_ids() -> Any:
    import numpy as np

    return np.zeros(0, dtype=np.int64)


def _empty_vectors(dimension: int) -> Any:
    import numpy as np

    return np.zeros((0, dimension), dtype=np.float32)
