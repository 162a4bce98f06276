"""A knowledge base written by a newer Enclave (a migration this version does not know) is refused
before anything is changed or read as if it were older. Real SQLite and SQLCipher."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from desktop.engine.knowledge.store import MIGRATIONS, KnowledgeStore
from desktop.engine.storage.encrypted_db import open_database
from desktop.engine.storage.stores import SchemaTooNew


def _mark_newer(conn) -> None:
    conn.execute("INSERT INTO kb_migrations(name) VALUES ('m999_from_a_newer_enclave')")


def test_a_knowledge_base_from_a_newer_enclave_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "knowledge.sqlite"
    store = KnowledgeStore.open(path)
    _mark_newer(store.conn)
    store.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(SchemaTooNew, match="newer Enclave") as refused:
        KnowledgeStore.open(path)
    assert refused.value.unknown == ["m999_from_a_newer_enclave"]
    assert "Upgrade Enclave" in refused.value.hint
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_an_encrypted_shard_from_a_newer_enclave_is_refused_read_only(tmp_path: Path) -> None:
    path, key = tmp_path / "everyone.db", b"\x07" * 32
    db = open_database(path, key, durable=False)
    KnowledgeStore(db)
    _mark_newer(db.conn)
    db.execute("PRAGMA journal_mode = DELETE")
    db.conn.close()
    shard = open_database(path, key, read_only=True)
    try:
        with pytest.raises(SchemaTooNew):
            KnowledgeStore(shard)
    finally:
        shard.conn.close()
    # This version's own migrations are all known: a current store opens.
    fresh = KnowledgeStore.open(tmp_path / "current.sqlite")
    names = {r[0] for r in fresh.conn.execute("SELECT name FROM kb_migrations")}
    assert names == {name for name, _ in MIGRATIONS}
    fresh.close()
