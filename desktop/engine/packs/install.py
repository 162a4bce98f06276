"""Install packs and grants on this machine: verify everything first, then activate atomically.

Layout under the data folder: `packs/<pack_id>/v<version>/` (manifest.json + shards/; a re-install
of the same version goes to a fresh `v<version>.<8 hex>` generation) and
`grants/<pack_id>-v<version>-<grant_id>.json`. The active generation of each pack and the highest
version ever seen live in the encrypted local state (the floor mirrored in the keyring), so neither
deleting folders nor copying an older pack back can roll a pack back.
"""

from __future__ import annotations

import os
import re
import secrets as pysecrets
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError
from desktop.engine.packs import local_state, trust
from desktop.engine.packs.archive import unpack_verified, verify_folder
from desktop.engine.packs.errors import GrantRejected, PackRejected
from desktop.engine.packs.grants import Grant, open_grant, read_grant_file
from desktop.engine.packs.local_state import DB_NAME, LocalState, PackState, check_not_lost
from desktop.engine.packs.manifest import Manifest, format_time
from desktop.engine.runtime.catalog import Catalog

POLICY_NAME = "policy.toml"
STAGING_PREFIX = ".staging-"
LOCK_NAME = ".install.lock"
_GENERATION = re.compile(r"^v[0-9]+(\.[0-9a-f]{8})?$")  # v<version>, or v<version>.<8 hex>


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


def _check_installable(manifest: Manifest, state: LocalState) -> str:
    """Refuse a rollback or an expired pack; return the pack's expiry state ('ok'...)."""
    floor = state.floor(manifest.pack_id)
    if manifest.version < floor:
        raise PackRejected(
            f"'{manifest.pack_id}' version {manifest.version} is older than version "
            f"{floor} already seen on this computer (rollback)"
        )
    granted = max(
        (g.pack_version for g in installed_grants() if g.pack_id == manifest.pack_id), default=0
    )
    if manifest.version < granted:
        raise PackRejected(
            f"'{manifest.pack_id}' version {manifest.version} is older than version {granted} "
            "named by a grant you hold (rollback)",
            f"Install version {granted} or later of '{manifest.pack_id}' from your administrator.",
        )
    expiry = manifest.expiry_state(state.trusted_now(cap=manifest.expires))
    if expiry == "expired" and expired_pack_policy() == "refuse":
        raise PackRejected(
            f"'{manifest.pack_id}' expired on {format_time(manifest.expires)}" + _clock_note(state)
        )
    # Imported here, not with this module: the window starts sooner.
    from desktop.engine.knowledge.store import MIGRATIONS

    newer = sorted(set(manifest.shard_schema) - {name for name, _ in MIGRATIONS})
    if newer:
        raise PackRejected(
            f"'{manifest.pack_id}' v{manifest.version} was built by a newer Enclave (its shards "
            f"use {', '.join(newer)}, which this version does not know)",
            "Upgrade Enclave to the version your administrator builds packs with; the version "
            "installed now stays active.",
        )
    embedding = manifest.embedding
    known = {e.sha256 for e in Catalog.load() if e.role == "embedding"}
    if embedding.get("sha256") not in known:
        raise PackRejected(
            f"it needs the embedding model '{embedding.get('id')}' which is not in this app's "
            "catalog",
            "Install the app version that ships that model, or ask for a pack built with ours.",
        )
    return expiry


def _clock_note(state: LocalState) -> str:
    """Why a pack counts as expired although the clock says otherwise (a clock set back)."""
    latest = state.latest_seen()
    if latest.timestamp() - local_state.wall_clock().timestamp() > 3600:
        return (
            f" (this computer's clock is behind {format_time(latest)}, a time Enclave has already "
            "seen here: expiry is judged by the later of the two)"
        )
    return ""


@contextmanager
def _install_lock(root: Path, *, wait: bool = True) -> Iterator[bool]:
    """One install at a time per profile: while it is held, no staging folder is in use. Yields
    False when `wait` is off and another process holds it."""
    with (root / LOCK_NAME).open("a+b") as handle:
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if wait:
                raise
            yield False
            return
        yield True


