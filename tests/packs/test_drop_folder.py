"""Drop folders: packs and grants placed by IT (or a file-share script) are verified and installed
at start through the same path as `enclave packs install`, with real signed packs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from desktop.engine.access import KnowledgeAccess
from desktop.engine.packs import install, provision

from .conftest import CANARIES, request_for


def _drop_packs(workspace, versions: tuple[int, ...]) -> Path:
    folder = provision.machine_packs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for version in versions:
        name = f"handbook-v{version}.enclavepack"
        shutil.copyfile(workspace.packs_dir / name, folder / name)
    return folder


def _drop_grant(workspace, user: str, roles: list[str], folder: Path | None = None) -> Path:
    workspace.enrol(request_for(user), roles)
    target = folder or provision.machine_grants_dir()
    assert target is not None
    target.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(workspace.grant(user, "handbook"), target))


def _active_version() -> int:
    return max(p.manifest.version for p in install.active_packs())


def test_machine_drop_folder_installs_at_start(
    admin_workspace, trust_admin, memory_keyring, embedder
) -> None:
    assert provision.machine_drop_dir() == trust_admin  # ENCLAVE_CONFIG_DIR moves both
    _drop_packs(admin_workspace, (2, 1))
    _drop_grant(admin_workspace, "alice", ["employee"])
    report = provision.sync()
    assert [(o.kind, o.outcome, o.detail) for o in report.outcomes] == [
        ("grant", "imported", "handbook v2 for alice"),
        ("pack", "installed", "handbook v2"),  # newest first; the older archive left beside
        ("pack", "superseded", "verified; not newer than the active version"),  # it: set aside
    ]
    assert report.problems() == []
    assert _active_version() == 2
    access = KnowledgeAccess(embedder)
    try:
        assert access.readable_audiences == {"handbook": ("everyone", "staff")}
        seen = "\n".join(str(c) for c in access.search("annual leave code word", k=10))
        assert CANARIES["staff"] in seen and CANARIES["hr"] not in seen
    finally:
        access.close()
    again = provision.sync()  # the next start: nothing new, nothing verified again
    assert again.outcomes == () and again.unchanged == 3


def test_a_tampered_drop_is_refused_and_the_others_install(
    admin_workspace, trust_admin, memory_keyring
) -> None:
    folder = _drop_packs(admin_workspace, (2,))
    bad = folder / "handbook-v9.enclavepack"
    data = bytearray((folder / "handbook-v2.enclavepack").read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    report = provision.sync()
    outcomes = {Path(o.source).name: o for o in report.outcomes}
    assert outcomes["handbook-v2.enclavepack"].outcome == "installed"
    assert outcomes["handbook-v9.enclavepack"].outcome == "refused"
    assert [str(p).split(":")[0] for p in report.problems()] == [
        "A pack placed by your administrator was not installed"
    ]
    assert _active_version() == 2
    assert provision.sync().outcomes == ()  # reported once, not at every start


def test_an_older_version_dropped_later_changes_nothing(
    admin_workspace, trust_admin, memory_keyring
) -> None:
    folder = _drop_packs(admin_workspace, (2,))
    assert provision.sync().outcomes[0].outcome == "installed"
    (folder / "handbook-v2.enclavepack").unlink()
    _drop_packs(admin_workspace, (1,))
    report = provision.sync()
    assert [o.outcome for o in report.outcomes] == ["superseded"]
    assert _active_version() == 2


def test_grants_in_the_user_inbox_and_for_someone_else(
    admin_workspace, trust_admin, memory_keyring
) -> None:
    inbox = provision.user_inbox_dir()
    _drop_grant(admin_workspace, "alice", ["employee"], inbox)
    admin_workspace.enrol(
        {**request_for("bob"), **_someone_elses_key()}, ["hr"]
    )  # bob's request carries a key this profile does not hold
    shutil.copy(admin_workspace.grant("bob", "handbook"), inbox)
    report = provision.sync()
    by_outcome = {o.outcome: o for o in report.outcomes}
    assert by_outcome["imported"].detail == "handbook v2 for alice"
    assert "another key" in by_outcome["refused"].detail
    assert [g.user for g in install.installed_grants()] == ["alice"]


def _someone_elses_key() -> dict[str, str]:
    """The public key and fingerprint of an enrolment request made by another person."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from desktop.engine.packs import grants
    from desktop.engine.storage import sealing

    public = sealing.public_bytes(X25519PrivateKey.generate().public_key())
    return {
        "public_key": base64.b64encode(public).decode("ascii"),
        "fingerprint": grants.fingerprint(public),
    }


def test_a_drop_folder_users_can_write_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "packs"
    folder.mkdir()
    folder.chmod(0o777)
    assert "read-only for users" in provision.writable_warning(folder, euid=os.getuid() + 4242)
    folder.chmod(0o755)  # root-owned, read-only for others: what the guide asks for
    if os.getuid() == 0:
        os.chown(folder, 4242, -1)  # a folder the user owns is theirs to write
    owner = folder.stat().st_uid
    assert provision.writable_warning(folder, euid=owner + 1) == ""
    assert "can be written" in provision.writable_warning(folder, euid=owner)


