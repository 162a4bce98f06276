"""The policy file's content: the `signed` part of the envelope, to and from a `Policy`.

    {"signed": {
        "type": "enclave-policy", "spec_version": 1,
        "name": "Acme staff", "description": "...", "version": 3, "created": "2026-12-01T10:00:00Z",
        "rules": {"output.pii.phone": "warn", "output.secret.token": "block", ...},
        "audit": {"content": "redacted", "retention_days": 365, "required": false},
        "answers": {"always_quote": false, "say_restricted_exists": false},
        "national_ids": {"US SSN": "<regular expression>", ...},
        "phone_regions": ["US", "GB"],
        "toxicity_terms": ["..."],
        "published_contacts": ["itservicedesk@acme.example", "@helpdesk.acme.example", "+1 866 450 5250"]},
     "signatures": [{"keyid": "...", "sig": "..."}]}

Every field is checked for its type, every rule id must be one this version knows (a typo is an
error, not a rule that silently does nothing) and every national id pattern must compile. A rule
the file does not name keeps its documented default (`rules.DEFAULT_ACTIONS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from desktop.engine.guard.pii import (
    ContactError,
    PatternError,
    PublishedContacts,
    compile_national_id,
)
from desktop.engine.policy.rules import (
    DEFAULT_ACTIONS,
    RULE_DESCRIPTIONS,
    Action,
    AuditContent,
    Policy,
)

_E = TypeVar("_E", Action, AuditContent)

POLICY_TYPE = "enclave-policy"
SPEC_VERSION = 1
_TOP = {
    "type",
    "spec_version",
    "name",
    "description",
    "version",
    "created",
    "rules",
    "audit",
    "answers",
    "national_ids",
    "phone_regions",
    "toxicity_terms",
    "published_contacts",
}
_REQUIRED = {"type", "spec_version", "name", "version", "rules"}
MAX_TEXT = 2000
MAX_TERMS = 1000


class PolicyFormatError(ValueError):
    """The signed content is not a policy this version can apply (the message says why)."""


def known_rules() -> list[str]:
    return sorted(set(DEFAULT_ACTIONS) | set(RULE_DESCRIPTIONS))


def to_signed(policy: Policy, created: str) -> dict[str, Any]:
    """The `signed` document for `policy` (what `enclave admin policy` signs)."""
    doc: dict[str, Any] = {
        "type": POLICY_TYPE,
        "spec_version": SPEC_VERSION,
        "name": policy.name,
        "description": policy.description,
        "version": policy.version,
        "created": created,
        "rules": {rule: Action(action).value for rule, action in sorted(policy.rules.items())},
        "audit": {
            "content": AuditContent(policy.audit_content).value,
            "retention_days": policy.audit_retention_days,
            "required": policy.audit_required,
        },
        "answers": {
            "always_quote": policy.always_quote,
            "say_restricted_exists": policy.say_restricted_exists,
        },
        "national_ids": dict(sorted(policy.national_ids.items())),
        "phone_regions": list(policy.phone_regions),
        "toxicity_terms": list(policy.toxicity_terms),
    }
    if policy.published_contacts:
        # Written only when there are some: a policy without them stays readable by the
        # versions of Enclave that came before the field (they refuse fields they do not know).
        doc["published_contacts"] = list(policy.published_contacts)
    return doc


def from_signed(signed: Mapping[str, Any], source: str, signed_by: str | None) -> Policy:
    """The `Policy` a verified `signed` document describes; `PolicyFormatError` when it is not
    one (wrong type, unknown field or rule, a value of the wrong type)."""
    if signed.get("type") != POLICY_TYPE:
        raise PolicyFormatError(f"it is not an Enclave policy (type {signed.get('type')!r})")
    if signed.get("spec_version") != SPEC_VERSION:
        raise PolicyFormatError(
            f"it is written for policy format {signed.get('spec_version')!r}; this version of "
            f"Enclave reads format {SPEC_VERSION}"
        )
    unknown = sorted(set(signed) - _TOP)
    if unknown:
        raise PolicyFormatError(f"it has fields this version does not know: {', '.join(unknown)}")
    missing = sorted(_REQUIRED - set(signed))
    if missing:
        raise PolicyFormatError(f"it lacks {', '.join(missing)}")
    audit = _object(signed.get("audit", {}), "audit", {"content", "retention_days", "required"})
    answers = _object(
        signed.get("answers", {}), "answers", {"always_quote", "say_restricted_exists"}
    )
    defaults = Policy()
    retention = _int(audit.get("retention_days", defaults.audit_retention_days), "retention_days")
    if not 1 <= retention <= 36500:
        raise PolicyFormatError("audit.retention_days must be between 1 and 36500")
    regions = _regions(signed.get("phone_regions", list(defaults.phone_regions)))
    version = _int(signed["version"], "version")
    if version < 1:
        raise PolicyFormatError("version must be 1 or more")
    return Policy(
        name=_text(signed["name"], "name", required=True),
        description=_text(signed.get("description", ""), "description"),
        rules=_rules(signed["rules"]),
        audit_content=_choice(
            audit.get("content", defaults.audit_content), AuditContent, "audit.content"
        ),
        audit_retention_days=retention,
        audit_required=_bool(audit.get("required", False), "audit.required"),
        always_quote=_bool(answers.get("always_quote", False), "answers.always_quote"),
        say_restricted_exists=_bool(
            answers.get("say_restricted_exists", False), "answers.say_restricted_exists"
        ),
        national_ids=_national_ids(signed.get("national_ids", dict(defaults.national_ids))),
        phone_regions=regions,
        toxicity_terms=_terms(signed.get("toxicity_terms", [])),
        published_contacts=_contacts(signed.get("published_contacts", []), regions),
        version=version,
        source=source,
        signed_by=signed_by,
    )


def _object(value: Any, what: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PolicyFormatError(f"{what} must be an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise PolicyFormatError(f"{what} has fields this version does not know: {unknown}")
    return value


def _text(value: Any, what: str, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or (required and not value.strip()):
        raise PolicyFormatError(f"{what} must be text of at most {MAX_TEXT} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise PolicyFormatError(f"{what} holds control characters")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyFormatError(f"{what} must be a whole number, not {value!r}")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyFormatError(f"{what} must be true or false, not {value!r}")
    return value


def _choice(value: Any, kind: type[_E], what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(m.value for m in kind)
        raise PolicyFormatError(f"{what} is {value!r}; use one of {names}") from None


def _rules(value: Any) -> dict[str, Action]:
    if not isinstance(value, dict):
        raise PolicyFormatError("rules must be an object of rule id -> action")
    known = set(known_rules())
    rules: dict[str, Action] = {}
    for rule, action in value.items():
        if rule not in known:
            raise PolicyFormatError(
                f"rule {rule!r} is not one this version knows (see `enclave admin policy --help`)"
            )
        rules[rule] = _choice(action, Action, f"rule {rule}")
        if rules[rule] is Action.REDACT and not rule.startswith("output."):
            raise PolicyFormatError(
                f"rule {rule} cannot redact: only output.* rules replace text by a mark "
                "(use off, warn or block)"
            )
    return rules


def _national_ids(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > 50:
        raise PolicyFormatError("national_ids must be an object of name -> pattern (at most 50)")
    patterns: dict[str, str] = {}
    for name, source in value.items():
        _text(name, "a national id name", required=True)
        if not isinstance(source, str):
            raise PolicyFormatError(f"the national id pattern {name!r} must be text")
        try:
            compile_national_id(name, source)
        except PatternError as exc:
            raise PolicyFormatError(str(exc)) from None
        patterns[name] = source
    return patterns


def _regions(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 50:
        raise PolicyFormatError("phone_regions must be a list of region codes such as 'US'")
    for region in value:
        if not isinstance(region, str) or len(region) != 2 or not region.isalpha():
            raise PolicyFormatError(f"phone_regions holds {region!r}: use ISO codes such as 'GB'")
    return tuple(r.upper() for r in value)


def _terms(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TERMS:
        raise PolicyFormatError(f"toxicity_terms must be a list of at most {MAX_TERMS} words")
    return tuple(_text(term, "a toxicity term", required=True) for term in value)


def _contacts(value: Any, regions: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TERMS:
        raise PolicyFormatError(
            f"published_contacts must be a list of at most {MAX_TERMS} e-mail addresses, "
            "@domains or phone numbers"
        )
    entries = tuple(_text(entry, "a published contact", required=True) for entry in value)
    try:
        PublishedContacts.parse(entries, regions)
    except ContactError as exc:
        raise PolicyFormatError(str(exc)) from None
    return entries
