"""A small real pack: three audiences with canary strings, built once per test module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from desktop.engine.packs.build import build_pack
from desktop.engine.packs.workspace import Workspace
from desktop.engine.runtime.embedder import Embedder

HANDBOOK = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "18f-handbook"
CANARIES = {"everyone": "CANARY-EVERYONE-41", "staff": "CANARY-STAFF-77", "hr": "CANARY-HR-93"}
AUDIENCES = """\
default = "everyone"

[[rule]]
glob = "staff/**"
audience = "staff"

[[rule]]
glob = "hr/**"
audience = "hr"

[roles]
guest = ["everyone"]
employee = ["everyone", "staff"]
hr = ["everyone", "staff", "hr"]
"""


def write_source(root: Path) -> Path:
    docs = {
        "welcome.md": "---\ntitle: Welcome\n---\n# Welcome\nThe office opens at nine. "
        f"Code word {CANARIES['everyone']}.\n",
        "staff/leave.md": "---\ntitle: Leave policy\n---\n# Annual leave\nStaff get 26 days of "
        f"annual leave. Code word {CANARIES['staff']}.\n",
        "hr/salaries.md": "---\ntitle: Salary bands\n---\n# Salary bands\nSalary bands for "
        f"engineers are confidential. Code word {CANARIES['hr']}.\n",
    }
    for name, text in docs.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    shutil.copyfile(
        HANDBOOK / "travel-and-leave" / "leave.md", root / "staff" / "handbook-leave.md"
    )
    return root


@pytest.fixture(scope="session")
def embedder(embedding_entry):
    instance = Embedder(embedding_entry)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def admin_workspace(tmp_path_factory, embedder) -> Workspace:
    root = tmp_path_factory.mktemp("admin")
    workspace = Workspace(root / "ws")
    workspace.init(AUDIENCES)
    source = write_source(root / "source")
    for version in (1, 2):
        for _item in build_pack(
            source,
            workspace.packs_dir,
            pack_id="handbook",
            title="Handbook",
            version=version,
            audience_map=workspace.audience_map(),
            embedder=embedder,
            admin_key=workspace.signing_key(),
        ):
            pass
    return workspace


def trust_every_pack(workspace: Workspace, monkeypatch: pytest.MonkeyPatch, config: Path) -> Path:
    """`workspace`'s key trusted for every pack id, as `enclave admin trust-file --packs '*'`
    writes it, in the system configuration folder `config`."""
    from desktop.engine.packs.signing import load_public_key
    from desktop.engine.packs.trust import trust_file_text

    (config / "trusted-keys").mkdir(parents=True)
    key = load_public_key(workspace.public_key_path.read_text())
    (config / "trusted-keys" / "admin.toml").write_text(trust_file_text(key, ["*"]))
    monkeypatch.setenv("ENCLAVE_CONFIG_DIR", str(config))
    return config


@pytest.fixture
def trust_admin(admin_workspace, monkeypatch, tmp_path) -> Path:
    """The organisation's key trusted for every pack id (tests/packs/test_trust_scope.py checks
    narrower scopes)."""
    return trust_every_pack(admin_workspace, monkeypatch, tmp_path / "config")


def request_for(user: str) -> dict:
    from desktop.engine.packs import grants

    return grants.enrolment_request(user=user, machine="test-machine")


def dump(document: dict, path: Path) -> Path:
    path.write_text(json.dumps(document))
    return path
