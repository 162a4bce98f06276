"""Catalog and model files: a bad model file is a clear error, never a silent use."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.engine.core.errors import CatalogError, ModelInvalid, ModelMissing, UnknownModel
from desktop.engine.runtime import modelfiles
from desktop.engine.runtime.catalog import CHAT_MODEL_ENV, Catalog, ModelEntry


def _entry_at(entry: ModelEntry, directory: Path, monkeypatch: pytest.MonkeyPatch) -> ModelEntry:
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(directory))
    return entry


def test_bundled_catalog_pins_both_default_models(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CHAT_MODEL_ENV)  # the suite's small-model override
    chat, embed = catalog.default("chat"), catalog.default("embedding")
    assert chat.id == "qwen2.5-coder-0.5b-instruct" and embed.id == "all-minilm-l6-v2"
    assert not chat.on_demand  # setup fetches the default
    for entry in (chat, embed):
        assert len(entry.sha256) == 64 and entry.size > 0 and entry.license == "Apache-2.0"
        assert entry.source["kind"] in ("pypi-wheel", "pypi-wheel-bert", "wheel-parts")


def test_the_chat_model_override_picks_another_catalog_model(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CHAT_MODEL_ENV, "smollm2-135m-instruct")
    assert catalog.default("chat").id == "smollm2-135m-instruct"
    assert catalog.default("embedding").id == "all-minilm-l6-v2"
    monkeypatch.setenv(CHAT_MODEL_ENV, "no-such-model")
    with pytest.raises(UnknownModel):
        catalog.default("chat")


def test_provisioned_models_verify(chat_entry: ModelEntry, embedding_entry: ModelEntry) -> None:
    for entry in (chat_entry, embedding_entry):
        assert modelfiles.verify(entry, use_cache=False).exists()


def test_missing_model(chat_entry: ModelEntry, tmp_path: Path, monkeypatch) -> None:
    entry = _entry_at(chat_entry, tmp_path, monkeypatch)
    with pytest.raises(ModelMissing, match="not installed"):
        modelfiles.verify(entry)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("truncate", "truncated"),
        ("not_gguf", "not a GGUF"),
        ("flip_byte", "sha256"),
    ],
)
def test_damaged_model_is_refused(chat_entry, tmp_path, monkeypatch, damage, reason) -> None:
    target = tmp_path / chat_entry.file
    original = chat_entry.path
    if damage == "not_gguf":
        target.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    else:
        shutil.copyfile(original, target)
        with target.open("r+b") as handle:
            if damage == "truncate":
                handle.truncate(chat_entry.size // 2)
            else:
                handle.seek(chat_entry.size // 2)
                byte = handle.read(1)
                handle.seek(chat_entry.size // 2)
                handle.write(bytes([byte[0] ^ 0xFF]))
    entry = _entry_at(chat_entry, tmp_path, monkeypatch)
    with pytest.raises(ModelInvalid, match=reason):
        modelfiles.verify(entry)


def test_cli_reports_bad_model_with_nonzero_exit(chat_entry, tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / chat_entry.file).write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 100)
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(tmp_path))
    code = main(["ask", "hello"])
    err = capsys.readouterr().err
    assert code == 4
    assert "truncated" in err and "models fetch" in err


def test_unknown_model_lists_known_ones(catalog: Catalog) -> None:
    with pytest.raises(UnknownModel, match="smollm2-135m-instruct"):
        catalog.get("gpt-5")


def test_catalog_rejects_duplicates_and_bad_entries(tmp_path: Path) -> None:
    bundled = tmp_path / "bundled.toml"
    bundled.write_text(
        '[[model]]\nid="a"\nrole="chat"\nfile="a.gguf"\nsha256="00"\nlicense="MIT"\n'
        "context_length=10\n"
    )
    admin = tmp_path / "admin.toml"
    admin.write_text(bundled.read_text())
    with pytest.raises(CatalogError, match="twice"):
        Catalog.load(bundled, admin)
    admin.write_text('[[model]]\nid="b"\nrole="wizard"\nfile="b.gguf"\n')
    with pytest.raises(CatalogError, match="unknown role"):
        Catalog.load(bundled, admin)
    admin.write_text(
        '[[model]]\nid="c"\nrole="chat"\nfile="../c.gguf"\nsha256="0"\n'
        'license="MIT"\ncontext_length=1\n'
    )
    with pytest.raises(CatalogError, match="plain file name"):
        Catalog.load(bundled, admin)
    admin.write_text("this is = = not toml")
    with pytest.raises(CatalogError, match="not valid TOML"):
        Catalog.load(bundled, admin)


def test_admin_adds_own_model(chat_entry, tmp_path, monkeypatch, capsys) -> None:
    own = tmp_path / "my-model.gguf"
    shutil.copyfile(chat_entry.path, own)
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(tmp_path / "models"))
    assert main(["models", "add", str(own), "--id", "mine", "--license", "Apache-2.0"]) == 0
    assert Catalog.load().get("mine").origin == "admin"
    main(["models", "list"])
    out = capsys.readouterr().out
    assert "mine" in out and "verified" in out
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model")
    assert main(["models", "add", str(junk), "--id", "junk", "--license", "MIT"]) == 4


def test_model_rows_say_which_model_is_the_default(catalog: Catalog, monkeypatch) -> None:
    """The settings dialog names the default ("Default (smollm2-135m-instruct)")."""
    from desktop.engine.runtime.catalog import model_rows

    monkeypatch.setenv(CHAT_MODEL_ENV, "smollm2-135m-instruct")
    defaults = {(r.role, r.id) for r in model_rows(catalog) if r.default}
    assert ("chat", "smollm2-135m-instruct") in defaults
    assert len([d for d in defaults if d[0] == "chat"]) == 1
    assert any(role == "embedding" for role, _ in defaults)
