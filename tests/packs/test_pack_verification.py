"""Tampered, forged, swapped or hostile packs are rejected before anything parses their content."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.engine.packs.archive import unpack_verified, verify_folder, write_archive
from desktop.engine.packs.errors import PackRejected
from desktop.engine.packs.manifest import MANIFEST_NAME, format_time
from desktop.engine.packs.publish import sign_folder
from desktop.engine.packs.signing import canonical, key_id, sign


def _fields(version: int = 1, expires_in_days: int = 90) -> dict:
    now = datetime.now(UTC)
    return {
        "pack_id": "handbook",
        "title": "Handbook",
        "version": version,
        "created": format_time(now),
        "expires": format_time(now + timedelta(days=expires_in_days)),
        "knowledge_as_of": "2026-11-01",
        "embedding": {"id": "all-minilm-l6-v2", "sha256": "0" * 64, "dimension": 384},
        "audiences": {
            "everyone": {"shard": "shards/everyone.db", "documents": 1, "chunks": 1},
            "hr": {"shard": "shards/hr.db", "documents": 1, "chunks": 1},
        },
    }


@pytest.fixture
def admin() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def trusted(admin) -> dict:
    return {key_id(admin.public_key()): admin.public_key()}


def _build(folder: Path, admin, version: int = 1, **kw) -> Path:
    (folder / "shards").mkdir(parents=True)
    (folder / "shards/everyone.db").write_bytes(os.urandom(5000) + f"v{version}".encode())
    (folder / "shards/hr.db").write_bytes(os.urandom(3000))
    sign_folder(folder, _fields(version, **kw), admin)
    return folder


@pytest.fixture
def pack(tmp_path, admin) -> Path:
    return _build(tmp_path / "pack", admin)


def test_a_good_pack_verifies_as_folder_and_archive(pack, trusted, tmp_path) -> None:
    assert verify_folder(pack, trusted).version == 1
    archive = write_archive(pack, tmp_path / "handbook.enclavepack")
    staging = tmp_path / "staging"
    manifest = unpack_verified(archive, staging, trusted)
    assert manifest.pack_id == "handbook"
    assert (staging / "shards/hr.db").read_bytes() == (pack / "shards/hr.db").read_bytes()
    assert verify_folder(staging, trusted).version == 1


@pytest.mark.parametrize("name", ["shards/everyone.db", "shards/hr.db"])
@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_each_file_damaged_is_rejected(pack, trusted, tmp_path, name, damage) -> None:
    path = pack / name
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        data = data[:-1]
    else:
        data += b"\x00"
    path.write_bytes(bytes(data))
    with pytest.raises(PackRejected, match=r"sha256|bytes"):
        verify_folder(pack, trusted)
    archive = write_archive_unchecked(pack, tmp_path / "x.enclavepack")
    with pytest.raises(PackRejected, match=r"sha256|bytes|longer"):
        unpack_verified(archive, tmp_path / "staging", trusted)


def write_archive_unchecked(folder: Path, target: Path) -> Path:
    with tarfile.open(target, "w:") as tar:
        tar.add(folder / MANIFEST_NAME, MANIFEST_NAME)
        for path in sorted((folder / "shards").iterdir()):
            tar.add(path, f"shards/{path.name}")
    return target


def test_flipping_a_manifest_byte_breaks_the_signature(pack, trusted) -> None:
    raw = (pack / MANIFEST_NAME).read_text()
    (pack / MANIFEST_NAME).write_text(raw.replace('"title": "Handbook"', '"title": "Handbooc"'))
    with pytest.raises(PackRejected, match="signature does not match"):
        verify_folder(pack, trusted)


def test_a_file_swapped_from_another_version_is_rejected(tmp_path, admin, trusted) -> None:
    v1 = _build(tmp_path / "v1", admin, version=1)
    v2 = _build(tmp_path / "v2", admin, version=2)
    shutil.copyfile(v1 / "shards/everyone.db", v2 / "shards/everyone.db")
    with pytest.raises(PackRejected, match=r"sha256|bytes"):
        verify_folder(v2, trusted)


def test_unknown_key_and_forged_signature(pack, trusted) -> None:
    other = Ed25519PrivateKey.generate()
    envelope = json.loads((pack / MANIFEST_NAME).read_text())
    resigned = sign(envelope["signed"], other)
    (pack / MANIFEST_NAME).write_text(json.dumps(resigned))
    with pytest.raises(PackRejected, match="not signed by a key this computer trusts"):
        verify_folder(pack, trusted)
    # A forgery claiming the trusted key id with another key's signature.
    trusted_id = next(iter(trusted))
    resigned["signatures"][0]["keyid"] = trusted_id
    (pack / MANIFEST_NAME).write_text(json.dumps(resigned))
    with pytest.raises(PackRejected, match="signature does not match"):
        verify_folder(pack, trusted)


def test_duplicated_signature_is_rejected(pack, trusted) -> None:
    envelope = json.loads((pack / MANIFEST_NAME).read_text())
    envelope["signatures"].append(dict(envelope["signatures"][0]))
    (pack / MANIFEST_NAME).write_text(json.dumps(envelope))
    with pytest.raises(PackRejected, match="repeats"):
        verify_folder(pack, trusted)


def test_no_trusted_keys_means_nothing_verifies(pack) -> None:
    with pytest.raises(PackRejected, match="trusts"):
        verify_folder(pack, {})


def test_extra_and_missing_files(pack, trusted) -> None:
    (pack / "shards/intruder.db").write_bytes(b"x")
    with pytest.raises(PackRejected, match="not listed"):
        verify_folder(pack, trusted)
    (pack / "shards/intruder.db").unlink()
    (pack / "shards/hr.db").unlink()
    with pytest.raises(PackRejected, match="missing"):
        verify_folder(pack, trusted)


def test_symlink_in_folder_is_rejected(pack, trusted, tmp_path) -> None:
    target = pack / "shards/hr.db"
    moved = tmp_path / "elsewhere.db"
    shutil.move(target, moved)
    target.symlink_to(moved)
    with pytest.raises(PackRejected, match="link"):
        verify_folder(pack, trusted)


def _tar_with(tmp_path: Path, pack: Path, evil: tarfile.TarInfo, data: bytes = b"") -> Path:
    target = tmp_path / "evil.enclavepack"
    with tarfile.open(target, "w:") as tar:
        tar.add(pack / MANIFEST_NAME, MANIFEST_NAME)
        for path in sorted((pack / "shards").iterdir()):
            tar.add(path, f"shards/{path.name}")
        tar.addfile(evil, io.BytesIO(data) if data else None)
    return target


@pytest.mark.parametrize(
    ("name", "kind", "match"),
    [
        ("../../etc/evil", tarfile.REGTYPE, "unsafe path"),
        ("/etc/evil", tarfile.REGTYPE, "unsafe path"),
        ("shards/link.db", tarfile.SYMTYPE, "link"),
        ("shards/hard.db", tarfile.LNKTYPE, "link"),
        ("shards/dev", tarfile.CHRTYPE, "non-file"),
    ],
)
def test_hostile_archive_entries(pack, trusted, tmp_path, name, kind, match) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    data = b"pwned" if kind == tarfile.REGTYPE else b""
    info.size = len(data)
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    archive = _tar_with(tmp_path, pack, info, data)
    staging = tmp_path / "staging"
    with pytest.raises(PackRejected, match=match):
        unpack_verified(archive, staging, trusted)
    assert not (tmp_path / "etc").exists()
    assert not staging.exists() or not any(staging.rglob("*"))


def test_junk_file_is_not_a_pack(tmp_path, trusted) -> None:
    junk = tmp_path / "junk.enclavepack"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(PackRejected, match="not a readable pack"):
        unpack_verified(junk, tmp_path / "s", trusted)


def test_canonical_json_refuses_floats() -> None:
    with pytest.raises(ValueError, match="floats"):
        canonical({"a": 1.5})
    assert canonical({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
