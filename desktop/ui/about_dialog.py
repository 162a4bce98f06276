"""About: version, and the licence of every model, pack and dependency, for an organisation's review.

Packs are listed through the pack model on a worker (listing re-verifies every pack file).
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop import __version__
from desktop.engine.core.errors import EngineError
from desktop.engine.policy.rules import RULE_DESCRIPTIONS
from desktop.engine.policy.signed import policy_status, status_lines
from desktop.engine.runtime.catalog import ModelRow
from desktop.ui.pack_backend import PackManagerModel, PackRow
from desktop.ui.packs import CHECKING, PackDialog

FALLBACK_REQUIREMENTS = [
    "PySide6-Essentials",
    "llama-cpp-python",
    "sqlite-utils",
    "sqlcipher3",
    "faiss-cpu",
    "keyring",
    "keyrings.cryptfile",
    "cryptography",
    "platformdirs",
    "numpy",
    "gguf",
    "safetensors",
    "pypdf",
    "python-docx",
    "beautifulsoup4",
    "openpyxl",
    "python-pptx",
    "PyYAML",
]
# Packages whose metadata does not state a licence.
KNOWN_LICENSES = {"sqlcipher3": "Zlib (bundles SQLCipher, BSD-3-Clause)"}


def _requirement_names() -> list[str]:
    try:
        requires = metadata.requires("enclave-desktop") or []
    except metadata.PackageNotFoundError:
        return FALLBACK_REQUIREMENTS
    names = [re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]
    return names or FALLBACK_REQUIREMENTS


def _license_of(meta: Any) -> str:
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) < 80:
        return text
    classifiers = [
        c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if "License ::" in c
    ]
    return ", ".join(classifiers) or ""


def dependency_licenses() -> list[tuple[str, str, str]]:
    """(name, version, licence) of each runtime dependency as installed."""
    rows = []
    for name in _requirement_names():
        try:
            meta = metadata.metadata(name)
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed", KNOWN_LICENSES.get(name, "")))
            continue
        rows.append(
            (name, str(meta["Version"]), _license_of(meta) or KNOWN_LICENSES.get(name, "?"))
        )
    return rows


def _fill(table: QTableWidget, rows: Sequence[Sequence[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))


def _table(headers: list[str], rows: Sequence[Sequence[str]], name: str) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers))
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setWordWrap(True)
    _fill(table, rows)
    header = table.horizontalHeader()
    for c in range(len(headers)):
        header.setSectionResizeMode(
            c,
            QHeaderView.ResizeMode.Stretch
            if c == len(headers) - 1
            else QHeaderView.ResizeMode.ResizeToContents,
        )
    return table


class AboutDialog(PackDialog):
    """`packs` is None when the window has no pack model: the packs tab then stays empty."""

    def __init__(
        self,
        models: Sequence[ModelRow],
        packs: PackManagerModel | None,
        parent: QWidget | None = None,
        audit: str = "",
        policy: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Enclave")
        intro = QLabel(
            f"<h2>Enclave {__version__}</h2>"
            "<p>A private assistant that answers from your organisation's documents with a "
            "language model running on this computer. Nothing you type leaves this computer.</p>"
            "<p>Answers come from an AI model and can be wrong: check important facts against "
            "the cited sources.</p>"
        )
        intro.setTextFormat(Qt.TextFormat.RichText)
        intro.setWordWrap(True)
        self.audit_note = QLabel(audit)  # what the audit log keeps (audit.notice), plain text
        self.audit_note.setTextFormat(Qt.TextFormat.PlainText)
        self.audit_note.setWordWrap(True)
        self.audit_note.setAccessibleName("Audit log")
        self.audit_note.setVisible(bool(audit))
        self.tabs = QTabWidget()
        self.models_table = _table(
            ["Model", "Role", "Licence", "Installed", "Description", "Where the file comes from"],
            [
                [
                    m.id,
                    m.role,
                    m.licence,
                    "yes" if m.provisioned else "no",
                    m.description,
                    m.source,
                ]
                for m in models
            ],
            "Model licences",
        )
        self.tabs.addTab(self.models_table, "Models")
        self.packs_note = QLabel()
        self.packs_note.setWordWrap(True)
        self.packs_note.setTextFormat(Qt.TextFormat.PlainText)
        self.packs_note.setAccessibleName("Pack listing")
        self.packs_note.hide()
        self.packs_table = _table(
            ["Pack", "Version", "Licence", "As of", "Tested (signed)"], [], "Pack licences"
        )
        packs_tab = QWidget()
        packs_layout = QVBoxLayout(packs_tab)
        packs_layout.setContentsMargins(0, 0, 0, 0)
        packs_layout.addWidget(self.packs_note)
        packs_layout.addWidget(self.packs_table, 1)
        self._packs_tab = self.tabs.addTab(packs_tab, "Document packs (0)")
        self.deps_table = _table(
            ["Library", "Version", "Licence"],
            [list(row) for row in dependency_licenses()],
            "Library licences",
        )
        self.tabs.addTab(self.deps_table, "Libraries")
        self.tabs.addTab(self._policy_tab(policy or policy_status().as_dict()), "Policy")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.audit_note)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(em * 64, em * 40)
        if packs is not None:
            self.packs_note.setText(CHECKING)
            self.packs_note.show()
            self.tabs.setTabText(self._packs_tab, "Document packs (checking…)")
            self.calls.run(packs.list_packs, self._show_packs, self._packs_failed)

    def _policy_tab(self, info: dict[str, Any]) -> QWidget:
        """The guardrail policy in force (`PolicyStatus.as_dict()`): where it comes from, who
        signed it, and each rule's action; or why it was refused."""
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.setContentsMargins(0, 0, 0, 0)
        self.policy_note = QLabel("\n".join(line.strip() for line in status_lines(info)[:2]))
        self.policy_note.setTextFormat(Qt.TextFormat.PlainText)  # names come from a file
        self.policy_note.setWordWrap(True)
        self.policy_note.setAccessibleName("Policy in force")
        self.policy_table = _table(
            ["Rule", "Action", "What it looks for"],
            [
                [rule, action, RULE_DESCRIPTIONS.get(rule, "")]
                for rule, action in info.get("rules", {}).items()
            ],
            "Policy rules",
        )
        layout.addWidget(self.policy_note)
        layout.addWidget(self.policy_table, 1)
        return tab

    def _show_packs(self, packs: list[PackRow]) -> None:
        self.packs_note.hide()
        _fill(
            self.packs_table,
            [
                [p.pack_id, str(p.version), p.licence, p.as_of, p.tested or "not evaluated"]
                for p in packs
            ],
        )
        self.tabs.setTabText(self._packs_tab, f"Document packs ({len(packs)})")

    def _packs_failed(self, error: EngineError) -> None:
        self.packs_note.setText(f"{error.message}\n{error.hint}".strip())
        self.tabs.setTabText(self._packs_tab, "Document packs")
