"""A built pack, installed for evaluation the way a user receives it, without touching this
computer's own profiles, keyring or trust settings.

Before a pack is released nobody has it installed. `staged_pack` makes a throwaway installation
in a temporary folder: its own data folder, its own trust folder (the workspace's public key,
trusted for this pack id only), its own encrypted file keyring with a random passphrase (so no
key reaches the OS keyring), and one local profile per role, enrolled, granted exactly the
audiences the workspace's audience map gives that role, and holding the pack installed through
the normal verified install. Everything is deleted on exit; the models folder stays the real one.
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

from desktop.engine.core import paths
from desktop.engine.evaluation.errors import EvaluationError
from desktop.engine.packs import grants, install, trust
from desktop.engine.packs.archive import ARCHIVE_SUFFIX
from desktop.engine.packs.build import load_keys_file
from desktop.engine.packs.signing import load_public_key
from desktop.engine.packs.workspace import Workspace


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


def profile_for(role: str) -> str:
    """A valid local profile name for a role (profiles are lowercase letters, digits, dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", role.lower()).strip("-")[:30] or "role"
    return f"eval-{slug}"


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
            "ENCLAVE_KEYRING": "cryptfile",
            "ENCLAVE_KEYRING_PASSPHRASE": pysecrets.token_urlsafe(32),
        }
        with _environment(environment):
            trusted = paths.ensure_dir(trust.trusted_keys_dir())
            (trusted / "evaluation.toml").write_text(
                trust.trust_file_text(public_key, [pack_id], comment="evaluation only"),
                encoding="utf-8",
            )
            staged = []
            for role in roles:
                readable = frozenset(audience_map.audiences_for([role]))
                profile = profile_for(role)
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
