"""Attacks on the rollback floor and on the manifest's types, performed through `enclave`.

The story: bob could read the `hr` audience of pack v1. The administrator revoked him and shipped
v2 (fresh keys). Bob kept his v1 grant and the v1 pack file. Erasing the floor (deleting state.db,
its keyring entries, or putting back an older state.db) must not let him install v1 again and read
`hr`. Separately: a signed manifest with mistyped fields, and unsigned bytes that crash a naive
JSON parser, must be clean refusals (exit 8), never tracebacks or silent coercions.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.engine.access import KnowledgeAccess
from desktop.engine.core import paths
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import grants
from desktop.engine.packs.build import load_keys_file
from desktop.engine.packs.local_state import DB_NAME, LocalState
from desktop.engine.packs.manifest import MANIFEST_NAME, PACK_TYPE, SPEC_VERSION, format_time
from desktop.engine.packs.publish import file_entries
from desktop.engine.packs.signing import sign
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.storage import secrets

from .conftest import CANARIES, dump, request_for

MIRROR_NAME = "pack-floors"  # local_state.MIRROR_NAME: the keyring copy of the floors and clock


def _cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _hr_visible(embedder) -> bool:
    access = KnowledgeAccess(embedder)
    try:
        seen = "\n".join(
            p.text for q in ("salary bands", "code word") for p in access.search(q, 10)
        )
    finally:
        access.close()
    return CANARIES["hr"] in seen


def _v1_grant(workspace, user: str, roles: list[str], out: Path) -> Path:
    _, _, v1_keys = load_keys_file(workspace.packs_dir / "handbook-v1.keys.json")
    allowed = workspace.audience_map().audiences_for(roles)
    document = grants.issue_grant(
        workspace.users()[user]["request"],
        pack_id="handbook",
        pack_version=1,
        roles=roles,
        audience_keys={a: k for a, k in v1_keys.items() if a in allowed},
        expires=datetime.now(UTC) + timedelta(days=30),
        admin_key=workspace.signing_key(),
    )
    return dump(document, out)


def _bob_revoked_after_v1(workspace, tmp_path, capsys, embedder) -> tuple[Path, Path]:
    """Bob reads hr in v1, is revoked, gets v2. Returns his kept copies: v1 grant, old state.db."""
    workspace.enrol(request_for("bob"), ["hr"])
    v1_grant = _v1_grant(workspace, "bob", ["hr"], tmp_path / "bob-v1-grant.json")
    v1 = workspace.packs_dir / "handbook-v1.enclavepack"
    assert _cli(capsys, "grants", "import", str(v1_grant))[0] == ExitCode.OK
    assert _cli(capsys, "packs", "install", str(v1))[0] == ExitCode.OK
    assert _hr_visible(embedder)
    old_state = tmp_path / "state-backup.db"
    shutil.copyfile(paths.data_dir() / DB_NAME, old_state)
    workspace.revoke("bob")
    v2 = workspace.packs_dir / "handbook-v2.enclavepack"
    assert _cli(capsys, "packs", "install", str(v2))[0] == ExitCode.OK
    assert not _hr_visible(embedder)
    return v1_grant, old_state


def _forget_key(name: str) -> None:
    secrets.backend().delete_password(secrets._service(), name)


@pytest.mark.parametrize(
    "erase", ["state.db", "state.db and its key", "state.db and the floor copy", "older state.db"]
)
def test_erasing_the_floor_does_not_bring_back_a_revoked_audience(
    erase, admin_workspace, trust_admin, memory_keyring, embedder, tmp_path, capsys
):
    v1_grant, old_state = _bob_revoked_after_v1(admin_workspace, tmp_path, capsys, embedder)
    state_db = paths.data_dir() / DB_NAME
    state_db.unlink()
    if erase == "state.db and its key":
        _forget_key(LocalState.key_name)
    elif erase == "state.db and the floor copy":
        _forget_key(MIRROR_NAME)
    elif erase == "older state.db":
        shutil.copyfile(old_state, state_db)

    assert _cli(capsys, "grants", "import", str(v1_grant))[0] == ExitCode.OK  # still signed
    rc, said = _cli(
        capsys, "packs", "install", str(admin_workspace.packs_dir / "handbook-v1.enclavepack")
    )
    assert rc == ExitCode.PACK_REJECTED, said
    if erase == "state.db and the floor copy":
        assert "were both deleted" in said and "administrator" in said
    else:
        assert "older than version 2 already seen" in said and "rollback" in said
    if state_db.exists():
        assert not _hr_visible(embedder)
    else:  # nothing to rebuild the floor from: fail closed, and say so
        assert _cli(capsys, "packs", "list")[0] == ExitCode.PACK_REJECTED


def test_a_deleted_state_is_reported_and_recovered_by_installing_the_latest(
    admin_workspace, trust_admin, memory_keyring, embedder, tmp_path, capsys
):
    _bob_revoked_after_v1(admin_workspace, tmp_path, capsys, embedder)
    (paths.data_dir() / DB_NAME).unlink()
    rc, said = _cli(capsys, "packs", "list")
    assert rc == ExitCode.PACK_REJECTED
    assert "was deleted or moved away" in said and "enclave packs install" in said
    v2 = admin_workspace.packs_dir / "handbook-v2.enclavepack"
    assert _cli(capsys, "packs", "install", str(v2))[0] == ExitCode.OK
    rc, said = _cli(capsys, "packs", "list")
    assert rc == ExitCode.OK and "v2" in said


def test_a_fresh_state_refuses_versions_older_than_a_grant_it_holds(
    admin_workspace, trust_admin, memory_keyring, embedder, tmp_path, capsys
):
    """Everything Enclave keeps about versions is wiped (state.db and both keyring entries), but
    alice's v2 grant is still there: it is signed evidence that v2 exists, so v1 is refused."""
    admin_workspace.enrol(request_for("alice"), ["employee"])
    v1_grant = _v1_grant(admin_workspace, "alice", ["employee"], tmp_path / "alice-v1.json")
    v2_grant = admin_workspace.grant("alice", "handbook")
    assert _cli(capsys, "grants", "import", str(v2_grant))[0] == ExitCode.OK
    v2 = admin_workspace.packs_dir / "handbook-v2.enclavepack"
    assert _cli(capsys, "packs", "install", str(v2))[0] == ExitCode.OK
    (paths.data_dir() / DB_NAME).unlink()
    _forget_key(LocalState.key_name)
    _forget_key(MIRROR_NAME)
    assert _cli(capsys, "grants", "import", str(v1_grant))[0] == ExitCode.OK
    rc, said = _cli(
        capsys, "packs", "install", str(admin_workspace.packs_dir / "handbook-v1.enclavepack")
    )
    assert rc == ExitCode.PACK_REJECTED
    assert "named by a grant you hold (rollback)" in said


