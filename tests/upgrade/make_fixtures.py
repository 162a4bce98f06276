"""Write a small but complete user data folder with a given Enclave release, for the upgrade tests.

Run it with the *release's* code on the path, never the working tree's, so the fixture is what
that release really writes:

    git worktree add /tmp/enclave-release-<commit> <commit>
    ENCLAVE_MODELS_DIR=~/.local/share/enclave/models PYTHONPATH=/tmp/enclave-release-<commit> \
        .venv/bin/python tests/upgrade/make_fixtures.py tests/data/upgrade/<version>-<commit>

It writes, under the output folder (see tests/data/upgrade/README.md):

    data/        the user data folder (ENCLAVE_DATA_DIR): encrypted history (three conversations,
                 one pinned, one with two versions of a turn, one answer with feedback), pack state,
                 an installed signed pack and a grant, the audit log, settings.json, the history
                 key sealed to a recovery key, and keyring.cfg (the same keys in an encrypted file
                 keyring, passphrase in expected.json)
    config/      the system configuration folder (ENCLAVE_CONFIG_DIR): the trusted admin public
                 key, recovery.pub
    keyring.json the keyring entries ("service/name": value), for a test keyring (plain text:
                 test data only)
    recovery.key the recovery private key (test data only)
    expected.json what the release read back from its own data, for the tests to compare

Only APIs that existed in release 0.1.0 are used; a later release may need a later generator
(keep this one working for the releases whose fixtures are committed, or copy it per release).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keyring
from keyring.backend import KeyringBackend

CHAT_MODEL = "smollm2-135m-instruct"
PACK_ID = "upgrade-fixture"
CRYPTFILE_PASSPHRASE = "enclave-upgrade-fixture"  # test data only
VALID_DAYS = 3650
CANARIES = {"everyone": "CANARY-UPGRADE-EVERYONE-17", "staff": "CANARY-UPGRADE-STAFF-29"}
AUDIENCES = """\
default = "everyone"

[[rule]]
glob = "staff/**"
audience = "staff"

[roles]
employee = ["everyone", "staff"]
"""
SOURCE = {
    "welcome.md": "---\ntitle: Welcome\n---\n# Welcome\nThe office opens at nine in the morning "
    f"and closes at six. Visitors sign in at the front desk. Code word {CANARIES['everyone']}.\n",
    "staff/leave.md": "---\ntitle: Leave policy\n---\n# Annual leave\nStaff get 26 days of "
    "annual leave a year, plus public holidays. Ask your manager two weeks ahead. "
    f"Code word {CANARIES['staff']}.\n",
    "staff/travel.md": "---\ntitle: Travel\n---\n# Travel\nBook trains through the travel desk; "
    "economy class for journeys under four hours.\n",
}
SEARCH = {"query": "How many days of annual leave do staff get?", "expect": CANARIES["staff"]}
SETTINGS: dict[str, Any] = {
    "chat_model": CHAT_MODEL,
    "n_threads": 2,
    "n_gpu_layers": 0,
    "n_ctx": 2048,
    "temperature": 0.0,
    "sources_per_answer": 3,
}


class JsonKeyring(KeyringBackend):
    """The keyring as a JSON file, so the test can load the same entries (test data only)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _load(self) -> dict[str, str]:
        return dict(json.loads(self.path.read_text())) if self.path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._load()
        entries[f"{service}/{username}"] = password
        self.path.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        entries.pop(f"{service}/{username}", None)
        self.path.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")


def _release() -> dict[str, str]:
    import desktop

    root = Path(desktop.__file__).resolve().parents[1]
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if dirty:
        sys.exit(f"make_fixtures: {root} has uncommitted changes; use a clean release checkout")
    return {"version": desktop.__version__, "commit": commit}


def _ask(assistant: Any, conversation_id: int, question: str) -> None:
    from desktop.engine.answer.events import Done

    done = [e for e in assistant.ask(conversation_id, question) if isinstance(e, Done)]
    if len(done) != 1:
        raise RuntimeError(f"no answer for {question!r}")


