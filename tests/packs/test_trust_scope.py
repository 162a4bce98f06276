"""Trust is scoped: each key signs only the pack ids it is trusted for (issue 11, class 1).

Every test performs the attack as a user or an attacker would, through `enclave ...`: the DEMO key
(its private half an unencrypted file in the user's data folder) signs a pack or a grant for the real
pack; a key is slipped in through `XDG_CONFIG_DIRS` or the installation prefix; a key is dropped in
the trust folder without a scope. Before scopes, each of these was accepted.
"""

from __future__ import annotations

import base64
import json
import os
import secrets as pysecrets
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.cli import main
from desktop.engine.core import paths
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import grants, trust
from desktop.engine.packs.archive import verify_folder, write_archive
from desktop.engine.packs.errors import PackRejected
from desktop.engine.packs.local_state import LocalState
from desktop.engine.packs.manifest import MANIFEST_NAME
from desktop.engine.packs.publish import sign_folder
from desktop.engine.packs.signing import key_id, load_private_key, public_raw, sign

from .conftest import dump, write_source

HUGE_VERSION = 2**53 - 1  # the largest version a signed document may hold: pins the floor for good


@pytest.fixture(autouse=True)
def _profile_restored(monkeypatch) -> None:
    """`enclave --profile X` sets ENCLAVE_PROFILE for the process; undo it after each test
    (`setenv` records the variable for restoring, `delenv` of an absent one would not)."""
    monkeypatch.setenv("ENCLAVE_PROFILE", "")


def _public_text(private: Ed25519PrivateKey) -> str:
    """The `.pub` file content of a key, as `enclave admin init` writes it."""
    return base64.b64encode(public_raw(private.public_key())).decode() + "\n"


def _trust(config: Path, name: str, public_key_file: Path, packs: list[str]) -> Path:
    """Trust a key as an administrator does: `enclave admin trust-file ... --out <config>/...`.

    The bare `.pub` is installed too, as on a machine set up before scopes existed: it must not
    widen the scope (and before scopes it was the only thing read)."""
    folder = config / trust.TRUSTED_DIR_NAME
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.toml"
    packs_arg = ",".join(packs)
    args = ["--public-key", str(public_key_file), "--packs", packs_arg, "--out", str(out)]
    code = main(["admin", "trust-file", *args])
    assert code == ExitCode.OK
    shutil.copyfile(public_key_file, folder / f"{name}.pub")
    return out


def _forge(source: Path, target: Path, key: Ed25519PrivateKey, **changes: object) -> Path:
    """Copy a built pack, change signed fields, re-sign it with `key`, archive it."""
    folder = target.with_suffix("")
    shutil.copytree(source, folder)
    envelope = json.loads((folder / MANIFEST_NAME).read_text())
    signed = {**envelope["signed"], **changes}
    (folder / MANIFEST_NAME).write_text(json.dumps(sign(signed, key), indent=2, sort_keys=True))
    return write_archive(folder, target)


def _install_real_pack(admin_workspace, capsys) -> Path:
    """The real user: enrolled as an employee, grant imported, handbook v2 installed."""
    admin_workspace.enrol(grants.enrolment_request(user="alice", machine="m"), ["employee"])
    grant_file = admin_workspace.grant("alice", "handbook")
    assert main(["grants", "import", str(grant_file)]) == ExitCode.OK
    archive = admin_workspace.packs_dir / "handbook-v2.enclavepack"
    assert main(["packs", "install", str(archive)]) == ExitCode.OK
    capsys.readouterr()
    return next((paths.data_dir() / "grants").glob("handbook-v2-*.json"))


def _real_pack_intact(grant_file: Path, capsys) -> None:
    assert grant_file.exists(), "the real pack's grant was deleted"
    assert main(["packs", "list"]) == ExitCode.OK
    listing = capsys.readouterr().out
    line = next(li for li in listing.splitlines() if li.startswith("handbook "))
    assert "v2 " in line and "you read: everyone, staff" in line
    state = LocalState.open()
    try:
        record = state.pack("handbook")
    finally:
        state.close()
    assert record is not None and record.last_seen_version == 2  # rollback floor not pinned


