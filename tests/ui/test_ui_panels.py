"""Sources panel, settings (model and dialog), About, pack manager and enrolment, on fakes."""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from desktop.engine.access import Passage
from desktop.engine.core.settings import AppSettings, SettingsInvalid, load_settings, save_settings
from desktop.ui.about_dialog import AboutDialog, dependency_licenses
from desktop.ui.packs import CHECKING, EnrolmentDialog, PackManagerDialog, _expiry_text
from desktop.ui.settings_dialog import SettingsDialog
from desktop.ui.sources_panel import SourcesPanel, highlight_passage
from ui.fake_packs import FakePacks
from ui.fakes import HANDBOOK_CITATIONS, FakeBackend


def cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None, f"no cell at {row}, {column}"
    return item


def test_sources_panel_cards_escape_and_highlight(qtbot) -> None:
    panel = SourcesPanel()
    qtbot.addWidget(panel)
    hostile = replace(HANDBOOK_CITATIONS[0], title="<b>x</b><img src='http://e/x.png'>")
    opened: list[Passage] = []
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
    assert opened and opened[0].title == "Expenses"
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


def idle(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=5000)


def test_about_lists_model_pack_and_library_licences(qtbot) -> None:
    backend = FakeBackend()
    dialog = AboutDialog(backend.models(), FakePacks())
    qtbot.addWidget(dialog)
    idle(qtbot, dialog)
    assert cell(dialog.models_table, 0, 2).text() == "Apache-2.0"
    assert cell(dialog.models_table, 1, 3).text() == "no"
    header = dialog.models_table.horizontalHeaderItem(5)
    assert header is not None and header.text() == "Where the file comes from"
    assert dialog.packs_table.rowCount() == 2
    assert cell(dialog.packs_table, 0, 2).text() == "Internal use"
    assert dialog.tabs.tabText(1) == "Document packs (2)"
    names = {row[0] for row in dependency_licenses()}
    assert {"PySide6-Essentials", "llama-cpp-python"} <= names
    licences = {row[0]: row[2] for row in dependency_licenses()}
    assert "LGPL" in licences["PySide6-Essentials"]


def test_about_without_a_pack_model_lists_no_packs(qtbot) -> None:
    dialog = AboutDialog(FakeBackend().models(), None)
    qtbot.addWidget(dialog)
    assert not dialog.busy and dialog.packs_table.rowCount() == 0


def test_pack_listing_runs_off_the_gui_thread(qtbot) -> None:
    model = FakePacks()
    model.gate = threading.Event()
    dialog = PackManagerDialog(model)
    qtbot.addWidget(dialog)
    dialog.show()
    # The constructor returned while the listing is held: the GUI thread is not blocked on it.
    qtbot.waitUntil(lambda: bool(model.threads), timeout=5000)
    assert dialog.busy and dialog.checking.isVisible() and dialog.checking.text() == CHECKING
    assert not dialog.install_button.isEnabled() and dialog.table.rowCount() == 0
    model.gate.set()
    idle(qtbot, dialog)
    assert dialog.table.rowCount() == 2 and not dialog.checking.isVisible()
    assert model.threads and all(t is not threading.main_thread() for t in model.threads)

    about = AboutDialog([], model)
    qtbot.addWidget(about)
    idle(qtbot, about)
    assert about.packs_table.rowCount() == 2
    assert all(t is not threading.main_thread() for t in model.threads)


def test_closing_the_pack_manager_mid_listing_waits_and_drops_the_result(qtbot) -> None:
    model = FakePacks()
    model.gate = threading.Event()
    dialog = PackManagerDialog(model)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: bool(model.threads), timeout=5000)
    model.gate.set()
    dialog.reject()
    assert not dialog.busy and dialog.calls.pool.activeThreadCount() == 0
    QCoreApplication.processEvents()  # deliver the late result: it must be dropped, not drawn
    assert dialog.table.rowCount() == 0


