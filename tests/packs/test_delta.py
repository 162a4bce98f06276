"""Signed deltas from pack version N to N+1: applied onto the installed N they give exactly the
files of the full N+1; a tampered, mis-signed or mismatched delta is refused and N stays intact."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import install
from desktop.engine.packs.archive import verify_folder, write_archive
from desktop.engine.packs.delta import DeltaRejected, apply_delta, build_delta
from desktop.engine.packs.manifest import MANIFEST_NAME
from desktop.engine.packs.publish import sign_folder
from desktop.engine.packs.signing import sign
from desktop.engine.packs.trust import trusted_keys


@pytest.fixture(scope="module")
def delta_v1_v2(admin_workspace, tmp_path_factory) -> Path:
    packs = admin_workspace.packs_dir
    out = tmp_path_factory.mktemp("deltas")
    return build_delta(
        packs / "handbook-v1", packs / "handbook-v2", out, admin_workspace.signing_key()
    ).path


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _active() -> tuple[int, Path]:
    found = install.active_folder("handbook")
    assert found is not None
    return found


def _rewrite(delta: Path, target: Path, change) -> Path:
    """A copy of `delta` with each member's bytes passed through `change(name, data)`."""
    with (
        tarfile.open(delta) as source,
        tarfile.open(target, "w:", format=tarfile.PAX_FORMAT) as out,
    ):
        for member in source.getmembers():
            handle = source.extractfile(member)
            data = change(member.name, handle.read() if handle else b"")
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return target


def test_a_delta_applies_and_verifies_to_the_full_version(
    admin_workspace, delta_v1_v2, trust_admin, memory_keyring, capsys
):
    from desktop.cli import main

    install.install(admin_workspace.packs_dir / "handbook-v1.enclavepack")
    assert main(["packs", "install", str(delta_v1_v2)]) == ExitCode.OK
    assert "installed Handbook (handbook) v2" in capsys.readouterr().out
    version, folder = _active()
    assert version == 2
    assert _hashes(folder) == _hashes(admin_workspace.packs_dir / "handbook-v2")
    assert verify_folder(folder, trusted_keys()).version == 2


def test_under_fresh_keys_a_delta_ships_every_shard(admin_workspace, delta_v1_v2):
    with tarfile.open(delta_v1_v2) as tar:
        shipped = sorted(m.name for m in tar.getmembers() if m.name.startswith("files/"))
        signed = json.loads(tar.extractfile("delta.json").read())["signed"]  # type: ignore[union-attr]
    manifest = json.loads((admin_workspace.packs_dir / "handbook-v2" / MANIFEST_NAME).read_text())
    assert shipped == sorted(f"files/{f['path']}" for f in manifest["signed"]["files"])
    assert signed["reused"] == []


def test_a_re_signed_version_ships_only_its_manifest(
    admin_workspace, trust_admin, memory_keyring, tmp_path
):
    """The reuse path: v3 holds v2's very shards (re-signed with a later expiry), so the delta
    carries no file and the machine copies all of them from its installed v2."""
    packs = admin_workspace.packs_dir
    v3 = tmp_path / "handbook-v3"
    shutil.copytree(packs / "handbook-v2", v3)
    fields = json.loads((v3 / MANIFEST_NAME).read_text())["signed"]
    fields = {k: v for k, v in fields.items() if k not in ("type", "spec_version", "files")}
    sign_folder(v3, {**fields, "version": 3}, admin_workspace.signing_key())
    write_archive(v3, tmp_path / "handbook-v3.enclavepack")
    delta = build_delta(packs / "handbook-v2", v3, tmp_path, admin_workspace.signing_key())
    assert delta.shipped == () and len(delta.reused) == 6
    assert delta.delta_bytes < delta.full_bytes / 10
    install.install(packs / "handbook-v2.enclavepack")
    installed = apply_delta(delta.path)
    assert installed.manifest.version == 3
    assert _hashes(installed.folder) == _hashes(v3)


@pytest.mark.parametrize(
    "what, change, message",
    [
        (
            "a shipped shard with one byte flipped",
            lambda name, data: (
                data[:100] + bytes([data[100] ^ 1]) + data[101:] if name.endswith("hr.db") else data
            ),
            "does not match its sha256",
        ),
        (
            "delta.json edited after signing",
            lambda name, data: (
                data.replace(b'"from_version": 1', b'"from_version": 0')
                if name == "delta.json"
                else data
            ),
            "signature does not match",
        ),
        (
            "another manifest swapped in",
            lambda name, data: data + b"\n" if name == MANIFEST_NAME else data,
            "not the one it was signed with",
        ),
    ],
)
def test_a_tampered_delta_is_refused_and_the_installed_version_is_intact(
    admin_workspace, delta_v1_v2, trust_admin, memory_keyring, tmp_path, what, change, message
):
    install.install(admin_workspace.packs_dir / "handbook-v1.enclavepack")
    before = _hashes(_active()[1])
    bad = _rewrite(delta_v1_v2, tmp_path / "bad.enclavedelta", change)
    with pytest.raises(DeltaRejected, match=message) as refused:
        apply_delta(bad)
    assert "Install the full pack" in refused.value.hint, what
    version, folder = _active()
    assert version == 1 and _hashes(folder) == before
    assert verify_folder(folder, trusted_keys()).version == 1
    assert not list(install.packs_root().glob(".staging-*"))


def test_a_delta_for_another_base_is_refused(
    admin_workspace, delta_v1_v2, trust_admin, memory_keyring, tmp_path, capsys
):
    from desktop.cli import main

    with pytest.raises(DeltaRejected, match="not installed here"):
        apply_delta(delta_v1_v2)
    install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")
    assert main(["packs", "install", str(delta_v1_v2)]) == ExitCode.PACK_REJECTED
    err = capsys.readouterr().err
    assert "updates 'handbook' v1, and v2 is installed" in err and "Install the full pack" in err
    assert _active()[0] == 2


def test_a_delta_signed_for_another_build_of_the_base_is_refused(
    admin_workspace, delta_v1_v2, trust_admin, memory_keyring, tmp_path
):
    """Correctly signed, right versions, but made against a different v1 manifest."""
    install.install(admin_workspace.packs_dir / "handbook-v1.enclavepack")

    def rebase(name: str, data: bytes) -> bytes:
        if name != "delta.json":
            return data
        signed = json.loads(data)["signed"]
        signed["base_manifest_sha256"] = "0" * 64
        return json.dumps(sign(signed, admin_workspace.signing_key())).encode()

    bad = _rewrite(delta_v1_v2, tmp_path / "rebased.enclavedelta", rebase)
    with pytest.raises(DeltaRejected, match="not the build the delta was made from"):
        apply_delta(bad)
    assert _active()[0] == 1


def test_a_delta_of_another_pack_id_is_refused(
    admin_workspace, delta_v1_v2, trust_admin, memory_keyring, tmp_path
):
    install.install(admin_workspace.packs_dir / "handbook-v1.enclavepack")

    def other_pack(name: str, data: bytes) -> bytes:
        if name != "delta.json":
            return data
        signed = json.loads(data)["signed"]
        signed["pack_id"] = "payroll"
        return json.dumps(sign(signed, admin_workspace.signing_key())).encode()

    bad = _rewrite(delta_v1_v2, tmp_path / "other.enclavedelta", other_pack)
    with pytest.raises(DeltaRejected, match="another pack or version"):
        apply_delta(bad)
    assert _active()[0] == 1
