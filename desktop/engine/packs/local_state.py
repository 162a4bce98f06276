"""Small encrypted facts the app must not forget or let anyone rewind: the pack versions seen, the
active generation of each pack, and the latest time seen.

Kept in `state.db`, a SQLCipher database keyed from the trusted keyring, so deleting or replacing a
pack folder cannot reset the rollback protection. The floors and the latest time seen are mirrored
in a keyring entry (`pack-floors`): deleting `state.db`, or putting back an older copy of it, lowers
no floor and rewinds no clock. A missing `state.db` while the keyring shows this profile had one is
reported (`PackStateLost`); only an explicit install re-creates it, from the keyring copy.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils
from sqlite_utils.migrations import Migrations

from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError, KeyringUnavailable
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.storage import secrets
from desktop.engine.storage.encrypted_db import translate_errors
from desktop.engine.storage.stores import EncryptedStore

DB_NAME = "state.db"
MIRROR_NAME = "pack-floors"
MIRROR_CLOCK_EVERY = 24 * 3600  # seconds the latest time seen may run ahead of its keyring copy
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


@migrations()
def m002_generations_and_clock(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE packs ADD COLUMN active_folder TEXT")
    db.execute(
        "CREATE TABLE clock (id INTEGER PRIMARY KEY CHECK (id = 1), latest_seen REAL NOT NULL)"
    )


def wall_clock() -> datetime:
    """This computer's clock; expiry checks never use it alone (see `LocalState.trusted_now`)."""
    return datetime.now(UTC)


class PackStateLost(EngineError):
    """`state.db` is gone but the keyring shows this profile had one: packs stay off."""

    exit_code = ExitCode.PACK_REJECTED

    def __init__(self, recoverable: bool) -> None:
        where = paths.data_dir() / DB_NAME
        if recoverable:
            super().__init__(
                f"The pack state of this profile ({where}) was deleted or moved away: Enclave "
                "uses no pack until they are installed again.",
                "Install the latest version of each pack your administrator gave you "
                "(`enclave packs install FILE`, or Packs > Install); versions older than those "
                "already seen here are refused.",
            )
        else:
            super().__init__(
                f"The pack state of this profile ({where}) and its copy in the keyring were both "
                "deleted: Enclave can no longer tell which pack versions it has seen, so it uses "
                "no pack and installs none.",
                "Ask your administrator to restore the file from a backup. Starting over means "
                f"removing the keyring entries '{LocalState.key_name}' and '{MIRROR_NAME}' of "
                "this profile, which only your administrator should decide.",
            )
        self.recoverable = recoverable


@dataclass(frozen=True)
class PackState:
    pack_id: str
    last_seen_version: int
    active_version: int | None
    active_folder: str | None = None


@dataclass(frozen=True)
class Mirror:
    """The keyring copy: highest version seen per pack, and the latest time seen (POSIX)."""

    floors: dict[str, int]
    latest_seen: float

    def encode(self) -> bytes:
        document = {"floors": self.floors, "latest_seen": self.latest_seen}
        return json.dumps(document, sort_keys=True).encode()