def _make_pack(admin: Path, data_config: Path) -> dict[str, Any]:
    from desktop.engine.packs import grants, install
    from desktop.engine.packs.build import build_pack
    from desktop.engine.packs.signing import load_public_key
    from desktop.engine.packs.trust import trust_file_text
    from desktop.engine.packs.workspace import Workspace
    from desktop.engine.runtime.catalog import Catalog
    from desktop.engine.runtime.embedder import Embedder

    source = admin / "source"
    for name, text in SOURCE.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    workspace = Workspace(admin / "ws")
    workspace.init(AUDIENCES)
    embedder = Embedder(Catalog.load().default("embedding"))
    try:
        for _item in build_pack(
            source,
            workspace.packs_dir,
            pack_id=PACK_ID,
            title="Upgrade fixture",
            version=1,
            audience_map=workspace.audience_map(),
            embedder=embedder,
            admin_key=workspace.signing_key(),
            valid_days=VALID_DAYS,
        ):
            pass
    finally:
        embedder.close()
    (data_config / "trusted-keys").mkdir(parents=True)
    key = load_public_key(workspace.public_key_path.read_text())
    (data_config / "trusted-keys" / "admin.toml").write_text(trust_file_text(key, ["*"]))
    workspace.enrol(grants.enrolment_request(user="uma", machine="fixture-machine"), ["employee"])
    install.import_grant(workspace.grant("uma", PACK_ID, valid_days=VALID_DAYS))
    install.install(workspace.packs_dir / f"{PACK_ID}-v1.enclavepack")
    return {"id": PACK_ID, "version": 1, "user": "uma", "audiences": ["everyone", "staff"]}


def _make_history_and_audit() -> None:
    from desktop.engine.assistant import Assistant, AssistantOptions

    assistant = Assistant.open(AssistantOptions(chat_model=CHAT_MODEL, max_answer_tokens=24))
    if assistant.history is None or assistant.audit_problem is not None:
        raise RuntimeError(f"history or audit off: {assistant.history_problem}")
    try:
        assistant.load()
        history = assistant.history
        leave = history.create_conversation("Annual leave")
        _ask(assistant, leave.id, SEARCH["query"])
        _ask(assistant, leave.id, "Do I need to ask my manager first?")
        office = history.create_conversation("Office hours")
        _ask(assistant, office.id, "When does the office open?")
        first = history.messages(office.id)[0]
        history.hide_version(first.id)  # regenerate: a second version of the same turn
        _ask(assistant, office.id, "When does the office open in the morning?")
        second = [m for m in history.messages(office.id, all_versions=True) if m.role == "user"]
        history.add_version(second[-1].id, first.id)
        history.set_pinned(office.id, True)
        answer = next(m for m in history.messages(leave.id) if m.role == "assistant")
        history.set_feedback(answer.id, 1, "clear answer")
        travel = history.create_conversation("Travel")
        _ask(assistant, travel.id, "Which class do I book for a two hour train journey?")
    finally:
        assistant.close()


