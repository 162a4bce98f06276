"""Wires the engine to the Qt window. The only module that knows both sides."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from desktop.engine.catalog import Catalog
from desktop.engine.chat import ChatService, Turn
from desktop.engine.conversations import Conversation, ConversationStore, Message
from desktop.engine.errors import EngineError, KeyringUnavailable
from desktop.engine.history import open_history
from desktop.engine.runtime import ModelManager, ModelSettings
from desktop.engine.settings import AppSettings, load_settings, save_settings
from desktop.ui.backend import ModelStatus

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
    """The engine side of one window (implements `desktop.ui.backend.ChatBackend`).

    Two history connections, one per thread: `store` for the GUI thread (list, search, rename,
    feedback) and `worker_store` for the engine thread, where `ChatService` writes each turn.
    """

    def __init__(self) -> None:
        self.catalog = Catalog.load()
        self.manager = ModelManager()
        self.app_settings, self.settings_note = load_settings()
        self.store: ConversationStore | None = None
        self.worker_store: ConversationStore | None = None
        self.store_problem: EngineError | None = None
        try:
            self.store = open_history()
            self.worker_store = open_history()
        except EngineError as exc:  # no trusted keyring: answer, but refuse to store
            self.store_problem = exc
        self.service = ChatService(
            self.manager, self.worker_store, temperature=self.app_settings.temperature
        )

    # -- engine thread -----------------------------------------------------------------------
    def load_model(self) -> ModelStatus:
        s = self.app_settings
        entry = self.catalog.get(s.chat_model) if s.chat_model else self.catalog.default("chat")
        info = self.manager.load(
            entry,
            ModelSettings(
                n_ctx=s.n_ctx,
                n_threads=s.n_threads or None,
                n_gpu_layers=None if s.n_gpu_layers < 0 else s.n_gpu_layers,
            ),
        )
        return ModelStatus(
            model_id=entry.id,
            device="GPU" if info.n_gpu_layers else "CPU",
            threads=info.threads.n_threads,
            n_ctx=info.n_ctx,
        )

    def ask(self, conversation_id: int | None, question: str) -> Turn:
        return self.service.ask(conversation_id, question)

    # -- GUI thread ----------------------------------------------------------------------------
    @property
    def history_enabled(self) -> bool:
        return self.store is not None

    def cancel(self) -> None:
        self.manager.cancel_current()

    def conversations(self) -> list[Conversation]:
        return self.store.conversations() if self.store else []

    def create_conversation(self, title: str) -> int | None:
        return self.store.create_conversation(title).id if self.store else None

    def messages(self, conversation_id: int) -> list[Message]:
        return self.store.messages(conversation_id) if self.store else []

    def rename(self, conversation_id: int, title: str) -> None:
        self._require_store().rename(conversation_id, title)

    def delete(self, conversation_id: int) -> None:
        self._require_store().delete(conversation_id)

    def search(self, query: str) -> list[Message]:
        return self.store.search(query) if self.store else []

    def set_feedback(self, message_id: int, vote: int, comment: str) -> None:
        self._require_store().set_feedback(message_id, vote, comment)

    def knowledge_as_of(self) -> str | None:
        return None  # document packs are not wired yet

    def original_of(self, citation: dict[str, Any]) -> Path | None:
        return None  # document packs are not wired yet

    def models(self) -> list[dict[str, Any]]:
        return [
            {
                "id": e.id,
                "role": e.role,
                "license": e.license,
                "description": e.description,
                "provisioned": e.path.exists(),
            }
            for e in self.catalog
        ]

    def settings(self) -> AppSettings:
        return self.app_settings

    def save_settings(self, settings: AppSettings) -> None:
        provisioned = [m["id"] for m in self.models() if m["role"] == "chat" and m["provisioned"]]
        save_settings(settings.checked(provisioned))
        self.app_settings = settings
        self.service.temperature = settings.temperature

    def _require_store(self) -> ConversationStore:
        if self.store is None:
            raise self.store_problem or KeyringUnavailable("History is off.")
        return self.store

    def close(self) -> None:
        self.manager.close()
        for store in (self.store, self.worker_store):
            if store is not None:
                store.close()


def build_window(session: ChatSession) -> Any:
    from desktop.ui.main_window import MainWindow

    window = MainWindow(session)
    if session.store_problem is not None:
        window.show_notice(session.store_problem, "History is off: nothing will be saved.")
    if session.settings_note:
        window.chat.add_notice(session.settings_note, kind="warning")
    return window


def run_gui() -> int:
    if not display_available():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from desktop.ui.theme import apply_theme, prepare_hidpi

    prepare_hidpi()
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Enclave")
    apply_theme(app)  # type: ignore[arg-type]
    session = ChatSession()
    window = build_window(session)
    window.show()
    window.start_loading()
    code = app.exec()
    window.shutdown()
    session.close()
    return int(code)
