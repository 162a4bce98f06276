"""One audience = one shard: a SQLCipher database holding that audience's chunks, its FTS5 index and
its ingest report, keyed with the audience's own random key, and beside it the audience's vector
index as its own AES-GCM file (`vector_file`, `shards/<audience>.vectors`). Shards of packs built
before that keep the index blob in the database's `shard_vectors` table, and still open.

Without the key the file is indistinguishable from random bytes: no chunk, title, path or vector of
the audience's documents can be read from it.

An incremental build (`build_shard(..., previous=...)`) starts from the previous version's shard:
its database copied and re-encrypted page by page under the new key (`PRAGMA rekey`), its
embedding cache put back from the old vector file, then the ordinary build over the new files, which re-parses and re-embeds only what
changed. The names of the documents added, changed and removed stay inside the shard (`kb_meta`
`changes`), readable only with this audience's key.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.engine.core.errors import StorageError
from desktop.engine.knowledge import builder
from desktop.engine.knowledge.builder import (
    VECTORS_DIR,
    BuildOptions,
    ChunkFlag,
    EmbedderLike,
    Progress,
)
from desktop.engine.knowledge.search import Retriever
from desktop.engine.knowledge.store import KnowledgeStore
from desktop.engine.knowledge.vector_index import FlatIvfIndex, load_generation
from desktop.engine.packs import vector_file
from desktop.engine.packs.changes import DocumentChanges, diff_documents
from desktop.engine.packs.resume import PartialShard, reuse_embeddings
from desktop.engine.storage.encrypted_db import open_database

_VECTORS_TABLE = (
    "CREATE TABLE IF NOT EXISTS shard_vectors ("
    "generation INTEGER PRIMARY KEY, manifest TEXT NOT NULL, data BLOB NOT NULL)"
)


@dataclass(frozen=True)
class PreviousShard:
    """The same audience's shard in the previous pack version, with that version's key."""

    path: Path
    key: bytes


_RESTORE_PAGE = 4096  # embeddings put back per transaction by an incremental build
RULES_META = "document_rules"  # the `documents.*` actions the shard's chunks were screened with
CHANGES_META = "changes"  # names added / changed / removed since the previous version (JSON)


def build_shard(
    files: Sequence[tuple[str, Path]],
    shard_path: Path,
    key: bytes,
    embedder: EmbedderLike,
    options: BuildOptions | None = None,
    *,
    previous: PreviousShard | None = None,
    compare_with: dict[str, str] | None = None,
    staging: Path | None = None,
    resume: PartialShard | None = None,
) -> Iterator[Progress | DocumentChanges]:
    """Index `files` (relative name, source path) into a new encrypted shard at `shard_path`.

    With `previous`, start from that shard's content (re-keyed) so that only new and changed files
    are parsed and embedded. `compare_with` (path -> sha256 of the previous version's documents of
    this audience, for a full build that has one) is what the changes are counted against;
    `previous` brings its own. `resume`: this audience's shard from a stopped build of the same
    version, whose cached vectors are reused (`packs.resume`). Yields progress, then the
    `DocumentChanges` (ending the stream)."""
    if shard_path.exists():
        raise StorageError(f"{shard_path} already exists; shards are built once per pack version.")
    options = options or BuildOptions()
    # `staging`: where the build's working files go (the pack build's own folder in the admin's
    # workspace, removed when a stopped build is run again; default: the system's temp folder).
    # The sources are read where they lie: copying them cost 21 s to copy and 269 s to delete
    # at 100,000 documents (docs/retrieval.md), and left plaintext copies behind a killed build.
    with tempfile.TemporaryDirectory(prefix="enclave-shard-", dir=staging) as tmp:
        work = Path(tmp) / "work"
        if previous is not None:
            _copy_rekeyed(previous, shard_path, key)
        db = open_database(shard_path, key, durable=False)
        try:
            store = KnowledgeStore(db)  # runs the store's migrations on a copied older shard
            before = live_documents(store) if previous is not None else dict(compare_with or {})
            if previous is not None:
                _restore_embeddings(store, previous, int(embedder.dimension))
            if resume is not None:
                reused = reuse_embeddings(store, resume)
                yield Progress(
                    "note",
                    reason=f"{reused} embedded chunks reused from the stopped build of this version",
                )
            with store.transaction():
                store.set_meta(RULES_META, rules_text(options.document_rules))
            # `files` are listed: nothing under the folder argument is scanned.
            listed = builder.build(Path(tmp), work, embedder, options, store=store, files=files)
            for progress in listed:
                if previous is not None and progress.kind == "file" and not progress.flags:
                    progress = _with_recorded_flags(store, progress)
                yield progress
            index = None
            if previous is not None:
                index = _drop_stale_documents(store, options, int(embedder.dimension))
            changes = diff_documents(before, live_documents(store))
            with store.transaction():
                store.set_meta(CHANGES_META, json.dumps(changes.names(), sort_keys=True))
            generation = store.generation()
            db.execute(_VECTORS_TABLE)
            if generation:
                if index is None:
                    index, _manifest = load_generation(work / VECTORS_DIR, generation)
                vector_file.write(vector_file.path_for(shard_path), index, key)
            # A shard is built once: drop the build's embedding cache (it duplicates the vector
            # file) so every start hashes less. Document texts stay: "open original" shows them.
            db.execute("DELETE FROM embeddings")
            db.execute("PRAGMA journal_mode = DELETE")
            db.execute("VACUUM")
        finally:
            db.conn.close()
    yield changes


_RECORDED_FLAG = re.compile(
    r"(quarantined|flagged) chunk ([0-9]+) \((documents\.[a-z_.]+): (.*?)\)(?=; |$)"
)


def _with_recorded_flags(store: KnowledgeStore, progress: Progress) -> Progress:
    """An unchanged file's `documents.*` findings, read back from its report notes (as
    `ChunkFlag.note` wrote them when it was screened), so the new manifest counts them as a full
    build would."""
    status = store.file_status(progress.path)
    if status is None:
        return progress
    flags = tuple(
        ChunkFlag(int(m[2]), m[3], "block" if m[1] == "quarantined" else "warn", m[4])
        for m in _RECORDED_FLAG.finditer(status.notes)
    )
    return dataclasses.replace(progress, flags=flags) if flags else progress


def _drop_stale_documents(
    store: KnowledgeStore, options: BuildOptions, dimension: int
) -> FlatIvfIndex | None:
    """Remove the live documents whose file changed but now failed or was skipped.

    The knowledge builder keeps serving a document's previous version when its update cannot be
    read; a pack version must hold what a full build of its source would, so here the previous
    version goes (the file's `failed` / `skipped` status stays in the report). Returns the vector
    index of what is live after that, or None when nothing was stale."""
    stale = []
    for path, sha in live_documents(store).items():
        status = store.file_status(path)
        if status is not None and status.status in ("failed", "skipped") and status.sha256 != sha:
            stale.append((path, status))
    if not stale:
        return None
    ids, vectors = store.next_live_vectors([path for path, _ in stale])
    if len(ids) == 0:
        vectors = _empty_vectors(dimension)
    index = FlatIvfIndex.build(ids, vectors, ivf_threshold=options.ivf_threshold)
    store.commit_generation(store.generation() + 1, [path for path, _ in stale])
    for _path, status in stale:
        store.set_file_status(status)  # the reason stays in the shard's report
    return index


def rules_text(rules: Any) -> str:
    """The `documents.*` actions as the shard records them (sorted JSON)."""
    return json.dumps(dict(sorted(dict(rules).items())), sort_keys=True)


def live_documents(store: KnowledgeStore) -> dict[str, str]:
    """Path -> sha256 of every live document in a shard."""
    rows = store.conn.execute("SELECT path, sha256 FROM documents WHERE state = 'live'")
    return {str(path): str(sha) for path, sha in rows}


def read_previous(previous: PreviousShard) -> tuple[dict[str, str], dict[str, str | None]]:
    """(live documents, the meta an incremental build depends on) of a previous shard, opened
    read-only with its own key; `StorageError` if the key does not open it."""
    db = open_database(previous.path, previous.key, read_only=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM kb_meta").fetchall())
        docs = db.execute("SELECT path, sha256 FROM documents WHERE state = 'live'").fetchall()
    finally:
        db.conn.close()
    wanted = ("embedding_model", "chunking", RULES_META)
    return {str(p): str(s) for p, s in docs}, {k: meta.get(k) for k in wanted}


def _copy_rekeyed(previous: PreviousShard, target: Path, key: bytes) -> None:
    """Copy the previous shard's file to `target` and re-encrypt every page with the new key
    (`PRAGMA rekey`). The previous shard was vacuumed when it was built, so no free page carries
    old bytes; the new shard is vacuumed again once built. (`sqlcipher_export` into a fresh
    database was tried first: it left the FTS5 index unusable.)"""
    shutil.copyfile(previous.path, target)
    db = open_database(target, previous.key, durable=False)
    try:
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute(f"PRAGMA rekey = \"x'{key.hex()}'\"")
    finally:
        db.conn.close()


def _restore_embeddings(store: KnowledgeStore, previous: PreviousShard, dimension: int) -> None:
    """Put the build's embedding cache (content hash -> vector) back from the previous version's
    vector index, so its unchanged chunks are not embedded again and stay in the new index."""
    index = _read_index(previous.path, previous.key, store.conn, dimension)
    ids, vectors = index.ids(), index.vectors()
    row_of = {int(chunk_id): row for row, chunk_id in enumerate(ids)}
    # Paged: the index is held once (it is the shard's own size); the rows to insert never are.
    pairs = store.conn.execute("SELECT id, content_hash FROM chunks").fetchall()
    for start in range(0, len(pairs), _RESTORE_PAGE):
        with store.transaction():
            store.conn.executemany(
                "INSERT OR IGNORE INTO embeddings(content_hash, vector) VALUES (?, ?)",
                [
                    (content_hash, vectors[row_of[chunk_id]].astype("<f4").tobytes())
                    for chunk_id, content_hash in pairs[start : start + _RESTORE_PAGE]
                    if chunk_id in row_of
                ],
            )


def _read_index(path: Path, key: bytes, conn: Any, dimension: int) -> FlatIvfIndex:
    """A shard's vector index: its sealed vector file, else the blob older shards kept inside."""
    sealed = vector_file.path_for(path)
    if sealed.exists():
        return vector_file.read(sealed, key)
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'shard_vectors'"
    ).fetchone()
    row = (
        conn.execute("SELECT data FROM shard_vectors ORDER BY generation DESC LIMIT 1").fetchone()
        if has_table
        else None
    )
    if row:
        return FlatIvfIndex.from_bytes(row[0])
    return FlatIvfIndex.build(_empty_ids(), _empty_vectors(dimension))


class Shard:
    """An opened shard: its store, vector index and a retriever over both."""

    def __init__(self, path: Path, key: bytes, embedder: EmbedderLike) -> None:
        self.path = path
        self.db = open_database(path, key, read_only=True)
        try:
            self.store = KnowledgeStore(self.db)
            index = _read_index(path, key, self.db.conn, int(embedder.dimension))
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
