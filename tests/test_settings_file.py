"""settings.json across versions: each setting stands alone, a newer version's keys survive."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from desktop.engine.core.settings import AppSettings, load_settings, save_settings


def test_one_bad_setting_falls_back_alone(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps({"n_ctx": 8192, "temperature": "warm", "sources_per_answer": 99}),
        encoding="utf-8",
    )
    loaded, note = load_settings(path)
    assert loaded.n_ctx == 8192  # kept
    assert loaded.temperature == AppSettings().temperature
    assert loaded.sources_per_answer == AppSettings().sources_per_answer
    assert note is not None and "temperature" in note and "sources_per_answer" in note


def test_saving_keeps_the_keys_of_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"n_ctx": 2048, "answer_style": {"tone": "brief"}}), "utf-8")
    loaded, note = load_settings(path)
    assert note is None and loaded.n_ctx == 2048
    save_settings(replace(loaded, n_ctx=4096), path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["answer_style"] == {"tone": "brief"} and saved["n_ctx"] == 4096


def test_a_damaged_file_gives_the_defaults_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json", encoding="utf-8")
    loaded, note = load_settings(path)
    assert loaded == AppSettings() and note is not None and "using defaults" in note
    save_settings(AppSettings(n_ctx=2048), path)  # replaces the damaged file
    assert json.loads(path.read_text(encoding="utf-8"))["n_ctx"] == 2048
