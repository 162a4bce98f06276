"""The window's side of the engine: `ChatSession` adapts one `Assistant` to `ui.backend.ChatBackend`.

No wiring of engine parts happens here (the assistant does that); this module only adds what a
window needs on top: a second history connection for the GUI thread, saved settings, and the
pack library. `desktop.ui.launch` builds the window around it.
"""

from __future__ import annotations

import contextlib
import getpass
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace

from desktop.engine.access import CitationRef, KnowledgeAccess, OpenedDocument, Passage
from desktop.engine.answer.events import AnswerEvent
from desktop.engine.answer.evidence import EvidenceScorer
from desktop.engine.answer.grounding import AbstainOnWeakEvidence
from desktop.engine.answer.language import detect_language
from desktop.engine.answer.records import Question
from desktop.engine.assistant import Assistant, AssistantOptions, ModelStatus
from desktop.engine.audit.notice import audit_notice
from desktop.engine.core.errors import EngineError
from desktop.engine.core.settings import AppSettings, load_settings, save_settings
from desktop.engine.packs.library import PackLibrary
from desktop.engine.runtime.catalog import ModelRow, model_rows
from desktop.engine.storage.conversations import Conversation, ConversationStore, Message


@dataclass(frozen=True)
class PackSummary:
    """One installed pack as the first-run screen shows it: what this user can read of it."""

    title: str
    as_of: str
    expires: str  # ISO date-time the pack stops being usable
    expiry: str  # "ok", "expiring", "expired" or "unknown"
    readable: tuple[str, ...]  # the audiences this user holds keys for
    restricted: int = 0  # how many of its audiences this user cannot read


@dataclass(frozen=True)
class Welcome:
    """Who the user is and what they can ask about, known once the packs are open.

    `suggestions` come from the passages the access choke point returns for this user, so a
    suggestion never names a document the user may not read. `say_restricted_exists` is the
    policy's word on whether an abstention may mention material the user cannot read.
    """

    user: str = ""
    roles: tuple[str, ...] = ()
    packs: tuple[PackSummary, ...] = ()
    suggestions: tuple[str, ...] = ()
    say_restricted_exists: bool = False
    ready: bool = False  # False until the model and packs are open
    audit: str = ""  # what the audit log keeps under the policy in force (audit.notice)


# Searched, through the access choke point, for passages to suggest first questions from.
SUGGESTION_QUERIES = ("how do I get started", "what should I do first", "how do I")
MAX_SUGGESTIONS = 4
STORES_WAIT_S = 60.0  # the longest a GUI-thread write waits for the stores to open
MAX_TRIED = 6  # candidates checked against the decider (about a second each on a laptop CPU)
_TAG = re.compile(r"<[^>]{0,40}>")
_QUESTION = re.compile(
    r"(how|what|when|where|who|why|which|can|do|does|is|are|should|will)\b", re.IGNORECASE
)


def suggestion_from(title: str, heading: str) -> str | None:
    """A question a passage can answer, from its document title and heading path."""
    title = " ".join(_TAG.sub("", title).split())
    last = " ".join(_TAG.sub("", heading.split(">")[-1]).split()) if heading else ""
    if last.endswith("?") and 12 <= len(last) <= 90 and _QUESTION.match(last):
        return last
    if not title or len(title) > 60:
        return None
    if last and last.lower() != title.lower() and len(last) <= 40 and not last.endswith("?"):
        return f"What does “{title}” say about “{last}”?"
    return f"What does “{title}” cover?"


