"""The administrator's workspace: signing key, audience map, enrolled users, built packs, grants.

<workspace>/admin.key, admin.pub     Ed25519 signing key pair (install admin.pub on machines)
<workspace>/audiences.toml           audience rules and roles
<workspace>/users.json               enrolled users: roles and enrolment request
<workspace>/packs/                   built packs: folder, .enclavepack, .keys.json (secret)
<workspace>/grants/                  issued grants, one file per user and pack version
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.engine.packs import grants
from desktop.engine.packs.build import AudienceMap, load_keys_file
from desktop.engine.packs.errors import AdminError
from desktop.engine.packs.signing import generate_signing_key, load_private_key

AUDIENCES_TEMPLATE = """\
# Every document belongs to exactly one audience: the first matching glob (relative to the source
# folder), else `default`. Roles grant sets of audiences.
default = "everyone"

# [[rule]]
# glob = "hr/**"
# audience = "hr"

[roles]
employee = ["everyone"]
"""


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def signing_key_path(self) -> Path:
        return self.root / "admin.key"

    @property
    def public_key_path(self) -> Path:
        return self.root / "admin.pub"

    @property
    def audiences_path(self) -> Path:
        return self.root / "audiences.toml"

    @property
    def packs_dir(self) -> Path:
        return self.root / "packs"

    @property
    def grants_dir(self) -> Path:
        return self.root / "grants"

    def init(self, audiences_toml: str | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.signing_key_path.exists():
            generate_signing_key(self.root, "admin")
        if not self.audiences_path.exists():
            self.audiences_path.write_text(audiences_toml or AUDIENCES_TEMPLATE, encoding="utf-8")
        for folder in (self.packs_dir, self.grants_dir):
            folder.mkdir(exist_ok=True)

    def signing_key(self) -> Ed25519PrivateKey:
        if not self.signing_key_path.exists():
            raise AdminError(
                f"{self.root} is not an admin workspace.", "Create one with `enclave admin init`."
            )
        return load_private_key(self.signing_key_path)

    def audience_map(self) -> AudienceMap:
        return AudienceMap.load(self.audiences_path)

    # -- users -----------------------------------------------------------------------------------
    def users(self) -> dict[str, Any]:
        path = self.root / "users.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def _save_users(self, users: dict[str, Any]) -> None:
        path = self.root / "users.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(users, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def enrol(self, request: dict[str, Any], roles: list[str]) -> str:
        grants.check_request(request)
        self.audience_map().audiences_for(roles)  # unknown roles are refused
        users = self.users()
        users[request["user"]] = {"roles": sorted(roles), "request": request}
        self._save_users(users)
        return str(request["user"])

    def revoke(self, user: str) -> None:
        """Remove a user; the next pack version (fresh keys) will be unreadable to them."""
        users = self.users()
        if user not in users:
            raise AdminError(f"No enrolled user '{user}'.")
        del users[user]
        self._save_users(users)

    # -- packs and grants ----------------------------------------------------------------------------
    def latest_version(self, pack_id: str) -> int:
        grants.check_pack_id(pack_id)  # it is globbed: `..` or `*` would reach other files
        versions = [
            int(p.name.rsplit("-v", 1)[1].split(".")[0])
            for p in self.packs_dir.glob(f"{pack_id}-v*.keys.json")
        ]
        return max(versions, default=0)

    def grant(self, user: str, pack_id: str, valid_days: int = 180) -> Path:
        # Both become the grant's file name: `../` in either would write outside grants/.
        grants.check_user_name(user)
        grants.check_pack_id(pack_id)
        users = self.users()
        if user not in users:
            raise AdminError(
                f"No enrolled user '{user}'.", "Enrol them with `enclave admin enrol`."
            )
        version = self.latest_version(pack_id)
        if version == 0:
            raise AdminError(f"No built pack '{pack_id}' in {self.packs_dir}.")
        _, _, keys = load_keys_file(self.packs_dir / f"{pack_id}-v{version}.keys.json")
        roles = users[user]["roles"]
        allowed = self.audience_map().audiences_for(roles)
        document = grants.issue_grant(
            users[user]["request"],
            pack_id=pack_id,
            pack_version=version,
            roles=roles,
            audience_keys={a: k for a, k in keys.items() if a in allowed},
            expires=datetime.now(UTC) + timedelta(days=valid_days),
            admin_key=self.signing_key(),
        )
        self.grants_dir.mkdir(exist_ok=True)
        target = self.grants_dir / f"{user}-{pack_id}-v{version}.json"
        target.write_text(grants.dumps(document), encoding="utf-8")
        return target
