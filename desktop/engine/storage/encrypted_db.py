"""Open SQLCipher databases through sqlite-utils, and translate SQLite's errors into ours.

Every local database that holds user data is a SQLCipher 4 file keyed with a raw 256-bit key; there is
no code path that opens one without a key. Messages are durable when acknowledged: WAL with
`synchronous=FULL`, and deleted rows are overwritten (`secure_delete`).

SQLite's failures are sorted by their primary result code (`sqlite_errorcode & 0xFF`), never by the
message text: the environment's problems (disk full, busy, wrong key, damaged file, read-only,
I/O) become `StorageError`s that say what to do; any other code (a syntax error, a constraint, a
closed connection) is a bug in Enclave and propagates unchanged.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlcipher3
import sqlite_utils

from desktop.engine.core.errors import (
    DatabaseDamaged,
    DiskFull,
    NotEnclaveDatabase,
    StorageBusy,
    StorageError,
)

KEY_BYTES = 32


def _connect(path: Path, key: bytes, read_only: bool = False) -> Any:
    if len(key) != KEY_BYTES:
        # A caller passed a wrong key object: a bug in Enclave, never the user's doing.
        raise ValueError(f"a database key must be {KEY_BYTES} bytes, not {len(key)}")
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
        raise StorageError(
            f"{path} is missing.", "For a pack, reinstall it with `enclave packs install`."
        )
    with translate_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = _connect(path, key, read_only)
        try:
            # The first read decrypts page 1: SQLITE_NOTADB here means a wrong key or not our file.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if not read_only:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
    return sqlite_utils.Database(conn)


def integrity_problems(db: sqlite_utils.Database) -> list[str]:
    """Rows from `integrity_check` and `cipher_integrity_check` that are not 'ok' (empty: healthy)."""
    problems = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall() if row[0] != "ok"]
    problems += [row[0] for row in db.execute("PRAGMA cipher_integrity_check").fetchall()]
    return problems


def result_code(exc: BaseException) -> int | None:
    """SQLite's primary result code for `exc` (`SQLITE_FULL`...), or None if it carries none."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def storage_error(path: Path, exc: BaseException) -> StorageError | None:
    """The `StorageError` for a SQLite or OS failure on `path`; None when it is a bug, not ours.

    SQLite errors are sorted by primary result code; extended codes (`SQLITE_IOERR_FSYNC`...) fold
    into theirs. OS errors (creating the folder, a shard file) by errno.
    """
    if isinstance(exc, sqlcipher3.Error):
        code = result_code(exc)
        if code == sqlcipher3.SQLITE_FULL:
            return DiskFull(path)
        if code in (sqlcipher3.SQLITE_BUSY, sqlcipher3.SQLITE_LOCKED):
            return StorageBusy(path)
        if code == sqlcipher3.SQLITE_NOTADB:
            return NotEnclaveDatabase(path)
        if code == sqlcipher3.SQLITE_CORRUPT:
            return DatabaseDamaged(path)
        if code in (sqlcipher3.SQLITE_READONLY, sqlcipher3.SQLITE_PERM):
            return StorageError(
                f"{path} is read-only, so nothing can be saved.",
                "Check the permissions of the file and its folder (and that the disk is not "
                "mounted read-only), then try again.",
            )
        if code == sqlcipher3.SQLITE_CANTOPEN:
            return StorageError(
                f"{path} cannot be opened or created.",
                "Check that its folder exists and is writable by you, then try again.",
            )
        if code == sqlcipher3.SQLITE_IOERR:
            return StorageError(
                f"The disk failed while reading or writing {path} ({exc.sqlite_errorname}).",
                "Check the disk (a removed drive, a network folder that went away, a failing "
                "disk) and try again; what was saved before is intact.",
            )
        if code == sqlcipher3.SQLITE_PROTOCOL:
            return StorageError(
                f"{path.name} cannot be locked ({exc.sqlite_errorname}).",
                "Keep Enclave's data folder on a local disk, not a network share.",
            )
        if code == sqlcipher3.SQLITE_NOMEM:
            return StorageError(
                f"Out of memory while using {path.name}.",
                "Close other programs and try again.",
            )
        return None
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return DiskFull(path)
        return StorageError(
            f"Cannot use {exc.filename or path}: {exc.strerror or exc}.",
            "Check that the folder exists, is writable by you and the disk is connected.",
        )
    return None


@contextlib.contextmanager
def translate_errors(path: Path) -> Iterator[None]:
    """The one place that turns SQLite/OS storage failures on `path` into `StorageError`s.

    Anything `storage_error` does not recognise propagates unchanged: it is a bug, and the CLI or
    window reports it as one (with a crash report) rather than as something the user did.
    """
    try:
        yield
    except (sqlcipher3.Error, OSError) as exc:
        error = storage_error(path, exc)
        if error is None:
            raise
        raise error from exc
