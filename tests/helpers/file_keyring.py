"""A keyring backend in a JSON file, so that a child process sees the parent's keys (the in-memory
test keyring lives in one process only). Tests only: it stores secrets in plain text."""

from __future__ import annotations

import json
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend

from desktop.engine.storage import secrets


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._load()
        entries[f"{service}/{username}"] = password
        self.path.write_text(json.dumps(entries))

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        entries.pop(f"{service}/{username}", None)
        self.path.write_text(json.dumps(entries))


def use_file_keyring(path: Path) -> FileKeyring:
    """Make `path` this process's trusted keyring (as if it were the OS keyring)."""
    backend = FileKeyring(path)
    keyring.set_keyring(backend)
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    secrets.TRUSTED_BACKENDS = secrets.TRUSTED_BACKENDS | {name}
    return backend
