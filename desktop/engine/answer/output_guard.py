"""Stage 8, the output filter by policy: personal data, secrets and toxic language in answers.

Each `output.*` rule takes its action from the policy: `redact` replaces the span by a visible mark
("[e-mail removed]"), `warn` shows it and records the verdict, `block` withholds the answer from
that point on (with a notice naming the rule), `off` does not look. Every rule that fired is a
`GuardVerdict(stage="output")` on `FilterRun.guards`, which the pipeline puts on `Answer.guards`.

Streaming: a run shows text only once no match could still start in it. The finders say where the
undecided tail begins (`Finder.hold_from`: a partial e-mail, a number still growing, an open PEM
block), and that tail is held back until more text decides it or the answer ends, so no part of a
secret ever reaches the screen before it is recognised. Redaction is of the answer only: the
passage an answer cites still opens in full for a user entitled to read it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from desktop.engine.answer.records import GuardVerdict
from desktop.engine.guard.pii import MARKS, RULE_IDS, Finder, Kind, PublishedContacts
from desktop.engine.guard.toxicity import MARK as TOXIC_MARK
from desktop.engine.guard.toxicity import ToxicityScreen
from desktop.engine.policy.rules import Action, Policy

TOXICITY_RULE = "output.toxicity"
_LABELS = {
    Kind.EMAIL: "e-mail address",
    Kind.PHONE: "phone number",
    Kind.IBAN: "IBAN",
    Kind.CARD: "card number",
    Kind.NATIONAL_ID: "national id number",
    Kind.TOKEN: "API key or token",
    Kind.PRIVATE_KEY: "private key",
}


def withheld_notice(rule: str) -> str:
    return (
        f"[The rest of this answer is withheld by your organisation's policy ({rule}). "
        "Ask your administrator if you need it.]"
    )


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    rule: str
    action: Action
    label: str  # what was found, in words ("e-mail address")
    mark: str


class OutputGuard:
    """The output filter a policy describes (`OutputFilter`): one `GuardedRun` per answer."""

    def __init__(self, policy: Policy) -> None:
        self.actions = {kind: policy.action(rule) for kind, rule in RULE_IDS.items()}
        kinds = [kind for kind, action in self.actions.items() if action is not Action.OFF]
        self.finder = Finder(kinds, policy.national_ids, policy.phone_regions)
        self.published = PublishedContacts.parse(policy.published_contacts, policy.phone_regions)
        self.toxicity_action = policy.action(TOXICITY_RULE)
        self.toxicity = (
            ToxicityScreen(policy.toxicity_terms)
            if self.toxicity_action is not Action.OFF
            else None
        )

    @property
    def active(self) -> bool:
        return bool(self.finder.kinds) or self.toxicity is not None

    def start(self) -> GuardedRun:
        return GuardedRun(self)

    def scan(self, text: str) -> tuple[str, tuple[GuardVerdict, ...]]:
        """`text` as a user may see it, and the rules that fired: for whole texts (sentence
        verdicts, quotes), not streams."""
        run = self.start()
        shown = run.feed(text) + run.finish()
        return shown, run.guards

    def hits(self, text: str, *, final: bool = False, before: str = "") -> list[_Hit]:
        """What the rules find in `text`; `before`: the text shown just before it (a stream's
        earlier part), which decides whether a published address stands on its own."""
        hits = [
            _Hit(
                f.start,
                f.end,
                f.rule,
                self.actions[f.kind],
                _LABELS[f.kind],
                MARKS[f.kind],
            )
            for f in self.finder.find(text, final=final)
            if not (self.published and self.published.covers_at(f, text, before))
        ]
        if self.toxicity is not None:
            for span in self.toxicity.find(text):
                if all(span.end <= h.start or span.start >= h.end for h in hits):
                    hits.append(
                        _Hit(
                            span.start,
                            span.end,
                            TOXICITY_RULE,
                            self.toxicity_action,
                            span.category,
                            TOXIC_MARK,
                        )
                    )
        return sorted(hits, key=lambda h: h.start)

    def hold_from(self, text: str) -> int:
        hold = self.finder.hold_from(text) if self.finder.kinds else len(text)
        if self.toxicity is not None:
            block = self.finder.open_block(text)
            hold = min(hold, self.toxicity.hold_from(text if block is None else text[:block]))
        return hold


_CONTEXT_CHARS = 80  # of the shown text kept as the context of what is pending (a local part)


class GuardedRun:
    """One answer through the output filter (`FilterRun`)."""

    def __init__(self, guard: OutputGuard) -> None:
        self.guard = guard
        self._pending = ""
        self._before = ""  # the last characters shown, the context of what is pending
        self._blocked = False
        self._fired: Counter[tuple[str, Action]] = Counter()
        self._labels: dict[tuple[str, Action], set[str]] = {}

    @property
    def blocked(self) -> bool:
        """A `block` rule fired: nothing more of this answer is shown."""
        return self._blocked

    @property
    def guards(self) -> tuple[GuardVerdict, ...]:
        return tuple(
            GuardVerdict(
                rule=rule,
                action=action.value,
                stage="output",
                reason=_reason(action, count, sorted(self._labels[(rule, action)])),
                category=", ".join(sorted(self._labels[(rule, action)])),
            )
            for (rule, action), count in self._fired.items()
        )

    def feed(self, text: str) -> str:
        if self._blocked:
            return ""
        if not self.guard.active:
            return text
        self._pending += text
        pending = self._pending
        hold = self.guard.hold_from(pending)
        if hold == 0:
            return ""  # all of it is undecided (e.g. an open PEM block): nothing to scan yet
        hits = self.guard.hits(pending, before=self._before)
        for hit in sorted(hits, key=lambda h: h.start, reverse=True):
            if hit.start < hold < hit.end:
                hold = hit.start
        self._pending = pending[hold:]
        self._before = (self._before + pending[:hold])[-_CONTEXT_CHARS:]
        return self._render(pending[:hold], [h for h in hits if h.end <= hold])

    def finish(self) -> str:
        if self._blocked:
            return ""
        pending, self._pending = self._pending, ""
        return self._render(pending, self.guard.hits(pending, final=True, before=self._before))

    def _render(self, text: str, hits: Sequence[_Hit]) -> str:
        out: list[str] = []
        position = 0
        for hit in hits:
            out.append(text[position : hit.start])
            key = (hit.rule, hit.action)
            self._fired[key] += 1
            self._labels.setdefault(key, set()).add(hit.label)
            if hit.action is Action.BLOCK:
                self._blocked = True
                self._pending = ""
                out.append(withheld_notice(hit.rule))
                return "".join(out)
            out.append(hit.mark if hit.action is Action.REDACT else text[hit.start : hit.end])
            position = hit.end
        out.append(text[position:])
        return "".join(out)


def _reason(action: Action, count: int, labels: list[str]) -> str:
    what = (
        " and ".join(labels) if len(labels) <= 2 else f"{', '.join(labels[:-1])} and {labels[-1]}"
    )
    times = f" ({count} times)" if count > 1 else ""
    if action is Action.REDACT:
        return f"removed from the answer: {what}{times}"
    if action is Action.BLOCK:
        return f"the answer was withheld from the first {what}"
    return f"shown, with a warning: {what}{times}"
