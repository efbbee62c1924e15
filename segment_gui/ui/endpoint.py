"""Endpoint selector: Segment US, Segment EU, Local sandbox or a custom URL."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QWidget

from segment_gui.endpoints import ENDPOINT_LABELS, ENDPOINTS, SANDBOX

CUSTOM = "custom"


class EndpointSelector(QWidget):
    endpoint_changed = Signal()

    def __init__(self, parent: QWidget | None = None, name: str = "endpoint") -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox(self)
        self.combo.setObjectName(name)
        self.combo.setAccessibleName("Endpoint")
        for key in ("us", "eu", SANDBOX):
            tip = ENDPOINTS.get(key, "The collector built into this app, on 127.0.0.1")
            self.combo.addItem(ENDPOINT_LABELS[key], key)
            self.combo.setItemData(self.combo.count() - 1, tip, 3)
        self.combo.addItem("Custom URL", CUSTOM)
        self.url_edit = QLineEdit(self)
        self.url_edit.setObjectName(f"{name}Url")
        self.url_edit.setAccessibleName("Custom endpoint URL")
        self.url_edit.setPlaceholderText("http://127.0.0.1:8080/v1")
        self.url_edit.setVisible(False)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        layout.addWidget(self.combo)
        layout.addWidget(self.url_edit, 1)
        layout.addStretch(0)
        self.combo.currentIndexChanged.connect(self._on_combo_changed)
        self.url_edit.textChanged.connect(self.endpoint_changed)

    def endpoint(self) -> str:
        key = self.combo.currentData()
        return self.url_edit.text().strip() if key == CUSTOM else str(key)

    def set_endpoint(self, endpoint: str) -> None:
        index = self.combo.findData(endpoint)
        if index < 0:
            self.url_edit.setText(endpoint)
            index = self.combo.findData(CUSTOM)
        self.combo.setCurrentIndex(index)

    def _on_combo_changed(self) -> None:
        self.url_edit.setVisible(self.combo.currentData() == CUSTOM)
        self.endpoint_changed.emit()
