"""The answer state machine of the window: queued until the model is ready, live while streaming,
then finished; engine events turned into view updates.

One answer at a time (one model). The answer may belong to a conversation that is not on screen:
it keeps streaming into its `TurnRecord` and shows live again when the user comes back. Tokens are
coalesced and appended to the chat view every ~30 ms, never re-rendered per token.

Every engine event is re-emitted as `eventReceived` in the order the pipeline produced it, so the
window shows exactly the events `enclave ask --events` prints (a test compares them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.engine.answer.events import (
    Abstained,
    AnswerEvent,
    AnswerToken,
    Done,
    Evidence,
    Retrieved,
    SentenceChecked,
)
from desktop.engine.answer.grounding import NO_CLAIM
from desktop.engine.answer.language import TRANSLATOR_FALLBACK
from desktop.engine.answer.records import AnswerForm, DecisionKind, GuardVerdict
from desktop.engine.core.errors import Cancelled, EngineError
from desktop.ui.backend import ChatBackend, Verdict
from desktop.ui.chat_view import ChatView, TurnRecord
from desktop.ui.worker import GeneratorWorker

FLUSH_MS = 30
EVIDENCE_HEADING = "From your documents:"


@dataclass
class LiveAnswer:
    """The answer being generated, which may belong to a conversation not on screen."""

    record: TurnRecord
    conversation_id: int | None
    worker: GeneratorWorker
    visible: bool = True
    pending: list[str] = field(default_factory=list)
    final: str | None = None  # the checked answer, once Done arrives
    guards: tuple[GuardVerdict, ...] = ()  # the guardrail rules that fired, shown at the end


class AnswerController(QObject):
    """Owns the live and queued answer; the window says where they go and what is on screen."""

    eventReceived = Signal(object)  # every engine event, in order
    sourcesReady = Signal(object)  # TurnRecord whose sources should be shown now
    answerFinished = Signal(object)  # LiveAnswer, after its record is final
    statusChanged = Signal(str)  # speed / progress text for the status bar
    busyChanged = Signal()
    failed = Signal(object)  # a known EngineError of the answer (already shown inline)

    def __init__(
        self,
        backend: ChatBackend,
        chat: ChatView,
        launch: Callable[[GeneratorWorker], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        self.chat = chat
        self._launch = launch
        self.live: LiveAnswer | None = None
        self.queued: tuple[TurnRecord, int | None] | None = None
        self.model_ready = False
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self.flush)

    @property
    def busy(self) -> bool:
        return self.live is not None or self.queued is not None

    @property
    def flushing(self) -> bool:
        """The token flush timer runs (only while an answer streams)."""
        return self._flush_timer.isActive()

    # -- starting ------------------------------------------------------------------------------
    def submit(self, record: TurnRecord, conversation_id: int | None) -> None:
        """Answer `record.question` now, or as soon as the model is ready."""
        if not self.model_ready:
            self.queued = (record, conversation_id)
            self.chat.add_notice("Waiting for the model to load…", kind="info")
            self.busyChanged.emit()
            return
        self._start(record, conversation_id)

    def model_loaded(self) -> None:
        self.model_ready = True
        if self.queued is not None:
            (record, conversation_id), self.queued = self.queued, None
            self._start(record, conversation_id)

    def model_failed(self) -> None:
        self.model_ready = False
        self.queued = None
        self.busyChanged.emit()

    def _start(self, record: TurnRecord, conversation_id: int | None) -> None:
        question = record.question
        # Regenerate (the same question again): another answer, not the same one twice.
        vary = any(v is not record and v.question == question for v in record.versions)

        def produce() -> Iterator[AnswerEvent]:
            return self.backend.ask(conversation_id, question, vary=vary)

        worker = GeneratorWorker(produce)
        live = LiveAnswer(record, conversation_id, worker)
        worker.signals.yielded.connect(lambda event: self._on_event(live, event))
        worker.signals.errored.connect(lambda error: self._on_error(live, error))
        worker.signals.finished.connect(lambda: self._on_finished(live))
        self.live = live
        self.chat.begin_answer(record.key)
        self.statusChanged.emit("Answering…")
        self._flush_timer.start()
        self.busyChanged.emit()
        self._launch(worker)

    # -- engine events (GUI thread, in pipeline order) -------------------------------------------
    def _on_event(self, live: LiveAnswer, event: AnswerEvent) -> None:
        self.eventReceived.emit(event)
        record = live.record
        match event:
            case Retrieved(query=query, passages=passages):
                if query.strip() and query.strip() != record.question.strip():
                    record.searched = query.strip()
                record.cite(list(passages))
                if live.visible and passages:
                    self.sourcesReady.emit(record)
            case Abstained(decision=decision, closest=closest):
                if decision.kind is DecisionKind.ABSTAIN:
                    record.verdict = Verdict(abstained=True)
                    record.cite(list(closest))
                live.pending.append(decision.message)
            case Evidence(quotes=quotes):
                record.evidence = [q.markdown() for q in quotes]
                live.pending.append(EVIDENCE_HEADING + "\n" + "\n".join(record.evidence) + "\n\n")
            case AnswerToken(text=text):
                live.pending.append(text)
            case SentenceChecked(verdict=verdict):
                if verdict.supported is False:
                    shown = record.verdict or Verdict()
                    shown.unsupported_sentences.append(verdict.text)
                    record.verdict = shown
            case Done(answer=answer):
                record.message_id = answer.message_id
                record.refused = answer.decision.kind is DecisionKind.REFUSE
                live.guards = answer.guards
                record.question_id = answer.question_id
                if answer.decision.generates:
                    record.cite(list(answer.passages))  # only what reached the prompt
                    # The checked answer replaces what streamed: citations fixed, repeats dropped,
                    # or the passages' own sentences when the model's were not supported.
                    live.final = answer.text
                    record.quoted = answer.form is AnswerForm.QUOTED
                    unsupported = [v for v in answer.verdicts if v.supported is False]
                    if record.quoted or unsupported or record.verdict is not None:
                        record.verdict = Verdict(
                            unsupported_sentences=[v.text for v in unsupported],
                            reasons={v.text: v.reason for v in unsupported},
                            quoted=record.quoted,
                            # The model only said the documents do not say (or restated the
                            # question): quoted, not refuted.
                            declined=record.quoted
                            and bool(answer.rejected)
                            and all(v.reason in NO_CLAIM for v in answer.rejected),
                        )
                elif answer.form is AnswerForm.NONE and record.evidence:
                    # Generated, then judged no answer (the model found none in the passages):
                    # a calm abstention, not quotes followed by "the documents don't say".
                    live.final = answer.text
                    record.evidence = []
                stats = answer.stats
                record.stopped = record.stopped or stats.finish_reason == "cancelled"
                if stats.tokens_per_second:
                    self.statusChanged.emit(
                        f"{stats.tokens_per_second:.1f} tokens/s · first token in "
                        f"{stats.time_to_first_token_s or 0:.2f} s"
                    )
                else:
                    self.statusChanged.emit("")

    def flush(self) -> None:
        live = self.live
        if live is None or not live.pending:
            return
        text = "".join(live.pending)
        live.pending.clear()
        live.record.answer += text
        if live.visible:
            self.chat.append_tokens(text)

    def _on_error(self, live: LiveAnswer, error: BaseException) -> None:
        if isinstance(error, Cancelled):
            live.record.stopped = True
            return
        if not isinstance(error, EngineError):
            raise error  # a bug: the window's exception hook reports it
        live.record.error = error.message
        if live.visible:
            self.flush()
            self.chat.add_notice(error.message, error.hint)
        self.failed.emit(error)

    def _on_finished(self, live: LiveAnswer) -> None:
        self.flush()
        if live.final is not None:
            live.record.answer = live.final
        if self.live is live:
            self.live = None
            self._flush_timer.stop()
        record = live.record
        record.finished = True
        record.stopped = record.stopped or live.worker.cancelled
        record.notes = self._guard_notes(live)
        if live.visible and (record.answer or not record.error):
            self.chat.finish_answer(record)
        translator = self.backend.new_translator_problem()
        if translator is not None and live.visible:
            self.chat.add_notice(
                f"The translator could not be used: {translator.message}",
                f"{TRANSLATOR_FALLBACK} {translator.hint}".strip(),
                kind="warning",
            )
        self.answerFinished.emit(live)
        self.busyChanged.emit()

    @staticmethod
    def _guard_notes(live: LiveAnswer) -> list[tuple[str, str, str]]:
        """Every guardrail decision under its answer, naming the rule (a block says what to do)."""
        notes = []
        for guard in live.guards:
            if guard.stage == "input" and guard.action == "block":
                # The answer itself is the rule's calm message (what to do); each rule that
                # fired is named under it with what it saw.
                notes.append((f"Stopped by rule {guard.rule}", guard.reason, "warning"))
            elif guard.stage == "passage" and guard.action == "block":
                # Retrieved, then withheld: the policy would have quarantined it at pack build.
                notes.append(
                    (
                        f"Withheld by rule {guard.rule}: the policy blocks what these "
                        "sources say, and their pack was screened without it. Tell your "
                        "administrator.",
                        guard.reason,
                        "warning",
                    )
                )
            elif guard.action == "warn":
                notes.append(
                    (
                        f"Policy warning (rule {guard.rule}): shown anyway, and recorded.",
                        guard.reason,
                        "warning",
                    )
                )
            else:
                notes.append(
                    (
                        f"Policy rule {guard.rule}: {guard.action} ({guard.stage}).",
                        guard.reason,
                        "info",
                    )
                )
        return notes

    # -- stopping ------------------------------------------------------------------------------
    def stop(self) -> None:
        if self.live is not None:
            self.live.worker.cancel()
            self.backend.cancel()
        elif self.queued is not None:
            self.queued = None
            self.chat.add_notice("Not sent: stopped before the model was ready.", kind="info")
        self.busyChanged.emit()

    def show_conversation(self, conversation_id: int | None) -> LiveAnswer | None:
        """The user now looks at `conversation_id` (None: a new chat); the live answer, if it
        belongs there, shows live again (returned so the window can place it)."""
        live = self.live
        if live is None:
            return None
        live.visible = conversation_id is not None and live.conversation_id == conversation_id
        return live if live.visible else None

    def shutdown(self) -> None:
        self.queued = None
        self.stop()
        self._flush_timer.stop()
