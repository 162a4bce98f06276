"""Writing a policy: from an administrator's rules file (TOML or JSON) and flags to a signed file.

A rules file holds the `signed` fields without the bookkeeping (type, format, created):

    name = "Acme staff"
    description = "Phones shown, secrets blocked"
    [rules]
    "output.pii.phone" = "warn"
    "output.secret.token" = "block"
    [audit]
    content = "hash"
    retention_days = 365
    [national_ids]
    "US SSN" = '(?<!\\d)\\d{3}-\\d{2}-\\d{4}(?!\\d)'

Everything is validated exactly as the app validates it when it loads the file, so what signs is
what machines will accept.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from desktop.engine.packs.errors import AdminError
from desktop.engine.packs.signing import load_signed_json
from desktop.engine.policy.document import (
    POLICY_TYPE,
    SPEC_VERSION,
    PolicyFormatError,
    from_signed,
)
from desktop.engine.policy.rules import Action, Policy

MAX_RULES_FILE = 1024 * 1024


def read_rules_file(path: Path) -> dict[str, Any]:
    """The rules file's fields (`.toml` or `.json`); `AdminError` naming the problem."""
    try:
        raw = path.read_bytes()[: MAX_RULES_FILE + 1]
    except OSError as exc:
        raise AdminError(f"{path} cannot be read ({exc.strerror}).") from None
    if len(raw) > MAX_RULES_FILE:
        raise AdminError(f"{path} is over {MAX_RULES_FILE} bytes.")
    try:
        if path.suffix.lower() == ".json":
            value = json.loads(raw.decode("utf-8"))
        else:
            value = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AdminError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise AdminError(f"{path} must hold an object of policy fields.")
    return value


def build_policy(
    fields: Mapping[str, Any],
    *,
    overrides: Mapping[str, str] | None = None,
    name: str | None = None,
    version: int,
) -> Policy:
    """The policy `fields` (a rules file) and `overrides` (rule -> action) describe, validated
    as machines will validate it; `AdminError` with the reason when it is not a valid policy."""
    signed: dict[str, Any] = {
        "name": "Organisation policy",
        **{k: v for k, v in fields.items() if k not in ("type", "spec_version", "created")},
        "type": POLICY_TYPE,
        "spec_version": SPEC_VERSION,
        "version": version,
    }
    if name:
        signed["name"] = name
    rules = dict(signed.get("rules", {})) if isinstance(signed.get("rules", {}), dict) else None
    if rules is None:
        raise AdminError("`rules` must be a table of rule id = action.")
    rules.update(overrides or {})
    signed["rules"] = rules
    try:
        return from_signed(signed, source="", signed_by=None)
    except PolicyFormatError as exc:
        raise AdminError(f"Not a valid policy: {exc}.") from None


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`RULE=ACTION` flags as a mapping (the action is checked with the rest of the policy)."""
    out: dict[str, str] = {}
    for pair in pairs:
        rule, sep, action = pair.partition("=")
        if not sep or not rule.strip() or action.strip() not in {a.value for a in Action}:
            raise AdminError(
                f"--set {pair!r}: write RULE=ACTION with ACTION one of "
                + ", ".join(a.value for a in Action)
            )
        out[rule.strip()] = action.strip()
    return out


def next_version(previous: Path) -> int:
    """One more than the version of the policy file at `previous` (1 when there is none)."""
    if not previous.is_file():
        return 1
    try:
        envelope = load_signed_json(previous.read_bytes()[:MAX_RULES_FILE], "policy")
        version = envelope["signed"]["version"]
    except Exception:
        return 1
    return version + 1 if isinstance(version, int) and not isinstance(version, bool) else 1


def created_now() -> datetime:
    return datetime.now(UTC)
