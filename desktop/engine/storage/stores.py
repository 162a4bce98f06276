"""The one recipe for an encrypted local store: a SQLCipher file, its migrations, its keyring key.

Conversation history and pack state are `EncryptedStore`s (an audit log would be the next): each
names its migrations and its keyring entry, and gets the same opening, key handling and closing. A
store can also be opened with a key in hand (tests, administrator recovery); from the keyring, the
key is created with the file and a lost one is never silently replaced (`secrets.database_key`).

Each store records its schema version as the names of the migrations applied to it (sqlite-utils'
`_sqlite_migrations` table, one migration set per store). Opening a store runs the pending ones
all in one `BEGIN IMMEDIATE` transaction, so a kill -9 or a power cut part-way leaves the store
as it was before the upgrade, and two processes starting at once (the window and `enclave ask`)
queue instead of both migrating. A store that names a migration this version does not know was
written by a newer Enclave: it is refused (`SchemaTooNew`), never migrated or written. See
docs/upgrades.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

import sqlite_utils
from sqlite_utils.migrations import Migrations

from desktop.engine.core.errors import StorageError
from desktop.engine.storage import secrets
from desktop.engine.storage.encrypted_db import integrity_problems, open_database, translate_errors


class SchemaTooNew(StorageError):
    """A store written by a newer Enclave: opening it here could lose what that version added."""

    def __init__(self, what: str, path: Path, unknown: list[str]) -> None:
        super().__init__(
            f"{what} ({path}) was written by a newer Enclave: this version does not know its "
            f"changes ({', '.join(unknown)}), so it did not open or change it.",
            "Upgrade Enclave to the version that wrote it, or a newer one (ask IT if Enclave "
            "was downgraded); your data is intact and opens there.",
        )
        self.path = path
        self.unknown = unknown


def known_migrations(schema: Migrations) -> list[str]:
    """The names of `schema`'s migrations, in order (what this version of Enclave knows)."""
    return [m.name for m in schema.pending(sqlite_utils.Database(memory=True))]


def applied_migrations(schema: Migrations, db: sqlite_utils.Database) -> list[str]:
    """The names of `schema`'s migrations applied to `db`, in the order they were applied."""
    return [m.name for m in schema.applied(db)]


def migrate(schema: Migrations, db: sqlite_utils.Database, what: str, path: Path) -> None:
    """Bring `db` up to `schema`: every pending migration in one transaction, or none; refuse a
    store that has migrations this version does not know (`SchemaTooNew`) before writing."""
    known = known_migrations(schema)

    def unknown() -> list[str]:
        return [name for name in applied_migrations(schema, db) if name not in known]

    with translate_errors(path):
        if unknown():
            raise SchemaTooNew(what, path, unknown())
        if not schema.pending(db):
            return
        db.execute("BEGIN IMMEDIATE")  # the write lock: another process may be migrating too
        try:
            if unknown():  # it was, to a newer schema than ours, while we waited
                raise SchemaTooNew(what, path, unknown())
            pending = schema.pending(db)
            if any(not m.transactional for m in pending):
                raise ValueError(f"{what}: every migration must run inside the transaction")
            schema.apply(db)  # each migration in a savepoint of this one transaction
            db.execute("COMMIT")
        except BaseException:
            if db.conn.in_transaction:
                db.execute("ROLLBACK")
            raise


class EncryptedStore:
    """An encrypted SQLite database brought up to its schema; one per thread.

    Subclasses set the class attributes: `schema`, the store's migrations (never edit one that has
    run); `key_name`, its keyring entry; `what` and `recovery_hint`, how the lost-key error names
    the store and says how to get it back.
    """

    schema: ClassVar[Migrations]
    key_name: ClassVar[str]
    what: ClassVar[str]
    recovery_hint: ClassVar[str]

    def __init__(self, path: Path, key: bytes) -> None:
        """Open (creating if absent) and migrate; `StorageError` if the key does not open it."""
        self.path = path
        self.db: sqlite_utils.Database = open_database(path, key)
        try:
            migrate(self.schema, self.db, self.what, path)
        except BaseException:
            self.db.conn.close()
            raise

    @classmethod
    def keyring_key(cls, path: Path) -> bytes:
        """This store's key from the trusted keyring; `KeyringUnavailable` if the file exists but
        its key is gone (a fresh key would orphan the data)."""
        return secrets.database_key(cls.key_name, path, cls.what, cls.recovery_hint)

    @classmethod
    def open_with_keyring(cls, path: Path) -> Self:
        return cls(path, cls.keyring_key(path))

    def schema_version(self) -> str:
        """The last migration applied to this store: its schema version (docs/upgrades.md)."""
        applied = applied_migrations(self.schema, self.db)
        return applied[-1] if applied else ""

    def close(self) -> None:
        self.db.conn.close()

    def integrity_problems(self) -> list[str]:
        return integrity_problems(self.db)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
