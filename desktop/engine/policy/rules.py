"""The policy as a typed record: one action per guardrail rule, and what the audit log keeps.

Rule ids are dotted names grouped by where they run:

- `input.*`: the question, before retrieval (harmful-request hazard categories, prompt injection,
  system-prompt extraction);
- `documents.*`: passages, at pack build and when retrieved (instructions aimed at the assistant,
  invisible text, suspicious links);
- `output.*`: the answer before the user reads it (PII, secrets, toxicity).

A rule the policy does not name takes its action from `DEFAULT_ACTIONS`; a rule absent there is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Action(StrEnum):
    OFF = "off"  # the rule does not run
    WARN = "warn"  # the rule runs and its verdict is shown and recorded; nothing is stopped
    BLOCK = "block"  # the request (or passage) is refused, with the rule named
    REDACT = "redact"  # the matching span is replaced by a visible mark


class AuditContent(StrEnum):
    """How much of the question and answer text an audit record keeps."""

    FULL = "full"
    REDACTED = "redacted"  # with PII and secrets replaced by marks
    HASH = "hash"  # a keyed hash only: equal questions can be counted, not read
    NONE = "none"  # no text at all


DEFAULT_ACTIONS: Mapping[str, Action] = MappingProxyType({})


@dataclass(frozen=True)
class Policy:
    """The rules in force. `source` says where they came from ("built-in default" or the signed
    file's path) and `signed_by` the administrator key's fingerprint (None: the built-in default)."""

    name: str = "built-in default"
    description: str = "The documented default rules (docs/guardrails.md)."
    rules: Mapping[str, Action] = field(default_factory=dict)
    audit_content: AuditContent = AuditContent.REDACTED
    audit_retention_days: int = 183  # at least six months (EU AI Act Art. 19)
    always_quote: bool = False  # show the passages' own sentences under every generated answer
    say_restricted_exists: bool = False  # an abstention may say restricted material exists
    source: str = "built-in default"
    signed_by: str | None = None

    def action(self, rule: str) -> Action:
        """The action for `rule`: the policy's own, else the default's, else off."""
        if rule in self.rules:
            return self.rules[rule]
        return DEFAULT_ACTIONS.get(rule, Action.OFF)


DEFAULT_POLICY = Policy()
