"""Retrieved passages screened again before anything reads them: the active policy's blocking
`documents.*` rules, at answer time.

A pack's chunks are screened when it is built (`knowledge.builder`), and a quarantined chunk is
never indexed. A pack can still reach this app unscreened, or screened with less: one built
before a rule existed, by an older version of the rules, or with a rule off in the build's
policy. Its passages are fenced as data in the prompt (`answer.prompt.fence`), and here they are
also screened with the rules the *active* policy blocks: a passage the policy would have
quarantined reaches neither the model nor the evidence quotes, and the answer names the rule and
the document. Warnings are the build report's business (`enclave admin inspect`): they are not
repeated under every answer. Only the text rules run (a passage carries no markup, so
`documents.hidden_html` stays a build-time rule).
"""

from __future__ import annotations

from dataclasses import replace

from desktop.engine.access import Passage
from desktop.engine.answer.prompt import source_text
from desktop.engine.answer.records import GuardVerdict, Question
from desktop.engine.answer.stages import Retrieval, Retriever
from desktop.engine.guard.documents import (
    BIDI_RULE,
    INJECTION_RULE,
    INVISIBLE_RULE,
    LINK_RULE,
    UNRELATED_REQUEST_RULE,
    DocumentScreen,
)
from desktop.engine.guard.prototypes import Embeds
from desktop.engine.policy.rules import Action, Policy

# The `documents.*` rules that read plain text (hidden HTML needs the page's markup).
TEXT_RULES = (INJECTION_RULE, UNRELATED_REQUEST_RULE, BIDI_RULE, INVISIBLE_RULE, LINK_RULE)
_CACHE_SIZE = 512  # passages' verdicts kept (a follow-up retrieves the same ones again)


class ScreenRetrievedPassages:
    """A `Retriever` around another: the passages it found, less those the policy blocks,
    numbered again from 1 (the prompt numbers its sources by position, citations by `ref.n`)."""

    def __init__(self, inner: Retriever, policy: Policy, embedder: Embeds | None = None) -> None:
        self.inner = inner
        # Withheld only on a blocking rule's finding, decided as the build decides: there an
        # injection finding (even a warning) means the unrelated-request rule does not run, so
        # it runs first here too when that rule blocks. A warning alone is never run again.
        actions = {r: policy.action(r) for r in TEXT_RULES}
        self.blocking = frozenset(r for r, a in actions.items() if a == Action.BLOCK)
        screened = {r: Action.BLOCK.value for r in self.blocking}
        if UNRELATED_REQUEST_RULE in self.blocking and actions[INJECTION_RULE] != Action.OFF:
            screened[INJECTION_RULE] = actions[INJECTION_RULE].value
        self.screen = DocumentScreen(screened, embedder) if self.blocking else None
        self._seen: dict[str, frozenset[str]] = {}

    def retrieve(self, question: Question) -> Retrieval:
        retrieval = self.inner.retrieve(question)
        if self.screen is None or not retrieval.passages:
            return retrieval
        kept: list[Passage] = []
        withheld: dict[str, list[str]] = {}  # rule -> the passages it withheld
        for passage in retrieval.passages:
            rules = self._blocked_by(source_text(passage))
            if not rules:
                kept.append(passage)
            for rule in sorted(rules):
                withheld.setdefault(rule, []).append(_which(passage))
        if not withheld:
            return retrieval
        # Which passages and which rule, never what the rule saw: that is the document's text
        # (an address, a link), which the output filter never reads and the audit log must not keep.
        guards = tuple(
            GuardVerdict(
                rule,
                Action.BLOCK.value,
                "passage",
                f"{len(which)} retrieved passage{'s' if len(which) > 1 else ''} withheld from "
                f"the answer: {'; '.join(which)}",
            )
            for rule, which in withheld.items()
        )
        renumbered = tuple(p.numbered(n) for n, p in enumerate(kept, 1))
        return replace(retrieval, passages=renumbered, guards=retrieval.guards + guards)

    def _blocked_by(self, text: str) -> frozenset[str]:
        """The blocking rules `text` trips (remembered: the screen is fixed for this pipeline)."""
        assert self.screen is not None
        found = self._seen.get(text)
        if found is None:
            found = frozenset(
                f.rule for f in self.screen.chunk_findings(text) if f.rule in self.blocking
            )
            if len(self._seen) >= _CACHE_SIZE:
                self._seen.pop(next(iter(self._seen)))
            self._seen[text] = found
        return found


def _which(passage: Passage) -> str:
    ref = passage.ref
    return f"{passage.title or passage.path} ({ref.pack} v{ref.pack_version}, chunk {ref.chunk_id})"
