"""The window starts off-screen, appears before the model loads, and streams answers."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from desktop.app import ChatSession, build_window, display_available
from desktop.engine.errors import ModelMissing
from desktop.engine.runtime import Token
from desktop.ui.main_window import MainWindow


class FakeEngine:
    """Queued tokens instead of a model: for fast widget tests beside the real end-to-end one."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.release = threading.Event()
        self.release.set()
        self.cancelled = False

    def load(self) -> str:
        self.release.wait(5)
        return "fake-model · CPU"

    def answer(self, question: str) -> Iterator[Token]:
        for index, text in enumerate(self.tokens):
            if self.cancelled:
                return
            yield Token(text, index)

    def cancel(self) -> None:
        self.cancelled = True


@pytest.fixture
def fake_window(qtbot):
    engine = FakeEngine(["Hello", ", ", "world", "."])
    window = MainWindow(engine.load, engine.answer, engine.cancel)
    qtbot.addWidget(window)
    yield window, engine
    window.shutdown()


def test_window_shows_before_model_loads_and_queues_input(qtbot, fake_window) -> None:
    window, engine = fake_window
    engine.release.clear()
    window.show()
    window.start_loading()
    assert window.isVisible() and not window.model_ready
    window.input.setPlainText("first question")
    window.send()
    assert "Waiting for the model" in window.chat.toPlainText()
    engine.release.set()
    qtbot.waitUntil(lambda: "Hello, world." in window.chat.toPlainText(), timeout=5000)
    assert "fake-model" in window.status_model.text()


def test_model_error_is_shown_inline(qtbot) -> None:
    from pathlib import Path

    def broken() -> str:
        raise ModelMissing("smollm2", Path("/nowhere/model.gguf"))

    window = MainWindow(broken, lambda q: iter(()), lambda: None)
    qtbot.addWidget(window)
    window.show()
    window.start_loading()
    qtbot.waitUntil(lambda: "not installed" in window.chat.toPlainText(), timeout=5000)
    assert "models fetch" in window.chat.toPlainText()
    window.shutdown()


def test_no_display_message(monkeypatch) -> None:
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert display_available() is False


def test_real_engine_streams_into_the_window(qtbot) -> None:
    session = ChatSession()
    window = build_window(session)
    qtbot.addWidget(window)
    window.show()
    window.start_loading()
    qtbot.waitUntil(lambda: window.model_ready, timeout=60000)
    assert "smollm2" in window.status_model.text()
    window.input.setPlainText("What is the capital of France? Answer in one word.")
    window.send()
    qtbot.waitUntil(
        lambda: window._answer_worker is None and "Paris" in window.chat.toPlainText(),
        timeout=60000,
    )
    window.shutdown()
    session.close()
