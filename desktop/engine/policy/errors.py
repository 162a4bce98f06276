"""Why a policy file was refused."""

from __future__ import annotations

from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode


class PolicyRejected(EngineError):
    """The policy file in the configuration folder failed verification or does not parse. The
    app then answers nothing (it never falls back to the default rules): `reason` says why."""

    exit_code = ExitCode.POLICY_REFUSED

    def __init__(self, reason: str, hint: str = "", path: str = "") -> None:
        where = f" ({path})" if path else ""
        super().__init__(
            f"The administrator's policy{where} was refused: {reason}. Enclave answers no "
            "questions until this is fixed.",
            hint
            or "Ask your administrator for a policy signed with the organisation's key "
            "(`enclave admin policy`), installed in the configuration folder; or, to use the "
            "built-in default rules, have them remove policy.json.",
        )
        self.reason = reason
        self.path = path
