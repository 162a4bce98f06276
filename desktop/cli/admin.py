"""Administrator and pack commands: `enclave admin ...`, `enclave packs ...`, `enclave grants ...`,
`enclave enrol` and `enclave demo`. Registered by `desktop.cli`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from desktop.cli import admin_policy
from desktop.cli import evaluate as cli_evaluate
from desktop.cli.text import printable
from desktop.engine.core.exit_codes import ExitCode


def _shown(value: object) -> str:
    """Text that came from a file, a request, a grant or a pack, made safe to print."""
    return printable(value)


ADMIN_EPILOG = """\
typical flow:
  enclave admin init WS                       signing key + audiences.toml in workspace WS
  enclave admin trust-file --workspace WS --packs handbook,hr-*  > admin.toml
                                              install as <config>/trusted-keys/admin.toml (MDM)
  enclave admin build SOURCE --workspace WS --pack-id handbook --title "Staff handbook"
                                              again for the next version: incremental
  enclave admin delta --workspace WS --pack-id handbook   -> WS/packs/handbook-vN-to-vM.enclavedelta
  enclave admin enrol request.json --roles employee --workspace WS
  enclave admin grant alice --pack-id handbook --workspace WS   -> WS/grants/alice-handbook-vN.json
  enclave admin policy --workspace WS --set output.pii.phone=warn   -> WS/policy.json
                                              install as <config>/policy.json (MDM)
  enclave admin revoke alice --workspace WS  (then build a new version: old grants open nothing)
  enclave admin audit-report alice-june.jsonl --workspace WS
                                              verify users' signed audit exports and summarise
