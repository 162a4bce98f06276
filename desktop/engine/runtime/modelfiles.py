"""Check a model file before llama.cpp touches it: present, GGUF, complete, and the pinned sha256.

llama.cpp on a truncated or foreign file fails with a bare `ValueError` (or worse); we decide first,
from the catalog, and say what is wrong. A sha256 verdict is cached next to the file keyed by size and
mtime, so a start after a verified setup costs no rehash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from desktop.engine.core.errors import ModelInvalid, ModelMissing
from desktop.engine.runtime.catalog import ModelEntry

GGUF_MAGIC = b"GGUF"
_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileStatus:
    entry: ModelEntry
    present: bool
    verified: bool
    problem: str = ""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def read_gguf_version(path: Path) -> int:
    """Return the GGUF format version, or raise ValueError when the header is not GGUF."""
    with path.open("rb") as handle:
        header = handle.read(8)
    if len(header) < 8 or header[:4] != GGUF_MAGIC:
        raise ValueError("not a GGUF file (bad magic bytes)")
    (version,) = struct.unpack("<I", header[4:8])
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    return int(version)


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _stamp_key(path: Path, sha256: str) -> dict[str, object]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}


def verify(entry: ModelEntry, path: Path | None = None, *, use_cache: bool = True) -> Path:
    """Return the model's path once it is proven to be the catalog's file; raise otherwise."""
    path = path or entry.path
    if not path.is_file():
        raise ModelMissing(entry.id, path)
    try:
        read_gguf_version(path)
    except ValueError as exc:
        raise ModelInvalid(entry.id, path, str(exc)) from None
    actual_size = path.stat().st_size
    if entry.size and actual_size != entry.size:
        kind = "truncated" if actual_size < entry.size else "larger than expected"
        raise ModelInvalid(
            entry.id, path, f"{kind}: {actual_size} bytes, the catalog says {entry.size}"
        )
    stamp = _stamp_path(path)
    if use_cache and stamp.exists():
        try:
            if json.loads(stamp.read_text()) == _stamp_key(path, entry.sha256):
                return path
        except (OSError, ValueError):
            pass
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ModelInvalid(
            entry.id, path, f"sha256 is {actual[:16]}..., the catalog pins {entry.sha256[:16]}..."
        )
    with contextlib.suppress(OSError):  # a read-only models folder works; we rehash next time
        stamp.write_text(json.dumps(_stamp_key(path, entry.sha256)))
    return path


def status(entry: ModelEntry) -> FileStatus:
    try:
        verify(entry)
    except ModelMissing:
        return FileStatus(entry, present=False, verified=False, problem="not installed")
    except ModelInvalid as exc:
        return FileStatus(entry, present=True, verified=False, problem=exc.reason)
    return FileStatus(entry, present=True, verified=True)