# -- the manifest's types ------------------------------------------------------------------------


def _signed_pack(folder: Path, workspace, mutate=None) -> Path:
    """A pack signed by the trusted admin key, with the real embedding model (so that, unmutated,
    it installs); `mutate` edits the signed fields before signing."""
    (folder / "shards").mkdir(parents=True)
    (folder / "shards" / "everyone.db").write_bytes(os.urandom(4096))
    embedding = Catalog.load().default("embedding")
    now = datetime.now(UTC)
    signed = {
        "type": PACK_TYPE,
        "spec_version": SPEC_VERSION,
        "pack_id": "handbook",
        "title": "Handbook",
        "version": 7,
        "created": format_time(now),
        "expires": format_time(now + timedelta(days=30)),
        "knowledge_as_of": "2026-01-01",
        "embedding": {"id": embedding.id, "sha256": embedding.sha256, "dimension": 384},
        "audiences": {"everyone": {"shard": "shards/everyone.db", "documents": 1, "chunks": 1}},
        "files": file_entries(folder),
    }
    if mutate:
        mutate(signed)
    (folder / MANIFEST_NAME).write_text(json.dumps(sign(signed, workspace.signing_key())))
    return folder


def _set(path: str, value):
    def mutate(signed: dict) -> None:
        *parents, last = path.split(".")
        target = signed
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[int(last) if isinstance(target, list) else last] = value

    return mutate


