"""What the window needs from the engine, as a small protocol (the seam between `ui` and `engine`).

`desktop.app.ChatSession` implements `ChatBackend` over the engine's `Assistant`; widget tests use a
fake. Everything crossing it is a typed engine record (`Passage`, `CitationRef`, answer events,
`ModelRow`...). Pack management has its own protocol in `ui.pack_backend`.

Threading: `load_model` and iterating the event stream `ask` returns run on the engine worker
thread; every other method is called on the GUI thread and must be quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from desktop.app import PackSummary, Welcome
from desktop.engine.access import CitationRef, OpenedDocument, Passage
from desktop.engine.answer.events import AnswerEvent
from desktop.engine.assistant import ModelStatus
from desktop.engine.core.errors import EngineError
from desktop.engine.core.settings import AppSettings
from desktop.engine.runtime.catalog import ModelRow
from desktop.engine.storage.conversations import Conversation, Message

__all__ = ["ChatBackend", "ModelStatus", "PackSummary", "Verdict", "Welcome"]


@dataclass
class Verdict:
    """What the window shows of the answer checks: an abstention, unsupported sentences."""

    abstained: bool = False
    unsupported_sentences: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # sentence -> why it is unsupported
    quoted: bool = False  # the model's answer was replaced by quotes from the sources
    declined: bool = False  # quoted because the model found no answer (not because it was wrong)


class ChatBackend(Protocol):
    @property
    def history_enabled(self) -> bool: ...

    @property
    def history_pending(self) -> bool:
        """The stores are still opening (`open_stores` has not finished)."""
        ...

    def open_stores(self) -> EngineError | None:
        """Open history and audit log (engine thread, before `load_model`); why history is
        off, or None."""
        ...

    @property
    def knowledge_problems(self) -> list[EngineError]:
        """Packs that could not be opened (known after `load_model`)."""
        ...

    def new_translator_problem(self) -> EngineError | None:
        """Why the translator failed, the first time it did (the chat model translated the
        question instead); None otherwise and after that."""
        ...

    def load_model(self) -> ModelStatus: ...

    def ask(
        self, conversation_id: int | None, question: str, *, vary: bool = False
    ) -> Iterator[AnswerEvent]:
        """The answer pipeline's events for one question (read on the engine thread)."""
        ...

    def cancel(self) -> None: ...

    def conversations(self) -> list[Conversation]: ...

    def create_conversation(self, title: str) -> int | None: ...

    def messages(self, conversation_id: int) -> list[Message]:
        """Every message, every version of each turn (`Message.superseded` marks the old ones)."""
        ...

    def hide_version(self, question_id: int) -> int:
        """Set a turn's current version aside before asking again; returns the turn id."""
        ...

    def add_version(self, question_id: int, turn: int) -> None:
        """The question just asked (and its answer) is the new current version of `turn`."""
        ...

    def select_version(self, question_id: int) -> None:
        """Browsing: this version becomes the turn's current one (what the model sees next)."""
        ...

    def rename(self, conversation_id: int, title: str) -> None: ...

    def set_pinned(self, conversation_id: int, pinned: bool) -> None: ...

    def delete(self, conversation_id: int) -> None: ...

    def search(self, query: str) -> list[Message]: ...

    def set_feedback(self, message_id: int, vote: int, comment: str) -> None: ...

    def export_conversation(self, conversation_id: int, fmt: str) -> str:
        """The conversation as Markdown ("md") or JSON ("json"); `EngineError` if history is off."""
        ...

    def knowledge_as_of(self) -> str | None:
        """Oldest "as of" date among the packs the user can read; None with no packs."""
        ...

    def readable_packs(self) -> int:
        """How many open packs the user can read at least one audience of."""
        ...

    def document_of(self, passage: Passage) -> OpenedDocument:
        """The re-authorised whole document a passage comes from; `AccessDenied` otherwise."""
        ...

    def resolve_citations(self, refs: list[CitationRef]) -> list[Passage]:
        """Re-authorise stored references (history keeps no passage text) and return them as
        passages, or marked as no longer available to this user."""
        ...

    def prepare_welcome(self) -> Welcome:
        """Find the suggested questions (engine thread, after `load_model`); the new welcome."""
        ...

    def welcome(self) -> Welcome:
        """What the first-run screen shows (computed on the engine thread by `load_model`)."""
        ...

    def models(self) -> list[ModelRow]: ...

    def settings(self) -> AppSettings: ...

    def save_settings(self, settings: AppSettings) -> None:
        """Validate and persist; the next model load uses them. Raises `SettingsInvalid`."""
        ...
