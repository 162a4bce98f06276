"""About: version, and the licence of every model, pack and dependency, for an organisation's review."""

from __future__ import annotations

import importlib.metadata as metadata
import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
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


def _table(headers: list[str], rows: list[list[str]], name: str) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers))
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setWordWrap(True)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))
    header = table.horizontalHeader()
    for c in range(len(headers)):
        header.setSectionResizeMode(
            c,
            QHeaderView.ResizeMode.Stretch
            if c == len(headers) - 1
            else QHeaderView.ResizeMode.ResizeToContents,
        )
    return table


class AboutDialog(QDialog):
    def __init__(
        self,
        models: list[dict[str, Any]],
        packs: list[dict[str, Any]],
        parent: QWidget | None = None,
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
        tabs = QTabWidget()
        self.models_table = _table(
            ["Model", "Role", "Licence", "Installed", "Description"],
            [
                [
                    str(m.get("id", "")),
                    str(m.get("role", "")),
                    str(m.get("license", "")),
                    "yes" if m.get("provisioned") else "no",
                    str(m.get("description", "")),
                ]
                for m in models
            ],
            "Model licences",
        )
        tabs.addTab(self.models_table, "Models")
        self.packs_table = _table(
            ["Pack", "Version", "Licence", "As of"],
            [
                [
                    str(p.get("name", "")),
                    str(p.get("version", "")),
                    str(p.get("license", "")),
                    str(p.get("as_of", "")),
                ]
                for p in packs
            ],
            "Pack licences",
        )
        tabs.addTab(self.packs_table, f"Document packs ({len(packs)})")
        self.deps_table = _table(
            ["Library", "Version", "Licence"],
            [list(row) for row in dependency_licenses()],
            "Library licences",
        )
        tabs.addTab(self.deps_table, "Libraries")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(tabs, 1)
        layout.addWidget(buttons)
        em = self.fontMetrics().horizontalAdvance("M")
        self.resize(em * 64, em * 40)
