"""Attack tests: nothing reads unbounded data before a signature has been checked.

A pack archive is parsed by tarfile before its manifest's signature can be checked, and a grant
file is read whole before its signature is. Before the fix a 4 GiB PAX header took 4 GiB of memory,
a chain of extended headers recursed until Python gave up, a member flood or a GNU sparse map grew
lists without bound, and `enclave grants import /dev/zero` read until memory ran out. The attacks
that used to exhaust memory run in a child process whose address space is capped, so they fail
(instead of swapping the machine) when the bounds are missing.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.engine.core.exit_codes import ExitCode
from desktop.engine.packs.signing import generate_signing_key

REPO = Path(__file__).resolve().parents[2]
CAP_BYTES = 2 * 1024 * 1024 * 1024  # the CLI itself needs about 0.5 GiB of address space
CAPPED_CLI = (
    "import resource, sys\n"
    "resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))\n"
    "from desktop.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_AS and /dev/zero as on Linux"
)


def _capped_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`enclave ARGS` in a child process that cannot map more than CAP_BYTES."""
    return subprocess.run(
        [sys.executable, "-c", CAPPED_CLI, str(CAP_BYTES), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _public_key(tmp_path: Path) -> Path:
    public = tmp_path / "keys" / "admin.pub"
    return public if public.exists() else generate_signing_key(public.parent, "admin")[1]


def _verify(pack: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    code = main(["admin", "verify", str(pack), "--public-key", str(_public_key(tmp_path))])
    return code, capsys.readouterr().err


def _header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)


def _pax(records: dict[str, str]) -> bytes:
    """One PAX extended header block with its records."""
    body = b""
    for key, value in records.items():
        record = f" {key}={value}\n".encode()
        length = len(record) + 1
        while len(str(length)) + len(record) != length:
            length += 1
        body += str(length).encode() + record
    return _header("././@PaxHeader", tarfile.XHDTYPE, len(body)) + _padded(body)


def _member(name: str, data: bytes = b"x") -> bytes:
    return _header(name, tarfile.REGTYPE, len(data)) + _padded(data)


END = b"\0" * (2 * tarfile.BLOCKSIZE)


@linux_only
@pytest.mark.timeout(180)
def test_a_4_gib_pax_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    pack = tmp_path / "evil.enclavepack"
    with pack.open("wb") as out:
        out.write(_header("././@PaxHeader", tarfile.XHDTYPE, 4 << 30))
        out.truncate(tarfile.BLOCKSIZE + (4 << 30) + len(END))  # sparse: no disk, 4 GiB to read
    result = _capped_cli("admin", "verify", str(pack), "--public-key", str(_public_key(tmp_path)))
    assert result.returncode == ExitCode.PACK_REJECTED, result.stderr
    assert "4,294,967,296-byte extended header" in result.stderr


@pytest.mark.timeout(120)
def test_a_chain_of_extended_headers_is_refused(tmp_path: Path, capsys) -> None:
    pack = tmp_path / "chain.enclavepack"
    pack.write_bytes(_pax({"comment": "a"}) * 20_000 + _member("manifest.json") + END)
    code, err = _verify(pack, tmp_path, capsys)
    assert code == ExitCode.PACK_REJECTED and "chains extended headers" in err


@pytest.mark.timeout(120)
def test_a_flood_of_members_is_refused(tmp_path: Path, capsys) -> None:
    pack = tmp_path / "flood.enclavepack"
    pack.write_bytes(b"".join(_member(f"f{i:05d}") for i in range(5000)) + END)
    code, err = _verify(pack, tmp_path, capsys)
    assert code == ExitCode.PACK_REJECTED and "more than 4096 entries" in err


@pytest.mark.timeout(120)
def test_gnu_sparse_entries_are_refused(tmp_path: Path, capsys) -> None:
    old_style = tmp_path / "sparse.enclavepack"
    old_style.write_bytes(_header("manifest.json", tarfile.GNUTYPE_SPARSE, 0) + END)
    code, err = _verify(old_style, tmp_path, capsys)
    assert code == ExitCode.PACK_REJECTED and "sparse entry" in err
    # PAX sparse 1.0: the map in the data says a billion numbers follow; tarfile read on to EOF.
    pax_map = tmp_path / "sparse-map.enclavepack"
    sparse = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "manifest.json"}
    data = b"1000000000\n" + b"1\n" * 500_000
    pax_map.write_bytes(_pax(sparse) + _member("sparse", data) + END)
    code, err = _verify(pax_map, tmp_path, capsys)
    assert code == ExitCode.PACK_REJECTED and "sparse entry" in err


@pytest.mark.timeout(60)
def test_a_pack_that_is_a_pipe_is_refused_without_blocking(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pack.enclavepack"
    os.mkfifo(fifo)
    code, err = _verify(fifo, tmp_path, capsys)
    assert code == ExitCode.PACK_REJECTED and "not a regular file" in err


@pytest.mark.timeout(60)
def test_a_well_formed_archive_still_reaches_the_signature_check(tmp_path: Path, capsys) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    pack = tmp_path / "plain.enclavepack"
    pack.write_bytes(buffer.getvalue())
    code, err = _verify(pack, tmp_path, capsys)
    assert code == ExitCode.PACK_REJECTED and "not a signed document" in err


@linux_only
@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "oversize"])
def test_grants_import_reads_only_a_bounded_regular_file(tmp_path: Path, kind: str) -> None:
    if kind == "dev-zero":
        source = Path("/dev/zero")
    elif kind == "fifo":
        source = tmp_path / "grant.json"
        os.mkfifo(source)
    else:
        source = tmp_path / "grant.json"
        source.write_bytes(b" " * (2 * 1024 * 1024))
    result = _capped_cli("grants", "import", str(source))
    assert result.returncode == ExitCode.PACK_REJECTED, result.stderr
    expected = "over 1,048,576 bytes" if kind == "oversize" else "not a regular file"
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_a_fifo_or_oversized_file_among_installed_grants_is_skipped_not_read(
    memory_keyring: object,
) -> None:
    """A pipe named like a grant in the grants folder would block every start; a huge file would
    be read whole. Both are skipped."""
    import os

    from desktop.engine.packs import install

    folder = install.grants_root()
    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "pipe.json")
    (folder / "huge.json").write_bytes(b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert install.installed_grants() == []
