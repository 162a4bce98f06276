"""Why the audit log cannot be written, verified or accepted. Each says what to do."""

from __future__ import annotations

from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode


class AuditUnavailable(EngineError):
    """The policy requires an audit log and it cannot be written: no question is answered."""

    exit_code = ExitCode.KEYRING

    def __init__(self, cause: EngineError) -> None:
        super().__init__(
            f"Your organisation's policy requires an audit log, and it cannot be opened "
            f"({cause.message}), so no question is answered.",
            cause.hint or "Fix the keyring (see `enclave doctor`), then start Enclave again.",
        )
        self.cause = cause


class AuditTampered(EngineError):
    """The chain of audit records is broken: a record was altered, removed, inserted or moved."""

    exit_code = ExitCode.AUDIT_FAILED

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(
            f"The audit log does not verify: {problem}.",
            hint
            or "Keep the file as it is (it is evidence) and tell your administrator; new records "
            "are still appended after it.",
        )
        self.problem = problem


class SigningKeyChanged(EngineError):
    """Records to export name another signing key than the profile's current one."""

    exit_code = ExitCode.KEYRING

    def __init__(self, seq: int, recorded: str, current: str) -> None:
        super().__init__(
            f"Record #{seq} and those after it until the key changed were written under signing "
            f"key {recorded[:16]}..., but this profile's signing key is now {current[:16]}... "
            "(its keyring entry was replaced), so an export of them would not verify as yours.",
            "Restore the keyring entry 'user-ed25519-signing-key' from your keyring's backup, or "
            "export only the period after the change (--since); new records use the new key.",
        )


class ExportRejected(EngineError):
    """An audit export that the administrator's report refuses (signature, enrolment, chain)."""

    exit_code = ExitCode.AUDIT_FAILED

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(
            f"Audit export rejected: {reason}.",
            hint or "Ask the user for a fresh `enclave audit export`; do not use this file.",
        )
        self.reason = reason
