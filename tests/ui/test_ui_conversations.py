"""Conversation list: new, open, search, rename, delete, and switching while an answer streams."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from desktop.ui.main_window import MainWindow
from ui.conftest import wait_idle
from ui.fakes import FakeBackend


def titles(win: MainWindow) -> list[str]:
    lst = win.conversations.list
    return [lst.item(i).text().split("\n")[0] for i in range(lst.count())]


def test_first_question_creates_a_conversation_and_ctrl_n_starts_another(qtbot, window) -> None:
    window.ask("How do I book travel?")
    wait_idle(qtbot, window)
    assert titles(window) == ["How do I book travel?"]
    first = window._conversation_id
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window._conversation_id is None and window.chat.toPlainText() == ""
    window.ask("Second topic")
    wait_idle(qtbot, window)
    assert titles(window) == ["Second topic", "How do I book travel?"]
    window.open_conversation(first)
    assert "How do I book travel?" in window.chat.toPlainText()
    assert "Second topic" not in window.chat.toPlainText()
    assert window.sources.citations  # the last cited answer's sources come back


def test_search_rename_delete(qtbot, window, backend: FakeBackend) -> None:
    backend.seed("Travel", [("How do I book travel?", "Through the agency [1].")])
    backend.seed("Lunch", [("Where is the canteen?", "On the ground floor.")])
    window.conversations.refresh()
    assert set(titles(window)) == {"Travel", "Lunch"}

    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.conversations.search.hasFocus()
    qtbot.keyClicks(window.conversations.search, "canteen")
    qtbot.waitUntil(lambda: titles(window) == ["Lunch"], timeout=2000)
    assert "canteen" in window.conversations.list.item(0).text()
    window.conversations.search.clear()
    qtbot.waitUntil(lambda: len(titles(window)) == 2, timeout=2000)

    lst = window.conversations.list
    row = titles(window).index("Lunch")
    lst.setCurrentRow(row)
    lst.item(row).setText("Canteen")  # what in-place editing commits
    assert "Canteen" in titles(window)

    lunch = next(c.id for c in backend.conversations() if c.title == "Canteen")
    window.open_conversation(lunch)
    window.conversations.confirm_delete = lambda title: False
    lst.setCurrentRow(titles(window).index("Canteen"))
    window.conversations.delete_current()
    assert "Canteen" in titles(window)
    window.conversations.confirm_delete = lambda title: True
    window.conversations.delete_current()
    assert titles(window) == ["Travel"]
    assert window._conversation_id is None and window.chat.toPlainText() == ""


def test_switching_conversations_while_streaming(qtbot, window, backend: FakeBackend) -> None:
    other = backend.seed("Lunch", [("Where is the canteen?", "On the ground floor.")])
    backend.gate = threading.Event()
    backend.tokens = ["Alpha", " beta", " gamma"]
    window.ask("Stream please")
    streaming = window._conversation_id
    qtbot.waitUntil(lambda: "Alpha" in window.chat.toPlainText(), timeout=5000)

    window.open_conversation(other)
    assert "ground floor" in window.chat.toPlainText()
    backend.gate.set()
    wait_idle(qtbot, window)
    assert "beta" not in window.chat.toPlainText()  # nothing leaks into the other conversation

    window.open_conversation(streaming)
    text = window.chat.toPlainText()
    assert "Alpha beta gamma" in text and text.count("Stream please") == 1


def test_coming_back_while_still_streaming_shows_it_live(qtbot, window, backend) -> None:
    other = backend.seed("Lunch", [("Where is the canteen?", "On the ground floor.")])
    backend.gate = threading.Event()
    backend.tokens = ["Alpha", " beta", " gamma"]
    window.ask("Stream please")
    streaming = window._conversation_id
    qtbot.waitUntil(lambda: "Alpha" in window.chat.toPlainText(), timeout=5000)
    window.open_conversation(other)
    window.open_conversation(streaming)
    assert window.chat.toPlainText().count("Stream please") == 1
    assert "Alpha" in window.chat.toPlainText()
    backend.gate.set()
    wait_idle(qtbot, window)
    assert "Alpha beta gamma" in window.chat.toPlainText()


def test_input_is_queued_until_the_model_loads(qtbot, backend, packs) -> None:
    backend.release.clear()
    win = MainWindow(backend, packs)
    qtbot.addWidget(win)
    win.show()
    win.start_loading()
    assert win.isVisible() and not win.model_ready
    win.input.setPlainText("early question")
    win.send()
    assert "Waiting for the model" in win.chat.toPlainText()
    assert win.stop_button.isEnabled()
    backend.release.set()
    qtbot.waitUntil(lambda: "The agency books travel" in win.chat.toPlainText(), timeout=5000)
    wait_idle(qtbot, win)
    assert "fake-model" in win.status_model.text()
    win.shutdown()


def test_shortcuts_exist() -> None:
    assert QKeySequence(QKeySequence.StandardKey.New).toString() == "Ctrl+N"
    assert QKeySequence(QKeySequence.StandardKey.Find).toString() == "Ctrl+F"
