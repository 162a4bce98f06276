"""The window's own preferences: font size, light/dark, whether new chats are saved.

They concern only how this window looks and behaves, so they live beside the data as
`window.ini` (Qt's INI format, per profile), apart from the engine's `settings.json`. A damaged or
odd value reads as the default.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSettings

from desktop.engine.core import paths

THEMES = ("system", "light", "dark")
MIN_FONT, MAX_FONT = 7, 32  # points; 0 means the system's size


@dataclass(frozen=True)
class WindowPrefs:
    font_size: int = 0  # points, 0 = the system's
    theme: str = "system"  # follow the system's light or dark scheme, or force one
    save_history: bool = True  # new conversations are kept in the encrypted history

    def checked(self) -> WindowPrefs:
        size = (
            self.font_size if self.font_size == 0 else min(MAX_FONT, max(MIN_FONT, self.font_size))
        )
        theme = self.theme if self.theme in THEMES else "system"
        return WindowPrefs(size, theme, bool(self.save_history))


def _store() -> QSettings:
    folder = paths.ensure_dir(paths.data_dir())
    return QSettings(str(folder / "window.ini"), QSettings.Format.IniFormat)


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _bool(value: object, default: bool) -> bool:
    text = str(value).strip().lower()
    return default if text not in ("true", "false", "1", "0") else text in ("true", "1")


def load_prefs() -> WindowPrefs:
    store = _store()
    return WindowPrefs(
        font_size=_int(store.value("font_size", 0)),
        theme=str(store.value("theme", "system")),
        save_history=_bool(store.value("save_history", True), True),
    ).checked()


def save_prefs(prefs: WindowPrefs) -> None:
    prefs = prefs.checked()
    store = _store()
    store.setValue("font_size", prefs.font_size)
    store.setValue("theme", prefs.theme)
    store.setValue("save_history", prefs.save_history)
    store.sync()
