"""A copy of a committed release fixture as this test's data and config folders, its keys in the
test keyring. Tests never open a fixture in place (opening migrates and writes)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "upgrade"
RELEASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").is_file())


@dataclass(frozen=True)
class OlderData:
    """One release's user data, copied for this test."""

    release: str
    data: Path
    config: Path
    keys: dict[str, str]  # "service/name" -> the keyring's value
    expected: dict[str, Any]
    recovery_key: Path


def copy_release(release: str, into: Path) -> OlderData:
    source = FIXTURES / release
    shutil.copytree(source / "data", into / "data")
    shutil.copytree(source / "config", into / "config")
    shutil.copyfile(source / "recovery.key", into / "recovery.key")
    return OlderData(
        release=release,
        data=into / "data",
        config=into / "config",
        keys=dict(json.loads((source / "keyring.json").read_text())),
        expected=json.loads((source / "expected.json").read_text()),
        recovery_key=into / "recovery.key",
    )


@pytest.fixture(params=RELEASES)
def older(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> OlderData:
    """A release's data folder and config folder in place of this test's empty ones."""
    copied = copy_release(str(request.param), tmp_path / "older")
    monkeypatch.setenv("ENCLAVE_DATA_DIR", str(copied.data))
    monkeypatch.setenv("ENCLAVE_CONFIG_DIR", str(copied.config))
    return copied


@pytest.fixture
def older_keys(older: OlderData, memory_keyring: Any) -> OlderData:
    """`older`, with its keyring entries in the test's in-memory keyring."""
    for entry, value in older.keys.items():
        service, name = entry.split("/", 1)
        memory_keyring.set_password(service, name, value)
    return older


@pytest.fixture(scope="session")
def embedder(embedding_entry: Any) -> Iterator[Any]:
    from desktop.engine.runtime.embedder import Embedder

    instance = Embedder(embedding_entry)
    yield instance
    instance.close()
