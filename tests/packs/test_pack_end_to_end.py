"""Packs end to end with real llama.cpp embeddings, FAISS and SQLCipher: install, grants, the one
retrieval choke point, leak tests, rollback, expiry and revocation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.engine.access import AccessDenied, KnowledgeAccess
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import install
from desktop.engine.packs.errors import PackRejected

from .conftest import CANARIES, dump, request_for

QUERIES = ["salary bands", "annual leave days", "office opening hours", "code word", "engineers"]


def _enrol_and_install(workspace, user: str, roles: list[str], tmp_path: Path, version: int = 2):
    workspace.enrol(request_for(user), roles)
    grant = workspace.grant(user, "handbook")
    install.import_grant(grant)
    install.install(workspace.packs_dir / f"handbook-v{version}.enclavepack")


def _everything_seen(access: KnowledgeAccess) -> str:
    return "\n".join(str(c) for q in QUERIES for c in access.search(q, k=10))


def test_employee_sees_staff_but_never_hr(
    admin_workspace, trust_admin, memory_keyring, embedder, tmp_path
):
    _enrol_and_install(admin_workspace, "alice", ["employee"], tmp_path)
    access = KnowledgeAccess(embedder)
    try:
        assert access.readable_audiences == {"handbook": ("everyone", "staff")}
        seen = _everything_seen(access)
        assert CANARIES["everyone"] in seen and CANARIES["staff"] in seen
        assert CANARIES["hr"] not in seen and "Salary bands" not in seen
        top = access.search("How many days of annual leave do staff get?", k=3)[0]
        assert top.audience == "staff" and top.pack_version == 2 and top.as_of
    finally:
        access.close()


def test_two_profiles_get_differently_scoped_answers(
    admin_workspace, trust_admin, memory_keyring, embedder, tmp_path, monkeypatch
):
    _enrol_and_install(admin_workspace, "alice", ["employee"], tmp_path)
    monkeypatch.setenv("ENCLAVE_PROFILE", "hr-user")
    _enrol_and_install(admin_workspace, "harriet", ["hr"], tmp_path)
    hr_access = KnowledgeAccess(embedder)
    hr_hits = hr_access.search("salary bands for engineers", k=1)
    hr_access.close()
    assert CANARIES["hr"] in hr_hits[0].text
    monkeypatch.delenv("ENCLAVE_PROFILE")
    employee = KnowledgeAccess(embedder)
    try:
        assert all(CANARIES["hr"] not in h.text for h in employee.search("salary bands", k=10))
        with pytest.raises(AccessDenied):
            employee.open_citation(hr_hits[0].ref)  # a forged/stale citation from elsewhere
    finally:
        employee.close()


def test_restricted_shards_on_disk_reveal_nothing(admin_workspace) -> None:
    folder = admin_workspace.packs_dir / "handbook-v2"
    for audience in ("everyone", "staff", "hr"):
        data = (folder / "shards" / f"{audience}.db").read_bytes()
        assert b"SQLite format 3" not in data[:16]
        for secret in (
            *CANARIES.values(),
            "Salary bands",
            "salaries.md",
            "Leave policy",
            "leave.md",
        ):
            assert secret.encode() not in data, (audience, secret)
    manifest = (folder / "manifest.json").read_text()
    assert "salar" not in manifest.lower() and "leave.md" not in manifest


def test_rollback_is_refused_even_after_deleting_the_folder(
    admin_workspace, trust_admin, memory_keyring, tmp_path
):
    install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")
    with pytest.raises(PackRejected, match="rollback"):
        install.install(admin_workspace.packs_dir / "handbook-v1.enclavepack")
    import shutil

    shutil.rmtree(install.packs_root())
    with pytest.raises(PackRejected, match="rollback"):
        install.install(admin_workspace.packs_dir / "handbook-v1.enclavepack")


def test_untrusted_machine_rejects_the_pack(admin_workspace, memory_keyring) -> None:
    with pytest.raises(PackRejected, match="trusts"):
        install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")
    assert not any(install.packs_root().glob("handbook/v*"))


def test_revocation_by_new_version(
    admin_workspace, trust_admin, memory_keyring, embedder, tmp_path
):
    """A v1 grant opens nothing in v2: a removed user cannot read the next version."""
    admin_workspace.enrol(request_for("bob"), ["hr"])
    v1_grant = admin_workspace.grant("bob", "handbook")  # latest is v2 here; make a v1 grant:
    from desktop.engine.packs import grants
    from desktop.engine.packs.build import load_keys_file

    _, _, v1_keys = load_keys_file(admin_workspace.packs_dir / "handbook-v1.keys.json")
    from datetime import UTC, datetime, timedelta

    old = grants.issue_grant(
        admin_workspace.users()["bob"]["request"],
        pack_id="handbook",
        pack_version=1,
        roles=["hr"],
        audience_keys=v1_keys,
        expires=datetime.now(UTC) + timedelta(days=5),
        admin_key=admin_workspace.signing_key(),
    )
    install.import_grant(dump(old, tmp_path / "old-grant.json"))
    install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")
    access = KnowledgeAccess(embedder)
    assert access.readable_audiences == {"handbook": ()}
    access.close()
    assert v1_grant.exists()
    # Shards of v2 do not open with v1 keys at all.
    from desktop.engine.core.errors import StorageError
    from desktop.engine.packs.shards import Shard

    with pytest.raises(StorageError, match="cannot be opened"):
        Shard(install.packs_root() / "handbook/v2/shards/hr.db", v1_keys["hr"], embedder)


def test_expired_pack_policy(admin_workspace, trust_admin, memory_keyring, embedder, tmp_path):
    from desktop.engine.packs.build import build_pack

    from .conftest import write_source

    out = tmp_path / "out"
    for _ in build_pack(
        write_source(tmp_path / "src"),
        out,
        pack_id="old",
        title="Old",
        version=1,
        audience_map=admin_workspace.audience_map(),
        embedder=embedder,
        admin_key=admin_workspace.signing_key(),
        valid_days=-1,
    ):
        pass
    with pytest.raises(PackRejected, match="expired"):
        install.install(out / "old-v1.enclavepack")
    (trust_admin / "policy.toml").write_text('[packs]\nexpired = "warn"\n')
    assert install.install(out / "old-v1.enclavepack").expiry == "expired"


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    roles=st.sampled_from([["guest"], ["employee"], ["hr"], ["guest", "employee"]]),
    query=st.sampled_from(QUERIES) | st.text(min_size=1, max_size=30),
    k=st.integers(1, 12),
)
def test_property_no_canary_outside_the_granted_audiences(
    admin_workspace, trust_admin, memory_keyring, embedder, roles, query, k
):
    profile = f"p{abs(hash((tuple(roles), query, k))) % 10**8}"
    os.environ["ENCLAVE_PROFILE"] = profile
    try:
        admin_workspace.enrol(request_for(profile), roles)
        install.import_grant(admin_workspace.grant(profile, "handbook"))
        install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")
        allowed = admin_workspace.audience_map().audiences_for(roles)
        access = KnowledgeAccess(embedder)
        try:
            results = access.search(query, k=k) if query.strip() else []
        finally:
            access.close()
        seen = "\n".join(str(r) for r in results)
        for audience, canary in CANARIES.items():
            if audience not in allowed:
                assert canary not in seen
        assert {r.audience for r in results} <= allowed
    finally:
        del os.environ["ENCLAVE_PROFILE"]


def test_a_pack_that_stops_verifying_is_set_aside_not_fatal(
    admin_workspace, trust_admin, memory_keyring, embedder, tmp_path, capsys
):
    """The admin key is no longer trusted (or the folder was tampered with after install): the
    pack is reported as not usable, nothing from it is served, and the app keeps working."""
    from desktop.cli import main

    admin_workspace.enrol(request_for("alice"), ["employee"])
    install.import_grant(admin_workspace.grant("alice", "handbook"))
    install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")
    shard = install.packs_root() / "handbook" / "v2" / "shards" / "everyone.db"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    access = KnowledgeAccess(embedder)
    try:
        assert access.packs == [] and access.search("leave", k=5) == []
        assert any("sha256" in p.message for p in access.problems)
    finally:
        access.close()
    assert main(["packs", "list"]) == ExitCode.UNHEALTHY
    assert "NOT USABLE" in capsys.readouterr().out
