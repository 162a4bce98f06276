"""Check a model file before llama.cpp touches it: present, GGUF, complete, and the pinned sha256.

llama.cpp on a truncated or foreign file fails with a bare `ValueError` (or worse); we decide first,
from the catalog, and say what is wrong. A sha256 verdict is cached next to the file, so a start after
a verified setup costs no rehash. The cache is keyed on what rewriting a file always changes and no
program can set back: device, inode and status-change time (ctime), with size and mtime; `os.utime`
restores an mtime, but the ctime it cannot. A verdict is only cached when the file did not change
while it was hashed and its ctime is clearly older than the hash (so a change in the same clock tick
is not missed). On Windows, ctime is the creation time, which native tools can set: there the cache
stops an accidental change, not a determined local attacker (who could also rewrite the stamp).

`check_gguf` walks a GGUF header with hard bounds (counts, lengths, nesting, tensor extents within
the file) before an administrator's own model is added to the catalog.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.engine.core.errors import ModelInvalid, ModelMissing
from desktop.engine.runtime.catalog import ModelEntry

GGUF_MAGIC = b"GGUF"
_CHUNK = 4 * 1024 * 1024
_STAMP_VERSION = 2
_RACY_NS = 2_000_000_000  # coarser than any file system's ctime tick (FAT's is 2 s)


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


# -- GGUF structure ------------------------------------------------------------------------------

MAX_GGUF_KV = 1 << 16
MAX_GGUF_TENSORS = 1 << 16
MAX_GGUF_DIMS = 4  # GGML_MAX_DIMS
MAX_GGUF_KEY = 1 << 16
MAX_GGUF_STRING = 64 * 1024 * 1024
MAX_GGUF_ARRAY_ITEMS = 1 << 23  # items read one by one (strings, nested arrays); vocabularies ~300K
_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")


class _Header:
    """A bounded reader over a memory-mapped GGUF header: every length is checked against the bytes
    left before anything is read or skipped."""

    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.size = len(data)
        self.pos = 0
        self.items = 0

    def take(self, n: int) -> int:
        """Advance over `n` bytes; the offset they start at."""
        if n > self.size - self.pos:
            raise ValueError("not a GGUF file (truncated: a value runs past the end of the file)")
        start, self.pos = self.pos, self.pos + n
        return start

    def u32(self) -> int:
        return int(_U32.unpack_from(self.data, self.take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack_from(self.data, self.take(8))[0])

    def string(self, longest: int) -> bytes:
        length = self.u64()
        if length > longest:
            raise ValueError(f"not a usable GGUF file (a {length:,}-byte string)")
        start = self.take(length)
        return self.data[start : start + length]

    def value(self, kind: int, depth: int = 0) -> int | None:
        """Step over one value of type `kind`; an unsigned integer's value is returned."""
        if kind in _SCALARS:
            start = self.take(_SCALARS[kind])
            if kind in (4, 10):
                return int.from_bytes(self.data[start : self.pos], "little")
            return None
        if kind == _STRING:
            length = self.u64()
            if length > MAX_GGUF_STRING:
                raise ValueError(f"not a usable GGUF file (a {length:,}-byte string)")
            self.take(length)
            return None
        if kind != _ARRAY or depth > 1:
            raise ValueError(f"not a usable GGUF file (value type {kind})")
        item, count = self.u32(), self.u64()
        width = _SCALARS.get(item, 8)  # a string or an array takes at least its 8-byte length
        if count > (self.size - self.pos) // width:
            raise ValueError("not a GGUF file (an array runs past the end of the file)")
        if item in _SCALARS:
            self.take(count * width)
            return None
        self.items += count
        if self.items > MAX_GGUF_ARRAY_ITEMS:
            raise ValueError("not a usable GGUF file (too many array items)")
        for _ in range(count):
            self.value(item, depth + 1)
        return None


def check_gguf(path: Path) -> int:
    """Walk a GGUF header (metadata and tensor table) within hard bounds; return its version.

    Raises ValueError saying what is wrong: not GGUF, truncated, absurd counts or lengths, unknown
    value or tensor types, tensors whose data would lie outside the file.
    """
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < 24:
            raise ValueError("not a GGUF file (too short)")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            version = _walk(_Header(data), GGML_QUANT_SIZES, GGMLQuantizationType)
    return version


def _walk(header: _Header, sizes: Any, types: Any) -> int:
    if header.data[:4] != GGUF_MAGIC:
        raise ValueError("not a GGUF file (bad magic bytes)")
    header.take(4)
    version = header.u32()
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = header.u64(), header.u64()
    if n_tensors > MAX_GGUF_TENSORS or n_kv > MAX_GGUF_KV:
        raise ValueError(f"not a usable GGUF file ({n_tensors:,} tensors, {n_kv:,} keys)")
    alignment = 32
    for _ in range(n_kv):
        key = header.string(MAX_GGUF_KEY)
        number = header.value(header.u32())
        if key == b"general.alignment" and number is not None:
            alignment = number
    if alignment < 1 or alignment & (alignment - 1) or alignment > 1 << 20:
        raise ValueError(f"not a usable GGUF file (alignment {alignment})")
    extents = []
    for _ in range(n_tensors):
        header.string(256)
        n_dims = header.u32()
        if not 1 <= n_dims <= MAX_GGUF_DIMS:
            raise ValueError(f"not a usable GGUF file (a tensor with {n_dims} dimensions)")
        dims = [header.u64() for _ in range(n_dims)]
        kind, offset = header.u32(), header.u64()
        try:
            block, type_size = sizes[types(kind)]
        except (ValueError, KeyError):
            raise ValueError(f"not a usable GGUF file (tensor type {kind})") from None
        elements = 1
        for dim in dims:
            elements *= dim
        if elements >= 1 << 62 or dims[0] % block or offset % alignment:
            raise ValueError("not a usable GGUF file (a malformed tensor)")
        extents.append((offset, elements // block * type_size))
    data_start = -(-header.pos // alignment) * alignment
    for offset, length in extents:
        if data_start + offset + length > header.size:
            raise ValueError("not a GGUF file (tensor data past the end: truncated?)")
    return version


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _identity(path: Path) -> dict[str, int]:
    """What the cache trusts about a file: rewriting it in place changes ctime, replacing it the
    inode; neither can be set back with `os.utime`."""
    stat = path.stat()
    return {
        "version": _STAMP_VERSION,
        "device": stat.st_dev,
        "inode": stat.st_ino,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
    }


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
            if json.loads(stamp.read_text()) == {**_identity(path), "sha256": entry.sha256}:
                return path
        except (OSError, ValueError):
            pass
    before = _identity(path)
    started = time.time_ns()
    actual = sha256_file(path)
    if actual != entry.sha256:
        raise ModelInvalid(
            entry.id, path, f"sha256 is {actual[:16]}..., the catalog pins {entry.sha256[:16]}..."
        )
    settled = before["ctime_ns"] < started - _RACY_NS  # else a change in the same tick could hide
    if settled and _identity(path) == before:
        with contextlib.suppress(OSError):  # a read-only models folder works; we rehash next time
            stamp.write_text(json.dumps({**before, "sha256": entry.sha256}))
    return path


def status(entry: ModelEntry) -> FileStatus:
    try:
        verify(entry)
    except ModelMissing:
        return FileStatus(entry, present=False, verified=False, problem="not installed")
    except ModelInvalid as exc:
        return FileStatus(entry, present=True, verified=False, problem=exc.reason)
    return FileStatus(entry, present=True, verified=True)
