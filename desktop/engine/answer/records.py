"""The typed records of one question's journey: the question, the decision, sentence verdicts and
the finished answer. Plain frozen values: they cross threads and layers without a schema in a
docstring."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from desktop.engine.access import CitationRef, Passage
from desktop.engine.runtime.chat_format import Message
from desktop.engine.runtime.chat_model import GenerationStats


@dataclass(frozen=True)
class Question:
    """A cleaned question and the conversation it continues (oldest message first)."""

    text: str
    conversation_id: int | None = None
    history: tuple[Message, ...] = ()
    # What retrieval searched for it (the follow-up with the question it continues, in English):
    # set by the pipeline once retrieval ran, so the prompt's passage focus and the evidence
    # quotes pick sentences by the same text. Empty before retrieval.
    searched: str = ""

    @property
    def search_text(self) -> str:
        return self.searched or self.text


class DecisionKind(StrEnum):
    ANSWER = "answer"  # generate from the passages
    ABSTAIN = "abstain"  # the documents this user may read do not say
    REFUSE = "refuse"  # policy blocks the request


@dataclass(frozen=True)
class Decision:
    """Whether to generate, and why; `message` is what the user reads when no answer is written;
    `signal` is the evidence score the decision was taken on (None: none was computed)."""

    kind: DecisionKind
    reason: str = ""
    message: str = ""
    signal: float | None = None

    @property
    def generates(self) -> bool:
        return self.kind is DecisionKind.ANSWER

    @classmethod
    def answer(cls, reason: str = "", signal: float | None = None) -> Decision:
        return cls(DecisionKind.ANSWER, reason, signal=signal)

    @classmethod
    def abstain(cls, reason: str, message: str, signal: float | None = None) -> Decision:
        return cls(DecisionKind.ABSTAIN, reason, message, signal)

    @classmethod
    def refuse(cls, reason: str, message: str) -> Decision:
        return cls(DecisionKind.REFUSE, reason, message)


@dataclass(frozen=True)
class GuardVerdict:
    """One guardrail rule that fired: which rule (`policy.rules` id), what the policy made it do
    (off/warn/block/redact), where (input, passage or output) and why, in words a user can read."""

    rule: str
    action: str
    stage: str  # "input", "passage" or "output"
    reason: str = ""
    category: str = ""  # e.g. the hazard category
    score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action,
            "stage": self.stage,
            "reason": self.reason,
            "category": self.category,
            "score": self.score,
        }


@dataclass(frozen=True)
class ScreenVerdict:
    """What the input screen decided about a question: allowed or not, the rule that decided,
    and every rule that fired (also the warnings that let it through)."""

    allowed: bool = True
    rule: str = ""
    reason: str = ""
    guards: tuple[GuardVerdict, ...] = ()


@dataclass(frozen=True)
class SentenceVerdict:
    """One sentence of an answer, checked against the passages it was written from.

    `supported` is None when no check ran; `citations` are the [n] the sentence rests on.
    """

    index: int
    text: str
    supported: bool | None
    citations: tuple[int, ...] = ()
    reason: str = ""
    source: int | None = None  # the passage [n] that supports it best
    evidence: str = ""  # that passage's closest sentence (the supporting span)

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "supported": self.supported,
            "citations": list(self.citations),
            "reason": self.reason,
            "source": self.source,
            "evidence": self.evidence,
        }


class AnswerForm(StrEnum):
    GENERATED = "generated"  # the model's words, each sentence checked
    QUOTED = "quoted"  # the passages' own sentences, verbatim, because the model's were unsupported
    NONE = "none"  # abstained or refused: no answer was written


@dataclass(frozen=True)
class CheckedAnswer:
    """What the check stage makes of a finished answer: the text to show (citations fixed,
    repeats dropped, or quotes instead), its form, and the verdicts of the shown sentences."""

    text: str
    form: AnswerForm
    verdicts: tuple[SentenceVerdict, ...] = ()  # of the sentences shown, in order
    late: tuple[SentenceVerdict, ...] = ()  # judged only at the end (the last sentence)
    rejected: tuple[SentenceVerdict, ...] = ()  # the model's sentences not shown (quoted instead)


@dataclass(frozen=True)
class ModelRef:
    """Which model wrote an answer (kept with it in history and, later, the audit log)."""

    id: str
    sha256: str


@dataclass(frozen=True)
class Answer:
    """A finished turn: what the user read, from which passages, and how it was decided."""

    question: Question
    text: str
    decision: Decision
    passages: tuple[Passage, ...] = ()  # what reached the prompt (the answer's sources)
    verdicts: tuple[SentenceVerdict, ...] = ()  # of the sentences the user reads
    rejected: tuple[SentenceVerdict, ...] = ()  # the model's sentences replaced by quotes
    stats: GenerationStats = field(default_factory=GenerationStats)
    form: AnswerForm = AnswerForm.GENERATED
    query: str = ""  # what retrieval searched for (the condensed follow-up, when there was one)
    model: ModelRef | None = None
    question_id: int | None = None
    message_id: int | None = None
    dropped_history: int = 0
    guards: tuple[GuardVerdict, ...] = ()  # every guardrail rule that fired on this turn
    retrieved: tuple[Passage, ...] = ()  # everything retrieval returned, also when abstaining
    evidence: tuple[str, ...] = ()  # the quotes shown before the model's answer (Markdown)

    @property
    def citations(self) -> tuple[CitationRef, ...]:
        return tuple(p.ref for p in self.passages)

    @property
    def pack_versions(self) -> dict[str, int]:
        return {p.pack: p.pack_version for p in self.passages}

    @property
    def finish_reason(self) -> str:
        return self.stats.finish_reason or self.decision.kind.value
