"""Administrator side: build a signed pack from a source folder and an audience map.

Each document gets exactly one audience from the map (first matching glob, else the default). Each
audience becomes one shard encrypted with a fresh random key, so a new version revokes every old
grant. The output is the signed folder, its single-file archive, and a keys file that only the
administrator keeps (grants are made from it).

A new version is built incrementally from the previous one (`plan_build`): each audience's shard
starts from the previous shard, re-keyed, so only new and changed documents are parsed and
embedded; removed ones are dropped, and a document whose audience changed leaves its old shard and
enters the new one. The keys are still fresh and the manifest complete; it also records what
changed (`changes`: counts per audience, see `changes.py`). A build falls back to a full one, and
says why, when the previous version, its keys or its shards are missing or unreadable, or it was
built with another embedding model, chunking or document rules.

A build stopped before it was signed (killed, power cut) resumes when run again: what its shards
had embedded is reused (`resume.py`).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets as pysecrets
import shutil
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from desktop.engine.core.errors import EngineError
from desktop.engine.knowledge import parsers
from desktop.engine.knowledge.builder import BuildOptions, EmbedderLike, Progress, model_identity
from desktop.engine.knowledge.store import MIGRATIONS
from desktop.engine.packs.archive import ARCHIVE_SUFFIX, verify_folder, write_archive
from desktop.engine.packs.changes import ChangeSummary, DocumentChanges
from desktop.engine.packs.errors import AdminError
from desktop.engine.packs.freshness import newest_document_date
from desktop.engine.packs.manifest import Manifest, format_time, is_safe_name
from desktop.engine.packs.publish import sign_folder
from desktop.engine.packs.resume import (
    PARTIAL_DIR,
    PartialShard,
    save_resume_file,
    take_partial_shards,
)
from desktop.engine.packs.shards import (
    RULES_META,
    PreviousShard,
    build_shard,
    read_previous,
    rules_text,
)
from desktop.engine.packs.signing import key_id


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
    changes: ChangeSummary | None = None  # against the previous version, when there was one


@dataclass(frozen=True)
class Baseline:
    """The previous version of a pack, opened with its keys: what a build compares with."""

    version: int
    folder: Path
    manifest: Manifest
    keys: dict[str, bytes]
    documents: dict[str, dict[str, str]]  # audience -> path -> sha256 of its live documents


@dataclass(frozen=True)
class BuildPlan:
    """How a version is built: from the previous one (`incremental`) or from scratch, and why."""

    baseline: Baseline | None  # what the changes are counted against; None: nothing to compare
    incremental: bool
    reason: str  # one line for the administrator

    @classmethod
    def full_build(cls, reason: str, baseline: Baseline | None = None) -> BuildPlan:
        return cls(baseline, False, f"full build: {reason}")


def plan_build(
    out_dir: Path,
    *,
    pack_id: str,
    version: int,
    embedder: EmbedderLike,
    admin_key: Ed25519PrivateKey,
    options: BuildOptions | None = None,
    full: bool = False,
) -> BuildPlan:
    """Decide whether version `version` can be built from the newest older version in `out_dir`.

    The previous folder must still verify against the admin key (exactly what was signed), its
    keys file must open every shard, and it must have been built with this embedding model,
    chunking and `documents.*` rules; otherwise the build is full, with the reason."""
    options = options or BuildOptions()
    names = [p.name for p in out_dir.iterdir() if p.is_dir()] if out_dir.is_dir() else []
    built = (re.fullmatch(rf"{re.escape(pack_id)}-v([0-9]+)", name) for name in names)
    older = sorted((int(m[1]) for m in built if m and int(m[1]) < version), reverse=True)
    if not older:
        return BuildPlan.full_build("no previous version in the workspace")
    previous = older[0]
    folder = out_dir / f"{pack_id}-v{previous}"
    keys_file = out_dir / f"{pack_id}-v{previous}.keys.json"
    if not keys_file.exists():
        return BuildPlan.full_build(f"the keys file of v{previous} ({keys_file.name}) is missing")
    public = admin_key.public_key()
    try:
        manifest = verify_folder(folder, {key_id(public): public})
        _, _, keys = load_keys_file(keys_file)
        documents: dict[str, dict[str, str]] = {}
        meta: dict[str, dict[str, str | None]] = {}
        for audience, info in manifest.audiences.items():
            if audience not in keys:
                return BuildPlan.full_build(f"the keys file of v{previous} lacks '{audience}'")
            shard = PreviousShard(folder / str(info["shard"]), keys[audience])
            documents[audience], meta[audience] = read_previous(shard)
    except EngineError as exc:
        return BuildPlan.full_build(f"v{previous} cannot be read ({exc.message})")
    baseline = Baseline(previous, folder, manifest, keys, documents)
    if full:
        return BuildPlan.full_build("--full was asked for", baseline)
    identity = model_identity(embedder)
    if manifest.embedding.get("sha256") != identity["sha256"]:
        return BuildPlan.full_build(
            f"v{previous} was embedded with {manifest.embedding.get('id')}, this build uses "
            f"{identity['id']}",
            baseline,
        )
    chunking = str(asdict(options.chunking))
    rules = rules_text(options.document_rules)
    for audience, recorded in sorted(meta.items()):
        if recorded.get("chunking") not in (None, chunking):
            return BuildPlan.full_build(f"v{previous} was chunked differently", baseline)
        if recorded.get(RULES_META) is None and documents[audience]:
            return BuildPlan.full_build(
                f"v{previous} does not record the documents.* rules it was screened with "
                "(built before incremental builds)",
                baseline,
            )
        if recorded.get(RULES_META) not in (None, rules):
            return BuildPlan.full_build(
                f"the documents.* rules differ from v{previous}'s (every chunk is screened again)",
                baseline,
            )
    return BuildPlan(baseline, True, f"incremental from v{previous}")


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
    plan: BuildPlan | None = None,
) -> Iterator[Progress | BuiltPack]:
    """Build, sign and archive a pack; yields build progress, then the `BuiltPack`. With a `plan`
    (`plan_build`), build from the previous version when it says so and record the changes."""
    if not is_safe_name(pack_id):
        raise AdminError(f"Pack id '{pack_id}' must be letters, digits, . _ -")
    if not source.is_dir():
        raise AdminError(f"{source} is not a folder.")
    folder = out_dir / f"{pack_id}-v{version}"
    # The build's working folder: its resume file (keys), the shards' working files, and the
    # shards a stopped build of this version left (`packs.resume`).
    staging = out_dir / f".{pack_id}-v{version}.building"
    identity = model_identity(embedder)
    partial: dict[str, PartialShard] = {}
    if folder.exists() and not (folder / "manifest.json").exists():
        # A build of this version that was stopped (killed, power cut) before it was signed: the
        # vectors its shards cached are reused when its resume file says which keys open them
        # and the embedding model is the same (`packs.resume`); the rest starts again.
        partial = take_partial_shards(folder, staging, identity) if staging.is_dir() else {}
        shutil.rmtree(folder)
        yield Progress(
            "note",
            reason=f"{folder.name} was left by a build that stopped before it was signed: "
            + (
                f"resuming, with what its {len(partial)} shard(s) had embedded"
                if partial
                else "removed, building it again from the start"
            ),
        )
    if folder.exists():
        raise AdminError(f"{folder} already exists; pack versions are built once.")
    if staging.is_dir():  # a stopped build's working files: only its shards are reused
        for child in staging.iterdir():
            if child.name == PARTIAL_DIR and partial:
                continue  # (and ".new" of a move that was cut off is removed)
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    staging.mkdir(parents=True, mode=0o700, exist_ok=True)
    by_audience: dict[str, list[tuple[str, Path]]] = {a: [] for a in audience_map.audiences}
    for path in parsers.iter_source_files(source):
        relative = path.relative_to(source).as_posix()
        by_audience[audience_map.audience_of(relative)].append((relative, path))
    keys = {audience: pysecrets.token_bytes(32) for audience in by_audience}
    save_resume_file(staging, keys, identity, partial)  # so that a stopped build can resume
    report: dict[str, dict[str, int]] = {}
    audiences: dict[str, dict[str, Any]] = {}
    changes: dict[str, DocumentChanges] = {}
    guard_counts: Counter[str] = Counter()  # "rule:action" -> chunks, over every audience
    baseline = plan.baseline if plan else None
    for audience, files in sorted(by_audience.items()):
        counts: Counter[str] = Counter()
        shard = f"shards/{audience}.db"
        (folder / "shards").mkdir(parents=True, exist_ok=True)
        previous: PreviousShard | None = None
        if plan and plan.incremental and baseline and audience in baseline.manifest.audiences:
            previous = PreviousShard(
                baseline.folder / str(baseline.manifest.audiences[audience]["shard"]),
                baseline.keys[audience],
            )
        stream = build_shard(
            files,
            folder / shard,
            keys[audience],
            embedder,
            options,
            previous=previous,
            compare_with=baseline.documents.get(audience, {}) if baseline else None,
            staging=staging,
            resume=partial.get(audience),
        )
        for progress in stream:
            if isinstance(progress, DocumentChanges):
                changes[audience] = progress
                continue
            if progress.kind == "file":
                counts[progress.status] += 1
                counts["chunks"] += progress.chunks
                for flag in progress.flags:  # counts only: the names stay in the shard's report
                    counts["quarantined" if flag.action == "block" else "flagged"] += 1
                    guard_counts[f"{flag.rule}:{flag.action}"] += 1
            yield progress
        done = changes[audience]
        report[audience] = dict(counts)
        audiences[audience] = {
            "shard": shard,
            "documents": len(done.added) + len(done.changed) + len(done.unchanged),
            "chunks": counts["chunks"],
        }
    summary: ChangeSummary | None = None
    if baseline is not None:
        for gone in sorted(set(baseline.documents) - set(by_audience)):  # audience dropped
            changes[gone] = DocumentChanges(removed=tuple(sorted(baseline.documents[gone])))
        summary = ChangeSummary(
            baseline.version,
            bool(plan and plan.incremental),
            {a: c.counts() for a, c in changes.items()},
        )
    now = datetime.now(UTC)
    fields = {
        "pack_id": pack_id,
        "title": title,
        "license": license or "unspecified",
        "version": version,
        "created": format_time(now),
        "expires": format_time(now + timedelta(days=valid_days)),
        "knowledge_as_of": (
            knowledge_as_of or newest_document_date(folder, audiences, keys) or now.date()
        ).isoformat(),
        "embedding": {
            "id": identity["id"],
            "sha256": identity["sha256"],
            "dimension": identity["dimension"],
        },
        "audiences": audiences,
        # What the shards' schema needs: an older Enclave refuses the pack at install, before it
        # replaces a version it can read (`install._check_installable`).
        "shard_schema": [name for name, _ in MIGRATIONS],
        "ingest": {  # the whole pack, as a full build counts it: an unchanged file is indexed
            "indexed": sum(r.get("indexed", 0) + r.get("unchanged", 0) for r in report.values()),
            **{
                status: sum(r.get(status, 0) for r in report.values())
                for status in ("skipped", "failed", "quarantined", "flagged")
            },
            "guard": dict(sorted(guard_counts.items())),  # `documents.*` findings, by rule
        },
        **({"changes": summary.fields()} if summary else {}),
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
    shutil.rmtree(staging, ignore_errors=True)
    yield BuiltPack(folder, archive, keys_file, report, summary)


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