@pytest.fixture
def demo_machine(admin_workspace, memory_keyring, tmp_path, capsys) -> dict:
    """A machine that trusts the organisation's key for 'handbook' only, has the real pack with
    a grant, and has run `enclave demo` (as setup does)."""
    config = Path(os.environ["ENCLAVE_CONFIG_DIR"])
    _trust(config, "org", admin_workspace.public_key_path, ["handbook"])
    source = write_source(tmp_path / "demo-source")
    assert main(["demo", str(source)]) == ExitCode.OK
    grant_file = _install_real_pack(admin_workspace, capsys)
    demo_admin = paths.base_data_dir() / "demo-admin"
    return {
        "grant": grant_file,
        "demo_key": load_private_key(demo_admin / "admin.key"),  # readable by anyone who reads
        "demo_archive": demo_admin / "packs" / f"{trust.DEMO_PACK_ID}-v1.enclavepack",
    }


def test_demo_key_cannot_replace_the_real_pack(admin_workspace, demo_machine, tmp_path, capsys):
    demo_key = demo_machine["demo_key"]
    forged = _forge(
        admin_workspace.packs_dir / "handbook-v2",
        tmp_path / "evil" / "handbook.enclavepack",
        demo_key,
        version=HUGE_VERSION,
    )
    code = main(["packs", "install", str(forged)])
    err = capsys.readouterr().err
    assert code == ExitCode.PACK_REJECTED
    demo_id = key_id(demo_key.public_key())
    assert demo_id[:16] in err and "'handbook'" in err and trust.DEMO_PACK_ID in err
    _real_pack_intact(demo_machine["grant"], capsys)


def test_demo_key_cannot_sign_a_grant_for_the_real_pack(demo_machine, tmp_path, capsys):
    request = grants.enrolment_request(user="alice", machine="m")
    forged = grants.issue_grant(
        request,
        pack_id="handbook",
        pack_version=2,
        roles=["hr"],
        audience_keys={"hr": pysecrets.token_bytes(32)},
        expires=datetime.now(UTC) + timedelta(days=30),
        admin_key=demo_machine["demo_key"],
    )
    code = main(["grants", "import", str(dump(forged, tmp_path / "grant.json"))])
    err = capsys.readouterr().err
    assert code == ExitCode.PACK_REJECTED
    assert "Grant rejected" in err and "'handbook'" in err and trust.DEMO_PACK_ID in err
    assert main(["grants", "list"]) == ExitCode.OK
    assert " hr" not in capsys.readouterr().out.replace("employee", "")


def test_demo_key_is_trusted_only_in_demo_profiles_and_the_demo_still_works(demo_machine, capsys):
    for profile in ("demo-guest", "demo-supervisor"):
        assert main(["--profile", profile, "packs", "list"]) == ExitCode.OK
        assert trust.DEMO_PACK_ID in capsys.readouterr().out
    code = main(["--profile", "alice-work", "packs", "install", str(demo_machine["demo_archive"])])
    assert code == ExitCode.PACK_REJECTED
    assert "not signed by a key this computer trusts" in capsys.readouterr().err


