"""Knowledge fixtures: one real embedder per session and a few real handbook pages."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.engine.runtime.catalog import ModelEntry
from desktop.engine.runtime.embedder import Embedder

HANDBOOK = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "18f-handbook"
PAGES = [
    "getting-started/classes.md",
    "getting-started/equipment.md",
    "about-us/code-of-conduct.md",
    "about-us/tts-history.md",
]


@pytest.fixture(scope="session")
def embedder(embedding_entry: ModelEntry) -> Iterator[Embedder]:
    real = Embedder(embedding_entry)
    yield real
    real.close()


@pytest.fixture
def handbook_pages(tmp_path: Path) -> Path:
    """A small copy of real 18F handbook pages (front matter, Liquid tags and all)."""
    if not HANDBOOK.is_dir():
        pytest.skip(f"handbook corpus not at {HANDBOOK}")
    out = tmp_path / "handbook"
    for rel in PAGES:
        src = HANDBOOK / rel
        if src.exists():
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, out / rel)
    return out
