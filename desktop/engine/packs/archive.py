"""Verify a pack, in its archive or folder form, before anything reads its content.

Order of checks: the manifest's signature by a key trusted for the pack id it carries (see `trust`),
its shape, then every member:
only regular files with safe relative paths, exactly the files the manifest lists, each with the
length and sha256 it promises. Archive members are streamed to a staging folder while hashing; a
member that runs past its promised length stops the copy at once (no endless data).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from desktop.engine.core.regular_files import NotRegularFile, open_regular
from desktop.engine.packs import manifest as manifest_mod
from desktop.engine.packs.errors import PackRejected
from desktop.engine.packs.manifest import MANIFEST_NAME, Manifest, safe_relative_path
from desktop.engine.packs.signing import MAX_SIGNED_BYTES, verify_bytes
from desktop.engine.packs.trust import Trust, scoped

ARCHIVE_SUFFIX = ".enclavepack"
_BLOCK = 1024 * 1024
MAX_ARCHIVE_MEMBERS = 4096
MAX_EXTENDED_HEADER_BYTES = 8 * 1024
_EXTENDED_HEADERS = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile's header reader with limits checked before it reads anything a header announces.

    tarfile reads a PAX or GNU long-name header's whole body into memory (a 4 GiB one takes 4 GiB),
    follows chains of them recursively, keeps every member and reads sparse maps of any length, all
    before the manifest's signature can be checked. Packs need none of that: a few small files.
    """

    def _proc_member(self, tar: tarfile.TarFile) -> Any:
        if len(getattr(tar, "members", ())) >= MAX_ARCHIVE_MEMBERS:
            raise PackRejected(f"the archive holds more than {MAX_ARCHIVE_MEMBERS} entries")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise PackRejected(f"the archive holds a sparse entry '{self.name}'")
        run = 0
        if self.type in _EXTENDED_HEADERS:
            if self.size > MAX_EXTENDED_HEADER_BYTES:
                raise PackRejected(
                    f"the archive has a {self.size:,}-byte extended header (the limit is "
                    f"{MAX_EXTENDED_HEADER_BYTES:,})"
                )
            run = getattr(tar, "_enclave_extended_run", 0) + 1
            if run > 2:
                raise PackRejected("the archive chains extended headers")
        tar._enclave_extended_run = run  # type: ignore[attr-defined]
        return tarfile.TarInfo._proc_member(self, tar)  # type: ignore[attr-defined]

    def _proc_gnusparse_00(self, *_args: Any) -> None:
        raise PackRejected("the archive holds a sparse entry")

    _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00


@contextlib.contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    """A regular file as an uncompressed tar with bounded headers; never a device or a pipe."""
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(open_regular(archive))
        except FileNotFoundError:
            raise PackRejected(f"{archive} does not exist") from None
        except NotRegularFile:
            raise PackRejected(f"{archive} is not a regular file") from None
        except OSError as exc:
            raise PackRejected(f"{archive} cannot be read ({exc.strerror})") from None
        with tarfile.open(fileobj=handle, mode="r:", tarinfo=_BoundedTarInfo) as tar:
            yield tar


def _copy_verified(source: IO[bytes], target: Path, length: int, sha256: str, name: str) -> None:
    digest = hashlib.sha256()
    written = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        while block := source.read(min(_BLOCK, length - written + 1)):
            written += len(block)
            if written > length:
                raise PackRejected(f"'{name}' is longer than the manifest says")
            digest.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if written != length:
        raise PackRejected(f"'{name}' is {written} bytes, the manifest says {length}")
    if digest.hexdigest() != sha256:
        raise PackRejected(f"'{name}' does not match its sha256 in the manifest")


TrustedKeys = Trust | Mapping[str, Ed25519PublicKey]


def _verified_manifest(raw: bytes, trusted: TrustedKeys) -> Manifest:
    """The signature check, by a key authorised for the pack id this manifest carries; a plain
    mapping is a caller's explicit key set (`enclave admin verify --public-key`)."""
    return manifest_mod.validate(verify_bytes(raw, scoped(trusted).authorised_keys(raw)))


