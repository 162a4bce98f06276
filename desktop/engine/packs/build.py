"""Administrator side: build a signed pack from a source folder and an audience map.

Each document gets exactly one audience from the map (first matching glob, else the default). Each
audience becomes one shard encrypted with a fresh random key, so a new version revokes every old
grant. The output is the signed folder, its single-file archive, and a keys file that only the
administrator keeps (grants are made from it).
"""

from __future__ import annotations

import fnmatch
import json
import os
import secrets as pysecrets
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.engine.knowledge import parsers
from desktop.engine.knowledge.builder import BuildOptions, EmbedderLike, Progress, model_identity
from desktop.engine.packs.archive import ARCHIVE_SUFFIX, write_archive
from desktop.engine.packs.errors import AdminError
from desktop.engine.packs.manifest import format_time, is_safe_name
from desktop.engine.packs.publish import sign_folder
from desktop.engine.packs.shards import build_shard


@dataclass(frozen=True)
class AudienceMap:
    """Which audience each document belongs to, and which audiences each role grants."""

    default: str
    rules: tuple[tuple[str, str], ...] = ()
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> AudienceMap:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            mapping = cls(
                default=str(data["default"]),
                rules=tuple((str(r["glob"]), str(r["audience"])) for r in data.get("rule", [])),
                roles={str(k): tuple(v) for k, v in data.get("roles", {}).items()},
            )
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise AdminError(f"The audience map {path} is invalid: {exc}.") from None
        for name in mapping.audiences | {a for v in mapping.roles.values() for a in v}:
            if not is_safe_name(name):
                raise AdminError(f"Audience name '{name}' must be letters, digits, . _ -")
        return mapping

    @property
    def audiences(self) -> set[str]:
        return {self.default, *(audience for _, audience in self.rules)}

    def audience_of(self, relative: str) -> str:
        for pattern, audience in self.rules:
            if fnmatch.fnmatch(relative, pattern):
                return audience
        return self.default

    def audiences_for(self, roles: list[str]) -> set[str]:
        unknown = [r for r in roles if r not in self.roles]
        if unknown:
            raise AdminError(
                f"Unknown role(s): {', '.join(unknown)}; known: {', '.join(self.roles)}"
            )
        return {a for r in roles for a in self.roles[r]}


@dataclass(frozen=True)
class BuiltPack:
    folder: Path
    archive: Path
    keys_file: Path
    report: dict[str, dict[str, int]]


def build_pack(
    source: Path,
    out_dir: Path,
    *,
    pack_id: str,
    title: str,
    version: int,
    audience_map: AudienceMap,
    embedder: EmbedderLike,
    admin_key: Ed25519PrivateKey,
    knowledge_as_of: date | None = None,
    valid_days: int = 180,
    options: BuildOptions | None = None,
    license: str = "",
) -> Iterator[Progress | BuiltPack]:
    """Build, sign and archive a pack; yields build progress, then the `BuiltPack`."""
    if not is_safe_name(pack_id):
        raise AdminError(f"Pack id '{pack_id}' must be letters, digits, . _ -")
    if not source.is_dir():
        raise AdminError(f"{source} is not a folder.")
    folder = out_dir / f"{pack_id}-v{version}"
    if folder.exists():
        raise AdminError(f"{folder} already exists; pack versions are built once.")
    by_audience: dict[str, list[tuple[str, Path]]] = {a: [] for a in audience_map.audiences}
    for path in parsers.iter_source_files(source):
        relative = path.relative_to(source).as_posix()
        by_audience[audience_map.audience_of(relative)].append((relative, path))
    keys = {audience: pysecrets.token_bytes(32) for audience in by_audience}
    report: dict[str, dict[str, int]] = {}
    audiences: dict[str, dict[str, Any]] = {}
    guard_counts: Counter[str] = Counter()  # "rule:action" -> chunks, over every audience
    for audience, files in sorted(by_audience.items()):
        counts: Counter[str] = Counter()
        shard = f"shards/{audience}.db"
        (folder / "shards").mkdir(parents=True, exist_ok=True)
        for progress in build_shard(files, folder / shard, keys[audience], embedder, options):
            if progress.kind == "file":
                counts[progress.status] += 1
                counts["chunks"] += progress.chunks
                for flag in progress.flags:  # counts only: the names stay in the shard's report
                    counts["quarantined" if flag.action == "block" else "flagged"] += 1
                    guard_counts[f"{flag.rule}:{flag.action}"] += 1
            yield progress
        report[audience] = dict(counts)
        audiences[audience] = {
            "shard": shard,
            "documents": counts["indexed"] + counts["unchanged"],
            "chunks": counts["chunks"],
        }
    now = datetime.now(UTC)
    identity = model_identity(embedder)
    fields = {
        "pack_id": pack_id,
        "title": title,
        "license": license or "unspecified",
        "version": version,
        "created": format_time(now),
        "expires": format_time(now + timedelta(days=valid_days)),
        "knowledge_as_of": (knowledge_as_of or now.date()).isoformat(),
        "embedding": {
            "id": identity["id"],
            "sha256": identity["sha256"],
            "dimension": identity["dimension"],
        },
        "audiences": audiences,
        "ingest": {
            **{
                status: sum(r.get(status, 0) for r in report.values())
                for status in ("indexed", "skipped", "failed", "quarantined", "flagged")
            },
            "guard": dict(sorted(guard_counts.items())),  # `documents.*` findings, by rule
        },
    }
    sign_folder(folder, fields, admin_key)
    archive = write_archive(folder, out_dir / f"{pack_id}-v{version}{ARCHIVE_SUFFIX}")
    keys_file = out_dir / f"{pack_id}-v{version}.keys.json"
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(
            {
                "pack_id": pack_id,
                "version": version,
                "warning": "SECRET: audience keys. Keep with the admin signing key; never ship.",
                "audiences": {a: k.hex() for a, k in sorted(keys.items())},
            },
            handle,
            indent=2,
        )
    yield BuiltPack(folder, archive, keys_file, report)


def sign_evaluation(
    built: BuiltPack, evaluation: dict[str, Any], admin_key: Ed25519PrivateKey
) -> BuiltPack:
    """Add the evaluation summary (`admin build --eval`) to a freshly built pack's signed
    manifest and rewrite its archive; the shards are unchanged."""
    envelope = json.loads((built.folder / "manifest.json").read_text(encoding="utf-8"))
    fields = {
        k: v for k, v in envelope["signed"].items() if k not in ("type", "spec_version", "files")
    }
    sign_folder(built.folder, {**fields, "evaluation": evaluation}, admin_key)
    write_archive(built.folder, built.archive)
    return built


def load_keys_file(path: Path) -> tuple[str, int, dict[str, bytes]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = {name: bytes.fromhex(value) for name, value in data["audiences"].items()}
        return str(data["pack_id"]), int(data["version"]), keys
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdminError(f"{path} is not a pack keys file: {exc}.") from None
