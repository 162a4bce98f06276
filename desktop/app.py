"""Wires the engine to the Qt window. The only module that knows both sides."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

from desktop.engine.catalog import Catalog
from desktop.engine.chat import ChatService
from desktop.engine.conversations import ConversationStore
from desktop.engine.errors import EngineError
from desktop.engine.history import open_history
from desktop.engine.runtime import ModelManager, Token

NO_DISPLAY = """\
enclave: no display found (DISPLAY and WAYLAND_DISPLAY are unset), so the window cannot open.
  -> On a desktop, start Enclave from your session. On a server, use the terminal commands:
       enclave ask "your question"     enclave doctor     enclave --help
     or run the window off-screen for tests: QT_QPA_PLATFORM=offscreen enclave
"""


def display_available() -> bool:
    if sys.platform != "linux":
        return True
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class ChatSession:
    """The engine side of one window: the model, the history store and the open conversation."""

    def __init__(self) -> None:
        self.catalog = Catalog.load()
        self.manager = ModelManager()
        self.store: ConversationStore | None = None
        self.store_problem: EngineError | None = None
        try:
            self.store = open_history()
        except EngineError as exc:  # no trusted keyring: answer, but refuse to store
            self.store_problem = exc
        self.service = ChatService(self.manager, self.store)
        self.conversation_id: int | None = None

    def load(self) -> str:
        entry = self.catalog.default("chat")
        info = self.manager.load(entry)
        device = "GPU" if info.n_gpu_layers else "CPU"
        return f"{entry.id} · {device} · {info.threads.n_threads} threads"

    def answer(self, question: str) -> Iterator[Token]:
        if self.store is not None and self.conversation_id is None:
            self.conversation_id = self.store.create_conversation(question[:60]).id
        turn = self.service.ask(self.conversation_id, question)
        yield from turn

    def close(self) -> None:
        self.manager.close()
        if self.store is not None:
            self.store.close()


def build_window(session: ChatSession) -> object:
    from desktop.ui.main_window import MainWindow

    window = MainWindow(session.load, session.answer, session.manager.cancel_current)
    if session.store_problem is not None:
        window.show_notice(session.store_problem, "History is off: nothing will be saved.")
    return window


def run_gui() -> int:
    if not display_available():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Enclave")
    session = ChatSession()
    window = build_window(session)
    window.show()  # type: ignore[attr-defined]
    window.start_loading()  # type: ignore[attr-defined]
    code = app.exec()
    session.close()
    return int(code)
