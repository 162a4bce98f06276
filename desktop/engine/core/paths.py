"""Where Enclave keeps its files: per-user data (platformdirs) and the installation's configuration.

`ENCLAVE_DATA_DIR`, `ENCLAVE_MODELS_DIR` and `ENCLAVE_CONFIG_DIR` override them, for tests and
portable installs. `ENCLAVE_PROFILE` selects a separate local identity (its own history, grants,
packs and keyring entries) under the same data folder, e.g. the demo's second user.
"""

from __future__ import annotations

import os
import re
import sys
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


def system_config_dirs() -> list[Path]:
    """Folders the installer or MDM fills with trusted admin keys and policy, in priority order.

    The OS site configuration folder, then the installation's own `<prefix>/etc/enclave`. Both belong
    to whoever installed the app; the user data folder is never one of them.
    """
    override = os.environ.get("ENCLAVE_CONFIG_DIR")
    if override:
        return [Path(override)]
    site = Path(platformdirs.site_config_dir(APP_NAME, appauthor=False))
    return [site, Path(sys.prefix) / "etc" / APP_NAME]


def system_config_dir() -> Path:
    """The first configuration folder that exists (or the OS one when none does)."""
    folders = system_config_dirs()
    return next((f for f in folders if f.is_dir()), folders[0])


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