def verify_folder(folder: Path, trusted: TrustedKeys) -> Manifest:
    """Verify an installed or unpacked pack folder in place."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file() or manifest_path.is_symlink():
        raise PackRejected(f"{folder} holds no manifest")
    raw = manifest_path.read_bytes()
    manifest = _verified_manifest(raw, trusted)
    expected = {entry.path: entry for entry in manifest.files}
    present: set[str] = set()
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise PackRejected(f"'{relative}' is a link")
        if path.is_dir() or relative == MANIFEST_NAME:
            continue
        if relative not in expected:
            raise PackRejected(f"'{relative}' is not listed in the manifest")
        present.add(relative)
    missing = sorted(set(expected) - present)
    if missing:
        raise PackRejected(f"'{missing[0]}' listed in the manifest is missing")
    for entry in manifest.files:
        _check_file(folder / entry.path, entry.length, entry.sha256, entry.path)
    return manifest


def _check_file(path: Path, length: int, sha256: str, name: str) -> None:
    if path.stat().st_size != length:
        raise PackRejected(f"'{name}' is {path.stat().st_size} bytes, the manifest says {length}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise PackRejected(f"'{name}' does not match its sha256 in the manifest")


def unpack_verified(archive: Path, staging: Path, trusted: TrustedKeys) -> Manifest:
    """Verify `archive` and write its files into the empty folder `staging`."""
    try:
        with _open_tar(archive) as tar:
            members = tar.getmembers()
            by_name: dict[str, tarfile.TarInfo] = {}
            for member in members:
                name = member.name
                if not member.isfile():
                    kind = "link" if (member.issym() or member.islnk()) else "non-file entry"
                    raise PackRejected(f"the archive holds a {kind} '{name}'")
                if not (safe_relative_path(name) or name == MANIFEST_NAME):
                    raise PackRejected(f"the archive holds an unsafe path '{name}'")
                if name in by_name:
                    raise PackRejected(f"the archive holds '{name}' twice")
                by_name[name] = member
            manifest_member = by_name.pop(MANIFEST_NAME, None)
            if manifest_member is None:
                raise PackRejected("the archive holds no manifest")
            if manifest_member.size > MAX_SIGNED_BYTES:
                raise PackRejected("the manifest is too large")
            raw = _read(tar, manifest_member)
            manifest = _verified_manifest(raw, trusted)
            expected = {entry.path: entry for entry in manifest.files}
            extra = sorted(set(by_name) - set(expected))
            if extra:
                raise PackRejected(f"'{extra[0]}' is in the archive but not in the manifest")
            missing = sorted(set(expected) - set(by_name))
            if missing:
                raise PackRejected(f"'{missing[0]}' listed in the manifest is missing")
            for entry in manifest.files:
                member = by_name[entry.path]
                if member.size != entry.length:
                    raise PackRejected(
                        f"'{entry.path}' is {member.size} bytes, the manifest says {entry.length}"
                    )
                source = tar.extractfile(member)
                if source is None:
                    raise PackRejected(f"'{entry.path}' cannot be read")
                _copy_verified(source, staging / entry.path, entry.length, entry.sha256, entry.path)
            (staging / MANIFEST_NAME).write_bytes(raw)
            return manifest
    except (tarfile.TarError, EOFError) as exc:
        raise PackRejected(f"the file is not a readable pack archive ({exc})") from None


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""


def write_archive(folder: Path, target: Path) -> Path:
    """Pack a signed folder into one file: manifest first, then the files in manifest order."""
    manifest_raw = (folder / MANIFEST_NAME).read_bytes()
    import json

    files = [f["path"] for f in json.loads(manifest_raw)["signed"]["files"]]
    tmp = target.with_name(target.name + ".tmp")
    with tarfile.open(tmp, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        for name in [MANIFEST_NAME, *files]:
            data_path = folder / name
            info = tarfile.TarInfo(name)
            info.size = data_path.stat().st_size
            info.mtime = 0
            info.mode = 0o644
            with data_path.open("rb") as handle:
                tar.addfile(info, handle)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    return target


__all__ = ["ARCHIVE_SUFFIX", "unpack_verified", "verify_folder", "write_archive"]
