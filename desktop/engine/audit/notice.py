"""What the user is told about the audit log (About, the first-run page, `doctor`): that it
exists, what one record keeps under the policy in force, for how long, and when it is off."""

from __future__ import annotations

from desktop.engine.core.errors import EngineError
from desktop.engine.policy.rules import AuditContent, Policy

TEXT_KEPT = {
    AuditContent.FULL: "the question and the answer in full",
    AuditContent.REDACTED: "the question and the answer with personal data and secrets replaced "
    "by marks",
    AuditContent.HASH: "only a keyed fingerprint of the question and the answer (equal questions "
    "can be counted, not read)",
    AuditContent.NONE: "no question or answer text at all",
}


def audit_notice(policy: Policy, problem: EngineError | None = None) -> str:
    """One plain-text paragraph for people, not administrators."""
    if problem is not None:
        if policy.audit_required:
            return (
                f"The audit log cannot be written ({problem.message}). Your organisation's "
                "policy requires it, so no question is answered until it works again."
            )
        return (
            f"The audit log is off on this computer ({problem.message}); questions are answered "
            "without an audit record."
        )
    kept = (
        f"for {policy.audit_retention_days} days"
        if policy.audit_retention_days > 0
        else "without a time limit"
    )
    return (
        f"Enclave keeps an audit log on this computer, encrypted, {kept}: one record per answer "
        "with the time, your login name and roles, the model, the packs and passages used "
        "(references, never their text), what the checks and guardrails decided, and "
        f"{TEXT_KEPT[policy.audit_content]}. Deleting a conversation does not delete its audit "
        "record; your administrator may ask you for a signed export of it."
    )
