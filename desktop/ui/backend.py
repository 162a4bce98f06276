"""What the window needs from the engine, as small protocols (the seam between `ui` and `engine`).

`desktop.app.ChatSession` implements `ChatBackend` with the real engine; tests use fakes. Pack
management is `PackManagerModel`, implemented by the pack engine once it lands. Everything here is
plain values (dicts, dataclasses from the engine), so widgets stay testable without a model.

Threading: `load_model` and iterating an `AnswerStream` run on the engine worker thread; every other
method is called on the GUI thread and must be quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop.engine.core.settings import AppSettings
from desktop.engine.runtime.model_manager import GenerationStats, Token
from desktop.engine.storage.conversations import Conversation, Message


@dataclass(frozen=True)
class ModelStatus:
    """What the status bar shows about the loaded model."""

    model_id: str
    device: str  # "CPU" or "GPU"
    threads: int
    n_ctx: int

    def describe(self) -> str:
        return f"{self.model_id} · {self.device} · {self.threads} threads"


@dataclass
class Verdict:
    """Room for the trust layer: an abstention, and sentences the sources do not support."""

    abstained: bool = False
    unsupported_sentences: list[str] = field(default_factory=list)


class HasStats(Protocol):
    @property
    def stats(self) -> GenerationStats: ...


class AnswerStream(Protocol):
    """One answer being produced (the engine's `Turn` fits): iterate for tokens on a worker."""

    @property
    def citations(self) -> list[dict[str, Any]]: ...

    @property
    def message_id(self) -> int | None: ...

    @property
    def generation(self) -> HasStats: ...

    def __iter__(self) -> Iterator[Token]: ...

    def cancel(self) -> None: ...


class ChatBackend(Protocol):
    @property
    def history_enabled(self) -> bool: ...

    def load_model(self) -> ModelStatus: ...

    def ask(self, conversation_id: int | None, question: str) -> AnswerStream: ...

    def cancel(self) -> None: ...

    def conversations(self) -> list[Conversation]: ...

    def create_conversation(self, title: str) -> int | None: ...

    def messages(self, conversation_id: int) -> list[Message]: ...

    def rename(self, conversation_id: int, title: str) -> None: ...

    def delete(self, conversation_id: int) -> None: ...

    def search(self, query: str) -> list[Message]: ...

    def set_feedback(self, message_id: int, vote: int, comment: str) -> None: ...

    def knowledge_as_of(self) -> str | None:
        """Oldest "as of" date among the packs the user can read; None with no packs."""
        ...

    def readable_packs(self) -> int:
        """How many open packs the user can read at least one audience of."""
        ...

    def original_of(self, citation: dict[str, Any]) -> Path | None:
        """The original document for a citation, when its pack ships it (None otherwise)."""
        ...

    def document_of(self, citation: dict[str, Any]) -> dict[str, Any] | None:
        """The re-authorised document text around a citation: the citation's fields plus
        "document" (full text) and "char_start"/"char_end"; None when packs hold no text."""
        ...

    def resolve_citations(self, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Re-authorise stored citation references (history keeps no passage text) and return
        them with their passages, or marked as no longer available to this user."""
        ...

    def models(self) -> list[dict[str, Any]]:
        """Catalog models as plain dicts: id, role, license, description, provisioned (bool)."""
        ...

    def settings(self) -> AppSettings: ...

    def save_settings(self, settings: AppSettings) -> None:
        """Validate and persist; the next model load uses them. Raises `SettingsInvalid`."""
        ...
