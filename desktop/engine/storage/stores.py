"""The one recipe for an encrypted local store: a SQLCipher file, its migrations, its keyring key.

Conversation history and pack state are `EncryptedStore`s (an audit log would be the next): each
names its migrations and its keyring entry, and gets the same opening, key handling and closing. A
store can also be opened with a key in hand (tests, administrator recovery); from the keyring, the
key is created with the file and a lost one is never silently replaced (`secrets.database_key`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

import sqlite_utils
from sqlite_utils.migrations import Migrations

from desktop.engine.storage import secrets
from desktop.engine.storage.encrypted_db import integrity_problems, open_database, translate_errors


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
            with translate_errors(path):
                self.schema.apply(self.db)
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

    def close(self) -> None:
        self.db.conn.close()

    def integrity_problems(self) -> list[str]:
        return integrity_problems(self.db)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
