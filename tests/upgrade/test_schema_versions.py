"""Each encrypted store records its schema version; a store from a newer Enclave is refused and left
byte for byte as it was; an upgrade killed in the middle of its migrations loses nothing.

Real SQLCipher files from a released version (tests/data/upgrade/), real child processes killed
with SIGKILL inside a migration."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from desktop.cli import main
from desktop.engine.audit.store import AuditStore, audit_path
from desktop.engine.core import paths
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs.local_state import DB_NAME, LocalState
from desktop.engine.storage import secrets
from desktop.engine.storage.conversations import ConversationStore
from desktop.engine.storage.encrypted_db import open_database
from desktop.engine.storage.history import history_path
from desktop.engine.storage.stores import (
    EncryptedStore,
    SchemaTooNew,
    applied_migrations,
    known_migrations,
)

from .conftest import OlderData

CHILD = Path(__file__).with_name("interrupted_migration.py")
LATER = "m999_from_a_later_release"
STORES: dict[str, tuple[type[EncryptedStore], Callable[[], Path], str, str]] = {
    "history": (ConversationStore, history_path, "messages", "history_migrations"),
    "state": (LocalState, lambda: paths.data_dir() / DB_NAME, "packs", "state_migrations"),
    "audit": (AuditStore, audit_path, "records", "migrations"),
}
CLI_FOR = {"history": ["history", "list"], "state": ["packs", "list"], "audit": ["audit", "verify"]}


def _applied_in_release(older: OlderData, store: str) -> list[str]:
    key = STORES[store][3]
    return list(older.expected["audit"][key] if store == "audit" else older.expected[key])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key(store: type[EncryptedStore]) -> bytes:
    key = secrets.get_secret(store.key_name)
    assert key is not None
    return key


def _rows(store: type[EncryptedStore], path: Path, table: str) -> list[tuple[Any, ...]]:
    db = open_database(path, _key(store))
    try:
        return [tuple(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()]
    finally:
        db.conn.close()


def _mark_as_newer(store: type[EncryptedStore], path: Path) -> None:
    """What a newer Enclave leaves: one more migration recorded than this version knows."""
    db = open_database(path, _key(store))
    try:
        db.table("_sqlite_migrations").insert(
            {"migration_set": store.schema.name, "name": LATER, "applied_at": "2030-01-01"}
        )
    finally:
        db.conn.close()


def _run_child(older: OlderData, store: str, kill: bool) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ENCLAVE_DATA_DIR": str(older.data),
        "ENCLAVE_CONFIG_DIR": str(older.config),
        "KEYRING_FILE": str(older.data.parent / "keyring.json"),
        "STORE": store,
        "KILL": "1" if kill else "0",
    }
    (older.data.parent / "keyring.json").write_text(json.dumps(older.keys))
    return subprocess.run(
        [sys.executable, str(CHILD)], env=env, capture_output=True, text=True, timeout=120
    )


def test_every_store_names_its_migrations_in_order() -> None:
    for store, *_ in STORES.values():
        names = known_migrations(store.schema)
        assert names and names == sorted(names), store
        assert all(name[:1] == "m" and name[1:4].isdigit() for name in names), names


def test_a_store_made_with_this_version_records_its_version(memory_keyring: Any) -> None:
    with ConversationStore.open_with_keyring(history_path()) as store:
        assert applied_migrations(store.schema, store.db) == known_migrations(store.schema)
        assert store.schema_version() == known_migrations(store.schema)[-1]


@pytest.mark.parametrize("store", sorted(STORES))
def test_older_stores_are_migrated_to_this_version(older_keys: OlderData, store: str) -> None:
    store_class, where, _table, _ = STORES[store]
    before = _applied_in_release(older_keys, store)
    with store_class.open_with_keyring(where()) as opened:
        applied = applied_migrations(opened.schema, opened.db)
    assert applied[: len(before)] == before  # the release's own, then this version's new ones
    assert applied == known_migrations(store_class.schema)


@pytest.mark.parametrize("store", sorted(STORES))
def test_a_store_from_a_newer_enclave_is_refused_and_not_changed(
    older_keys: OlderData, store: str, capsys: Any
) -> None:
    store_class, where, _table, _ = STORES[store]
    path = where()
    _mark_as_newer(store_class, path)
    before = _sha256(path)
    with pytest.raises(SchemaTooNew) as refused:
        store_class.open_with_keyring(path)
    assert "written by a newer Enclave" in refused.value.message
    assert LATER in refused.value.message and "Upgrade Enclave" in refused.value.hint
    assert refused.value.exit_code == ExitCode.STORAGE
    assert _sha256(path) == before
    assert not path.with_name(path.name + "-wal").exists()
    code = main(CLI_FOR[store])
    output = capsys.readouterr()
    assert code != 0 and "written by a newer Enclave" in output.out + output.err
    assert _sha256(path) == before


@pytest.mark.parametrize("store", sorted(STORES))
def test_an_upgrade_killed_during_its_migrations_loses_nothing(
    older_keys: OlderData, store: str
) -> None:
    store_class, where, table, _ = STORES[store]
    path = where()
    rows = _rows(store_class, path, table)
    assert rows
    killed = _run_child(older_keys, store, kill=True)
    assert killed.returncode == -9, killed.stderr
    assert _rows(store_class, path, table) == rows  # the wipe was never committed
    db = open_database(path, _key(store_class))
    try:
        assert applied_migrations(store_class.schema, db) == _applied_in_release(older_keys, store)
    finally:
        db.conn.close()
    with store_class.open_with_keyring(path) as reopened:  # this version still opens it
        assert reopened.schema_version() == known_migrations(store_class.schema)[-1]
    assert len(_rows(store_class, path, table)) >= len(rows)

    completed = _run_child(older_keys, store, kill=False)  # the later release, not interrupted
    assert completed.returncode == 0 and "migrated" in completed.stdout, completed.stderr
    with pytest.raises(SchemaTooNew):
        store_class.open_with_keyring(path)
