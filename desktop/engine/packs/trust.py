"""The administrator keys this machine trusts: `*.pub` files in `<config dir>/trusted-keys/`.

That folder is written by the installer or MDM, not by the app; nothing inside a pack or a grant can
add a key to it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from desktop.engine import paths
from desktop.engine.packs.signing import key_id, load_public_key

TRUSTED_DIR_NAME = "trusted-keys"


def trusted_keys_dir() -> Path:
    return paths.system_config_dir() / TRUSTED_DIR_NAME


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    folder = trusted_keys_dir()
    keys: dict[str, Ed25519PublicKey] = {}
    if not folder.is_dir():
        return keys
    for file in sorted(folder.glob("*.pub")):
        try:
            key = load_public_key(file.read_text(encoding="ascii"))
        except (ValueError, UnicodeDecodeError):
            continue  # a damaged key file trusts nothing
        keys[key_id(key)] = key
    return keys
