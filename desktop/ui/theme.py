"""Look and feel: Fusion following the system's light or dark scheme, HiDPI without rounding.

Colours in the widgets come from the palette (never hard-coded for one theme), so a scheme change
at run time re-colours everything; the window re-renders its chat view on `PaletteChange`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QLabel#banner, QLabel#verdictBanner {
    border: 1px solid palette(highlight);
    border-radius: 4px;
    padding: 6px;
}
QLabel#errorText { color: #d32f2f; }
QListWidget#conversationList::item { padding: 5px 4px; }
QStatusBar QLabel { padding: 0 8px; }
"""


def prepare_hidpi() -> None:
    """Call before creating the application: fractional scale factors stay exact (e.g. 1.25)."""
    if QGuiApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )


def dark_palette() -> QPalette:
    """A dark palette for platforms whose theme has no dark scheme of its own (e.g. bare X11)."""
    palette = QPalette()
    role = QPalette.ColorRole
    colors = {
        role.Window: "#202124",
        role.WindowText: "#e8eaed",
        role.Base: "#17181a",
        role.AlternateBase: "#2a2c30",
        role.ToolTipBase: "#2a2c30",
        role.ToolTipText: "#e8eaed",
        role.PlaceholderText: "#9aa0a6",
        role.Text: "#e8eaed",
        role.Button: "#2d2f33",
        role.ButtonText: "#e8eaed",
        role.BrightText: "#ff8a80",
        role.Light: "#3c4043",
        role.Midlight: "#34373b",
        role.Mid: "#2a2c30",
        role.Dark: "#121314",
        role.Shadow: "#000000",
        role.Highlight: "#4f86d9",
        role.HighlightedText: "#ffffff",
        role.Link: "#8ab4f8",
        role.LinkVisited: "#c58af9",
    }
    for key, value in colors.items():
        palette.setColor(key, QColor(value))
    for key in (role.Text, role.WindowText, role.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, key, QColor("#6f7378"))
    return palette


def apply_theme(app: QApplication, scheme: Qt.ColorScheme | None = None) -> None:
    """Fusion follows the platform's colour scheme; `scheme` forces one (screenshots, tests).

    When dark is asked for and the platform theme cannot provide it, `dark_palette` stands in.
    """
    app.setStyle("Fusion")
    if scheme is not None:
        app.styleHints().setColorScheme(scheme)
        is_dark = app.palette().color(QPalette.ColorRole.Window).lightness() < 128
        if scheme == Qt.ColorScheme.Dark and not is_dark:
            app.setPalette(dark_palette())
        elif scheme == Qt.ColorScheme.Light and is_dark:
            app.setPalette(app.style().standardPalette())
    app.setStyleSheet(STYLE_SHEET)