def _clean_stale(root: Path, active: dict[str, str]) -> None:
    """Under the install lock: remove staging folders left by a killed install, and generations of
    the packs in `active` (pack id -> active folder) that are not the active one."""
    for staging in root.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(staging, ignore_errors=True)
    for pack_id, keep in active.items():
        for folder in (root / pack_id).glob("v*") if (root / pack_id).is_dir() else []:
            if folder.name != keep and _GENERATION.match(folder.name):
                shutil.rmtree(folder, ignore_errors=True)


def _new_generation(pack_dir: Path, version: int) -> Path:
    """A folder name for this install that no live folder has: re-installing the active version
    never touches the folder in use (the state switches to the new one in one transaction)."""
    folder = pack_dir / f"v{version}"
    while folder.exists():
        folder = pack_dir / f"v{version}.{pysecrets.token_hex(4)}"
    return folder


def install(source: Path) -> InstalledPack:
    """Verify `source` (archive file or folder) and make it the active version of its pack.

    Crash-safe: the copy is verified in a staging folder, renamed to a fresh generation folder,
    and activated in one SQLite transaction; only then is the previous generation deleted. A kill
    at any point leaves the previous generation active and intact; leftovers are cleaned by the
    next install."""
    installed = _install(source, only_newer=False)
    assert installed is not None  # only `only_newer` skips
    return installed


def install_if_newer(source: Path) -> InstalledPack | None:
    """As `install`, but a verified pack whose version is not newer than the active one is left
    alone (None): a drop folder may still hold the archives of older versions."""
    return _install(source, only_newer=True)


def _install(source: Path, *, only_newer: bool) -> InstalledPack | None:
    def fill(staging: Path, trusted: trust.Trust) -> Manifest:
        if source.is_dir():
            verify_folder(source, trusted)
            for item in source.rglob("*"):
                if item.is_file():
                    target = staging / item.relative_to(source)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(item, target)
            return verify_folder(staging, trusted)  # verify the copy we will use
        if source.is_file():
            return unpack_verified(source, staging, trusted)
        raise PackRejected(f"{source} does not exist")

    return install_staged(fill, only_newer=only_newer)


def install_staged(
    fill: Callable[[Path, trust.Trust], Manifest], *, only_newer: bool = False
) -> InstalledPack | None:
    """Under the install lock, let `fill` write a pack into an empty staging folder and return
    its verified manifest, then activate it (a full archive, a folder, or a delta applied to the
    installed version: `delta.apply_delta`). Nothing installed changes unless `fill` returns."""
    trusted = trust.trusted_keys()
    root = paths.ensure_dir(packs_root())
    with _install_lock(root):
        _clean_stale(root, {})
        with tempfile.TemporaryDirectory(dir=root, prefix=STAGING_PREFIX) as tmp:
            staging = Path(tmp) / "pack"
            staging.mkdir()
            manifest = fill(staging, trusted)
            state = LocalState.open(recover=True)
            try:
                current = state.pack(manifest.pack_id)
                active = current.active_version if current else None
                if only_newer and active is not None and manifest.version <= active:
                    return None
                expiry = _check_installable(manifest, state)
                pack_dir = paths.ensure_dir(root / manifest.pack_id)
                final = _new_generation(pack_dir, manifest.version)
                os.replace(staging, final)
                _fsync_dir(pack_dir)
                state.activate(manifest.pack_id, manifest.version, final.name)
            finally:
                state.close()
        _remove_superseded(manifest.pack_id, manifest.version, final.name)
    return InstalledPack(manifest, final, expiry)


