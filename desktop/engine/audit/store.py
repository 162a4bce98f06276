"""The audit store: one encrypted SQLite file of hash-chained records, appended to and never edited.

An `EncryptedStore` like history, with its own file and keyring entry. A record is acknowledged
when `append` returns: it was committed (WAL, `synchronous=FULL`) in one `BEGIN IMMEDIATE`
transaction that read the chain's head and wrote the next link, so two processes appending at
once (the window and an `enclave ask`) queue instead of forking the chain, and a kill -9 leaves
either the whole record or none of it. After the commit the head (number and hash) is also written
to `audit.head` beside the store, so a record cut off the end is noticed by `verify`; a crash
between the two leaves the head one record behind, which is not a break.

Retention removes only the oldest records, and in the same transaction appends a checkpoint record
that names the last removed record's number and hash; the chain then starts from that link, and
`verify` checks the start against the latest checkpoint.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from desktop.engine.audit.chain import (
    GENESIS,
    ChainProblem,
    ChainReport,
    StoredRecord,
    canonical,
    record_hash,
    walk,
)
from desktop.engine.core import paths
from desktop.engine.storage.encrypted_db import translate_errors
from desktop.engine.storage.stores import EncryptedStore

DB_NAME = "audit.db"
HEAD_NAME = "audit.head"
SPEC_VERSION = 1
HMAC_META = "hmac_key"  # meta entries (m002): the key for hashed text
SIGNER_META = "signer"  # and the key id of the signing key new records name
migrations = Migrations("enclave.audit")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE records (
            seq INTEGER PRIMARY KEY,
            created REAL NOT NULL,
            body TEXT NOT NULL,
            hash TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX records_by_time ON records(created)")
    db.execute(
        """CREATE TABLE chain_start (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            first_seq INTEGER NOT NULL,
            prev TEXT NOT NULL
        )"""
    )
    db.execute("INSERT INTO chain_start (id, first_seq, prev) VALUES (1, 1, ?)", [GENESIS])


@migrations()
def m002_meta(db: sqlite_utils.Database) -> None:
    """Values the log needs at every start, kept inside the encrypted store rather than as more
    keyring entries (each keyring read can take seconds with the encrypted file keyring)."""
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


def audit_path() -> Path:
    return paths.data_dir() / DB_NAME


def utc_text(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="microseconds")


class AuditStore(EncryptedStore):
    schema = migrations
    key_name = "audit-db-key"
    what = "Your audit log"
    recovery_hint = (
        "Restore the keyring entry 'audit-db-key' from your keyring's backup; the audit log "
        "was not changed. Your administrator keeps the exports you sent."
    )

    def __init__(self, path: Path, key: bytes, head_file: Path | None = None) -> None:
        super().__init__(path, key)
        self.head_file = head_file or path.with_name(HEAD_NAME)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, fields: dict[str, Any], *, created: float | None = None) -> StoredRecord:
        """Add one record after the current head; durable (acknowledged) once this returns."""
        created = time.time() if created is None else created
        with translate_errors(self.path):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                stored = self._append_in_transaction(fields, created)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self._write_head(stored)
        return stored

    def _append_in_transaction(self, fields: dict[str, Any], created: float) -> StoredRecord:
        seq, prev = self._head()
        body = canonical(
            {**fields, "v": SPEC_VERSION, "seq": seq + 1, "prev": prev, "time": utc_text(created)}
        )
        digest = record_hash(body)
        self.db.execute(
            "INSERT INTO records (seq, created, body, hash) VALUES (?, ?, ?, ?)",
            [seq + 1, created, body, digest],
        )
        return StoredRecord(seq + 1, body, digest)

    def _head(self) -> tuple[int, str]:
        row = self.db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
        first_seq, prev = self._start()
        return first_seq - 1, prev

    def _start(self) -> tuple[int, str]:
        row = self.db.execute("SELECT first_seq, prev FROM chain_start WHERE id = 1").fetchone()
        return (int(row[0]), str(row[1])) if row is not None else (1, GENESIS)

    def _write_head(self, stored: StoredRecord) -> None:
        tmp = self.head_file.with_name(
            f"{self.head_file.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        )
        with tmp.open("w", encoding="ascii") as handle:
            handle.write(json.dumps({"seq": stored.position, "hash": stored.hash}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.head_file)

    def prune(self, older_than: float) -> int:
        """Remove the oldest records created before `older_than` (never one after a newer one),
        leaving a checkpoint record in the chain; the number removed."""
        with translate_errors(self.path):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                removed, stored = self._prune_in_transaction(older_than)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            if stored is not None:
                self._write_head(stored)
        return removed

    def _prune_in_transaction(self, older_than: float) -> tuple[int, StoredRecord | None]:
        first_seq, _ = self._start()
        newer = self.db.execute(
            "SELECT min(seq) FROM records WHERE created >= ?", [older_than]
        ).fetchone()[0]
        row = self.db.execute(
            "SELECT seq, hash FROM records WHERE seq < coalesce(?, 1 << 62) "
            "ORDER BY seq DESC LIMIT 1",
            [newer],
        ).fetchone()
        if row is None:
            return 0, None
        through, through_hash = int(row[0]), str(row[1])
        count = through - first_seq + 1
        checkpoint = {
            "kind": "checkpoint",
            "pruned_from": first_seq,
            "pruned_through": through,
            "pruned_head": through_hash,
            "pruned_count": count,
            "reason": "retention",
        }
        stored = self._append_in_transaction(checkpoint, time.time())
        self.db.execute("DELETE FROM records WHERE seq <= ?", [through])
        self.db.execute(
            "UPDATE chain_start SET first_seq = ?, prev = ? WHERE id = 1",
            [through + 1, through_hash],
        )
        return count, stored

    def meta(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", [name]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [name, value],
            )

    # -- reading ---------------------------------------------------------------------------------
    def records(self, first: int | None = None, last: int | None = None) -> Iterator[StoredRecord]:
        """Records in stored order, optionally from number `first` to `last` (inclusive)."""
        cursor = self.db.execute(
            "SELECT seq, body, hash FROM records WHERE seq >= ? AND seq <= ? ORDER BY seq",
            [first if first is not None else -(1 << 62), last if last is not None else 1 << 62],
        )
        for seq, body, digest in cursor:
            yield StoredRecord(int(seq), str(body), str(digest))

    def range_for(self, since: float | None, until: float | None) -> tuple[int, int] | None:
        """The numbers of the first and last record created in [since, until), or None."""
        row = self.db.execute(
            "SELECT min(seq), max(seq) FROM records WHERE created >= ? AND created < ?",
            [since if since is not None else float("-inf"), until or float("inf")],
        ).fetchone()
        return None if row[0] is None else (int(row[0]), int(row[1]))

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM records").fetchone()[0])

    def head_file_entry(self) -> tuple[int, str] | None:
        """The last acknowledged record as `audit.head` remembers it (None: never written)."""
        try:
            entry = json.loads(self.head_file.read_text(encoding="ascii"))
            return int(entry["seq"]), str(entry["hash"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
            return (-1, "")  # unreadable: reported by verify

    def verify(self) -> ChainReport:
        """Walk the whole chain; the report names the first altered, removed, inserted or
        reordered record (and a cut-off end, from `audit.head`). A page SQLCipher refuses is a
        `StorageError` (`DatabaseDamaged`), not a chain problem."""
        with translate_errors(self.path):
            return self._verify()

    def _verify(self) -> ChainReport:
        first_seq, prev = self._start()
        head = self.head_file_entry()
        if head == (-1, ""):
            report = walk(self.records(), start_seq=first_seq, start_prev=prev)
            problem = report.problem or ChainProblem(
                report.last_seq or 0,
                "altered",
                f"{self.head_file.name} (the last acknowledged record) is unreadable",
            )
            return ChainReport(
                report.count, report.first_seq, report.last_seq, report.last_hash, problem
            )
        report = walk(self.records(), start_seq=first_seq, start_prev=prev, head=head)
        if report.problem is None and first_seq > 1:
            return _check_start(report, first_seq, prev)
        return report


def _check_start(report: ChainReport, first_seq: int, prev: str) -> ChainReport:
    """A chain that starts after #1 must say so itself: its latest checkpoint names the link it
    starts from, so removing more old records (and moving the start) is a break."""
    latest = report.checkpoints[-1] if report.checkpoints else None
    if latest is not None and (latest.get("pruned_through"), latest.get("pruned_head")) == (
        first_seq - 1,
        prev,
    ):
        return report
    if latest is None:
        message = f"records #1 to #{first_seq - 1} were removed without a retention checkpoint"
        seq = 1
    else:
        through = int(latest.get("pruned_through", 0))
        message = (
            f"records #{through + 1} to #{first_seq - 1} were removed after the last retention "
            f"checkpoint (which removed up to #{through})"
        )
        seq = through + 1
    problem = ChainProblem(seq, "removed", message)
    return ChainReport(report.count, report.first_seq, report.last_seq, report.last_hash, problem)
