"""The sandbox Inbox: what the local collector received, newest last."""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segment_gui.sandbox import ReceivedMessage
from segment_gui.ui.response_view import monospace_editor

FLUSH_INTERVAL_MS = 100
EMPTY_TEXT = "The sandbox inbox is empty. Choose the Local sandbox endpoint and press Send."


class SandboxBridge(QObject):
    """Carries messages from the collector's server thread to the GUI thread."""

    received = Signal(object)


class InboxView(QWidget):
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._messages: list[ReceivedMessage] = []
        self._pending: list[ReceivedMessage] = []
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self._flush)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.info_label = QLabel(EMPTY_TEXT, self)
        self.info_label.setObjectName("inboxInfo")
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.info_label, 1)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.setObjectName("inboxClear")
        self.clear_button.clicked.connect(self._on_clear_clicked)
        top.addWidget(self.clear_button)
        layout.addLayout(top)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.table = QTableWidget(0, 5, splitter)
        self.table.setObjectName("inboxTable")
        self.table.setHorizontalHeaderLabels(["Time", "Type", "Summary", "Write key", "Notes"])
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.currentCellChanged.connect(self._on_table_current_changed)
        self.detail = monospace_editor(splitter, "inboxDetail")
        layout.addWidget(splitter, 1)
        self.base_url = ""

    def set_base_url(self, url: str) -> None:
        self.base_url = url
        self._update_info()

    def add_message(self, message: ReceivedMessage) -> None:
        """Queue a received message; rows are added in groups on a short timer, because a
        batch run delivers thousands of messages at once."""
        self._pending.append(message)
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        follow = self.table.currentRow() in (-1, self.table.rowCount() - 1)
        self.table.setUpdatesEnabled(False)
        start = self.table.rowCount()
        self.table.setRowCount(start + len(pending))
        for offset, message in enumerate(pending):
            self._messages.append(message)
            cells = [
                message.received_at[11:19],
                message.type,
                _summary(message.message),
                message.write_key_masked,
                " ".join(message.notes),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(start + offset, column, item)
        self.table.setUpdatesEnabled(True)
        if follow:
            # Keep following the newest message unless the user selected an older one.
            self.table.setCurrentCell(self.table.rowCount() - 1, 0)
        self._update_info()

    def message_count(self) -> int:
        return len(self._messages)

    def _update_info(self) -> None:
        if not self._messages:
            text = EMPTY_TEXT
        else:
            count = len(self._messages)
            text = f"{count:,} message{'s' if count != 1 else ''} received"
        if self.base_url:
            text += f"  ·  sandbox at {self.base_url}"
        self.info_label.setText(text)

    def _on_table_current_changed(self, row: int, *_: int) -> None:
        if 0 <= row < len(self._messages):
            self.detail.setPlainText(
                json.dumps(self._messages[row].message, indent=2, ensure_ascii=False)
            )

    def _on_clear_clicked(self) -> None:
        self._pending.clear()
        self._messages.clear()
        self.table.setRowCount(0)
        self.detail.clear()
        self._update_info()
        self.clear_requested.emit()


def _summary(message: dict) -> str:
    parts = []
    for key in ("event", "name", "groupId", "userId", "anonymousId", "previousId"):
        if key in message:
            parts.append(f"{key}={message[key]}")
    return "  ".join(parts)
