"""`enclave admin policy`: write and sign the guardrail policy from the admin workspace's key."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from desktop.cli.text import printable
from desktop.engine.core.exit_codes import ExitCode


def _rules_help() -> str:
    from desktop.engine.policy.document import known_rules
    from desktop.engine.policy.rules import DEFAULT_ACTIONS, RULE_DESCRIPTIONS, Action

    lines = [
        "actions:",
        "  off     the rule does not run",
        "  warn    the rule runs; its verdict is shown and recorded, nothing is stopped",
        "  block   the request is refused (input), the passage left out (documents), or the",
        "          answer withheld from the match on (output), with the rule named",
        "  redact  the matching span is replaced by a visible mark, e.g. [e-mail removed]",
        "",
        "rules (default action in brackets):",
    ]
    for rule in known_rules():
        default = DEFAULT_ACTIONS.get(rule, Action.OFF).value
        lines.append(f"  {rule:<28} [{default}] {RULE_DESCRIPTIONS.get(rule, '')}".rstrip())
    lines += [
        "",
        "audit content (--audit-content): full | redacted (PII and secrets replaced by marks) |",
        "  hash (a keyed hash only) | none. Retention: --retention-days (default 183).",
        "",
        "rules file (--rules FILE.toml or .json), every field optional:",
        '  name = "Acme staff"          description = "..."',
        '  [rules]                      "output.pii.phone" = "warn"',
        '  [audit]                      content = "hash"   retention_days = 365',
        "  [answers]                    always_quote = false",
        "  [national_ids]               \"US SSN\" = '<regular expression>'",
        '  phone_regions = ["US", "GB"] toxicity_terms = ["..."]',
        '  published_contacts = ["itservicedesk@acme.example", "@helpdesk.acme.example",',
        '                        "+1 866 450 5250"]   (left in answers by output.pii.*)',
        "",
        "The file is signed with WS/admin.key; machines accept it from <config>/policy.json when",
        'that key is trusted for every pack (trusted-keys/<name>.toml with packs = ["*"]).',
        "Without a policy file the defaults above apply; a policy that fails verification stops",
        "the app from answering until it is replaced (never the defaults in its place).",
    ]
    return "\n".join(lines)


def register(actions: Any) -> None:
    policy = actions.add_parser(
        "policy",
        help="write and sign the guardrail policy (rules, audit content, retention)",
        description="Write <workspace>/policy.json, signed with the workspace key. Install it "
        "as <config>/policy.json on machines (through MDM, like trusted keys).",
        epilog=_rules_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    policy.add_argument("--workspace", type=Path, required=True)
    policy.add_argument("--rules", type=Path, help="a TOML or JSON rules file (see below)")
    policy.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="RULE=ACTION",
        help="one rule's action, e.g. output.pii.phone=warn (repeatable; over --rules)",
    )
    policy.add_argument("--name", help="the policy's name, shown in About and doctor")
    policy.add_argument("--audit-content", choices=["full", "redacted", "hash", "none"])
    policy.add_argument("--retention-days", type=int, help="how long audit records are kept")
    policy.add_argument("--version", type=int, help="default: one more than the last written")
    policy.add_argument("--out", type=Path, help="default: <workspace>/policy.json")
    policy.add_argument(
        "--check",
        type=Path,
        metavar="POLICY_JSON",
        help="verify a signed policy file against the workspace key and print its rules "
        "(writes nothing)",
    )


def run(args: argparse.Namespace) -> int:
    from desktop.engine.packs.workspace import Workspace
    from desktop.engine.policy import authoring
    from desktop.engine.policy.signed import POLICY_FILE, sign_policy

    workspace = Workspace(args.workspace)
    key = workspace.signing_key()
    if args.check:
        return _check(args.check, key)
    fields: dict[str, Any] = authoring.read_rules_file(args.rules) if args.rules else {}
    audit = dict(fields.get("audit", {})) if isinstance(fields.get("audit", {}), dict) else {}
    if args.audit_content:
        audit["content"] = args.audit_content
    if args.retention_days is not None:
        audit["retention_days"] = args.retention_days
    if audit:
        fields["audit"] = audit
    out: Path = args.out or workspace.root / POLICY_FILE
    version = args.version or authoring.next_version(out)
    policy = authoring.build_policy(
        fields,
        overrides=authoring.parse_overrides(args.overrides),
        name=args.name,
        version=version,
    )
    text = sign_policy(policy, key, authoring.created_now())
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    changed = sorted(policy.rules.items())
    print(printable(f"wrote {out}: policy '{policy.name}' version {policy.version}, signed"))
    for rule, action in changed:
        print(printable(f"  {rule:<28} {action.value}"))
    if not changed:
        print("  (every rule at its default: see `enclave admin policy --help`)")
    print(f"install it as <config>/{POLICY_FILE} on each machine (through MDM)")
    return ExitCode.OK


def _check(path: Path, key: Any) -> int:
    """Verify `path` as a machine would (against this workspace's key) and show what it says."""
    from desktop.engine.packs.signing import key_id
    from desktop.engine.policy.signed import MAX_POLICY_BYTES, describe, verify_policy

    public = key.public_key()
    try:
        raw = path.read_bytes()[: MAX_POLICY_BYTES + 1]
    except OSError as exc:
        from desktop.engine.packs.errors import AdminError

        raise AdminError(f"{path} cannot be read ({exc.strerror}).") from None
    info = describe(verify_policy(raw, {key_id(public): public}, str(path)))
    print(printable(f"OK: policy '{info['name']}' version {info['version']}, signed by "
                    f"{str(info['signed_by'])[:16]} (this workspace's key)"))  # fmt: skip
    print(
        f"  audit keeps {info['audit']['content']} text for {info['audit']['retention_days']} days"
    )
    for rule, action in info["rules"].items():
        print(printable(f"  {rule:<28} {action}"))
    return ExitCode.OK