def read_mirror() -> Mirror | None:
    """The keyring copy, or None if this profile has none; a damaged copy fails closed."""
    raw = secrets.get_secret(MIRROR_NAME)
    if raw is None:
        return None
    try:
        document = json.loads(raw)
        floors = {str(k): int(v) for k, v in dict(document["floors"]).items()}
        return Mirror(floors, float(document["latest_seen"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        raise PackStateLost(recoverable=False) from None


def check_not_lost() -> None:
    """Raise `PackStateLost` if `state.db` is missing but the keyring shows it existed. Without a
    trusted keyring there can be no state to lose (it is keyed from the keyring)."""
    if (paths.data_dir() / DB_NAME).exists():
        return
    try:
        mirror = read_mirror()
        key = secrets.get_secret(LocalState.key_name)
    except KeyringUnavailable:
        return
    if mirror is not None or key is not None:
        raise PackStateLost(recoverable=mirror is not None)


class LocalState(EncryptedStore):
    schema = migrations
    key_name = "state-db-key"
    what = "The pack state database"
    recovery_hint = "Reinstall the packs after your administrator restores your keyring."

    _mirror: Mirror | None = None

    @classmethod
    def open(cls, *, recover: bool = False) -> LocalState:
        """This profile's pack state, keyed from the trusted keyring and reconciled with the
        keyring copy. A deleted `state.db` raises `PackStateLost`, unless `recover` (an install)
        and the keyring copy survives: then it is re-created with the floors and clock kept."""
        path = paths.data_dir() / DB_NAME
        mirror = read_mirror()
        if not path.exists():
            evidence = mirror is not None or secrets.get_secret(cls.key_name) is not None
            if evidence and not (recover and mirror is not None):
                raise PackStateLost(recoverable=mirror is not None)
        state = cls.open_with_keyring(path)
        try:
            state._reconcile(mirror)
        except BaseException:
            state.close()
            raise
        return state

    def _reconcile(self, mirror: Mirror | None) -> None:
        """Raise each floor and the clock to the keyring copy (an older `state.db` put back), then
        bring the copy up to date (first run after an upgrade, or a deleted copy)."""
        with translate_errors(self.path), self.db.atomic():
            for pack_id, floor in (mirror.floors if mirror else {}).items():
                self.db.execute(
                    "INSERT INTO packs (pack_id, last_seen_version) VALUES (?, ?) "
                    "ON CONFLICT(pack_id) DO UPDATE SET "
                    "last_seen_version = max(last_seen_version, excluded.last_seen_version)",
                    [pack_id, floor],
                )
            if mirror is not None:
                self._set_latest_seen(mirror.latest_seen)
        self._mirror = mirror
        if mirror is None or self._floors() != mirror.floors:
            self._write_mirror()

    def _floors(self) -> dict[str, int]:
        rows = self.db.execute("SELECT pack_id, last_seen_version FROM packs").fetchall()
        return {str(pack_id): int(version) for pack_id, version in rows}

    def _write_mirror(self) -> None:
        self._mirror = Mirror(self._floors(), self._latest_seen())
        secrets.set_secret(MIRROR_NAME, self._mirror.encode())

    def _latest_seen(self) -> float:
        row = self.db.execute("SELECT latest_seen FROM clock WHERE id = 1").fetchone()
        return float(row[0]) if row else 0.0

    def _set_latest_seen(self, value: float) -> None:
        self.db.execute(
            "INSERT INTO clock (id, latest_seen) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET "
            "latest_seen = max(latest_seen, excluded.latest_seen)",
            [value],
        )

    def trusted_now(self, cap: datetime | None = None) -> datetime:
        """The time expiry is judged by: max(this computer's clock, the latest time seen), so a
        clock set back revives nothing. The clock is remembered up to `cap` (the latest expiry
        being judged): a clock once set far ahead expires those packs, not every future one."""
        now = wall_clock().timestamp()
        latest = self._latest_seen()
        remembered = now if cap is None else min(now, cap.timestamp())
        if remembered > latest:
            with translate_errors(self.path), self.db.atomic():
                self._set_latest_seen(remembered)
            copied = self._mirror.latest_seen if self._mirror else 0.0
            if remembered - copied > MIRROR_CLOCK_EVERY:
                self._write_mirror()
        return datetime.fromtimestamp(max(now, latest), UTC)

    def latest_seen(self) -> datetime:
        return datetime.fromtimestamp(self._latest_seen(), UTC)

    def pack(self, pack_id: str) -> PackState | None:
        row = self.db.execute(
            "SELECT pack_id, last_seen_version, active_version, active_folder FROM packs "
            "WHERE pack_id = ?",
            [pack_id],
        ).fetchone()
        return PackState(*row) if row else None

    def packs(self) -> list[PackState]:
        rows = self.db.execute(
            "SELECT pack_id, last_seen_version, active_version, active_folder FROM packs "
            "ORDER BY pack_id"
        ).fetchall()
        return [PackState(*row) for row in rows]

    def floor(self, pack_id: str) -> int:
        """The lowest version of `pack_id` this profile may install (0: none seen)."""
        seen = self.pack(pack_id)
        return seen.last_seen_version if seen else 0

    def activate(self, pack_id: str, version: int, folder: str | None = None) -> None:
        """Make `version` (in `folder`, `v<version>` by default) the active generation and the new
        rollback floor, in one transaction; then copy the floor to the keyring."""
        with translate_errors(self.path), self.db.atomic():
            self.db.execute(
                "INSERT INTO packs (pack_id, last_seen_version, active_version, activated, "
                "active_folder) VALUES (?, ?, ?, ?, ?) ON CONFLICT(pack_id) DO UPDATE SET "
                "last_seen_version = max(last_seen_version, excluded.last_seen_version), "
                "active_version = excluded.active_version, activated = excluded.activated, "
                "active_folder = excluded.active_folder",
                [pack_id, version, version, time.time(), folder or f"v{version}"],
            )
        self._write_mirror()

    def remove(self, pack_id: str) -> None:
        """Deactivate a pack; its last-seen version stays, so an older copy cannot come back."""
        with translate_errors(self.path), self.db.atomic():
            self.db.execute("UPDATE packs SET active_version = NULL WHERE pack_id = ?", [pack_id])
