"""The window's side of the engine: `ChatSession` adapts one `Assistant` to `ui.backend.ChatBackend`.

No wiring of engine parts happens here (the assistant does that); this module only adds what a
window needs on top: a second history connection for the GUI thread, saved settings, and the
pack library. `desktop.ui.launch` builds the window around it.
"""

from __future__ import annotations

from collections.abc import Iterator

from desktop.engine.access import CitationRef, OpenedDocument, Passage
from desktop.engine.answer.events import AnswerEvent
from desktop.engine.assistant import Assistant, AssistantOptions, ModelStatus
from desktop.engine.core.errors import EngineError
from desktop.engine.core.settings import AppSettings, load_settings, save_settings
from desktop.engine.packs.library import PackLibrary
from desktop.engine.runtime.catalog import ModelRow, model_rows
from desktop.engine.storage.conversations import Conversation, ConversationStore, Message


class ChatSession:
    """The engine side of one window (implements `desktop.ui.backend.ChatBackend`).

    Two history connections, one per thread: the assistant's, on the engine thread, where the
    pipeline records each turn, and `store`, on the GUI thread (list, search, rename, feedback).
    """

    def __init__(self, assistant: Assistant | None = None) -> None:
        self.app_settings, self.settings_note = load_settings()
        self.assistant = assistant or Assistant.open(
            AssistantOptions.from_settings(self.app_settings)
        )
        self.store: ConversationStore | None = None
        self.store_problem: EngineError | None = self.assistant.history_problem
        if self.assistant.history is not None:
            try:
                self.store = self.assistant.open_history_reader()
            except EngineError as exc:
                self.store_problem = exc
        self.packs = PackLibrary()

    # -- engine thread -----------------------------------------------------------------------
    def load_model(self) -> ModelStatus:
        return self.assistant.load()

    def ask(self, conversation_id: int | None, question: str) -> Iterator[AnswerEvent]:
        return self.assistant.ask(conversation_id, question)

    # -- GUI thread ----------------------------------------------------------------------------
    @property
    def history_enabled(self) -> bool:
        return self.store is not None

    @property
    def knowledge_problems(self) -> list[EngineError]:
        return list(self.assistant.problems)

    def cancel(self) -> None:
        self.assistant.cancel()

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

    def export_conversation(self, conversation_id: int, fmt: str) -> str:
        return self.assistant.export_conversation(conversation_id, fmt, self._require_store())

    def knowledge_as_of(self) -> str | None:
        return self.assistant.knowledge_as_of()

    def readable_packs(self) -> int:
        return self.assistant.readable_packs()

    def document_of(self, passage: Passage) -> OpenedDocument:
        return self.assistant.open_document(passage.ref)

    def resolve_citations(self, refs: list[CitationRef]) -> list[Passage]:
        return self.assistant.resolve(refs)

    def models(self) -> list[ModelRow]:
        return model_rows(self.assistant.catalog)

    def settings(self) -> AppSettings:
        return self.app_settings

    def save_settings(self, settings: AppSettings) -> None:
        provisioned = [m.id for m in self.models() if m.role == "chat" and m.provisioned]
        save_settings(settings.checked(provisioned))
        self.app_settings = settings
        self.assistant.update_options(AssistantOptions.from_settings(settings))

    def _require_store(self) -> ConversationStore:
        if self.store is None:
            return self.assistant.require_history()  # raises why history is off
        return self.store

    def close(self) -> None:
        self.assistant.close()
        if self.store is not None:
            self.store.close()
