"""Settings: the model among those provisioned, threads, GPU layers, context, temperature, sources;
and the window's own: text size, light/dark, whether new conversations are saved.

The dialog edits an `AppSettings` (desktop.engine.core.settings), validates it before saving and shows
each problem beside its field; nothing invalid is ever written. The window's preferences
(`ui.prefs.WindowPrefs`) are returned as `prefs` for the window to apply and keep.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.engine.core.settings import (
    MAX_CONTEXT,
    MAX_GPU_LAYERS,
    MAX_SOURCES,
    MAX_THREADS,
    MIN_CONTEXT,
    AppSettings,
    SettingsInvalid,
)
from desktop.ui.backend import ChatBackend
from desktop.ui.prefs import MAX_FONT, MIN_FONT, WindowPrefs

MODEL_FIELDS = ("chat_model", "n_threads", "n_gpu_layers", "n_ctx")


class SettingsDialog(QDialog):
    def __init__(
        self,
        backend: ChatBackend,
        parent: QWidget | None = None,
        prefs: WindowPrefs | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.backend = backend
        self.original = backend.settings()
        self.model_changed = False
        self.prefs = prefs or WindowPrefs()

        self.font_size = QSpinBox()
        self.font_size.setRange(MIN_FONT - 1, MAX_FONT)
        self.font_size.setSpecialValueText("System size")
        self.font_size.setSuffix(" pt")
        self.font_size.setAccessibleName("Text size")
        self.font_size.setValue(self.prefs.font_size or MIN_FONT - 1)
        self.theme = QComboBox()
        self.theme.setAccessibleName("Colours")
        for value, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(self.prefs.theme)))
        self.save_history = QCheckBox("Save conversations (encrypted, on this computer)")
        self.save_history.setAccessibleName("Save conversations")
        self.save_history.setChecked(self.prefs.save_history)
        if not backend.history_enabled:
            self.save_history.setEnabled(False)
            self.save_history.setToolTip("History is off on this computer (no secure keyring).")

        self.model = QComboBox()
        self.model.setAccessibleName("Chat model")
        default = next((m.id for m in backend.models() if m.role == "chat" and m.default), "")
        self.model.addItem(f"Default ({default})" if default else "Default chat model", "")
        for entry in backend.models():
            if entry.role == "chat":
                label = f"{entry.id} ({entry.licence or '?'})"
                if not entry.provisioned:
                    label += ": not installed"
                self.model.addItem(label, entry.id)
                if not entry.provisioned:
                    index = self.model.count() - 1
                    item = self.model.model().item(index)  # type: ignore[attr-defined]
                    item.setEnabled(False)
        self.model.setCurrentIndex(max(0, self.model.findData(self.original.chat_model)))
        self.threads = QSpinBox()
        self.threads.setRange(0, MAX_THREADS)
        self.threads.setSpecialValueText("Automatic (physical cores)")
        self.threads.setAccessibleName("Threads")
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(-1, MAX_GPU_LAYERS)
        self.gpu_layers.setSpecialValueText("Automatic")
        self.gpu_layers.setToolTip("0 runs on the CPU only; -1 offloads all layers when supported")
        self.gpu_layers.setAccessibleName("GPU layers")
        self.context = QSpinBox()
        self.context.setRange(MIN_CONTEXT, MAX_CONTEXT)
        self.context.setSingleStep(512)
        self.context.setSuffix(" tokens")
        self.context.setAccessibleName("Context size")
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setDecimals(2)
        self.temperature.setToolTip("0 gives the same answer each time; higher is more varied")
        self.temperature.setAccessibleName("Temperature")
        self.sources_count = QSpinBox()
        self.sources_count.setRange(1, MAX_SOURCES)
        self.sources_count.setAccessibleName("Sources per answer")
        self._load(self.original)

        self.problems = QLabel()
        self.problems.setObjectName("errorText")
        self.problems.setWordWrap(True)
        self.problems.setAccessibleName("Problems")
        self.problems.hide()
        form = QFormLayout()
        form.setHorizontalSpacing(self.fontMetrics().horizontalAdvance("M"))  # labels never touch
        form.addRow("Chat &model", self.model)
        form.addRow("&Threads", self.threads)
        form.addRow("&GPU layers", self.gpu_layers)
        form.addRow("&Context size", self.context)
        form.addRow("T&emperature", self.temperature)
        form.addRow("&Sources per answer", self.sources_count)
        form.addRow("Te&xt size", self.font_size)
        form.addRow("C&olours", self.theme)
        form.addRow("&History", self.save_history)
        note = QLabel("Model changes apply when the model reloads, right after saving.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.clicked.connect(self._restore)
        layout = QVBoxLayout(self)
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("M") * 36)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.problems)
        layout.addWidget(buttons)

    def _load(self, settings: AppSettings) -> None:
        self.model.setCurrentIndex(max(0, self.model.findData(settings.chat_model)))
        self.threads.setValue(settings.n_threads)
        self.gpu_layers.setValue(settings.n_gpu_layers)
        self.context.setValue(settings.n_ctx)
        self.temperature.setValue(settings.temperature)
        self.sources_count.setValue(settings.sources_per_answer)

    def _restore(self) -> None:
        self._load(AppSettings())
        self.font_size.setValue(self.font_size.minimum())
        self.theme.setCurrentIndex(0)
        self.save_history.setChecked(True)

    def current_prefs(self) -> WindowPrefs:
        size = self.font_size.value()
        return replace(
            self.prefs,
            font_size=0 if size < MIN_FONT else size,
            theme=str(self.theme.currentData()),
            save_history=self.save_history.isChecked(),
        )

    def current(self) -> AppSettings:
        return AppSettings(
            chat_model=str(self.model.currentData() or ""),
            n_threads=self.threads.value(),
            n_gpu_layers=self.gpu_layers.value(),
            n_ctx=self.context.value(),
            temperature=round(self.temperature.value(), 2),
            sources_per_answer=self.sources_count.value(),
        )

    def save(self) -> None:
        settings = self.current()
        try:
            self.backend.save_settings(settings)
        except SettingsInvalid as exc:
            self.problems.setText("\n".join(exc.problems.values()))
            self.problems.show()
            return
        self.model_changed = any(
            getattr(settings, name) != getattr(self.original, name) for name in MODEL_FIELDS
        )
        self.prefs = self.current_prefs()
        self.accept()
