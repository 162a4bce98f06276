"""Attack: kill `enclave packs install` (SIGKILL, in a real child process) at every step of a
re-install of the active version. The pack must still open afterwards, and the next install or
start must clean what the killed one left behind (`.staging-*`, half-made generations)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.file_keyring import use_file_keyring

from desktop.cli import main
from desktop.engine.access import KnowledgeAccess
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs import install
from desktop.engine.storage import secrets

from .conftest import CANARIES, request_for

ROOT = Path(__file__).resolve().parents[2]
CHILD = ROOT / "tests" / "helpers" / "kill_during_install.py"
STEPS = 8  # before/after: the rename into place, the activation, two folder deletions
STAGING = ".staging-"  # install.STAGING_PREFIX


@pytest.fixture
def file_keyring(tmp_path, monkeypatch):
    """A keyring the child process shares: a JSON file (tests only)."""
    import keyring

    previous = keyring.get_keyring()
    monkeypatch.setattr(secrets, "TRUSTED_BACKENDS", secrets.TRUSTED_BACKENDS)
    path = tmp_path / "keyring.json"
    yield use_file_keyring(path)
    keyring.set_keyring(previous)


def _install_killed(archive: Path, kill_at: int, keyring_file: Path, log: Path) -> int:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "KEYRING_FILE": str(keyring_file),
        "KILL_AT": str(kill_at),
        "STEP_LOG": str(log),
    }
    child = subprocess.run(
        [sys.executable, str(CHILD), str(archive)], env=env, capture_output=True, text=True
    )
    assert child.returncode in (0, -signal.SIGKILL), child.stderr
    return child.returncode


def _leftovers() -> list[str]:
    root = install.packs_root()
    staging = [p.name for p in root.glob(f"{STAGING}*")]
    generations = [p.name for p in (root / "handbook").iterdir()]
    return staging + (generations if len(generations) != 1 else [])


def _assert_pack_opens(embedder, capsys) -> None:
    capsys.readouterr()
    assert main(["packs", "list"]) == ExitCode.OK
    assert "handbook" in capsys.readouterr().out
    access = KnowledgeAccess(embedder)
    try:
        assert access.readable_audiences == {"handbook": ("everyone", "staff")}
        assert CANARIES["staff"] in "\n".join(p.text for p in access.search("code word", k=10))
    finally:
        access.close()


@pytest.mark.parametrize("kill_at", range(STEPS + 1))
def test_reinstall_killed_at_any_step_leaves_the_pack_usable(
    kill_at, admin_workspace, trust_admin, file_keyring, embedder, tmp_path, capsys
):
    admin_workspace.enrol(request_for("alice"), ["employee"])
    assert main(["grants", "import", str(admin_workspace.grant("alice", "handbook"))]) == 0
    archive = admin_workspace.packs_dir / "handbook-v2.enclavepack"
    assert main(["packs", "install", str(archive)]) == ExitCode.OK

    log = tmp_path / "steps.log"
    rc = _install_killed(archive, kill_at, file_keyring.path, log)
    if kill_at < STEPS:
        assert rc == -signal.SIGKILL, log.read_text()
    _assert_pack_opens(embedder, capsys)

    assert main(["packs", "install", str(archive)]) == ExitCode.OK
    assert _leftovers() == []
    _assert_pack_opens(embedder, capsys)


def test_staging_left_by_a_killed_first_install_is_cleaned_on_the_next_start(
    admin_workspace, trust_admin, file_keyring, tmp_path, capsys
):
    """Killed just before the verified copy is renamed into place: nothing is installed, and the
    next start (`enclave packs list`) removes the staging folder."""
    archive = admin_workspace.packs_dir / "handbook-v2.enclavepack"
    log = tmp_path / "steps.log"
    assert _install_killed(archive, 0, file_keyring.path, log) == -signal.SIGKILL
    assert "before replace" in log.read_text()
    assert list(install.packs_root().glob(f"{STAGING}*"))
    assert main(["packs", "list"]) == ExitCode.OK
    assert list(install.packs_root().glob(f"{STAGING}*")) == []
