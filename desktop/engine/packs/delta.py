"""A signed delta from pack version N to N+1: ship only the files that changed.

    <pack>-v<N>-to-v<N+1>.enclavedelta   an uncompressed tar, read with the archive's bounded reader:
      delta.json      signed (admin key): pack id, from/to versions, the sha256 of N's manifest and
                      of N+1's, the files shipped and the files reused from the installed N
      manifest.json   N+1's complete signed manifest, byte for byte
      files/<path>    each shipped file

Applying it builds N+1 in a staging folder: shipped files from the delta, reused files copied from
the installed N, each checked against N+1's signed manifest (length and sha256) as it is written;
then the staging folder is verified as a whole, exactly as a full archive is, and activated the
way `install` activates (one state transaction; the previous generation is deleted only after).
A delta whose signature, pack id, base version, base manifest or any hash does not match is
refused with the advice to install the full pack, and the installed version is never touched.

Every pack version has fresh audience keys (revocation: an old grant opens nothing in the new
version), so every shard file and vector file differs between versions. A delta therefore ships
every shard of the new version; what it can leave out is only what is byte-identical, which under
per-version keys is nothing but files other than shards. The format is honest about it:
`DeltaFile.shipped_bytes` against `full_bytes`, and docs/packs.md has the measurement.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.engine.packs import install, trust
from desktop.engine.packs.archive import (
    ARCHIVE_SUFFIX,
    _copy_verified,
    _open_tar,
    _verified_manifest,
    verify_folder,
)
from desktop.engine.packs.errors import AdminError, PackRejected
from desktop.engine.packs.manifest import MANIFEST_NAME, Manifest, is_safe_name, safe_relative_path
from desktop.engine.packs.signing import MAX_SIGNED_BYTES, key_id, sign, verify_bytes

DELTA_SUFFIX = ".enclavedelta"
DELTA_TYPE = "enclave-pack-delta"
DELTA_SPEC = 1
DELTA_NAME = "delta.json"
FILES_PREFIX = "files/"


class DeltaRejected(PackRejected):
    """A delta that does not apply to what is installed; nothing installed was changed."""

    def __init__(self, reason: str, pack_id: str = "", to_version: int = 0) -> None:
        full = f"{pack_id}-v{to_version}{ARCHIVE_SUFFIX}" if pack_id and to_version else "full pack"
        super().__init__(
            f"the delta cannot be applied: {reason}",
            f"Install the full pack ({full}) from your administrator instead; the version "
            "installed now stays active and unchanged.",
        )


@dataclass(frozen=True)
class DeltaFile:
    """A delta written by `build_delta`, with what it ships against the full archive."""

    path: Path
    pack_id: str
    from_version: int
    to_version: int
    shipped: tuple[str, ...]
    reused: tuple[str, ...]
    delta_bytes: int  # the .enclavedelta file
    full_bytes: int  # the full .enclavepack archive of the new version


@dataclass(frozen=True)
class _Delta:
    pack_id: str
    from_version: int
    to_version: int
    base_sha256: str
    manifest_sha256: str
    shipped: dict[str, tuple[int, str]]  # path -> (length, sha256)
    reused: frozenset[str]


# -- administrator side ---------------------------------------------------------------------------


def build_delta(
    old_folder: Path, new_folder: Path, out_dir: Path, admin_key: Ed25519PrivateKey
) -> DeltaFile:
    """Write `<pack>-v<old>-to-v<new>.enclavedelta` from two built pack folders (both verified
    against the admin key first)."""
    public = admin_key.public_key()
    keys = {key_id(public): public}
    old = verify_folder(old_folder, keys)
    new = verify_folder(new_folder, keys)
    if old.pack_id != new.pack_id:
        raise AdminError(f"{old_folder} and {new_folder} are different packs.")
    if new.version <= old.version:
        raise AdminError(f"A delta goes forward: v{old.version} to v{new.version} does not.")
    base = {(f.path, f.length, f.sha256) for f in old.files}
    reused = tuple(f.path for f in new.files if (f.path, f.length, f.sha256) in base)
    shipped = [f for f in new.files if f.path not in reused]
    old_raw = (old_folder / MANIFEST_NAME).read_bytes()
    new_raw = (new_folder / MANIFEST_NAME).read_bytes()
    signed = sign(
        {
            "type": DELTA_TYPE,
            "spec_version": DELTA_SPEC,
            "pack_id": new.pack_id,
            "from_version": old.version,
            "to_version": new.version,
            "base_manifest_sha256": hashlib.sha256(old_raw).hexdigest(),
            "manifest_sha256": hashlib.sha256(new_raw).hexdigest(),
            "files": [{"path": f.path, "length": f.length, "sha256": f.sha256} for f in shipped],
            "reused": list(reused),
        },
        admin_key,
    )
    target = out_dir / f"{new.pack_id}-v{old.version}-to-v{new.version}{DELTA_SUFFIX}"
    tmp = target.with_name(target.name + ".tmp")
    with tarfile.open(tmp, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, DELTA_NAME, json.dumps(signed, indent=2, sort_keys=True).encode())
        _add_bytes(tar, MANIFEST_NAME, new_raw)
        for entry in shipped:
            info = tarfile.TarInfo(FILES_PREFIX + entry.path)
            info.size, info.mtime, info.mode = entry.length, 0, 0o644
            with (new_folder / entry.path).open("rb") as handle:
                tar.addfile(info, handle)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    archive = new_folder.parent / f"{new.pack_id}-v{new.version}{ARCHIVE_SUFFIX}"
    return DeltaFile(
        target,
        new.pack_id,
        old.version,
        new.version,
        tuple(f.path for f in shipped),
        reused,
        target.stat().st_size,
        archive.stat().st_size if archive.exists() else sum(f.length for f in new.files),
    )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


# -- this machine ---------------------------------------------------------------------------------


def apply_delta(source: Path) -> install.InstalledPack:
    """Verify `source` against the installed version and activate the version it leads to."""
    installed = install.install_staged(lambda staging, trusted: _assemble(source, staging, trusted))
    assert installed is not None  # only `only_newer` skips
    return installed


def _assemble(source: Path, staging: Path, trusted: trust.Trust) -> Manifest:
    """Write the new version into `staging` from the delta and the installed version."""
    delta: _Delta | None = None
    try:
        with _open_tar(source) as tar:
            members = _members(tar)
            delta = _read_delta(tar, members, trusted)
            raw = _read_member(tar, members, MANIFEST_NAME)
            if hashlib.sha256(raw).hexdigest() != delta.manifest_sha256:
                raise DeltaRejected("its manifest is not the one it was signed with")
            manifest = _verified_manifest(raw, trusted)
            if manifest.pack_id != delta.pack_id or manifest.version != delta.to_version:
                raise DeltaRejected("its manifest is for another pack or version")
            base_folder = _base_folder(delta, trusted)
            listed = {entry.path for entry in manifest.files}
            unknown = (set(delta.shipped) | delta.reused) - listed
            expected = {FILES_PREFIX + p for p in delta.shipped} | {DELTA_NAME, MANIFEST_NAME}
            if unknown or set(members) != expected:
                raise DeltaRejected("its file lists do not match its content")
            for entry in manifest.files:
                target = staging / entry.path
                if entry.path in delta.shipped:
                    handle = tar.extractfile(members[FILES_PREFIX + entry.path])
                    if handle is None:
                        raise DeltaRejected(f"'{entry.path}' cannot be read")
                    _copy_verified(handle, target, entry.length, entry.sha256, entry.path)
                elif entry.path in delta.reused:
                    with (base_folder / entry.path).open("rb") as reused:
                        _copy_verified(reused, target, entry.length, entry.sha256, entry.path)
                else:
                    raise DeltaRejected(f"it neither ships nor reuses '{entry.path}'")
            (staging / MANIFEST_NAME).write_bytes(raw)
        return verify_folder(staging, trusted)  # the whole folder, as a full archive is checked
    except DeltaRejected:
        raise
    except PackRejected as exc:
        pack_id, version = (delta.pack_id, delta.to_version) if delta else ("", 0)
        raise DeltaRejected(exc.reason, pack_id, version) from None
    except OSError as exc:
        raise DeltaRejected(f"a file could not be read ({exc.strerror or exc})") from None


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    found: dict[str, tarfile.TarInfo] = {}
    for member in tar.getmembers():
        if not member.isfile():
            raise DeltaRejected(f"it holds a non-file entry '{member.name}'")
        if not safe_relative_path(member.name) and member.name not in (DELTA_NAME, MANIFEST_NAME):
            raise DeltaRejected(f"it holds an unsafe path '{member.name}'")
        if member.name in found:
            raise DeltaRejected(f"it holds '{member.name}' twice")
        found[member.name] = member
    return found


def _read_member(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> bytes:
    member = members.get(name)
    if member is None:
        raise DeltaRejected(f"it holds no {name}")
    if member.size > MAX_SIGNED_BYTES:
        raise DeltaRejected(f"its {name} is too large")
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""


def _read_delta(
    tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], trusted: trust.Trust
) -> _Delta:
    raw = _read_member(tar, members, DELTA_NAME)
    signed = verify_bytes(raw, trust.scoped(trusted).authorised_keys(raw, "delta"), "delta")
    return _validate(signed)


def _validate(signed: dict[str, Any]) -> _Delta:
    """Every field's type, strictly: what is acted on is exactly what was signed."""
    if signed.get("type") != DELTA_TYPE or signed.get("spec_version") != DELTA_SPEC:
        raise DeltaRejected("it is not an Enclave pack delta of a version this app reads")
    pack_id = signed.get("pack_id")
    if not isinstance(pack_id, str) or not is_safe_name(pack_id):
        raise DeltaRejected("its pack id is missing or unsafe")
    versions = [signed.get("from_version"), signed.get("to_version")]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in versions):
        raise DeltaRejected("its versions are not positive integers")
    from_version, to_version = int(versions[0] or 0), int(versions[1] or 0)
    if to_version <= from_version:
        raise DeltaRejected("it does not lead to a newer version")
    hashes = [signed.get("base_manifest_sha256"), signed.get("manifest_sha256")]
    if not all(isinstance(h, str) and len(h) == 64 and _hex(h) for h in hashes):
        raise DeltaRejected("its manifest hashes are malformed")
    shipped: dict[str, tuple[int, str]] = {}
    files, reused = signed.get("files"), signed.get("reused")
    if not isinstance(files, list) or not isinstance(reused, list):
        raise DeltaRejected("its file lists are malformed")
    for entry in files:
        path = entry.get("path") if isinstance(entry, dict) else None
        length, sha = (entry.get("length"), entry.get("sha256")) if path else (None, None)
        if not isinstance(path, str) or not safe_relative_path(path) or path in shipped:
            raise DeltaRejected("it lists an unsafe or repeated path")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise DeltaRejected(f"its length of '{path}' is malformed")
        if not isinstance(sha, str) or len(sha) != 64 or not _hex(sha):
            raise DeltaRejected(f"its sha256 of '{path}' is malformed")
        shipped[path] = (length, sha)
    if not all(isinstance(p, str) and safe_relative_path(p) for p in reused):
        raise DeltaRejected("it reuses an unsafe path")
    if set(reused) & set(shipped) or len(set(reused)) != len(reused):
        raise DeltaRejected("it both ships and reuses a file")
    return _Delta(
        pack_id,
        from_version,
        to_version,
        str(hashes[0]),
        str(hashes[1]),
        shipped,
        frozenset(str(p) for p in reused),
    )


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _base_folder(delta: _Delta, trusted: trust.Trust) -> Path:
    """The installed version the delta starts from, re-verified; refused unless it is exactly
    the version (and the very manifest) the delta was made against."""
    active = install.active_folder(delta.pack_id)
    if active is None:
        raise DeltaRejected(
            f"'{delta.pack_id}' is not installed here (the delta needs v{delta.from_version})",
            delta.pack_id,
            delta.to_version,
        )
    version, folder = active
    if version != delta.from_version:
        raise DeltaRejected(
            f"it updates '{delta.pack_id}' v{delta.from_version}, and v{version} is installed",
            delta.pack_id,
            delta.to_version,
        )
    raw = (folder / MANIFEST_NAME).read_bytes()
    if hashlib.sha256(raw).hexdigest() != delta.base_sha256:
        raise DeltaRejected(
            f"the installed v{version} is not the build the delta was made from",
            delta.pack_id,
            delta.to_version,
        )
    verify_folder(folder, trusted)  # the files it reuses are intact
    return folder
