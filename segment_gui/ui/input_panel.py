"""The Input panel: the JSON items the node runs over, as n8n's input items.

Items come from pasted JSON, JSON Lines or CSV, or from a file read on a worker thread. Invalid
input is reported with its line and column and changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segment_gui.items import ItemsError, items_to_text, parse_items, read_items_file, table_columns
from segment_gui.ui.response_view import monospace_editor
from segment_gui.ui.workers import TaskRunner

NO_INPUT_TEXT = (
    "No input: the node runs once with one empty item, as in n8n. Paste a JSON array, JSON "
    "Lines or CSV here and press Apply, or open a .json, .jsonl or .csv file."
)
TABLE_ROWS_SHOWN = 500
INPUT_FORMATS = {"auto": "JSON or JSON Lines", "json": "JSON", "jsonl": "JSON Lines", "csv": "CSV"}


class InputPanel(QWidget):
    items_changed = Signal()
    selected_changed = Signal(int)
    message = Signal(str)

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._items: list[dict[str, Any]] = []

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.status_label = QLabel(NO_INPUT_TEXT, self)
        self.status_label.setObjectName("inputStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)

        buttons = QHBoxLayout()
        self.format_combo = QComboBox(self)
        self.format_combo.setObjectName("inputFormat")
        self.format_combo.setAccessibleName("Input format")
        for kind, label in INPUT_FORMATS.items():
            self.format_combo.addItem(label, kind)
        buttons.addWidget(self.format_combo)
        self.apply_button = QPushButton("&Apply", self)
        self.apply_button.setObjectName("inputApply")
        self.apply_button.setToolTip("Read the text below as input items")
        self.open_button = QPushButton("&Open file…", self)
        self.open_button.setObjectName("inputOpen")
        self.clear_button = QPushButton("C&lear", self)
        self.clear_button.setObjectName("inputClear")
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        item_label = QLabel("Preview &item", self)
        self.item_spin = QSpinBox(self)
        self.item_spin.setObjectName("inputItem")
        self.item_spin.setAccessibleName("Preview item")
        self.item_spin.setToolTip("The item that the preview and expression results use")
        self.item_spin.setRange(1, 1)
        item_label.setBuddy(self.item_spin)
        buttons.addWidget(item_label)
        buttons.addWidget(self.item_spin)
        layout.addLayout(buttons)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.text_edit = monospace_editor(splitter, "inputText")
        self.text_edit.setReadOnly(False)
        self.text_edit.setPlaceholderText('[{"email": "ada@example.com", "plan": "pro"}]')
        self.table = QTableWidget(0, 0, splitter)
        self.table.setObjectName("inputTable")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.currentCellChanged.connect(self._on_table_current_changed)
        layout.addWidget(splitter, 1)

        self.apply_button.clicked.connect(self.apply_text)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.clear_button.clicked.connect(self.clear)
        self.item_spin.valueChanged.connect(lambda value: self.selected_changed.emit(value - 1))

    # -- items ----------------------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        """Return the input items, or one empty item when there is no input, as in n8n."""
        return list(self._items) if self._items else [{}]

    def has_input(self) -> bool:
        return bool(self._items)

    def selected_index(self) -> int:
        return self.item_spin.value() - 1

    def selected_item(self) -> dict[str, Any]:
        items = self.items()
        return items[min(self.selected_index(), len(items) - 1)]

    def set_items(self, items: list[dict[str, Any]] | None, source: str = "") -> None:
        self._items = list(items or [])
        self.text_edit.setPlainText(items_to_text(self._items) if self._items else "")
        self._show(source)

    def apply_text(self) -> bool:
        """Parse the editor's text; on error keep the previous items and show where it failed."""
        text = self.text_edit.toPlainText()
        try:
            kind = str(self.format_combo.currentData())
            items = parse_items(text, kind) if text.strip() else []
        except ItemsError as error:
            self.status_label.setText(f"Input not applied: {error}")
            self._move_cursor(error)
            return False
        self._items = items
        self._show("pasted text")
        return True

    def clear(self) -> None:
        self.set_items(None)

    def open_file(self, path: Path) -> None:
        """Read items from a file on a worker thread."""
        self.status_label.setText(f"Reading {path} …")
        self.runner.start(
            lambda: read_items_file(path),
            lambda items: self.set_items(items, str(path)),
            lambda error: self.status_label.setText(f"Input not loaded from {path}: {error}"),
        )

    def _on_open_clicked(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(
            self, "Open input items", "", "Items (*.json *.jsonl *.ndjson *.csv);;All files (*)"
        )
        if name:
            self.open_file(Path(name))

    def _show(self, source: str) -> None:
        count = len(self._items)
        if not count:
            self.status_label.setText(NO_INPUT_TEXT)
        else:
            origin = f" from {source}" if source else ""
            self.status_label.setText(f"{count:,} item{'s' if count != 1 else ''}{origin}")
        self.item_spin.setRange(1, max(1, count))
        self._fill_table()
        self.items_changed.emit()
        self.selected_changed.emit(self.selected_index())

    def _fill_table(self) -> None:
        columns = table_columns(self._items)
        shown = self._items[:TABLE_ROWS_SHOWN]
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setRowCount(len(shown))
        self.table.setHorizontalHeaderLabels(columns)
        for row, item in enumerate(shown):
            for column, key in enumerate(columns):
                value = item.get(key, "")
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                self.table.setItem(row, column, QTableWidgetItem(text))

    def _on_table_current_changed(self, row: int, *_: int) -> None:
        if row >= 0:
            self.item_spin.setValue(row + 1)

    def _move_cursor(self, error: ItemsError) -> None:
        line = getattr(error, "line", None)
        if not line:
            return
        block = self.text_edit.document().findBlockByLineNumber(line - 1)
        cursor = self.text_edit.textCursor()
        column = getattr(error, "column", None) or 1
        cursor.setPosition(block.position() + max(0, column - 1))
        self.text_edit.setTextCursor(cursor)
