"""Where Enclave keeps its files: per-user data (platformdirs) and the system configuration folder.

`ENCLAVE_DATA_DIR` and `ENCLAVE_CONFIG_DIR` override both, for tests and portable installs.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "enclave"


def data_dir() -> Path:
    override = os.environ.get("ENCLAVE_DATA_DIR")
    path = (
        Path(override) if override else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    )
    return path


def models_dir() -> Path:
    """Model files; `ENCLAVE_MODELS_DIR` lets tests share one provisioned copy."""
    override = os.environ.get("ENCLAVE_MODELS_DIR")
    return Path(override) if override else data_dir() / "models"


def system_config_dir() -> Path:
    """Folder the installer or MDM fills with trusted admin keys and policy (read-only to the app)."""
    override = os.environ.get("ENCLAVE_CONFIG_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.site_config_dir(APP_NAME, appauthor=False))


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
