"""The administrator's summary of verified audit exports (`enclave admin audit-report`).

Counts only what the records hold: questions per pack and audience (of the passages retrieved for
them), the abstention and refusal rates, guard decisions by rule and action, the share of shown
sentences the check found unsupported, and the questions most often left unanswered (as text
where the policy kept text, else as their keyed hashes, which count equal questions of one
profile). Several exports of one user, given oldest first, must agree where they meet: a record
that differs between two of them, or a link that does not join, is refused; a period between them
that no export covers is reported as a gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.engine.audit.content import HASH_PREFIX, normalised
from desktop.engine.audit.errors import ExportRejected
from desktop.engine.audit.export import VerifiedExport, read_export
from desktop.engine.audit.records import KIND_ANSWER

TOP_UNANSWERED = 10
NO_PASSAGES = "(no passages)"


@dataclass
class AuditSummary:
    exports: list[VerifiedExport] = field(default_factory=list)
    questions: int = 0
    by_decision: Counter[str] = field(default_factory=Counter)
    by_user: Counter[str] = field(default_factory=Counter)
    by_pack_audience: Counter[tuple[str, str]] = field(default_factory=Counter)
    guards: Counter[tuple[str, str]] = field(default_factory=Counter)
    sentences_shown: int = 0
    sentences_unsupported: int = 0
    unanswered: Counter[str] = field(default_factory=Counter)
    content_modes: Counter[str] = field(default_factory=Counter)
    gaps: list[str] = field(default_factory=list)

    def rate(self, kind: str) -> float:
        return self.by_decision[kind] / self.questions if self.questions else 0.0

    @property
    def unsupported_rate(self) -> float:
        return self.sentences_unsupported / self.sentences_shown if self.sentences_shown else 0.0

    def add(self, record: Mapping[str, Any], user: str) -> None:
        if record.get("kind") != KIND_ANSWER:
            return
        self.questions += 1
        self.by_user[user] += 1
        decision = record.get("decision") or {}
        kind = str(decision.get("kind", "?"))
        self.by_decision[kind] += 1
        self.content_modes[str(record.get("content", "?"))] += 1
        pairs = {(str(p.get("pack")), str(p.get("audience"))) for p in record.get("retrieved", [])}
        for pair in pairs or {(NO_PASSAGES, "")}:
            self.by_pack_audience[pair] += 1
        for guard in record.get("guards", []):
            self.guards[(str(guard.get("rule")), str(guard.get("action")))] += 1
        sentences = record.get("sentences") or {}
        self.sentences_shown += int(sentences.get("shown", 0))
        self.sentences_unsupported += int(sentences.get("unsupported", 0))
        if kind == "abstain":
            self.unanswered[_topic(record)] += 1

    def lines(self) -> list[str]:
        """The summary as a terminal shows it."""
        users = ", ".join(f"{u} ({n})" for u, n in sorted(self.by_user.items()))
        out = [
            f"verified {len(self.exports)} export(s): chain, signature and enrolment OK",
            *(f"warning: {gap}" for gap in self.gaps),
            f"questions: {self.questions}  by user: {users or 'none'}",
            f"abstained: {self.by_decision['abstain']} ({self.rate('abstain'):.1%})  "
            f"refused: {self.by_decision['refuse']} ({self.rate('refuse'):.1%})  "
            f"answered: {self.by_decision['answer']}",
            f"unsupported sentences: {self.sentences_unsupported} of {self.sentences_shown} shown "
            f"({self.unsupported_rate:.1%})",
            "text kept: "
            + (", ".join(f"{m} ({n})" for m, n in sorted(self.content_modes.items())) or "none"),
            "questions per pack and audience:",
        ]
        for (pack, audience), count in sorted(self.by_pack_audience.items()):
            out.append(f"  {pack:<20} {audience:<14} {count}")
        out.append("guard decisions:" + ("" if self.guards else " none"))
        for (rule, action), count in sorted(self.guards.items()):
            out.append(f"  {rule:<32} {action:<8} {count}")
        out.append("top unanswered:" + ("" if self.unanswered else " none"))
        for topic, count in self.unanswered.most_common(TOP_UNANSWERED):
            out.append(f"  {count:>4}  {topic}")
        return out


def _topic(record: Mapping[str, Any]) -> str:
    question = record.get("question")
    if not isinstance(question, str):
        return "(question not kept: policy 'none')"
    if question.startswith(HASH_PREFIX):
        return f"(hashed) {question[len(HASH_PREFIX) : len(HASH_PREFIX) + 16]}"
    return normalised(question).rstrip("?!.")[:120]  # one topic however it was typed


def summarise(paths: Sequence[Path], users: Mapping[str, Any]) -> AuditSummary:
    """Verify every export (`export.read_export`) and summarise them; `ExportRejected` names the
    first file that fails and why."""
    summary = AuditSummary()
    last_of: dict[str, VerifiedExport] = {}
    for path in paths:
        try:
            verified = read_export(path, users)
        except ExportRejected as exc:
            raise ExportRejected(f"{path.name}: {exc.reason}", exc.hint) from None
        gap = _check_continues(last_of.get(verified.user), verified)
        if gap:
            summary.gaps.append(gap)
        last_of[verified.user] = verified
        summary.exports.append(verified)
        for record in verified.records:
            summary.add(record, verified.user)
    return summary


def _check_continues(before: VerifiedExport | None, after: VerifiedExport) -> str | None:
    """Two exports of one user, given in order, must join: the second starts where the first
    ended (or repeats records the first holds, unchanged); a gap between them is returned."""
    if before is None or not after.records or not before.records:
        return None
    first = after.header["first_seq"]
    if first == before.header["last_seq"] + 1:
        if after.header["first_prev"] != before.header["last_hash"]:
            raise ExportRejected(
                f"{after.path.name} does not continue {before.path.name}: record #{first} links "
                "to a different record than the one that export ended with"
            )
        return None
    if first > before.header["last_seq"] + 1:
        return (
            f"{after.user}: records #{before.header['last_seq'] + 1} to #{first - 1} are in "
            f"no export given (between {before.path.name} and {after.path.name})"
        )
    held = {r["seq"]: r for r in before.records}
    for record in after.records:
        if record["seq"] in held and held[record["seq"]] != record:
            raise ExportRejected(
                f"record #{record['seq']} differs between {before.path.name} and "
                f"{after.path.name}: it was rewritten after the first export"
            )
    return None
