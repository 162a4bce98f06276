"""Fakes for widget tests: a chat backend with queued tokens and an in-memory history.

They follow `desktop.ui.backend`'s protocols; the real engine is proven by the end-to-end tests in
tests/test_gui.py.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from desktop.engine.access import CitationRef, OpenedDocument, Passage
from desktop.engine.answer.events import (
    Abstained,
    AnswerEvent,
    AnswerToken,
    Done,
    Evidence,
    Retrieved,
    SentenceChecked,
)
from desktop.engine.answer.evidence import Quote
from desktop.engine.answer.records import (
    Answer,
    AnswerForm,
    Decision,
    GuardVerdict,
    Question,
    SentenceVerdict,
)
from desktop.engine.core.errors import EngineError, InvalidInput
from desktop.engine.core.settings import AppSettings, SettingsInvalid
from desktop.engine.runtime.catalog import ModelRow
from desktop.engine.runtime.chat_model import GenerationStats
from desktop.engine.storage.conversations import Conversation, Message, current_path
from desktop.ui.backend import ModelStatus, PackSummary, Verdict, Welcome

HANDBOOK_CITATIONS = [
    Passage(
        ref=CitationRef(1, "handbook", 1, "staff", 11),
        title="Travel policy",
        heading="Booking",
        text="Staff book travel through the approved agency at least 14 days ahead.",
        location="page 3",
        as_of="2024-05-01",
    ),
    Passage(
        ref=CitationRef(2, "handbook", 1, "staff", 12),
        title="Expenses",
        heading="Receipts",
        text="Keep every receipt; claims without receipts are refused.",
        location="Expenses › Receipts",
        as_of="2024-05-01",
    ),
]
ABSTAIN_MESSAGE = "The documents you can read don't say."


class FakeTurn:
    """One answer's events, shaped like the pipeline's: Retrieved, tokens (or Abstained),
    SentenceChecked for sentences the verdict marks unsupported, then Done once recorded."""

    def __init__(
        self,
        backend: FakeBackend,
        conversation_id: int | None,
        question: str,
        tokens: list[str],
        citations: list[Passage],
        verdict: Verdict | None,
    ) -> None:
        self.backend = backend
        self.conversation_id = conversation_id
        self.question = question
        self.tokens = tokens
        self.citations = list(citations)
        self.verdict = verdict
        self.message_id: int | None = None
        self.question_id: int | None = None
        self.stats = GenerationStats()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def events(self) -> Iterator[AnswerEvent]:
        question = Question(self.question, self.conversation_id)
        yield Retrieved(self.backend.searched or self.question, tuple(self.citations))
        if self.backend.refusal is not None:  # as the input screen's block: the rule's message
            decision = Decision.refuse("fake: blocked", self.backend.refusal)
            guard = GuardVerdict("input.injection", "block", "input", "looks like an override")
            self.message_id = self._store(self.backend.refusal, [])
            if self.message_id is not None:
                self.backend.mark_refused(self.message_id)
            yield Done(
                Answer(
                    question,
                    self.backend.refusal,
                    decision,
                    guards=(guard,),
                    message_id=self.message_id,
                    question_id=self.question_id,
                )
            )
            return
        if self.verdict is not None and self.verdict.abstained:
            decision = Decision.abstain("fake: nothing relevant", ABSTAIN_MESSAGE)
            yield Abstained(decision, tuple(self.citations))
            self.message_id = self._store(ABSTAIN_MESSAGE, [])
            yield Done(
                Answer(
                    question,
                    ABSTAIN_MESSAGE,
                    decision,
                    passages=tuple(self.citations),
                    message_id=self.message_id,
                    question_id=self.question_id,
                )
            )
            return
        if self.backend.evidence:
            yield Evidence(tuple(self.backend.evidence))
        pieces: list[str] = []
        try:
            yield from self._tokens(pieces)
        finally:
            text = self.backend.final if self.backend.final is not None else "".join(pieces)
            self.message_id = self._store(text, self.citations)
        unsupported = self.verdict.unsupported_sentences if self.verdict else []
        verdicts = [
            SentenceVerdict(index, sentence, False, (), "fake check")
            for index, sentence in enumerate(unsupported)
        ]
        for verdict in verdicts:
            yield SentenceChecked(verdict)
        yield Done(
            Answer(
                question,
                text,
                Decision.answer("fake"),
                passages=tuple(self.citations),
                verdicts=tuple(verdicts),
                stats=self.stats,
                form=self.backend.form,
                rejected=self.backend.rejected,
                message_id=self.message_id,
                question_id=self.question_id,
            )
        )

    def _tokens(self, pieces: list[str]) -> Iterator[AnswerEvent]:
        stats = self.stats
        started = time.perf_counter()
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
                yield AnswerToken(text, index)
            else:
                stats.finish_reason = "stop"
        finally:
            stats.finish_reason = stats.finish_reason or "cancelled"
            stats.total_s = time.perf_counter() - started + 0.01

    def _store(self, text: str, citations: list[Passage]) -> int | None:
        if self.conversation_id is None or not text:
            return None
        return self.backend._add(
            self.conversation_id,
            "assistant",
            text,
            [p.ref.as_dict() for p in citations],
            {"finish_reason": self.stats.finish_reason},
        )


class FakeBackend:
    """Implements `ChatBackend` without a model or a database."""

    def __init__(
        self,
        tokens: list[str] | None = None,
        citations: list[Passage] | None = None,
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
        self.translator_problem: EngineError | None = None  # told once, after the next answer
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
        self.varied: list[bool] = []  # `vary` of each ask (True: a regenerate)
        self.history_seen: list[list[str]] = []
        self.refusal: str | None = None  # set: each question is refused with this message
        self.searched = ""  # set: what retrieval searched instead of the question (a translation)
        self.evidence: list[Quote] = []  # shown before the first token
        self.final: str | None = None  # the checked answer, when it differs from the stream
        self.form = AnswerForm.GENERATED
        self.rejected: tuple[SentenceVerdict, ...] = ()  # the model's sentences a quote replaced
        self.welcome_shown = Welcome(
            user="alex",
            roles=("staff",),
            packs=(
                PackSummary(
                    "Staff handbook",
                    "2024-05-01",
                    "2099-01-01T00:00:00Z",
                    "ok",
                    ("everyone", "staff"),
                    restricted=1,
                ),
            ),
            suggestions=("How do I book travel?", "What does “Expenses” say about receipts?"),
            ready=True,
        )
        self.loaded = False
        self.suggested = False

    # engine thread
    def open_stores(self) -> EngineError | None:
        return None

    def load_model(self) -> ModelStatus:
        self.release.wait(5)
        if self.load_error is not None:
            raise self.load_error
        self.loaded = True
        return ModelStatus("fake-model", "CPU", 2, 4096)

    def welcome(self) -> Welcome:
        if not self.loaded:
            return Welcome(user="alex")
        return self.welcome_shown if self.suggested else replace(self.welcome_shown, suggestions=())

    def prepare_welcome(self) -> Welcome:
        self.suggested = True
        return self.welcome()

    def ask(
        self, conversation_id: int | None, question: str, *, vary: bool = False
    ) -> Iterator[AnswerEvent]:
        if self.ask_error is not None:
            raise self.ask_error
        self.asked.append(question)
        self.varied.append(vary)
        self.history_seen.append(  # what a model would see as the conversation so far
            [
                m.text
                for m in self.messages(conversation_id)
                if not m.superseded and m.role in ("user", "assistant")
            ]
            if conversation_id is not None
            else []
        )
        question_id = None
        if conversation_id is not None:
            question_id = self._add(conversation_id, "user", question, [], {})
        self.current = FakeTurn(
            self, conversation_id, question, self.tokens, self.citations, self.verdict
        )
        self.current.question_id = question_id
        return self.current.events()

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()

    # store
    @property
    def history_enabled(self) -> bool:
        return self._history

    @property
    def history_pending(self) -> bool:
        return False

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
            parent = None
            if role == "user":  # as ConversationStore: asked after the current path's last question
                asked = [
                    m.id
                    for m in self._messages
                    if m.conversation_id == conversation_id
                    and m.role == "user"
                    and not m.superseded
                ]
                parent = max(asked, default=None)
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
                parent=parent,
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
            self._add(
                conversation_id, "assistant", answer, [p.ref.as_dict() for p in self.citations], {}
            )
        return conversation_id

    def conversations(self) -> list[Conversation]:
        with self._lock:
            return sorted(self._conversations.values(), key=lambda c: (-c.pinned, -c.updated))

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
        self._conversations[conversation_id] = dataclasses.replace(c, title=title)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        c = self._conversations[conversation_id]
        self._conversations[conversation_id] = dataclasses.replace(c, pinned=pinned)

    # versions: the same rules as ConversationStore (a question and the answers up to the next;
    # the later turns stay with the version they were asked under: `current_path`)
    def _version_ids(self, question_id: int) -> list[int]:
        question = next(m for m in self._messages if m.id == question_id)
        ids = [question_id]
        for m in self._messages:
            if m.conversation_id == question.conversation_id and m.id > question_id:
                if m.role == "user":
                    break
                ids.append(m.id)
        return ids

    def _set_superseded(self, ids: list[int], superseded: bool) -> None:
        self._messages = [
            dataclasses.replace(m, superseded=superseded) if m.id in ids else m
            for m in self._messages
        ]

    def hide_version(self, question_id: int) -> int:
        with self._lock:
            question = next(m for m in self._messages if m.id == question_id)
            ids = self._version_ids(question_id)
            if not question.superseded:
                ids += [
                    m.id
                    for m in self._messages
                    if m.conversation_id == question.conversation_id and m.id > question_id
                ]
            self._set_superseded(ids, True)
            return question.turn

    def add_version(self, question_id: int, turn: int) -> None:
        with self._lock:
            first = next(m for m in self._messages if m.id == turn)
            self._messages = [
                dataclasses.replace(m, version_of=turn, parent=first.parent)
                if m.id == question_id
                else m
                for m in self._messages
            ]
        self.select_version(question_id)

    def select_version(self, question_id: int) -> None:
        with self._lock:
            question = next(m for m in self._messages if m.id == question_id)
            rows = [
                (m.id, m.role, m.parent)
                for m in self._messages
                if m.conversation_id == question.conversation_id
            ]
            shown = set(current_path(rows, question_id))
            self._messages = [
                dataclasses.replace(m, superseded=m.id not in shown)
                if m.conversation_id == question.conversation_id
                else m
                for m in self._messages
            ]

    def mark_refused(self, message_id: int) -> None:
        """As the engine records a refusal: `metrics.decision` is "refuse"."""
        with self._lock:
            self._messages = [
                dataclasses.replace(m, metrics={**m.metrics, "decision": "refuse"})
                if m.id == message_id
                else m
                for m in self._messages
            ]

    def delete(self, conversation_id: int) -> None:
        with self._lock:
            self._conversations.pop(conversation_id, None)
            self._messages = [m for m in self._messages if m.conversation_id != conversation_id]

    def search(self, query: str) -> list[Message]:
        words = query.lower().split()
        return [
            m
            for m in self.messages_all()
            if not m.superseded and all(w in m.text.lower() for w in words)
        ]

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

    def resolve_citations(self, refs: list[CitationRef]) -> list[Passage]:
        known = {p.ref: p for p in self.citations}
        return [
            known[ref] if ref in known else Passage.unavailable(ref, "Not in the fake's pack.")
            for ref in refs
        ]

    def document_of(self, passage: Passage) -> OpenedDocument:
        text = f"Preamble.\n\n{passage.text}\n\nMore text."
        start = text.index(passage.text)
        opened = Passage(
            passage.ref,
            passage.title,
            passage.text,
            char_start=start,
            char_end=start + len(passage.text),
        )
        return OpenedDocument(opened, passage.title, text)

    def export_conversation(self, conversation_id: int, fmt: str) -> str:
        if not self._history:
            raise EngineError("History is off, so there is nothing to export.")
        current = [m.text for m in self.messages(conversation_id) if not m.superseded]
        return "# " + self._conversations[conversation_id].title + "\n\n" + "\n\n".join(current)

    @property
    def knowledge_problems(self) -> list[EngineError]:
        return []

    def new_translator_problem(self) -> EngineError | None:
        problem, self.translator_problem = self.translator_problem, None
        return problem

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