def test_xdg_config_dirs_and_the_install_prefix_are_not_trust_roots(
    admin_workspace, memory_keyring, monkeypatch, tmp_path, capsys
):
    evil = Ed25519PrivateKey.generate()
    evil_pub = tmp_path / "evil.pub"
    evil_pub.write_text(_public_text(evil))
    monkeypatch.delenv("ENCLAVE_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    for root in (tmp_path / "xdg" / "enclave", tmp_path / "prefix" / "etc" / "enclave"):
        _trust(root, "evil", evil_pub, ["*"])
    forged = _forge(
        admin_workspace.packs_dir / "handbook-v2", tmp_path / "out" / "handbook.enclavepack", evil
    )
    assert main(["packs", "install", str(forged)]) == ExitCode.PACK_REJECTED
    assert "not signed by a key this computer trusts" in capsys.readouterr().err
    assert paths.system_config_dir() == paths.os_config_dir()
    assert not str(paths.system_config_dir()).startswith(str(tmp_path))


def test_a_key_without_a_scope_trusts_nothing(admin_workspace, memory_keyring, capsys):
    folder = Path(os.environ["ENCLAVE_CONFIG_DIR"]) / trust.TRUSTED_DIR_NAME
    folder.mkdir(parents=True)
    shutil.copyfile(admin_workspace.public_key_path, folder / "dropped.pub")
    archive = admin_workspace.packs_dir / "handbook-v2.enclavepack"
    assert main(["packs", "install", str(archive)]) == ExitCode.PACK_REJECTED
    err = capsys.readouterr().err
    assert "without a scope" in err and "enclave admin trust-file" in err


def test_a_key_trusted_for_other_packs_cannot_sign_this_one(
    admin_workspace, memory_keyring, capsys
):
    """Two administrators (handbook, hr-*): neither can sign the other's packs or grants."""
    config = Path(os.environ["ENCLAVE_CONFIG_DIR"])
    hr_key = Ed25519PrivateKey.generate()
    hr_pub = config.parent / "hr.pub"
    hr_pub.write_text(_public_text(hr_key))
    _trust(config, "handbook-admin", admin_workspace.public_key_path, ["handbook"])
    _trust(config, "hr-admin", hr_pub, ["hr-*"])
    built = admin_workspace.packs_dir / "handbook-v2"
    forged = _forge(built, config.parent / "x" / "handbook.enclavepack", hr_key, version=3)
    assert main(["packs", "install", str(forged)]) == ExitCode.PACK_REJECTED
    err = capsys.readouterr().err
    assert key_id(hr_key.public_key())[:16] in err and "hr-admin" in err and "hr-*" in err
    request = grants.enrolment_request(user="bob", machine="m")
    grant = grants.issue_grant(
        request,
        pack_id="handbook",
        pack_version=2,
        roles=["hr"],
        audience_keys={"hr": pysecrets.token_bytes(32)},
        expires=datetime.now(UTC) + timedelta(days=1),
        admin_key=hr_key,
    )
    assert main(["grants", "import", str(dump(grant, config.parent / "g.json"))]) == 8
    assert "'handbook'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("pack_id", "accepted"),
    [("hr-policies", True), ("hr-", True), ("hr", False), ("hrx-policies", False), ("x", False)],
)
def test_a_namespace_scope_covers_its_prefix_only(tmp_path, pack_id, accepted) -> None:
    key = Ed25519PrivateKey.generate()
    pub = tmp_path / "hr.pub"
    pub.write_text(_public_text(key))
    _trust(Path(os.environ["ENCLAVE_CONFIG_DIR"]), "hr", pub, ["hr-*"])
    folder = tmp_path / "pack"
    (folder / "shards").mkdir(parents=True)
    (folder / "shards" / "everyone.db").write_bytes(os.urandom(100))
    now = datetime.now(UTC)
    sign_folder(
        folder,
        {
            "pack_id": pack_id,
            "title": "T",
            "version": 1,
            "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expires": (now + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "knowledge_as_of": "2026-01-01",
            "embedding": {"id": "e", "sha256": "0" * 64, "dimension": 384},
            "audiences": {"everyone": {"shard": "shards/everyone.db", "documents": 1, "chunks": 1}},
        },
        key,
    )
    if accepted:
        assert verify_folder(folder, trust.trusted_keys()).pack_id == pack_id
    else:
        with pytest.raises(PackRejected, match="trusts only for: hr-"):
            verify_folder(folder, trust.trusted_keys())


def test_doctor_lists_every_trusted_key_with_its_scope(admin_workspace, tmp_path, capsys):
    config = Path(os.environ["ENCLAVE_CONFIG_DIR"])
    _trust(config, "org", admin_workspace.public_key_path, ["handbook", "hr-*"])
    (config / trust.TRUSTED_DIR_NAME / "org.pub").unlink()
    shutil.copyfile(admin_workspace.public_key_path, config / trust.TRUSTED_DIR_NAME / "old.pub")
    trust.install_demo_key(admin_workspace.public_key_path)
    capsys.readouterr()
    main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)["trust"]
    assert report["override"].startswith("ENCLAVE_CONFIG_DIR=")
    keys = {(k["name"], tuple(k["packs"]), k["demo"]) for k in report["keys"]}
    assert keys == {("org", ("handbook", "hr-*"), False), ("DEMO", (trust.DEMO_PACK_ID,), True)}
    assert [Path(i["file"]).name for i in report["ignored"]] == ["old.pub"]
    main(["doctor"])
    text = capsys.readouterr().out
    assert "may sign: handbook, hr-*" in text and f"may sign: {trust.DEMO_PACK_ID}" in text
    assert "old.pub: trusts nothing" in text


def test_trust_file_refuses_a_pattern_that_is_not_a_pack_id(admin_workspace, capsys) -> None:
    code = main(
        ["admin", "trust-file", "--workspace", str(admin_workspace.root), "--packs", "../etc"]
    )
    assert code == ExitCode.USAGE
    assert "not a pack id" in capsys.readouterr().err
