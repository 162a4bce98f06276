"""Attack: keep using a pack after it expired (freeze attack, TUF), by waiting or by setting the
clock back. Under the default "refuse" policy an expired pack stops answering at the next start,
like a broken pack: the other packs keep working, and `enclave packs list`, `enclave ask` and the
window say which pack and what to do. The clock used is max(now, latest time seen here)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from desktop.cli import main
from desktop.engine.access import KnowledgeAccess
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import local_state, manifest
from desktop.engine.packs.build import build_pack

from .conftest import request_for

OTHER_CANARY = "CANARY-OTHER-55"
LATER = 200  # days: the handbook (built valid for 180) has expired, `other` (400) has not


class Clock:
    """This computer's clock, as the code under test reads it (manifest and local state)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def set(self, days: int) -> None:
        self.offset = timedelta(days=days)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moved = Clock()
    real = datetime

    class MovedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):
            return real.now(tz) + moved.offset

    monkeypatch.setattr(manifest, "datetime", MovedDatetime)
    monkeypatch.setattr(
        local_state, "wall_clock", lambda: real.now(UTC) + moved.offset, raising=False
    )
    return moved


@pytest.fixture(scope="module")
def other_pack(admin_workspace, embedder, tmp_path_factory):
    """A second pack, valid for 400 days: it must keep working when the handbook expires."""
    source = tmp_path_factory.mktemp("other-source")
    (source / "notes.md").write_text(f"# Notes\nThe canteen opens at noon. Code {OTHER_CANARY}.\n")
    for _ in build_pack(
        source,
        admin_workspace.packs_dir,
        pack_id="other",
        title="Other",
        version=1,
        audience_map=admin_workspace.audience_map(),
        embedder=embedder,
        admin_key=admin_workspace.signing_key(),
        valid_days=400,
    ):
        pass
    return admin_workspace.packs_dir / "other-v1.enclavepack"


def _cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _alice_with_both_packs(workspace, other_pack, capsys) -> None:
    workspace.enrol(request_for("alice"), ["employee"])
    for pack_id in ("handbook", "other"):
        grant = workspace.grant("alice", pack_id, valid_days=800)  # outlives the moved clock
        assert _cli(capsys, "grants", "import", str(grant))[0] == 0
    handbook = workspace.packs_dir / "handbook-v2.enclavepack"
    for archive in (handbook, other_pack):
        assert _cli(capsys, "packs", "install", str(archive))[0] == ExitCode.OK


def _assert_handbook_refused_other_served(embedder, capsys) -> str:
    rc, said = _cli(capsys, "packs", "list")
    assert rc == ExitCode.UNHEALTHY, said
    handbook_line = next(line for line in said.splitlines() if line.startswith("handbook"))
    assert "NOT USABLE" in handbook_line and "'handbook' v2 expired on" in handbook_line
    assert any(line.startswith("other") and "NOT USABLE" not in line for line in said.splitlines())
    access = KnowledgeAccess(embedder)
    try:
        assert set(access.readable_audiences) == {"other"}
        found = access.search("code word canteen", k=10)
        assert found and {p.pack for p in found} == {"other"}
        problems = [str(p) for p in access.problems]
        assert (
            len(problems) == 1 and "Ask your administrator for the current version" in problems[0]
        )
    finally:
        access.close()
    return said


def test_a_pack_that_expired_since_install_stops_answering(
    admin_workspace, other_pack, trust_admin, memory_keyring, embedder, clock, capsys
):
    _alice_with_both_packs(admin_workspace, other_pack, capsys)
    clock.set(LATER)
    _assert_handbook_refused_other_served(embedder, capsys)


def test_setting_the_clock_back_does_not_revive_an_expired_pack(
    admin_workspace, other_pack, trust_admin, memory_keyring, embedder, clock, capsys
):
    _alice_with_both_packs(admin_workspace, other_pack, capsys)
    clock.set(LATER)
    _assert_handbook_refused_other_served(embedder, capsys)
    clock.set(0)  # the user sets the clock back to before the expiry date
    said = _assert_handbook_refused_other_served(embedder, capsys)
    assert "clock is behind" in said


def test_an_expired_pack_cannot_be_installed_by_setting_the_clock_back(
    admin_workspace, other_pack, trust_admin, memory_keyring, clock, capsys
):
    admin_workspace.enrol(request_for("alice"), ["employee"])
    assert _cli(capsys, "packs", "install", str(other_pack))[0] == ExitCode.OK
    clock.set(LATER)
    assert _cli(capsys, "packs", "list")[0] == ExitCode.OK  # the app ran on that day
    clock.set(0)
    handbook = admin_workspace.packs_dir / "handbook-v2.enclavepack"
    rc, said = _cli(capsys, "packs", "install", str(handbook))
    assert rc == ExitCode.PACK_REJECTED, said
    assert "expired on" in said and "clock is behind" in said


def test_enclave_ask_names_the_expired_pack_and_answers_from_the_others(
    admin_workspace, other_pack, trust_admin, memory_keyring, clock, capsys
):
    _alice_with_both_packs(admin_workspace, other_pack, capsys)
    clock.set(LATER)
    capsys.readouterr()
    assert main(["ask", "When does the canteen open?", "--json", "--max-tokens", "16"]) == 0
    captured = capsys.readouterr()
    assert "warning: Pack rejected: 'handbook' v2 expired on" in captured.err
    assert "Ask your administrator for the current version of 'handbook'" in captured.err
    sources = json.loads(captured.out)["sources"]
    assert all(source["pack"] == "other" for source in sources)


def test_warn_policy_keeps_an_expired_pack_with_a_warning(
    admin_workspace, other_pack, trust_admin, memory_keyring, embedder, clock, capsys
):
    """The administrator's documented opt-out: `[packs] expired = "warn"` in policy.toml."""
    (trust_admin / "policy.toml").write_text('[packs]\nexpired = "warn"\n')
    _alice_with_both_packs(admin_workspace, other_pack, capsys)
    clock.set(LATER)
    rc, said = _cli(capsys, "packs", "list")
    assert rc == ExitCode.OK and "(expired)" in said
    access = KnowledgeAccess(embedder)
    try:
        assert set(access.readable_audiences) == {"handbook", "other"}
    finally:
        access.close()


def test_setting_the_clock_back_does_not_revive_an_expired_grant(
    admin_workspace, trust_admin, memory_keyring, clock, capsys
):
    """A grant is judged by the latest time seen too: once the clock has passed its expiry,
    setting the clock back does not bring the audience keys back."""
    from desktop.engine.packs import install

    admin_workspace.enrol(request_for("alice"), ["employee"])
    install.import_grant(admin_workspace.grant("alice", "handbook", valid_days=2))
    install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")
    assert [g.pack_id for g in install.installed_grants()] == ["handbook"]
    clock.set(5)
    _cli(capsys, "packs", "list")  # the app sees the later date
    clock.set(0)  # the user sets the clock back to before the grant's expiry
    assert install.installed_grants() == []
