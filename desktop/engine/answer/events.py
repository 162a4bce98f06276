"""What the answer pipeline streams to its callers, in order: `Retrieved`, then either `Abstained`
or `Evidence` (quotes, before the first token) and `AnswerToken`s with `SentenceChecked` as
sentences complete, and always `Done` last (unless the caller stops reading). Each event has `as_dict()`, the JSON form `enclave ask --events` prints, so
the window, the terminal and the evaluation harness see the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from desktop.engine.access import Passage
from desktop.engine.answer.evidence import Quote
from desktop.engine.answer.records import Answer, Decision, SentenceVerdict


@dataclass(frozen=True)
class Retrieved:
    """The passages this user may read that were found for the question (best first)."""

    query: str
    passages: tuple[Passage, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "retrieved",
            "query": self.query,
            "passages": [p.as_dict() for p in self.passages],
        }


@dataclass(frozen=True)
class Abstained:
    """No answer is generated: `decision` says why; `closest` are passages worth reading anyway."""

    decision: Decision
    closest: tuple[Passage, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "abstained",
            "kind": self.decision.kind.value,
            "reason": self.decision.reason,
            "signal": self.decision.signal,
            "message": self.decision.message,
            "closest": [p.as_dict() for p in self.closest],
        }


@dataclass(frozen=True)
class Evidence:
    """The passage sentences that best answer the question, verbatim, shown before the model's
    first token (which can take seconds on a busy machine)."""

    quotes: tuple[Quote, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "evidence",
            "quotes": [{"n": q.n, "text": q.text, "example": q.example} for q in self.quotes],
        }


@dataclass(frozen=True)
class AnswerToken:
    """A piece of answer text as the user may see it (after the output filter)."""

    text: str
    index: int

    def as_dict(self) -> dict[str, Any]:
        return {"event": "token", "text": self.text, "index": self.index}


@dataclass(frozen=True)
class SentenceChecked:
    verdict: SentenceVerdict

    def as_dict(self) -> dict[str, Any]:
        return {"event": "sentence_checked", **self.verdict.as_dict()}


@dataclass(frozen=True)
class Done:
    """The turn is over and recorded: `answer.message_id` is set when history is on."""

    answer: Answer

    def as_dict(self) -> dict[str, Any]:
        answer = self.answer
        return {
            "event": "done",
            "answer": answer.text,
            "form": answer.form.value,
            "abstained": answer.decision.kind.value == "abstain",
            "decision": answer.decision.kind.value,
            "reason": answer.decision.reason,
            "signal": answer.decision.signal,
            "query": answer.query,
            "finish_reason": answer.finish_reason,
            "sources": [p.as_dict() for p in answer.passages],
            "verdicts": [v.as_dict() for v in answer.verdicts],
            "rejected": [v.as_dict() for v in answer.rejected],
            "model": {"id": answer.model.id, "sha256": answer.model.sha256}
            if answer.model
            else None,
            "question_id": answer.question_id,
            "message_id": answer.message_id,
            "metrics": {**answer.stats.as_dict(), "dropped_history": answer.dropped_history},
            "guard": [g.as_dict() for g in answer.guards],  # every guardrail rule that fired
        }


AnswerEvent = Retrieved | Abstained | Evidence | AnswerToken | SentenceChecked | Done

# Fields of `Done.as_dict()["metrics"]` that measure time, not behaviour (differ run to run).
TIMING_FIELDS = ("time_to_first_token_s", "tokens_per_second", "total_s")
