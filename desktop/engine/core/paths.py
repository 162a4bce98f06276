"""Where Enclave keeps its files: per-user data (platformdirs) and the installation's configuration.

`ENCLAVE_DATA_DIR` and `ENCLAVE_MODELS_DIR` override the data folders, for tests and portable
installs. `ENCLAVE_CONFIG_DIR` replaces the one system configuration folder (the trust root): an
administrator's or a test's override, see `system_config_dir`. `ENCLAVE_PROFILE` selects a separate
local identity (its own history, grants, packs and keyring entries) under the same data folder, e.g.
the demo's second user; profiles are not a security boundary between people on one OS account.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

APP_NAME = "enclave"
_PROFILE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def base_data_dir() -> Path:
    override = os.environ.get("ENCLAVE_DATA_DIR")
    return (
        Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    )


def profile() -> str:
    name = os.environ.get("ENCLAVE_PROFILE", "").strip().lower()
    if name and not _PROFILE.match(name):
        raise ValueError(f"invalid profile name '{name}' (lowercase letters, digits and dashes)")
    return name


def data_dir() -> Path:
    """This profile's data: history, state, grants, installed packs."""
    name = profile()
    return base_data_dir() / "profiles" / name if name else base_data_dir()


def models_dir() -> Path:
    """Model files, shared by all profiles; `ENCLAVE_MODELS_DIR` lets tests share one copy."""
    override = os.environ.get("ENCLAVE_MODELS_DIR")
    return Path(override) if override else base_data_dir() / "models"


CONFIG_OVERRIDE_ENV = "ENCLAVE_CONFIG_DIR"


def os_config_dir() -> Path:
    """The one folder per OS where the installer or MDM puts trusted keys, policy and recovery.pub.

    Fixed paths that only an administrator can write, looked up without any environment variable a
    user could set: not `XDG_CONFIG_DIRS` (platformdirs honours it on Linux), not platformdirs'
    `WIN_PD_OVERRIDE_*` on Windows, and never the installation prefix (a venv the user owns).
    """
    if sys.platform == "win32":
        return _windows_program_data() / APP_NAME
    if sys.platform == "darwin":
        return Path("/Library/Application Support") / APP_NAME
    return Path("/etc/xdg") / APP_NAME


def _windows_program_data() -> Path:
    try:
        from platformdirs.windows import get_win_folder_via_ctypes  # the Known Folder API

        return Path(get_win_folder_via_ctypes("CSIDL_COMMON_APPDATA"))
    except (ImportError, OSError, AttributeError, ValueError):
        return Path("C:/ProgramData")


def config_override() -> Path | None:
    """`ENCLAVE_CONFIG_DIR` when set: an administrator's or a test's replacement trust root.

    It is honoured because whoever sets this process's environment already runs code as this user
    (PYTHONPATH, LD_PRELOAD do more); `enclave doctor` shows when it is in effect.
    """
    override = os.environ.get(CONFIG_OVERRIDE_ENV)
    return Path(override) if override else None


def system_config_dir() -> Path:
    """The system configuration folder: trusted admin keys, policy, the recovery public key.

    One place per OS (`os_config_dir`), or `ENCLAVE_CONFIG_DIR`; the user data folder and the
    installation prefix are never trusted.
    """
    return config_override() or os_config_dir()


def system_config_dirs() -> list[Path]:
    """The trust roots, for callers that iterate: there is exactly one (`system_config_dir`)."""
    return [system_config_dir()]


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@contextmanager
def profile_scope(name: str) -> Iterator[None]:
    """Run a block as another local profile (ENCLAVE_PROFILE), then restore the previous one."""
    previous = os.environ.get("ENCLAVE_PROFILE")
    os.environ["ENCLAVE_PROFILE"] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ENCLAVE_PROFILE", None)
        else:
            os.environ["ENCLAVE_PROFILE"] = previous
