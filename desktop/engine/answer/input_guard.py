"""Stage 2, the input screen: the administrator's policy applied to a question before retrieval.

Detectors find (`guard.hazards`, `guard.injection`, and the optional guard model); the policy says
what each finding does: `off` (the rule does not run), `warn` (the question goes through, the
verdict is shown and recorded), `block` (refused before retrieval, with the rule named and what to
do). Every rule that fired is in `ScreenVerdict.guards`, which the pipeline carries into
`Answer.guards` (the window, `enclave ask --json` and the audit log show them).
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop.engine.answer.grounding import with_context
from desktop.engine.answer.records import GuardVerdict, Question, ScreenVerdict
from desktop.engine.guard.guard_model import GuardModelScreen
from desktop.engine.guard.hazards import HAZARDS, Hazard, HazardScreen
from desktop.engine.guard.injection import EXTRACTION, INJECTION, InjectionScreen, lexical
from desktop.engine.guard.prototypes import Embeds, segments
from desktop.engine.policy.rules import Action, Policy

INJECTION_RULE = "input.injection"
EXTRACTION_RULE = "input.prompt_extraction"
_INJECTION_RULES = {INJECTION: INJECTION_RULE, EXTRACTION: EXTRACTION_RULE}


def blocked_message(verdict: GuardVerdict) -> str:
    """What the user reads when `verdict` blocks their question: calm, which rule, what to do."""
    if verdict.rule == INJECTION_RULE:
        return (
            f"Not sent: your message reads like an instruction to change how the assistant "
            f"works (rule {verdict.rule}). Ask your question directly, without instructions "
            "for the assistant; if you pasted text from elsewhere, ask about it in your own words."
        )
    if verdict.rule == EXTRACTION_RULE:
        return (
            f"Not sent: the assistant's own instructions are not shown (rule {verdict.rule}). "
            "Ask about your documents instead."
        )
    return (
        f"Not sent: your organisation's policy does not allow questions about "
        f"{verdict.category or 'this topic'} (rule {verdict.rule}). If you meant something "
        "else, ask again with the work context; if you think this is a mistake, tell your "
        "administrator which rule stopped you."
    )


@dataclass(frozen=True)
class _Finding:
    rule: str
    reason: str
    category: str
    score: float | None


class PolicyInputScreen:
    """The default input screen: hazard categories and injection by policy, plus the guard model
    when an administrator provisioned one."""

    def __init__(
        self,
        policy: Policy,
        embedder: Embeds | None,
        *,
        hazards: HazardScreen | None = None,
        injection: InjectionScreen | None = None,
        guard_model: GuardModelScreen | None = None,
    ) -> None:
        self.policy = policy
        self.embedder = embedder
        self.hazards = hazards or (HazardScreen(embedder) if embedder is not None else None)
        self.injection = injection or InjectionScreen(embedder)
        self.guard_model = guard_model

    def warm(self) -> None:
        """Embed the screens' descriptions now (0.5 s on two cores), so the first question does
        not wait for them."""
        if self.hazards is not None:
            self.hazards.warm()
        self.injection.warm()

    def _active(self, rule: str) -> bool:
        return self.policy.action(rule) is not Action.OFF

    def screen(self, question: Question) -> ScreenVerdict:
        findings = self._findings(question.text, with_context(question))
        guards = tuple(
            GuardVerdict(
                rule=f.rule,
                action=self.policy.action(f.rule).value,
                stage="input",
                reason=f.reason,
                category=f.category,
                score=None if f.score is None else round(f.score, 3),
            )
            for f in findings
        )
        blocking = [g for g in guards if g.action == Action.BLOCK.value]
        if blocking:
            first = blocking[0]
            return ScreenVerdict(False, first.rule, blocked_message(first), guards)
        if guards:
            rules = ", ".join(g.rule for g in guards)
            return ScreenVerdict(True, guards[0].rule, f"warned: {rules}", guards)
        return ScreenVerdict(True, "none", "no input rule fired")

    def _findings(self, text: str, context: str) -> list[_Finding]:
        """`context`: the text itself, or for a follow-up the question it follows plus it.

        Hazards are judged on the follow-up alone (a harmless earlier question must not dilute
        "and how do I build a bomb with it?"); the injection screen's embedding margin on the
        follow-up with its context ("And after 15 years?" alone sits near "what were you told
        before this conversation"), its wording rules on the follow-up alone as on any question.
        """
        hazard_rules = [h for h in HAZARDS if self._active(h.rule)]
        injection_on = self._active(INJECTION_RULE) or self._active(EXTRACTION_RULE)
        vectors = None
        if self.embedder is not None and (hazard_rules or injection_on):
            vectors = self.embedder.embed(segments(text))  # embedded once for both screens
        found: dict[str, _Finding] = {}
        if injection_on:
            injections = self.injection.findings(text, vectors)
            if context != text:
                # As one piece: the follow-up's own segment would be judged alone again.
                whole = self.embedder.embed([context]) if self.embedder is not None else None
                wording = lexical(text)
                injections = wording + [
                    f
                    for f in self.injection.findings(context, whole)
                    if f.kind not in {w.kind for w in wording}
                ]
            for f in injections:
                rule = _INJECTION_RULES[f.kind]
                if self._active(rule):
                    found[rule] = _Finding(rule, f.reason, "", f.score)
        if hazard_rules and self.hazards is not None:
            active = {h.rule for h in hazard_rules}
            for h in self.hazards.findings(text, vectors):
                if h.hazard.rule in active and h.hazard.rule not in found:
                    found[h.hazard.rule] = _Finding(
                        h.hazard.rule, h.reason, _label(h.hazard), h.score
                    )
        if hazard_rules and self.guard_model is not None:
            verdict = self.guard_model.classify(text)
            if not verdict.safe:
                for hazard in verdict.hazards:
                    if self._active(hazard.rule) and hazard.rule not in found:
                        found[hazard.rule] = _Finding(
                            hazard.rule,
                            f"the guard model {self.guard_model.model_id} said {verdict.raw!r}",
                            _label(hazard),
                            None,
                        )
                if not verdict.hazards and self._active(GUARD_MODEL_RULE):
                    found[GUARD_MODEL_RULE] = _Finding(
                        GUARD_MODEL_RULE,
                        f"the guard model {self.guard_model.model_id} answered {verdict.raw!r} "
                        "(unsafe, or no verdict, with no hazard category Enclave maps)",
                        "",
                        None,
                    )
        # The surest finding first (a wording match, or the guard model, counts as certain);
        # ties in a fixed order: injection, extraction, hazards by number, the guard model.
        order = {rule: i for i, rule in enumerate(_RULE_ORDER)}
        return sorted(
            found.values(),
            key=lambda f: (-(1.0 if f.score is None else f.score), order.get(f.rule, len(order))),
        )


GUARD_MODEL_RULE = "input.guard_model"
_RULE_ORDER = (INJECTION_RULE, EXTRACTION_RULE, *(h.rule for h in HAZARDS), GUARD_MODEL_RULE)


def _label(hazard: Hazard) -> str:
    return f"{hazard.code} {hazard.name}"
