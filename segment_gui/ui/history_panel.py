"""The History panel: past sends, newest first, with re-send and open as form."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
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

from segment_gui.history import History, HistoryEntry
from segment_gui.ui.response_view import monospace_editor, pretty_json
from segment_gui.ui.workers import TaskRunner

EMPTY_TEXT = "No sends yet. Every send, failed ones included, is kept here."
COLUMNS = ["Time", "Call", "Endpoint", "Result", "ms"]


class HistoryPanel(QWidget):
    resend_requested = Signal(object)
    open_requested = Signal(object)
    message = Signal(str)

    def __init__(self, history: History, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.runner = runner
        self.entries: list[HistoryEntry] = []

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.info_label = QLabel(EMPTY_TEXT, self)
        self.info_label.setObjectName("historyInfo")
        self.info_label.setWordWrap(True)
        top.addWidget(self.info_label, 1)
        self.resend_button = QPushButton("Re-send", self)
        self.resend_button.setObjectName("historyResend")
        self.resend_button.setToolTip("Send the same body again to the same endpoint")
        self.open_button = QPushButton("Open as form", self)
        self.open_button.setObjectName("historyOpen")
        self.open_button.setToolTip("Load the parameters of this send into the form")
        top.addWidget(self.resend_button)
        top.addWidget(self.open_button)
        layout.addLayout(top)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.table = QTableWidget(0, len(COLUMNS), splitter)
        self.table.setObjectName("historyTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.currentCellChanged.connect(self._on_table_current_changed)
        self.detail = monospace_editor(splitter, "historyDetail")
        layout.addWidget(splitter, 1)

        self.resend_button.clicked.connect(self._on_resend_clicked)
        self.open_button.clicked.connect(self._on_open_clicked)
        self._update_buttons()

    def refresh(self) -> None:
        """Reload the history file on a worker thread."""
        self.runner.start(self.history.load, self._on_loaded, self._on_failed)

    def _on_loaded(self, result: tuple[list[HistoryEntry], list[str]]) -> None:
        entries, warnings = result
        self.entries = list(entries)
        self._fill()
        for warning in warnings:
            self.message.emit(warning)

    def _on_failed(self, error: Exception) -> None:
        self.message.emit(f"Cannot read the send history: {error}")

    def add(self, entry: HistoryEntry) -> None:
        """Show a send that was just recorded, at the top."""
        self.entries.insert(0, entry)
        self._fill()

    def selected(self) -> HistoryEntry | None:
        row = self.table.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _fill(self) -> None:
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            result = f"{entry.status} {entry.reason}" if entry.status is not None else "failed"
            cells = [
                entry.time.replace("T", " ").removesuffix("Z"),
                entry.path,
                entry.endpoint,
                result,
                f"{entry.elapsed_ms:.0f}" if entry.status is not None else "",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(entry.error or text)
                self.table.setItem(row, column, item)
        count = len(self.entries)
        self.info_label.setText(
            EMPTY_TEXT if not count else f"{count} send{'s' if count != 1 else ''}, newest first"
        )
        if count:
            self.table.setCurrentCell(0, 0)
        else:
            self.detail.clear()
        self._update_buttons()

    def _on_table_current_changed(self, row: int, *_: int) -> None:
        entry = self.selected()
        self._update_buttons()
        if entry is None:
            return
        lines = [f"POST {entry.endpoint}/{entry.path}"]
        if entry.credential:
            lines.append(f"Credential: {entry.credential}")
        if entry.error:
            lines.append(f"Failed: {entry.error}")
        else:
            lines.append(f"Answer: {entry.status} {entry.reason} in {entry.elapsed_ms:.0f} ms")
        for attempt in entry.attempts:
            lines.append(f"  attempt {attempt.get('number')}: {attempt.get('outcome')}")
        lines += ["", "Request body:", json.dumps(entry.request_body, indent=2, ensure_ascii=False)]
        if entry.response_body:
            lines += ["", "Response body:", pretty_json(entry.response_body)]
        self.detail.setPlainText("\n".join(lines))

    def _update_buttons(self) -> None:
        entry = self.selected()
        self.resend_button.setEnabled(entry is not None)
        self.open_button.setEnabled(entry is not None and bool(entry.parameters))

    def _on_resend_clicked(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.resend_requested.emit(entry)

    def _on_open_clicked(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.open_requested.emit(entry)
