"""A built pack, installed for evaluation the way a user receives it, without touching this
computer's own profiles or trust settings.

Before a pack is released nobody has it installed. `staged_pack` makes a throwaway installation
in a temporary folder: its own data folder, its own trust folder (the workspace's public key,
trusted for this pack id only), and one local profile per role (`eval-<random>-<role>`),
enrolled, granted exactly the audiences the workspace's audience map gives that role, and
holding the pack installed through the normal verified install. The folder is deleted on exit;
the models folder stays the real one.

The profiles' keys go to the keyring this machine is configured with (a throwaway one would have
to be an unvetted backend, and the encrypted file keyring costs seconds per key): their entries
are under their own `enclave:eval-...` services and are deleted on exit. An evaluation killed
outright can leave those few entries behind; they open nothing once the folder is gone.
"""

from __future__ import annotations

import os
import re
import secrets as pysecrets
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keyring.errors

from desktop.engine.audit.store import AuditStore
from desktop.engine.core import paths
from desktop.engine.evaluation.errors import EvaluationError
from desktop.engine.packs import grants, install, trust
from desktop.engine.packs.archive import ARCHIVE_SUFFIX
from desktop.engine.packs.build import load_keys_file
from desktop.engine.packs.local_state import MIRROR_NAME, LocalState
from desktop.engine.packs.signing import load_public_key
from desktop.engine.packs.workspace import Workspace
from desktop.engine.storage import secrets
from desktop.engine.storage.conversations import ConversationStore


@dataclass(frozen=True)
class StagedRole:
    role: str
    profile: str  # the throwaway profile that asks as this role
    readable: frozenset[str]  # the audiences the audience map gives the role


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# Every keyring entry a profile's enrolment, grants, pack state, history or audit log makes.
KEY_NAMES = (
    grants.USER_KEY_NAME,
    grants.USER_SIGNING_KEY_NAME,
    LocalState.key_name,
    MIRROR_NAME,
    ConversationStore.key_name,
    AuditStore.key_name,
)


def profile_for(role: str, run: str) -> str:
    """A valid, unique local profile name for a role (lowercase letters, digits, dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", role.lower()).strip("-")[:24] or "role"
    return f"eval-{run}-{slug}"


def _forget_keys(profiles: list[str]) -> None:
    """Delete the staged profiles' keyring entries (best effort: absent ones are skipped)."""
    if os.environ.get("ENCLAVE_KEYRING", "").lower() == "cryptfile":
        return  # the file keyrings are in the staged profiles' folders, deleted with them
    backend = secrets.backend()
    for profile in profiles:
        for name in KEY_NAMES:
            try:
                backend.delete_password(f"{secrets.SERVICE}:{profile}", name)
            except keyring.errors.KeyringError:
                continue


def _pack_parts(pack: Path) -> tuple[str, int, Path]:
    """The pack id, version and keys file of a built pack (its folder or its archive, in the
    workspace's packs folder, where the build left the keys file beside it)."""
    name = pack.name.removesuffix(ARCHIVE_SUFFIX)
    pack_id, _, version = name.rpartition("-v")
    if not pack_id or not version.isdigit():
        raise EvaluationError(
            f"{pack} is not a built pack (expected PACK-vN or PACK-vN{ARCHIVE_SUFFIX}).",
            "Give the folder or archive that `enclave admin build` wrote.",
        )
    keys_file = pack.parent / f"{name}.keys.json"
    if not keys_file.is_file():
        raise EvaluationError(
            f"No keys file {keys_file} beside the pack.",
            "Evaluate the pack in the workspace's packs folder where it was built.",
        )
    return pack_id, int(version), keys_file


@contextmanager
def staged_pack(
    pack: Path, workspace: Workspace, roles: Sequence[str]
) -> Iterator[list[StagedRole]]:
    """Install `pack` for each of `roles` in a throwaway installation (see the module docstring);
    inside the block, `paths.profile_scope(staged.profile)` asks as that role."""
    pack_id, version, keys_file = _pack_parts(pack)
    key_pack, key_version, keys = load_keys_file(keys_file)
    if (key_pack, key_version) != (pack_id, version):
        raise EvaluationError(f"{keys_file} holds the keys of {key_pack} v{key_version}.")
    audience_map = workspace.audience_map()
    admin_key = workspace.signing_key()
    public_key = load_public_key(workspace.public_key_path.read_text(encoding="ascii"))
    models = str(paths.models_dir())
    with tempfile.TemporaryDirectory(prefix="enclave-eval-stage-") as tmp:
        root = Path(tmp)
        environment = {
            "ENCLAVE_DATA_DIR": str(root / "data"),
            "ENCLAVE_MODELS_DIR": models,
            paths.CONFIG_OVERRIDE_ENV: str(root / "config"),
        }
        run = pysecrets.token_hex(3)
        made: list[str] = []
        with _environment(environment):
            try:
                trusted = paths.ensure_dir(trust.trusted_keys_dir())
                (trusted / "evaluation.toml").write_text(
                    trust.trust_file_text(public_key, [pack_id], comment="evaluation only"),
                    encoding="utf-8",
                )
                staged = []
                for role in roles:
                    readable = frozenset(audience_map.audiences_for([role]))
                    profile = profile_for(role, run)
                    made.append(profile)
                    with paths.profile_scope(profile):
                        request = grants.enrolment_request(user=profile, machine="evaluation")
                        document = grants.issue_grant(
                            request,
                            pack_id=pack_id,
                            pack_version=version,
                            roles=[role],
                            audience_keys={a: k for a, k in keys.items() if a in readable},
                            expires=datetime.now(UTC) + timedelta(days=1),
                            admin_key=admin_key,
                        )
                        grant_file = root / f"{profile}-grant.json"
                        grant_file.write_text(grants.dumps(document), encoding="utf-8")
                        install.import_grant(grant_file)
                        install.install(pack)
                    staged.append(StagedRole(role, profile, readable))
                yield staged
            finally:
                _forget_keys(made)
