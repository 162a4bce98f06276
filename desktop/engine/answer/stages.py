"""The stages of the answer pipeline: one protocol each, and the implementations in use today.

Stages run in a fixed order (see `pipeline.AnswerPipeline`): clean input -> input screen ->
retrieve -> decide -> plan prompt -> generate -> check -> output filter -> record. Each is a small
object that can be replaced and tested alone. Stages that later work fills (guardrails, the trust
checks, the audit log) start as pass-throughs whose names say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from desktop.engine.access import Passage
from desktop.engine.answer.evidence import Quote
from desktop.engine.answer.focus import PassageFocus
from desktop.engine.answer.prompt import SYSTEM_PROMPT, PromptPlan, plan_prompt, source_text
from desktop.engine.answer.records import (
    Answer,
    AnswerForm,
    CheckedAnswer,
    Decision,
    GuardVerdict,
    Question,
    ScreenVerdict,
    SentenceVerdict,
)
from desktop.engine.core.text_input import clean_message
from desktop.engine.runtime.chat_format import Message
from desktop.engine.runtime.chat_model import ChatModel, Generation
from desktop.engine.storage.conversations import ConversationStore

# -- 1. clean input ------------------------------------------------------------------------------


class InputCleaner(Protocol):
    def clean(self, text: str) -> str:
        """The question as it may be stored and sent; `InvalidInput` when it cannot be."""
        ...


class CleanInput:
    """Normalise Unicode, drop control characters, refuse empty or oversized messages."""

    def clean(self, text: str) -> str:
        return clean_message(text)


# -- 2. input screen -----------------------------------------------------------------------------


class InputScreen(Protocol):
    def screen(self, question: Question) -> ScreenVerdict: ...


class AllowAllInput:
    """Pass-through input screen: allows every question (guardrails by policy replace it)."""

    def screen(self, question: Question) -> ScreenVerdict:
        return ScreenVerdict(allowed=True, rule="none", reason="no input screen configured")


# -- 3. retrieve ---------------------------------------------------------------------------------


class PassageSearch(Protocol):
    """The choke point as retrieval sees it (`access.KnowledgeAccess`)."""

    def search(self, query: str, k: int = 5) -> list[Passage]: ...


@dataclass(frozen=True)
class Retrieval:
    query: str
    passages: tuple[Passage, ...]
    guards: tuple[GuardVerdict, ...] = ()  # passages withheld by policy (`answer.passage_guard`)


class Retriever(Protocol):
    def retrieve(self, question: Question) -> Retrieval: ...


class SearchPermittedPassages:
    """Search only what this user may read, with the question itself as the query."""

    def __init__(self, knowledge: PassageSearch | None, k: int = 4) -> None:
        self.knowledge = knowledge
        self.k = k

    def retrieve(self, question: Question) -> Retrieval:
        if self.knowledge is None or self.k <= 0:
            return Retrieval(question.text, ())
        return Retrieval(question.text, tuple(self.knowledge.search(question.text, self.k)))


# -- 4. decide -----------------------------------------------------------------------------------


class Decider(Protocol):
    def decide(self, question: Question, retrieval: Retrieval) -> Decision: ...


class AlwaysAnswer:
    """Pass-through decision: always generate, with whatever was retrieved (used when no pack is
    open: the window and `ask` then say that answers come from the model alone)."""

    def decide(self, question: Question, retrieval: Retrieval) -> Decision:
        if retrieval.passages:
            return Decision.answer(f"{len(retrieval.passages)} passages retrieved")
        return Decision.answer("no passages: answering from the model alone")


# -- 5. plan prompt ------------------------------------------------------------------------------


class PromptPlanner(Protocol):
    def plan(self, question: Question, passages: Sequence[Passage]) -> PromptPlan: ...


class GroundedPrompt:
    """The grounded prompt of `answer.prompt`, fitted to the model's context window."""

    def __init__(
        self, model: ChatModel, max_answer_tokens: int = 512, focus: PassageFocus | None = None
    ) -> None:
        self.model = model
        self.max_answer_tokens = max_answer_tokens
        self.focus = focus  # None: passages whole

    def plan(self, question: Question, passages: Sequence[Passage]) -> PromptPlan:
        focus = self.focus
        if focus is not None:
            passages = [replace(p, text=focus.text(question.search_text, p)) for p in passages]
        return plan_prompt(
            self.model.count_prompt_tokens,
            self.model.n_ctx(),
            SYSTEM_PROMPT,
            question.text,
            sources=[source_text(p) for p in passages],
            history=question.history,
            answer_tokens=self.max_answer_tokens,
        )


# -- 6. generate ---------------------------------------------------------------------------------


class AnswerGenerator(Protocol):
    def generate(self, plan: PromptPlan, *, vary: bool = False) -> Generation:
        """`vary`: a regenerated answer, which should not repeat the last one word for word."""
        ...

    def cancel(self) -> None: ...


VARY_TEMPERATURE = 0.7  # a regenerated answer: another wording, still checked sentence by sentence


