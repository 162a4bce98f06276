"""Keys that protect local data, kept in the OS keyring, and only in a keyring we trust.

We never take `keyring`'s chained default as it is: `keyrings.cryptfile` registers a *plaintext*
backend, and on a headless machine the chain ends in `fail`. Instead the backend is chosen from an
allow-list of OS keyrings (Secret Service, macOS Keychain, Windows Credential Locker, KWallet), or,
when the user asks for it explicitly with `ENCLAVE_KEYRING=cryptfile`, a passphrase-encrypted file
keyring (passphrase from `ENCLAVE_KEYRING_PASSPHRASE` or a prompt). Anything else is refused with
what to do: we never fall back to storing keys or data in plain text.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets as pysecrets
import sys
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors

from desktop.engine.core import paths
from desktop.engine.core.errors import KeyringUnavailable

SERVICE = "enclave"
CRYPTFILE_NAME = "keyring.cfg"

TRUSTED_BACKENDS = frozenset(
    {
        "keyring.backends.SecretService.Keyring",
        "keyring.backends.macOS.Keyring",
        "keyring.backends.Windows.WinVaultKeyring",
        "keyring.backends.kwallet.DBusKeyring",
        "keyring.backends.libsecret.Keyring",
        "keyrings.cryptfile.cryptfile.CryptFileKeyring",
    }
)

_HOW_TO_FIX = (
    "Start a desktop session with a keyring (GNOME Keyring / KWallet / Keychain), or choose the "
    "encrypted file keyring explicitly: export ENCLAVE_KEYRING=cryptfile and "
    "ENCLAVE_KEYRING_PASSPHRASE='<a strong passphrase>' (keep the passphrase safe)."
)


def _qualified(backend: Any) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__name__}"


def _cryptfile_backend() -> Any:
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    passphrase = os.environ.get("ENCLAVE_KEYRING_PASSPHRASE")
    if not passphrase and sys.stdin is not None and sys.stdin.isatty():
        import getpass

        passphrase = getpass.getpass("Passphrase for Enclave's encrypted keyring file: ")
    if not passphrase:
        raise KeyringUnavailable(
            "ENCLAVE_KEYRING=cryptfile is set but no passphrase was given.",
            "Set ENCLAVE_KEYRING_PASSPHRASE or run in a terminal to be asked for it.",
        )
    file_path = str(paths.ensure_dir(paths.data_dir()) / CRYPTFILE_NAME)
    opened = hashlib.sha256(f"{file_path}\0{passphrase}".encode()).hexdigest()
    cached = _OPENED_CRYPTFILES.get(opened)
    if cached is not None and os.path.exists(file_path):
        return cached  # checking the passphrase costs a full Argon2 run (seconds): once a process
    backend = CryptFileKeyring()
    backend.file_path = file_path
    try:
        backend.keyring_key = passphrase
    except ValueError:
        raise KeyringUnavailable(
            f"The encrypted keyring file {backend.file_path} did not open with this passphrase.",
            "Check ENCLAVE_KEYRING_PASSPHRASE is the passphrase you chose when it was created.",
        ) from None
    _OPENED_CRYPTFILES[opened] = backend
    return backend


# Encrypted keyring files this process has opened, by file and passphrase (a different passphrase
# or file is checked again; a deleted file is opened afresh).
_OPENED_CRYPTFILES: dict[str, Any] = {}


def _os_backend() -> Any:
    current = keyring.get_keyring()
    candidates = [current, *getattr(current, "backends", [])]
    candidates += sorted(
        keyring.backend.get_all_keyring(), key=lambda b: getattr(b, "priority", 0), reverse=True
    )
    for backend in candidates:
        name = _qualified(backend)
        if name in TRUSTED_BACKENDS and not name.endswith("CryptFileKeyring"):
            return backend
    raise KeyringUnavailable(
        f"No secure OS keyring is available (found {_qualified(current)}).", _HOW_TO_FIX
    )


def backend() -> Any:
    """The trusted keyring backend to use, or `KeyringUnavailable` saying what to do."""
    if os.environ.get("ENCLAVE_KEYRING", "").lower() == "cryptfile":
        return _cryptfile_backend()
    return _os_backend()


def describe_backend() -> dict[str, Any]:
    try:
        chosen = backend()
    except KeyringUnavailable as exc:
        return {"backend": "none", "secure": False, "reason": exc.message, "hint": exc.hint}
    return {"backend": _qualified(chosen), "secure": True, "reason": "", "hint": ""}


def _service() -> str:
    """Keyring service name; each local profile has its own entries."""
    name = paths.profile()
    return f"{SERVICE}:{name}" if name else SERVICE


def get_secret(name: str) -> bytes | None:
    chosen = backend()
    cached = _cached_read(chosen, name)
    if cached is not _NOT_CACHED:
        return base64.b64decode(cached) if isinstance(cached, str) and cached else None
    try:
        value = chosen.get_password(_service(), name)
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(
            f"The keyring refused to read '{name}': {exc}.", _HOW_TO_FIX
        ) from None
    except ValueError as exc:  # cryptfile: wrong passphrase
        raise KeyringUnavailable(
            f"The encrypted keyring file could not be opened: {exc}.",
            "Check ENCLAVE_KEYRING_PASSPHRASE is the passphrase you chose.",
        ) from None
    _remember_read(chosen, name, value)
    return base64.b64decode(value) if value else None


# Values read from an encrypted keyring file this process opened: each read of that file is an
# Argon2 run (seconds), and the window's start reads the history key twice and the audit and state
# keys once. Only that backend is cached: an OS keyring is fast and may change under us.
_NOT_CACHED = object()
_READS: dict[tuple[int, str, str], str | None] = {}


def _cached_read(chosen: Any, name: str) -> object:
    if not any(chosen is b for b in _OPENED_CRYPTFILES.values()):
        return _NOT_CACHED
    return _READS.get((id(chosen), _service(), name), _NOT_CACHED)


def _remember_read(chosen: Any, name: str, value: str | None) -> None:
    if any(chosen is b for b in _OPENED_CRYPTFILES.values()):
        _READS[(id(chosen), _service(), name)] = value


def forget_reads() -> None:
    """Drop the cached reads (after another process or tool changed the keyring file)."""
    _READS.clear()


def set_secret(name: str, value: bytes) -> None:
    chosen = backend()
    _READS.pop((id(chosen), _service(), name), None)  # the check below reads the file again
    try:
        chosen.set_password(_service(), name, base64.b64encode(value).decode("ascii"))
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(
            f"The keyring refused to store '{name}': {exc}.", _HOW_TO_FIX
        ) from None
    if get_secret(name) != value:
        raise KeyringUnavailable(f"The keyring did not keep '{name}'.", _HOW_TO_FIX)


def get_or_create_key(name: str, nbytes: int = 32) -> tuple[bytes, bool]:
    """A random key stored under `name`; returns (key, created_now).

    Only for keys whose absence orphans nothing; a key that data or grants depend on checks for
    that first (`database_key`, `grants.user_private_key`) and replaces one only through
    `new_key(..., replace=True)` on the user's explicit request.
    """
    existing = get_secret(name)
    if existing is not None:
        return existing, False
    return new_key(name, nbytes), True


def new_key(name: str, nbytes: int = 32, *, replace: bool = False) -> bytes:
    """Store a fresh random key under `name`; an existing entry is overwritten only if `replace`."""
    if not replace and get_secret(name) is not None:
        raise ValueError(f"the keyring already holds '{name}'; refusing to overwrite it")
    key = pysecrets.token_bytes(nbytes)
    set_secret(name, key)
    return key


def database_key(name: str, database: Path, what: str, hint: str) -> bytes:
    """The key of an encrypted database, created with it; never a new key for an existing file.

    A missing key for an existing database means a lost keyring entry: making a fresh key would
    orphan the data, so we stop and say how to recover (`hint`).
    """
    key = get_secret(name)
    if key is not None:
        return key
    if database.exists():
        raise KeyringUnavailable(f"{what} exists but its key is missing from the keyring.", hint)
    key, _ = get_or_create_key(name)
    return key