def _read_back(pack: dict[str, Any]) -> dict[str, Any]:
    """What the release itself reads from the data it wrote: the tests expect the same."""
    from dataclasses import asdict

    from desktop.engine.audit.log import open_audit_store
    from desktop.engine.core.settings import load_settings
    from desktop.engine.packs.local_state import LocalState
    from desktop.engine.storage.history import open_history

    with open_history() as history:
        conversations = [
            {
                "title": c.title,
                "pinned": c.pinned,
                "messages": [
                    {
                        "role": m.role,
                        "text": m.text,
                        "superseded": m.superseded,
                        "feedback": m.feedback,
                        "feedback_comment": m.feedback_comment,
                        "model_id": m.model_id,
                        "citations": m.citations,
                    }
                    for m in history.messages(c.id, all_versions=True)
                ],
            }
            for c in history.conversations()
        ]
        applied = [m.name for m in history.schema.applied(history.db)]
    with LocalState.open() as state:
        packs = [asdict(p) for p in state.packs()]
        state_applied = [m.name for m in state.schema.applied(state.db)]
    with open_audit_store() as audit:
        report = audit.verify()
        if not report.ok:
            raise RuntimeError(f"the release's own audit log does not verify: {report.problem}")
        records = [json.loads(r.body) for r in audit.records()]
        head = audit.head_file_entry()
        audit_applied = [m.name for m in audit.schema.applied(audit.db)]
    settings, note = load_settings()
    if note:
        raise RuntimeError(note)
    return {
        "conversations": conversations,
        "history_migrations": applied,
        "state": packs,
        "state_migrations": state_applied,
        "pack": {**pack, "search": SEARCH},
        "audit": {
            "records": len(records),
            "head": list(head) if head else None,
            "questions": [r.get("question") for r in records],
            "migrations": audit_applied,
        },
        "settings": asdict(settings),
    }


def _copy_into_cryptfile(entries: dict[str, str], data: Path) -> None:
    """The same keys in an encrypted file keyring (`ENCLAVE_KEYRING=cryptfile`)."""
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    backend = CryptFileKeyring()
    backend.file_path = str(data / "keyring.cfg")
    backend.keyring_key = CRYPTFILE_PASSPHRASE
    for entry, value in entries.items():
        service, name = entry.split("/", 1)
        backend.set_password(service, name, value)


def make(out: Path) -> dict[str, Any]:
    release = _release()
    if out.exists() and any(out.iterdir()):
        sys.exit(f"make_fixtures: {out} is not empty")
    data, config = out / "data", out / "config"
    keyring_file = out / "keyring.json"
    os.environ.update(
        ENCLAVE_DATA_DIR=str(data), ENCLAVE_CONFIG_DIR=str(config), ENCLAVE_CHAT_MODEL=CHAT_MODEL
    )
    os.environ.pop("ENCLAVE_PROFILE", None)
    os.environ.pop("ENCLAVE_KEYRING", None)
    from desktop.engine.core.settings import AppSettings, save_settings
    from desktop.engine.storage import history, secrets

    backend = JsonKeyring(keyring_file)
    keyring.set_keyring(backend)
    secrets.TRUSTED_BACKENDS = secrets.TRUSTED_BACKENDS | {
        f"{type(backend).__module__}.{type(backend).__name__}"
    }
    config.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="enclave-fixture-admin-") as admin:
        pack = _make_pack(Path(admin), config)
        recovery_pub, recovery_key = history.generate_recovery_keypair(Path(admin) / "recovery")
        shutil.copyfile(recovery_pub, config / history.RECOVERY_PUB_NAME)
        shutil.copyfile(recovery_key, out / history.RECOVERY_KEY_NAME)
    save_settings(AppSettings(**SETTINGS))
    _make_history_and_audit()
    expected = _read_back(pack)
    leftovers = sorted(str(p.relative_to(out)) for p in out.rglob("*-wal"))
    leftovers += sorted(str(p.relative_to(out)) for p in out.rglob("*-shm"))
    if leftovers:
        raise RuntimeError(f"open database journals left behind: {leftovers}")
    entries = dict(json.loads(keyring_file.read_text()))
    _copy_into_cryptfile(entries, data)
    expected.update(
        release=release,
        made=datetime.now(UTC).isoformat(timespec="seconds"),
        keyring_entries=sorted(entries),
        cryptfile_passphrase=CRYPTFILE_PASSPHRASE,
    )
    (out / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", type=Path, help="an empty folder, e.g. tests/data/upgrade/<id>")
    expected = make(parser.parse_args().out)
    print(
        f"release {expected['release']['version']} ({expected['release']['commit'][:7]}): "
        f"{len(expected['conversations'])} conversations, {expected['audit']['records']} audit "
        f"records, pack {expected['pack']['id']} v{expected['pack']['version']}"
    )


if __name__ == "__main__":
    main()
