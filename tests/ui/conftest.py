"""Widget-test fixtures: a window on a fake backend, always shut down (no thread or timer left)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from desktop.ui.main_window import MainWindow
from ui.fake_packs import FakePacks
from ui.fakes import HANDBOOK_CITATIONS, FakeBackend


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(["The agency books travel", " 14 days ahead [1]", "."], HANDBOOK_CITATIONS)


@pytest.fixture
def packs() -> FakePacks:
    return FakePacks()


@pytest.fixture
def window(qtbot, backend: FakeBackend, packs: FakePacks) -> Iterator[MainWindow]:
    win = MainWindow(backend, packs)
    qtbot.addWidget(win)
    win.show()
    win.start_loading()
    qtbot.waitUntil(lambda: win.model_ready, timeout=5000)
    yield win
    win.shutdown()
    assert not win._workers, "a worker outlived the window"
    assert not win.answers.flushing


def wait_idle(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=5000)
