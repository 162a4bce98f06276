"""Sources panel, settings (model and dialog), About, pack manager and enrolment, on fakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.engine.core.settings import AppSettings, SettingsInvalid, load_settings, save_settings
from desktop.ui.about_dialog import AboutDialog, dependency_licenses
from desktop.ui.packs import EnrolmentDialog, PackManagerDialog, _expiry_text
from desktop.ui.settings_dialog import SettingsDialog
from desktop.ui.sources_panel import SourcesPanel, highlight_passage
from ui.fakes import HANDBOOK_CITATIONS, FakeBackend, FakePacks


def test_sources_panel_cards_escape_and_highlight(qtbot) -> None:
    panel = SourcesPanel()
    qtbot.addWidget(panel)
    hostile = dict(HANDBOOK_CITATIONS[0], title="<b>x</b><img src='http://e/x.png'>")
    opened: list[dict] = []
    panel.openOriginalRequested.connect(opened.append)
    panel.show_sources([hostile, HANDBOOK_CITATIONS[1]], "Book travel through the agency")
    assert panel.title.text() == "Sources (2)"
    html = panel.view.toHtml()
    assert "&lt;img" in html and "<img" not in html
    assert "Expenses › Receipts" in panel.view.toPlainText()
    panel.select(2)
    assert panel.selected == 2
    from PySide6.QtCore import QUrl

    panel._on_anchor(QUrl("open:2"))
    assert opened and opened[0]["title"] == "Expenses"
    panel.clear_sources()
    assert panel.citations == [] and panel.title.text() == "Sources"


def test_highlight_marks_only_answer_words() -> None:
    out = highlight_passage("Book <travel> early", {"travel"}, "yellow", "black")
    assert out.count("<span") == 1 and "&lt;" in out


def test_settings_round_trip_and_validation(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    assert load_settings(path) == (AppSettings(), None)
    chosen = AppSettings(chat_model="fake-chat", n_threads=2, n_ctx=2048, temperature=0.3)
    save_settings(chosen, path)
    assert load_settings(path) == (chosen, None)
    with pytest.raises(SettingsInvalid) as bad:
        save_settings(AppSettings(n_ctx=10, temperature=5.0), path)
    assert set(bad.value.problems) == {"n_ctx", "temperature"}
    assert AppSettings(chat_model="x").validate(["y"]) == {
        "chat_model": "the model 'x' is not installed on this computer"
    }
    path.write_text(json.dumps({"n_ctx": "big"}), encoding="utf-8")
    settings, note = load_settings(path)
    assert settings == AppSettings() and note and "defaults" in note
    path.write_text("{broken", encoding="utf-8")
    assert load_settings(path)[1]
    assert AppSettings.from_dict({"temperature": 1, "future_key": 3}).temperature == 1.0


def test_settings_dialog_saves_valid_and_shows_problems(qtbot) -> None:
    backend = FakeBackend()
    dialog = SettingsDialog(backend)
    qtbot.addWidget(dialog)
    assert dialog.model.count() == 3  # default + two chat models (embedders are not offered)
    dialog.context.setValue(2048)
    dialog.temperature.setValue(0.7)
    dialog.save()
    assert backend.settings().n_ctx == 2048 and dialog.model_changed
    dialog2 = SettingsDialog(backend)
    qtbot.addWidget(dialog2)
    dialog2.model.setCurrentIndex(dialog2.model.findData("big-chat"))
    dialog2.save()
    assert dialog2.problems.isVisible() or "not installed" in dialog2.problems.text()
    assert backend.settings().chat_model == ""


def test_about_lists_model_pack_and_library_licences(qtbot) -> None:
    backend = FakeBackend()
    dialog = AboutDialog(backend.models(), FakePacks().list_packs())
    qtbot.addWidget(dialog)
    assert dialog.models_table.item(0, 2).text() == "Apache-2.0"
    assert dialog.packs_table.rowCount() == 2
    names = {row[0] for row in dependency_licenses()}
    assert {"PySide6-Essentials", "llama-cpp-python"} <= names
    licences = {row[0]: row[2] for row in dependency_licenses()}
    assert "LGPL" in licences["PySide6-Essentials"]


def test_pack_manager_lists_installs_and_rejects(qtbot, tmp_path: Path) -> None:
    model = FakePacks()
    dialog = PackManagerDialog(model)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 2
    assert dialog.table.item(0, 3).text() == "✓ Signed"
    assert dialog.table.item(1, 5).text().startswith("Expired")
    dialog.choose_file = lambda: tmp_path / "finance.enclavepack"
    dialog.install()
    assert dialog.table.rowCount() == 3
    assert "Installed finance" in dialog.outcome.text() and "✓ File hashes" in dialog.outcome.text()
    dialog.choose_file = lambda: tmp_path / "tampered.enclavepack"
    dialog.install()
    assert "rejected" in dialog.outcome.text() and "fresh copy" in dialog.outcome.text()
    assert dialog.table.rowCount() == 3
    dialog.table.selectRow(2)
    dialog.remove_selected()
    assert dialog.table.rowCount() == 2


def test_enrolment_shows_exports_and_imports(qtbot, tmp_path: Path) -> None:
    model = FakePacks()
    dialog = EnrolmentDialog(model)
    qtbot.addWidget(dialog)
    assert "not enrolled" in dialog.state.text()
    assert dialog.request.toPlainText().startswith("ENCLAVE-ENROL-1")
    target = tmp_path / "request.txt"
    dialog.choose_save = lambda: target
    dialog.save_request()
    assert target.read_text(encoding="utf-8").startswith("ENCLAVE-ENROL-1")
    dialog.choose_grant = lambda: tmp_path / "missing.grant"
    dialog.import_grant()
    assert "No grant" in dialog.outcome.text()
    grant = tmp_path / "alice.grant"
    grant.write_text("grant", encoding="utf-8")
    dialog.choose_grant = lambda: grant
    dialog.import_grant()
    assert "Enrolled as alice" in dialog.state.text()


def test_expiry_text() -> None:
    import datetime

    today = datetime.date(2025, 1, 1)
    assert _expiry_text("", today) == "Never"
    assert _expiry_text("2024-12-31", today) == "Expired 2024-12-31"
    assert _expiry_text("2025-01-10", today) == "2025-01-10 (soon)"
