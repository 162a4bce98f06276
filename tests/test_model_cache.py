"""Attack test: the model hash cache cannot be fooled by restoring a file's mtime.

Before the fix the "verified" stamp next to a model was keyed on size and mtime only, so a model
rewritten in place with `os.utime` setting its times back was reported verified (and loaded)
without a rehash. Now the stamp also holds device, inode and ctime, which no program can set back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.engine.runtime import modelfiles
from desktop.engine.runtime.catalog import ModelEntry


def _verdict(out: str, entry: ModelEntry) -> str:
    line = next(line for line in out.splitlines() if line.startswith(entry.id))
    return "verified" if " verified " in line else line


@pytest.fixture
def own_copy(embedding_entry: ModelEntry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The embedding model in a models folder of this test's own."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(embedding_entry.path, folder / embedding_entry.file)
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(folder))
    # A verdict is cached only for a file whose ctime is clearly older than the hash; this copy is
    # seconds old, so let the cache take it at once (what matters here is what the key holds).
    monkeypatch.setattr(modelfiles, "_RACY_NS", 0, raising=False)
    return folder / embedding_entry.file


def _tamper_keeping_times(path: Path, *, replace: bool) -> None:
    """Flip one byte in the middle and put size, atime and mtime back as they were."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    if replace:  # a new file (new inode) moved over the old one
        tampered = path.with_name(path.name + ".new")
        tampered.write_bytes(bytes(data))
        os.replace(tampered, path)
    else:  # rewritten in place (same inode)
        with path.open("r+b") as handle:
            handle.write(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.mark.parametrize("replace", [False, True], ids=["in-place", "replaced"])
def test_a_model_changed_with_its_mtime_restored_is_not_verified(
    own_copy: Path, embedding_entry: ModelEntry, capsys, replace: bool
) -> None:
    assert main(["models", "list"]) == 0
    assert _verdict(capsys.readouterr().out, embedding_entry) == "verified"
    assert own_copy.with_name(own_copy.name + ".verified.json").exists()
    _tamper_keeping_times(own_copy, replace=replace)
    assert main(["models", "list"]) == 0
    assert "sha256 is" in _verdict(capsys.readouterr().out, embedding_entry)


def test_an_unchanged_model_is_not_hashed_again(
    own_copy: Path, embedding_entry: ModelEntry, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert main(["models", "list"]) == 0
    hashed: list[Path] = []
    real = modelfiles.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(modelfiles, "sha256_file", counting)
    assert main(["models", "list"]) == 0
    assert _verdict(capsys.readouterr().out, embedding_entry) == "verified"
    assert own_copy not in hashed
