"""Install packs and grants on this machine: verify everything first, then activate atomically.

Layout under the data folder: `packs/<pack_id>/v<version>/` (manifest.json + shards/) and
`grants/<pack_id>-v<version>-<grant_id>.json`. The active version of each pack and the highest version
ever seen live in the encrypted local state, so neither deleting folders nor copying an older pack
back can roll a pack back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from desktop.engine.core import paths
from desktop.engine.packs import trust
from desktop.engine.packs.archive import unpack_verified, verify_folder
from desktop.engine.packs.errors import GrantRejected, PackRejected
from desktop.engine.packs.grants import Grant, open_grant
from desktop.engine.packs.local_state import LocalState
from desktop.engine.packs.manifest import Manifest, format_time
from desktop.engine.runtime.catalog import Catalog

POLICY_NAME = "policy.toml"


@dataclass(frozen=True)
class InstalledPack:
    manifest: Manifest
    folder: Path
    expiry: str  # ok | expiring | expired


def packs_root() -> Path:
    return paths.data_dir() / "packs"


def grants_root() -> Path:
    return paths.data_dir() / "grants"


def expired_pack_policy() -> str:
    """'refuse' (default) or 'warn', from the administrator's policy file in the config folder."""
    policy = paths.system_config_dir() / POLICY_NAME
    if policy.exists():
        value = tomllib.loads(policy.read_text(encoding="utf-8")).get("packs", {}).get("expired")
        if value in ("refuse", "warn"):
            return str(value)
    return "refuse"


def _check_installable(manifest: Manifest, state: LocalState) -> None:
    seen = state.pack(manifest.pack_id)
    if seen is not None and manifest.version < seen.last_seen_version:
        raise PackRejected(
            f"'{manifest.pack_id}' version {manifest.version} is older than version "
            f"{seen.last_seen_version} already seen on this computer (rollback)"
        )
    if manifest.expiry_state() == "expired" and expired_pack_policy() == "refuse":
        raise PackRejected(f"'{manifest.pack_id}' expired on {format_time(manifest.expires)}")
    embedding = manifest.embedding
    known = {e.sha256 for e in Catalog.load() if e.role == "embedding"}
    if embedding.get("sha256") not in known:
        raise PackRejected(
            f"it needs the embedding model '{embedding.get('id')}' which is not in this app's "
            "catalog",
            "Install the app version that ships that model, or ask for a pack built with ours.",
        )


def install(source: Path) -> InstalledPack:
    """Verify `source` (archive file or folder) and make it the active version of its pack."""
    trusted = trust.trusted_keys()
    root = paths.ensure_dir(packs_root())
    with tempfile.TemporaryDirectory(dir=root, prefix=".staging-") as tmp:
        staging = Path(tmp) / "pack"
        staging.mkdir()
        if source.is_dir():
            verify_folder(source, trusted)
            for item in source.rglob("*"):
                if item.is_file():
                    target = staging / item.relative_to(source)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(item, target)
            manifest = verify_folder(staging, trusted)  # verify the copy we will use
        elif source.is_file():
            manifest = unpack_verified(source, staging, trusted)
        else:
            raise PackRejected(f"{source} does not exist")
        state = LocalState.open()
        try:
            _check_installable(manifest, state)
            final = paths.ensure_dir(root / manifest.pack_id) / f"v{manifest.version}"
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
            _fsync_dir(final.parent)
            state.activate(manifest.pack_id, manifest.version)
        finally:
            state.close()
    _remove_superseded(manifest.pack_id, manifest.version)
    return InstalledPack(manifest, final, manifest.expiry_state())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_superseded(pack_id: str, active: int) -> None:
    for folder in (packs_root() / pack_id).glob("v*"):
        if folder.name != f"v{active}" and folder.name[1:].isdigit():
            shutil.rmtree(folder, ignore_errors=True)
    for grant in grants_root().glob(f"{pack_id}-v*-*.json"):
        version = grant.name[len(pack_id) + 2 :].split("-", 1)[0]
        if version.isdigit() and int(version) < active:
            grant.unlink(missing_ok=True)


@dataclass(frozen=True)
class BrokenPack:
    """An installed pack that no longer verifies (tampered, key no longer trusted...)."""

    pack_id: str
    version: int
    error: PackRejected


def active_packs(broken: list[BrokenPack] | None = None) -> list[InstalledPack]:
    """Every active pack, re-verified (signature and hashes) before use. A pack that fails is
    left out, and reported in `broken` when given: one bad pack never hides the others."""
    trusted = trust.trusted_keys()
    if not (paths.data_dir() / "state.db").exists():
        return []
    state = LocalState.open()
    try:
        records = [s for s in state.packs() if s.active_version is not None]
    finally:
        state.close()
    packs = []
    for record in records:
        folder = packs_root() / record.pack_id / f"v{record.active_version}"
        try:
            manifest = verify_folder(folder, trusted)
            if manifest.pack_id != record.pack_id or manifest.version != record.active_version:
                raise PackRejected(f"the folder of '{record.pack_id}' holds another version")
        except PackRejected as exc:
            if broken is not None:
                broken.append(BrokenPack(record.pack_id, int(record.active_version or 0), exc))
            continue
        packs.append(InstalledPack(manifest, folder, manifest.expiry_state()))
    return packs


def import_grant(source: Path) -> Grant:
    """Verify a grant for this user and keep it; it takes effect for its pack version."""
    raw = source.read_bytes()
    grant = open_grant(raw, trust.trusted_keys())
    root = paths.ensure_dir(grants_root())
    target = root / f"{grant.pack_id}-v{grant.pack_version}-{grant.grant_id}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, target)
    return grant


def installed_grants() -> list[Grant]:
    """Valid grants on this machine (expired or foreign ones are skipped)."""
    trusted = trust.trusted_keys()
    grants = []
    for file in sorted(grants_root().glob("*.json")) if grants_root().is_dir() else []:
        try:
            grants.append(open_grant(file.read_bytes(), trusted))
        except GrantRejected:
            continue
    return grants
