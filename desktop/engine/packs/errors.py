"""Why a pack, a grant or a key was refused. Each carries what the user or administrator can do."""

from __future__ import annotations

from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode


class PackRejected(EngineError):
    """A pack failed verification; nothing in it was parsed or installed."""

    exit_code = ExitCode.PACK_REJECTED

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(
            f"Pack rejected: {reason}.",
            hint
            or "Ask your administrator for a freshly signed copy of the pack; the "
            "previously installed version stays active.",
        )
        self.reason = reason


class GrantRejected(EngineError):
    exit_code = ExitCode.PACK_REJECTED

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(
            f"Grant rejected: {reason}.",
            hint or "Ask your administrator to issue a new grant for your enrolment request.",
        )
        self.reason = reason


class AdminError(EngineError):
    exit_code = ExitCode.USAGE
