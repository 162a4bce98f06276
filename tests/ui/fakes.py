"""Fakes for widget tests: a chat backend with queued tokens and an in-memory history.

They follow `desktop.ui.backend`'s protocols; the real engine is proven by the end-to-end tests in
tests/test_gui.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.engine.core.errors import EngineError, InvalidInput
from desktop.engine.core.settings import AppSettings, SettingsInvalid
from desktop.engine.runtime.catalog import ModelRow
from desktop.engine.runtime.model_manager import GenerationStats, Token
from desktop.engine.storage.conversations import Conversation, Message
from desktop.ui.backend import ModelStatus, Verdict

HANDBOOK_CITATIONS = [
    {
        "n": 1,
        "title": "Travel policy",
        "pack": "handbook",
        "audience": "staff",
        "as_of": "2024-05-01",
        "heading": "Booking",
        "text": "Staff book travel through the approved agency at least 14 days ahead.",
        "location": "page 3",
        "chunk_id": 11,
    },
    {
        "n": 2,
        "title": "Expenses",
        "pack": "handbook",
        "audience": "staff",
        "as_of": "2024-05-01",
        "heading": "Receipts",
        "text": "Keep every receipt; claims without receipts are refused.",
        "location": "Expenses › Receipts",
        "chunk_id": 12,
    },
]


@dataclass
class FakeGeneration:
    stats: GenerationStats = field(default_factory=GenerationStats)


class FakeTurn:
    def __init__(
        self,
        backend: FakeBackend,
        conversation_id: int | None,
        tokens: list[str],
        citations: list[dict[str, Any]],
        verdict: Verdict | None,
    ) -> None:
        self.backend = backend
        self.conversation_id = conversation_id
        self.tokens = tokens
        self.citations = [dict(c) for c in citations]
        self.verdict = verdict
        self.message_id: int | None = None
        self.generation = FakeGeneration()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def __iter__(self) -> Iterator[Token]:
        return self._run()

    def _run(self) -> Iterator[Token]:
        stats = self.generation.stats
        started = time.perf_counter()
        pieces: list[str] = []
        try:
            for index, text in enumerate(self.tokens):
                if index and self.backend.gate is not None:
                    while not self.backend.gate.wait(0.01):
                        if self._cancel.is_set():
                            break
                if self._cancel.is_set():
                    stats.finish_reason = "cancelled"
                    break
                if stats.time_to_first_token_s is None:
                    stats.time_to_first_token_s = time.perf_counter() - started
                pieces.append(text)
                stats.completion_tokens += 1
                yield Token(text, index)
            else:
                stats.finish_reason = "stop"
        finally:
            stats.total_s = time.perf_counter() - started + 0.01
            if self.conversation_id is not None and pieces:
                self.message_id = self.backend._add(
                    self.conversation_id,
                    "assistant",
                    "".join(pieces),
                    self.citations,
                    {"finish_reason": stats.finish_reason},
                )


class FakeBackend:
    """Implements `ChatBackend` without a model or a database."""

    def __init__(
        self,
        tokens: list[str] | None = None,
        citations: list[dict[str, Any]] | None = None,
        *,
        history: bool = True,
    ) -> None:
        self.tokens = tokens if tokens is not None else ["Hello", ", ", "world", "."]
        self.citations = citations or []
        self.verdict: Verdict | None = None
        self.release = threading.Event()
        self.release.set()
        self.gate: threading.Event | None = None
        self.load_error: EngineError | None = None
        self.ask_error: EngineError | None = None
        self._history = history
        self._lock = threading.Lock()
        self._conversations: dict[int, Conversation] = {}
        self._messages: list[Message] = []
        self._next = 1
        self.feedback: dict[int, tuple[int, str]] = {}
        self.current: FakeTurn | None = None
        self._settings = AppSettings()
        self.as_of: str | None = None
        self.asked: list[str] = []

    # engine thread
    def load_model(self) -> ModelStatus:
        self.release.wait(5)
        if self.load_error is not None:
            raise self.load_error
        return ModelStatus("fake-model", "CPU", 2, 4096)

    def ask(self, conversation_id: int | None, question: str) -> FakeTurn:
        if self.ask_error is not None:
            raise self.ask_error
        self.asked.append(question)
        if conversation_id is not None:
            self._add(conversation_id, "user", question, [], {})
        self.current = FakeTurn(self, conversation_id, self.tokens, self.citations, self.verdict)
        return self.current

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()

    # store
    @property
    def history_enabled(self) -> bool:
        return self._history

    def _id(self) -> int:
        self._next += 1
        return self._next

    def _add(
        self,
        conversation_id: int,
        role: str,
        text: str,
        citations: list[dict[str, Any]],
        metrics: dict[str, Any],
    ) -> int:
        with self._lock:
            now = time.time() + self._next
            message = Message(
                self._id(),
                conversation_id,
                role,
                text,
                now,
                "fake",
                None,
                {},
                citations,
                metrics,
                None,
                None,
            )
            self._messages.append(message)
            old = self._conversations[conversation_id]
            self._conversations[conversation_id] = Conversation(old.id, old.title, old.created, now)
            return message.id

    def seed(self, title: str, pairs: list[tuple[str, str]]) -> int:
        conversation_id = self.create_conversation(title)
        assert conversation_id is not None
        for question, answer in pairs:
            self._add(conversation_id, "user", question, [], {})
            self._add(conversation_id, "assistant", answer, list(self.citations), {})
        return conversation_id

    def conversations(self) -> list[Conversation]:
        with self._lock:
            return sorted(self._conversations.values(), key=lambda c: -c.updated)

    def create_conversation(self, title: str) -> int | None:
        if not self._history:
            return None
        with self._lock:
            now = time.time() + self._next
            conversation = Conversation(self._id(), title or "New chat", now, now)
            self._conversations[conversation.id] = conversation
            return conversation.id

    def messages(self, conversation_id: int) -> list[Message]:
        with self._lock:
            return [m for m in self._messages if m.conversation_id == conversation_id]

    def rename(self, conversation_id: int, title: str) -> None:
        c = self._conversations[conversation_id]
        self._conversations[conversation_id] = Conversation(c.id, title, c.created, c.updated)

    def delete(self, conversation_id: int) -> None:
        with self._lock:
            self._conversations.pop(conversation_id, None)
            self._messages = [m for m in self._messages if m.conversation_id != conversation_id]

    def search(self, query: str) -> list[Message]:
        words = query.lower().split()
        return [m for m in self.messages_all() if all(w in m.text.lower() for w in words)]

    def messages_all(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def set_feedback(self, message_id: int, vote: int, comment: str) -> None:
        if vote not in (-1, 0, 1):
            raise InvalidInput("Feedback is -1, 0 or 1.")
        self.feedback[message_id] = (vote, comment)

    def knowledge_as_of(self) -> str | None:
        return self.as_of

    def readable_packs(self) -> int:
        return 1 if self.as_of else 0

    def original_of(self, citation: dict[str, Any]) -> Path | None:
        return None

    def resolve_citations(self, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(c) for c in citations]

    def document_of(self, citation: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def models(self) -> list[ModelRow]:
        return [
            ModelRow("fake-chat", "chat", "Apache-2.0", "Fake", True),
            ModelRow("big-chat", "chat", "Gemma", "Absent", False),
            ModelRow("fake-embed", "embedding", "Apache-2.0", "Fake embedder", True),
        ]

    def settings(self) -> AppSettings:
        return self._settings

    def save_settings(self, settings: AppSettings) -> None:
        provisioned = [m.id for m in self.models() if m.provisioned]
        problems = settings.validate(provisioned)
        if problems:
            raise SettingsInvalid(problems)
        self._settings = settings