def test_an_unmutated_test_pack_installs(
    admin_workspace, trust_admin, memory_keyring, tmp_path, capsys
):
    """The control for the cases below: what they refuse is the mutation alone."""
    pack = _signed_pack(tmp_path / "pack", admin_workspace)
    assert _cli(capsys, "packs", "install", str(pack))[0] == ExitCode.OK


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("version", "5", "version is not an integer"),
        ("version", True, "version is not an integer"),
        ("version", 0, "version is outside 1.."),
        ("version", 2**60, "an integer beyond"),
        ("spec_version", True, "not an Enclave pack"),
        ("expires", 1893456000, "expires is not a string"),
        ("created", ["2026-01-01"], "created is not a string"),
        ("title", {"en": "Handbook"}, "title is not a string"),
        ("embedding.dimension", "384", "embedding dimension is not an integer"),
        ("audiences.everyone.documents", "1", "documents count of audience 'everyone'"),
        ("files.0.length", "4096", "length of 'shards/everyone.db' is not an integer"),
        ("files.0.length", -1, "length of 'shards/everyone.db' is outside"),
        ("files.0.length", 2**62, "an integer beyond"),
        ("files.0", ["shards/everyone.db"], "file entry is not an object"),
        ("audiences", ["everyone"], "audience list is not an object"),
        ("shard_schema", "m001_initial", "shard schema is not a list"),
        ("shard_schema", [7], "shard schema entry is not a string"),
        ("shard_schema", ["m001_initial", "m999_later"], "built by a newer Enclave"),
    ],
)
def test_a_signed_manifest_with_mistyped_fields_is_refused(
    field, value, words, admin_workspace, trust_admin, memory_keyring, tmp_path, capsys
):
    pack = _signed_pack(tmp_path / "pack", admin_workspace, _set(field, value))
    rc, said = _cli(capsys, "packs", "install", str(pack))
    assert rc == ExitCode.PACK_REJECTED, said
    assert words in said
    assert not (paths.data_dir() / "packs" / "handbook").exists()


def test_a_pack_from_a_newer_enclave_is_refused_and_the_active_one_stays(
    admin_workspace, trust_admin, memory_keyring, tmp_path, capsys
):
    """Refused at install, before it replaces a version this app can read."""
    from desktop.engine.knowledge.store import MIGRATIONS
    from desktop.engine.packs import install

    assert (
        _cli(
            capsys, "packs", "install", str(admin_workspace.packs_dir / "handbook-v1.enclavepack")
        )[0]
        == ExitCode.OK
    )
    newer = _signed_pack(
        tmp_path / "pack",
        admin_workspace,
        _set("shard_schema", [*(name for name, _ in MIGRATIONS), "m999_from_a_newer_enclave"]),
    )
    rc, said = _cli(capsys, "packs", "install", str(newer))
    assert rc == ExitCode.PACK_REJECTED and "m999_from_a_newer_enclave" in said
    assert "Upgrade Enclave" in said
    active = install.active_folder("handbook")
    assert active is not None and active[0] == 1
    # What this version builds names exactly the migrations it knows.
    built = json.loads((admin_workspace.packs_dir / "handbook-v2" / MANIFEST_NAME).read_text())
    assert built["signed"]["shard_schema"] == [name for name, _ in MIGRATIONS]


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("replace", "by", "words"),
    [
        ('"version": 7', '"version": NaN', "NaN"),
        ('"version": 7', '"version": Infinity', "NaN or infinite"),
        ('"version": 7', '"version": 7.0', "fraction or an exponent"),
        ('"version": 7', '"version": 1e400', "fraction or an exponent"),
        ('"version": 7', '"version": ' + "9" * 5000, "integer beyond"),
        ('"version": 7', '"version": 9007199254740993', "integer beyond"),
        ('"title": "Handbook"', '"title": "\\ud800"', "not valid Unicode"),
        ('"title": "Handbook"', '"title": ' + DEEP, "nested more than"),
        ('"version": 7', '"version": 7, "version": 8', "same key twice"),
    ],
)
def test_manifest_bytes_that_break_a_json_parser_are_refused(
    replace, by, words, admin_workspace, trust_admin, memory_keyring, tmp_path, capsys
):
    pack = _signed_pack(tmp_path / "pack", admin_workspace)
    raw = (pack / MANIFEST_NAME).read_text()
    assert raw.count(replace) == 1
    (pack / MANIFEST_NAME).write_text(raw.replace(replace, by))
    rc, said = _cli(capsys, "packs", "install", str(pack))
    assert rc == ExitCode.PACK_REJECTED, said
    assert words in said


def test_grant_bytes_that_break_a_json_parser_are_refused(
    admin_workspace, trust_admin, memory_keyring, capsys
):
    admin_workspace.enrol(request_for("alice"), ["employee"])
    grant = admin_workspace.grant("alice", "handbook")
    raw = grant.read_text()
    grant.write_text(raw.replace('"spec_version": 1', '"spec_version": NaN'))
    rc, said = _cli(capsys, "grants", "import", str(grant))
    assert rc == ExitCode.PACK_REJECTED
    assert "NaN" in said
