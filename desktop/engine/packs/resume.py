"""Resuming a pack build that was stopped (killed, power cut) before it was signed.

Embedding is most of a build's time (docs/retrieval.md, scale figures), and each shard commits the
vectors of every batch of documents it embeds to its embedding cache (content hash -> vector) as it
goes. So a build records, before it starts, the audience keys it encrypts its shards with and the
embedding model it uses, in `resume.json` in its staging folder (the admin's workspace, owner-only,
like the keys file every build writes). Run again, a build of the same version finds the shards the
stopped one left, opens each with its recorded key (SQLite recovers a write-ahead log cut off
mid-transaction), and copies their cached vectors into the new shards: only what the stopped build
had not embedded yet is embedded. Everything else starts again (parsing, fresh keys, the index), so
the result is what a build from the start gives, chunk for chunk.

Nothing is reused when the resume file is missing or unreadable, the embedding model differs, or a
shard does not open with its key: the build then says it starts again from the start.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.engine.core.errors import EngineError
from desktop.engine.knowledge.errors import IndexUnusable
from desktop.engine.knowledge.store import KnowledgeStore
from desktop.engine.packs import vector_file

RESUME_FILE = "resume.json"
PARTIAL_DIR = "partial"  # the stopped build's shards, moved here while the new ones are built
_SIDE_FILES = ("", "-wal", "-shm", "-journal")  # and the finished shard's vector file
COPY_ROWS = 2048  # embeddings copied per round trip (memory stays bounded at any pack size)


@dataclass(frozen=True)
class PartialShard:
    """A shard a stopped build of this pack version left, with the key it was encrypted under."""

    path: Path
    key: bytes


def save_resume_file(
    staging: Path,
    keys: Mapping[str, bytes],
    identity: Mapping[str, Any],
    carried: Mapping[str, PartialShard] | None = None,
) -> None:
    """Record the keys and embedding model of the build starting now (owner-only, fsynced), and
    the keys of the earlier stopped build's shards it reuses (`carried`), so that if this build
    is stopped too before it reaches an audience, that audience's earlier vectors still count."""
    path = staging / RESUME_FILE
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {
                "warning": "SECRET: the audience keys of a build in progress; removed when it ends.",
                "embedding": {"id": identity["id"], "sha256": identity["sha256"]},
                "audiences": {a: k.hex() for a, k in sorted(keys.items())},
                "carried": {a: p.key.hex() for a, p in sorted((carried or {}).items())},
            },
            handle,
        )
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def take_partial_shards(
    folder: Path, staging: Path, identity: Mapping[str, Any]
) -> dict[str, PartialShard]:
    """Move the shards a stopped build left in `folder/shards` into the staging folder, with the
    keys its resume file recorded, when it embedded with the same model; an audience it had not
    reached keeps the shard it carried from the build stopped before it. {} when nothing fits."""
    try:
        recorded = json.loads((staging / RESUME_FILE).read_text(encoding="utf-8"))
        same_model = recorded["embedding"] == {"id": identity["id"], "sha256": identity["sha256"]}
        keys = {str(a): bytes.fromhex(str(k)) for a, k in recorded["audiences"].items()}
        carried = {
            str(a): bytes.fromhex(str(k)) for a, k in dict(recorded.get("carried", {})).items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
    if not same_model:
        return {}
    kept, fresh = staging / PARTIAL_DIR, staging / (PARTIAL_DIR + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(mode=0o700)
    found: dict[str, PartialShard] = {}
    for audience in sorted(set(keys) | set(carried)):
        shard = folder / "shards" / f"{audience}.db"
        if audience in keys and shard.is_file():  # what the last build wrote (it copied in
            key = keys[audience]  # what it carried for this audience first)
        elif audience in carried and (kept / shard.name).is_file():
            shard, key = kept / shard.name, carried[audience]  # not reached: the earlier one
        else:
            continue
        for side in [shard.with_name(shard.name + s) for s in _SIDE_FILES] + [
            vector_file.path_for(shard)
        ]:
            if side.exists():
                os.replace(side, fresh / side.name)
        found[audience] = PartialShard(kept / shard.name, key)
    shutil.rmtree(kept, ignore_errors=True)
    os.replace(fresh, kept)
    return found


def reuse_embeddings(store: KnowledgeStore, partial: PartialShard) -> int:
    """Copy a stopped build's vectors into `store`'s embedding cache (same embedding model: the
    caller checked): the cache of a shard it was still building, or the vector file of one it had
    finished (a finished shard drops its cache). Returns the number copied. A shard that does not
    open, or a page that does not read, ends the copy: what was not copied is embedded again."""
    from desktop.engine.storage.encrypted_db import open_database, storage_error

    try:
        db = open_database(partial.path, partial.key, durable=False)  # recovers a cut-off WAL
    except EngineError:
        return 0
    copied = 0
    try:
        rows = db.execute("SELECT content_hash, vector FROM embeddings")
        while batch := rows.fetchmany(COPY_ROWS):
            copied += _insert(store, batch)
        sealed = vector_file.path_for(partial.path)
        if sealed.exists():
            index = vector_file.read(sealed, partial.key)
            row_of = {int(chunk_id): row for row, chunk_id in enumerate(index.ids())}
            vectors = index.vectors()
            chunks = db.execute("SELECT id, content_hash FROM chunks")
            while batch := chunks.fetchmany(COPY_ROWS):
                copied += _insert(
                    store,
                    [
                        (content_hash, vectors[row_of[chunk_id]].astype("<f4").tobytes())
                        for chunk_id, content_hash in batch
                        if chunk_id in row_of
                    ],
                )
    except IndexUnusable:
        pass  # a vector file cut off mid-write: its chunks are embedded again
    except Exception as exc:
        if storage_error(partial.path, exc) is None:
            raise  # a bug, not a damaged file
    finally:
        db.conn.close()
    return copied


def _insert(store: KnowledgeStore, rows: list[tuple[str, bytes]]) -> int:
    with store.transaction():
        store.conn.executemany(
            "INSERT OR IGNORE INTO embeddings(content_hash, vector) VALUES (?, ?)", rows
        )
    return len(rows)
