"""The .deb's upgrade, remove and purge, run by the real dpkg into a scratch root (nothing on this
machine changes): an upgrade and `remove` keep IT's configuration and every user's data; `purge`
removes /etc/xdg/enclave and still never touches users' data. The bundle is a small stand-in folder
(the real one is exercised by installer/smoke_test.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg") is None or shutil.which("dpkg-deb") is None, reason="needs dpkg"
)


def _deb(tmp_path: Path, version: str) -> Path:
    bundle = tmp_path / f"bundle-{version}" / "enclave"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "enclave").write_text(f"#!/bin/sh\necho enclave {version}\n")
    (bundle / "enclave").chmod(0o755)
    out = tmp_path / f"out-{version}"
    out.mkdir()
    built = subprocess.run(
        ["bash", str(ROOT / "installer/bundle/make_deb.sh"), str(bundle), version, str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(built.stdout.strip())


def _dpkg(root: Path, *args: str) -> None:
    """dpkg on the scratch root: maintainer scripts run without chroot, with DPKG_ROOT set; the
    Qt libraries the package depends on are not in the scratch root's package list."""
    subprocess.run(
        [
            "dpkg",
            f"--root={root}",
            "--force-script-chrootless",
            "--force-depends",
            "--force-not-root",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"},
    )


def _scratch_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    admin = root / "var/lib/dpkg"
    for folder in ("updates", "info", "triggers"):
        (admin / folder).mkdir(parents=True)
    (admin / "status").touch()
    (admin / "available").touch()
    return root


def _it_and_user_files(root: Path) -> list[Path]:
    """What IT provisioned after the install, and one user's data folder."""
    placed = {
        "etc/xdg/enclave/trusted-keys/acme.toml": "[key]\n",
        "etc/xdg/enclave/policy.json": "{}\n",
        "etc/xdg/enclave/recovery.pub": "recovery\n",
        "usr/share/enclave/packs/handbook-v1.enclavepack": "signed pack\n",
        "usr/share/enclave/grants/uma/uma-handbook-v1.json": "grant\n",
        "home/uma/.local/share/enclave/history.db": "encrypted history\n",
        "home/uma/.local/share/enclave/packs/handbook/v1/manifest.json": "{}\n",
        "home/uma/.local/share/enclave/settings.json": "{}\n",
    }
    for name, text in placed.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return [root / name for name in placed]


def test_the_package_ships_a_postrm_that_only_purges_the_config_folder(tmp_path: Path) -> None:
    deb = _deb(tmp_path, "0.1.0")
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True).stdout
    assert "postrm" in info
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "--control", str(deb), str(control)], check=True)
    script = (control / "postrm").read_text()
    assert os.access(control / "postrm", os.X_OK)
    code = [line.strip() for line in script.splitlines() if not line.strip().startswith("#")]
    assert [line for line in code if line.startswith("rm ")] == [
        'rm -rf "${DPKG_ROOT:-}/etc/xdg/enclave"'
    ]
    assert not [line for line in code if "home" in line or ".local" in line or "~" in line]
    assert not (control / "prerm").exists() and not (control / "postinst").exists()


def test_upgrade_and_remove_keep_it_configuration_and_user_data(tmp_path: Path) -> None:
    root = _scratch_root(tmp_path)
    _dpkg(root, "-i", str(_deb(tmp_path, "0.1.0")))
    kept = _it_and_user_files(root)
    _dpkg(root, "-i", str(_deb(tmp_path, "0.2.0")))
    assert "enclave 0.2.0" in (root / "opt/enclave/enclave").read_text()
    assert all(path.is_file() for path in kept)
    _dpkg(root, "--remove", "enclave")
    assert not (root / "opt/enclave/enclave").exists()
    assert not (root / "usr/share/applications/enclave.desktop").exists()
    assert all(path.is_file() for path in kept)


def test_purge_removes_the_config_folder_and_never_user_data(tmp_path: Path) -> None:
    root = _scratch_root(tmp_path)
    _dpkg(root, "-i", str(_deb(tmp_path, "0.1.0")))
    placed = _it_and_user_files(root)
    _dpkg(root, "--purge", "enclave")
    assert not (root / "etc/xdg/enclave").exists()
    assert not (root / "opt/enclave").exists()
    kept = [path for path in placed if "home" in path.parts or "usr" in path.parts]
    assert len(kept) == 5 and all(path.is_file() for path in kept)
