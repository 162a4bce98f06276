"""The window with the real engine: starts before the model, streams, stops, switches conversations.

Widget tests on a fake backend live in tests/ui/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")

from ui.fakes import FakeBackend

from desktop.app import ChatSession
from desktop.engine.core.errors import ModelMissing
from desktop.ui.launch import build_window, display_available
from desktop.ui.main_window import MainWindow

PARIS = "What is the capital of France? Answer in one word."
# A work question that streams long (the input guard refuses story requests as S8 intellectual
# property under the default policy, so a story would never stream).
LONG = (
    "Explain in great detail, with many numbered sections, how a team plans a two-day offsite "
    "meeting."
)
LONG_MARK = "two-day offsite"


@pytest.fixture
def real_window(qtbot):
    session = ChatSession()
    window = build_window(session)
    qtbot.addWidget(window)
    window.show()
    window.start_loading()
    yield window, session
    window.shutdown()
    assert not window._workers
    session.close()


def test_model_error_is_shown_inline(qtbot) -> None:
    backend = FakeBackend()
    backend.load_error = ModelMissing("smollm2", Path("/nowhere/model.gguf"))
    window = MainWindow(backend)
    qtbot.addWidget(window)
    window.show()
    window.start_loading()
    qtbot.waitUntil(lambda: "not installed" in window.chat.toPlainText(), timeout=5000)
    assert "models fetch" in window.chat.toPlainText()
    assert window.status_model.text() == "Model not loaded"
    assert "could not be loaded" in window.welcome.packs.text()  # not "Opening the model…"
    window.shutdown()


def test_no_display_message(monkeypatch) -> None:
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert display_available() is False


def test_real_engine_streams_into_the_window(qtbot, real_window) -> None:
    window, _session = real_window
    assert window.isVisible()
    qtbot.waitUntil(lambda: window.model_ready, timeout=60000)
    assert "smollm2" in window.status_model.text()
    assert "History is off" in window.chat.toPlainText()  # no trusted keyring in tests
    window.input.setPlainText(PARIS)
    window.send()
    qtbot.waitUntil(lambda: not window.busy, timeout=60000)
    assert "Paris" in window.chat.toPlainText()
    assert "tokens/s" in window.status_speed.text()


def test_real_engine_stop_a_generation(qtbot, real_window) -> None:
    window, _session = real_window
    qtbot.waitUntil(lambda: window.model_ready, timeout=60000)
    window.ask(LONG)
    qtbot.waitUntil(lambda: len(window._turns[-1].answer) > 20, timeout=60000)
    window.stop()
    qtbot.waitUntil(lambda: not window.busy, timeout=30000)
    turn = window._turns[-1]
    assert turn.stopped and "Stopped before the end." in window.chat.toPlainText()
    window.ask(PARIS)  # the model is usable again right away
    qtbot.waitUntil(lambda: not window.busy, timeout=60000)
    assert "Paris" in window._turns[-1].answer


def test_real_engine_switch_conversations_while_streaming(qtbot, memory_keyring) -> None:
    session = ChatSession()
    assert session.history_enabled
    window = build_window(session)
    qtbot.addWidget(window)
    window.show()
    window.start_loading()
    qtbot.waitUntil(lambda: window.model_ready, timeout=60000)
    window.ask(PARIS)
    qtbot.waitUntil(lambda: not window.busy, timeout=60000)
    first = window._conversation_id
    assert first is not None
    window.new_chat()
    window.ask(LONG)
    second = window._conversation_id
    assert second is not None
    qtbot.waitUntil(lambda: len(window._turns[-1].answer) > 10, timeout=60000)
    window.open_conversation(first)
    assert "Paris" in window.chat.toPlainText() and LONG_MARK not in window.chat.toPlainText()
    window.stop()
    qtbot.waitUntil(lambda: not window.busy, timeout=30000)
    assert LONG_MARK not in window.chat.toPlainText()
    window.open_conversation(second)
    assert LONG_MARK in window.chat.toPlainText()
    stored = session.messages(second)
    assert [m.role for m in stored] == ["user", "assistant"]  # the stopped answer is kept
    assert stored[1].metrics["finish_reason"] == "cancelled", stored[1].text
    window.shutdown()
    session.close()


def test_window_shows_before_the_stores_open_and_loses_no_question(qtbot, memory_keyring) -> None:
    """The keyring reads (history, audit log) happen on the engine worker, after the window is
    up; a question sent before they finish waits for them and is saved like any other."""
    session = ChatSession()
    assert session.history_pending and session.store is None  # nothing read from the keyring
    window = build_window(session)
    qtbot.addWidget(window)
    window.show()
    assert "Opening your history" in window.conversations.empty.text()
    window.start_loading()
    window.ask(PARIS)  # at once: the conversation is created as soon as the stores are open
    qtbot.waitUntil(lambda: window.model_ready and not window.busy, timeout=60000)
    assert not session.history_pending
    conversation = window._conversation_id
    assert conversation is not None
    assert [m.role for m in session.messages(conversation)] == ["user", "assistant"]
    assert window.conversations.list.count() == 1
    window.shutdown()
    session.close()


def test_a_bug_in_the_window_is_reported_not_hidden(qtbot, monkeypatch, isolated_dirs) -> None:
    from desktop.ui.launch import report_bugs_in_window

    window = MainWindow(FakeBackend())
    qtbot.addWidget(window)
    monkeypatch.setattr("sys.excepthook", sys.excepthook)  # restored after the test
    report_bugs_in_window(window)
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError as exc:
        sys.excepthook(RuntimeError, exc, exc.__traceback__)
    shown = window.chat.toPlainText()
    assert "Internal error (a bug in Enclave" in shown and "RuntimeError" in shown
    [report] = (isolated_dirs / "crash-reports").glob("enclave-*.txt")
    assert "boom in a slot" in report.read_text() and str(report) in shown
    window.shutdown()