def test_pack_manager_lists_installs_and_rejects(qtbot, tmp_path: Path) -> None:
    model = FakePacks()
    dialog = PackManagerDialog(model)
    qtbot.addWidget(dialog)
    idle(qtbot, dialog)
    assert dialog.table.rowCount() == 2
    assert cell(dialog.table, 0, 3).text() == "✓ Signed"
    assert cell(dialog.table, 0, 3).toolTip() == "Signed by IT Knowledge Team"
    assert cell(dialog.table, 0, 4).text() == "managers, staff"
    assert cell(dialog.table, 1, 5).text().startswith("Expired")
    dialog.choose_file = lambda: tmp_path / "finance.enclavepack"
    dialog.install()
    idle(qtbot, dialog)
    assert dialog.table.rowCount() == 3
    assert "Installed finance v1" in dialog.outcome.text()
    assert "✓ File hashes: 3 files" in dialog.outcome.text()
    dialog.choose_file = lambda: tmp_path / "tampered.enclavepack"
    dialog.install()
    idle(qtbot, dialog)
    assert "rejected" in dialog.outcome.text() and "fresh copy" in dialog.outcome.text()
    assert dialog.table.rowCount() == 3
    dialog.table.selectRow(2)
    dialog.remove_selected()
    idle(qtbot, dialog)
    assert dialog.table.rowCount() == 2 and dialog.outcome.text() == "Removed finance."
    assert all(t is not threading.main_thread() for t in model.threads)


def test_pack_manager_shows_a_pack_that_no_longer_verifies(qtbot) -> None:
    from dataclasses import replace

    model = FakePacks()
    model.packs = [
        replace(
            model.packs[0],
            signature="invalid",
            signer="a file's hash does not match",
            audiences=(),
            expires=None,
            expiry="unknown",
        )
    ]
    dialog = PackManagerDialog(model)
    qtbot.addWidget(dialog)
    idle(qtbot, dialog)
    assert cell(dialog.table, 0, 3).text() == "✗ Signature invalid"
    assert cell(dialog.table, 0, 3).toolTip() == "a file's hash does not match"
    assert cell(dialog.table, 0, 4).text() == "none"


def test_enrolment_shows_exports_and_imports(qtbot, tmp_path: Path) -> None:
    model = FakePacks()
    dialog = EnrolmentDialog(model)
    qtbot.addWidget(dialog)
    idle(qtbot, dialog)
    assert "not enrolled" in dialog.state.text()
    assert dialog.steps.text().startswith("1. Send this request")
    assert dialog.request.toPlainText().startswith("ENCLAVE-ENROL-1")
    target = tmp_path / "request.txt"
    dialog.choose_save = lambda: target
    dialog.save_request()
    assert target.read_text(encoding="utf-8").startswith("ENCLAVE-ENROL-1")
    dialog.choose_grant = lambda: tmp_path / "missing.grant"
    dialog.import_grant()
    idle(qtbot, dialog)
    assert "No grant" in dialog.outcome.text()
    grant = tmp_path / "alice.grant"
    grant.write_text("grant", encoding="utf-8")
    dialog.choose_grant = lambda: grant
    dialog.import_grant()
    idle(qtbot, dialog)
    assert dialog.state.text() == "Enrolled as alice with staff, granted by IT, until 2030-01-01."
    assert dialog.steps.text().startswith("Nothing to do unless your roles change")
    assert all(t is not threading.main_thread() for t in model.threads)


def test_expiry_text() -> None:
    today = datetime.date(2025, 1, 1)
    assert _expiry_text(None, today) == "Unknown"
    assert _expiry_text(datetime.date(2024, 12, 31), today) == "Expired 2024-12-31"
    assert _expiry_text(datetime.date(2025, 1, 10), today) == "2025-01-10 (soon)"
    assert _expiry_text(datetime.date(2026, 1, 1), today) == "2026-01-01"


def test_the_sources_say_what_was_searched_when_it_was_not_the_question(qtbot) -> None:
    """A follow-up is searched with the question it continues, a French question in English:
    the panel says so, so a surprising answer can be traced to its search."""
    panel = SourcesPanel()
    qtbot.addWidget(panel)
    searched = "How much annual leave do I earn? And after 15 years?"
    panel.show_sources(list(HANDBOOK_CITATIONS), "x", searched=searched)
    assert f"Searched for: {searched}" in panel.view.toPlainText()
    panel.show_sources(list(HANDBOOK_CITATIONS), "x")
    assert "Searched for" not in panel.view.toPlainText()
