"""Administrator side: hash a built pack folder, write its signed manifest, produce the archive."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.engine.packs import manifest as manifest_mod
from desktop.engine.packs.manifest import MANIFEST_NAME, PACK_TYPE, SPEC_VERSION, Manifest
from desktop.engine.packs.signing import sign


def file_entries(folder: Path) -> list[dict[str, Any]]:
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == MANIFEST_NAME:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                digest.update(block)
        entries.append(
            {"path": relative, "length": path.stat().st_size, "sha256": digest.hexdigest()}
        )
    return entries


def sign_folder(folder: Path, fields: dict[str, Any], admin_key: Ed25519PrivateKey) -> Manifest:
    """Write `manifest.json` for everything in `folder`, signed by `admin_key`."""
    signed = {
        "type": PACK_TYPE,
        "spec_version": SPEC_VERSION,
        **fields,
        "files": file_entries(folder),
    }
    manifest = manifest_mod.validate(signed)
    (folder / MANIFEST_NAME).write_text(
        json.dumps(sign(signed, admin_key), indent=2, sort_keys=True)
    )
    return manifest
