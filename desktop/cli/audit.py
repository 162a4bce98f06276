"""`enclave audit verify` and `enclave audit export`: check this profile's audit log, and hand a
signed period of it to the administrator (who reads it with `enclave admin audit-report`).
Registered by `desktop.cli`."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from desktop.cli.text import printable
from desktop.engine.core.exit_codes import ExitCode

AUDIT_EPILOG = """\
The audit log keeps one hash-chained record per answer (see docs/audit.md for what each holds
under each policy). Deleting history never deletes it; the policy's retention does.

  enclave audit verify                      the first altered, removed, inserted or reordered record
  enclave audit export --since 2026-06-01 --until 2026-07-01 --out june.jsonl
                                            records created in [since, until), signed with your key
"""


def _moment(text: str) -> datetime:
    """A date (YYYY-MM-DD, local midnight) or an ISO date and time; naive means local time."""
    try:
        return datetime.fromisoformat(text).astimezone()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!a} is not a date (YYYY-MM-DD) or ISO time"
        ) from None


def register(sub: Any) -> None:
    audit = sub.add_parser(
        "audit",
        help="your audit log: verify it, export a signed period for the administrator",
        epilog=AUDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    actions.add_parser("verify", help="check the chain; names the first broken record")
    export = actions.add_parser("export", help="write a signed JSON Lines file of a period")
    export.add_argument("--since", type=_moment, help="from this date or time (default: the start)")
    export.add_argument("--until", type=_moment, help="before this date or time (default: now)")
    export.add_argument("--out", type=Path, required=True, help="the .jsonl file to write")
    export.add_argument(
        "--user", help="your name as enrolled (default: the name in your grants, or your login)"
    )


def run(args: argparse.Namespace) -> int:
    from desktop.engine.audit.log import open_audit_store

    store = open_audit_store()
    try:
        if args.audit_command == "verify":
            return _verify(store)
        return _export(store, args)
    finally:
        store.close()


def _verify(store: Any) -> int:
    from desktop.engine.audit.errors import AuditTampered

    report = store.verify()
    if report.problem is not None:
        raise AuditTampered(str(report.problem))
    if report.count == 0:
        print("OK: the audit log is empty")
    else:
        print(
            f"OK: {report.count} records, #{report.first_seq} to #{report.last_seq}, chain intact "
            f"(head {report.last_hash[:16]})"
        )
    return ExitCode.OK


def _enrolled_name() -> str:
    from desktop.engine.audit.log import local_user
    from desktop.engine.packs import install

    names = {grant.user for grant in install.installed_grants()}
    return names.pop() if len(names) == 1 else local_user()


def _export(store: Any, args: argparse.Namespace) -> int:
    from desktop.engine.audit.export import write_export
    from desktop.engine.packs import grants

    user = grants.check_user_name(args.user or _enrolled_name())
    summary = write_export(
        store,
        args.out,
        user=user,
        signing_key=grants.user_signing_key(),
        since=args.since,
        until=args.until,
    )
    span = f"#{summary.first_seq} to #{summary.last_seq}" if summary.count else "no records"
    print(
        printable(
            f"wrote {summary.path}: {summary.count} records ({span}), signed as {user}; send it "
            "to your administrator (`enclave admin audit-report FILE`)"
        )
    )
    return ExitCode.OK
