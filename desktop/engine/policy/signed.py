"""The signed policy file: where it lives, how it is signed, and the check before it is used.

Where: `<config>/policy.json`, the system configuration folder (`paths.system_config_dir`) that
only an administrator or MDM can write, beside the trusted keys. It travels to machines through the
same channel as packs, but it is installed there and nowhere else: a copy in the user's data folder
or inside a pack is never read, because a user can delete their own files (and so choose the
default rules) and a pack's key may be trusted for that one pack only, while a policy governs
every answer. No file: the documented default (`rules.DEFAULT_POLICY`) applies.

Who may sign: a key trusted for every pack (`packs = ["*"]` in `<config>/trusted-keys/*.toml`),
i.e. the organisation's own key; a key scoped to some packs signs packs, not policy. The envelope
and the canonical encoding are the packs' (`packs.signing`): the bytes are verified before they
are parsed as a policy.

Fail closed: a file that is there but unreadable, unsigned, signed by another key, altered after
signing or malformed raises `PolicyRejected`, and the assistant then answers nothing, saying why
(never the default rules in its place); `enclave doctor` and About show the same reason.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from desktop.engine.core import paths
from desktop.engine.packs import trust
from desktop.engine.packs.errors import PackRejected
from desktop.engine.packs.signing import sign, verify_bytes
from desktop.engine.policy.document import PolicyFormatError, from_signed, to_signed
from desktop.engine.policy.errors import PolicyRejected
from desktop.engine.policy.rules import DEFAULT_POLICY, Policy

POLICY_FILE = "policy.json"
MAX_POLICY_BYTES = 1024 * 1024
ALL_PACKS = "*"


def policy_path() -> Path:
    return paths.system_config_dir() / POLICY_FILE


def policy_keys(trusted: trust.Trust) -> dict[str, Ed25519PublicKey]:
    """The keys that may sign a policy: those trusted for every pack (never the demo key)."""
    return {k.key_id: k.key for k in trusted.keys if ALL_PACKS in k.packs and not k.demo}


def sign_policy(policy: Policy, key: Ed25519PrivateKey, created: datetime | None = None) -> str:
    """The policy file's text: `policy` signed with `key` (the admin workspace's signing key)."""
    when = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    envelope = sign(to_signed(policy, when), key)
    return json.dumps(envelope, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def verify_policy(raw: bytes, keys: dict[str, Ed25519PublicKey], source: str) -> Policy:
    """The `Policy` in `raw` if one of `keys` signed exactly these bytes' content."""
    try:
        signed = verify_bytes(raw, keys, what="policy")
    except PackRejected as exc:
        hint = exc.hint
        if not keys:
            hint = (
                "No key trusted for every pack is installed, so no policy can verify: install "
                'the organisation\'s key as <config>/trusted-keys/<name>.toml with packs = ["*"] '
                "(`enclave admin trust-file --packs '*'`), or remove policy.json."
            )
        raise PolicyRejected(exc.reason, hint, source) from None
    signers = [s.get("keyid") for s in _signatures(raw) if s.get("keyid") in keys]
    try:
        return from_signed(signed, source=source, signed_by=str(signers[0]) if signers else None)
    except PolicyFormatError as exc:
        raise PolicyRejected(
            str(exc),
            "Ask your administrator to write it again with `enclave admin policy`.",
            source,
        ) from None


def _signatures(raw: bytes) -> list[dict[str, Any]]:
    envelope = json.loads(raw.decode("utf-8"))  # already verified: it parses
    return [s for s in envelope["signatures"] if isinstance(s, dict)]


def load_policy(path: Path | None = None, trusted: trust.Trust | None = None) -> Policy:
    """The policy in force on this machine: the verified file, or the default when there is no
    file at all. `PolicyRejected` for anything else (never the default in its place)."""
    path = path or policy_path()
    try:
        info = path.lstat()
    except FileNotFoundError:
        return DEFAULT_POLICY
    except OSError as exc:
        raise PolicyRejected(f"it cannot be read ({exc.strerror})", path=str(path)) from None
    if not stat.S_ISREG(info.st_mode):
        raise PolicyRejected("it is not a regular file", path=str(path))
    if info.st_size > MAX_POLICY_BYTES:
        raise PolicyRejected(
            f"it is {info.st_size} bytes, over the {MAX_POLICY_BYTES} limit", path=str(path)
        )
    try:
        with open(path, "rb", opener=_no_follow) as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyRejected(f"it cannot be read ({exc.strerror})", path=str(path)) from None
    keys = policy_keys(trusted if trusted is not None else trust.trusted_keys())
    return verify_policy(raw, keys, str(path))


def _no_follow(file: str, flags: int) -> int:
    return os.open(file, flags | getattr(os, "O_NOFOLLOW", 0))


@dataclass(frozen=True)
class PolicyStatus:
    """The policy in force, or why none is (what doctor and About show)."""

    policy: Policy | None
    problem: PolicyRejected | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.policy is None:
            return {"state": "refused", "problem": str(self.problem), "path": str(policy_path())}
        return describe(self.policy)


def policy_status() -> PolicyStatus:
    try:
        return PolicyStatus(load_policy())
    except PolicyRejected as exc:
        return PolicyStatus(None, exc)


def describe(policy: Policy) -> dict[str, Any]:
    """The active policy in plain values: name, source, signer, every rule's action."""
    from desktop.engine.policy.document import known_rules

    return {
        "state": "default" if policy.signed_by is None else "signed",
        "name": policy.name,
        "version": policy.version,
        "source": policy.source,
        "signed_by": policy.signed_by,
        "rules": {rule: policy.action(rule).value for rule in known_rules()},
        "audit": {
            "content": policy.audit_content.value,
            "retention_days": policy.audit_retention_days,
        },
        "national_ids": sorted(policy.national_ids),
        "phone_regions": list(policy.phone_regions),
        "published_contacts": list(policy.published_contacts),
    }


def status_lines(info: dict[str, Any]) -> list[str]:
    """`PolicyStatus.as_dict()` as the lines doctor and About print."""
    if info["state"] == "refused":
        return [f"Policy:      REFUSED, no question is answered: {info['problem']}"]
    if info["state"] == "default":
        head = f"{info['name']} (no {POLICY_FILE} in the config folder: docs/guardrails.md)"
    else:
        head = (
            f"{info['name']} version {info['version']} (signed by "
            f"{str(info['signed_by'])[:16]}; {info['source']})"
        )
    lines = [
        f"Policy:      {head}",
        f"             audit keeps {info['audit']['content']} text for "
        f"{info['audit']['retention_days']} days",
    ]
    published = info.get("published_contacts") or []
    if published:
        lines.append(
            f"             {len(published)} published contact(s) left in answers: "
            + ", ".join(published[:3])
            + (" ..." if len(published) > 3 else "")
        )
    lines += [f"  {rule:<28} {action}" for rule, action in info["rules"].items()]
    return lines