def test_packs_sync_command(admin_workspace, trust_admin, memory_keyring, capsys) -> None:
    from desktop.cli import main

    folder = _drop_packs(admin_workspace, (2,))
    (folder / "handbook-v3.enclavepack").write_bytes(b"not a pack")
    assert main(["packs", "sync"]) == 8  # one file refused: PACK_REJECTED
    out = capsys.readouterr().out
    assert "installed  pack" in out and "refused    pack" in out
    assert "2 new file(s), 0 already handled" in out
    assert main(["packs", "sync"]) == 0
    assert "0 new file(s), 2 already handled" in capsys.readouterr().out


class _Window:
    """What `install_dropped` uses of `MainWindow`: its app notices."""

    def __init__(self) -> None:
        self.notices: list[tuple[str, str, str]] = []

    def notify(self, text: str, hint: str = "", *, kind: str = "warning") -> None:
        self.notices.append((kind, text, hint))


def test_the_window_says_what_the_drop_folders_brought() -> None:
    from desktop.ui import launch

    report = provision.SyncReport(
        outcomes=(
            provision.DropOutcome("/x/handbook-v2.enclavepack", "pack", "installed", "handbook v2"),
            provision.DropOutcome("/x/bad.enclavepack", "pack", "refused", "bad signature"),
        ),
        warnings=("/x can be written by this account",),
    )
    window = _Window()
    launch.install_dropped(window, report)  # type: ignore[arg-type]
    kinds = [(kind, text.split(":")[0]) for kind, text, _ in window.notices]
    assert kinds == [
        ("info", "Your administrator's pack handbook v2 was verified and installed."),
        ("warning", "A pack placed by your administrator was not installed"),
        ("warning", "/x can be written by this account"),
    ]


def test_ask_installs_what_was_dropped_before_it_answers(
    admin_workspace, trust_admin, memory_keyring, capsys
) -> None:
    from desktop.cli import main

    _drop_packs(admin_workspace, (2,))
    _drop_grant(admin_workspace, "alice", ["employee"])
    assert (
        main(["ask", "How many days of annual leave do staff get?", "--json", "--max-tokens", "8"])
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    assert _active_version() == 2
    assert {s["audience"] for s in answer["retrieved"]} <= {"everyone", "staff"}
    assert answer["retrieved"], "the dropped pack answered the first question"


def test_a_dropped_delta_updates_the_installed_version(
    admin_workspace, trust_admin, memory_keyring, tmp_path
) -> None:
    from desktop.engine.packs.delta import build_delta

    folder = _drop_packs(admin_workspace, (1,))
    packs = admin_workspace.packs_dir
    delta = build_delta(
        packs / "handbook-v1", packs / "handbook-v2", tmp_path, admin_workspace.signing_key()
    ).path
    shutil.copyfile(delta, folder / delta.name)
    report = provision.sync()
    # The full archive first, then the delta onto it: verified to the same files as v2.
    assert [(o.kind, o.outcome, o.detail) for o in report.outcomes] == [
        ("pack", "installed", "handbook v1"),
        ("delta", "installed", "handbook v2"),
    ]
    assert _active_version() == 2 and report.problems() == []
    assert provision.sync().outcomes == ()  # handled once


def test_a_tampered_or_unmatched_delta_is_refused_and_tried_again_later(
    admin_workspace, trust_admin, memory_keyring, tmp_path
) -> None:
    from desktop.engine.packs.delta import build_delta

    packs = admin_workspace.packs_dir
    delta = build_delta(
        packs / "handbook-v1", packs / "handbook-v2", tmp_path, admin_workspace.signing_key()
    ).path
    folder = provision.machine_packs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # Dropped before any v1 is installed: nothing to apply it to.
    shutil.copyfile(delta, folder / delta.name)
    first = provision.sync()
    assert [(o.kind, o.outcome) for o in first.outcomes] == [("delta", "refused")]
    assert "not installed here" in first.outcomes[0].detail
    assert install.active_folder("handbook") is None
    # The full v1 arrives: the same delta is tried again, and applies.
    _drop_packs(admin_workspace, (1,))
    second = provision.sync()
    assert [(o.kind, o.outcome) for o in second.outcomes] == [
        ("pack", "installed"),
        ("delta", "installed"),
    ]
    assert _active_version() == 2
    # A tampered delta is refused, the active version stays.
    data = bytearray(delta.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "handbook-v2-to-v3.enclavedelta").write_bytes(bytes(data))
    third = provision.sync()
    assert [(o.kind, o.outcome) for o in third.outcomes] == [("delta", "refused")]
    assert _active_version() == 2
