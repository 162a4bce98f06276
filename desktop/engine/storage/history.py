"""Open the user's encrypted conversation history, with its key from the trusted keyring.

The history key is 256 random bits in the OS keyring. When the administrator has installed a recovery
public key (`<config dir>/recovery.pub`), the key is also sealed to it in `history.key.sealed.json`,
so a lost keyring entry does not mean lost history. With no trusted keyring we refuse to store
anything: there is no plaintext fallback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from desktop.engine.core import paths
from desktop.engine.storage import sealing, secrets
from desktop.engine.storage.conversations import ConversationStore

DB_NAME = "history.db"
SEALED_NAME = "history.key.sealed.json"
RECOVERY_PUB_NAME = "recovery.pub"
SEAL_LABEL = "enclave-history-key"


def history_path() -> Path:
    return paths.data_dir() / DB_NAME


def sealed_key_path() -> Path:
    return paths.data_dir() / SEALED_NAME


def _wrap_for_recovery(key: bytes) -> None:
    pub_file = paths.system_config_dir() / RECOVERY_PUB_NAME
    if not pub_file.exists():
        return
    recipient = sealing.load_public_key(pub_file.read_text(encoding="ascii"))
    target = sealed_key_path()
    if target.exists():
        existing = json.loads(target.read_text(encoding="utf-8"))
        if existing.get("recipient") == sealing.public_key_text(recipient):
            return
    envelope = sealing.seal(key, recipient, SEAL_LABEL)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(envelope, indent=2), encoding="utf-8")
    os.replace(tmp, target)


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


def generate_recovery_keypair(out_dir: Path) -> tuple[Path, Path]:
    """Write `recovery.pub` (install in the config folder) and `recovery.key` (keep offline)."""
    private = X25519PrivateKey.generate()
    out_dir.mkdir(parents=True, exist_ok=True)
    pub = out_dir / RECOVERY_PUB_NAME
    key = out_dir / "recovery.key"
    pub.write_text(sealing.public_key_text(private.public_key()) + "\n")
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(sealing.private_bytes(private).hex() + "\n")
    return pub, key
