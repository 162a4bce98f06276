"""The .deb wrapper around a bundle: layout, Depends from the prerequisite table, the .desktop
entry (built with the real dpkg-deb from a small stand-in bundle folder; the real bundle is
exercised by installer/smoke_test.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from desktop.engine.core import prereqs

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


def _deb(tmp_path: Path) -> Path:
    bundle = tmp_path / "enclave"
    (bundle / "_internal").mkdir(parents=True)
    (bundle / "enclave").write_text("#!/bin/sh\necho stand-in\n")
    (bundle / "enclave").chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        ["bash", str(ROOT / "installer/bundle/make_deb.sh"), str(bundle), "0.1.0", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(result.stdout.strip())


def test_the_deb_installs_the_bundle_entry_icon_and_empty_drop_folders(tmp_path: Path) -> None:
    deb = _deb(tmp_path)
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True).stdout
    for path in (
        "./opt/enclave/enclave",
        "./usr/bin/enclave -> /opt/enclave/enclave",
        "./usr/share/applications/enclave.desktop",
        "./usr/share/icons/hicolor/scalable/apps/enclave.svg",
        "./etc/xdg/enclave/trusted-keys/",
        "./usr/share/enclave/packs/",
        "./usr/share/enclave/grants/",
    ):
        assert path in listing, path
    for line in listing.splitlines():  # root-owned, nothing writable by group or others
        mode, owner = line.split()[:2]
        assert owner == "root/root", line
        assert mode.startswith("l") or (mode[5] != "w" and mode[8] != "w"), line


def test_the_deb_depends_on_what_the_window_needs(tmp_path: Path) -> None:
    deb = _deb(tmp_path)
    depends = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True, text=True, check=True
    ).stdout
    names = {d.strip() for d in depends.split(",")}
    assert names == set(prereqs.window_packages("apt"))
    assert {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"} <= names


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils")
def test_the_desktop_entry_is_valid() -> None:
    entry = ROOT / "installer/bundle/enclave.desktop"
    result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout
