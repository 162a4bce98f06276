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
from desktop.engine.answer.records import GuardVerdict, Question
from desktop.engine.answer.stages import Retrieval, Retriever
from desktop.engine.guard.documents import (
    BIDI_RULE,
    INJECTION_RULE,
    INVISIBLE_RULE,
    LINK_RULE,
    UNRELATED_REQUEST_RULE,
    DocumentFinding,
    DocumentScreen,
)
from desktop.engine.guard.prototypes import Embeds
from desktop.engine.policy.rules import Action, Policy

# The `documents.*` rules that read plain text (hidden HTML needs the page's markup).
TEXT_RULES = (INJECTION_RULE, UNRELATED_REQUEST_RULE, BIDI_RULE, INVISIBLE_RULE, LINK_RULE)
_CACHE_SIZE = 512  # passages' verdicts kept (a follow-up retrieves the same ones again)


class ScreenRetrievedPassages:
    """A `Retriever` around another: the passages it found, less those the policy blocks."""

    def __init__(self, inner: Retriever, policy: Policy, embedder: Embeds | None = None) -> None:
        self.inner = inner
        blocking = {r: Action.BLOCK.value for r in TEXT_RULES if policy.action(r) is Action.BLOCK}
        self.screen = DocumentScreen(blocking, embedder) if blocking else None
        self._seen: dict[str, tuple[DocumentFinding, ...]] = {}

    def retrieve(self, question: Question) -> Retrieval:
        retrieval = self.inner.retrieve(question)
        if self.screen is None or not retrieval.passages:
            return retrieval
        kept: list[Passage] = []
        withheld: dict[str, list[str]] = {}  # rule -> "title: what it saw"
        for passage in retrieval.passages:
            findings = self._findings(passage.text)
            if not findings:
                kept.append(passage)
                continue
            for finding in findings:
                withheld.setdefault(finding.rule, []).append(
                    f"{passage.title or passage.path}: {finding.reason}"
                )
        if not withheld:
            return retrieval
        guards = tuple(
            GuardVerdict(
                rule,
                Action.BLOCK.value,
                "passage",
                f"{len(seen)} retrieved passage{'s' if len(seen) > 1 else ''} withheld "
                f"from the answer ({'; '.join(seen)})",
            )
            for rule, seen in withheld.items()
        )
        return replace(retrieval, passages=tuple(kept), guards=retrieval.guards + guards)

    def _findings(self, text: str) -> tuple[DocumentFinding, ...]:
        assert self.screen is not None
        found = self._seen.get(text)
        if found is None:
            found = tuple(self.screen.chunk_findings(text))
            if len(self._seen) >= _CACHE_SIZE:
                self._seen.pop(next(iter(self._seen)))
            self._seen[text] = found
        return found