class ChatSession:
    """The engine side of one window (implements `desktop.ui.backend.ChatBackend`).

    Two history connections, one per thread: the assistant's, on the engine thread, where the
    pipeline records each turn, and `store`, on the GUI thread (list, search, rename, feedback).

    Constructing one is quick, so the window shows at once: the stores (history, audit log),
    whose keys are keyring reads, open in `open_stores` on the engine worker, before the model
    loads. Until then `history_pending` is true and the GUI side waits for them only if it must
    write (a question sent in the first second still lands in the history).
    """

    def __init__(self, assistant: Assistant | None = None) -> None:
        self.app_settings, self.settings_note = load_settings()
        self._translator_told = False
        self.assistant = assistant or Assistant.open(
            AssistantOptions.from_settings(self.app_settings), defer_stores=True
        )
        self.store: ConversationStore | None = None
        self.store_problem: EngineError | None = None
        self._stores_opened = threading.Event()
        self.packs = PackLibrary()
        self._welcome = Welcome(audit=self._audit_notice())  # who: read with the packs
        if assistant is not None:  # its stores are open already: only the reader is left
            self.open_stores()

    # -- engine thread -----------------------------------------------------------------------
    def open_stores(self) -> EngineError | None:
        """Open history and audit log (once); returns why history is off, or None."""
        if self._stores_opened.is_set():
            return self.store_problem
        try:
            self.assistant.open_stores()
            self.store_problem = self.assistant.history_problem
            if self.assistant.history is not None:
                try:
                    self.store = self.assistant.open_history_reader()
                except EngineError as exc:
                    self.store_problem = exc
            self._welcome = replace(self._welcome, audit=self._audit_notice())
        finally:
            self._stores_opened.set()
        return self.store_problem

    def load_model(self) -> ModelStatus:
        self.open_stores()
        status = self.assistant.load()
        self._welcome = self._read_welcome()
        return status

    def prepare_welcome(self) -> Welcome:
        """The suggested questions (a few seconds of retrieval and evidence scoring): run after
        `load_model`, on the engine thread; a question asked meanwhile waits for it."""
        knowledge = self.assistant.knowledge
        if knowledge is not None and self._welcome.ready:
            self._welcome = replace(self._welcome, suggestions=tuple(self._suggestions(knowledge)))
        return self._welcome

    def _read_welcome(self) -> Welcome:
        knowledge = self.assistant.knowledge
        enrolment = None
        with contextlib.suppress(EngineError):  # not enrolled usably: "no packs yet" is shown
            enrolment = self.packs.enrolled()
        packs: list[PackSummary] = []
        if knowledge is not None:
            for pack in knowledge.packs:
                packs.append(
                    PackSummary(
                        title=pack.title,
                        as_of=pack.knowledge_as_of,
                        expires=pack.expires,
                        expiry=pack.expiry,
                        readable=pack.readable,
                        restricted=len(set(pack.audiences) - set(pack.readable)),
                    )
                )
        return Welcome(
            user=enrolment.user if enrolment else getpass.getuser(),
            roles=enrolment.roles if enrolment else (),
            packs=tuple(packs),
            say_restricted_exists=self.assistant.policy.say_restricted_exists,
            ready=True,
            audit=self._audit_notice(),
        )

    def _audit_notice(self) -> str:
        return audit_notice(self.assistant.policy, self.assistant.audit_problem)

    def ask(
        self, conversation_id: int | None, question: str, *, vary: bool = False
    ) -> Iterator[AnswerEvent]:
        return self.assistant.ask(conversation_id, question, vary=vary)

    def _suggestions(self, knowledge: KnowledgeAccess) -> list[str]:
        """Questions drawn from passages this user may read (the choke point's search), kept
        only when the answer pipeline's own retrieval and decision would answer them rather
        than abstain: a suggestion should never lead to "the documents don't say"."""
        stages = self.assistant.pipeline().stages
        decide = stages.decide
        if isinstance(decide, AbstainOnWeakEvidence):
            # The same decision with a vector cache of its own: the answers never reuse vectors
            # embedded here (packed embeddings differ in the last digits with their batch), so
            # the window's events stay exactly those of `enclave ask`.
            scorer = EvidenceScorer(decide.scorer.embedder, decide.scorer.thresholds)
            decide = AbstainOnWeakEvidence(scorer, decide.weights)
        seen: set[str] = set()
        kept: list[str] = []
        tried = 0
        titles = [p.title for p in knowledge.packs if p.readable]
        for query in (*SUGGESTION_QUERIES, *titles):
            for passage in knowledge.search(query, 8):
                suggestion = suggestion_from(passage.title, passage.heading)
                if not suggestion or passage.title in seen or tried >= MAX_TRIED:
                    continue
                seen.add(passage.title)
                tried += 1
                question = Question(suggestion)
                if detect_language(suggestion) != "en":
                    continue  # a title in another language: never load the translator at start
                retrieval = stages.retrieve.retrieve(question)
                if decide.decide(question, retrieval).generates:
                    kept.append(suggestion)
                if len(kept) >= MAX_SUGGESTIONS:
                    return kept
        return kept

    # -- GUI thread ----------------------------------------------------------------------------
    @property
    def history_enabled(self) -> bool:
        """History is on, or still opening (then it is expected on: see `history_pending`)."""
        return self.store is not None or not self._stores_opened.is_set()

    @property
    def history_pending(self) -> bool:
        return not self._stores_opened.is_set()

    def _wait_for_stores(self) -> None:
        """A write from the GUI thread before `open_stores` finished waits for it (a keyring
        read: at most a second or two), so nothing the user asks is left out of the history."""
        self._stores_opened.wait(STORES_WAIT_S)

    @property
    def knowledge_problems(self) -> list[EngineError]:
        return list(self.assistant.problems)

    def new_translator_problem(self) -> EngineError | None:
        problem = self.assistant.translator_problem
        if problem is None or self._translator_told:
            return None
        self._translator_told = True  # once a session: it would repeat on every such question
        return problem

    def cancel(self) -> None:
        self.assistant.cancel()

    def conversations(self) -> list[Conversation]:
        return self.store.conversations() if self.store else []

    def create_conversation(self, title: str) -> int | None:
        self._wait_for_stores()
        return self.store.create_conversation(title).id if self.store else None

    def messages(self, conversation_id: int) -> list[Message]:
        return self.store.messages(conversation_id, all_versions=True) if self.store else []

    def hide_version(self, question_id: int) -> int:
        return self._require_store().hide_version(question_id)

    def add_version(self, question_id: int, turn: int) -> None:
        self._require_store().add_version(question_id, turn)

    def select_version(self, question_id: int) -> None:
        self._require_store().select_version(question_id)

    def rename(self, conversation_id: int, title: str) -> None:
        self._require_store().rename(conversation_id, title)

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._require_store().set_pinned(conversation_id, pinned)

    def welcome(self) -> Welcome:
        return self._welcome

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
        self._wait_for_stores()
        if self.store is None:
            return self.assistant.require_history()  # raises why history is off
        return self.store

    def close(self) -> None:
        self.assistant.close()
        if self.store is not None:
            self.store.close()
