"""What one audit record says about one answer: who asked, with what, what was decided and why.

The record holds references and counts, never passage text: chunk ids and scores (enough to
re-open a passage through the access choke point), the decision and its evidence signal, a
summary of the sentence verdicts, every guard verdict with its rule, and the question, retrieval
query and answer only as the policy's `audit_content` allows (`content.TextKeeper`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from desktop.engine.answer.records import Answer, SentenceVerdict
from desktop.engine.audit.content import TextKeeper

KIND_ANSWER = "answer"


@dataclass(frozen=True)
class AuditContext:
    """Who is asking, as this profile knows it when the answer is recorded."""

    user: str  # the local login name
    signer: str  # key id of this profile's audit signing key (exports are signed with it)
    app_version: str
    roles: tuple[str, ...] = ()  # from this profile's grants
    audiences: dict[str, tuple[str, ...]] = field(default_factory=dict)  # pack id -> readable


def _number(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _sentences(verdicts: tuple[SentenceVerdict, ...]) -> dict[str, int]:
    return {
        "shown": len(verdicts),
        "supported": sum(1 for v in verdicts if v.supported is True),
        "unsupported": sum(1 for v in verdicts if v.supported is False),
        "unchecked": sum(1 for v in verdicts if v.supported is None),
    }


def answer_fields(answer: Answer, context: AuditContext, text: TextKeeper) -> dict[str, Any]:
    """The record of `answer` (without `seq`, `prev` and `time`, which the store adds)."""
    retrieved = answer.retrieved or answer.passages  # an abstained turn retrieved too
    fields: dict[str, Any] = {
        "kind": KIND_ANSWER,
        "user": context.user,
        "signer": context.signer,
        "roles": sorted(context.roles),
        "audiences": {pack: sorted(names) for pack, names in sorted(context.audiences.items())},
        "app_version": context.app_version,
        "model": {"id": answer.model.id, "sha256": answer.model.sha256} if answer.model else None,
        "packs": dict(sorted({p.pack: p.pack_version for p in retrieved}.items())),
        "retrieved": [{**p.ref.as_dict(), "score": _number(p.score)} for p in retrieved],
        "decision": {
            "kind": answer.decision.kind.value,
            "reason": answer.decision.reason,
            "signal": _number(answer.decision.signal),
        },
        "finish_reason": answer.finish_reason,
        "form": answer.form.value,
        "sentences": {**_sentences(answer.verdicts), "rejected": len(answer.rejected)},
        "guards": [{**g.as_dict(), "score": _number(g.score)} for g in answer.guards],
        "conversation_id": answer.question.conversation_id,
        "message_id": answer.message_id,
        "content": text.effective.value,
    }
    for name, value in (
        ("question", answer.question.text),
        ("query", answer.query),
        ("answer", answer.text),
    ):
        kept = text.keep(value) if value else None
        if kept is not None:
            fields[name] = kept
    return fields
