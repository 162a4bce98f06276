"""Open SQLCipher databases through sqlite-utils, and translate SQLite's errors into ours.

Every local database that holds user data is a SQLCipher 4 file keyed with a raw 256-bit key; there is
no code path that opens one without a key. Messages are durable when acknowledged: WAL with
`synchronous=FULL`, and deleted rows are overwritten (`secure_delete`).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlcipher3
import sqlite_utils

from desktop.engine.core.errors import DiskFull, StorageError

KEY_BYTES = 32


def _connect(path: Path, key: bytes, read_only: bool = False) -> Any:
    if len(key) != KEY_BYTES:
        raise StorageError("Internal error: a database key must be 32 bytes.")
    target = f"file:{path}?mode=ro&immutable=1" if read_only else str(path)
    conn = sqlcipher3.connect(target, check_same_thread=False, isolation_level=None, uri=read_only)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    return conn


def open_database(
    path: Path, key: bytes, *, durable: bool = True, read_only: bool = False
) -> sqlite_utils.Database:
    """An encrypted database at `path` (created if absent); `StorageError` if the key is wrong.

    `read_only` opens an immutable file (an installed pack shard) without creating journal files.
    """
    if read_only and not path.is_file():
        raise StorageError(f"{path} is missing.")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with translate_errors(path):
        conn = _connect(path, key, read_only)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError:
            conn.close()
            raise StorageError(
                f"{path.name} cannot be opened with the key in your keyring (wrong key, or not "
                "an Enclave database).",
                "If you lost your keyring entry, ask your administrator to recover the history key.",
            ) from None
        if read_only:
            return sqlite_utils.Database(conn)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


def integrity_problems(db: sqlite_utils.Database) -> list[str]:
    """Rows from `integrity_check` and `cipher_integrity_check` that are not 'ok' (empty: healthy)."""
    problems = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall() if row[0] != "ok"]
    problems += [row[0] for row in db.execute("PRAGMA cipher_integrity_check").fetchall()]
    return problems


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """The one place that turns SQLite/OS storage failures into `StorageError`s."""
    try:
        yield
    except sqlcipher3.OperationalError as exc:
        text = str(exc).lower()
        if "full" in text:
            raise DiskFull(path) from None
        if "locked" in text or "busy" in text:
            raise StorageError(
                f"{path.name} is busy (another Enclave may be running).",
                "Close other Enclave windows and try again.",
            ) from None
        raise StorageError(f"Storage error on {path.name}: {exc}.") from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFull(path) from None
        raise StorageError(f"Cannot use {path}: {exc.strerror}.") from exc
