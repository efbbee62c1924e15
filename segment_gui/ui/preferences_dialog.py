"""Preferences: connect and read timeouts and the color scheme, stored in the config file."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from segment_gui.storage import COLOR_SCHEMES, PREFERENCE_DEFAULTS
from segment_gui.ui.theme import COLOR_SCHEME_LABELS, scheme_controller

DEFAULT_PREFERENCES: dict[str, Any] = dict(PREFERENCE_DEFAULTS)


def _seconds_box(parent: QWidget, name: str, value: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox(parent)
    box.setObjectName(name)
    box.setRange(0.5, 600.0)
    box.setDecimals(1)
    box.setSingleStep(1.0)
    box.setSuffix(" s")
    box.setValue(value)
    box.setToolTip(tip)
    return box


class PreferencesDialog(QDialog):
    """Edits the preferences. A color scheme picked in the list applies at once; Cancel
    returns to the scheme in use when the dialog opened."""

    saved = Signal(dict)

    def __init__(self, preferences: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setObjectName("preferencesDialog")
        values = {**DEFAULT_PREFERENCES, **preferences}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.connect_box = _seconds_box(
            self,
            "connectTimeout",
            float(values["connectTimeout"]),
            "How long to wait for the connection to the endpoint before giving up",
        )
        self.read_box = _seconds_box(
            self,
            "readTimeout",
            float(values["readTimeout"]),
            "How long to wait for the answer once the request is sent",
        )
        self.scheme_combo = QComboBox(self)
        self.scheme_combo.setObjectName("colorScheme")
        self.scheme_combo.setToolTip(
            "System follows the desktop's light or dark setting; Light and Dark override it"
        )
        for scheme in COLOR_SCHEMES:
            self.scheme_combo.addItem(COLOR_SCHEME_LABELS[scheme], scheme)
        self._initial_scheme = str(values["colorScheme"])
        if self._initial_scheme not in COLOR_SCHEMES:
            self._initial_scheme = "system"
        self.scheme_combo.setCurrentIndex(COLOR_SCHEMES.index(self._initial_scheme))
        self.scheme_combo.currentIndexChanged.connect(self._on_scheme_changed)
        form.addRow("&Connect timeout", self.connect_box)
        form.addRow("&Read timeout", self.read_box)
        form.addRow("Color &scheme", self.scheme_combo)
        layout.addLayout(form)
        note = QLabel(
            "Retries follow the Retry On Fail settings of each request (Settings tab).", self
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._on_save_clicked)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        return {
            "connectTimeout": self.connect_box.value(),
            "readTimeout": self.read_box.value(),
            "colorScheme": self.scheme_combo.currentData(),
        }

    def _on_scheme_changed(self) -> None:
        scheme_controller().apply(self.scheme_combo.currentData())

    def reject(self) -> None:
        if self.scheme_combo.currentData() != self._initial_scheme:
            scheme_controller().apply(self._initial_scheme)
        super().reject()

    def _on_save_clicked(self) -> None:
        self.saved.emit(self.values())
        self.accept()
