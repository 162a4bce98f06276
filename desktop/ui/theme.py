"""Look and feel: Fusion following the system's light or dark scheme, HiDPI without rounding.

Colours in the widgets come from the palette (never hard-coded for one theme), so a scheme change
at run time re-colours everything; the window re-renders its chat view on `PaletteChange`. When
following the system, a change of the system's scheme while the app runs is followed too
(`QStyleHints.colorSchemeChanged`). The text size is the application font's, from the window
preferences (0: the system's own size).
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
QPushButton#suggestion { text-align: left; padding: 6px 10px; }
"""
SCHEMES: dict[str, Qt.ColorScheme | None] = {
    "system": None,
    "light": Qt.ColorScheme.Light,
    "dark": Qt.ColorScheme.Dark,
}
_system_font_size: list[float] = []
_following: list[bool] = []


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
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    hints = app.styleHints()
    if not _following:  # once: a system change while following it re-colours the app
        _following.append(True)
        hints.colorSchemeChanged.connect(lambda new: _follow_system(app, new))
    _set_scheme(app, scheme)
    if app.styleSheet() != STYLE_SHEET:
        app.setStyleSheet(STYLE_SHEET)


def _set_scheme(app: QApplication, scheme: Qt.ColorScheme | None) -> None:
    hints = app.styleHints()
    if scheme is None:
        hints.unsetColorScheme()
        wanted = hints.colorScheme()
    else:
        hints.setColorScheme(scheme)
        wanted = scheme
    app.setProperty("enclaveForcedScheme", scheme is not None)
    is_dark = app.palette().color(QPalette.ColorRole.Window).lightness() < 128
    if wanted == Qt.ColorScheme.Dark and not is_dark:
        app.setPalette(dark_palette())
    elif wanted != Qt.ColorScheme.Dark and is_dark:
        app.setPalette(app.style().standardPalette())


def _follow_system(app: QApplication, scheme: Qt.ColorScheme) -> None:
    if not app.property("enclaveForcedScheme"):
        is_dark = app.palette().color(QPalette.ColorRole.Window).lightness() < 128
        if (scheme == Qt.ColorScheme.Dark) != is_dark:
            app.setPalette(
                dark_palette() if scheme == Qt.ColorScheme.Dark else app.style().standardPalette()
            )


def system_font_size() -> float:
    """The application font's size before any preference changed it (points)."""
    if not _system_font_size:
        _system_font_size.append(QGuiApplication.font().pointSizeF())
    return _system_font_size[0]


def apply_font_size(points: int) -> None:
    """The application's text size: `points`, or the system's with 0."""
    size = float(points) if points > 0 else system_font_size()
    font = QGuiApplication.font()
    if font.pointSizeF() != size:
        font.setPointSizeF(size)
        QApplication.setFont(font)  # QApplication's: every widget gets it (on the next events)
