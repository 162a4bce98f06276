"""The assistant: the one place that wires the chat model, the embedder, knowledge access, history,
policy and audit together, and answers questions through the answer pipeline.

The window (`desktop.app`), `enclave ask` and the evaluation harness all use an `Assistant`, so they
behave the same and nothing else assembles these parts. Opening is quick (settings, history);
`load()` is slow (the model, then the packs this user may read) and belongs on a worker thread.
`ask()` returns the pipeline's event stream; it must be read on one thread at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, replace

from desktop.engine.access import (
    AccessDenied,
    CitationRef,
    KnowledgeAccess,
    OpenedDocument,
    Passage,
)
from desktop.engine.answer.calibration import thresholds_for
from desktop.engine.answer.events import AnswerEvent
from desktop.engine.answer.evidence import Embeds, EvidenceScorer
from desktop.engine.answer.focus import FOCUS_CHARS, PassageFocus
from desktop.engine.answer.grounding import (
    AbstainOnWeakEvidence,
    FollowUpQuery,
    SupportedSentences,
)
from desktop.engine.answer.input_guard import PolicyInputScreen
from desktop.engine.answer.language import Translate, model_translator, with_fallback
from desktop.engine.answer.output_guard import OutputGuard
from desktop.engine.answer.passage_guard import ScreenRetrievedPassages
from desktop.engine.answer.pipeline import AnswerPipeline, Stages
from desktop.engine.answer.prompt import MIN_ANSWER_TOKENS
from desktop.engine.answer.records import ModelRef
from desktop.engine.answer.stages import (
    AuditSink,
    GroundedPrompt,
    HistoryRecorder,
    NoAuditLog,
    SearchPermittedPassages,
    StreamFromModel,
)
from desktop.engine.audit.errors import AuditUnavailable
from desktop.engine.audit.log import AuditLog, open_audit_log
from desktop.engine.core import paths
from desktop.engine.core.errors import ContextTooLong, EngineError, KeyringUnavailable
from desktop.engine.core.settings import AppSettings
from desktop.engine.guard.guard_model import GuardModelScreen
from desktop.engine.guard.pii import Finder
from desktop.engine.packs import install
from desktop.engine.packs.local_state import DB_NAME as PACK_STATE_DB
from desktop.engine.policy.errors import PolicyRejected
from desktop.engine.policy.rules import DEFAULT_POLICY, Policy
from desktop.engine.policy.signed import load_policy
from desktop.engine.runtime.catalog import Catalog
from desktop.engine.runtime.chat_model import DEFAULT_SETTINGS, ChatModel, ModelSettings
from desktop.engine.runtime.embedder import Embedder
from desktop.engine.runtime.model_manager import ModelManager
from desktop.engine.runtime.on_demand import OnDemandModel
from desktop.engine.storage.conversations import ConversationStore
from desktop.engine.storage.history import open_history


@dataclass(frozen=True)
class AssistantOptions:
    """How to answer. Zero/None model settings mean "choose for this machine"."""

    chat_model: str = ""  # catalog id; empty: the catalog's default chat model
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int | None = None
    sources_per_answer: int = 4
    max_answer_tokens: int = 512
    temperature: float = 0.0
    speculative_tokens: int = DEFAULT_SETTINGS.speculative_tokens  # 0: plain decoding (B16)
    focus_chars: int = FOCUS_CHARS  # each passage's budget in the prompt (0: whole; `focus`)

    @classmethod
    def from_settings(cls, settings: AppSettings, **overrides: object) -> AssistantOptions:
        options = cls(
            chat_model=settings.chat_model,
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads or None,
            n_gpu_layers=None if settings.n_gpu_layers < 0 else settings.n_gpu_layers,
            sources_per_answer=settings.sources_per_answer,
            temperature=settings.temperature,
        )
        return replace(options, **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ModelStatus:
    """The loaded model, as the status bar and `ask` report it."""

    model_id: str
    device: str  # "CPU" or "GPU"
    threads: int
    n_ctx: int

    def describe(self) -> str:
        return f"{self.model_id} · {self.device} · {self.threads} threads"


class Assistant:
    def __init__(
        self,
        model: ChatModel,
        *,
        catalog: Catalog | None = None,
        options: AssistantOptions = AssistantOptions(),
        history: ConversationStore | None = None,
        knowledge: KnowledgeAccess | None = None,
        embedder: Embeds | None = None,
        policy: Policy = DEFAULT_POLICY,
        audit: AuditSink | None = None,
    ) -> None:
        self.model = model
        self.catalog = catalog or Catalog.load()
        self.options = options
        self.history = history
        self.history_problem: EngineError | None = None
        self.knowledge = knowledge
        self.policy = policy
        self.audit: AuditSink = audit or NoAuditLog()
        self.audit_problem: EngineError | None = None  # why the audit log is off (None: on)
        self.policy_problem: PolicyRejected | None = None  # a refused policy file: no answers
        self.problems: list[EngineError] = []
        self.embedder: Embeds | None = embedder
        self._owned_embedder: Embedder | None = None
        self.guard_model: ChatModel | None = None  # an administrator's guard GGUF, when provisioned
        self.translator: OnDemandModel | None = None  # the catalog's translator, once needed
        self.translator_problem: EngineError | None = None  # why it last failed (None: it has not)
        self._pipeline: AnswerPipeline | None = None
        self._pending_stores = (False, False)  # (history, audit log) that `open_stores` opens

    @classmethod
    def open(
        cls,
        options: AssistantOptions,
        *,
        keep_history: bool = True,
        keep_audit: bool = True,
        defer_stores: bool = False,
    ) -> Assistant:
        """The real parts: llama.cpp, the user's encrypted history (when asked and a trusted
        keyring exists; otherwise `history_problem` says why it is off) and the audit log
        (`audit_problem` says why it is off; then `ask` refuses if the policy requires it).
        Quick: load later. With `defer_stores`, history and audit log wait for `open_stores`
        (the window calls it on its engine worker: each store's key is a keyring read)."""
        assistant = cls(ModelManager(), options=options)
        try:
            assistant.policy = load_policy()
        except PolicyRejected as exc:  # fail closed: `ask` refuses every question, saying why
            assistant.policy_problem = exc
        assistant._pending_stores = (keep_history, keep_audit)
        if not defer_stores:
            assistant.open_stores()
        return assistant

    def open_stores(self) -> None:
        """Open the history and audit log `open` was asked for, once. Each key is a keyring
        read: milliseconds on an OS keyring, an Argon2 run (~0.4 s) on the encrypted file one."""
        keep_history, keep_audit = self._pending_stores
        if not (keep_history or keep_audit):
            return
        self._pending_stores = (False, False)
        self._pipeline = None  # it records through the stores
        if keep_history:
            try:
                self.history = open_history()
            except EngineError as exc:  # no trusted keyring: answer, but refuse to store
                self.history_problem = exc
        if keep_audit:
            try:
                # The audit's redaction finds what the policy's own formats describe (its
                # national ids and phone regions), whatever the output rules shown to users.
                finder = Finder(
                    national_ids=self.policy.national_ids, phone_regions=self.policy.phone_regions
                )
                self.audit = open_audit_log(
                    self.policy, lambda: self.knowledge, redact=finder.redact
                )
            except EngineError as exc:  # see `ask`: answered only if the policy allows it
                self.audit_problem = exc

    # -- slow: on a worker ---------------------------------------------------------------------
    def load(self) -> ModelStatus:
        """Load the chat model, then open the packs this user may read (and the stores, if
        `open` deferred them and nobody opened them yet)."""
        self.open_stores()
        o = self.options
        entry = self.catalog.get(o.chat_model) if o.chat_model else self.catalog.default("chat")
        info = self.model.load(
            entry,
            ModelSettings(
                n_ctx=o.n_ctx,
                n_threads=o.n_threads,
                n_gpu_layers=o.n_gpu_layers,
                speculative_tokens=o.speculative_tokens,
            ),
        )
        self._open_knowledge()
        self._open_guards()
        self._pipeline = None
        if isinstance(screen := self.pipeline().stages.screen, PolicyInputScreen):
            screen.warm()  # not on the first question (docs/performance.md, B2)
        return ModelStatus(
            model_id=entry.id,
            device="GPU" if info.n_gpu_layers else "CPU",
            threads=info.threads.n_threads,
            n_ctx=info.n_ctx,
        )

    def open_knowledge(self) -> None:
        """Open the packs this user may read (quick enough for `history show`; `load` does it)."""
        self._open_knowledge()

    def _open_knowledge(self) -> None:
        if self.knowledge is not None or not _has_pack_data():
            return
        try:
            self._owned_embedder = Embedder(self.catalog.default("embedding"))
            self.embedder = self._owned_embedder
            self.knowledge = KnowledgeAccess(self._owned_embedder)
        except EngineError as exc:
            self.problems.append(exc)
            return
        self.problems += self.knowledge.problems

    def _open_guards(self) -> None:
        """The input screen's parts: the embedder (also with no pack open) and the guard model
        when the administrator provisioned one (catalog role "guard"; docs/guardrails.md)."""
        if self.embedder is None:
            try:
                self._owned_embedder = Embedder(self.catalog.default("embedding"))
                self.embedder = self._owned_embedder
            except EngineError as exc:  # screened by wording rules only; doctor says why
                self.problems.append(exc)
        guards = [e for e in self.catalog if e.role == "guard"]
        if guards and self.guard_model is None:
            manager = ModelManager()
            try:
                manager.load(guards[0], ModelSettings(n_ctx=4096, n_threads=self.options.n_threads))
                self.guard_model = manager
            except EngineError as exc:
                self.problems.append(exc)

    # -- answering -----------------------------------------------------------------------------
    def ask(
        self, conversation_id: int | None, question: str, *, vary: bool = False
    ) -> Generator[AnswerEvent, None, None]:
        """The event stream of one answer (see `answer.events`); nothing runs until it is read.

        `PolicyRejected` when the administrator's policy file was refused; `AuditUnavailable`
        (before any event) when the policy requires an audit log and it is off.
        """
        if self.policy_problem is not None:
            raise self.policy_problem  # never the default rules in place of a refused policy
        self.open_stores()  # never an unrecorded answer because the stores were deferred
        if self.audit_problem is not None and self.policy.audit_required:
            raise AuditUnavailable(self.audit_problem)
        self._check_fits(question)
        self.model.expect_generation()
        return self.pipeline().run(conversation_id, question, vary=vary)

    def _check_fits(self, question: str) -> None:
        """`ContextTooLong` for a message that cannot fit the model's window even alone, before
        the screen and retrieval spend their time on it (a 50,000-character paste took 39 s to
        be refused at the prompt plan)."""
        if self.model.info is None:
            return  # not loaded: the pipeline says so
        needed = self.model.count_prompt_tokens([{"role": "user", "content": question}])
        available = self.model.n_ctx()
        if needed + MIN_ANSWER_TOKENS > available:
            raise ContextTooLong(needed + MIN_ANSWER_TOKENS, available)

    def pipeline(self) -> AnswerPipeline:
        if self._pipeline is None:
            o = self.options
            stages = Stages(
                retrieve=SearchPermittedPassages(self.knowledge, o.sources_per_answer),
                plan=GroundedPrompt(self.model, o.max_answer_tokens),
                generate=StreamFromModel(self.model, o.temperature),
                record=HistoryRecorder(self.history, self.audit),
                output=OutputGuard(self.policy),
                screen=PolicyInputScreen(
                    self.policy,
                    self.embedder,
                    guard_model=GuardModelScreen(self.guard_model) if self.guard_model else None,
                ),
            )
            if self.knowledge is not None and self.embedder is not None:
                # With documents: grounded answers. Without any pack the app is a plain local
                # chat, and the window and `ask` say that answers come from the model alone.
                scorer = EvidenceScorer(self.embedder, thresholds_for(self.embedder_id()))
                stages.retrieve = FollowUpQuery(
                    self.knowledge,
                    o.sources_per_answer,
                    translate=self._translate(),
                    terms_found=getattr(self.knowledge, "terms_found", None),
                )
                # Term rarity from what this user may read (a knowledge source without term
                # statistics, such as a test's, weighs every word the same).
                weights = getattr(self.knowledge, "term_weights", None)
                stages.decide = AbstainOnWeakEvidence(
                    scorer, weights, getattr(self.knowledge, "passage_vectors", None)
                )
                if o.focus_chars > 0:
                    stages.plan = GroundedPrompt(
                        self.model, o.max_answer_tokens, PassageFocus(scorer, o.focus_chars)
                    )
                stages.check = SupportedSentences(scorer, always_quote=self.policy.always_quote)
            # A passage the active policy would quarantine never reaches the model, whatever
            # rules its pack was built with.
            stages.retrieve = ScreenRetrievedPassages(stages.retrieve, self.policy, self.embedder)
            self._pipeline = AnswerPipeline(stages, self.model_ref)
        return self._pipeline

    def _translate(self) -> Translate:
        """How a question not written in English is put into English for retrieval: by the
        catalog's translator when it is installed (loaded on the first such question, so an
        English-only user never pays for it), else, or when it fails, by the chat model."""
        by_chat = model_translator(self.model)
        entry = self.catalog.translator()
        info = self.model.info
        if entry is None or (info is not None and info.entry.id == entry.id):
            self._close_translator()  # the chat model is (now) the translator, or there is none
            return by_chat
        if self.translator is None or self.translator.entry != entry:
            self._close_translator()
            settings = ModelSettings(
                n_ctx=TRANSLATOR_CTX,
                n_threads=self.options.n_threads,
                n_gpu_layers=self.options.n_gpu_layers,
            )
            self.translator = OnDemandModel(entry, settings)
        return with_fallback(model_translator(self.translator), by_chat, self._translator_failed)

    def _translator_failed(self, problem: EngineError) -> None:
        """Kept (the latest) for `doctor`-style reporting, and logged: the question was translated
        by the chat model instead, so the answer itself is not affected beyond that."""
        if self.translator_problem is None:
            _log.warning("the translator failed; the chat model translates: %s", problem)
        self.translator_problem = problem

    def _close_translator(self) -> None:
        if self.translator is not None:
            self.translator.close()
            self.translator = None

    def embedder_id(self) -> str:
        entry = getattr(self.embedder, "entry", None)
        return str(getattr(entry, "id", "")) if entry is not None else ""

    def model_ref(self) -> ModelRef | None:
        info = self.model.info
        return ModelRef(info.entry.id, info.entry.sha256) if info else None

    def cancel(self) -> None:
        """Stop the answer being generated, or its question's translation (any thread)."""
        self.model.cancel_current()
        if self.translator is not None:
            self.translator.cancel_current()

    def update_options(self, options: AssistantOptions) -> None:
        """Use new answer settings from the next question (model settings: on the next `load`)."""
        self.options = options
        self._pipeline = None

    # -- knowledge -------------------------------------------------------------------------------
    def knowledge_as_of(self) -> str | None:
        return self.knowledge.knowledge_as_of() if self.knowledge else None

    def readable_packs(self) -> int:
        return sum(1 for p in self.knowledge.packs if p.readable) if self.knowledge else 0

    def expiry_warnings(self) -> list[str]:
        if self.knowledge is None:
            return []
        return [
            f"pack '{p.pack_id}' is {p.expiry} (expires {p.expires})"
            for p in self.knowledge.packs
            if p.expiry != "ok"
        ]

    def resolve(self, refs: list[CitationRef]) -> list[Passage]:
        """Stored references as passages, each re-authorised (or marked unavailable)."""
        if self.knowledge is None:
            return [Passage.unavailable(ref, NO_PACKS) for ref in refs]
        return self.knowledge.resolve(refs)

    def describe_citation(self, stored: object) -> str:
        """A stored citation reference as the user may see it now: title, heading and location,
        re-authorised through the choke point, or "source no longer available"."""
        ref = CitationRef.from_dict(stored if isinstance(stored, dict) else {})
        [passage] = self.resolve([ref])
        if not passage.available:
            return "source no longer available to you"
        where = " › ".join(x for x in (passage.heading, passage.location) if x)
        return (
            f"{passage.title}{f' ({where})' if where else ''}; "
            f"{passage.pack} v{passage.pack_version}, {passage.audience}"
        )

    def export_conversation(
        self, conversation_id: int, fmt: str, store: ConversationStore | None = None
    ) -> str:
        """Markdown ("md") or JSON ("json"), sources resolved; `store`: this thread's history."""
        history = store or self.require_history()
        if fmt == "json":
            return history.export_json(conversation_id, self.describe_citation)
        return history.export_markdown(conversation_id, self.describe_citation)

    def open_document(self, ref: CitationRef) -> OpenedDocument:
        if self.knowledge is None:
            raise AccessDenied()
        return self.knowledge.open_document(ref)

    # -- history ---------------------------------------------------------------------------------
    def open_history_reader(self) -> ConversationStore | None:
        """A second connection to the same history, for another thread (None when history is
        off). SQLite connections are per thread: the pipeline writes through `history`."""
        if self.history is None:
            return None
        return open_history()

    def require_history(self) -> ConversationStore:
        if self.history is None:
            raise self.history_problem or KeyringUnavailable("History is off.")
        return self.history

    def close(self) -> None:
        self.model.close()
        if self.knowledge is not None:
            self.knowledge.close()
        if self._owned_embedder is not None:
            self._owned_embedder.close()
        if self.history is not None:
            self.history.close()
        if self.guard_model is not None:
            self.guard_model.close()
        self._close_translator()
        if isinstance(self.audit, AuditLog):
            self.audit.close()


_log = logging.getLogger(__name__)
# The translator's context: its instruction and a question (a longer one falls back to the chat model).
TRANSLATOR_CTX = 1024
NO_PACKS = "No document packs are open, so this source cannot be shown."


def _has_pack_data() -> bool:
    """Packs, grants or pack state exist for this profile. A fresh profile has none: it opens no
    pack store (and needs no keyring). A lost state beside existing grants or packs is opened, so
    the choke point reports it instead of answering silently without documents."""
    if (paths.data_dir() / PACK_STATE_DB).exists():
        return True
    return any(
        folder.is_dir() and any(folder.iterdir())
        for folder in (install.packs_root(), install.grants_root())
    )