"""


def register(sub: Any) -> None:
    admin = sub.add_parser(
        "admin",
        help="administrator tools: keys, packs, enrolment, grants",
        epilog=ADMIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = admin.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="create a workspace with a signing key and audience map")
    init.add_argument("workspace", type=Path)
    trust_file = actions.add_parser(
        "trust-file",
        help="write the trusted-keys/<name>.toml that lets machines trust a key for some packs",
    )
    trust_key = trust_file.add_mutually_exclusive_group(required=True)
    trust_key.add_argument("--workspace", type=Path, help="trust this workspace's admin.pub")
    trust_key.add_argument("--public-key", type=Path, help="trust this .pub file")
    trust_file.add_argument(
        "--packs",
        required=True,
        help="comma-separated pack ids the key may sign: exact ids, 'prefix*' namespaces, '*'",
    )
    trust_file.add_argument("--out", type=Path, help="write it here (default: standard output)")
    admin_policy.register(actions)
    build = actions.add_parser(
        "build",
        help="build, sign and archive a pack from a folder",
        description="Index every file of SOURCE into one encrypted shard per audience (the "
        "workspace's audience map), sign the pack with the workspace's key and write the "
        "archive to distribute and the keys file to keep (never distribute it). The next version "
        "is incremental: only new and changed documents are parsed and embedded. A build that "
        "was stopped before it was signed resumes when the same command is run again.",
    )
    build.add_argument("source", type=Path, help="the folder of documents to index")
    build.add_argument(
        "--workspace", type=Path, required=True, help="the admin workspace (`admin init`)"
    )
    build.add_argument("--pack-id", required=True, help="letters, digits, . _ - (e.g. handbook)")
    build.add_argument("--title", required=True, help="the pack's name as users see it")
    build.add_argument("--version", type=int, help="default: one more than the last built")
    build.add_argument(
        "--as-of",
        type=date.fromisoformat,
        help="knowledge-as-of date (YYYY-MM-DD; default: the newest document date)",
    )
    build.add_argument(
        "--dates",
        type=Path,
        help="a dates.toml: document dates, effective / superseded_by / withdrawn (see docs)",
    )
    build.add_argument("--valid-days", type=int, default=180, help="expiry, in days from now")
    build.add_argument("--license", default="", help="the documents' licence, shown in About")
    build.add_argument(
        "--policy",
        type=Path,
        help="a signed policy file (`enclave admin policy`) whose documents.* rules screen the "
        "chunks; default: the built-in rules (docs/guardrails.md)",
    )
    build.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="RULE=ACTION",
        help="override one documents.* rule for this build (off, warn, block); repeatable",
    )
    build.add_argument(
        "--eval", type=Path, metavar="GOLDEN", help="evaluate the built pack on this golden set "
        "and sign its headline figures into the manifest (docs/evaluation.md)"
    )  # fmt: skip
    build.add_argument("--eval-model", default="", help="chat model for --eval (default: saved)")
    build.add_argument(
        "--full",
        action="store_true",
        help="build every document again (default: incremental from the previous version in the "
        "workspace, re-embedding only new and changed documents; docs/packs.md)",
    )
    build.add_argument("--eval-limit", type=int, help="--eval on N evenly spaced questions")
    cli_evaluate.register(actions)
    delta = actions.add_parser(
        "delta",
        help="write a signed delta from one built version to the next (only changed files)",
    )
    delta.add_argument("--workspace", type=Path, required=True)
    delta.add_argument("--pack-id", required=True)
    delta.add_argument("--from", dest="from_version", type=int, help="default: the one before --to")
    delta.add_argument("--to", dest="to_version", type=int, help="default: the latest built")
    verify = actions.add_parser("verify", help="verify a pack archive or folder against a key")
    verify.add_argument("pack", type=Path)
    verify.add_argument("--public-key", type=Path, required=True, help="the admin .pub to trust")
    inspect = actions.add_parser("inspect", help="what is inside a pack (with its keys: per file)")
    inspect.add_argument("pack", type=Path, help="a built pack folder")
    inspect.add_argument("--keys", type=Path, help="the pack's .keys.json for the per-file report")
    enrol = actions.add_parser("enrol", help="enrol a user from their request with roles")
    enrol.add_argument("request", type=Path)
    enrol.add_argument("--roles", required=True, help="comma-separated roles from audiences.toml")
    enrol.add_argument("--workspace", type=Path, required=True)
    users = actions.add_parser("users", help="enrolled users and their roles")
    users.add_argument("--workspace", type=Path, required=True)
    revoke = actions.add_parser("revoke", help="remove a user (effective from the next version)")
    revoke.add_argument("user")
    revoke.add_argument("--workspace", type=Path, required=True)
    grant = actions.add_parser("grant", help="issue a grant for the latest version of a pack")
    grant.add_argument("user")
    grant.add_argument("--pack-id", required=True)
    grant.add_argument("--workspace", type=Path, required=True)
    grant.add_argument("--valid-days", type=int, default=180)
    audit_report = actions.add_parser(
        "audit-report",
        help="verify audit exports (chain, signature, enrolment) and summarise them",
    )
    audit_report.add_argument("exports", type=Path, nargs="+", help="exports, oldest first")
    audit_report.add_argument("--workspace", type=Path, required=True)

    packs = sub.add_parser("packs", help="document packs on this computer")
    packs_actions = packs.add_subparsers(dest="packs_command", metavar="ACTION", required=True)
    packs_actions.add_parser("list", help="installed packs, versions, expiry, audiences you read")
    pinstall = packs_actions.add_parser(
        "install",
        help="verify and install a pack file or folder, or a delta (.enclavedelta) onto the "
        "version installed",
    )
    pinstall.add_argument("path", type=Path)
    packs_actions.add_parser(
        "sync", help="verify and install what the drop folders hold (the window does it at start)"
    )

    grants = sub.add_parser("grants", help="your grants (access to pack audiences)")
    grants_actions = grants.add_subparsers(dest="grants_command", metavar="ACTION", required=True)
    grants_actions.add_parser("list", help="valid grants on this computer")
    gimport = grants_actions.add_parser("import", help="verify and keep a grant file")
    gimport.add_argument("path", type=Path)

    enrol_user = sub.add_parser("enrol", help="print your enrolment request for the administrator")
    enrol_user.add_argument("--out", type=Path, help="write it to this file")
    enrol_user.add_argument("--user", help="user name to put in the request (default: login name)")
    enrol_user.add_argument(
        "--replace-key",
        action="store_true",
        help="make a new enrolment key (when the old one is lost); grants issued to the old key "
        "stop working",
    )

    demo = sub.add_parser("demo", help="set up the demo: admin key, 18F handbook pack, 3 profiles")
    demo.add_argument("source", type=Path, help="the 18F handbook folder")


def run(args: argparse.Namespace) -> int:
    handler = {
        "admin": _admin,
        "packs": _packs,
        "grants": _grants,
        "enrol": _enrol,
        "demo": _demo,
    }[args.command]
    return handler(args)


def _admin(args: argparse.Namespace) -> int:
    from desktop.engine.packs.workspace import Workspace

    command = args.admin_command
    if command == "init":
        workspace = Workspace(args.workspace)
        workspace.init()
        print(f"workspace ready: {workspace.root}")
        print(f"  signing key  {workspace.signing_key_path} (secret: keep offline, backed up)")
        print(
            f"  public key   {workspace.public_key_path} (machines trust it through "
            "`enclave admin trust-file --workspace WS --packs PACK_ID`)"
        )
        print(f"  audiences    {workspace.audiences_path} (edit: rules and roles)")
        return ExitCode.OK
    if command == "verify":
        return _admin_verify(args)
    if command == "inspect":
        return _admin_inspect(args)
    if command == "trust-file":
        return _admin_trust_file(args)
    if command == "policy":
        return admin_policy.run(args)
    if command == "eval":
        return cli_evaluate.run(args)
    workspace = Workspace(args.workspace)
    if command == "audit-report":
        from desktop.engine.audit.report import summarise

        for line in summarise(args.exports, workspace.users()).lines():
            print(_shown(line))
        return ExitCode.OK
    if command == "build":
        return _admin_build(args, workspace)
    if command == "delta":
        return _admin_delta(args, workspace)
    if command == "enrol":
        request = json.loads(args.request.read_text(encoding="utf-8"))
        roles = [r.strip() for r in args.roles.split(",") if r.strip()]
        user = workspace.enrol(request, roles)
        print(_shown(f"enrolled {user} ({request['fingerprint']}) with roles {', '.join(roles)}"))
        return ExitCode.OK
    if command == "users":
        for user, record in sorted(workspace.users().items()):
            held = ",".join(record["roles"])
            print(_shown(f"{user:<20} {held:<30} {record['request']['fingerprint']}"))
        return ExitCode.OK
    if command == "revoke":
        workspace.revoke(args.user)
        print(
            f"revoked {_shown(args.user)}. Build a new pack version now: its fresh audience keys "
            "make every older grant useless; then re-issue grants for the remaining users."
        )
        return ExitCode.OK
    path = workspace.grant(args.user, args.pack_id, args.valid_days)
    print(_shown(f"grant written: {path} (send it to {args.user}: `enclave grants import FILE`)"))
    return ExitCode.OK


def _admin_build(args: argparse.Namespace, workspace: Any) -> int:
    from desktop.engine.core.progress import ProgressCounter, ProgressDisplay
    from desktop.engine.knowledge.builder import BuildOptions
    from desktop.engine.knowledge.parsers import iter_source_files
    from desktop.engine.packs.build import BuiltPack, build_pack, plan_build
    from desktop.engine.runtime.catalog import Catalog
    from desktop.engine.runtime.embedder import Embedder

    version = args.version or workspace.latest_version(args.pack_id) + 1
    built: BuiltPack | None = None
    options = BuildOptions(document_rules=_document_rules(args, workspace), dates=_dates(args))
    embedder = Embedder(Catalog.load().default("embedding"))
    plan = plan_build(
        workspace.packs_dir,
        pack_id=args.pack_id,
        version=version,
        embedder=embedder,
        admin_key=workspace.signing_key(),
        options=options,
        full=args.full,
    )
    print(_shown(f"{args.pack_id} v{version}: {plan.reason}"), file=sys.stderr)
    files = sum(1 for _ in iter_source_files(args.source)) if args.source.is_dir() else 0
    counter = ProgressCounter(f"building {args.pack_id} v{version}", files)
    display = ProgressDisplay(sys.stderr)  # stdout keeps the result lines for scripts
    try:
        for item in build_pack(
            args.source,
            workspace.packs_dir,
            pack_id=args.pack_id,
            title=args.title,
            version=version,
            audience_map=workspace.audience_map(),
            embedder=embedder,
            admin_key=workspace.signing_key(),
            knowledge_as_of=args.as_of,
            valid_days=args.valid_days,
            license=args.license,
            options=options,
            plan=plan,
        ):
            if isinstance(item, BuiltPack):
                display.close()
                print(f"\nbuilt {item.archive}\n  keys (secret): {item.keys_file}")
                for audience, counts in sorted(item.report.items()):
                    print(_shown(f"  {audience:<14} {json.dumps(counts, sort_keys=True)}"))
                if item.changes is not None:
                    how = "incremental" if item.changes.incremental else "full build"
                    print(f"  changes since v{item.changes.from_version} ({how}):")
                    for audience, moved in sorted(item.changes.audiences.items()):
                        line = ", ".join(f"{n} {kind}" for kind, n in moved.items())
                        print(_shown(f"  {audience:<14} {line}"))
                built = item
            elif item.kind == "note":
                display.clear()
                print(_shown(f"  note     {item.reason}"), file=sys.stderr)
            elif item.kind == "file":
                if item.status in ("failed", "skipped"):
                    display.clear()
                    print(_shown(f"  {item.status:<8} {item.path}: {item.reason}"), file=sys.stderr)
                elif item.status == "indexed":
                    for note in (n for n in item.reason.split("; ") if n.startswith("OCR")):
                        display.clear()  # which pages were OCR'd, with what confidence
                        print(_shown(f"  ocr      {item.path}: {note}"), file=sys.stderr)
                if item.flags:
                    display.clear()
                    for flag in item.flags:  # the administrator sees them before release
                        print(_shown(f"  guard    {item.path}: {flag.note()}"), file=sys.stderr)
                display.show(counter.file_done(_shown(item.path), item.chunks))
    finally:
        display.close()
        embedder.close()
    if args.eval is not None:
        cli_evaluate.sign_pack_evaluation(args, workspace, built)
    return ExitCode.OK


def _dates(args: argparse.Namespace) -> Any:
    """The administrator's date map (`--dates`), and the source folder whose files' times are
    the last resort (shards are built from copies, which carry the copy's time)."""
    from desktop.engine.knowledge.doc_dates import DateMap

    if args.dates:
        return DateMap.load(args.dates, file_times=args.source)
    return DateMap(file_times=args.source)


def _admin_delta(args: argparse.Namespace, workspace: Any) -> int:
    from desktop.engine.packs.delta import build_delta
    from desktop.engine.packs.errors import AdminError

    to_version = args.to_version or workspace.latest_version(args.pack_id)
    from_version = args.from_version or to_version - 1
    folders = [workspace.packs_dir / f"{args.pack_id}-v{v}" for v in (from_version, to_version)]
    for folder in folders:
        if not folder.is_dir():
            raise AdminError(f"{folder} is not a built pack version.")
    delta = build_delta(folders[0], folders[1], workspace.packs_dir, workspace.signing_key())
    share = 100 * delta.delta_bytes / max(delta.full_bytes, 1)
    print(_shown(f"delta written: {delta.path}"))
    print(
        f"  ships {len(delta.shipped)} file(s), reuses {len(delta.reused)} from the installed "
        f"v{delta.from_version}; {delta.delta_bytes:,} bytes against {delta.full_bytes:,} for the "
        f"full archive ({share:.1f} %)"
    )
    if not delta.reused:
        print(
            "  every file changed: each version has fresh audience keys, so every shard is "
            "re-encrypted (docs/packs.md); the full archive serves as well"
        )
    print(
        _shown(
            f"  machines with v{delta.from_version} installed: `enclave packs install "
            f"{delta.path.name}`"
        )
    )
    return ExitCode.OK


def _document_rules(args: argparse.Namespace, workspace: Any) -> dict[str, str]:
    """The documents.* actions for this build: the signed policy's (checked against this
    workspace's key) or the built-in defaults, then the --rule overrides."""
    from desktop.engine.guard.documents import RULES
    from desktop.engine.packs.errors import AdminError
    from desktop.engine.packs.signing import key_id, load_public_key
    from desktop.engine.policy.rules import DEFAULT_POLICY, Action
    from desktop.engine.policy.signed import MAX_POLICY_BYTES, verify_policy

    policy = DEFAULT_POLICY
    if args.policy:
        key = load_public_key(workspace.public_key_path.read_text(encoding="ascii"))
        with open(args.policy, "rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
        policy = verify_policy(raw, {key_id(key): key}, str(args.policy))
    rules = {rule: policy.action(rule).value for rule in RULES}
    for item in args.rule:
        rule, _, action = item.partition("=")
        if rule not in RULES or action not in (Action.OFF, Action.WARN, Action.BLOCK):
            raise AdminError(
                f"--rule {item!a}: expected RULE=off|warn|block with RULE one of {', '.join(RULES)}."
            )
        rules[rule] = action
    return rules


def _admin_verify(args: argparse.Namespace) -> int:
    import tempfile

    from desktop.engine.packs.archive import unpack_verified, verify_folder
    from desktop.engine.packs.signing import key_id, load_public_key

    key = load_public_key(args.public_key.read_text())
    trusted = {key_id(key): key}
    if args.pack.is_dir():
        manifest = verify_folder(args.pack, trusted)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            manifest = unpack_verified(args.pack, Path(tmp), trusted)
    print(
        f"OK: {manifest.pack_id} v{manifest.version}, signature and {len(manifest.files)} file "
        f"hashes verified; expires {manifest.raw['expires']} ({manifest.expiry_state()})"
    )
    return ExitCode.OK


def _admin_trust_file(args: argparse.Namespace) -> int:
    from desktop.engine.packs import trust
    from desktop.engine.packs.errors import AdminError
    from desktop.engine.packs.signing import load_public_key
    from desktop.engine.packs.workspace import Workspace

    source = Workspace(args.workspace).public_key_path if args.workspace else args.public_key
    try:
        key = load_public_key(source.read_text(encoding="ascii"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise AdminError(f"{source} is not an Enclave public key ({exc}).") from None
    text = trust.trust_file_text(key, args.packs.split(","), comment=f"from {source.name}")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: install it as <config>/trusted-keys/{args.out.name}")
    else:
        print(text, end="")
    return ExitCode.OK


def _admin_inspect(args: argparse.Namespace) -> int:
    from desktop.engine.knowledge.store import KnowledgeStore
    from desktop.engine.packs.build import load_keys_file
    from desktop.engine.packs.changes import read_summary
    from desktop.engine.packs.shards import CHANGES_META
    from desktop.engine.storage.encrypted_db import open_database

    envelope = json.loads((args.pack / "manifest.json").read_text())
    signed = envelope["signed"]
    print(_shown(f"{signed['title']} ({signed['pack_id']}) version {signed['version']}"))
    print(
        _shown(
            f"  created {signed['created']}, expires {signed['expires']}, "
            f"knowledge as of {signed['knowledge_as_of']}"
        )
    )
    embedding = signed["embedding"]
    print(_shown(f"  embedding {embedding['id']} ({embedding['dimension']} dims)"))
    print(
        f"  ingest {json.dumps(signed['ingest'])}; "
        f"signed by {_shown(envelope['signatures'][0]['keyid'][:16])}"
    )
    for name, info in sorted(signed["audiences"].items()):
        print(
            _shown(f"  audience {name:<14} {info['documents']} documents, {info['chunks']} chunks")
        )
    changes = read_summary(signed)
    if changes is not None:
        print(_shown(f"  changes {changes.describe()}"))
    if args.keys:
        _, _, keys = load_keys_file(args.keys)
        for name, info in sorted(signed["audiences"].items()):
            db = open_database(args.pack / info["shard"], keys[name], read_only=True)
            row = db.execute("SELECT value FROM kb_meta WHERE key = ?", [CHANGES_META]).fetchone()
            for kind, paths in sorted(json.loads(row[0]).items()) if row else []:
                for path in paths:
                    print(_shown(f"    [{name}] {kind:<8} {path}"))
            for status in KnowledgeStore(db).file_report():
                print(_shown(f"    [{name}] {status.status:<8} {status.path} {status.reason}"))
                for note in status.notes.split("; "):
                    if note.startswith(("quarantined chunk", "flagged chunk")):
                        print(_shown(f"      guard: {note}"))
            db.conn.close()
    return ExitCode.OK


def _packs(args: argparse.Namespace) -> int:
    from desktop.engine.packs import install
    from desktop.engine.packs.changes import read_summary

    if args.packs_command == "sync":
        return _packs_sync()
    if args.packs_command == "install":
        from desktop.engine.packs.delta import DELTA_SUFFIX, apply_delta

        delta = args.path.name.endswith(DELTA_SUFFIX)
        installed = apply_delta(args.path) if delta else install.install(args.path)
        manifest = installed.manifest
        print(
            _shown(
                f"installed {manifest.title} ({manifest.pack_id}) v{manifest.version}: signature, "
                f"hashes, version and expiry verified; knowledge as of {manifest.knowledge_as_of}"
            )
        )
        if installed.expiry != "ok":
            print(_shown(f"warning: this pack is {installed.expiry} ({manifest.raw['expires']})"))
        return ExitCode.OK
    grants = install.installed_grants()
    broken: list[install.BrokenPack] = []
    for pack in install.active_packs(broken):
        manifest = pack.manifest
        readable = sorted(
            {
                a
                for g in grants
                if g.pack_id == manifest.pack_id and g.pack_version == manifest.version
                for a in g.audience_keys
            }
            & set(manifest.audiences)
        )
        print(
            _shown(
                f"{manifest.pack_id:<16} v{manifest.version:<4} as of {manifest.knowledge_as_of}  "
                f"expires {manifest.raw['expires']} ({pack.expiry})  "
                f"audiences {', '.join(sorted(manifest.audiences))}; "
                f"you read: {', '.join(readable) or 'none'}"
            )
        )
        changes = read_summary(manifest.raw)
        if changes is not None and readable:
            print(
                _shown(
                    f"{'':<16} what's new in v{manifest.version}: {changes.describe(set(readable))}"
                )
            )
    for bad in broken:
        error = "\n".join(_shown(line) for line in str(bad.error).split("\n"))
        print(f"{_shown(bad.pack_id):<16} v{bad.version:<4} NOT USABLE: {error}")
    return ExitCode.UNHEALTHY if broken else ExitCode.OK


def _packs_sync() -> int:
    from desktop.engine.packs import provision

    report = provision.sync()
    for outcome in report.outcomes:
        print(_shown(f"{outcome.outcome:<10} {outcome.kind:<5} {outcome.source}: {outcome.detail}"))
    for warning in report.warnings:
        print(_shown(f"warning: {warning}"), file=sys.stderr)
    print(f"{len(report.outcomes)} new file(s), {report.unchanged} already handled")
    return ExitCode.PACK_REJECTED if report.refused else ExitCode.OK


def _grants(args: argparse.Namespace) -> int:
    from desktop.engine.packs import install

    if args.grants_command == "import":
        grant = install.import_grant(args.path)
        print(
            _shown(
                f"grant accepted for {grant.user}: {grant.pack_id} v{grant.pack_version}, roles "
                f"{', '.join(grant.roles)}, audiences {', '.join(sorted(grant.audience_keys))}"
            )
        )
        return ExitCode.OK
    for grant in install.installed_grants():
        print(
            _shown(
                f"{grant.pack_id:<16} v{grant.pack_version:<4} {grant.user:<16} "
                f"{','.join(grant.roles):<20} expires {grant.expires.date()}"
            )
        )
    return ExitCode.OK


def _enrol(args: argparse.Namespace) -> int:
    from desktop.engine.packs import grants

    if args.replace_key:
        replaced = grants.replace_user_key()
        print(
            f"notice: new enrolment key {replaced.new_fingerprint} (the old one, "
            f"{replaced.old_fingerprint or 'unknown'}, is replaced); {replaced.orphaned_grants} "
            "grant(s) on this computer were issued to the old key and no longer open anything: "
            "send this new request to your administrator",
            file=sys.stderr,
        )
    request = grants.enrolment_request(user=args.user)
    text = grants.dumps(request)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(
            f"wrote {args.out}; fingerprint {request['fingerprint']}, signing fingerprint "
            f"{request['signing_fingerprint']} (read both to your administrator by phone or in "
            "person)"
        )
    else:
        print(text, end="")
    return ExitCode.OK


def _demo(args: argparse.Namespace) -> int:
    from desktop.engine.core.progress import JobProgress, ProgressDisplay
    from desktop.engine.packs.demo import setup_demo

    display = ProgressDisplay(sys.stdout)
    try:
        for line in setup_demo(args.source):
            if isinstance(line, JobProgress):
                display.show(line)
                continue
            display.clear()
            print(f"demo: {line}")
    finally:
        display.close()
    return ExitCode.OK
