"""SQLCipher's failures sorted by result code, on real encrypted databases.

Each environment problem is made for real (a page limit that fills the database, a second connection
holding the write lock, another key, random bytes, a cut-off file); the error must say what it is and
what to do, and must not depend on SQLite's message text.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import sqlcipher3

from desktop.engine.core.errors import (
    DatabaseDamaged,
    DiskFull,
    EngineError,
    NotEnclaveDatabase,
    StorageBusy,
    StorageError,
)
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.storage.encrypted_db import (
    open_database,
    result_code,
    storage_error,
    translate_errors,
)


def _new_db(path: Path, key: bytes, rows: int = 0) -> None:
    db = open_database(path, key)
    db.execute("CREATE TABLE t (x BLOB)")
    for _ in range(rows):
        db.execute("INSERT INTO t VALUES (randomblob(1000))")
    db.conn.close()  # the last connection checkpoints the WAL into the file


def _code(exc: BaseException) -> int | None:
    return result_code(exc.__cause__) if exc.__cause__ is not None else None


def test_sqlcipher_exposes_result_codes() -> None:
    # The classification relies on this (Python 3.11's sqlite3 API, kept by sqlcipher3 0.6.4).
    db = sqlcipher3.connect(":memory:")
    with pytest.raises(sqlcipher3.OperationalError) as caught:
        db.execute("SELECT * FROM missing")
    assert caught.value.sqlite_errorcode == sqlcipher3.SQLITE_ERROR
    assert caught.value.sqlite_errorname == "SQLITE_ERROR"


def test_disk_full_is_reported_and_earlier_rows_survive(tmp_path: Path) -> None:
    path, key = tmp_path / "full.db", os.urandom(32)
    _new_db(path, key)
    db = open_database(path, key)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 8}")
    written = 0
    with pytest.raises(DiskFull, match="full") as caught:
        for _ in range(1000):
            with translate_errors(path):
                db.execute("INSERT INTO t VALUES (randomblob(1000))")
            written += 1
    assert _code(caught.value) == sqlcipher3.SQLITE_FULL
    assert caught.value.exit_code == ExitCode.STORAGE and "Free some space" in caught.value.hint
    assert 0 < written < 1000
    assert db.execute("SELECT count(*) FROM t").fetchone()[0] == written
    db.execute("PRAGMA max_page_count = 1073741823")
    with translate_errors(path):
        db.execute("INSERT INTO t VALUES (1)")
    db.conn.close()


def test_busy_when_another_connection_holds_the_write_lock(tmp_path: Path) -> None:
    path, key = tmp_path / "busy.db", os.urandom(32)
    _new_db(path, key)
    holder = open_database(path, key)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    other = open_database(path, key)
    other.execute("PRAGMA busy_timeout = 50")  # not the 5 s default: the test needs no patience
    with pytest.raises(StorageBusy, match="busy") as caught, translate_errors(path):
        other.execute("INSERT INTO t VALUES (2)")
    assert _code(caught.value) in (sqlcipher3.SQLITE_BUSY, sqlcipher3.SQLITE_LOCKED)
    assert "Close other Enclave windows" in caught.value.hint
    holder.execute("COMMIT")
    with translate_errors(path):
        other.execute("INSERT INTO t VALUES (2)")
    assert other.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    holder.conn.close()
    other.conn.close()


def test_wrong_key_is_not_an_enclave_database_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    _new_db(path, os.urandom(32), rows=3)
    before = path.read_bytes()
    with pytest.raises(NotEnclaveDatabase, match="cannot be opened with the key") as caught:
        open_database(path, os.urandom(32))
    assert _code(caught.value) == sqlcipher3.SQLITE_NOTADB
    assert "recover the history key" in caught.value.hint
    assert path.read_bytes() == before


def test_random_bytes_are_not_an_enclave_database(tmp_path: Path) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(os.urandom(16384))
    with pytest.raises(NotEnclaveDatabase) as caught:
        open_database(path, os.urandom(32))
    assert _code(caught.value) == sqlcipher3.SQLITE_NOTADB


def test_truncated_database_is_damaged(tmp_path: Path) -> None:
    path, key = tmp_path / "cut.db", os.urandom(32)
    _new_db(path, key, rows=200)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(DatabaseDamaged, match="damaged") as caught, translate_errors(path):
        db = open_database(path, key)
        db.execute("SELECT count(*), sum(length(x)) FROM t").fetchone()
    assert _code(caught.value) == sqlcipher3.SQLITE_CORRUPT
    assert "backup" in caught.value.hint


def test_writing_a_read_only_database_says_so(tmp_path: Path) -> None:
    path, key = tmp_path / "shard.db", os.urandom(32)
    _new_db(path, key, rows=1)
    db = open_database(path, key, read_only=True)
    with pytest.raises(StorageError, match="read-only") as caught, translate_errors(path):
        db.execute("INSERT INTO t VALUES (1)")
    assert _code(caught.value) == sqlcipher3.SQLITE_READONLY


def test_a_folder_in_place_of_the_file_cannot_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    path.mkdir()
    with pytest.raises(StorageError, match="cannot be opened or created") as caught:
        open_database(path, os.urandom(32))
    assert _code(caught.value) == sqlcipher3.SQLITE_CANTOPEN


def test_a_short_key_is_a_bug_not_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes") as caught:
        open_database(tmp_path / "h.db", b"sixteen byte key")
    assert not isinstance(caught.value, EngineError)


def test_sql_mistakes_propagate_as_bugs(tmp_path: Path) -> None:
    path, key = tmp_path / "h.db", os.urandom(32)
    _new_db(path, key)
    db = open_database(path, key)
    with pytest.raises(sqlcipher3.OperationalError, match="no such table"), translate_errors(path):
        db.execute("SELECT * FROM missing")
    db.conn.close()


def _sqlite_error(message: str, code: int, name: str) -> sqlcipher3.Error:
    exc = sqlcipher3.OperationalError(message)
    exc.sqlite_errorcode = code
    exc.sqlite_errorname = name
    return exc


@pytest.mark.parametrize(
    ("message", "code", "name", "expected", "text"),
    [
        # The message text is misleading on purpose: only the code counts.
        ("database or disk is full", sqlcipher3.SQLITE_BUSY, "SQLITE_BUSY", StorageBusy, "busy"),
        ("database is locked", sqlcipher3.SQLITE_FULL, "SQLITE_FULL", DiskFull, "full"),
        ("x", 5 | (1 << 8), "SQLITE_BUSY_RECOVERY", StorageBusy, "busy"),
        ("x", sqlcipher3.SQLITE_LOCKED, "SQLITE_LOCKED", StorageBusy, "busy"),
        ("x", 10 | (4 << 8), "SQLITE_IOERR_FSYNC", StorageError, "SQLITE_IOERR_FSYNC"),
        ("x", 11 | (1 << 8), "SQLITE_CORRUPT_VTAB", DatabaseDamaged, "damaged"),
        ("x", sqlcipher3.SQLITE_PROTOCOL, "SQLITE_PROTOCOL", StorageError, "locked"),
    ],
)
def test_classified_by_primary_result_code_not_text(
    tmp_path: Path, message: str, code: int, name: str, expected: type, text: str
) -> None:
    error = storage_error(tmp_path / "h.db", _sqlite_error(message, code, name))
    assert type(error) is expected and error is not None
    assert text in str(error) and error.hint


def test_unknown_codes_and_other_exceptions_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    constraint = _sqlite_error(
        "UNIQUE constraint failed", 19 | (8 << 8), "SQLITE_CONSTRAINT_UNIQUE"
    )
    assert storage_error(path, constraint) is None
    assert storage_error(path, sqlcipher3.ProgrammingError("closed database")) is None
    assert storage_error(path, ValueError("nope")) is None


def test_os_errors_are_sorted_by_errno(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    assert isinstance(storage_error(path, OSError(errno.ENOSPC, "No space left")), DiskFull)
    denied = storage_error(path, PermissionError(errno.EACCES, "Permission denied", str(path)))
    assert type(denied) is StorageError and "Permission denied" in str(denied)
