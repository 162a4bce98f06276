"""Every exit status `enclave` can return, in one table.

Each `EngineError` subclass names one of these; commands that report a state (doctor, packs list)
return one too. `enclave --help` and the README print this table (a test keeps them in step), so a
script can tell "the model is missing" from "a pack was refused" without reading the message.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL_ERROR = 1
    USAGE = 2
    MODEL_MISSING = 3
    MODEL_INVALID = 4
    KEYRING = 5
    STORAGE = 6
    SETUP_FETCH_FAILED = 7
    PACK_REJECTED = 8
    ACCESS_DENIED = 9
    INDEX_UNUSABLE = 10
    UNHEALTHY = 11
    POLICY_REFUSED = 12
    AUDIT_FAILED = 13
    EVAL_REGRESSED = 14
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL_ERROR: "internal error: a bug in Enclave (a crash report is written; send it)",
    ExitCode.USAGE: "bad usage or input (unknown model, empty question, bad file...)",
    ExitCode.MODEL_MISSING: "a model is not installed",
    ExitCode.MODEL_INVALID: "a model file is damaged, not GGUF, or failed to load",
    ExitCode.KEYRING: "no trusted keyring, or a key cannot be unsealed",
    ExitCode.STORAGE: "a local database cannot be read or written (disk full, busy, wrong key, damaged)",
    ExitCode.SETUP_FETCH_FAILED: "setup could not fetch or convert a model",
    ExitCode.PACK_REJECTED: "a pack or grant was refused (signature, hashes, version, expiry)",
    ExitCode.ACCESS_DENIED: "a source is not available to this user",
    ExitCode.INDEX_UNUSABLE: "a knowledge index is damaged or built with another embedder",
    ExitCode.UNHEALTHY: "doctor or packs list found a problem (see the report)",
    ExitCode.POLICY_REFUSED: "the administrator's policy file was refused: nothing is answered",
    ExitCode.AUDIT_FAILED: "the audit log or an audit export does not verify",
    ExitCode.EVAL_REGRESSED: "an evaluation compare found a regression beyond its tolerance",
    ExitCode.INTERRUPTED: "interrupted (Ctrl+C) or stopped",
}


def table() -> str:
    """The table as `--help` and the README show it."""
    return "\n".join(f"  {int(code):>3}  {MEANINGS[code]}" for code in ExitCode)
