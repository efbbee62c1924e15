"""The sandbox Inbox: what the local collector received, newest last.

The collector's server thread hands messages to `SandboxBridge.post`, which wakes the GUI
thread once per burst instead of once per message. The view adds the messages to a table
model in one insertion per timer tick, because a batch request delivers thousands at once.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from segment_gui.ui.response_view import monospace_editor
from segment_gui.ui.table_model import AppendTableModel

# Only for type hints: the collector's module (http.server, ssl) loads when the sandbox starts.
if TYPE_CHECKING:
    from segment_gui.sandbox import ReceivedMessage

FLUSH_INTERVAL_MS = 100
# Messages handed to the GUI thread per event; a batch request delivers up to a few thousand.
DELIVERY_CHUNK = 250
EMPTY_TEXT = "The sandbox inbox is empty. Choose the Local sandbox endpoint and press Send."
COLUMNS = ["Time", "Type", "Summary", "Write key", "Notes"]
# Widths of the columns other than Summary, in average character widths of the table's font.
COLUMN_CHARACTERS = {0: 9, 1: 8, 3: 24, 4: 16}


class SandboxBridge(QObject):
    """Carries messages from the collector's server thread to the GUI thread.

    `post` may be called on any thread. `received` is emitted on the GUI thread once per
    message, in the order posted.
    """

    received = Signal(object)
    _ready = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: collections.deque[ReceivedMessage] = collections.deque()
        self._ready.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def post(self, message: ReceivedMessage) -> None:
        """Queue a message for the GUI thread; only the first of a burst posts an event."""
        with self._lock:
            wake = not self._pending
            self._pending.append(message)
        if wake:
            self._ready.emit()

    def _deliver(self) -> None:
        """Emit `received` for at most DELIVERY_CHUNK queued messages, and queue another
        delivery for the rest, so other events run between the chunks of a large batch."""
        with self._lock:
            count = min(len(self._pending), DELIVERY_CHUNK)
            messages = [self._pending.popleft() for _ in range(count)]
            more = bool(self._pending)
        for message in messages:
            self.received.emit(message)
        if more:
            self._ready.emit()


class InboxModel(AppendTableModel["ReceivedMessage"]):
    """The received messages, one row each, oldest first; tooltips show whole cells."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(COLUMNS, cell_text, tooltips=True, parent=parent)

    def message(self, row: int) -> ReceivedMessage:
        return self.row(row)


def cell_text(message: ReceivedMessage, column: int) -> str:
    """Return the text of one cell of a message's row; `column` indexes COLUMNS."""
    if column == 0:
        return message.received_at[11:19]
    if column == 1:
        return message.type
    if column == 2:
        return _summary(message.message)
    if column == 3:
        return message.write_key_masked
    return " ".join(message.notes)


class InboxView(QWidget):
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
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
        self.model = InboxModel(self)
        self.table = _inbox_table(splitter, self.model)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row_changed)
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
        current = self.table.currentIndex().row()
        follow = current in (-1, self.model.rowCount() - 1)
        self.model.append(pending)
        if follow:
            # Keep following the newest message unless the user selected an older one.
            self.table.setCurrentIndex(self.model.index(self.model.rowCount() - 1, 0))
        self._update_info()

    def message_count(self) -> int:
        return self.model.rowCount()

    def _update_info(self) -> None:
        count = self.model.rowCount()
        if not count:
            text = EMPTY_TEXT
        else:
            text = f"{count:,} message{'s' if count != 1 else ''} received"
        if self.base_url:
            text += f"  ·  sandbox at {self.base_url}"
        self.info_label.setText(text)

    def _on_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = current.row()
        if 0 <= row < self.model.rowCount():
            message = self.model.message(row).message
            self.detail.setPlainText(json.dumps(message, indent=2, ensure_ascii=False))

    def _on_clear_clicked(self) -> None:
        self._pending.clear()
        self.model.clear()
        self.detail.clear()
        self._update_info()
        self.clear_requested.emit()


def _inbox_table(parent: QWidget, model: InboxModel) -> QTableView:
    table = QTableView(parent)
    table.setObjectName("inboxTable")
    table.setModel(model)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    character = table.fontMetrics().averageCharWidth()
    for column, characters in COLUMN_CHARACTERS.items():
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(column, characters * character + 12)
    header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
    rows = table.verticalHeader()
    rows.setVisible(False)
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(table.fontMetrics().height() + 6)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    return table


def _summary(message: dict) -> str:
    parts = []
    for key in ("event", "name", "groupId", "userId", "anonymousId", "previousId"):
        if key in message:
            parts.append(f"{key}={message[key]}")
    return "  ".join(parts)
