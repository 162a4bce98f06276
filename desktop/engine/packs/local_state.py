"""Small encrypted facts the app must not forget or let anyone rewind: pack versions seen and active.

Kept in `state.db`, a SQLCipher database keyed from the trusted keyring, so deleting or replacing a
pack folder cannot reset the rollback protection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlite_utils
from sqlite_utils.migrations import Migrations

from desktop.engine.core import paths
from desktop.engine.storage.encrypted_db import translate_errors
from desktop.engine.storage.stores import EncryptedStore

DB_NAME = "state.db"
migrations = Migrations("enclave.local_state")


@migrations()
def m001_pack_versions(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE packs (
            pack_id TEXT PRIMARY KEY,
            last_seen_version INTEGER NOT NULL,
            active_version INTEGER,
            activated REAL
        )"""
    )


@dataclass(frozen=True)
class PackState:
    pack_id: str
    last_seen_version: int
    active_version: int | None


class LocalState(EncryptedStore):
    schema = migrations
    key_name = "state-db-key"
    what = "The pack state database"
    recovery_hint = "Reinstall the packs after your administrator restores your keyring."

    @classmethod
    def open(cls) -> LocalState:
        """This profile's pack state, keyed from the trusted keyring."""
        return cls.open_with_keyring(paths.data_dir() / DB_NAME)

    def pack(self, pack_id: str) -> PackState | None:
        row = self.db.execute(
            "SELECT pack_id, last_seen_version, active_version FROM packs WHERE pack_id = ?",
            [pack_id],
        ).fetchone()
        return PackState(*row) if row else None

    def packs(self) -> list[PackState]:
        rows = self.db.execute(
            "SELECT pack_id, last_seen_version, active_version FROM packs ORDER BY pack_id"
        ).fetchall()
        return [PackState(*row) for row in rows]

    def activate(self, pack_id: str, version: int) -> None:
        """Make `version` the active generation and the new rollback floor, in one transaction."""
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                "INSERT INTO packs (pack_id, last_seen_version, active_version, activated) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(pack_id) DO UPDATE SET "
                "last_seen_version = max(last_seen_version, excluded.last_seen_version), "
                "active_version = excluded.active_version, activated = excluded.activated",
                [pack_id, version, version, time.time()],
            )

    def remove(self, pack_id: str) -> None:
        """Deactivate a pack; its last-seen version stays, so an older copy cannot come back."""
        with translate_errors(self.path), self.db.atomic():
            self.db.execute("UPDATE packs SET active_version = NULL WHERE pack_id = ?", [pack_id])
