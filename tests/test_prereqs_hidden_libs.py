"""The issue's machine, for real: Debian 12 with libxcb-cursor0, libxcb-icccm4 and libxcb-keysyms1
removed (hidden by an overlay in a private mount namespace, with no network). Setup names them
before any long step, and the app says the same instead of Qt's abort (exit 134)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.engine.core import prereqs

ROOT = Path(__file__).resolve().parents[1]
LIBS = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")
LIB_DIR = Path("/usr/lib/x86_64-linux-gnu")
COMMAND = "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"
HIDE = """\
set -e
mkdir -p "$HIDE_DIR/upper" "$HIDE_DIR/work"
for f in $HIDE_LIBS; do mknod "$HIDE_DIR/upper/$f" c 0 0; done
mount -t overlay overlay -o "lowerdir=$LIB_DIR,upperdir=$HIDE_DIR/upper,workdir=$HIDE_DIR/work" "$LIB_DIR"
exec "$@"
"""

pytestmark = [
    pytest.mark.skipif(
        sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="needs Linux, root and unshare to hide system libraries in a mount namespace",
    ),
    pytest.mark.skipif(
        prereqs.this_distro().family != "apt" or not all((LIB_DIR / n).exists() for n in LIBS),
        reason="a Debian-family machine that has the three libraries (to hide them)",
    ),
]


def _hidden(tmp_path: Path, *command: str, env: dict[str, str] | None = None):
    script = tmp_path / "hide.sh"
    script.write_text(HIDE)
    # Not the suite's QT_QPA_PLATFORM=offscreen (which needs no system library): the desktop's.
    inherited = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    full_env = {
        **inherited,
        **(env or {}),
        "HIDE_DIR": str(tmp_path / "overlay"),
        "HIDE_LIBS": " ".join(LIBS),
        "LIB_DIR": str(LIB_DIR),
    }
    return subprocess.run(
        ["unshare", "-m", "-n", "bash", str(script), *command],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
        check=False,
    )


def test_setup_app_names_the_packages_before_any_long_step(tmp_path: Path) -> None:
    root = tmp_path / "clone"
    (root / "installer").mkdir(parents=True)
    (root / "desktop/engine/core").mkdir(parents=True)
    for script in ("setup.sh", "build_llama.sh"):
        shutil.copy(ROOT / "installer" / script, root / "installer" / script)
    shutil.copy(ROOT / "desktop/engine/core/prereqs.py", root / "desktop/engine/core/prereqs.py")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    env = {"ENCLAVE_VENV": str(tmp_path / "venv"), "ENCLAVE_WHEEL_CACHE": str(tmp_path / "wheels")}
    result = _hidden(tmp_path, "bash", str(root / "installer/setup.sh"), "app", env=env)
    assert result.returncode == 1, result.stderr
    assert COMMAND in result.stderr
    assert "Creating the virtual environment" not in result.stderr
    assert "Compiling" not in result.stderr
    assert not (tmp_path / "venv").exists()


def test_the_linker_check_on_the_installed_plugin_finds_them(tmp_path: Path) -> None:
    script = ROOT / "desktop/engine/core/prereqs.py"
    result = _hidden(tmp_path, sys.executable, str(script), "--window")  # PySide6 here: ldd
    assert result.returncode == 1
    assert COMMAND in result.stderr


def test_the_app_says_so_instead_of_qt_aborting(tmp_path: Path) -> None:
    env = {"DISPLAY": ":99", "QT_QPA_PLATFORM": "xcb", "ENCLAVE_DATA_DIR": str(tmp_path / "d")}
    bare = _hidden(
        tmp_path,
        sys.executable,
        "-c",
        "from PySide6.QtWidgets import QApplication; QApplication([])",
        env=env,
    )
    assert bare.returncode in (134, -6)  # what the issue saw: Qt aborts (SIGABRT)
    shutil.rmtree(tmp_path / "overlay")
    app = _hidden(tmp_path, sys.executable, "-m", "desktop", env=env)
    assert app.returncode == 11, app.stderr
    assert "Qt's platform plugin (xcb) needs system libraries" in app.stderr
    assert COMMAND in app.stderr