def active_folder(pack_id: str) -> tuple[int, Path] | None:
    """(active version, its folder) of an installed pack, unverified; None when none is active.
    Call it under the install lock (inside `install_staged`'s `fill`) to read a stable folder."""
    if not (paths.data_dir() / DB_NAME).exists():
        return None
    state = LocalState.open()
    try:
        record = state.pack(pack_id)
    finally:
        state.close()
    if record is None or record.active_version is None:
        return None
    return int(record.active_version), packs_root() / pack_id / _folder_name(record)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_superseded(pack_id: str, active: int, keep: str | None = None) -> None:
    """Delete every generation folder but `keep` (the active one) and grants of older versions."""
    _clean_stale(packs_root(), {pack_id: keep or f"v{active}"})
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
    """Every active pack, re-verified (signature and hashes) and checked for expiry before use.

    A pack that fails, or that expired while the policy is "refuse", is left out and reported in
    `broken` when given: one bad pack never hides the others. Expiry is judged by the later of the
    clock and the latest time seen here, so setting the clock back revives nothing. A deleted
    `state.db` (while the keyring shows there was one) raises `PackStateLost`."""
    trusted = trust.trusted_keys()
    if not (paths.data_dir() / DB_NAME).exists():
        check_not_lost()
        return []
    state = LocalState.open()
    try:
        records = [s for s in state.packs() if s.active_version is not None]
        if packs_root().is_dir():
            with _install_lock(packs_root(), wait=False) as no_install_running:
                if no_install_running:
                    _clean_stale(packs_root(), {r.pack_id: _folder_name(r) for r in records})
        verified: list[tuple[Manifest, Path]] = []
        for record in records:
            version = int(record.active_version or 0)
            folder = packs_root() / record.pack_id / _folder_name(record)
            try:
                if version < record.last_seen_version:
                    raise PackRejected(
                        f"'{record.pack_id}' version {version} is older than version "
                        f"{record.last_seen_version} already seen on this computer (the pack "
                        "state was put back from an older copy)",
                        f"Install version {record.last_seen_version} or later of "
                        f"'{record.pack_id}' from your administrator.",
                    )
                manifest = verify_folder(folder, trusted)
                if manifest.pack_id != record.pack_id or manifest.version != version:
                    raise PackRejected(f"the folder of '{record.pack_id}' holds another version")
            except PackRejected as exc:
                if broken is not None:
                    broken.append(BrokenPack(record.pack_id, version, exc))
                continue
            verified.append((manifest, folder))
        if not verified:
            return []
        now = state.trusted_now(cap=max(m.expires for m, _ in verified))
        refuse = expired_pack_policy() == "refuse"
        packs = []
        for manifest, folder in verified:
            expiry = manifest.expiry_state(now)
            if expiry == "expired" and refuse:
                if broken is not None:
                    broken.append(
                        BrokenPack(manifest.pack_id, manifest.version, _expired(manifest, state))
                    )
                continue
            packs.append(InstalledPack(manifest, folder, expiry))
        return packs
    finally:
        state.close()


def _folder_name(record: PackState) -> str:
    return record.active_folder or f"v{record.active_version}"


def _expired(manifest: Manifest, state: LocalState) -> PackRejected:
    return PackRejected(
        f"'{manifest.pack_id}' v{manifest.version} expired on {format_time(manifest.expires)}"
        + _clock_note(state),
        f"Ask your administrator for the current version of '{manifest.pack_id}' and install it "
        "(`enclave packs install FILE`, or Packs > Install); your other packs keep working.",
    )


def import_grant(source: Path) -> Grant:
    """Verify a grant for this user and keep it; it takes effect for its pack version."""
    raw = read_grant_file(source)  # a regular file, bounded: never `/dev/zero` until out of memory
    grant = open_grant(raw, trust.trusted_keys())
    root = paths.ensure_dir(grants_root())
    target = root / f"{grant.pack_id}-v{grant.pack_version}-{grant.grant_id}.json"
    if target.parent != root:  # open_grant checked the names; this is the last line of defence
        raise GrantRejected("its pack id or grant id is not a plain name")
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, target)
    return grant


def installed_grants() -> list[Grant]:
    """Valid grants on this machine (expired or foreign ones are skipped). Expiry is judged by
    the later of the clock and the latest time seen, as for packs: a clock set back revives no
    expired grant."""
    trusted = trust.trusted_keys()
    latest = _latest_time_seen()
    grants = []
    for file in sorted(grants_root().glob("*.json")) if grants_root().is_dir() else []:
        try:
            grant = open_grant(read_grant_file(file), trusted)
        except GrantRejected:
            continue
        if latest is None or not grant.expired(latest):
            grants.append(grant)
    return grants


def _latest_time_seen() -> datetime | None:
    """The latest time this profile's pack state has seen, when it has a readable one."""
    if not (paths.data_dir() / DB_NAME).exists():
        return None
    try:
        state = LocalState.open()
    except EngineError:
        return None  # reported where the state is used (packs list, the choke point)
    try:
        return state.latest_seen()
    finally:
        state.close()
