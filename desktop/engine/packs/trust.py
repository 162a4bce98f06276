"""The administrator keys this machine trusts: `*.pub` files in `<config dir>/trusted-keys/`.

Config dirs are the OS site configuration folder and the installation prefix (see `paths`), written
by the installer or MDM, not by the app; nothing inside a pack or a grant can add a key to them.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from desktop.engine.core import paths
from desktop.engine.packs.signing import key_id, load_public_key

TRUSTED_DIR_NAME = "trusted-keys"


def trusted_keys_dirs() -> list[Path]:
    return [folder / TRUSTED_DIR_NAME for folder in paths.system_config_dirs()]


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    files = [f for d in trusted_keys_dirs() if d.is_dir() for f in sorted(d.glob("*.pub"))]
    for file in files:
        try:
            key = load_public_key(file.read_text(encoding="ascii"))
        except (ValueError, UnicodeDecodeError):
            continue  # a damaged key file trusts nothing
        keys[key_id(key)] = key
    return keys
