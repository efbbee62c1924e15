"""Preferences: connect and read timeouts, stored in the config file."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

DEFAULT_PREFERENCES = {"connectTimeout": 5.0, "readTimeout": 30.0}


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
        form.addRow("&Connect timeout", self.connect_box)
        form.addRow("&Read timeout", self.read_box)
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

    def values(self) -> dict[str, float]:
        return {
            "connectTimeout": self.connect_box.value(),
            "readTimeout": self.read_box.value(),
        }

    def _on_save_clicked(self) -> None:
        self.saved.emit(self.values())
        self.accept()
