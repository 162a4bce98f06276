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

from desktop.engine.guard.pii import DEFAULT_NATIONAL_IDS, DEFAULT_PHONE_REGIONS


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


DEFAULT_ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        # input.*: the question, before retrieval (answer/input_guard.py). Every hazard category
        # blocks except S6 (specialized advice: medical, legal, financial), which warns: staff
        # ask their handbook about health benefits and leave.
        **{f"input.hazard.s{n}": Action.BLOCK for n in range(1, 14) if n != 6},
        "input.hazard.s6": Action.WARN,
        "input.injection": Action.BLOCK,
        "input.prompt_extraction": Action.BLOCK,
        "input.guard_model": Action.BLOCK,  # a provisioned guard model's unmapped "unsafe"
        # documents.*: chunks at pack build (knowledge/builder.py); block = quarantined, not
        # indexed; warn = indexed and listed in the ingest report.
        "documents.injection": Action.BLOCK,
        "documents.unrelated_request": Action.WARN,  # a weaker signal: flagged, still indexed
        "documents.hidden_html": Action.BLOCK,
        "documents.bidi": Action.WARN,
        "documents.invisible_text": Action.WARN,
        "documents.suspicious_link": Action.WARN,
        # output.*: the answer, before the user reads it (answer/output_guard.py)
        "output.pii.email": Action.REDACT,
        "output.pii.phone": Action.REDACT,
        "output.pii.iban": Action.REDACT,
        "output.pii.card": Action.REDACT,
        "output.pii.national_id": Action.REDACT,
        "output.secret.token": Action.REDACT,
        "output.secret.private_key": Action.REDACT,
        "output.toxicity": Action.REDACT,
    }
)

# What each rule looks for, as `enclave admin policy --help`, About and doctor explain it. A
# policy file may name only rules listed here or in DEFAULT_ACTIONS (a typo is refused, not
# ignored).
RULE_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        **{
            f"input.hazard.s{n}": f"questions asking for S{n} content ({name}, MLCommons hazard "
            "taxonomy): embedding similarity to category descriptions, plus wording rules"
            for n, name in enumerate(
                (
                    "violent crimes",
                    "non-violent crimes",
                    "sex-related crimes",
                    "child sexual exploitation",
                    "defamation",
                    "specialized advice",
                    "privacy",
                    "intellectual property",
                    "indiscriminate weapons",
                    "hate",
                    "suicide and self-harm",
                    "sexual content",
                    "elections",
                ),
                1,
            )
        },
        "input.injection": "direct prompt injection: instructions to ignore or replace the "
        "assistant's rules, mode switches, claimed authority",
        "input.prompt_extraction": "attempts to read the system prompt, hidden instructions or "
        "secrets",
        "input.guard_model": "a provisioned guard model (catalog role guard) said unsafe without a "
        "category Enclave maps, or gave no verdict",
        "documents.injection": "document text aimed at the assistant (ignore instructions, 'in your "
        "response', 'add this code to your solution')",
        "documents.unrelated_request": "a question or task in a document unrelated to the text "
        "around it (an injected task; embedding similarity below a calibrated floor)",
        "documents.hidden_html": "text an HTML page hides from people (display:none, "
        "visibility:hidden, font-size:0, the hidden attribute)",
        "documents.bidi": "bidirectional control characters (they reorder what a reader sees)",
        "documents.invisible_text": "zero-width and other invisible characters",
        "documents.suspicious_link": "links whose text shows another address than they open, raw "
        "IP hosts, punycode, data:/javascript:/file: links",
        "output.pii.email": "e-mail addresses in the answer",
        "output.pii.phone": "phone numbers (+country anywhere; national formats of the policy's "
        "phone regions), checked against libphonenumber's numbering plans",
        "output.pii.iban": "IBANs with a valid country length and mod-97 checksum",
        "output.pii.card": "payment card numbers with a known issuer prefix and a valid Luhn digit",
        "output.pii.national_id": "national id numbers, by the policy's patterns (default: US SSN, "
        "UK NINO)",
        "output.secret.token": "API keys and tokens: AWS, GitHub, Slack, Google, Stripe, OpenAI, "
        "JWTs, Bearer tokens, `api_key = ...` assignments",
        "output.secret.private_key": "PEM private key blocks (also an unterminated one)",
        "output.toxicity": "profanity, insults and threats aimed at the reader (word lists and "
        "phrase rules, plus the policy's own terms)",
    }
)


@dataclass(frozen=True)
class Policy:
    """The rules in force. `source` says where they came from ("built-in default" or the signed
    file's path) and `signed_by` the administrator key's fingerprint (None: the built-in default)."""

    name: str = "built-in default"
    description: str = "The documented default rules (docs/guardrails.md)."
    rules: Mapping[str, Action] = field(default_factory=dict)
    audit_content: AuditContent = AuditContent.REDACTED
    audit_retention_days: int = 183  # at least six months (EU AI Act Art. 19)
    audit_required: bool = False  # True: no answer when the audit log cannot be written
    always_quote: bool = False  # show the passages' own sentences under every generated answer
    say_restricted_exists: bool = False  # an abstention may say restricted material exists
    # What `output.pii.national_id` looks for (name -> regular expression) and `output.pii.phone`
    # accepts in national format (numbers written with +country always count).
    national_ids: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_NATIONAL_IDS))
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    toxicity_terms: tuple[str, ...] = ()  # the organisation's own words for `output.toxicity`
    # E-mail addresses, @domains and phone numbers the organisation publishes (a service desk, a
    # team mailbox): `output.pii.email` and `output.pii.phone` leave them as they are.
    published_contacts: tuple[str, ...] = ()
    version: int = 0  # the signed file's version (0: the built-in default)
    source: str = "built-in default"
    signed_by: str | None = None

    def action(self, rule: str) -> Action:
        """The action for `rule`: the policy's own, else the default's, else off."""
        if rule in self.rules:
            return self.rules[rule]
        return DEFAULT_ACTIONS.get(rule, Action.OFF)


DEFAULT_POLICY = Policy()