class StreamFromModel:
    """Stream the planned prompt through the chat model (one generation at a time)."""

    def __init__(self, model: ChatModel, temperature: float = 0.0) -> None:
        self.model = model
        self.temperature = temperature

    def generate(self, plan: PromptPlan, *, vary: bool = False) -> Generation:
        # Greedy decoding (the default) gives the same answer twice: a regenerate samples.
        temperature = max(self.temperature, VARY_TEMPERATURE) if vary else self.temperature
        return self.model.stream_chat(
            plan.messages, max_tokens=plan.answer_tokens, temperature=temperature
        )

    def cancel(self) -> None:
        self.model.cancel_current()


# -- 7. check ------------------------------------------------------------------------------------


class SentenceCheck(Protocol):
    """One answer's check: `evidence` (quotes to show before the model's first token), fed the
    model's text as it streams (verdicts as sentences complete), then `finish` with the whole
    text: what to show instead (citations fixed, repeats dropped, or quotes)."""

    @property
    def evidence(self) -> tuple[Quote, ...]: ...

    @property
    def holds_text(self) -> bool:
        """True: the pipeline shows each sentence only after its verdict, not token by token."""
        ...

    def feed(self, text: str) -> list[SentenceVerdict]: ...

    def finish(self, text: str) -> CheckedAnswer: ...


class AnswerChecker(Protocol):
    def start(self, question: Question, passages: Sequence[Passage]) -> SentenceCheck: ...


class NoSentenceCheck:
    """Pass-through check: no sentence is verified (used when no pack is open: nothing to check
    against, and the window says answers come from the model alone)."""

    evidence: tuple[Quote, ...] = ()
    holds_text = False

    def feed(self, text: str) -> list[SentenceVerdict]:
        return []

    def finish(self, text: str) -> CheckedAnswer:
        return CheckedAnswer(text.strip(), AnswerForm.GENERATED)


class UncheckedAnswers:
    """Pass-through checker: starts a `NoSentenceCheck` for every answer."""

    def start(self, question: Question, passages: Sequence[Passage]) -> SentenceCheck:
        return NoSentenceCheck()


# -- 8. output filter ----------------------------------------------------------------------------


class FilterRun(Protocol):
    """One answer's output filter: may hold text back (e.g. to redact a whole number) and
    returns what the user may see now; `finish` releases the rest. `guards`: the rules that
    fired so far (`answer.output_guard.GuardedRun` is the policy's)."""

    def feed(self, text: str) -> str: ...

    def finish(self) -> str: ...

    @property
    def guards(self) -> tuple[GuardVerdict, ...]: ...


class OutputFilter(Protocol):
    def start(self) -> FilterRun: ...


class ShowEverything:
    """Pass-through filter run: every piece of text is shown as it comes."""

    guards: tuple[GuardVerdict, ...] = ()

    def feed(self, text: str) -> str:
        return text

    def finish(self) -> str:
        return ""


class PassThroughOutput:
    """Pass-through output filter (PII and secret redaction by policy replace it)."""

    def start(self) -> FilterRun:
        return ShowEverything()


# -- 9. record -----------------------------------------------------------------------------------


class AuditSink(Protocol):
    def record(self, answer: Answer) -> None: ...


class NoAuditLog:
    """Pass-through audit slot: nothing is recorded beyond history (the audit log fills it)."""

    def record(self, answer: Answer) -> None:
        return None


class Recorder(Protocol):
    def history(self, conversation_id: int | None) -> tuple[Message, ...]: ...

    def record_question(self, question: Question) -> int | None:
        """Store the question before anything is generated; its id, or None (history off)."""
        ...

    def record_answer(self, answer: Answer) -> int | None:
        """Store the answer (also a stopped or abstained one); its message id, or None."""
        ...


class HistoryRecorder:
    """Questions and answers into the encrypted history (when on), then to the audit slot.

    History keeps citation references only (`CitationRef`), never passage text or titles, so
    showing an old answer goes through the access choke point again.
    """

    def __init__(self, store: ConversationStore | None, audit: AuditSink | None = None) -> None:
        self.store = store
        self.audit: AuditSink = audit or NoAuditLog()

    def history(self, conversation_id: int | None) -> tuple[Message, ...]:
        if self.store is None or conversation_id is None:
            return ()
        return tuple(
            {"role": m.role, "content": m.text}
            for m in self.store.messages(conversation_id)
            if m.role in ("user", "assistant") and m.text
        )

    def record_question(self, question: Question) -> int | None:
        if self.store is None or question.conversation_id is None:
            return None
        return self.store.add_message(question.conversation_id, "user", question.text)

    def record_answer(self, answer: Answer) -> int | None:
        message_id = None
        conversation_id = answer.question.conversation_id
        if (
            self.store is not None
            and conversation_id is not None
            and (answer.text or answer.evidence)
        ):
            metrics = {
                **answer.stats.as_dict(),
                "finish_reason": answer.finish_reason,
                "decision": answer.decision.kind.value,
                "dropped_history": answer.dropped_history,
                "form": answer.form.value,  # a quoted answer is shown as quotes when reopened
            }
            if answer.evidence:  # what the user read above the answer (or all of a stopped one)
                metrics["evidence"] = list(answer.evidence)
            message_id = self.store.add_message(
                conversation_id,
                "assistant",
                answer.text,
                model_id=answer.model.id if answer.model else None,
                model_sha256=answer.model.sha256 if answer.model else None,
                pack_versions=answer.pack_versions,
                citations=[ref.as_dict() for ref in answer.citations],
                metrics=metrics,
            )
        self.audit.record(replace(answer, message_id=message_id))
        return message_id
