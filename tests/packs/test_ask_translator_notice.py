"""`enclave ask` says when the translator could not be used (the chat model translated instead),
on stderr, so `--json` output stays one JSON document (real pack, real small model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from desktop.cli import main
from desktop.engine.answer.language import TRANSLATOR_FALLBACK
from desktop.engine.packs import install
from desktop.engine.runtime.catalog import Catalog

from .conftest import request_for

TRANSLATOR = "qwen2.5-coder-1.5b-instruct"


def test_ask_warns_when_the_translator_is_broken(
    admin_workspace: Any,
    trust_admin: Any,
    memory_keyring: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: Any,
) -> None:
    catalog = Catalog.load()
    models = tmp_path / "models"
    models.mkdir()
    for entry in (catalog.default("chat"), catalog.default("embedding")):
        (models / entry.path.name).symlink_to(entry.path)
    (models / catalog.get(TRANSLATOR).path.name).write_bytes(b"GGUF not really a model")
    monkeypatch.setenv("ENCLAVE_MODELS_DIR", str(models))
    monkeypatch.setenv("ENCLAVE_TRANSLATOR", TRANSLATOR)
    admin_workspace.enrol(request_for("emma"), ["employee"])
    install.import_grant(admin_workspace.grant("emma", "handbook"))
    install.install(admin_workspace.packs_dir / "handbook-v2.enclavepack")

    capsys.readouterr()
    question = "Combien de jours de congé annuel le personnel a-t-il ?"
    assert main(["ask", question, "--json", "--max-tokens", "16"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["question"] == question  # stdout is the JSON alone
    assert "enclave: warning: the translator could not be used:" in err
    assert TRANSLATOR_FALLBACK in err
