"""Wires the engine to the Qt window. The only module that knows both sides."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

from desktop.cli import DEFAULT_SYSTEM_PROMPT
from desktop.engine.catalog import Catalog
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
    """The engine side of one window: a model manager and the running conversation."""

    def __init__(self) -> None:
        self.catalog = Catalog.load()
        self.manager = ModelManager()
        self.history: list[dict[str, str]] = []

    def load(self) -> str:
        entry = self.catalog.default("chat")
        info = self.manager.load(entry)
        device = "GPU" if info.n_gpu_layers else "CPU"
        return f"{entry.id} · {device} · {info.threads.n_threads} threads"

    def answer(self, question: str) -> Iterator[Token]:
        messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, *self.history]
        messages.append({"role": "user", "content": question})
        generation = self.manager.stream_chat(messages)
        pieces: list[str] = []
        for token in generation:
            pieces.append(token.text)
            yield token
        self.history += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "".join(pieces)},
        ]


def build_window(session: ChatSession) -> object:
    from desktop.ui.main_window import MainWindow

    return MainWindow(session.load, session.answer, session.manager.cancel_current)


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
    session.manager.close()
    return int(code)
