"""The pack manifest: what is signed, and the checks that need no file content.

Only counts and hashes are in the manifest; document titles and paths live inside the encrypted
shards, so the manifest of a pack reveals nothing about restricted documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from desktop.engine.packs.errors import PackRejected

PACK_TYPE = "enclave-pack"
SPEC_VERSION = 1
MANIFEST_NAME = "manifest.json"
_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
EXPIRY_WARNING = timedelta(days=14)


@dataclass(frozen=True)
class FileEntry:
    path: str
    length: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    raw: dict[str, Any]

    @property
    def pack_id(self) -> str:
        return str(self.raw["pack_id"])

    @property
    def version(self) -> int:
        return int(self.raw["version"])

    @property
    def title(self) -> str:
        return str(self.raw.get("title", self.pack_id))

    @property
    def expires(self) -> datetime:
        return parse_time(self.raw["expires"])

    @property
    def created(self) -> datetime:
        return parse_time(self.raw["created"])

    @property
    def knowledge_as_of(self) -> str:
        return str(self.raw["knowledge_as_of"])

    @property
    def audiences(self) -> dict[str, dict[str, Any]]:
        return dict(self.raw["audiences"])

    @property
    def embedding(self) -> dict[str, Any]:
        return dict(self.raw["embedding"])

    @property
    def files(self) -> list[FileEntry]:
        return [FileEntry(f["path"], int(f["length"]), str(f["sha256"])) for f in self.raw["files"]]

    def expiry_state(self, now: datetime | None = None) -> str:
        """'ok', 'expiring' (within two weeks) or 'expired'."""
        now = now or datetime.now(UTC)
        if now >= self.expires:
            return "expired"
        return "expiring" if now >= self.expires - EXPIRY_WARNING else "ok"


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def is_safe_name(name: str) -> bool:
    """A pack id, audience or path part: letters, digits, dot, dash, underscore; no leading dot."""
    return bool(_SAFE_PART.match(name))


def safe_relative_path(path: str) -> bool:
    """A plain relative path of safe parts: no `..`, no absolute path, no backslashes, no dotfiles."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(_SAFE_PART.match(part) for part in path.split("/"))


def validate(signed: dict[str, Any]) -> Manifest:
    """Check the signed fields' shape; the caller has already verified the signature."""
    try:
        if signed.get("type") != PACK_TYPE or signed.get("spec_version") != SPEC_VERSION:
            raise PackRejected("this is not an Enclave pack of a version this app reads")
        manifest = Manifest(signed)
        if not _SAFE_PART.match(manifest.pack_id):
            raise PackRejected("the pack id has unsafe characters")
        if manifest.version < 1:
            raise PackRejected("the pack version must be a positive integer")
        manifest.expires, manifest.created  # noqa: B018 - parse both
        seen: set[str] = set()
        for entry in manifest.files:
            if not safe_relative_path(entry.path) or entry.path == MANIFEST_NAME:
                raise PackRejected(f"the manifest lists an unsafe path '{entry.path}'")
            if entry.path in seen:
                raise PackRejected(f"the manifest lists '{entry.path}' twice")
            if entry.length < 0 or not re.fullmatch(r"[0-9a-f]{64}", entry.sha256):
                raise PackRejected(f"the manifest entry for '{entry.path}' is malformed")
            seen.add(entry.path)
        for name, audience in manifest.audiences.items():
            if not _SAFE_PART.match(name) or audience.get("shard") not in seen:
                raise PackRejected(f"audience '{name}' has no shard file in the manifest")
    except (KeyError, TypeError, ValueError) as exc:
        raise PackRejected(f"the manifest is malformed ({type(exc).__name__}: {exc})") from None
    return manifest
