"""Audit tests: an audit store with a key in hand, and the real signed pack of tests/packs."""

from __future__ import annotations

from pathlib import Path

import pytest
from packs.conftest import admin_workspace, embedder, request_for, trust_admin  # noqa: F401

from desktop.engine.audit.store import AuditStore

KEY = bytes(range(32))


@pytest.fixture
def store(tmp_path: Path):
    opened = AuditStore(tmp_path / "audit" / "audit.db", KEY)
    yield opened
    opened.close()


def fill(store: AuditStore, n: int) -> None:
    for i in range(n):
        store.append({"kind": "answer", "note": f"record {i + 1}"})


__all__ = ["fill", "request_for"]
