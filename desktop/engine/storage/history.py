"""Open the user's encrypted conversation history, with its key from the trusted keyring.

The history key is 256 random bits in the OS keyring. When the administrator has installed a recovery
public key (`<config dir>/recovery.pub`), the key is also sealed to it in `history.key.sealed.json`,
so a lost keyring entry does not mean lost history. With no trusted keyring we refuse to store
anything: there is no plaintext fallback.

Keys are never replaced silently: once the history key is sealed to a recovery key, a different
`recovery.pub` appearing in the config folder is reported (log, `enclave doctor`) and used only
after `enclave history recovery-reseal --replace`; `recovery-keygen` refuses to overwrite a key
pair unless asked to `--replace` it, and then keeps the old pair.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.storage import sealing, secrets
from desktop.engine.storage.conversations import ConversationStore

DB_NAME = "history.db"
SEALED_NAME = "history.key.sealed.json"
RECOVERY_PUB_NAME = "recovery.pub"
RECOVERY_KEY_NAME = "recovery.key"
SEAL_LABEL = "enclave-history-key"
DAMAGED = "(damaged)"

_LOG = logging.getLogger("enclave.keys")
_LOG.addHandler(logging.NullHandler())


class KeyReplacementRefused(EngineError):
    """A key would be replaced without the user asking for it; nothing was changed."""

    exit_code = ExitCode.USAGE


def recovery_fingerprint(public_key_text: str) -> str:
    """A short, readable fingerprint of a recovery public key, to compare out of band."""
    digest = hashlib.sha256(public_key_text.strip().encode("ascii")).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, 32, 4))


@dataclass(frozen=True)
class RecoveryStatus:
    """Which recovery key the history key is sealed to, and which one the config folder offers."""

    sealed_to: str | None  # public key text, None when not sealed
    installed: str | None  # public key text of <config>/recovery.pub, None when absent

    @property
    def mismatch(self) -> bool:
        return bool(self.sealed_to and self.installed and self.sealed_to != self.installed)

    def describe(self) -> str:
        if self.sealed_to is None:
            return (
                "not sealed to a recovery key"
                if self.installed is None
                else f"recovery key {recovery_fingerprint(self.installed)} installed, not sealed yet"
            )
        text = (
            f"sealed copy damaged ({SEALED_NAME})"
            if self.sealed_to == DAMAGED
            else f"sealed to recovery key {recovery_fingerprint(self.sealed_to)}"
        )
        if self.mismatch and self.installed:
            text += (
                f"; the config folder now offers {recovery_fingerprint(self.installed)}: confirm "
                "it with your administrator, then `enclave history recovery-reseal --replace`"
            )
        return text


def history_path() -> Path:
    return paths.data_dir() / DB_NAME


def sealed_key_path() -> Path:
    return paths.data_dir() / SEALED_NAME


def _installed_recovery_key() -> str | None:
    pub_file = paths.system_config_dir() / RECOVERY_PUB_NAME
    if not pub_file.exists():
        return None
    text = pub_file.read_text(encoding="ascii").strip()
    return sealing.public_key_text(sealing.load_public_key(text))


def recovery_status() -> RecoveryStatus:
    target = sealed_key_path()
    sealed_to = None
    if target.exists():
        try:
            recipient = json.loads(target.read_text(encoding="utf-8"))["recipient"]
            sealed_to = str(recipient)
        except (ValueError, KeyError, TypeError):  # damaged (e.g. by a power cut): never re-seal
            sealed_to = DAMAGED  # on our own over it; `recovery-reseal --replace` does
    return RecoveryStatus(sealed_to, _installed_recovery_key())


def _seal_to(key: bytes, public_key_text: str) -> None:
    envelope = sealing.seal(key, sealing.load_public_key(public_key_text), SEAL_LABEL)
    target = sealed_key_path()
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(envelope, indent=2), encoding="utf-8")
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def _wrap_for_recovery(key: bytes) -> None:
    """Seal the history key to the installed recovery key the first time; never re-seal it to a
    different one on its own (whoever can drop a `recovery.pub` would get a copy of the key)."""
    status = recovery_status()
    if status.installed is None or status.sealed_to == status.installed:
        return
    if status.sealed_to is None:
        _seal_to(key, status.installed)
        _LOG.info("history key sealed to recovery key %s", recovery_fingerprint(status.installed))
        return
    _LOG.warning("history key not re-sealed: %s", status.describe())


def reseal_recovery(*, replace: bool) -> RecoveryStatus:
    """Seal the history key to the recovery key now in the config folder, replacing the sealed
    copy for the old one: only with `replace` (the user's confirmation); returns the old status."""
    status = recovery_status()
    if status.installed is None:
        raise KeyReplacementRefused(
            f"No recovery key is installed ({paths.system_config_dir() / RECOVERY_PUB_NAME}).",
            "Your administrator installs recovery.pub in the config folder (through MDM).",
        )
    if status.sealed_to == status.installed:
        return status
    if status.sealed_to is not None and not replace:
        raise KeyReplacementRefused(
            f"Your history key is {status.describe()}. Nothing was changed.",
            "Check the new fingerprint with your administrator, then run "
            "`enclave history recovery-reseal --replace`.",
        )
    _seal_to(history_key(), status.installed)
    _LOG.warning(
        "history key re-sealed on request to recovery key %s",
        recovery_fingerprint(status.installed),
    )
    return status


def history_key() -> bytes:
    """The history key, created on first use; refuses to replace a lost key silently."""
    key = ConversationStore.keyring_key(history_path())
    paths.ensure_dir(paths.data_dir())
    _wrap_for_recovery(key)
    return key


def open_history() -> ConversationStore:
    return ConversationStore(history_path(), history_key())


def recover_key(private_key_file: Path) -> None:
    """Administrator recovery: unseal the history key with the recovery private key, restore it."""
    raw = bytes.fromhex(private_key_file.read_text(encoding="ascii").strip())
    private = X25519PrivateKey.from_private_bytes(raw)
    envelope = json.loads(sealed_key_path().read_text(encoding="utf-8"))
    key = sealing.unseal(envelope, private, SEAL_LABEL)
    ConversationStore(history_path(), key).close()  # proves the key opens the database
    secrets.set_secret(ConversationStore.key_name, key)


REPLACED_PREFIX = "recovery-replaced-"


def replaced_recovery_files(out_dir: Path) -> list[Path]:
    """Older pairs that `recovery-keygen --replace` kept in `out_dir`, oldest first."""
    return sorted(out_dir.glob(f"{REPLACED_PREFIX}*"))


def generate_recovery_keypair(out_dir: Path, *, replace: bool = False) -> tuple[Path, Path]:
    """Write `recovery.pub` (install in the config folder) and `recovery.key` (keep offline).

    An existing pair may be the only key that recovers users' histories, so it is never
    overwritten: refused, or with `replace` renamed to `recovery-replaced-<UTC time>.*` and kept.
    Returns (public, private).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    pub = out_dir / RECOVERY_PUB_NAME
    key = out_dir / RECOVERY_KEY_NAME
    existing = [p for p in (key, pub) if p.exists()]
    if existing and not replace:
        raise KeyReplacementRefused(
            f"{existing[0]} already exists; it may be the only key that recovers your users' "
            "history, so it was not overwritten.",
            "Use another folder, or `enclave history recovery-keygen DIR --replace` to make a new "
            "pair and keep the old one next to it (keep the old recovery.key until every machine "
            "has re-sealed to the new one).",
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for old in existing:
        os.replace(old, out_dir / f"{REPLACED_PREFIX}{stamp}{old.suffix}")
    if existing:
        _LOG.warning("recovery key pair in %s replaced on request; old pair kept", out_dir)
    private = X25519PrivateKey.generate()
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(sealing.private_bytes(private).hex() + "\n")
    pub.write_text(sealing.public_key_text(private.public_key()) + "\n")
    return pub, key
